"""The configuration as the switch's directory reads it, from the database (SQL behind
`vpbx.switch.directory.DirectorySource`): lines by login, numbers, trunks, accounts, and the
mirror of a line's registrations for the cabinet."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from vpbx.domain.directory import LineInfo, NumberInfo, TrunkInfo
from vpbx.domain.entities.toll_fraud import TollFraudPolicy
from vpbx.storage import tables as t

__all__ = ["SqlDirectorySource"]

#: logins per IN list (well under SQLite's limit of bound parameters)
_IN_CHUNK = 500


def _line_info(row: Any) -> LineInfo:
    return LineInfo(
        row["account_id"],
        row["id"],
        row["login"],
        row["password"],
        row["mode"],
        row["caller_id_number_id"],
        tuple(row.get("allowed_addresses") or ()),
        row.get("encryption") or "none",
        row.get("caller_id_mode") or "fixed",
    )


class SqlDirectorySource:
    """Implements `vpbx.switch.directory.DirectorySource` on the configuration tables."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def line(self, login: str) -> LineInfo | None:
        query = sa.select(t.sip_lines).where(t.sip_lines.c.login == login)
        async with self.engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return None if row is None else _line_info(row)

    async def lines(self, logins: list[str]) -> dict[str, LineInfo]:
        """Many lines in one read (the switch re-reads its stale lines together)."""
        found: dict[str, LineInfo] = {}
        async with self.engine.connect() as conn:
            for start in range(0, len(logins), _IN_CHUNK):
                chunk = logins[start : start + _IN_CHUNK]
                query = sa.select(t.sip_lines).where(t.sip_lines.c.login.in_(chunk))
                for row in (await conn.execute(query)).mappings():
                    line = _line_info(row)
                    found[line.login] = line
        return found

    async def number(self, number: str) -> NumberInfo | None:
        query = (
            sa.select(t.numbers, t.accounts.c.enabled.label("account_enabled"))
            .join(t.accounts, t.accounts.c.id == t.numbers.c.account_id)
            .where(t.numbers.c.number == number)
        )
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
            bool(row["account_enabled"]),
        )

    async def account_enabled(self, account_id: int) -> bool:
        query = sa.select(t.accounts.c.enabled).where(t.accounts.c.id == account_id)
        async with self.engine.connect() as conn:
            return bool((await conn.execute(query)).scalar_one_or_none())

    async def toll_fraud_policy(self, account_id: int) -> TollFraudPolicy:
        """An unreadable document gives the defaults, which are the strict ones."""
        query = sa.select(t.accounts.c.toll_fraud).where(t.accounts.c.id == account_id)
        async with self.engine.connect() as conn:
            stored = (await conn.execute(query)).scalar_one_or_none()
        try:
            return TollFraudPolicy.model_validate(stored or {})
        except ValidationError:
            return TollFraudPolicy()

    async def trunks(self) -> list[TrunkInfo]:
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

    async def line_logins(self, line_ids: list[int]) -> dict[int, str]:
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
