"""The switch's configuration memo: one load for concurrent askers, stale answers refreshed in
the background, and a change (clear/discard) never overwritten by a load that started before."""

from __future__ import annotations

import asyncio

from vpbx.switch.memo import Memo


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_concurrent_askers_share_one_load() -> None:
    loads = 0
    release = asyncio.Event()

    async def load() -> int:
        nonlocal loads
        loads += 1
        await release.wait()
        return 42

    memo: Memo[int] = Memo(5.0, clock=Clock())
    askers = [asyncio.ensure_future(memo.get("k", load)) for _ in range(20)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*askers) == [42] * 20
    assert loads == 1


async def test_a_stale_answer_is_given_while_one_refresh_runs() -> None:
    clock = Clock()
    values = iter([1, 2, 3])
    loads = 0

    async def load() -> int:
        nonlocal loads
        loads += 1
        await asyncio.sleep(0)
        return next(values)

    memo: Memo[int] = Memo(5.0, clock=clock)
    assert await memo.get("k", load) == 1
    clock.now = 6.0
    assert await memo.get("k", load) == 1  # stale, refresh started
    assert await memo.get("k", load) == 1  # still stale, no second refresh
    await asyncio.sleep(0.01)
    assert await memo.get("k", load) == 2
    assert loads == 2


async def test_a_change_is_not_overwritten_by_a_load_started_before_it() -> None:
    release = asyncio.Event()
    reading = asyncio.Event()
    rows = {"value": "old"}

    async def load() -> str:
        seen = rows["value"]
        reading.set()
        await release.wait()
        return seen

    memo: Memo[str] = Memo(5.0, clock=Clock())
    first = asyncio.ensure_future(memo.get(1, load))
    await reading.wait()
    rows["value"] = "new"
    memo.discard(1)  # the API saved a change while the load was reading
    release.set()
    assert await first == "old"  # its asker gets what was read
    assert await memo.get(1, load) == "new"  # but it was not kept


async def test_a_failed_load_is_not_remembered() -> None:
    calls = 0

    async def load() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("database gone")
        return 7

    memo: Memo[int] = Memo(5.0, clock=Clock())
    try:
        await memo.get("k", load)
    except OSError:
        pass
    else:
        raise AssertionError("the failure must reach the asker")
    assert await memo.get("k", load) == 7


async def test_a_refresh_that_finds_the_thing_gone_drops_it_and_an_outage_keeps_it() -> None:
    """A deleted SIP line must not keep authenticating from the cache after a missed change
    notification (LookupError: gone); a database outage keeps the last answer (OSError)."""
    clock = Clock()
    outcomes: list[object] = [1, OSError("database gone"), LookupError("deleted"), 9]

    async def load() -> int:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        assert isinstance(outcome, int)
        return outcome

    memo: Memo[int] = Memo(5.0, clock=clock)
    assert await memo.get("k", load) == 1
    clock.now = 6.0
    assert await memo.get("k", load) == 1  # stale; its refresh fails with an outage
    await asyncio.sleep(0.01)
    assert await memo.get("k", load) == 1  # kept; the next refresh finds it gone
    await asyncio.sleep(0.01)
    assert await memo.get("k", load) == 9  # dropped: asked afresh, not the old answer
    assert outcomes == []
