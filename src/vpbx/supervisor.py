"""`vpbx run`: the switch and the API as two supervised processes.

The switch (SIP, RTP, call cores) must never wait for the API: password hashing, imports of big
documents, reports and file uploads run in the API's processes, on other event loops and (the
machine permitting) other cores. Both are children of this process, started as
`vpbx run --only switch` and `vpbx run --only api` with the same environment:

* if either exits, the other is stopped and `vpbx run` exits with status 1 (the exit is logged
  with the child's status), so systemd, Docker or whatever started it restarts a whole,
  consistent pair instead of a PBX without an API or an API without calls;
* SIGTERM or SIGINT stops both (SIGTERM to each, SIGKILL after `STOP_SECONDS`); calls in
  progress end and write their rows as the switch stops;
* the children get SIGTERM if this process dies without stopping them (PR_SET_PDEATHSIG), so a
  `kill -9` of the supervisor leaves no orphan holding the SIP port.

With several nodes (`vpbx run --nodes N`, `vpbx.cluster`) the children are Kamailio, N switch
nodes and the API. A node that exits does not stop the others: Kamailio is told to leave it out
and it is started again under its name (not sooner than `RESTART_SECONDS` after its previous
start, so a node that cannot start does not spin); so is Kamailio (it holds no call); the API
exiting stops all.

The API's workers count into PROMETHEUS_MULTIPROC_DIR (`<data_dir>/metrics-api`, emptied at
every start) so that /metrics adds up every worker (see `vpbx.metrics`).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from types import FrameType

from vpbx.cluster import (
    ClusterPlan,
    NodePlan,
    dispatcher_list,
    kamailio_binary,
    kamailio_command,
    kamailio_config,
    node_count,
    node_state_command,
    plan_cluster,
)
from vpbx.settings import Settings

__all__ = ["ClusterError", "Supervisor"]


class ClusterError(RuntimeError):
    """`vpbx run --nodes N` cannot start: what is missing, in words for the operator."""


log = logging.getLogger("vpbx.supervisor")

STOP_SECONDS = 30.0
#: a switch node is started again at the earliest this long after its previous start
RESTART_SECONDS = 5.0
KAMAILIO = "kamailio"
POLL_SECONDS = 0.2
PR_SET_PDEATHSIG = 1
#: The API's CPU priority below the switch's: when both want the CPU (a login flood hashing
#: passwords, a big import) the kernel runs the switch first, so a call's 20 ms frames and SIP
#: answers do not wait behind the API's work; an idle switch leaves the API all the CPU.
API_NICE = 10


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM when the supervisor dies (Linux)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _api_child() -> None:
    _die_with_parent()
    os.nice(API_NICE)


@dataclass
class Supervisor:
    settings: Settings
    command: list[str] = field(default_factory=lambda: [sys.executable, "-m", "vpbx"])
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    #: several nodes behind Kamailio (`vpbx run --nodes N`), once started
    plan: ClusterPlan | None = None
    #: when each node was last started, and the nodes waiting to be started again
    _started: dict[str, float] = field(default_factory=dict)
    _restart_at: dict[str, float] = field(default_factory=dict)
    _kamailio: list[str] = field(default_factory=list)
    _stopping: bool = False

    def _environment(self, role: str) -> dict[str, str]:
        env = dict(os.environ)
        if role == "api":
            folder = self.settings.data_dir.resolve() / "metrics-api"
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            env["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
        return env

    def start(self) -> None:
        count = node_count(self.settings)
        if count > 1:
            self._start_cluster(count)
            return
        for role in ("switch", "api"):
            self._spawn(role, [*self.command, "run", "--only", role], self._environment(role))

    def _spawn(self, role: str, command: list[str], env: dict[str, str]) -> None:
        child = subprocess.Popen(
            command,
            env=env,
            # before any thread exists: preexec_fn is safe
            preexec_fn=_api_child if role == "api" else _die_with_parent,
        )
        self.children[role] = child
        log.info("process started", extra={"role": role, "pid": child.pid})

    def _start_cluster(self, count: int) -> None:
        """Kamailio on the SIP port, `count` switch nodes behind it, one API (vpbx.cluster)."""
        if not self.settings.redis_url:
            raise ClusterError(
                "several switch nodes share their state in Redis: set VPBX_REDIS_URL"
            )
        binary = kamailio_binary()
        if binary is None:
            raise ClusterError("several switch nodes need Kamailio: apt-get install kamailio")
        plan = plan_cluster(self.settings, count)
        plan.workdir.mkdir(parents=True, exist_ok=True)
        (plan.workdir / "dispatcher.list").write_text(dispatcher_list(plan))
        (plan.workdir / "kamailio.cfg").write_text(kamailio_config(plan))
        self.plan = plan
        for node in plan.nodes:
            self._spawn_node(node)
        self._kamailio = kamailio_command(binary, plan)
        self._spawn_kamailio()
        self._spawn("api", [*self.command, "run", "--only", "api"], self._environment("api"))

    def _spawn_kamailio(self) -> None:
        self._spawn(KAMAILIO, self._kamailio, dict(os.environ))
        self._started[KAMAILIO] = time.monotonic()

    def _spawn_node(self, node: NodePlan) -> None:
        assert self.plan is not None
        env = self._environment("switch")
        env.update(node.environment(self.settings, self.plan.front))
        command = [*self.command, "run", "--only", "switch"]
        taskset = shutil.which("taskset")
        if node.core is not None and taskset is not None:
            command = [taskset, "-c", str(node.core), *command]
        role = f"switch-{node.index}"
        self._spawn(role, command, env)
        self._started[role] = time.monotonic()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if not self._stopping:
            log.info("stopping", extra={"signal": signal.Signals(signum).name})
        self._stopping = True

    def run(self) -> int:
        """Start both, watch them; the exit status of `vpbx run`."""
        previous = {
            signum: signal.signal(signum, self._on_signal)
            for signum in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            self.start()
            return self._watch()
        finally:
            self.stop()
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _watch(self) -> int:
        while not self._stopping:
            now = time.monotonic()
            for role, due in list(self._restart_at.items()):
                if now < due:
                    continue
                del self._restart_at[role]
                node = self._node(role)
                if node is not None:
                    self._spawn_node(node)
                elif role == KAMAILIO:
                    self._spawn_kamailio()
            for role, child in list(self.children.items()):
                if role in self._restart_at:
                    continue
                status = child.poll()
                if status is None:
                    continue
                node = self._node(role)
                if node is not None:
                    self._out_of_dispatch(node)
                    # One node of several: the others carry the calls while it comes back
                    # under its own name (its restart closes its calls and releases its
                    # leases); Kamailio takes it back once it answers a ping.
                    due = self._started.get(role, 0.0) + RESTART_SECONDS
                    log.error(
                        "switch node exited: restarted",
                        extra={
                            "role": role,
                            "pid": child.pid,
                            "status": status,
                            "in_seconds": round(max(0.0, due - now), 1),
                        },
                    )
                    self._restart_at[role] = due
                    continue
                if role == KAMAILIO and self.plan is not None:
                    # It holds no call: calls go on node to phone, and the phones reach it
                    # again with their next request once it is back.
                    due = self._started.get(role, 0.0) + RESTART_SECONDS
                    log.error(
                        "kamailio exited: restarted",
                        extra={"pid": child.pid, "status": status},
                    )
                    self._restart_at[role] = due
                    continue
                log.error(
                    "process exited: stopping the others",
                    extra={"role": role, "pid": child.pid, "status": status},
                )
                return 1
            time.sleep(POLL_SECONDS)
        return 0

    def _out_of_dispatch(self, node: NodePlan) -> None:
        """Kamailio stops sending new requests to a node that exited, now rather than after
        its pings fail; it takes the node back once the restarted one answers a ping."""
        assert self.plan is not None
        command = node_state_command(self.plan, node, "ip")
        if command is None:
            return
        try:
            done = subprocess.run(command, capture_output=True, timeout=2, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            log.warning("node not taken out of dispatch", extra={"error": str(error)})
            return
        if done.returncode != 0:
            log.warning(
                "node not taken out of dispatch",
                extra={"status": done.returncode, "error": done.stderr.decode(errors="replace")},
            )

    def _node(self, role: str) -> NodePlan | None:
        if self.plan is None or self._stopping:
            return None
        return next((n for n in self.plan.nodes if role == f"switch-{n.index}"), None)

    def stop(self) -> None:
        """SIGTERM to every child still running, SIGKILL to those still there after
        STOP_SECONDS; every child reaped."""
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        for role, child in self.children.items():
            try:
                status = child.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("process did not stop: killed", extra={"role": role, "pid": child.pid})
                child.kill()
                status = child.wait()
            log.info("process stopped", extra={"role": role, "pid": child.pid, "status": status})
        self.children.clear()
