"""CDR-4: the switch's live feed on a real unix socket: a snapshot then numbered events per
account, resuming from a number, and a subscriber that stops reading dropped without ever
holding up the calls that publish."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import socket
import time
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from vpbx.domain.live import LiveCallState, Roster
from vpbx.domain.schedule import ScheduleSpec, TimeInterval, WeeklyDay
from vpbx.switch.live_feed import MAX_BUFFER, LiveFeed


def _call(call_id: str, step: str = "") -> LiveCallState:
    return LiveCallState(call_id, "79160000001", "74950000000", 1.0, step=step)


async def _subscribe(
    path: Path, account_id: int, since: int | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_unix_connection(str(path), limit=1 << 20)
    writer.write(json.dumps({"account_id": account_id, "since": since}).encode() + b"\n")
    await writer.drain()
    return reader, writer


async def _next(reader: asyncio.StreamReader) -> dict[str, Any]:
    line = await asyncio.wait_for(reader.readline(), 2)
    assert line, "the feed closed the stream"
    message: dict[str, Any] = json.loads(line)
    return message


@pytest.fixture
async def feed(tmp_path_factory: pytest.TempPathFactory) -> Any:
    live = LiveFeed(tmp_path_factory.mktemp("f") / "live.sock")
    await live.start()
    yield live
    await live.stop()


async def test_snapshot_then_numbered_events_of_its_own_account(feed: LiveFeed) -> None:
    feed.put_call(1, _call("a", "Приветствие"))
    feed.put_call(2, _call("b"))
    reader, writer = await _subscribe(feed.socket_path, 1)
    snapshot = await _next(reader)
    assert snapshot["type"] == "snapshot"
    assert [c["call_id"] for c in snapshot["calls"]] == ["a"]
    feed.put_call(2, _call("b", "Меню"))
    feed.put_call(1, _call("a", "Меню"))
    feed.put_call(1, _call("a", "Переадресация"))  # coalesced with the one before
    event = await _next(reader)
    assert event == {
        "type": "call",
        "seq": snapshot["seq"] + 1,
        "call": {**snapshot["calls"][0], "step": "Переадресация"},
    }
    feed.end_call(1, "a")
    assert await _next(reader) == {"type": "ended", "seq": snapshot["seq"] + 2, "call_id": "a"}
    writer.close()
    await writer.wait_closed()

    # resuming from the snapshot's number: exactly the two events after it, then live ones
    reader, writer = await _subscribe(feed.socket_path, 1, since=snapshot["seq"])
    assert [(await _next(reader))["seq"] for _ in range(2)] == [
        snapshot["seq"] + 1,
        snapshot["seq"] + 2,
    ]
    writer.close()
    await writer.wait_closed()


async def test_a_subscriber_that_stops_reading_is_dropped_and_never_delays_a_call(
    feed: LiveFeed,
) -> None:
    # a raw socket nobody reads (a StreamReader would keep reading into its own buffer)
    loop = asyncio.get_running_loop()
    stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stuck.setblocking(False)
    await loop.sock_connect(stuck, str(feed.socket_path))
    await loop.sock_sendall(stuck, b'{"account_id": 1}\n')
    healthy, writer = await _subscribe(feed.socket_path, 1)
    assert (await _next(healthy))["type"] == "snapshot"
    seen: list[dict[str, Any]] = []

    async def keep_reading() -> None:
        while line := await healthy.readline():
            seen.append(json.loads(line))

    reading = asyncio.create_task(keep_reading())
    publishing = 0.0
    for n in range(MAX_BUFFER * 3):
        started = time.perf_counter()
        feed.put_call(1, _call(f"c{n % 50}", "x" * 200 + str(n)))
        feed.flush()
        publishing += time.perf_counter() - started
        if n % 100 == 0:
            await asyncio.sleep(0.001)  # the loop runs: the healthy reader keeps up
    # publishing is plain function calls (nothing awaits a subscriber): ~30 µs a change here,
    # each flushed at once (the feed itself flushes every 50 ms)
    print(f"live feed: {publishing / (MAX_BUFFER * 3) * 1e6:.1f} µs a change")
    assert publishing < 3.0, f"{MAX_BUFFER * 3} changes took {publishing:.2f} s to publish"
    # the stuck one was dropped: what was sent before it fell behind, then the end of stream
    received = b""
    try:
        while chunk := await asyncio.wait_for(loop.sock_recv(stuck, 1 << 16), 5):
            received += chunk
    except ConnectionResetError:
        pass  # the end of a dropped subscription may come as a reset
    stuck.close()
    assert received.startswith(b'{"type":"snapshot"')
    assert 0 < received.count(b"\n") < MAX_BUFFER * 3
    # the healthy one got every change, numbered without a gap, and is still subscribed
    feed.put_call(1, _call("last"))
    deadline = time.monotonic() + 5
    while not seen or seen[-1].get("call", {}).get("call_id") != "last":
        assert time.monotonic() < deadline, seen[-1:]
        await asyncio.sleep(0.01)
    assert len(seen) == MAX_BUFFER * 3 + 1
    assert [m["seq"] for m in seen] == list(range(seen[0]["seq"], seen[0]["seq"] + len(seen)))
    writer.close()
    await writer.wait_closed()
    await reading


async def test_registrations_and_wrap_ups_are_pushed_as_they_happen(tmp_path: Path) -> None:
    """The registrar's news of a line and the end of a talk reach a subscriber as employee
    events at once; the wrap-up's end comes by the feed's own timer; a configuration change
    reads the roster again."""
    rosters = [
        Roster(ZoneInfo("Europe/Moscow"), lines=MappingProxyType({7: frozenset({70})})),
        Roster(ZoneInfo("Europe/Moscow"), lines=MappingProxyType({8: frozenset({70})})),
    ]
    loads: list[int] = []

    async def roster(account_id: int) -> Roster:
        loads.append(account_id)
        return rosters[min(len(loads), 2) - 1]

    feed = LiveFeed(tmp_path / "live.sock")
    feed.roster = roster
    await feed.start()
    try:
        reader, writer = await _subscribe(feed.socket_path, 1)
        snapshot = await _next(reader)
        assert (snapshot["presence"], snapshot["employees"], loads) == (True, [], [1])
        feed.line_presence(1, 70, True)
        assert (await _next(reader))["employee"] == {"employee_id": 7, "state": "registered"}
        talk = replace(_call("a"), talker=7, wrapup_seconds=0.3)
        feed.put_call(1, talk)
        await _next(reader)  # the call
        assert (await _next(reader))["employee"]["state"] == "talking"
        feed.end_call(1, "a")
        await _next(reader)  # its end
        wrap_up = (await _next(reader))["employee"]
        assert wrap_up["state"] == "wrap_up"
        assert wrap_up["until"] == pytest.approx(time.time() + 0.3, abs=0.2)
        assert (await _next(reader))["employee"] == {"employee_id": 7, "state": "registered"}
        assert time.time() >= wrap_up["until"]
        feed.config_changed(1)  # the line is now employee 8's
        moved = {(await _next(reader))["employee"]["employee_id"] for _ in range(2)}
        assert moved == {7, 8}
        assert feed.board.snapshot(1)["employees"] == [{"employee_id": 8, "state": "registered"}]
        feed.line_presence(1, 70, False)
        assert (await _next(reader))["employee"] == {"employee_id": 8, "state": "offline"}
        writer.close()
        await writer.wait_closed()
    finally:
        await feed.stop()


async def test_a_schedule_boundary_is_pushed_by_the_minute_check(tmp_path: Path) -> None:
    """Off schedule until 09:00, then registered: the feed's own minute timer (on the feed's
    clock, here a fake one 0.1 s before the boundary) re-reads the schedule."""
    msk = ZoneInfo("Europe/Moscow")
    nine = dt.datetime(2026, 12, 7, 9, 0, tzinfo=msk).timestamp()
    office = ScheduleSpec(
        kind="weekly",
        weekly=(
            WeeklyDay(weekday=1, intervals=(TimeInterval(start=dt.time(9), end=dt.time(18)),)),
        ),
    )
    now = [nine - 0.1]
    feed = LiveFeed(tmp_path / "live.sock", clock=lambda: now[0])

    async def roster(_account_id: int) -> Roster:
        lines = MappingProxyType({7: frozenset({70})})
        return Roster(msk, None, lines, MappingProxyType({7: office}))

    feed.roster = roster
    await feed.start()
    try:
        feed.line_presence(1, 70, True)
        reader, writer = await _subscribe(feed.socket_path, 1)
        snapshot = await _next(reader)
        assert snapshot["employees"] == [{"employee_id": 7, "state": "off_schedule"}]
        now[0] = nine  # the timer, due 0.1 s from the start, finds the boundary passed
        assert (await _next(reader))["employee"] == {"employee_id": 7, "state": "registered"}
        writer.close()
        await writer.wait_closed()
    finally:
        await feed.stop()
