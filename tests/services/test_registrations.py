"""The registrar's stored bindings (`vpbx.services.registrations`), on both databases: the commit
on every REGISTER's path (SQLite: the driver's connection with statements compiled once) writes
exactly the rows `save_bindings` writes, replaces a line's rows, and a failed batch leaves
nothing behind and the next one working."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from vpbx.domain.actor import Actor, Role
from vpbx.domain.entities.misc import Account
from vpbx.services.accounts import create_account
from vpbx.services.entities import EntityService
from vpbx.services.registrations import (
    SqlBindingStorage,
    StoredBinding,
    line_bindings,
    load_bindings,
    save_bindings,
)
from vpbx.storage import tables as t

NOW = dt.datetime(2026, 12, 7, 9, 30, 15, 123456, tzinfo=dt.UTC)


async def _lines(engine: AsyncEngine, count: int) -> list[int]:
    async with engine.begin() as conn:
        account_id = await create_account(conn, Account(name="A"), NOW)
        svc = EntityService(conn, Actor(Role.ADMIN, account_id), lambda: NOW)
        for index in range(count):
            await svc.create(
                "employees",
                {
                    "last_name": f"L{index}",
                    "extension": str(101 + index),
                    "phones": [{"kind": "sip"}],
                },
            )
        rows = await conn.execute(
            sa.select(t.sip_lines.c.id)
            .where(t.sip_lines.c.account_id == account_id)
            .order_by(t.sip_lines.c.id)
        )
        return [int(r) for r in rows.scalars()]


def _bindings(tag: str) -> list[StoredBinding]:
    # a non-UTC expiry on purpose: stored in UTC like any other
    moscow = dt.timezone(dt.timedelta(hours=3))
    return [
        StoredBinding(f"sip:{tag}@10.0.0.5:5062", "Yealink «T46»", "udp:10.0.0.5:5062", NOW),
        StoredBinding(
            f"sip:{tag}@10.0.0.6:5070;transport=tcp",
            "",
            "tcp:10.0.0.6:40001",
            (NOW + dt.timedelta(seconds=3600)).astimezone(moscow),
        ),
    ]


async def _rows(engine: AsyncEngine, line_id: int) -> list[tuple[object, ...]]:
    """What a line's rows hold as stored: untyped SQL, so the driver's own values (on SQLite the
    text of each time stamp, not a datetime parsed back from it)."""
    query = sa.text(
        "SELECT contact, user_agent, source, node, expires_at, updated_at"
        " FROM sip_registrations WHERE sip_line_id = :line ORDER BY id"
    )
    async with engine.connect() as conn:
        return [tuple(row) for row in (await conn.execute(query, {"line": line_id})).all()]


async def test_the_register_path_writes_the_rows_save_bindings_writes(engine: AsyncEngine) -> None:
    one, other, third = await _lines(engine, 3)
    storage = SqlBindingStorage(engine)
    await storage.save({one: _bindings("a"), third: []}, NOW, "node-1")
    async with engine.begin() as conn:
        await save_bindings(conn, {other: _bindings("a")}, NOW, node="node-1")
    assert await _rows(engine, one) == await _rows(engine, other)
    assert len(await _rows(engine, one)) == 2
    assert await _rows(engine, third) == []
    # and they read back the same through every reader
    async with engine.connect() as conn:
        mine = await line_bindings(conn, one, NOW - dt.timedelta(seconds=1))
        theirs = await line_bindings(conn, other, NOW - dt.timedelta(seconds=1))
    assert [(b.contact, b.user_agent, b.source, b.expires_at) for b in mine] == [
        (b.contact, b.user_agent, b.source, b.expires_at) for b in theirs
    ]
    assert [b.expires_at for b in mine] == [NOW, NOW + dt.timedelta(seconds=3600)]


async def test_a_save_replaces_the_lines_rows_and_leaves_other_lines_alone(
    engine: AsyncEngine,
) -> None:
    one, other = await _lines(engine, 2)
    storage = SqlBindingStorage(engine)
    await storage.save({one: _bindings("a"), other: _bindings("b")}, NOW, "")
    later = NOW + dt.timedelta(seconds=60)
    refreshed = [StoredBinding("sip:a@10.0.0.5:5062", "Yealink «T46»", "udp:10.0.0.5:5062", later)]
    await storage.save({one: refreshed}, later, "")
    async with engine.connect() as conn:
        stored = await load_bindings(conn, NOW - dt.timedelta(seconds=1))
    assert sorted((b.line_id, b.contact, b.expires_at) for b in stored) == sorted(
        [(one, "sip:a@10.0.0.5:5062", later)]
        + [(other, b.contact, b.expires_at.astimezone(dt.UTC)) for b in _bindings("b")]
    )
    await storage.save({one: []}, later, "")
    assert await _rows(engine, one) == []
    assert len(await _rows(engine, other)) == 2


async def test_a_failed_batch_writes_nothing_and_the_next_one_is_stored(
    engine: AsyncEngine,
) -> None:
    (one,) = await _lines(engine, 1)
    storage = SqlBindingStorage(engine)
    await storage.save({one: _bindings("old")}, NOW, "")
    # a line deleted meanwhile: its row breaks the foreign key, and the whole batch with it
    with pytest.raises(sa.exc.IntegrityError):
        await storage.save({one: _bindings("new"), one + 1000: _bindings("x")}, NOW, "")
    assert [row[0] for row in await _rows(engine, one)] == [b.contact for b in _bindings("old")]
    await storage.save({one: _bindings("new")}, NOW, "")
    assert [row[0] for row in await _rows(engine, one)] == [b.contact for b in _bindings("new")]
