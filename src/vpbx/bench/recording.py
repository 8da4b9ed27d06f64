"""The recording benchmark: what recording a conversation costs the switch (REC-1).

The rig of `vpbx.bench.calls` (`vpbx run`, SIPp as the trunk and as the employees with RTP
echoed, every call through the scenario engine) carries `CALLS` calls; once they all talk, the
CPU of the switch process is measured for `WINDOW_SECONDS`. Runs on a fresh vpbx each, same
load: without recording (the reference), and with the account's `record_calls` on, so every
talk is recorded in stereo (caller left, employee right) to a WAV written every second and
filed in the file base when the call ends. The two kinds alternate for `ROUNDS` rounds (two
fresh processes under the same load differ by a tenth or so; one pair would mostly measure
that); the figure is the ratio of their mean CPU. Every recorded run must end with one stereo
recording per call in the file base.

`python -m vpbx.bench.recording` runs this benchmark alone and puts its row into
docs/benchmarks.{json,md} (the other rows are kept); `make bench` runs it with the others.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import soundfile
import sqlalchemy as sa

from vpbx.bench.calls import (
    _child_running,
    _counter,
    _cpu_seconds,
    _pbx_errors,
    _start_trunk,
    _stats,
    _stop,
    pbx_rig,
    run_load,
)
from vpbx.bench.core import Result
from vpbx.bench.merge import merge_rows
from vpbx.storage.db import make_sync_engine
from vpbx.switch.snapshots import SNAPSHOT_TTL

__all__ = ["BENCHMARKS", "RecordingCampaign", "recording_campaign", "recording_method"]

CALLS = 100
RAMP_CPS = 20
WINDOW_SECONDS = 15.0
RATIO_TARGET = 1.2
ROUNDS = 2
WARM_CALLS = 10


@dataclass
class RecordingRun:
    recorded: bool
    calls: int
    window: float
    cpu: float = float("nan")  # the switch's % of a core in the window
    successful: int = 0
    failed: int = 0
    recordings: int = 0  # stereo recordings in the file base after the run
    errors: str = ""

    def describe(self) -> str:
        what = "every call recorded" if self.recorded else "no recording"
        files = f"; {self.recordings} stereo recordings filed" if self.recorded else ""
        errors = f"; vpbx logged errors: {self.errors}" if self.errors else ""
        return (
            f"{what}, {self.calls} calls talking, {self.window:.0f} s window: vpbx switch CPU "
            f"{self.cpu:.1f} %; calls {self.successful} ok, {self.failed} failed{files}{errors}"
        )


def _record_everything(database_url: str) -> None:
    """The account records every conversation."""
    engine = make_sync_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE accounts SET record_calls = :on"), {"on": True})
    finally:
        engine.dispose()


def _stereo_recordings(database_url: str) -> int:
    engine = make_sync_engine(database_url)
    try:
        with engine.connect() as conn:
            paths = conn.execute(
                sa.text("SELECT converted_path FROM files WHERE kind = 'recording'")
            ).scalars()
            return sum(
                1
                for path in paths
                if path and Path(path).is_file() and soundfile.info(path).channels == 2
            )
    finally:
        engine.dispose()


def run_recording(
    workdir: Path, *, recorded: bool, calls: int = CALLS, window: float = WINDOW_SECONDS
) -> RecordingRun:
    """`calls` calls talking for `window` seconds on a fresh vpbx, recorded or not."""
    result = RecordingRun(recorded, calls, window)
    with pbx_rig(workdir) as rig:
        if recorded:
            _record_everything(rig.database_url)
            # Written behind the running switch's back: its configuration snapshot, loaded at
            # start (the live feed reads the roster), is refreshed once older than its TTL. The
            # warm-up calls after that carry the refresh; the measured calls are all recorded.
            time.sleep(SNAPSHOT_TTL + 1)
        run_load(rig, rate=10, calls=WARM_CALLS, call_ms=500)  # the first calls load everything
        ramp = calls / RAMP_CPS
        hold_ms = int((ramp + window + 2) * 1000)
        trunk, trunk_dir, _ = _start_trunk(rig, RAMP_CPS, calls, hold_ms)
        try:
            time.sleep(ramp + 1)  # every call up and talking
            assert rig.pbx is not None
            switch = _child_running(rig.pbx.pid, "switch") or rig.pbx.pid
            cpu0, t0 = _cpu_seconds(switch), time.monotonic()
            time.sleep(window)
            result.cpu = 100 * (_cpu_seconds(switch) - cpu0) / (time.monotonic() - t0)
        finally:
            deadline = time.monotonic() + hold_ms / 1000 + 60
            while trunk.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            _stop(trunk)
        stats = _stats(trunk_dir)
        result.successful = _counter(stats, "SuccessfulCall(C)")
        result.failed = _counter(stats, "FailedCall(C)")
        result.failed += max(0, calls - result.successful - result.failed)
        if recorded:
            expected = calls + WARM_CALLS
            deadline = time.monotonic() + 20  # the calls' rows and files are written behind
            while time.monotonic() < deadline:
                result.recordings = _stereo_recordings(rig.database_url)
                if result.recordings >= expected:
                    break
                time.sleep(0.5)
        result.errors = _pbx_errors(rig)
    return result


@dataclass
class RecordingCampaign:
    references: list[RecordingRun] = field(default_factory=list)
    recorded: list[RecordingRun] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    def say(self, text: str) -> None:
        self.log.append(text)
        print(f"[recording] {text}", flush=True)

    @staticmethod
    def _mean(runs: list[RecordingRun]) -> float | None:
        return sum(run.cpu for run in runs) / len(runs) if runs else None

    @property
    def reference_cpu(self) -> float | None:
        return self._mean(self.references)

    @property
    def recorded_cpu(self) -> float | None:
        return self._mean(self.recorded)

    @property
    def ratio(self) -> float | None:
        recorded, reference = self.recorded_cpu, self.reference_cpu
        return recorded / reference if recorded is not None and reference else None

    @property
    def complete(self) -> bool:
        """Every call of every run succeeded, and every recorded call was filed in stereo."""
        runs = [*self.references, *self.recorded]
        return (
            bool(self.references and self.recorded)
            and all(run.failed == 0 for run in runs)
            and all(run.recordings >= run.calls for run in self.recorded)
        )


def _size() -> tuple[int, float, int]:
    """CALLS, WINDOW_SECONDS and ROUNDS, or others from VPBX_BENCH_RECORDING
    ("calls,seconds,rounds", e.g. "20,5,1" for a quick check of the benchmark itself)."""
    custom = os.environ.get("VPBX_BENCH_RECORDING", "")
    if not custom:
        return CALLS, WINDOW_SECONDS, ROUNDS
    calls, seconds, rounds = custom.split(",")
    return int(calls), float(seconds), int(rounds)


@functools.cache
def recording_campaign() -> RecordingCampaign:
    campaign = RecordingCampaign()
    calls, window, rounds = _size()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    campaign.say(f"load average before: {load}")
    root = Path(tempfile.mkdtemp(prefix="vpbx-bench-recording-"))
    try:
        for n in range(rounds):
            for recorded in (False, True):
                run = run_recording(
                    root / f"{'recorded' if recorded else 'reference'}-{n + 1}",
                    recorded=recorded,
                    calls=calls,
                    window=window,
                )
                campaign.say(f"round {n + 1}: {run.describe()}")
                (campaign.recorded if recorded else campaign.references).append(run)
        ratio = campaign.ratio
        campaign.say(
            f"mean vpbx switch CPU: {campaign.reference_cpu or 0:.1f} % without recording, "
            f"{campaign.recorded_cpu or 0:.1f} % with; ratio "
            + (f"{ratio:.2f}" if ratio is not None else "—")
        )
    finally:
        if os.environ.get("VPBX_BENCH_KEEP"):
            print(f"[recording] kept {root}", flush=True)
        else:
            shutil.rmtree(root, ignore_errors=True)
    return campaign


def recording_method() -> tuple[str, ...]:
    calls, window, rounds = _size()
    return (
        f"Recording (`vpbx.bench.recording`, the `recording:` row): the rig of the calls rows "
        f"carries {calls} calls (ramp at {RAMP_CPS} calls/s) that talk; once all are up, the "
        f"switch process's CPU is read over {window:.0f} s. Each run on a fresh vpbx, "
        f"{rounds} round(s) of two: without recording (the reference), then with the "
        "account's `record_calls` on (every talk recorded in stereo, 8 kHz s16, written every "
        "second, filed when the call ends); the figures are the means. Each recorded run must "
        "end with one stereo recording per call in the file base. What this run saw:",
    )


def bench_recording_cpu() -> Result:
    campaign = recording_campaign()
    calls, window, _ = _size()
    recorded = campaign.recorded_cpu
    return Result(
        f"recording: vpbx switch CPU with every talk recorded in stereo, {calls} calls talking "
        f"(RTP both ways through vpbx), {window:.0f} s"
        + ("" if campaign.complete else " (INCOMPLETE: see the log)"),
        recorded if recorded is not None else float("nan"),
        "% of a core",
        "the same calls without recording",
        campaign.reference_cpu,
        campaign.ratio,
        f"ratio ≤ {RATIO_TARGET:g}",
    )


BENCHMARKS = (bench_recording_cpu,)


if __name__ == "__main__":
    found = bench_recording_cpu()
    merge_rows([found], "recording:", recording_method(), recording_campaign().log)
    print(found)
