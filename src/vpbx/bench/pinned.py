"""Cores for the call setup benchmarks: the system under test alone on one core, every load
generator on the other, as the issue's measurements were taken (`taskset -c 0` for the SUT).

The rigs start on every core (a switch starting on a busy core took more than the rig's 30 s);
then `pin(pid, core)` moves a process that is already running (every thread it has; the threads
it starts later inherit it): the system under test to SUT_CORE, the generators the rig started
(the employees' SIPp, vpbx's supervisor and API) to GENERATOR_CORE. `generators_core()` moves
this process to GENERATOR_CORE while the loads run, so each trunk SIPp it starts inherits that
core. On a machine with fewer than two cores nothing moves and `pinning()` says so.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["GENERATOR_CORE", "SUT_CORE", "generators_core", "pin", "pinning"]

SUT_CORE = 0
GENERATOR_CORE = 1


def _can_pin() -> bool:
    return (os.cpu_count() or 1) > max(SUT_CORE, GENERATOR_CORE)


def pinning() -> str:
    """How the cores are shared, for the method text."""
    if not _can_pin():
        return "one core only: nothing pinned"
    return (
        f"the system under test pinned to core {SUT_CORE} (all its threads); the SIPp trunk and "
        f"employees, vpbx's supervisor and API processes (idle here) and this benchmark's "
        f"process while a load runs on core {GENERATOR_CORE}"
    )


@contextlib.contextmanager
def generators_core() -> Iterator[None]:
    """This process on GENERATOR_CORE meanwhile (what it starts inherits it); restored after."""
    if not _can_pin():
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {GENERATOR_CORE})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def pin(pid: int, core: int = SUT_CORE) -> None:
    """Every thread of `pid` on `core` (the affinity is per thread on Linux)."""
    if not _can_pin():
        return
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):  # a thread that just ended
            os.sched_setaffinity(int(task.name), {core})
