"""The directory's cache of SIP lines (issue 17): `Memo`'s rules, but the lines gone stale are
re-read together in one query; a stand-in source counting its reads, a fake clock for the TTL."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import cast

import pytest

from vpbx.domain.directory import LineInfo
from vpbx.switch.directory import Directory, DirectorySource

GATHER = 0.02


def _line(index: int, password: str = "secret") -> LineInfo:
    return LineInfo(1, index, f"l{index}", password, "in_out", None)


class _Source:
    """Lines by login; counts the one-line and many-line reads; can be made to fail or wait."""

    def __init__(self, lines: list[LineInfo]) -> None:
        self.by_login = {line.login: line for line in lines}
        self.single: list[str] = []
        self.batches: list[list[str]] = []
        self.failing = False
        self.hold: asyncio.Event | None = None

    async def line(self, login: str) -> LineInfo | None:
        self.single.append(login)
        await asyncio.sleep(0)
        return self.by_login.get(login)

    async def lines(self, logins: list[str]) -> dict[str, LineInfo]:
        self.batches.append(list(logins))
        if self.hold is not None:
            await self.hold.wait()
        if self.failing:
            raise OSError("database unreachable")
        return {login: self.by_login[login] for login in logins if login in self.by_login}


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _directory(source: _Source, clock: _Clock) -> Directory:
    return Directory(cast(DirectorySource, source), ttl=5.0, clock=clock, gather=GATHER)


async def _settle() -> None:
    """Past the gathering and the query it starts."""
    await asyncio.sleep(GATHER * 3)


async def test_a_line_is_read_once_however_many_ask_and_unknown_logins_are_not_kept() -> None:
    source, clock = _Source([_line(1)]), _Clock()
    directory = _directory(source, clock)
    found = await asyncio.gather(*(directory.line("l1") for _ in range(5)))
    assert found == [_line(1)] * 5
    assert await directory.line("l1") == _line(1)
    assert source.single == ["l1"]
    assert await directory.line("nobody") is None
    assert await directory.line("nobody") is None
    assert source.single == ["l1", "nobody", "nobody"]
    await _settle()
    assert source.batches == []  # nothing was stale


async def test_stale_lines_are_answered_at_once_and_re_read_together() -> None:
    source, clock = _Source([_line(i) for i in range(1, 5)]), _Clock()
    directory = _directory(source, clock)
    for i in range(1, 5):
        await directory.line(f"l{i}")
    source.by_login["l1"] = _line(1, "changed")
    del source.by_login["l2"]  # deleted meanwhile
    clock.now += 5.0
    # stale: the old answers at once, every one asked for joins one query
    assert await directory.line("l1") == _line(1)
    assert await directory.line("l2") == _line(2)
    assert await directory.line("l1") == _line(1)
    assert await directory.line("l3") == _line(3)
    await _settle()
    assert source.batches == [["l1", "l2", "l3"]]
    assert await directory.line("l1") == _line(1, "changed")
    assert await directory.line("l3") == _line(3)
    # a line found gone is dropped: the next request reads it alone, and finds nothing
    assert await directory.line("l2") is None
    assert source.single[-1] == "l2"
    # fresh again until the TTL passes (l4 was not asked for, so not re-read)
    await _settle()
    assert source.batches == [["l1", "l2", "l3"]]
    clock.now += 5.0
    assert await directory.line("l4") == _line(4)
    await _settle()
    assert source.batches[1:] == [["l4"]]  # only the lines asked for are re-read


async def test_a_stale_line_is_in_one_query_at_a_time() -> None:
    source, clock = _Source([_line(1), _line(2)]), _Clock()
    directory = _directory(source, clock)
    await directory.line("l1")
    await directory.line("l2")
    clock.now += 5.0
    source.hold = asyncio.Event()
    await directory.line("l1")
    await _settle()
    assert source.batches == [["l1"]]
    # asked again while its query is under way: not queued twice; another stale line waits
    await directory.line("l1")
    await directory.line("l2")
    await _settle()
    assert source.batches == [["l1"]]
    source.hold.set()
    await _settle()
    assert source.batches == [["l1"], ["l2"]]


async def test_an_invalidation_drops_lines_and_what_a_query_under_way_brings() -> None:
    source, clock = _Source([_line(1)]), _Clock()
    directory = _directory(source, clock)
    await directory.line("l1")
    clock.now += 5.0
    source.hold = asyncio.Event()
    await directory.line("l1")
    await _settle()
    source.by_login["l1"] = _line(1, "changed")
    directory.invalidate(1)  # the API saved a change while the stale read was under way
    source.hold.set()
    await _settle()
    assert await directory.line("l1") == _line(1, "changed")
    assert source.single == ["l1", "l1"]  # read again from scratch


async def test_a_failed_re_read_keeps_the_old_answers(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="vpbx.switch.directory")
    source, clock = _Source([_line(1)]), _Clock()
    directory = _directory(source, clock)
    await directory.line("l1")
    clock.now += 5.0
    source.failing = True
    assert await directory.line("l1") == _line(1)
    await _settle()
    assert await directory.line("l1") == _line(1)
    assert [r.getMessage() for r in caplog.records] == ["configuration refresh failed"]
    source.failing = False
    source.by_login["l1"] = replace(_line(1), mode="in")
    await _settle()
    assert await directory.line("l1") == replace(_line(1), mode="in")
    assert len(source.batches) == 2
