"""The registrar's bindings in the database (SIP-2): what a restarted switch rings at once.

`save_bindings` replaces the stored bindings of lines (one transaction for many lines: the
registrar's writer commits every REGISTER answered meanwhile together); `load_bindings` drops
the expired ones and returns the rest with their line's login; `drop_bindings` removes those a
restarted switch cannot reach (see `vpbx.switch.registrar_service.Registrar.restore`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from vpbx.domain.switch_records import StoredBinding
from vpbx.storage import tables as t
from vpbx.storage.db import as_utc

__all__ = [
    "SWITCH_SILENT_AFTER",
    "SqlBindingStorage",
    "StoredBinding",
    "drop_bindings",
    "line_bindings",
    "load_bindings",
    "save_bindings",
    "switch_running",
]

log = logging.getLogger("vpbx.services.registrations")


async def save_bindings(
    conn: AsyncConnection,
    lines: Mapping[int, Sequence[StoredBinding]],
    now: dt.datetime,
    *,
    node: str = "",
) -> None:
    """Each line's bindings become exactly `lines[line_id]` (none: unregistered)."""
    if not lines:
        return
    regs = t.sip_registrations
    await conn.execute(sa.delete(regs).where(regs.c.sip_line_id.in_(list(lines))))
    rows = [
        {
            "sip_line_id": line_id,
            "contact": b.contact,
            "user_agent": b.user_agent,
            "source": b.source,
            "node": node,
            "expires_at": as_utc(b.expires_at),
            "updated_at": as_utc(now),
        }
        for line_id, bindings in lines.items()
        for b in bindings
    ]
    if rows:
        await conn.execute(sa.insert(regs), rows)


async def load_bindings(conn: AsyncConnection, now: dt.datetime) -> list[StoredBinding]:
    """Every unexpired binding with its line's login (the expired ones are deleted)."""
    regs = t.sip_registrations
    expired = await conn.execute(sa.delete(regs).where(regs.c.expires_at <= as_utc(now)))
    if expired.rowcount:
        log.info("expired registrations dropped", extra={"bindings": expired.rowcount})
    query = (
        sa.select(regs, t.sip_lines.c.login)
        .join(t.sip_lines, t.sip_lines.c.id == regs.c.sip_line_id)
        .order_by(regs.c.id)
    )
    return [
        StoredBinding(
            contact=row.contact,
            user_agent=row.user_agent,
            source=row.source,
            expires_at=as_utc(row.expires_at),
            row_id=int(row.id),
            line_id=int(row.sip_line_id),
            login=row.login,
        )
        for row in (await conn.execute(query)).all()
    ]


async def drop_bindings(conn: AsyncConnection, row_ids: Iterable[int]) -> None:
    ids = list(row_ids)
    if ids:
        regs = t.sip_registrations
        await conn.execute(sa.delete(regs).where(regs.c.id.in_(ids)))


#: a switch writes its heartbeat every second (`vpbx.switch.call_store.HEARTBEAT`): one silent
#: for this long is not running, and rings nobody
SWITCH_SILENT_AFTER = dt.timedelta(seconds=10)


async def line_bindings(
    conn: AsyncConnection, line_id: int, now: dt.datetime
) -> list[StoredBinding]:
    """The unexpired bindings of a line, as the registrar stored them."""
    regs = t.sip_registrations
    query = (
        sa.select(regs)
        .where(regs.c.sip_line_id == line_id, regs.c.expires_at > as_utc(now))
        .order_by(regs.c.id)
    )
    return [
        StoredBinding(
            contact=row.contact,
            user_agent=row.user_agent,
            source=row.source,
            expires_at=as_utc(row.expires_at),
            row_id=int(row.id),
            line_id=line_id,
        )
        for row in (await conn.execute(query)).all()
    ]


async def switch_running(conn: AsyncConnection, now: dt.datetime) -> bool | None:
    """Whether a switch is running on this database (a heartbeat within `SWITCH_SILENT_AFTER`);
    None when none ever ran (nothing to judge by)."""
    latest = (await conn.execute(sa.select(sa.func.max(t.switch_nodes.c.alive_at)))).scalar()
    if latest is None:
        return None
    return as_utc(now) - as_utc(latest) <= SWITCH_SILENT_AFTER


class SqlBindingStorage:
    """The registrar's bindings in the database, each call one transaction (implements
    `vpbx.switch.registration_store.BindingStorage`)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def save(
        self, lines: Mapping[int, Sequence[StoredBinding]], now: dt.datetime, node: str
    ) -> None:
        async with self.engine.begin() as conn:
            await save_bindings(conn, lines, now, node=node)

    async def load(self, now: dt.datetime) -> list[StoredBinding]:
        async with self.engine.begin() as conn:
            return await load_bindings(conn, now)

    async def drop(self, row_ids: Sequence[int]) -> None:
        async with self.engine.begin() as conn:
            await drop_bindings(conn, row_ids)
