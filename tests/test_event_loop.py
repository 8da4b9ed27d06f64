"""The suite's event loop is the one production runs."""

from __future__ import annotations

import asyncio

import uvloop


def test_the_suite_runs_on_uvloop() -> None:
    """If the policy of tests/conftest.py is lost, this fails instead of the suite silently
    going back to the default loop."""
    loop = asyncio.new_event_loop()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()


async def test_async_tests_run_on_uvloop() -> None:
    assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
