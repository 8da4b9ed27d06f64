"""Distribution decisions per second with 1,000 employees in a group (issue 6).

A decision = one call reaching a Forward operation: the strategy orders the group, skips the
employees who cannot take it (with their reasons in the details) and picks the phones to ring;
the caller then hangs up, which frees the line (included in the time). 30 % of the employees are
on a call and 5 % have their calls off, spread over the group.
"""

from __future__ import annotations

import asyncio
import itertools
import os

from vpbx.bench.core import Result, rate
from vpbx.scenario.distribution import (
    Answered,
    CallerHungUp,
    Distributor,
    EmployeeTarget,
    ForwardRequest,
    InProcessState,
    PhoneTarget,
    Settings,
    SharedState,
    Strategy,
    run_sync,
)

EMPLOYEES = 1000
TARGET = "≥ 10,000 decisions/s in-process"


def _group() -> tuple[EmployeeTarget, ...]:
    return tuple(
        EmployeeTarget(
            i,
            (PhoneTarget("sip", lines=1, ring_timeout=20), PhoneTarget("mob", ring_timeout=30)),
            calls_enabled=i % 20 != 7,
        )
        for i in range(1, EMPLOYEES + 1)
    )


async def _prepare(
    state: SharedState, strategy: Strategy
) -> tuple[Distributor, tuple[EmployeeTarget, ...], Settings]:
    distributor = Distributor(state)
    group = _group()
    settings = Settings(strategy=strategy, simultaneous_lines=1)
    # 30 % of the employees talk: answer a call on each of them
    for n, employee in enumerate(group):
        if n % 10 in (1, 4, 8):
            solo = ForwardRequest(f"busy{n}", 1, 1, "fwd", "+7000", (employee,), settings)
            await distributor.start(solo, 0.0)
            await distributor.handle(Answered(f"busy{n}", employee.employee_id, "sip"), 0.0)
    return distributor, group, settings


def _one_in_process(strategy: Strategy) -> float:
    distributor, group, settings = run_sync(_prepare(InProcessState(), strategy))
    counter = itertools.count()

    def work() -> None:
        for _ in range(100):
            call = f"c{next(counter)}"
            request = ForwardRequest(call, 1, 1, "fwd", "+7999", group, settings)
            run_sync(distributor.start(request, 10.0))
            run_sync(distributor.handle(CallerHungUp(call), 10.0))

    return rate(work, 100)


def bench_distribution_in_process() -> Result:
    """Priority strategy (the default), in-process store."""
    return Result(
        "distribution decision, 1,000 employees, priority, in-process",
        _one_in_process(Strategy.PRIORITY),
        "decisions/s",
        None,
        None,
        None,
        TARGET,
    )


def bench_distribution_support_in_process() -> Result:
    """Support strategy: every decision orders the 1,000 employees by 12 h talk time."""
    return Result(
        "distribution decision, 1,000 employees, support (12 h talk order), in-process",
        _one_in_process(Strategy.SUPPORT),
        "decisions/s",
        None,
        None,
        None,
        None,
    )


def bench_distribution_redis() -> Result:
    """Priority strategy on Redis (`VPBX_REDIS_URL`, default the local one): round trips."""
    from vpbx.services.shared_state_redis import RedisState

    url = os.environ.get("VPBX_REDIS_URL") or "redis://127.0.0.1:6379/0"

    async def measure() -> float:
        state = RedisState.from_url(url, prefix=f"vpbx-bench:{os.getpid()}:")
        try:
            await state.clear()
            distributor, group, settings = await _prepare(state, Strategy.PRIORITY)
            loop = asyncio.get_running_loop()
            calls = 200
            best = 0.0
            for round_ in range(3):
                start = loop.time()
                for n in range(calls):
                    call = f"r{round_}-{n}"
                    request = ForwardRequest(call, 1, 1, "fwd", "+7999", group, settings)
                    await distributor.start(request, 10.0)
                    await distributor.handle(CallerHungUp(call), 10.0)
                best = max(best, calls / (loop.time() - start))
            return best
        finally:
            await state.clear()
            await state.aclose()

    return Result(
        "distribution decision, 1,000 employees, priority, Redis",
        asyncio.run(measure()),
        "decisions/s",
        None,
        None,
        None,
        None,
    )


BENCHMARKS = (
    bench_distribution_in_process,
    bench_distribution_support_in_process,
    bench_distribution_redis,
)
