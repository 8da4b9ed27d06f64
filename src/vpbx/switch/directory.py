"""What the switch asks the configuration: lines by login, numbers, trunks by source, accounts.

Answers are kept for a few seconds (a burst of calls must not query the same rows for each
call) and dropped at once when the API saves a change (`invalidate`), so a change made in the
cabinet applies to the next call (GRP-3). Line credentials too: a new password counts from the
phone's next request, and the registrations made with the old one end with the change
(`Registrar.revoke_changed`).

The switch holds no SQL: the rows come from a `DirectorySource` (the database one is
`vpbx.services.directory_store.SqlDirectorySource`, wired in `vpbx.app`).

Lines follow the same rules in their own cache (`_Lines`), with one difference: the stale ones
are re-read together. A phone registers again every few minutes, far apart from the cache's
seconds, so nearly every REGISTER found its line stale and paid a query of its own (issue 17).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from vpbx.domain.directory import LineInfo, NumberInfo, TrunkInfo
from vpbx.domain.entities.toll_fraud import TollFraudPolicy
from vpbx.switch.memo import Memo

__all__ = [
    "CACHE_TTL",
    "REFRESH_GATHER",
    "Directory",
    "DirectorySource",
    "LineInfo",
    "NumberInfo",
    "TrunkInfo",
]

log = logging.getLogger("vpbx.switch.directory")


class DirectorySource(Protocol):
    """Where the directory reads the configuration from (uncached)."""

    async def line(self, login: str) -> LineInfo | None: ...

    async def lines(self, logins: list[str]) -> dict[str, LineInfo]:
        """The lines of those logins that exist, by login."""
        ...

    async def number(self, number: str) -> NumberInfo | None: ...

    async def account_enabled(self, account_id: int) -> bool: ...

    async def toll_fraud_policy(self, account_id: int) -> TollFraudPolicy: ...

    async def trunks(self) -> list[TrunkInfo]: ...

    async def line_logins(self, line_ids: list[int]) -> dict[int, str]: ...

    async def save_registration(
        self, line_id: int, bindings: list[tuple[str, str, str, dt.datetime]], now: dt.datetime
    ) -> None: ...


T = TypeVar("T")

#: seconds an answer is reused before it is refreshed in the background
CACHE_TTL = 5.0
#: seconds a stale line waits for others to be re-read with (it is answered from the cache
#: meanwhile: a missed notification is seen within CACHE_TTL + this + one query)
REFRESH_GATHER = 0.1


class _Lines:
    """SIP lines by login, kept as `Memo` keeps answers: for `ttl` seconds, a stale one given
    out while it is re-read, one first read per login at a time, `clear` drops everything (and
    what a read started before it brings), an unknown login is not kept, a line found gone is
    dropped, a failed re-read keeps the old answer. Unlike `Memo`, a stale line is not re-read
    on its own: the lines gone stale within `gather` seconds are re-read in one query
    (`DirectorySource.lines`)."""

    def __init__(
        self,
        source: DirectorySource,
        ttl: float,
        clock: Callable[[], float],
        gather: float = REFRESH_GATHER,
        limit: int = 10_000,
    ) -> None:
        self.source = source
        self.ttl = ttl
        self.clock = clock
        self.gather = gather
        self.limit = limit
        self._entries: dict[str, tuple[float, LineInfo]] = {}
        self._loading: dict[str, asyncio.Future[LineInfo | None]] = {}
        self._waiting: set[str] = set()  # stale, to be re-read by the next query
        self._reading: set[str] = set()  # stale, in the query under way
        self._timer: asyncio.TimerHandle | None = None
        self._query: asyncio.Future[None] | None = None
        self._generation = 0

    def clear(self) -> None:
        self._entries.clear()
        self._loading.clear()
        self._waiting.clear()
        self._generation += 1

    async def get(self, login: str) -> LineInfo | None:
        line = self.peek(login)
        if line is not None:
            return line
        pending = self._loading.get(login) or self._first_read(login)
        return await asyncio.shield(pending)

    def peek(self, login: str) -> LineInfo | None:
        """The line `get` would give without awaiting, or None when it would have to read it
        (a stale line is given, and re-read later, as by `get`)."""
        entry = self._entries.get(login)
        if entry is None:
            return None
        at, line = entry
        if self.clock() - at >= self.ttl:
            self._stale(login)
        return line

    def _keep(self, login: str, at: float, line: LineInfo) -> None:
        if len(self._entries) >= self.limit and login not in self._entries:
            self._entries.clear()
        self._entries[login] = (at, line)

    def _first_read(self, login: str) -> asyncio.Future[LineInfo | None]:
        generation, started = self._generation, self.clock()
        future = asyncio.ensure_future(self.source.line(login))
        self._loading[login] = future

        def done(task: asyncio.Future[LineInfo | None]) -> None:
            if self._loading.get(login) is task:
                del self._loading[login]
            if task.cancelled() or task.exception() is not None:
                return  # told to whoever waits; nothing kept
            line = task.result()
            if line is not None and generation == self._generation:
                self._keep(login, started, line)

        future.add_done_callback(done)
        return future

    def _stale(self, login: str) -> None:
        if login in self._waiting or login in self._reading:
            return
        self._waiting.add(login)
        self._arm()

    def _arm(self) -> None:
        if self._waiting and self._timer is None and self._query is None:
            self._timer = asyncio.get_running_loop().call_later(self.gather, self._reread)

    def _reread(self) -> None:
        self._timer = None
        if not self._waiting:
            return
        self._reading, self._waiting = self._waiting, set()
        self._query = asyncio.ensure_future(self._refresh(self._reading))

    async def _refresh(self, logins: set[str]) -> None:
        generation, started = self._generation, self.clock()
        try:
            found = await self.source.lines(sorted(logins))
        except Exception:
            # the database unreachable: the old answers stay, and are asked again later
            log.warning("configuration refresh failed", exc_info=True)
        else:
            if generation == self._generation:
                for login in logins:
                    line = found.get(login)
                    if line is None:
                        self._entries.pop(login, None)  # gone: not given out any more
                    else:
                        self._keep(login, started, line)
        finally:
            self._reading = set()
            self._query = None
            self._arm()


class Directory:
    def __init__(
        self,
        source: DirectorySource,
        ttl: float = CACHE_TTL,
        clock: Callable[[], float] | None = None,
        gather: float = REFRESH_GATHER,
    ) -> None:
        self.source = source
        self._memo: Memo[Any] = Memo(ttl) if clock is None else Memo(ttl, clock=clock)
        self._lines = _Lines(source, ttl, clock or time.monotonic, gather)

    def invalidate(self, account_id: int | None = None) -> None:
        """A configuration changed: read everything again (configurations are small)."""
        self._memo.clear()
        self._lines.clear()

    async def _remember(self, key: tuple[Any, ...], load: Callable[[], Awaitable[T]]) -> T:
        value: T = await self._memo.get(key, load)
        return value

    async def line(self, login: str) -> LineInfo | None:
        """A line by login, asked for every authenticated request (a database read each was
        a third of a REGISTER's cost). An unknown login is not kept: logins an attacker
        guesses cannot fill the cache or push the real lines out of it."""
        return await self._lines.get(login)

    def cached_line(self, login: str) -> tuple[bool, LineInfo | None]:
        """(True, the line) when `line` would answer without reading the database, else
        (False, None): the registrar answers such REGISTERs without a task of their own."""
        line = self._lines.peek(login)
        return line is not None, line

    async def line_encryption(self, login: str) -> str:
        """What a line requires of its media ("srtp" or "none"), asked for every leg rung to its
        phones."""
        line = await self.line(login)
        return line.encryption if line is not None else "none"

    async def number(self, number: str) -> NumberInfo | None:
        return await self._remember(("number", number), lambda: self.source.number(number))

    async def account_enabled(self, account_id: int) -> bool:
        return await self._remember(
            ("account_enabled", account_id), lambda: self.source.account_enabled(account_id)
        )

    async def toll_fraud_policy(self, account_id: int) -> TollFraudPolicy:
        """The account's toll-fraud guard settings (an unreadable document: the defaults, which
        are the strict ones, rather than no guard at all)."""
        return await self._remember(
            ("toll_fraud", account_id), lambda: self.source.toll_fraud_policy(account_id)
        )

    async def trunks(self) -> list[TrunkInfo]:
        return await self._remember(("trunks",), self.source.trunks)

    async def trunk_for_source(self, host: str) -> list[TrunkInfo]:
        """Trunks whose allow-list (or registration host) covers `host`."""
        return [tr for tr in await self.trunks() if tr.allows(host) or tr.host == host]

    async def outbound_trunk(
        self, account_id: int, trunk_id: int | None = None
    ) -> TrunkInfo | None:
        """The trunk an outside call of the account leaves through: `trunk_id` when it names an
        enabled outbound trunk of the account, else the account's first outbound trunk."""
        outbound = [tr for tr in await self.trunks() if tr.account_id == account_id and tr.outbound]
        chosen = next((tr for tr in outbound if tr.trunk_id == trunk_id), None)
        return chosen or next(iter(outbound), None)

    async def line_logins(self, line_ids: list[int]) -> dict[int, str]:
        return await self._remember(
            ("logins", tuple(line_ids)), lambda: self.source.line_logins(line_ids)
        )

    async def save_registration(
        self,
        line_id: int,
        bindings: list[tuple[str, str, str, dt.datetime]],
        now: dt.datetime,
    ) -> None:
        """Mirror a line's current bindings for the cabinet (SIP-2)."""
        await self.source.save_registration(line_id, bindings, now)
