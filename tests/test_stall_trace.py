"""The stall tracer names the code that held the loop (VPBX_STALL_TRACE_MS, a diagnostic)."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from vpbx.metrics import LoopStalls
from vpbx.stall_trace import NO_PYTHON, StallTracer, stack_key


def _spin_for(seconds: float) -> int:
    """Pure Python work holding the loop (a sleep would show no Python frame)."""
    end = time.monotonic() + seconds
    turns = 0
    while time.monotonic() < end:
        turns += 1
    return turns


async def test_a_stall_is_logged_with_the_code_that_ran(caplog: pytest.LogCaptureFixture) -> None:
    stalls = LoopStalls()
    stalls.start()
    tracer = StallTracer(stalls.stalls.get_timer, 0.02)
    tracer.start()
    try:
        with caplog.at_level(logging.WARNING, logger="vpbx.stall_trace"):
            await asyncio.sleep(0.05)
            assert tracer.episodes == 0  # an idle loop is not late
            _spin_for(0.12)
            await asyncio.sleep(0.05)  # the loop caught up: the episode is told
    finally:
        tracer.stop()
        stalls.stop()
    (record,) = [r for r in caplog.records if r.getMessage() == "loop stall traced"]
    assert record.late_ms >= 60, record.late_ms  # type: ignore[attr-defined]
    assert record.samples >= 10  # type: ignore[attr-defined]
    top = record.stacks[0]  # type: ignore[attr-defined]
    assert "_spin_for" in top["frames"][0], top
    assert tracer.episodes == 1


def test_a_thread_in_no_python_frame_is_named() -> None:
    assert stack_key(None) == NO_PYTHON
