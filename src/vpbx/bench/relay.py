"""The relay benchmark (issue 17): bridged calls one core carries, vpbx against rtpengine.

Each relay (the system under test) runs pinned to core `SUT_CORE`; everything else (the load,
SIPp) to `LOAD_CORE`. The load (`vpbx.bench.rtpload`, its own process) plays both ends of N
calls: two G.711 streams per call, 50 packets/s of 160-byte µ-law each, through the relay both
ways; each payload carries its send time, so the receiving end measures the one-way time
through the relay, and it counts what arrived.

* vpbx: the rig of `vpbx.bench.calls` (`vpbx run`, SQLite, the trunk → number → Forward → group
  of SIPp employees path) sets the calls up through its real SIP path. The trunk's SIPp
  (`sipp/relay_trunk.xml`) offers the load's caller-side socket and notes the port vpbx
  answers with; the employees' SIPp answers with the load's callee-side socket. vpbx latches
  both (symmetric RTP) and bridges: packets are relayed by the bridged-talk path of a live call.
* vpbx kernel (its own row): the same rig and ladder with VPBX_KERNEL_RTP=auto, run in a
  network namespace of its own (`vpbx.bench.netns`: vpbx, SIPp and the load inside, so the
  nftables table never touches the host's ruleset and goes with the namespace). Once both
  legs latch, the kernel forwards the audio (`vpbx.media.kernel_rtp`); the switch's CPU is
  then not the relay's: on loopback the forwarding runs in the sending process's system
  call (the load's core), so this row has no CPU-per-packet figure and its knee is likely
  the load generator's (said as AT LEAST).
* rtpengine 10.5 (Debian `rtpengine-daemon`): `RTPENGINE_FLAGS` (no configuration file,
  userspace only, one worker thread, on loopback); each call is an `offer` and an `answer`
  over its ng control protocol (`vpbx.bench.ng`) with the same two sockets in the SDP.

Each relay climbs the same ladder (`next_rung`, `Plan`): `start` calls, then `step` more
while every rung holds, then halving between the highest rung that held and the lowest that
failed until they are `resolution` apart. Calls are added (never hung up) as the ladder goes
up; a rung below the calls already set up talks on the first N and leaves the rest silent. A
rung holds when ≥ `DELIVERED_OK` of the packets sent in the `window` seconds (after `WARMUP`)
arrive each way, with p99 one-way time < `P99_LIMIT_MS` (so the generator's own delay counts
against the relay: the load alone, end to end without a relay, is measured too). The CPU of
the relay's process is read at the window's edges: µs per relayed (delivered) packet.

`python -m vpbx.bench.relay` runs this benchmark alone and puts its rows into
docs/benchmarks.{json,md} (the others kept); `make bench` runs it with the others.
VPBX_BENCH_KEEP=1 keeps the working folders (vpbx's and rtpengine's logs, SIPp's files).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from vpbx.bench.calls import (
    NUMBER,
    PBX_IP,
    SIPP_DIR,
    TRUNK_IP,
    _free_block,
    _pbx_errors,
    _sipp,
    _stop,
    _tree,
    pbx_rig,
)
from vpbx.bench.core import Result, sizes, work_folder
from vpbx.bench.merge import run_alone
from vpbx.bench.netns import network_namespace
from vpbx.bench.ng import NgClient, NgError
from vpbx.bench.rtpload import LoadReport, LoadSpec, spec_json
from vpbx.bench.stall import window as loop_window

__all__ = [
    "BENCHMARKS",
    "Ladder",
    "RelayCampaign",
    "Rung",
    "climb",
    "knee",
    "media_address",
    "next_rung",
    "relay_campaign",
    "relay_method",
]

SUT_CORE = 0
LOAD_CORE = 1
WARMUP = 2.0
DRAIN = 0.5
DELIVERED_OK = 0.999
P99_LIMIT_MS = 5.0
RIG_EMPLOYEES = 30  # in the relay rig: 3,000 calls on their lines (100 each), never the knee
#: a rung where more of the load's sends than this were > 2 ms behind their schedule measured
#: the load generator, not the relay: measured once more, then the ladder stops there (its
#: knee is then a lower bound)
LATE_SHARE = 0.001
#: vpbx's calls are set up at this rate (no media flows meanwhile): well below the ~120 calls/s
#: its signalling holds, so setting up is never what fails
SETUP_CPS = 40
#: a relay's ladder stops climbing after this long (the whole benchmark stays within ~12 min;
#: 130 s ran out at 1,100 calls for vpbx and 1,300 for the kernel row, both then lower bounds)
LADDER_SECONDS = 200.0

#: rtpengine's RTP ports: not vpbx's (`RTP_PORTS`): packets still flying to a port vpbx had
#: (another rig's load) were latched by rtpengine as a call's peer and that call went silent
RTPENGINE_PORTS = (40000, 49999)
#: rtpengine's whole configuration: no file (none of /etc/rtpengine), in the foreground,
#: userspace only (kernel table -1), one worker thread, loopback, its own port range, calls
#: kept while the ladder pauses
RTPENGINE_FLAGS = (
    "--config-file=none",
    "--foreground",
    "--log-stderr",
    "--log-level=5",
    "--table=-1",
    "--num-threads=1",
    "--media-num-threads=1",
    f"--interface={PBX_IP}",
    f"--port-min={RTPENGINE_PORTS[0]}",
    f"--port-max={RTPENGINE_PORTS[1]}",
    "--timeout=600",
    "--delete-delay=0",
)


# --------------------------------------------------------------------------------- the ladder


@dataclass(frozen=True, slots=True)
class Plan:
    """The ladder (calls) and the measured window (seconds) of each rung."""

    start: int = 400  # every relay measured so far held 650 or more: no time spent below
    step: int = 100
    top: int = 2000  # rtpengine takes 4 ports a call from the 10,000 of RTPENGINE_PORTS
    resolution: int = 25
    window: float = 5.0

    @classmethod
    def from_env(cls) -> Plan:
        """The default, or VPBX_BENCH_RELAY="start,step,top,resolution,window" (e.g.
        "20,20,60,10,2" for a quick check of the benchmark itself)."""
        default = cls()
        start, step, top, resolution, window = sizes(
            "VPBX_BENCH_RELAY",
            (default.start, default.step, default.top, default.resolution, default.window),
        )
        return cls(int(start), int(step), int(top), int(resolution), window)


def next_rung(held: Mapping[int, bool], plan: Plan) -> int | None:
    """The next number of calls to try after the rungs in `held` (calls → held), or None when
    the knee is found: up by `step` from `start` while everything held (up to `top`), then
    halfway (on the `resolution` grid) between the highest rung that held below the lowest
    that failed and that failure, until the two are `resolution` apart."""
    failed = [calls for calls, ok in held.items() if not ok]
    if not failed:
        calls = max(held, default=plan.start - plan.step) + plan.step
        return calls if calls <= plan.top else None
    low = knee(held)
    high = min(failed)
    if high - low <= plan.resolution:
        return None
    middle = low + (high - low) // 2 // plan.resolution * plan.resolution
    return max(middle, low + plan.resolution)


def knee(held: Mapping[int, bool]) -> int:
    """The most calls that held below the fewest that failed (0 when nothing held)."""
    failed = min((calls for calls, ok in held.items() if not ok), default=None)
    return max(
        (calls for calls, ok in held.items() if ok and (failed is None or calls < failed)),
        default=0,
    )


@dataclass(frozen=True, slots=True)
class Rung:
    """One load of `calls` calls through a relay, as the load measured it."""

    calls: int
    load: LoadReport | None
    note: str = ""  # why there is no load report (the calls could not be set up)
    loop: str = ""  # what vpbx's own loop watch saw meanwhile (its worst stall, collections)

    @property
    def relayed(self) -> int:
        return sum(self.load.received) if self.load is not None else 0

    @property
    def held(self) -> bool:
        load = self.load
        if load is None:
            return False
        return min(load.delivered(0), load.delivered(1)) >= DELIVERED_OK and (
            max(load.p99_us) < P99_LIMIT_MS * 1000
        )

    @property
    def load_bound(self) -> bool:
        """The load generator fell behind its own schedule (it, not the relay, was the limit)."""
        load = self.load
        return load is not None and load.late_sends > LATE_SHARE * sum(load.sent)

    @property
    def cpu_us_per_packet(self) -> float:
        load = self.load
        if load is None or not self.relayed:
            return float("nan")
        return load.watched_cpu_seconds / self.relayed * 1e6

    def describe(self) -> str:
        load = self.load
        if load is None:
            return f"{self.calls} calls: {self.note}"
        ways = "; ".join(
            f"{way} {load.delivered(d):.2%} delivered, p50 {load.p50_us[d] / 1000:.2f} / "
            f"p99 {load.p99_us[d] / 1000:.2f} / max {load.max_us[d] / 1000:.1f} ms"
            for d, way in enumerate(("→", "←"))
        )
        relay = (
            f"relay CPU {load.watched_cpu_seconds / load.window:.0%} of a core, "
            f"{self.cpu_us_per_packet:.1f} µs/packet; "
            if load.watched_cpu_seconds
            else ""
        )
        return (
            f"{self.calls} calls: {ways}; {relay}load CPU "
            f"{load.cpu_seconds:.1f} s, {load.late_sends} sends > 2 ms late"
            + ("" if load.learned == load.calls else f", {load.learned} callee sides learned")
            + (" — held" if self.held else " — failed")
            + (" (the load fell behind)" if self.load_bound else "")
            + (f"; vpbx's loop: {self.loop}" if self.loop else "")
        )


@dataclass
class Ladder:
    relay: str
    rungs: dict[int, Rung] = field(default_factory=dict)
    stopped: str = ""
    load_bound: bool = False  # the knee is where the load, not the relay, gave out

    @property
    def knee(self) -> int:
        return knee({calls: rung.held for calls, rung in self.rungs.items()})

    @property
    def cpu_rung(self) -> Rung | None:
        """Where CPU per packet is read: the knee, or the fewest calls measured if none held."""
        if self.knee:
            return self.rungs[self.knee]
        measured = [rung for rung in self.rungs.values() if rung.load is not None]
        return min(measured, key=lambda rung: rung.calls, default=None)


class Relay(Protocol):
    """A relay under test: its process, and where the caller side sends each call set up."""

    name: str
    targets: list[tuple[str, int]]

    @property
    def pid(self) -> int | None:
        """The process whose CPU is read (None: no relay)."""

    def grow(self, calls: int) -> None:
        """Set up calls until `calls` are up (SetupError when they cannot be)."""

    def loop(self) -> dict[str, Any] | None:
        """The relay's own loop watch (vpbx's status endpoint /loop); None where there is none."""


class SetupError(RuntimeError):
    """The relay did not set up the calls asked for."""


# --------------------------------------------------------------------------------- the load


def _load(spec: LoadSpec, log: Path) -> LoadReport:
    """One run of the load in its own process on LOAD_CORE."""
    args = ["taskset", "-c", str(LOAD_CORE), sys.executable, "-m", "vpbx.bench.rtpload"]
    timeout = spec.warmup + spec.seconds + spec.drain + 30
    done = subprocess.run(
        args, input=spec_json(spec).encode(), capture_output=True, timeout=timeout, check=False
    )
    with log.open("ab") as f:
        f.write(done.stderr)
    if done.returncode != 0:
        raise RuntimeError(
            f"the load exited with {done.returncode}: {done.stderr.decode(errors='replace')}"
        )
    return LoadReport.from_json(json.loads(done.stdout))


def measure(relay: Relay, calls: int, campaign: RelayCampaign) -> Rung:
    try:
        relay.grow(calls)
    except SetupError as exc:
        return Rung(calls, None, f"set-up failed: {exc}")
    targets = tuple(relay.targets[:calls])
    spec = LoadSpec(campaign.ends, targets, WARMUP, campaign.plan.window, DRAIN, relay.pid)
    before, start = relay.loop(), time.monotonic()
    load = _load(spec, campaign.root / "load.log")
    end, after = time.monotonic(), relay.loop()
    # why a rung failed below a full core: a stall of the loop delays every packet behind it
    seen = loop_window(before, after, start, end).describe() if before and after else ""
    return Rung(calls, load, loop=seen)


def climb(
    name: str,
    measure_rung: Callable[[int], Rung],
    plan: Plan,
    say: Callable[[str], None],
    seconds: float = LADDER_SECONDS,
    alone: Callable[[int], Rung] | None = None,
) -> Ladder:
    """A relay's ladder (`next_rung`), measuring each rung with `measure_rung(calls)`, within
    `seconds`; a rung the load generator failed is measured once more before the ladder stops
    there (its knee then a lower bound). With `alone` (the same load without the relay), such a
    rung is first measured without the relay: if that holds, the generator carries the load
    (its late sends did not fail the rung: a send's time is taken when it goes), the failure
    is the relay's, and the ladder goes on as after any failure."""
    ladder = Ladder(name)
    began = time.monotonic()
    while True:
        calls = next_rung({n: rung.held for n, rung in ladder.rungs.items()}, plan)
        if calls is None:
            break
        if time.monotonic() - began > seconds:
            ladder.stopped = f"out of time after {seconds:.0f} s"
            break
        rung = measure_rung(calls)
        if rung.load_bound and not rung.held:  # once more: a moment's hiccup of the box
            say(f"{name}: {rung.describe()}; measured again")
            rung = measure_rung(calls)
        ladder.rungs[calls] = rung
        say(f"{name}: {rung.describe()}")
        if rung.load_bound and not rung.held:
            without = alone(calls) if alone is not None else None
            if without is not None:
                say(f"{name}: the same load alone, no relay: {without.describe()}")
            if without is None or not without.held:
                ladder.stopped = f"the load generator fell behind at {calls} calls: a lower bound"
                ladder.load_bound = True
                break
            say(f"{name}: the load alone held {calls} calls: the relay failed the rung")
    say(f"{name}: knee {ladder.knee} calls" + (f" ({ladder.stopped})" if ladder.stopped else ""))
    return ladder


def _climb(relay: Relay, campaign: RelayCampaign, *, kernel: bool = False) -> Ladder:
    """The ladder of `relay`. A userspace relay's failure at a rung the generator fell behind
    on is checked against the load alone; the kernel's is not: on loopback the kernel forwards
    on the load's own core, so there the two cannot be told apart."""
    return climb(
        relay.name,
        lambda calls: measure(relay, calls, campaign),
        campaign.plan,
        campaign.say,
        alone=None
        if kernel
        else lambda calls: measure(_Direct(campaign.ends, calls), calls, campaign),
    )


# --------------------------------------------------------------------------------- vpbx


def _pin(pid: int, core: int) -> None:
    """Every thread of a process onto one core (new threads inherit it)."""
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(int(task.name), {core})


def media_address(text: str) -> tuple[str, int]:
    """The audio address of an SDP body (its first c= line and first m=audio port)."""
    host = re.search(r"^c=IN IP4 ([0-9.]+)", text, re.MULTILINE)
    port = re.search(r"^m=audio (\d+) ", text, re.MULTILINE)
    if host is None or port is None:
        raise ValueError(f"no audio address in the SDP: {text!r}")
    return host.group(1), int(port.group(1))


@dataclass
class VpbxRelay:
    """vpbx with its calls set up by SIPp trunks (one per growth, each still holding its calls)."""

    pid: int
    target: str  # vpbx's SIP address
    caller: tuple[str, int]
    workdir: Path
    name: str = "vpbx"
    targets: list[tuple[str, int]] = field(default_factory=list)
    trunks: list[subprocess.Popen[bytes]] = field(default_factory=list)
    avoid: tuple[int, ...] = ()  # the load's ports
    status_port: int = 0  # the switch's status endpoint

    def loop(self) -> dict[str, Any] | None:
        try:
            url = f"http://127.0.0.1:{self.status_port}/loop"
            body: dict[str, Any] = httpx.get(url, timeout=5).json()
        except (httpx.HTTPError, ValueError):
            return None
        return body

    def grow(self, calls: int) -> None:
        more = calls - len(self.targets)
        if more <= 0:
            return
        workdir = self.workdir / f"trunk{len(self.trunks) + 1:02d}-{calls}"
        workdir.mkdir()
        # SIP, the (unused) media ports SIPp binds, its control port; never the load's own
        # sockets, which are free between rungs (a trunk holding one made the next load fail)
        port = _free_block(8)
        while set(self.avoid) & set(range(port, port + 8)):
            port = _free_block(8)
        args = [
            *("taskset", "-c", str(LOAD_CORE), _sipp(), self.target),
            *("-sf", str(SIPP_DIR / "relay_trunk.xml"), "-s", NUMBER),
            *("-i", TRUNK_IP, "-p", str(port), "-mi", TRUNK_IP, "-mp", str(port + 2)),
            *("-cp", str(port + 6), "-key", "media_addr", self.caller[0]),
            *("-key", "media_at", str(self.caller[1])),
            *("-r", str(SETUP_CPS), "-m", str(more), "-l", str(more + 10)),
            *("-d", "3600000", "-nostdin", "-trace_err", "-recv_timeout", "15000"),
        ]
        with (workdir / "trunk.out").open("wb") as log:
            trunk = subprocess.Popen(args, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
        self.trunks.append(trunk)
        answered = workdir / "calls.txt"
        deadline = time.monotonic() + more / SETUP_CPS + 20
        lines: list[str] = []
        while time.monotonic() < deadline:
            lines = answered.read_text().splitlines() if answered.exists() else []
            if len(lines) >= more or trunk.poll() is not None:
                break
            time.sleep(0.2)
        # "call_number ip port" lines, each appended by one write
        rows = [row for row in (line.split() for line in lines) if len(row) == 3]
        found = sorted((int(number), (host, int(at))) for number, host, at in rows)
        self.targets += [address for _, address in found]
        if len(found) < more:
            state = "waiting" if trunk.poll() is None else f"exited {trunk.returncode}"
            raise SetupError(f"{len(found)} of {more} more calls answered (SIPp {state})")


@contextlib.contextmanager
def vpbx_relay(
    workdir: Path, campaign: RelayCampaign, *, kernel: bool = False
) -> Iterator[VpbxRelay]:
    """vpbx relaying in the switch process, or (`kernel`) with VPBX_KERNEL_RTP=auto: then
    the caller must have entered a network namespace of its own (`vpbx.bench.netns`)."""
    ends = campaign.ends
    kernel_rtp = "auto" if kernel else "off"
    # employees enough that the rig's line limit (100 calls a line) is never the knee
    with pbx_rig(
        workdir, employees_sdp_port=ends[1][1], kernel_rtp=kernel_rtp, employees=RIG_EMPLOYEES
    ) as rig:
        switch = rig.pids()["vpbx"]
        assert rig.pbx is not None
        assert rig.employees is not None
        for pid in [*_tree(rig.pbx.pid), rig.employees.pid]:
            _pin(pid, SUT_CORE if pid == switch else LOAD_CORE)
        relay = VpbxRelay(
            switch,
            rig.target,
            ends[0],
            workdir,
            avoid=(ends[0][1], ends[1][1]),
            status_port=rig.status_port,
        )
        if kernel:
            relay.name = "vpbx kernel"
        try:
            yield relay
        finally:
            for trunk in relay.trunks:
                _stop(trunk)
            errors = _pbx_errors(rig)
            if errors:
                campaign.say(f"vpbx logged errors: {errors}")


# --------------------------------------------------------------------------------- rtpengine


def _sdp(address: tuple[str, int]) -> str:
    host, port = address
    return (
        f"v=0\r\no=- 1 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
    )


@dataclass
class RtpengineRelay:
    """rtpengine with one ng offer and answer per call."""

    pid: int
    client: NgClient
    ends: tuple[tuple[str, int], tuple[str, int]]
    name: str = "rtpengine"
    targets: list[tuple[str, int]] = field(default_factory=list)

    def grow(self, calls: int) -> None:
        offer, answer = _sdp(self.ends[0]), _sdp(self.ends[1])
        for index in range(len(self.targets), calls):
            call = {"call-id": f"relay-{index}", "from-tag": "caller"}
            try:
                self.client.request({"command": "offer", **call, "sdp": offer})
                reply = self.client.request(
                    {"command": "answer", **call, "to-tag": "callee", "sdp": answer}
                )
            except NgError as exc:
                raise SetupError(str(exc)) from exc
            sdp = reply.get(b"sdp")
            if not isinstance(sdp, bytes):
                raise SetupError(f"answer without SDP: {reply!r}")
            # the SDP rtpengine gives the caller: where the caller's media goes
            self.targets.append(media_address(sdp.decode()))

    def loop(self) -> dict[str, Any] | None:
        return None


@contextlib.contextmanager
def rtpengine_relay(
    workdir: Path, ends: tuple[tuple[str, int], tuple[str, int]]
) -> Iterator[RtpengineRelay]:
    binary = shutil.which("rtpengine")
    if binary is None:
        raise RuntimeError("rtpengine is not installed: `make bench` installs rtpengine-daemon")
    workdir.mkdir(parents=True, exist_ok=True)
    ng = (PBX_IP, _free_block(1))
    args = [
        "taskset",
        "-c",
        str(SUT_CORE),
        binary,
        *RTPENGINE_FLAGS,
        f"--listen-ng={ng[0]}:{ng[1]}",
    ]
    with (workdir / "rtpengine.log").open("wb") as log:
        process = subprocess.Popen(args, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    client = NgClient(ng, timeout=0.5, attempts=20)  # retried while it starts
    try:
        if client.request({"command": "ping"}).get(b"result") != b"pong":
            raise RuntimeError("rtpengine did not answer ping with pong")
        yield RtpengineRelay(process.pid, client, ends)
    finally:
        client.close()
        _stop(process)


# --------------------------------------------------------------------------------- campaign


@dataclass
class RelayCampaign:
    root: Path
    plan: Plan
    ends: tuple[tuple[str, int], tuple[str, int]]  # the load's caller and callee sockets
    vpbx: Ladder | None = None
    kernel: Ladder | None = None  # vpbx with kernel forwarding (nftables)
    kernel_packets: int = 0  # what the kernel forwarded in the kernel row (its nft counters)
    rtpengine: Ladder | None = None
    rtpengine_cpu: Rung | None = None  # at the calls of vpbx's CPU figure
    alone: Rung | None = None  # the load end to end without a relay
    log: list[str] = field(default_factory=list)

    def say(self, text: str) -> None:
        self.log.append(text)
        print(f"[relay] {text}", flush=True)


def _kernel_forwarded() -> int:
    """Packets the kernel forwarded: the nft counters of every vpbx table in this namespace
    (the proof that the kernel row measured the kernel path)."""
    from vpbx.media.kernel_rtp_rules import TABLE_PREFIX, parse_counters

    done = subprocess.run(
        ["nft", "-j", "list", "counters"], capture_output=True, text=True, check=True
    )
    tables = set(re.findall(rf'"table": "({TABLE_PREFIX}\d+)"', done.stdout))
    return sum(
        counter.packets
        for table in tables
        for counter in parse_counters(table, done.stdout).values()
    )


class _Direct:
    """No relay: the caller side sends straight to the callee side (the load's own figure)."""

    name = "no relay"

    def __init__(self, ends: tuple[tuple[str, int], tuple[str, int]], calls: int) -> None:
        self.pid: int | None = None
        self.targets = [ends[1]] * calls

    def grow(self, calls: int) -> None:
        del calls

    def loop(self) -> dict[str, Any] | None:
        return None


@functools.cache
def relay_campaign() -> RelayCampaign:
    with work_folder("relay") as root:
        base = _free_block(4)
        campaign = RelayCampaign(root, Plan.from_env(), ((TRUNK_IP, base), (PBX_IP, base + 2)))
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        campaign.say(f"load average before: {load}")
        # A relay that cannot be run (vpbx not starting, rtpengine missing) is said in the log
        # and its row reads 0; the other relay and the rest of `make bench` still run.
        try:
            with vpbx_relay(root / "vpbx", campaign) as vpbx:
                campaign.vpbx = _climb(vpbx, campaign)
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            campaign.say(f"vpbx could not be measured: {exc}")
        try:
            with (
                network_namespace("vpbxbench"),
                vpbx_relay(root / "vpbx-kernel", campaign, kernel=True) as kernel,
            ):
                campaign.kernel = _climb(kernel, campaign, kernel=True)
                campaign.kernel_packets = _kernel_forwarded()
                campaign.say(f"vpbx kernel: the kernel forwarded {campaign.kernel_packets} packets")
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            campaign.say(f"vpbx kernel could not be measured: {exc}")
        knee_vpbx = campaign.vpbx.knee if campaign.vpbx is not None else 0
        cpu_rung = campaign.vpbx.cpu_rung if campaign.vpbx is not None else None
        try:
            with rtpengine_relay(root / "rtpengine", campaign.ends) as rtpengine:
                campaign.rtpengine = _climb(rtpengine, campaign)
                if cpu_rung is not None:
                    rung = campaign.rtpengine.rungs.get(cpu_rung.calls)
                    if rung is None:
                        rung = measure(rtpengine, cpu_rung.calls, campaign)
                        campaign.say(f"rtpengine for vpbx's CPU figure: {rung.describe()}")
                    campaign.rtpengine_cpu = rung
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            campaign.say(f"rtpengine could not be measured: {exc}")
        knee_rtpengine = campaign.rtpengine.knee if campaign.rtpengine is not None else 0
        most = max(knee_vpbx, knee_rtpengine, campaign.plan.start)
        campaign.alone = measure(_Direct(campaign.ends, most), most, campaign)
        campaign.say(f"the load alone, no relay: {campaign.alone.describe()}")
    return campaign


def relay_method() -> tuple[str, ...]:
    plan = Plan.from_env()
    flags = " ".join(RTPENGINE_FLAGS)
    return (
        "Relay (`vpbx.bench.relay`, the `relay:` rows): bridged calls one core carries, vpbx",
        f"against rtpengine 10.5 userspace. Each relay runs pinned to core {SUT_CORE} (vpbx's",
        f"switch process; rtpengine as `rtpengine {flags}`), everything else on core",
        f"{LOAD_CORE}. A call is two streams of 50 packets/s (160-byte µ-law, PT 0), one each",
        "way, played by our load generator (`vpbx.bench.rtpload`: one Python process, plain",
        "sockets, both ends of every call; each payload carries its send time, the receiving",
        "end times the one-way trip through the relay and counts what arrived). vpbx's calls",
        "are set up through its real SIP path (the calls rows' rig: SIPp trunk → number →",
        f"Forward → registered SIPp employees, {SETUP_CPS} calls/s while no media flows), the",
        "generator's sockets offered in the SDP on both sides, the talk relayed by the switch's",
        "relay thread (`vpbx.media._fastrelay.Engine`, nice -10, in the same pinned process as",
        "its event loop); rtpengine's by an ng `offer` and",
        f"`answer` per call with the same two sockets. A ladder: {plan.start} calls, +{plan.step}",
        f"while each rung holds, then halving to {plan.resolution}; calls are only added (a rung",
        "below those set up talks on its first N, the rest stay silent). A rung holds when ≥",
        f"{DELIVERED_OK:.1%} of the packets sent in {plan.window:g} s (after {WARMUP:g} s of",
        f"warm-up) arrive each way and the p99 one-way time is < {P99_LIMIT_MS:g} ms, the",
        "generator's own delay included (the load alone, without a relay, is measured too); a",
        f"rung where more than {LATE_SHARE:.1%} of the generator's sends were > 2 ms late measured",
        "the generator: it is measured once more; if that fails alike, the same load is measured",
        "without a relay, and if that fails too the ladder stops and its figure is a lower bound",
        "(if it holds, the generator carried the load and the failure is the relay's: the",
        "ladder goes on; not for the kernel row, forwarded on the load's own core). CPU per",
        "packet = the",
        "relay process's user + system time in the window / packets delivered; each of vpbx's",
        "rungs also says what its own loop watch saw meanwhile (worst stall, collections).",
        "The `vpbx",
        "kernel` row: the same rig and ladder with VPBX_KERNEL_RTP=auto (nftables forwarding,",
        "vpbx.media.kernel_rtp) in a network namespace of its own; on loopback the kernel",
        "forwards in the sender's system call, on the load's core, so it has no CPU figure",
        "and its knee is likely the load generator's. What this run saw:",
    )


# --------------------------------------------------------------------------------- results


def _bound(ladder: Ladder | None) -> str:
    if ladder is None or not ladder.load_bound:
        return ""
    return " (AT LEAST: the load generator gave out first)"


def bench_relay_calls() -> Result:
    campaign = relay_campaign()
    vpbx = campaign.vpbx.knee if campaign.vpbx is not None else 0
    reference = campaign.rtpengine.knee if campaign.rtpengine is not None else 0
    return Result(
        f"relay: bridged calls held on one core (50-pps G.711 both ways, ≥ {DELIVERED_OK:.1%} "
        f"delivered each way, p99 one-way < {P99_LIMIT_MS:g} ms), vpbx (calls set up by SIP)"
        + _bound(campaign.vpbx),
        float(vpbx),
        "calls",
        "rtpengine 10.5 userspace, one thread, ng offer/answer per call"
        + _bound(campaign.rtpengine),
        float(reference),
        vpbx / reference if reference else None,
        "ratio ≥ 1.0",
    )


def bench_relay_cpu() -> Result:
    campaign = relay_campaign()
    ladder = campaign.vpbx
    rung = ladder.cpu_rung if ladder is not None else None
    reference = campaign.rtpengine_cpu
    value = rung.cpu_us_per_packet if rung is not None else float("nan")
    ref = reference.cpu_us_per_packet if reference is not None else None
    calls = rung.calls if rung is not None else 0
    where = "its knee" if ladder is not None and ladder.knee else "no rung held"
    return Result(
        f"relay: CPU per relayed packet, vpbx switch process at {calls} calls ({where})",
        value,
        "µs/packet",
        f"rtpengine at the same {calls} calls",
        ref,
        value / ref if ref else None,
        None,
    )


def bench_relay_kernel_calls() -> Result:
    campaign = relay_campaign()
    kernel = campaign.kernel.knee if campaign.kernel is not None else 0
    reference = campaign.rtpengine.knee if campaign.rtpengine is not None else 0
    return Result(
        f"relay: bridged calls held (50-pps G.711 both ways, ≥ {DELIVERED_OK:.1%} delivered "
        f"each way, p99 one-way < {P99_LIMIT_MS:g} ms), vpbx with kernel forwarding "
        f"(nftables, VPBX_KERNEL_RTP=auto; {campaign.kernel_packets} packets by the kernel)"
        + _bound(campaign.kernel),
        float(kernel),
        "calls",
        "rtpengine 10.5 userspace, one thread, ng offer/answer per call"
        + _bound(campaign.rtpengine),
        float(reference),
        kernel / reference if reference else None,
        "ratio ≥ 1.0",
    )


BENCHMARKS = (bench_relay_calls, bench_relay_kernel_calls, bench_relay_cpu)


if __name__ == "__main__":
    run_alone(BENCHMARKS, "relay:", relay_method(), lambda: relay_campaign().log)
