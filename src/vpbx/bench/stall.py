"""The longest event-loop stall of the switch under call setup load (issue 17: < 20 ms during
60 s at 100 calls/s), read from the switch's own watch (`vpbx.metrics.LoopStalls`, served at
its status endpoint's /loop).

The rig is the call setup one (`vpbx.bench.setup_vs_sippy.vpbx_setup_rig`: `vpbx run`, the
account of `vpbx.bench.calls`, the SIPp trunk without RTP, every employee's line registered,
the switch pinned to one core and the load generators to the other). The switch ticks every
5 ms (`STALL_TICK`) and keeps, for each second, how late its loop ran the tick; the benchmark
times its windows on the same monotonic clock and takes the worst second within each:

* the reference: the same switch idle for IDLE_SECONDS just before the load (lines registered,
  no calls): what the watch reads on this box with nothing to do (its timer's rounding, the
  kernel's scheduling, the other processes of the machine);
* the figure: RATE calls/s for LOAD_SECONDS (1 s calls).

The collector's work in the window (collections by generation, the longest, the objects
freed) comes from the same report; the log says whether a collection caused the worst stall.

`python -m vpbx.bench.stall` runs this benchmark alone and merges its rows into
docs/benchmarks.{json,md}; `make bench` runs it with the others.
"""

from __future__ import annotations

import functools
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from vpbx.bench.calls import LoadRun, Rig
from vpbx.bench.core import CampaignLog, Result, sizes, work_folder
from vpbx.bench.merge import run_alone
from vpbx.bench.pinned import pinning
from vpbx.bench.setup_vs_sippy import CALL_MS, WARM_CALLS, signalling_load, vpbx_setup_rig
from vpbx.metrics import STALL_TICK

__all__ = ["BENCHMARKS", "StallCampaign", "Window", "stall_campaign", "stall_method", "window"]

RATE = 100
LOAD_SECONDS = 60.0
IDLE_SECONDS = 10.0
TARGET_MS = 20.0
#: the collections listed one by one in the log
LONG_PAUSE_MS = 5.0


@dataclass
class Window:
    """What the switch's watch saw between `start` and `end` (its monotonic clock)."""

    start: float
    end: float
    stall_ms: float = math.nan  # the worst lateness of its tick in the window
    stall_at: int = 0  # the second it was seen in
    collections: list[int] = field(default_factory=lambda: [0, 0, 0])
    gc_max_ms: float = 0.0  # the longest collection that ended in the window (≥ 1 ms kept)
    gc_max: list[Any] = field(default_factory=list)  # [at, generation, ms, collected]
    cause: str = ""
    pauses: list[list[Any]] = field(default_factory=list)  # every collection in the window
    late_seconds: list[tuple[int, float]] = field(default_factory=list)  # (second, worst ms)

    def describe(self) -> str:
        counts = "/".join(str(n) for n in self.collections)
        gc = (
            f"longest collection gen {self.gc_max[1]} {self.gc_max[2]:.1f} ms "
            f"({self.gc_max[3]:,} objects freed)"
            if self.gc_max
            else "no collection of 1 ms or more"
        )
        return (
            f"worst stall {self.stall_ms:.1f} ms ({self.cause}); collections by generation "
            f"{counts}, {gc}"
        )


def _report(rig: Rig) -> dict[str, Any]:
    url = f"http://127.0.0.1:{rig.status_port}/loop"
    body: dict[str, Any] = httpx.get(url, timeout=10).json()
    return body


def window(before: dict[str, Any], after: dict[str, Any], start: float, end: float) -> Window:
    """The worst second of `after`'s report within [start, end] and the collections between the
    two reports; the cause: a collection that ended within a second of that stall and took at
    least half of it, else none."""
    found = Window(start, end)
    seconds = [(s, ms) for s, ms in after["seconds"] if math.floor(start) <= s <= end]
    if seconds:
        found.stall_at, found.stall_ms = max(seconds, key=lambda pair: pair[1])
    found.late_seconds = [(int(s), float(ms)) for s, ms in seconds if ms >= TARGET_MS]
    gc_before, gc_after = before["gc"], after["gc"]
    found.collections = [
        n - m for n, m in zip(gc_after["collections"], gc_before["collections"], strict=True)
    ]
    pauses = [p for p in gc_after["pauses"] if start <= p[0] <= end]
    found.pauses = pauses
    if pauses:
        found.gc_max = max(pauses, key=lambda p: p[2])
        found.gc_max_ms = found.gc_max[2]
    near = [
        p
        for p in pauses
        if found.stall_at - 1 <= p[0] < found.stall_at + 2 and p[2] >= found.stall_ms / 2
    ]
    if near:
        worst = max(near, key=lambda p: p[2])
        found.cause = f"a generation-{worst[1]} collection of {worst[2]:.1f} ms then"
    else:
        found.cause = "no collection of half of it then: a long callback or the process waiting"
    return found


@dataclass
class StallCampaign(CampaignLog):
    TAG = "stall"
    idle: Window | None = None
    load: Window | None = None
    run: LoadRun | None = None


def _size() -> tuple[float, ...]:
    """LOAD_SECONDS and IDLE_SECONDS, or others from VPBX_BENCH_STALL ("load,idle", e.g. "5,2"
    for a quick check of the benchmark itself)."""
    return sizes("VPBX_BENCH_STALL", (LOAD_SECONDS, IDLE_SECONDS))


def _measure(rig: Rig, campaign: StallCampaign, load: float, idle: float) -> None:
    first = _report(rig)
    start = time.monotonic()
    time.sleep(idle)
    end = time.monotonic()
    second = _report(rig)
    campaign.idle = window(first, second, start, end)
    campaign.say(f"idle {idle:g} s: {campaign.idle.describe()}")
    start = time.monotonic()
    campaign.run = signalling_load(rig, RATE, int(RATE * load))
    end = time.monotonic()
    campaign.load = window(second, _report(rig), start, end)
    campaign.say(f"{RATE} calls/s for {load:g} s: {campaign.run.describe()}")
    campaign.say(f"under load: {campaign.load.describe()}")
    late = campaign.load.late_seconds
    campaign.say(
        f"seconds of the load with a stall of {TARGET_MS:g} ms or more: "
        + (
            "; ".join(f"+{second - math.floor(start)} s {ms:.1f} ms" for second, ms in late)
            if late
            else "none"
        )
    )
    long = [p for p in campaign.load.pauses if p[2] >= LONG_PAUSE_MS]
    campaign.say(
        f"collections of {LONG_PAUSE_MS:g} ms or more under load: "
        + (
            "; ".join(f"at +{p[0] - start:.1f} s gen {p[1]} {p[2]:.1f} ms" for p in long)
            if long
            else "none"
        )
    )


@functools.cache
def stall_campaign() -> StallCampaign:
    campaign = StallCampaign()
    load, idle = _size()
    average = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    campaign.say(f"load average before: {average}; {pinning()}")
    with work_folder("stall") as root, vpbx_setup_rig(root / "vpbx", campaign.say) as (rig, _):
        _measure(rig, campaign, load, idle)
    return campaign


def stall_method() -> tuple[str, ...]:
    load, idle = _size()
    tick = STALL_TICK * 1000
    return (
        "Loop stall (`vpbx.bench.stall`, the `loop stall:` rows): the switch watches its own "
        f"event loop (a callback due every {tick:g} ms; how late it runs, the worst of each "
        "second, served with the garbage collector's collections and pauses at its status "
        f"endpoint's /loop; a stall of S ms shows as a tick late by S − {tick:g} to S ms). The "
        f"rig is the call setup one ({pinning()}; trunk calls without RTP, {CALL_MS / 1000:g} "
        "s, through number → scenario → Forward → a registered line, "
        f"{WARM_CALLS} warm-up calls). The reference is "
        f"the same switch idle for {idle:g} s just before the load (lines registered, no "
        "calls): what the watch reads on this box with nothing to do. The figure: the worst "
        f"second of {RATE} calls/s for {load:g} s. What this run saw:",
    )


def _load_name(campaign: StallCampaign) -> str:
    load, _ = _size()
    run = campaign.run
    failed = f", {run.failed} of {run.calls} calls failed" if run is not None and run.failed else ""
    return f"{RATE} calls/s for {load:g} s (trunk without RTP → Forward → registered line){failed}"


def bench_stall() -> Result:
    campaign = stall_campaign()
    load, idle = campaign.load, campaign.idle
    value = load.stall_ms if load is not None else math.nan
    reference = idle.stall_ms if idle is not None else None
    return Result(
        f"loop stall: longest vpbx switch event-loop stall, {_load_name(campaign)}",
        value,
        "ms",
        f"the same switch idle, {_size()[1]:g} s just before",
        reference,
        value / reference if reference else None,
        f"< {TARGET_MS:g} ms",
    )


def bench_stall_gc() -> Result:
    campaign = stall_campaign()
    load = campaign.load
    counts = "/".join(str(n) for n in load.collections) if load is not None else "—"
    return Result(
        f"loop stall: longest garbage collection in the switch, same {_load_name(campaign)}; "
        f"collections by generation {counts}",
        load.gc_max_ms if load is not None else math.nan,
        "ms",
        None,
        None,
        None,
        None,
    )


BENCHMARKS = (bench_stall, bench_stall_gc)


if __name__ == "__main__":
    run_alone(BENCHMARKS, "loop stall:", stall_method(), lambda: stall_campaign().log)
