"""A restarted node lets go of the lines and queue places its killed self held (Redis).

The Redis at 127.0.0.1:6379 (or VPBX_TEST_REDIS_URL) is required: the tests fail without it."""

from __future__ import annotations

from tests.distribution.conftest import REDIS_URL, open_redis_state
from vpbx.scenario.distribution import ClaimMode, ClaimStatus, WaiterSpec
from vpbx.services.shared_state_redis import RedisState

T0 = 1_000_000.0
PHONE = "1:1:p"


def waiter(call_id: str) -> WaiterSpec:
    return WaiterSpec(call_id, f"caller-{call_id}", "q1", (PHONE,), 1, 0.0)


async def test_a_restarted_node_frees_what_its_crash_left_and_nothing_else() -> None:
    base = await open_redis_state()
    a = RedisState.from_url(REDIS_URL, base.prefix, node="node-a")
    b = RedisState.from_url(REDIS_URL, base.prefix, node="node-b")
    try:
        # node A: a call talking on the phone's only line, a caller waiting behind it
        assert await a.claim("a1", PHONE, 1, ClaimMode.FRESH, T0) is ClaimStatus.OK
        await a.enqueue(waiter("a2"), T0)
        # node B: a caller queued after A's
        await b.enqueue(waiter("b1"), T0 + 1)
        # A is killed: nobody releases. The line stays busy and A's caller holds the queue.
        assert await b.claim("b2", PHONE, 1, ClaimMode.FRESH, T0 + 2) is ClaimStatus.QUEUE_HELD
        spot = await b.queue_spot("b1", T0 + 2)
        assert spot is not None
        assert spot.position == 2

        # A starts again under its name, before its first call
        again = RedisState.from_url(REDIS_URL, base.prefix, node="node-a")
        try:
            assert await again.release_node() == 2
            assert await again.release_node() == 0  # nothing twice
        finally:
            await again.aclose()
        spot = await b.queue_spot("b1", T0 + 3)
        assert spot is not None
        assert spot.position == 1  # B's caller is first now
        assert await a.queue_spot("a2", T0 + 3) is None
        # the line is free: B's waiting caller takes it
        assert await b.claim("b1", PHONE, 1, ClaimMode.QUEUED, T0 + 3) is ClaimStatus.OK
    finally:
        for state in (a, b):
            await state.aclose()
        await base.clear()
        await base.aclose()


async def test_calls_that_end_normally_leave_nothing_under_the_node() -> None:
    base = await open_redis_state()
    node = RedisState.from_url(REDIS_URL, base.prefix, node="n")
    try:
        for i in range(20):
            call = f"c{i}"
            assert await node.claim(call, PHONE, 5, ClaimMode.FRESH, T0) is ClaimStatus.OK
            await node.enqueue(waiter(call), T0)
            await node.dequeue(call)
            await node.release(call, PHONE)
        assert await node.client.scard(f"{base.prefix}own:n") == 0
        assert await node.release_node() == 0
    finally:
        await node.aclose()
        await base.clear()
        await base.aclose()
