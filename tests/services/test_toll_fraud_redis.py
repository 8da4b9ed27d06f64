"""The toll-fraud counters behave the same in process and on Redis (several switch nodes): leases,
talk charged as calls proceed, the sliding hour, which calls to cut and when; on Redis two
nodes admitting at once cannot both take the last place.

The Redis at 127.0.0.1:6379 (or VPBX_TEST_REDIS_URL) is required: the tests fail without it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from tests.distribution.conftest import REDIS_URL
from vpbx.domain.entities.toll_fraud import TollFraudPolicy
from vpbx.domain.toll_fraud import HOUR, InProcessCounters, OutgoingCounters, Rule
from vpbx.services.toll_fraud_redis import RedisCounters

T0 = 1_764_000_000.25  # a POSIX time with a fraction: times must survive the trip to Redis


async def _redis() -> RedisCounters:
    counters = RedisCounters.from_url(REDIS_URL, f"vpbx-test:{uuid.uuid4().hex}:")
    try:
        await counters.client.ping()
    except Exception as error:
        await counters.aclose()
        raise AssertionError(f"Redis at {REDIS_URL} is required: {error}") from error
    return counters


@pytest.fixture(params=["memory", "redis"])
async def counters(request: pytest.FixtureRequest) -> AsyncIterator[OutgoingCounters]:
    if request.param == "memory":
        yield InProcessCounters()
        return
    store = await _redis()
    try:
        yield store
    finally:
        await store.clear()
        await store.aclose()


async def test_simultaneous_leases_and_their_release(counters: OutgoingCounters) -> None:
    policy = TollFraudPolicy(max_simultaneous_calls=2)
    assert await counters.admit(1, "a", policy, "79161234567", T0) is None
    assert await counters.admit(1, "b", policy, "89161234567", T0) is None
    refused = await counters.admit(1, "c", policy, "79161234567", T0)
    assert refused is not None
    assert refused.rule is Rule.SIMULTANEOUS
    assert "2 из 2" in refused.text
    assert await counters.admit(2, "x", policy, "79161234567", T0) is None
    await counters.release("a", T0 + 1)
    await counters.release("a", T0 + 1)
    assert await counters.active(1) == 1
    assert await counters.admit(1, "c", policy, "79161234567", T0 + 1) is None
    destination = await counters.admit(1, "d", policy, "+442071234567", T0 + 1)
    assert destination is not None
    assert destination.rule is Rule.DESTINATION


async def test_minutes_are_charged_as_calls_talk_over_a_sliding_hour(
    counters: OutgoingCounters,
) -> None:
    policy = TollFraudPolicy(max_minutes_per_hour=10)
    assert await counters.admit(1, "a", policy, "79161234567", T0) is None
    assert await counters.next_check(T0) is None  # ringing is free
    await counters.answered("a", T0 + 10)
    assert await counters.next_check(T0 + 310) == pytest.approx(T0 + 610, abs=1e-3)
    assert await counters.admit(1, "b", policy, "79161234567", T0 + 310) is None
    await counters.answered("b", T0 + 310)
    # Two talking: 300 s used, 300 s left, reached in 150 s.
    assert await counters.next_check(T0 + 310) == pytest.approx(T0 + 460, abs=1e-3)
    assert await counters.over_limit(T0 + 459) == []
    assert await counters.over_limit(T0 + 460) == ["a", "b"]
    await counters.release("a", T0 + 460)
    await counters.release("b", T0 + 460)
    refused = await counters.admit(1, "c", policy, "79161234567", T0 + 461)
    assert refused is not None
    assert refused.rule is Rule.MINUTES
    # An hour after the first answer, the talk before it has left the window.
    assert await counters.admit(1, "c", policy, "79161234567", T0 + 10 + HOUR + 200) is None
    assert await counters.active(1) == 1


async def test_two_nodes_cannot_both_take_the_last_place() -> None:
    first, second = await _redis(), await _redis()
    second.prefix = first.prefix  # the same installation seen from two nodes
    try:
        policy = TollFraudPolicy(max_simultaneous_calls=1)
        results = await asyncio.gather(
            *(
                node.admit(1, f"lease{n}", policy, "79161234567", T0)
                for n, node in enumerate([first, second] * 10)
            )
        )
        assert sum(result is None for result in results) == 1
        assert await second.active(1) == 1
    finally:
        await first.clear()
        await first.aclose()
        await second.aclose()
