"""The registrar's bindings in the database (SIP-2): what a restarted switch rings at once.

`save_bindings` replaces the stored bindings of lines (one transaction for many lines: the
registrar's writer commits every REGISTER answered meanwhile together); `load_bindings` drops
the expired ones and returns the rest with their line's login; `drop_bindings` removes those a
restarted switch cannot reach (see `vpbx.switch.registrar_service.Registrar.restore`).

`SqlBindingStorage.save` is on every REGISTER's path (issue 17): on SQLite it drives the
aiosqlite connection directly with statements compiled once, four hops to the driver's thread
per commit instead of about ten, and none of SQLAlchemy's per-statement work (a commit cost
~1 ms of CPU that way, ~0.15 ms this way); the rows written are the same (`save_bindings`
stays the one way on PostgreSQL and inside other transactions).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

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


class _SqliteWrite:
    """`save_bindings` as two statements compiled once for SQLite, with the columns' own bind
    processing (a datetime is stored as SQLAlchemy stores it, so reads are unchanged)."""

    def __init__(self, dialect: sa.Dialect) -> None:
        regs = t.sip_registrations
        delete = sa.delete(regs).where(regs.c.sip_line_id == sa.bindparam("line"))
        insert = sa.insert(regs).values({name: sa.bindparam(name) for name in _COLUMNS})
        compiled_delete = delete.compile(dialect=dialect)
        compiled_insert = insert.compile(dialect=dialect)
        if compiled_delete.positiontup != ["line"] or compiled_insert.positiontup != list(_COLUMNS):
            raise RuntimeError("unexpected parameter order in the compiled binding statements")
        self.delete = compiled_delete.string
        self.insert = compiled_insert.string
        stamp = regs.c.expires_at.type.dialect_impl(dialect).bind_processor(dialect)
        self.stamp: Callable[[dt.datetime], Any] = stamp or (lambda value: value)

    def rows(
        self, lines: Mapping[int, Sequence[StoredBinding]], now: dt.datetime, node: str
    ) -> list[tuple[Any, ...]]:
        updated = self.stamp(as_utc(now))
        return [
            (
                line_id,
                b.contact,
                b.user_agent,
                b.source,
                node,
                self.stamp(as_utc(b.expires_at)),
                updated,
            )
            for line_id, bindings in lines.items()
            for b in bindings
        ]


#: the columns `save_bindings` writes, in the order of `_SqliteWrite.insert`'s parameters
_COLUMNS = ("sip_line_id", "contact", "user_agent", "source", "node", "expires_at", "updated_at")


class SqlBindingStorage:
    """The registrar's bindings in the database, each call one transaction (implements
    `vpbx.switch.registration_store.BindingStorage`)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sqlite = (
            _SqliteWrite(engine.dialect)
            if engine.dialect.name == "sqlite" and engine.dialect.driver == "aiosqlite"
            else None
        )

    async def save(
        self, lines: Mapping[int, Sequence[StoredBinding]], now: dt.datetime, node: str
    ) -> None:
        if not lines:
            return
        if self._sqlite is not None:
            await self._save_sqlite(self._sqlite, lines, now, node)
            return
        async with self.engine.begin() as conn:
            await save_bindings(conn, lines, now, node=node)

    async def _save_sqlite(
        self,
        write: _SqliteWrite,
        lines: Mapping[int, Sequence[StoredBinding]],
        now: dt.datetime,
        node: str,
    ) -> None:
        rows = write.rows(lines, now, node)
        async with self.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            driver = raw.driver_connection  # the aiosqlite connection
            assert driver is not None
            statement = write.delete
            try:
                # sqlite3 opens the transaction at the DELETE; one commit for every line
                await driver.executemany(statement, [(line_id,) for line_id in lines])
                if rows:
                    statement = write.insert
                    await driver.executemany(statement, rows)
                await driver.commit()
            except BaseException as error:
                # the pool rolls back on return too; this keeps a failed batch from lingering
                # in the connection until then (a cancelled await still ran in the thread)
                with contextlib.suppress(Exception):
                    await driver.rollback()
                if isinstance(error, sqlite3.Error):
                    # raised as SQLAlchemy raises it on the other path (IntegrityError…)
                    raise sa.exc.DBAPIError.instance(
                        statement, None, error, sqlite3.Error
                    ) from error
                raise

    async def load(self, now: dt.datetime) -> list[StoredBinding]:
        async with self.engine.begin() as conn:
            return await load_bindings(conn, now)

    async def drop(self, row_ids: Sequence[int]) -> None:
        async with self.engine.begin() as conn:
            await drop_bindings(conn, row_ids)
