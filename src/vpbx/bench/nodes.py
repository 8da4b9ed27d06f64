"""One switch node vs two behind Kamailio (issue 17: ≥ 1.8×), call setup, in one run.

The load is the call setup benchmark's (`vpbx.bench.setup_vs_sippy`): SIPp from 127.0.0.2
calls the number (trunk → number → scenario → Forward to a group of 10 → the registered line;
SDP offered, no RTP, 1 s calls), the same SIPp UAS answers. Two systems under test, each a
`vpbx run` on a fresh SQLite file:

* one node: `vpbx run` as `make run` starts it, its switch pinned to core 0 and the load
  generators (the trunk's and employees' SIPp, vpbx's supervisor and API) to core 1;
* two nodes: `vpbx run --nodes 2` (Redis shared), Kamailio on the SIP port, node 1 pinned to
  core 0 and node 2 to core 1 by the supervisor; on a two-core box Kamailio and the load
  generators then run on the nodes' cores, which the one-node run does not have to share.

For each: a ladder of RATES, STEP_SECONDS each, up to the first rate that fails a call or
reaches p99 INVITE→first 180/183/200 ≥ 100 ms; then the best rate for FINAL_SECONDS on the same
process, and if it does not hold, halfway down to the next rung held, that rung, and so on
(`final_rates`, FINAL_TRIES at most): the ladder's 50 calls/s steps alone made the ratio a
matter of which side of a step each system's knee fell. CPU per call: every
switch node's CPU over the ladder rung at CPU_RATE, divided by its calls.

`python -m vpbx.bench.nodes` runs this benchmark alone and merges its rows into
docs/benchmarks.{json,md}; `make bench` runs it with the others.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from vpbx.bench.calls import (
    LoadRun,
    Rig,
    _cps_ok,
    _cpu_seconds,
    _pbx_errors,
    _tree,
    pbx_rig,
)
from vpbx.bench.core import CampaignLog, Result, sizes, work_folder
from vpbx.bench.merge import run_alone
from vpbx.bench.pinned import GENERATOR_CORE, SUT_CORE, pin
from vpbx.bench.setup_vs_sippy import CALL_MS, WARM_CALLS, signalling_load

__all__ = ["BENCHMARKS", "NodesCampaign", "nodes_campaign", "nodes_method"]

RATES = (50, 100, 150, 200, 250, 300, 350, 400, 500, 600)
STEP_SECONDS = 6.0
FINAL_SECONDS = 30.0
FINAL_TRIES = 5
CPU_RATE = 100
RATIO_TARGET = 1.8


def _size() -> tuple[float, ...]:
    """STEP_SECONDS and FINAL_SECONDS, or "step,final" from VPBX_BENCH_NODES."""
    return sizes("VPBX_BENCH_NODES", (STEP_SECONDS, FINAL_SECONDS))


@dataclass
class Cluster:
    nodes: int
    steps: list[LoadRun] = field(default_factory=list)
    final: LoadRun | None = None
    cpu_run: LoadRun | None = None
    cpu_seconds: float = 0.0

    @property
    def name(self) -> str:
        return "1 node" if self.nodes == 1 else f"{self.nodes} nodes behind Kamailio"

    @property
    def max_cps(self) -> float:
        return self.final.rate if self.final is not None else 0.0

    @property
    def cpu_ms_per_call(self) -> float | None:
        run = self.cpu_run
        return 1000 * self.cpu_seconds / run.calls if run is not None and run.calls else None


@dataclass
class NodesCampaign(CampaignLog):
    TAG = "nodes"
    one: Cluster = field(default_factory=lambda: Cluster(1))
    two: Cluster = field(default_factory=lambda: Cluster(2))

    @property
    def ratio(self) -> float | None:
        return self.two.max_cps / self.one.max_cps if self.one.max_cps else None


def _switches(rig: Rig) -> list[int]:
    """Every switch node of the rig's `vpbx run`."""
    assert rig.pbx is not None
    found = []
    for pid in _tree(rig.pbx.pid):
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/cmdline").read_bytes().endswith(b"--only\0switch\0"):
                found.append(pid)
    return found


@contextlib.contextmanager
def _rig(workdir: Path, nodes: int) -> Iterator[tuple[Rig, list[int]]]:
    with pbx_rig(workdir, nodes=nodes) as rig:
        switches = _switches(rig)
        assert rig.pbx is not None
        if nodes == 1:
            for pid in [*_tree(rig.pbx.pid), *rig.pids().values()]:
                pin(pid, SUT_CORE if pid in switches else GENERATOR_CORE)
        signalling_load(rig, 10, WARM_CALLS)
        yield rig, switches


def _measured(rig: Rig, pids: list[int], rate: float, seconds: float) -> tuple[LoadRun, float]:
    before = sum(_cpu_seconds(pid) for pid in pids)
    run = signalling_load(rig, rate, int(rate * seconds))
    return run, sum(_cpu_seconds(pid) for pid in pids) - before


def _search(campaign: NodesCampaign, cluster: Cluster, root: Path) -> None:
    step, final = _size()
    with _rig(root / f"nodes-{cluster.nodes}", cluster.nodes) as (rig, pids):
        campaign.say(f"{cluster.name}: switch pids {pids}")
        for rate in RATES:
            run, cpu = _measured(rig, pids, rate, step)
            cluster.steps.append(run)
            campaign.say(
                f"{cluster.name} {step:g} s: {run.describe()}; switches' CPU "
                f"{1000 * cpu / max(run.calls, 1):.2f} ms/call"
            )
            if rate == CPU_RATE:
                cluster.cpu_run, cluster.cpu_seconds = run, cpu
            if not _cps_ok(run):
                break
        if cluster.cpu_run is None:  # the ladder stopped below CPU_RATE: measured anyway
            cluster.cpu_run, cluster.cpu_seconds = _measured(rig, pids, CPU_RATE, step)
            campaign.say(f"{cluster.name} CPU run: {cluster.cpu_run.describe()}")
        held = sorted({r.rate for r in cluster.steps if _cps_ok(r)}, reverse=True)
        for best in final_rates(held):  # down every rung held: one overrun leaves a backlog
            run, _cpu = _measured(rig, pids, best, final)
            campaign.say(f"{cluster.name} {final:g} s: {run.describe()}")
            if _cps_ok(run):
                cluster.final = run
                break
        errors = _pbx_errors(rig)
        if errors:
            campaign.say(f"{cluster.name}: vpbx logged errors: {errors}")
    if cluster.final is None:
        campaign.say(f"{cluster.name}: no rate held {final:g} s")


def final_rates(held: list[float]) -> list[float]:
    """The rates tried for FINAL_SECONDS, from the rungs `held` (highest first): each rung,
    then halfway to the next one down, FINAL_TRIES at most."""
    rates: list[float] = []
    for i, upper in enumerate(held):
        rates.append(upper)
        if i + 1 < len(held):
            rates.append((upper + held[i + 1]) / 2)
    return rates[:FINAL_TRIES]


@functools.cache
def nodes_campaign() -> NodesCampaign:
    campaign = NodesCampaign()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    campaign.say(f"load average before: {load}; {os.cpu_count()} cores")
    with work_folder("nodes") as root:
        for cluster in (campaign.one, campaign.two):
            try:
                _search(campaign, cluster, root)
            except RuntimeError as error:
                campaign.say(f"{cluster.name} not measured: {error}")
        campaign.say(
            f"max CPS: {campaign.one.max_cps:g} (1 node), {campaign.two.max_cps:g} (2 nodes)"
        )
    return campaign


def nodes_method() -> tuple[str, ...]:
    rates = ", ".join(f"{r:g}" for r in RATES)
    step, final = _size()
    return (
        "One node vs two (`vpbx.bench.nodes`, the `scale-out:` rows): the call setup load of "
        f"`call setup:` (SIPp trunk from 127.0.0.2, SDP but no RTP, {CALL_MS / 1000:g} s calls, "
        "trunk → number → scenario → Forward to 10 → registered line, SQLite) against `vpbx run` "
        "(one switch, pinned to core 0, the load generators on core 1) and `vpbx run --nodes 2` "
        "(Kamailio on the SIP port, node 1 on core 0 and node 2 on core 1, Redis shared; Kamailio "
        "and the load generators share the two cores with the nodes: on this 2-core box the "
        f"two-node run has no core of its own for them). Ladder {rates} calls/s, {step:g} s "
        "each, up to the first rate with a failed call or p99 INVITE→first answer ≥ 100 ms; the "
        f"best rate then held {final:g} s (if not, halfway down to the next rung held, that "
        f"rung, and so on: {FINAL_TRIES} tries at most). What this run saw:",
    )


def bench_nodes_cps() -> Result:
    campaign = nodes_campaign()
    final = _size()[1]
    return Result(
        f"scale-out: max CPS of 2 switch nodes behind Kamailio (each pinned to its own core), "
        f"call setup without RTP, {final:g} s, 0 failed, p99 < 100 ms",
        campaign.two.max_cps,
        "calls/s",
        "1 node (vpbx run, pinned to one core), same load, same run",
        campaign.one.max_cps,
        campaign.ratio,
        f"≥ {RATIO_TARGET:g}×",
    )


def bench_nodes_cpu() -> Result:
    campaign = nodes_campaign()
    two, one = campaign.two.cpu_ms_per_call, campaign.one.cpu_ms_per_call
    return Result(
        f"scale-out: switch CPU per call at {CPU_RATE} calls/s, 2 nodes (summed) vs 1 node",
        two if two is not None else float("nan"),
        "ms of CPU per call",
        "1 node, same load",
        one,
        two / one if two is not None and one else None,
        None,
    )


BENCHMARKS = (bench_nodes_cps, bench_nodes_cpu)


if __name__ == "__main__":
    run_alone(BENCHMARKS, "scale-out:", nodes_method(), lambda: nodes_campaign().log)
