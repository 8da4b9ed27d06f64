"""Call setup vs sippy (issue 17): the most calls per second vpbx sets up, beside PyPI `sippy`
2.5.0's `b2bua_simple` on the same load in the same run, and the CPU each spends per call.

Both systems under test get the same trunk load from the rigs of `vpbx.bench.calls`: SIPp
from 127.0.0.2 calls with the `trunk_signalling.xml` scenario (SDP offered, no RTP sent: this
measures call setup, not media), 1 s calls, and the same SIPp UAS answers (180, 200):

* vpbx (`pbx_rig`): trunk → virtual number → rule → scenario → Forward to a group of 10
  employees → the SIP line the employee registered (digest auth) → the UAS; it anchors the
  media (opens its RTP sockets for both legs) and writes every call's record (SQLite);
* sippy (`direct_rig` with `b2bua_simple -n <the UAS>` in front): a B2BUA that only relays
  each INVITE to one fixed next hop, with the SDP passed through untouched; no number, no
  routing, no registrar, no database, no media anchoring. sippy is installed at bench time with
  pip into a venv of its own in the bench's temporary folder (never the project's).

Each system under test is pinned to one core, the load generators to the other
(`vpbx.bench.pinned`). For each: a ladder of RATES, STEP_SECONDS each, up to the first rate that
fails a call or reaches p99 INVITE→first 180/183/200 ≥ P99_LIMIT_MS; then its best rate for
FINAL_SECONDS on a fresh process (one rung lower if that does not hold, down the rungs it held
and then LOWER_RATES below the ladder, at most FINAL_ATTEMPTS: a system that holds 50 calls/s
for a few seconds but not for a minute still gets the rate it does hold). CPU per call: the
SUT's CPU (all its threads) over its ladder rung at CPU_RATE divided by that rung's calls.

`python -m vpbx.bench.setup_vs_sippy` runs this benchmark alone and merges its rows into
docs/benchmarks.{json,md}; `make bench` runs it with the others.
"""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from vpbx.bench.calls import (
    PBX_IP,
    LoadRun,
    Rig,
    _cps_ok,
    _cpu_seconds,
    _pbx_errors,
    _stop,
    _tree,
    _wait_listening,
    direct_rig,
    pbx_rig,
    run_load,
)
from vpbx.bench.core import CampaignLog, Result, sizes, work_folder
from vpbx.bench.merge import run_alone
from vpbx.bench.pinned import GENERATOR_CORE, SUT_CORE, generators_core, pin, pinning

__all__ = [
    "BENCHMARKS",
    "SetupCampaign",
    "setup_campaign",
    "setup_method",
    "signalling_load",
    "vpbx_setup_rig",
]

SIPPY = "sippy==2.5.0"
SCENARIO = "trunk_signalling.xml"
RATES = (50, 100, 150, 200, 250, 300, 400, 500, 600, 800)
STEP_SECONDS = 6.0
FINAL_SECONDS = 60.0
FINAL_ATTEMPTS = 5
# below RATES[0]: where a system that held the short rungs but no long one is tried next
LOWER_RATES = (40, 30, 20, 10)
CALL_MS = 1000
P99_LIMIT_MS = 100.0  # as `_cps_ok` of the calls rows
CPU_RATE = 100
RATIO_TARGET = 2.0
WARM_CALLS = 20


def _size() -> tuple[float, ...]:
    """STEP_SECONDS and FINAL_SECONDS, or others from VPBX_BENCH_SETUP ("step,final", e.g.
    "2,5" for a quick check of the benchmark itself)."""
    return sizes("VPBX_BENCH_SETUP", (STEP_SECONDS, FINAL_SECONDS))


@dataclass
class Sut:
    """One system under test's figures."""

    name: str
    steps: list[LoadRun] = field(default_factory=list)
    final: LoadRun | None = None
    cpu_run: LoadRun | None = None
    cpu_seconds: float = 0.0  # the SUT's CPU over `cpu_run`

    @property
    def max_cps(self) -> float:
        return self.final.rate if self.final is not None else 0.0

    @property
    def cpu_us_per_call(self) -> float | None:
        """Microseconds of CPU per call (the table shows whole units)."""
        run = self.cpu_run
        return 1e6 * self.cpu_seconds / run.calls if run is not None and run.calls else None


@dataclass
class SetupCampaign(CampaignLog):
    TAG = "setup"
    vpbx: Sut = field(default_factory=lambda: Sut("vpbx"))
    sippy: Sut = field(default_factory=lambda: Sut("sippy"))

    @property
    def ratio(self) -> float | None:
        return self.vpbx.max_cps / self.sippy.max_cps if self.sippy.max_cps else None


# --------------------------------------------------------------------------------- the rigs


def signalling_load(rig: Rig, rate: float, calls: int) -> LoadRun:
    """`calls` trunk calls of CALL_MS at `rate`/s, signalling only, the trunk's SIPp on
    GENERATOR_CORE."""
    with generators_core():
        return run_load(rig, rate=rate, calls=calls, call_ms=CALL_MS, scenario=SCENARIO)


@contextlib.contextmanager
def vpbx_setup_rig(workdir: Path, say: Callable[[str], None]) -> Iterator[tuple[Rig, int]]:
    """`pbx_rig` with its switch pinned to SUT_CORE, the rest of the rig to GENERATOR_CORE, warmed
    by a few calls: the rig and the switch's pid. What vpbx logged as errors is said at the end."""
    with pbx_rig(workdir) as rig:
        pids = rig.pids()
        switch = pids["vpbx"]
        assert rig.pbx is not None
        for pid in [*_tree(rig.pbx.pid), pids["employees SIPp"]]:
            pin(pid, SUT_CORE if pid == switch else GENERATOR_CORE)
        signalling_load(rig, 10, WARM_CALLS)
        try:
            yield rig, switch
        finally:
            errors = _pbx_errors(rig)
            if errors:
                say(f"vpbx logged errors: {errors}")


def install_sippy(root: Path) -> Path:
    """A venv of its own with PyPI sippy: its `b2bua_simple` script."""
    venv = root / "sippy-venv"
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    for args in (
        [sys.executable, "-m", "venv", str(venv)],
        [*pip, "--disable-pip-version-check", SIPPY],
    ):
        done = subprocess.run(args, capture_output=True, timeout=600, check=False)
        if done.returncode != 0:  # pip's index warnings are noise unless it failed
            raise RuntimeError(f"{' '.join(args)}: " + done.stderr.decode(errors="replace")[-2000:])
    return venv / "bin" / "b2bua_simple"


@contextlib.contextmanager
def sippy_rig(workdir: Path, b2bua: Path) -> Iterator[tuple[Rig, int]]:
    """`direct_rig` with sippy's b2bua_simple in front of the UAS (pinned, on the port the rig's
    block keeps for the PBX): the rig, whose target is now sippy, and sippy's pid."""
    with direct_rig(workdir) as rig:
        uas_port = int(rig.target.rsplit(":", 1)[1])
        port = uas_port - 4  # the block's "vpbx SIP" port (see calls.PORT_BLOCK)
        args = [str(b2bua), "-f", "-l", PBX_IP, "-p", str(port), "-n", f"{PBX_IP}:{uas_port}"]
        env = {**os.environ, "SIPLOG_LVL": "WARN"}
        process: subprocess.Popen[bytes] | None = None
        try:
            with (workdir / "sippy.log").open("wb") as log:
                process = subprocess.Popen(
                    args, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT
                )
            _wait_listening(process, port, "sippy")
            pin(process.pid, SUT_CORE)
            if rig.employees is not None:
                pin(rig.employees.pid, GENERATOR_CORE)
            rig.target = f"{PBX_IP}:{port}"
            signalling_load(rig, 10, WARM_CALLS)
            yield rig, process.pid
        finally:
            _stop(process)


# --------------------------------------------------------------------------------- campaign

Start = Callable[[Path], contextlib.AbstractContextManager[tuple[Rig, int]]]


def _measured(rig: Rig, pid: int, rate: float, seconds: float) -> tuple[LoadRun, float]:
    """One load and the CPU seconds `pid` spent meanwhile (sippy is not in `rig.pids()`)."""
    before = _cpu_seconds(pid)
    run = signalling_load(rig, rate, int(rate * seconds))
    return run, _cpu_seconds(pid) - before


def _described(run: LoadRun, cpu: float) -> str:
    return f"{run.describe()}; its CPU {1000 * cpu / max(run.calls, 1):.2f} ms/call"


def _search(campaign: SetupCampaign, sut: Sut, start: Start, root: Path) -> None:
    """The ladder on one process, then the best rungs for FINAL_SECONDS on fresh ones."""
    step, final = _size()
    with start(root / f"{sut.name}-ladder") as (rig, pid):
        for rate in RATES:
            run, cpu = _measured(rig, pid, rate, step)
            sut.steps.append(run)
            campaign.say(f"{sut.name} {step:g} s: {_described(run, cpu)}")
            if rate == CPU_RATE:
                sut.cpu_run, sut.cpu_seconds = run, cpu
            if not _cps_ok(run):
                break
        if sut.cpu_run is None:  # the ladder stopped below CPU_RATE: measured anyway
            sut.cpu_run, sut.cpu_seconds = _measured(rig, pid, CPU_RATE, step)
            campaign.say(f"{sut.name} CPU run: {_described(sut.cpu_run, sut.cpu_seconds)}")
    held = sorted({r.rate for r in sut.steps if _cps_ok(r)}, reverse=True)
    lowest = min([*held, RATES[0]])
    candidates = [*held, *(r for r in LOWER_RATES if r < lowest)][:FINAL_ATTEMPTS]
    for attempt, best in enumerate(candidates):
        with start(root / f"{sut.name}-final{attempt}") as (rig, pid):
            run, cpu = _measured(rig, pid, best, final)
        campaign.say(f"{sut.name} {final:g} s: {_described(run, cpu)}")
        if _cps_ok(run):
            sut.final = run
            return
    campaign.say(f"{sut.name}: no rate held {final:g} s")


@functools.cache
def setup_campaign() -> SetupCampaign:
    campaign = SetupCampaign()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    campaign.say(f"load average before: {load}; {pinning()}")
    with work_folder("setup") as root:
        started = time.monotonic()
        try:
            b2bua: Path | None = install_sippy(root)
            campaign.say(f"{SIPPY} installed in {time.monotonic() - started:.0f} s")
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            # no reference, but the rest of `make bench` still runs
            b2bua = None
            campaign.say(f"{SIPPY} could not be installed, no reference: {error}")
        _search(campaign, campaign.vpbx, functools.partial(vpbx_setup_rig, say=campaign.say), root)
        if b2bua is not None:
            _search(campaign, campaign.sippy, functools.partial(sippy_rig, b2bua=b2bua), root)
        for sut in (campaign.vpbx, campaign.sippy):
            per_call = sut.cpu_us_per_call
            campaign.say(
                f"{sut.name}: max {sut.max_cps:g} calls/s; CPU at {CPU_RATE} calls/s "
                + (f"{per_call / 1000:.2f} ms/call" if per_call is not None else "not measured")
            )
    return campaign


def setup_method() -> tuple[str, ...]:
    rates = ", ".join(f"{r:g}" for r in RATES)
    step, final = _size()
    return (
        "Call setup vs sippy (`vpbx.bench.setup_vs_sippy`, the `call setup:` rows): the same "
        "SIPp trunk load (from 127.0.0.2, SDP offered but no RTP: call setup only, "
        f"{CALL_MS / 1000:g} s calls) to two systems under test, each pinned to one core with "
        f"the load generators on the other ({pinning()}), and the same SIPp UAS answering "
        "(180, 200). vpbx does a PBX's work: trunk → virtual number → rule → scenario → Forward "
        "to a group of 10 → the employee's registered SIP line, media anchored (its RTP sockets "
        "opened for both legs), every call's record written (SQLite); PyPI "
        f"`{SIPPY}` `b2bua_simple` (installed by pip into a venv of its own in the bench's "
        "temporary folder) only relays each INVITE to one fixed next hop (the UAS), SDP "
        "untouched: no routing, no registrar, no database, no media. Max CPS: a ladder "
        f"({rates} calls/s, {step:g} s each) up to the first rate with a failed call or "
        f"p99 INVITE→first 180/183/200 ≥ {P99_LIMIT_MS:.0f} ms, then the best rate for "
        f"{final:g} s on a fresh process (0 failed and p99 < {P99_LIMIT_MS:.0f} ms; the "
        "next rung down the ladder if it does not hold, then "
        f"{', '.join(map(str, LOWER_RATES))} calls/s, {FINAL_ATTEMPTS} tries at most). CPU per "
        "call: the SUT "
        "process's CPU (all its threads; for vpbx the switch process) over its "
        f"{CPU_RATE} calls/s rung divided by the calls. What this run saw:",
    )


# --------------------------------------------------------------------------------- results


def bench_setup_cps() -> Result:
    campaign = setup_campaign()
    final = _size()[1]
    return Result(
        f"call setup: max CPS, {final:g} s trunk load without RTP, {CALL_MS // 1000} s "
        f"calls, 0 failed and p99 INVITE→first 180/183/200 < {P99_LIMIT_MS:.0f} ms, SUT pinned "
        "to one core; vpbx routes trunk → number → scenario → Forward → registered line and "
        "anchors media, sippy only relays",
        campaign.vpbx.max_cps,
        "calls/s",
        f"PyPI {SIPPY} b2bua_simple relaying the same load to the same UAS",
        campaign.sippy.max_cps if campaign.sippy.steps else None,  # None: sippy did not run
        campaign.ratio,
        f"≥ {RATIO_TARGET:g}× sippy",
    )


def bench_setup_cpu() -> Result:
    campaign = setup_campaign()
    vpbx, sippy = campaign.vpbx.cpu_us_per_call, campaign.sippy.cpu_us_per_call
    failed = [
        f"{sut.name} {sut.cpu_run.failed} failed"
        for sut in (campaign.vpbx, campaign.sippy)
        if sut.cpu_run is not None and sut.cpu_run.failed
    ]
    return Result(
        f"call setup: CPU per call at {CPU_RATE} calls/s ({_size()[0]:g} s, without RTP), "
        "vpbx switch process (routing, Forward, registered line, media anchored, call record)"
        + (f" ({', '.join(failed)})" if failed else ""),
        vpbx if vpbx is not None else float("nan"),
        "µs of CPU per call",
        f"PyPI {SIPPY} b2bua_simple (relays only), same load",
        sippy,
        vpbx / sippy if vpbx is not None and sippy else None,
        None,
    )


BENCHMARKS = (bench_setup_cps, bench_setup_cpu)


if __name__ == "__main__":
    run_alone(BENCHMARKS, "call setup:", setup_method(), lambda: setup_campaign().log)
