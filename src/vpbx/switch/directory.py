"""What the switch asks the configuration: lines by login, numbers, trunks by source, accounts.

Answers are kept for a few seconds (a burst of calls must not query the same rows for each
call) and dropped at once when the API saves a change (`invalidate`), so a change made in the
cabinet applies to the next call (GRP-3). Line credentials too: a new password counts from the
phone's next request, and the registrations made with the old one end with the change
(`Registrar.revoke_changed`).

The switch holds no SQL: the rows come from a `DirectorySource` (the database one is
`vpbx.services.directory_store.SqlDirectorySource`, wired in `vpbx.app`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from vpbx.domain.directory import LineInfo, NumberInfo, TrunkInfo
from vpbx.domain.entities.toll_fraud import TollFraudPolicy
from vpbx.switch.memo import Memo

__all__ = ["CACHE_TTL", "Directory", "DirectorySource", "LineInfo", "NumberInfo", "TrunkInfo"]


class DirectorySource(Protocol):
    """Where the directory reads the configuration from (uncached)."""

    async def line(self, login: str) -> LineInfo | None: ...

    async def number(self, number: str) -> NumberInfo | None: ...

    async def account_enabled(self, account_id: int) -> bool: ...

    async def toll_fraud_policy(self, account_id: int) -> TollFraudPolicy: ...

    async def trunks(self) -> list[TrunkInfo]: ...

    async def line_logins(self, line_ids: list[int]) -> dict[int, str]: ...

    async def save_registration(
        self, line_id: int, bindings: list[tuple[str, str, str, dt.datetime]], now: dt.datetime
    ) -> None: ...


T = TypeVar("T")


class _Unknown(LookupError):
    """No line has this login (not an error: a load that is not kept)."""


#: seconds an answer is reused before it is refreshed in the background
CACHE_TTL = 5.0


class Directory:
    def __init__(
        self,
        source: DirectorySource,
        ttl: float = CACHE_TTL,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.source = source
        self._memo: Memo[Any] = Memo(ttl) if clock is None else Memo(ttl, clock=clock)

    def invalidate(self, account_id: int | None = None) -> None:
        """A configuration changed: read everything again (configurations are small)."""
        self._memo.clear()

    async def _remember(self, key: tuple[Any, ...], load: Callable[[], Awaitable[T]]) -> T:
        value: T = await self._memo.get(key, load)
        return value

    async def line(self, login: str) -> LineInfo | None:
        """A line by login, asked for every authenticated request (a database read each was
        a third of a REGISTER's cost). An unknown login is not kept: logins an attacker
        guesses cannot fill the cache or push the real lines out of it."""
        try:
            return await self._remember(("line", login), lambda: self._load_line(login))
        except _Unknown:
            return None

    async def _load_line(self, login: str) -> LineInfo:
        line = await self.source.line(login)
        if line is None:
            raise _Unknown(login)  # not kept, and a kept line that is gone is dropped (Memo)
        return line

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
