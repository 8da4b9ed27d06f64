"""Fixtures: a Redis-backed store under a unique key prefix, cleaned up after the test.

The Redis at 127.0.0.1:6379 (or VPBX_TEST_REDIS_URL) is required: when it is unreachable the
tests fail, they are never skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest

from vpbx.services.shared_state_redis import RedisState

REDIS_URL = os.environ.get("VPBX_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def unique_prefix() -> str:
    return f"vpbx-test:{uuid.uuid4().hex}:"


async def open_redis_state(prefix: str | None = None) -> RedisState:
    state = RedisState.from_url(REDIS_URL, prefix or unique_prefix())
    try:
        await state.client.ping()
    except Exception as error:
        await state.aclose()
        raise AssertionError(
            f"Redis at {REDIS_URL} is required for these tests: {error}"
        ) from error
    return state


@pytest.fixture
async def redis_state() -> AsyncIterator[RedisState]:
    state = await open_redis_state()
    try:
        yield state
    finally:
        await state.clear()
        await state.aclose()
