"""The same flows on both stores: the in-process one and Redis (127.0.0.1:6379)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.distribution.conftest import REDIS_URL, open_redis_state
from tests.distribution.helpers import employee, of_type, phone, request, rings, staff
from vpbx.scenario.distribution import (
    Answered,
    CallEnded,
    CallerHungUp,
    ClaimMode,
    ClaimStatus,
    DetailKind,
    Distributor,
    GiveUp,
    InProcessState,
    Queued,
    RingEnded,
    SharedState,
    SkipReason,
    Strategy,
)
from vpbx.services.shared_state_redis import RedisState

H12 = 12 * 3600.0
T0 = 1_750_000_000.0  # POSIX seconds, as nodes share them


@pytest.fixture(params=["memory", "redis"])
async def state(request: pytest.FixtureRequest) -> AsyncIterator[SharedState]:
    if request.param == "memory":
        yield InProcessState()
        return
    redis = await open_redis_state()
    try:
        yield redis
    finally:
        await redis.clear()
        await redis.aclose()


async def test_claim_respects_lines_and_release_is_idempotent(state: SharedState) -> None:
    assert await state.claim("a", "1:1:p", 2, ClaimMode.FRESH, T0) is ClaimStatus.OK
    assert await state.claim("b", "1:1:p", 2, ClaimMode.FRESH, T0) is ClaimStatus.OK
    assert await state.claim("c", "1:1:p", 2, ClaimMode.FRESH, T0) is ClaimStatus.LINE_LIMIT
    await state.release("a", "1:1:p")
    await state.release("a", "1:1:p")
    assert await state.claim("c", "1:1:p", 2, ClaimMode.FRESH, T0) is ClaimStatus.OK
    assert await state.claim("d", "1:1:p", 2, ClaimMode.DIALER, T0) is ClaimStatus.LINE_LIMIT


async def test_strict_fifo_with_ahead_and_wait(state: SharedState) -> None:
    d = Distributor(state)
    team = staff(1)
    await d.start(request("old", team), T0)
    await d.handle(Answered("old", 1, "p1"), T0)
    await d.handle(CallEnded("old"), T0 + 90)
    await d.start(request("talk", team), T0 + 100)
    await d.handle(Answered("talk", 1, "p1"), T0 + 100)
    (qb,) = of_type(await d.start(request("b", team, caller="B", queue=True), T0 + 110), Queued)
    (qc,) = of_type(await d.start(request("c", team, caller="C", queue=True), T0 + 111), Queued)
    assert isinstance(qb, Queued)
    assert isinstance(qc, Queued)
    assert (qb.position, qb.ahead, qb.estimated_wait) == (1, (), 90.0)
    assert (qc.position, qc.ahead, qc.estimated_wait) == (2, ("B",), 180.0)
    held = await d.start(request("n", team), T0 + 112)
    assert [s.reason for g in of_type(held, GiveUp) for s in g.skipped] == [SkipReason.QUEUE_HELD]
    assert rings(await d.handle(CallEnded("talk"), T0 + 200)) == [(1, "p1")]
    assert d.ringing("b") == ((1, "p1"),)
    assert d.ringing("c") == ()
    await d.handle(CallerHungUp("b"), T0 + 201)
    assert d.ringing("c") == ((1, "p1"),)
    assert (await d.queue_status("c", T0 + 201)).position == 1  # type: ignore[union-attr]


async def test_support_window_forgets_at_12h_plus_1s(state: SharedState) -> None:
    d = Distributor(state)
    team = staff(2)
    await d.start(request("a", team, Strategy.SUPPORT), T0)
    await d.handle(Answered("a", 1, "p1"), T0)
    await d.handle(CallEnded("a"), T0 + 100)
    step = await d.start(request("b", team, Strategy.SUPPORT), T0 + 100 + H12)
    assert rings(step) == [(2, "p1")]
    await d.handle(CallerHungUp("b"), T0 + 100 + H12)
    step = await d.start(request("c", team, Strategy.SUPPORT), T0 + 101 + H12)
    assert rings(step) == [(1, "p1")]


async def test_sales_and_percentages_and_turns(state: SharedState) -> None:
    d = Distributor(state)
    team = staff(2)
    for call, first in (("a", 1), ("b", 2), ("c", 1)):
        assert rings(await d.start(request(call, team, Strategy.SALES), T0)) == [(first, "p1")]
        await d.handle(CallerHungUp(call), T0)
    pct = (employee(1, phone(percent=75.0)), employee(2, phone(percent=25.0)))
    got = []
    for n in range(8):
        step = await d.start(request(f"p{n}", pct, Strategy.CUSTOM, percentage=True), T0)
        got.append(rings(step)[0][0])
        await d.handle(Answered(f"p{n}", got[-1], "p1"), T0)
        await d.handle(CallEnded(f"p{n}"), T0)
    assert got.count(1) == 6
    assert got.count(2) == 2
    turns = []
    for k in range(4):
        turns.append(rings(await d.start(request(f"t{k}", staff(3), Strategy.IN_TURN), T0))[0][0])
        await d.handle(CallerHungUp(f"t{k}"), T0)
    assert turns == [1, 2, 3, 1]


async def test_wrapup_is_shared(state: SharedState) -> None:
    d = Distributor(state)
    team = staff(1)
    await d.start(request("a", team), T0)
    await d.handle(Answered("a", 1, "p1"), T0)
    await d.handle(CallEnded("a"), T0 + 10)
    step = await d.start(request("b", team, wrapup_seconds=5.0), T0 + 14.5)
    assert [s.reason for g in of_type(step, GiveUp) for s in g.skipped] == [SkipReason.WRAP_UP]
    assert rings(await d.start(request("c", team, wrapup_seconds=5.0), T0 + 15)) == [(1, "p1")]


async def test_two_nodes_share_lines_and_one_queue() -> None:
    redis = await open_redis_state()
    try:
        one = Distributor(redis, poll_interval=0.5)
        two = Distributor(RedisState(redis.client, redis.prefix), poll_interval=0.5)
        team = staff(1)
        await one.start(request("t", team), T0)
        await one.handle(Answered("t", 1, "p1"), T0)
        step = await two.start(request("x", team), T0 + 1)
        assert [s.reason for g in of_type(step, GiveUp) for s in g.skipped] == [
            SkipReason.LINE_LIMIT
        ]
        (_q2,) = of_type(
            await two.start(request("b", team, caller="B", queue=True), T0 + 2), Queued
        )
        (q1,) = of_type(await one.start(request("c", team, caller="C", queue=True), T0 + 3), Queued)
        assert isinstance(q1, Queued)
        assert q1.ahead == ("B",)
        await one.handle(CallEnded("t"), T0 + 4)
        # node one frees the phone, but its own waiter c is behind b (on node two)
        assert one.ringing("c") == ()
        assert two.next_timer() is not None
        assert rings(await two.poll(T0 + 4.5)) == [(1, "p1")]
        assert rings(await one.poll(T0 + 4.6)) == []
        await two.handle(RingEnded("b", 1, "p1"), T0 + 5)
        # b is rung again before c: he is still first
        assert two.ringing("b") == ((1, "p1"),)
        await two.handle(CallerHungUp("b"), T0 + 6)
        assert rings(await one.poll(T0 + 6.5)) == [(1, "p1")]
        details = [d for d in (await one.poll(T0 + 7)).details if d.kind is DetailKind.OFFERED]
        assert details == []
    finally:
        await redis.clear()
        await redis.aclose()


async def test_concurrent_claims_from_two_nodes_never_exceed_the_lines() -> None:
    first = await open_redis_state()
    second = RedisState.from_url(REDIS_URL, first.prefix)  # another node: its own connections
    try:
        claims = [
            (first if i % 2 else second).claim(f"c{i}", "1:1:p", 3, ClaimMode.FRESH, T0)
            for i in range(40)
        ]
        results = await asyncio.gather(*claims)
        assert results.count(ClaimStatus.OK) == 3
        # two distributors starting calls at the same instant on one 2-line phone
        one, two = Distributor(first), Distributor(second)
        team = (employee(9, phone(lines=2)),)
        steps = await asyncio.gather(
            *((one if i % 2 else two).start(request(f"s{i}", team), T0) for i in range(10))
        )
        assert sum(len(rings(s)) for s in steps) == 2
    finally:
        await first.clear()
        await first.aclose()
        await second.aclose()


async def test_a_later_waiter_does_not_pass_an_earlier_one_when_the_end_was_written_later(
    state: SharedState,
) -> None:
    """Node A ends the phone's call and writes its end a moment after node B read its clock:
    B's later waiter must still leave the phone to the earlier one (no wrap-up configured),
    and with a wrap-up both wait for it alike (the cross-node queue order of issue 17)."""
    d = Distributor(state)
    team = staff(1)
    await d.start(request("talk", team), T0)
    await d.handle(Answered("talk", 1, "p1"), T0)
    for call, caller, at in (("b", "B", T0 + 1), ("c", "C", T0 + 2)):
        (queued,) = of_type(
            await d.start(request(call, team, caller=caller, queue=True), at), Queued
        )
        assert isinstance(queued, Queued)
    # the talk ends at T0 + 10 on one node; the other claims with its clock at T0 + 9.999
    await state.release("talk", "1:1:p1")
    await state.record_talk("1:1", "1:1:p1", "talk", 10.0, T0 + 10)
    assert await state.claim("c", "1:1:p1", 1, ClaimMode.QUEUED, T0 + 9.999) is (
        ClaimStatus.QUEUE_HELD
    )
    assert await state.claim("b", "1:1:p1", 1, ClaimMode.QUEUED, T0 + 9.999) is ClaimStatus.OK


async def test_a_wrapup_holds_every_waiter_alike(state: SharedState) -> None:
    d = Distributor(state)
    team = staff(1)
    await d.start(request("talk", team), T0)
    await d.handle(Answered("talk", 1, "p1"), T0)
    for call, caller, at in (("b", "B", T0 + 1), ("c", "C", T0 + 2)):
        step = await d.start(request(call, team, caller=caller, queue=True, wrapup_seconds=5.0), at)
        assert of_type(step, Queued)
    await state.release("talk", "1:1:p1")
    await state.record_talk("1:1", "1:1:p1", "talk", 10.0, T0 + 10)
    for call in ("c", "b"):  # neither, while the wrap-up lasts
        assert await state.claim(call, "1:1:p1", 1, ClaimMode.QUEUED, T0 + 14) is (
            ClaimStatus.QUEUE_HELD
        )
    assert await state.claim("c", "1:1:p1", 1, ClaimMode.QUEUED, T0 + 15) is (
        ClaimStatus.QUEUE_HELD
    )
    assert await state.claim("b", "1:1:p1", 1, ClaimMode.QUEUED, T0 + 15) is ClaimStatus.OK
