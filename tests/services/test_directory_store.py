"""The switch's configuration reads (`vpbx.services.directory_store`), on both databases: many
lines in one read give what one-line reads give, unknown logins left out, however many asked."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from vpbx.domain.actor import Actor, Role
from vpbx.domain.entities.misc import Account
from vpbx.services.accounts import create_account
from vpbx.services.directory_store import SqlDirectorySource
from vpbx.services.entities import EntityService
from vpbx.storage import tables as t

NOW = dt.datetime(2026, 12, 7, 9, 30, tzinfo=dt.UTC)


async def _logins(engine: AsyncEngine, count: int) -> list[str]:
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
        lines = t.sip_lines
        # one line limited to an office network, one requiring SRTP: every field travels
        ids = list((await conn.execute(sa.select(lines.c.id).order_by(lines.c.id))).scalars())
        first, second = ids[0], ids[1]
        await conn.execute(
            sa.update(lines).where(lines.c.id == first).values(allowed_addresses=["10.0.0.0/8"])
        )
        await conn.execute(sa.update(lines).where(lines.c.id == second).values(encryption="srtp"))
        rows = await conn.execute(sa.select(lines.c.login).order_by(lines.c.id))
        return [str(login) for login in rows.scalars()]


async def test_many_lines_in_one_read_are_the_one_line_reads(engine: AsyncEngine) -> None:
    logins = await _logins(engine, 3)
    source = SqlDirectorySource(engine)
    # more logins than one IN list holds, nearly all unknown, the real ones among them
    asked = [f"x{i}" for i in range(1200)]
    asked[7], asked[600], asked[1199] = logins
    found = await source.lines(asked)
    assert sorted(found) == sorted(logins)
    for login in logins:
        assert found[login] == await source.line(login)
    assert found[logins[0]].allowed_addresses == ("10.0.0.0/8",)
    assert found[logins[1]].encryption == "srtp"
    assert await source.lines([]) == {}
    assert await source.lines(["nobody"]) == {}
