"""A Redis restarted under two nodes (issue 17): each node writes its lines and queue places
back, the callers that waited keep their order, and nothing is counted twice.

A redis-server of the test's own (`tests.redis_server`) is killed and started again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.distribution.helpers import of_type, request, rings, staff
from tests.redis_server import RedisServer, redis_server
from vpbx.scenario.distribution import (
    Answered,
    CallEnded,
    CallerHungUp,
    Distributor,
    GiveUp,
    Queued,
    SkipReason,
)
from vpbx.scenario.distribution.state import WaiterSpec
from vpbx.services.shared_state_redis import RedisState

T0 = 1_750_000_000.0
PHONE = "1:1:p1"


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with redis_server() as redis:
        yield redis


@pytest.fixture
async def nodes(server: RedisServer) -> AsyncIterator[tuple[RedisState, RedisState]]:
    one = RedisState.from_url(server.url, "t:", node="one", settle_seconds=0.2)
    two = RedisState.from_url(server.url, "t:", node="two", settle_seconds=0.2)
    for state in (one, two):
        await state.release_node()
    try:
        yield one, two
    finally:
        await one.aclose()
        await two.aclose()


async def test_the_nodes_write_their_state_back_and_the_queue_keeps_its_order(
    server: RedisServer, nodes: tuple[RedisState, RedisState]
) -> None:
    one_state, two_state = nodes
    one = Distributor(one_state, poll_interval=0.25)
    two = Distributor(two_state, poll_interval=0.25)
    team = staff(1)
    # node one: a talk on the one-line phone; callers B (node two) then C (node one) wait
    await one.start(request("talk", team), T0)
    await one.handle(Answered("talk", 1, "p1"), T0)
    assert of_type(await two.start(request("b", team, caller="B", queue=True), T0 + 1), Queued)
    assert of_type(await one.start(request("c", team, caller="C", queue=True), T0 + 2), Queued)

    server.restart()  # empty: Redis keeps nothing on disk here
    assert await one_state.client.hget("t:busy", PHONE) is None  # the commands wait it out

    for state in (one_state, two_state):  # idle nodes: their watches write their state back
        state.start_watch(0.05)
    deadline = time.monotonic() + 5
    while (
        await one_state.client.zrange(f"t:pw:{PHONE}", 0, -1) != ["b", "c"]
        or await one_state.client.hget("t:busy", PHONE) != "1"
    ):
        assert time.monotonic() < deadline, "the nodes did not write their state back"
        await asyncio.sleep(0.05)
    # the talk's line is busy again (counted once), C waits behind B, a new caller waits too
    step = await one.start(request("new", team), T0 + 3)
    assert [s.reason for g in of_type(step, GiveUp) for s in g.skipped] == [SkipReason.QUEUE_HELD]
    spot = await one.queue_status("c", T0 + 3)
    assert spot is not None
    assert spot.ahead == ("B",)
    # a caller queued after the restart is behind both
    assert of_type(await two.start(request("d", team, caller="D", queue=True), T0 + 4), Queued)
    assert await one_state.client.zrange(f"t:pw:{PHONE}", 0, -1) == ["b", "c", "d"]

    await one.handle(CallEnded("talk"), T0 + 5)
    assert rings(await one.poll(T0 + 5.1)) == []  # C is behind B
    assert rings(await two.poll(T0 + 5.2)) == [(1, "p1")]
    assert two.ringing("b") == ((1, "p1"),)
    assert await one_state.client.hget("t:busy", PHONE) == "1"


async def test_a_claim_finds_the_mark_gone_and_writes_back_first_once_per_restart(
    server: RedisServer, nodes: tuple[RedisState, RedisState]
) -> None:
    one_state, _ = nodes
    one = Distributor(one_state)
    await one.start(request("talk", staff(1)), T0)
    assert await one_state.rebuild() == -1  # nothing lost yet
    server.restart()
    # the next claim of this node (another phone) finds its mark gone: the line comes back
    assert rings(await one.start(request("other", staff(2)[1:]), T0 + 1)) == [(2, "p1")]
    assert await one_state.client.hget("t:busy", PHONE) == "1"
    assert await one_state.client.hget("t:busy", "1:2:p1") == "1"
    assert await one_state.rebuild() == -1  # once per restart: nothing counted twice
    assert await one_state.client.hget("t:busy", PHONE) == "1"
    await one.handle(CallEnded("talk"), T0 + 2)
    assert await one_state.client.hget("t:busy", PHONE) is None
    server.restart()
    assert await one_state.rebuild() == 1  # only the line still held ("other")
    assert await one_state.client.hget("t:busy", PHONE) is None


async def test_a_lost_mark_with_the_data_kept_counts_nothing_twice(
    nodes: tuple[RedisState, RedisState],
) -> None:
    """The mark can go while the data stays (a key evicted or deleted by hand): the write-back
    then finds its lines and queue places there and adds nothing."""
    one_state, _ = nodes
    one = Distributor(one_state)
    team = staff(1)
    await one.start(request("talk", team), T0)
    assert of_type(await one.start(request("b", team, caller="B", queue=True), T0 + 1), Queued)
    await one_state.client.delete("t:up:one")
    assert await one_state.rebuild() == 2
    assert await one_state.client.hget("t:busy", PHONE) == "1"
    assert await one_state.client.hget("t:held", PHONE) == "1"


async def test_callers_queued_after_a_restart_come_after_those_who_waited(
    server: RedisServer, nodes: tuple[RedisState, RedisState]
) -> None:
    one_state, _ = nodes
    one = Distributor(one_state)
    team = staff(1)
    await one.start(request("talk", team), T0)
    for call in ("a", "b", "c"):
        assert of_type(await one.start(request(call, team, caller=call, queue=True), T0), Queued)
    await one.handle(CallerHungUp("c"), T0 + 1)  # its number stays the highest given
    server.restart()
    assert of_type(await one.start(request("d", team, caller="d", queue=True), T0 + 2), Queued)
    assert await one_state.client.zrange(f"t:pw:{PHONE}", 0, -1) == ["a", "b", "d"]
    b_seq = await one_state.client.zscore(f"t:pw:{PHONE}", "b")
    d_seq = await one_state.client.zscore(f"t:pw:{PHONE}", "d")
    assert b_seq is not None
    assert d_seq is not None
    assert d_seq > b_seq


async def test_callers_who_waited_out_the_pause_keep_the_order_they_called_in(
    server: RedisServer, nodes: tuple[RedisState, RedisState]
) -> None:
    """The second CI failure: two callers reached their nodes while Redis was restarting,
    both waited out the pause, and the later one's script ran first: he got the lower number
    (the counter's order). The number is the time the node queued him."""
    one_state, two_state = nodes
    one = Distributor(one_state)
    two = Distributor(two_state)
    team = staff(1)
    await one.start(request("talk", team), T0)
    server.restart()
    for state in (one_state, two_state):
        await state.rebuild()
    # the later caller (node two, T0 + 2) is queued first, the earlier (node one) after him
    assert of_type(await two.start(request("late", team, caller="L", queue=True), T0 + 2), Queued)
    assert of_type(await one.start(request("early", team, caller="E", queue=True), T0 + 1), Queued)
    assert await one_state.client.zrange(f"t:pw:{PHONE}", 0, -1) == ["early", "late"]
    spot = await two.queue_status("late", T0 + 3)
    assert spot is not None
    assert spot.ahead == ("E",)


async def test_a_later_caller_waits_until_every_node_wrote_back(
    server: RedisServer,
) -> None:
    """The CI failure of stop 26: right after a restart the node of a later caller wrote back
    and claimed the free line before the node of an earlier caller had written him back. The
    claims now wait out the pause the first write-back starts (`settle`)."""
    one_state = RedisState.from_url(server.url, "t:", node="one", settle_seconds=0.4)
    two_state = RedisState.from_url(server.url, "t:", node="two", settle_seconds=0.4)
    try:
        for state in (one_state, two_state):
            await state.release_node()
        one = Distributor(one_state, poll_interval=0.25)
        two = Distributor(two_state, poll_interval=0.25)
        team = staff(1)
        # node two: a talk on the one-line phone; B (node one) waits, then C (node two)
        await two.start(request("talk", team), T0)
        await two.handle(Answered("talk", 1, "p1"), T0)
        assert of_type(await one.start(request("b", team, caller="B", queue=True), T0 + 1), Queued)
        assert of_type(await two.start(request("c", team, caller="C", queue=True), T0 + 2), Queued)

        server.restart()
        one_state.start_watch(0.1)  # node one is idle: its watch writes B back
        started = time.monotonic()
        # the line is free: node two, first back, writes C back and would take it for him
        assert rings(await two.handle(CallEnded("talk"), T0 + 3)) == []
        assert time.monotonic() - started >= 0.3  # it waited for the others
        assert rings(await two.poll(T0 + 3.1)) == []
        assert await one_state.client.zrange(f"t:pw:{PHONE}", 0, -1) == ["b", "c"]
        assert rings(await one.poll(T0 + 3.2)) == [(1, "p1")]
        assert one.ringing("b") == ((1, "p1"),)
        # once the pause is over, nothing waits
        started = time.monotonic()
        assert of_type(await two.start(request("d", team, caller="D", queue=True), T0 + 4), Queued)
        assert time.monotonic() - started < 0.2
        assert await one_state.client.zrange(f"t:pw:{PHONE}", 0, -1) == ["b", "c", "d"]
    finally:
        await one_state.aclose()
        await two_state.aclose()


async def test_a_repeated_enqueue_keeps_the_number_and_counts_the_phone_once(
    nodes: tuple[RedisState, RedisState],
) -> None:
    one_state, _ = nodes
    one = Distributor(one_state)
    team = staff(1)
    await one.start(request("talk", team), T0)
    assert of_type(await one.start(request("b", team, caller="B", queue=True), T0 + 1), Queued)
    first = await one_state.client.zscore(f"t:pw:{PHONE}", "b")
    spec = WaiterSpec("b", "B", "1:q", (PHONE,), 1, 0.0)
    again = await one_state.enqueue(spec, T0 + 5)
    assert again.seq == first
    assert await one_state.client.zscore(f"t:pw:{PHONE}", "b") == first
    assert await one_state.client.hget("t:held", PHONE) == "1"
