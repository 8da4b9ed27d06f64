"""What the switch asks the configuration: lines by login, numbers, trunks by source, employees.

Answers are kept for a few seconds (a burst of calls must not query the same rows for each
call) and dropped at once when the API saves a change (`invalidate`), so a change made in the
cabinet applies to the next call (GRP-3). Line credentials are always read afresh.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from vpbx.domain.entities.toll_fraud import TollFraudPolicy
from vpbx.domain.net_policy import host_in_networks
from vpbx.storage import tables as t
from vpbx.switch.memo import Memo


@dataclass(frozen=True, slots=True)
class LineInfo:
    account_id: int
    line_id: int
    login: str
    password: str
    mode: str
    caller_id_number_id: int | None
    #: IPs and networks the line may be used from; empty = anywhere
    allowed_addresses: tuple[str, ...] = ()
    #: "srtp": the line's calls must be encrypted (SRTP), "none": as the phone offers
    encryption: str = "none"

    def admits(self, host: str) -> bool:
        """Whether requests from `host` may use this line's credentials."""
        return not self.allowed_addresses or host_in_networks(host, self.allowed_addresses)


@dataclass(frozen=True, slots=True)
class NumberInfo:
    account_id: int
    number_id: int
    number: str
    kind: str
    rules: list[dict[str, Any]]
    trunk_id: int | None


@dataclass(frozen=True, slots=True)
class TrunkInfo:
    account_id: int
    trunk_id: int
    name: str
    host: str
    port: int
    transport: str
    allow_ips: tuple[str, ...]
    username: str
    password: str
    registration: bool
    outbound: bool

    def allows(self, host: str) -> bool:
        return host_in_networks(host, self.allow_ips)


T = TypeVar("T")
#: seconds an answer is reused before it is refreshed in the background
CACHE_TTL = 5.0


class Directory:
    def __init__(self, engine: AsyncEngine, ttl: float = CACHE_TTL) -> None:
        self.engine = engine
        self._memo: Memo[Any] = Memo(ttl)

    def invalidate(self, account_id: int | None = None) -> None:
        """A configuration changed: read everything again (configurations are small)."""
        self._memo.clear()

    async def _remember(self, key: tuple[Any, ...], load: Callable[[], Awaitable[T]]) -> T:
        value: T = await self._memo.get(key, load)
        return value

    async def line(self, login: str) -> LineInfo | None:
        query = sa.select(t.sip_lines).where(t.sip_lines.c.login == login)
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        if row is None:
            return None
        return LineInfo(
            row["account_id"],
            row["id"],
            row["login"],
            row["password"],
            row["mode"],
            row["caller_id_number_id"],
            tuple(row.get("allowed_addresses") or ()),
            row.get("encryption") or "none",
        )

    async def line_encryption(self, login: str) -> str:
        """What a line requires of its media ("srtp" or "none"), asked for every leg rung to its
        phones: cached like the rest of the configuration (`line` itself is read fresh, since a
        changed password must take effect at the next REGISTER)."""
        return await self._remember(("encryption", login), lambda: self._load_encryption(login))

    async def _load_encryption(self, login: str) -> str:
        line = await self.line(login)
        return line.encryption if line is not None else "none"

    async def number(self, number: str) -> NumberInfo | None:
        return await self._remember(("number", number), lambda: self._load_number(number))

    async def _load_number(self, number: str) -> NumberInfo | None:
        query = sa.select(t.numbers).where(t.numbers.c.number == number)
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        if row is None:
            return None
        return NumberInfo(
            row["account_id"],
            row["id"],
            row["number"],
            row["kind"],
            list(row["rules"]),
            row["trunk_id"],
        )

    async def number_by_id(self, account_id: int, number_id: int) -> str | None:
        return await self._remember(
            ("number_by_id", account_id, number_id),
            lambda: self._load_number_by_id(account_id, number_id),
        )

    async def _load_number_by_id(self, account_id: int, number_id: int) -> str | None:
        query = sa.select(t.numbers.c.number).where(
            t.numbers.c.account_id == account_id, t.numbers.c.id == number_id
        )
        async with self.engine.connect() as conn:
            return (await conn.execute(query)).scalar_one_or_none()

    async def toll_fraud_policy(self, account_id: int) -> TollFraudPolicy:
        """The account's toll-fraud guard settings (an unreadable document: the defaults, which
        are the strict ones, rather than no guard at all)."""
        return await self._remember(
            ("toll_fraud", account_id), lambda: self._load_toll_fraud_policy(account_id)
        )

    async def _load_toll_fraud_policy(self, account_id: int) -> TollFraudPolicy:
        query = sa.select(t.accounts.c.toll_fraud).where(t.accounts.c.id == account_id)
        async with self.engine.connect() as conn:
            stored = (await conn.execute(query)).scalar_one_or_none()
        try:
            return TollFraudPolicy.model_validate(stored or {})
        except ValidationError:
            return TollFraudPolicy()

    async def employees_by_extension(self, account_id: int, extension: str) -> list[dict[str, Any]]:
        return await self._remember(
            ("by_extension", account_id, extension),
            lambda: self._load_employees_by_extension(account_id, extension),
        )

    async def _load_employees_by_extension(
        self, account_id: int, extension: str
    ) -> list[dict[str, Any]]:
        """The employee with this extension, or the members of the group with it (EMP-2)."""
        query = sa.select(t.employees.c.id).where(
            t.employees.c.account_id == account_id, t.employees.c.extension == extension
        )
        group = sa.select(t.groups.c.id).where(
            t.groups.c.account_id == account_id, t.groups.c.extension == extension
        )
        async with self.engine.connect() as conn:
            ids = list((await conn.execute(query)).scalars().all())
            group_id = (await conn.execute(group)).scalar_one_or_none()
        if group_id is not None:
            ids += await self.group_members(account_id, group_id)
        return await self.employees(account_id, ids)

    async def trunks(self) -> list[TrunkInfo]:
        return await self._remember(("trunks",), lambda: self._load_trunks())

    async def _load_trunks(self) -> list[TrunkInfo]:
        query = sa.select(t.trunks).where(t.trunks.c.enabled.is_(True)).order_by(t.trunks.c.id)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [
            TrunkInfo(
                r["account_id"],
                r["id"],
                r["name"],
                r["host"],
                r["port"],
                r["transport"],
                tuple(r["allow_ips"]),
                r["username"],
                r["password"],
                r["registration"],
                r["outbound"],
            )
            for r in rows
        ]

    async def trunk_for_source(self, host: str) -> list[TrunkInfo]:
        """Trunks whose allow-list (or registration host) covers `host`."""
        return [tr for tr in await self.trunks() if tr.allows(host) or tr.host == host]

    async def scenario(self, account_id: int, scenario_id: int) -> dict[str, Any] | None:
        query = sa.select(t.scenarios).where(
            t.scenarios.c.account_id == account_id, t.scenarios.c.id == scenario_id
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return None if row is None else dict(row)

    async def employees(self, account_id: int, ids: list[int]) -> list[dict[str, Any]]:
        return await self._remember(
            ("employees", account_id, tuple(ids)), lambda: self._load_employees(account_id, ids)
        )

    async def _load_employees(self, account_id: int, ids: list[int]) -> list[dict[str, Any]]:
        if not ids:
            return []
        query = sa.select(t.employees).where(
            t.employees.c.account_id == account_id, t.employees.c.id.in_(ids)
        )
        async with self.engine.connect() as conn:
            rows = {r["id"]: dict(r) for r in (await conn.execute(query)).mappings().all()}
        return [rows[i] for i in ids if i in rows]

    async def employee_of_line(self, account_id: int, line_id: int) -> dict[str, Any] | None:
        return await self._remember(
            ("employee_of_line", account_id, line_id),
            lambda: self._load_employee_of_line(account_id, line_id),
        )

    async def _load_employee_of_line(self, account_id: int, line_id: int) -> dict[str, Any] | None:
        """The employee one of whose phones is this SIP line (the caller of an internal call)."""
        query = sa.select(t.employees).where(t.employees.c.account_id == account_id)
        async with self.engine.connect() as conn:
            for row in (await conn.execute(query)).mappings():
                if any(p.get("sip_line_id") == line_id for p in row["phones"]):
                    return dict(row)
        return None

    async def group_members(self, account_id: int, group_id: int) -> list[int]:
        return await self._remember(
            ("members", account_id, group_id),
            lambda: self._load_group_members(account_id, group_id),
        )

    async def _load_group_members(self, account_id: int, group_id: int) -> list[int]:
        query = (
            sa.select(t.group_members.c.employee_id)
            .join(t.groups, t.groups.c.id == t.group_members.c.group_id)
            .where(t.groups.c.account_id == account_id, t.groups.c.id == group_id)
            .order_by(t.group_members.c.position)
        )
        async with self.engine.connect() as conn:
            return list((await conn.execute(query)).scalars().all())

    async def line_logins(self, line_ids: list[int]) -> dict[int, str]:
        return await self._remember(
            ("logins", tuple(line_ids)), lambda: self._load_line_logins(line_ids)
        )

    async def _load_line_logins(self, line_ids: list[int]) -> dict[int, str]:
        if not line_ids:
            return {}
        query = sa.select(t.sip_lines.c.id, t.sip_lines.c.login).where(
            t.sip_lines.c.id.in_(line_ids)
        )
        async with self.engine.connect() as conn:
            return {r.id: r.login for r in (await conn.execute(query)).all()}

    async def save_registration(
        self,
        line_id: int,
        bindings: list[tuple[str, str, str, dt.datetime]],
        now: dt.datetime,
    ) -> None:
        """Mirror a line's current bindings for the cabinet (SIP-2)."""
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.delete(t.sip_registrations).where(t.sip_registrations.c.sip_line_id == line_id)
            )
            if bindings:
                await conn.execute(
                    sa.insert(t.sip_registrations),
                    [
                        {
                            "sip_line_id": line_id,
                            "contact": contact,
                            "user_agent": agent,
                            "source": source,
                            "node": "",
                            "expires_at": expires,
                            "updated_at": now,
                        }
                        for contact, agent, source, expires in bindings
                    ],
                )
