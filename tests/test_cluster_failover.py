"""Three switch nodes behind Kamailio; one is killed under 50 calls/s (issue 17).

`vpbx run --nodes 3` (the one command of the admin guide's "Several switch nodes") starts
Kamailio on the SIP port and three switch nodes behind it, sharing PostgreSQL and Redis. The
rig is the call benchmark's (vpbx.bench.calls): the provider's trunk (SIPp from 127.0.0.2)
calls the number, which forwards to a group of 10 employees whose lines SIPp registered
through Kamailio (each REGISTER reached one node; the other two learnt it over Redis).

Under 50 calls/s of 1 s calls, node 2 is killed with SIGKILL. Then:

* no call that started 2 s or more after the kill fails (a call sent to the dead node before
  Kamailio noticed waits for the next node; the ones talking on it are lost with it);
* every phone is reached from every node: the trunk's calls land on all three, and the calls
  after the kill are answered though a third of the lines registered through node 2;
* the supervisor starts node 2 again under its name: the calls it had are closed in the
  report (no row left open), and it takes new calls without anything else restarted;
* the trunk is recognised through Kamailio (the nodes believe its X-Vpbx-Source): a call
  from any other address to the number would be refused 403;
* six callers queued for a one-line phone, taken by different nodes, are answered in the
  order they called (one FIFO in Redis); and so are six more while Redis is killed and
  started again empty (each node writes its lines and queue places back);
* Kamailio stopped is started again by the supervisor, and calls flow again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.dbs import postgres_schema, sqlite_database
from tests.peers.sipp import SCENARIOS, sipp_binary
from tests.redis_server import RedisServer, redis_server
from vpbx.bench.calls import (
    NUMBER,
    PBX_IP,
    TRUNK_IP,
    Line,
    _configure,
    _employees_uas,
    _free_block,
    _port_open,
    _register,
    _wait_listening,
)
from vpbx.cluster import NODE_PORT_OFFSET, STATUS_PORT_OFFSET
from vpbx.storage import tables as t
from vpbx.storage.db import make_sync_engine
from vpbx.storage.migrate import upgrade

pytestmark = [pytest.mark.peers, pytest.mark.cluster]

NODES = 3
RATE = 50
CALLS = 700  # 14 s at 50 calls/s
KILL_AFTER = 5.0  # seconds into the load
WINDOW = 2.0  # the issue's: calls started later than this after the kill must not fail
QUEUE_NUMBER = "74951119900"
LINGER = 0.5  # the call store's wait for more calls to write in one commit, and its commit
QUEUE_CALLERS = 6
REDIS_RESTART_AFTER = 2.2  # s into a batch: five have called (one talks, four wait), one to come


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    """The nodes' Redis, of this test's own: it is restarted under them."""
    with redis_server() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """One SQLite file in WAL mode (one box) or PostgreSQL, shared by the three nodes."""
    if request.param == "sqlite":
        with sqlite_database(tmp_path) as url:
            yield url
        return
    with postgres_schema() as url:
        yield url


def _environment(workdir: Path, url: str, base: int, redis_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "VPBX_DATA_DIR": str(workdir),
        "VPBX_DATABASE_URL": url,
        "VPBX_REDIS_URL": redis_url,
        "VPBX_REDIS_PREFIX": f"t{uuid.uuid4().hex[:12]}",
        "VPBX_SIP_HOST": PBX_IP,
        "VPBX_SIP_PORT": str(base),
        "VPBX_HTTP_PORT": str(base + 1),
        "VPBX_METRICS_PORT": str(base + 2),
        "VPBX_PUBLIC_HOST": PBX_IP,
        "VPBX_RTP_PORT_MIN": "20000",
        "VPBX_RTP_PORT_MAX": "29999",
        "VPBX_GENERATE_SYSTEM_MESSAGES": "false",
        "VPBX_LOG_LEVEL": "WARNING",
        "VPBX_SIP_TLS_PORT": "0",
    }


def _node_ports(base: int) -> list[int]:
    return [base + NODE_PORT_OFFSET + i for i in range(NODES)]


def _metrics_port(base: int, index: int) -> int:
    """Node `index` (1-based)'s status port, as vpbx.cluster plans it."""
    return base + 2 if index == 1 else base + 2 + STATUS_PORT_OFFSET + index - 1


def _node_pid(port: int) -> int | None:
    """The switch process listening on `port` (read from /proc: its VPBX_SIP_PORT)."""
    wanted = f"VPBX_SIP_PORT={port}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            if b"--only\0switch" not in cmdline:
                continue
            if wanted in (entry / "environ").read_bytes().split(b"\0"):
                return int(entry.name)
        except OSError:
            continue
    return None


def _child_named(parent: int, name: bytes) -> int | None:
    """The child of `parent` whose program is `name` (from /proc)."""
    for task in Path(f"/proc/{parent}/task").glob("*"):
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                if Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")[0].endswith(name):
                    return int(child)
    return None


def _metric(port: int, name: str) -> float:
    text = httpx.get(f"http://{PBX_IP}:{port}/metrics", timeout=5).text
    match = re.search(rf"^{name} ([0-9.e+]+)$", text, re.MULTILINE)
    assert match is not None, (name, text[:2000])
    return float(match.group(1))


def _trunk(
    workdir: Path, target: str, port: int, media: int, calls: int
) -> subprocess.Popen[bytes]:
    workdir.mkdir(parents=True, exist_ok=True)
    args = [
        sipp_binary(),
        target,
        "-sf",
        str(SCENARIOS / "trunk_long_call.xml"),
        "-s",
        NUMBER,
        "-i",
        TRUNK_IP,
        "-p",
        str(port),
        "-mi",
        TRUNK_IP,
        "-mp",
        str(media),
        "-m",
        str(calls),
        "-r",
        str(RATE),
        "-l",
        "1000",
        "-d",
        "1000",
        # a BYE to the killed node is given up after ~1.5 s, not Timer F's 32 s
        "-max_non_invite_retrans",
        "2",
        # a caller ringing on the killed node hangs up after 10 s of silence (Kamailio would
        # keep the INVITE for its 180 s ringing limit)
        "-recv_timeout",
        "10000",
        "-nostdin",
        "-trace_err",
        "-trace_logs",
        "-timeout",
        "120s",
    ]
    with (workdir / "sipp.out").open("wb") as out:
        return subprocess.Popen(args, cwd=workdir, stdout=out, stderr=subprocess.STDOUT)


def _answered_numbers(workdir: Path) -> set[int]:
    """The call numbers (SIPp's Call-ID is "<number>-<pid>@<ip>") of the answered calls."""
    found: set[int] = set()
    for log in workdir.glob("*_logs.log"):
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("answered "):
                found.add(int(line.split(" ", 1)[1].split("-", 1)[0]))
    return found


def _aborted_numbers(workdir: Path) -> set[int]:
    """The call numbers SIPp gave up on (its -trace_err log names them)."""
    found: set[int] = set()
    for log in workdir.glob("*_errors.log"):
        text = log.read_text(errors="replace")
        found.update(int(n) for n in re.findall(r"for Call-Id '(\d+)-", text))
    return found


async def _configure_queue(url: str) -> Line:
    """QUEUE_NUMBER: Forward, with the queue on, to one employee whose phone has one line."""
    from vpbx.app import utc_now
    from vpbx.domain.actor import Actor, Role
    from vpbx.services.entities import EntityService
    from vpbx.storage.db import make_async_engine

    engine = make_async_engine(url)
    try:
        async with engine.begin() as conn:
            account_id = (await conn.execute(sa.select(t.accounts.c.id))).scalar_one()
            svc = EntityService(conn, Actor(Role.ADMIN, account_id), utc_now)
            out = await svc.create(
                "employees",
                {
                    "last_name": "Очередь",
                    "extension": "199",
                    "phones": [{"kind": "sip", "ring_timeout": 20, "lines": 1}],
                },
            )
            person = out.model_dump()
            group = await svc.create("groups", {"name": "Queue", "member_ids": [person["id"]]})
            scenario = await svc.create(
                "scenarios",
                {
                    "name": "Queue",
                    "entry": "fwd",
                    "operations": [
                        {
                            "key": "fwd",
                            "kind": "forward",
                            "targets": [{"group_id": group.model_dump()["id"]}],
                            "distribution": {"queue": True},
                        }
                    ],
                },
            )
            await svc.create(
                "numbers",
                {"number": QUEUE_NUMBER, "rules": [{"scenario_id": scenario.model_dump()["id"]}]},
            )
            line_id = person["phones"][0]["sip_line_id"]
            row = (
                await conn.execute(sa.select(t.sip_lines).where(t.sip_lines.c.id == line_id))
            ).one()
            return Line(row.login, row.password)
    finally:
        await engine.dispose()


def _queue_in_order(
    workdir: Path, engine: sa.Engine, line: Line, target: str, base: int, redis: RedisServer
) -> list[str]:
    """QUEUE_CALLERS callers, 0.5 s apart, to the one-line phone: each waits in the queue until
    the phone is free, and they are answered in the order they called, whichever node took
    each call (one FIFO in Redis). A batch whose calls all landed on one node proves nothing
    across nodes: another batch then (Kamailio picks a node by a hash of SIPp's Call-IDs).
    Then one more batch, with Redis killed and started again (empty) while callers wait: the
    nodes write their lines and queue places back, and every caller is answered, in order."""
    phone_port = base + 40  # clear of SIPp's media ports (each takes its port + 2 as well)
    _register(workdir, [line], phone_port, target)
    phone = _sipp_run(
        workdir / "queue-phone",
        [
            "-sf",
            str(SCENARIOS / "phone_answers_then_hangs_up.xml"),
            "-i",
            PBX_IP,
            "-p",
            str(phone_port),
            "-mi",
            PBX_IP,
            "-mp",
            str(base + 42),
            "-d",
            "1500",
        ],
    )
    try:
        nodes: list[str] = []
        for batch in range(3):
            nodes = _queue_batch(workdir / f"queue-callers-{batch}", engine, target, base)
            if len(nodes) > 1:
                break
        else:
            raise AssertionError(f"three batches of callers all landed on one node: {nodes}")
        _queue_batch(workdir / "queue-redis-restart", engine, target, base, redis)
        return nodes
    finally:
        phone.kill()
        phone.wait(10)


def _queue_batch(
    callers_dir: Path,
    engine: sa.Engine,
    target: str,
    base: int,
    redis: RedisServer | None = None,
) -> list[str]:
    """One batch of queued callers, all answered in the order they called; `redis` given: it
    is restarted REDIS_RESTART_AFTER s into the batch, while callers wait. The nodes that
    took the calls."""
    callers = _sipp_run(
        callers_dir,
        [
            target,
            "-sf",
            str(SCENARIOS / "trunk_call_callee_hangs_up.xml"),
            "-s",
            QUEUE_NUMBER,
            "-i",
            TRUNK_IP,
            "-p",
            str(base + 48),
            "-mi",
            TRUNK_IP,
            "-mp",
            str(base + 52),
            "-m",
            str(QUEUE_CALLERS),
            "-r",
            "2",
            "-l",
            str(QUEUE_CALLERS),
            "-timeout",
            "90s",
            "-timeout_error",
        ],
    )
    if redis is not None:
        time.sleep(REDIS_RESTART_AFTER)
        redis.restart()
    callers.wait(120)
    out = (callers_dir / "sipp.out").read_text(errors="replace")
    assert callers.returncode == 0, out[-3000:]
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.calls.c.id, t.calls.c.started_at, t.calls.c.answered_at, t.calls.c.node)
            .where(t.calls.c.called == QUEUE_NUMBER)
            .order_by(t.calls.c.started_at)
        ).all()[-QUEUE_CALLERS:]
        steps = {
            row.id: [
                f"{s.at:%H:%M:%S.%f} {s.text}"
                for s in conn.execute(
                    sa.select(t.call_steps.c.at, t.call_steps.c.text)
                    .where(t.call_steps.c.call_id == row.id)
                    .order_by(t.call_steps.c.seq)
                )
            ]
            for row in rows
        }
    assert len(rows) == QUEUE_CALLERS, rows
    answered = [row.answered_at for row in rows]
    story = "\n".join(
        f"{row.node} {row.started_at} answered {row.answered_at}: " + " | ".join(steps[row.id])
        for row in rows
    )
    assert all(answered), story
    assert answered == sorted(answered), story  # served in the order they called
    return sorted({row.node for row in rows})


def _sipp_run(workdir: Path, args: list[str]) -> subprocess.Popen[bytes]:
    workdir.mkdir(parents=True, exist_ok=True)
    command = [sipp_binary(), *args, "-nostdin", "-trace_err", "-trace_logs"]
    with (workdir / "sipp.out").open("wb") as out:
        return subprocess.Popen(command, cwd=workdir, stdout=out, stderr=subprocess.STDOUT)


@contextlib.contextmanager
def _cluster(workdir: Path, env: dict[str, str], base: int) -> Iterator[subprocess.Popen[bytes]]:
    log = workdir / "vpbx.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "vpbx", "run", "--nodes", str(NODES)],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 90
        ports = [base, base + 1, *_node_ports(base)]
        while not all(_port_open(port) for port in ports):
            assert process.poll() is None, log.read_text(errors="replace")[-4000:]
            assert time.monotonic() < deadline, "the cluster did not start within 90 s"
            time.sleep(0.2)
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(40)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def test_a_node_killed_under_50_cps_loses_no_call_after_2_s(
    tmp_path: Path, db_url: str, redis: RedisServer
) -> None:
    upgrade(db_url)
    lines = asyncio.run(_configure(db_url))
    queue_line = asyncio.run(_configure_queue(db_url))
    base = _free_block(STATUS_PORT_OFFSET + 8)  # the nodes' status ports are at its end
    target = f"{PBX_IP}:{base}"
    uas_port = base + 4
    env = _environment(tmp_path, db_url, base, redis.url)
    engine = make_sync_engine(db_url)
    employees = trunk = None
    with _cluster(tmp_path, env, base) as cluster:
        try:
            _register(tmp_path, lines, uas_port, target)
            # every node rings every phone: each learnt the REGISTERs the others took
            deadline = time.monotonic() + 15
            while True:
                known = [
                    _metric(_metrics_port(base, i), "vpbx_registrations")
                    for i in range(1, NODES + 1)
                ]
                if known == [len(lines)] * NODES:
                    break
                assert time.monotonic() < deadline, f"bindings per node: {known}"
                time.sleep(0.2)
            employees = _employees_uas(tmp_path, uas_port, base + 6)
            _wait_listening(employees, uas_port, "employees' SIPp")

            victim_port = _node_ports(base)[1]
            victim = _node_pid(victim_port)
            assert victim is not None
            trunk_dir = tmp_path / "trunk"
            started = time.monotonic()
            trunk = _trunk(trunk_dir, target, base + 20, base + 22, CALLS)
            time.sleep(KILL_AFTER)
            os.kill(victim, signal.SIGKILL)
            killed = time.monotonic() - started
            trunk.wait(180)
            answered = _answered_numbers(trunk_dir)
            # not answered, or answered and then cut off (its BYE unanswered: it talked on
            # the killed node)
            failed = sorted((set(range(1, CALLS + 1)) - answered) | _aborted_numbers(trunk_dir))
            # SIPp starts call n at about (n - 1) / RATE s after its start (it started after
            # `started`, so this errs on the early side)
            late_failures = [n for n in failed if (n - 1) / RATE >= killed + WINDOW]
            assert not late_failures, (
                f"{len(failed)} failed, of which started ≥ {WINDOW} s after the kill at "
                f"{killed:.2f} s: {late_failures[:20]}"
            )
            assert len(answered) >= CALLS * 0.8, f"only {len(answered)} of {CALLS} answered"
            # the calls lost are those the killed node held: about a third of what was up
            assert len(failed) < RATE * (WINDOW + 2), failed

            # node 2 is back under the supervisor, its cut calls closed in the report
            deadline = time.monotonic() + 60
            while _node_pid(victim_port) in (None, victim) or not _port_open(victim_port):
                assert time.monotonic() < deadline, "node 2 was not started again"
                time.sleep(0.2)
            deadline = time.monotonic() + 30
            while True:
                with engine.connect() as conn:
                    open_rows = conn.execute(
                        sa.select(sa.func.count()).where(t.calls.c.ended_at.is_(None))
                    ).scalar_one()
                    rows = conn.execute(
                        sa.select(sa.func.count()).select_from(t.calls)
                    ).scalar_one()
                # every answered call has its row, and none is left open (the killed node's
                # calls are closed by its restart); but a call that started on the killed
                # node in its last LINGER s: its row was waiting for the next group commit
                # (vpbx.switch.call_store, docs/decisions.md)
                if open_rows == 0 and rows >= len(answered) - LINGER * RATE:
                    break
                assert time.monotonic() < deadline, (
                    f"{open_rows} calls still open in the report, {rows} rows for "
                    f"{len(answered)} calls answered"
                )
                time.sleep(0.5)

            # the restarted node takes calls again (Kamailio's pings found it), nothing else
            # restarted
            before = _metric(_metrics_port(base, 2), "vpbx_calls_total")
            time.sleep(3)
            again_dir = tmp_path / "again"
            second = _trunk(again_dir, target, base + 24, base + 26, 150)
            second.wait(120)
            assert len(_answered_numbers(again_dir)) == 150, (again_dir / "sipp.out").read_text(
                errors="replace"
            )[-3000:]
            took = _metric(_metrics_port(base, 2), "vpbx_calls_total") - before
            assert took >= 150 / NODES / 2, f"the restarted node took {took} of 150 calls"
            queue_nodes = _queue_in_order(tmp_path, engine, queue_line, target, base, redis)

            # Kamailio stopped: the supervisor starts it again, calls flow again (it held none)
            kamailio = _child_named(cluster.pid, b"kamailio")
            assert kamailio is not None
            os.kill(kamailio, signal.SIGTERM)
            deadline = time.monotonic() + 30
            while _child_named(cluster.pid, b"kamailio") in (None, kamailio) or not _port_open(
                base
            ):
                assert time.monotonic() < deadline, "Kamailio was not started again"
                time.sleep(0.2)
            after_dir = tmp_path / "after-kamailio"
            after = _trunk(after_dir, target, base + 56, base + 58, 50)
            after.wait(120)
            assert len(_answered_numbers(after_dir)) == 50, (after_dir / "sipp.out").read_text(
                errors="replace"
            )[-3000:]
            print(
                f"cluster queue: {QUEUE_CALLERS} callers served in arrival order by one phone, "
                f"their calls taken by nodes {queue_nodes}; {QUEUE_CALLERS} more in order "
                f"through a Redis restart {REDIS_RESTART_AFTER} s into their batch"
            )
            print(
                f"cluster failover: killed at {killed:.2f} s; {len(answered)}/{CALLS} answered, "
                f"{len(failed)} failed (all started < {WINDOW} s after the kill); "
                f"restarted node took {took:.0f}/150"
            )
        finally:
            for process in (trunk, employees):
                if process is not None and process.poll() is None:
                    process.kill()
                    process.wait(10)
            engine.dispose()
    # the whole cluster stopped with SIGTERM: no node left on its port
    assert not any(_port_open(port) for port in _node_ports(base))
