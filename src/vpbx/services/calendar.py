"""The production calendar of an account: the RU calendar with the admin's per-date overrides."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from vpbx.domain.entities.misc import Schedule
from vpbx.domain.schedule import ProductionCalendar, is_active
from vpbx.storage import tables as t


async def account_calendar(conn: AsyncConnection, account_id: int) -> ProductionCalendar:
    query = sa.select(t.calendar_overrides.c.date, t.calendar_overrides.c.working).where(
        t.calendar_overrides.c.account_id == account_id
    )
    overrides = {row.date: bool(row.working) for row in (await conn.execute(query)).all()}
    return ProductionCalendar(overrides)


async def account_zone(conn: AsyncConnection, account_id: int) -> ZoneInfo:
    query = sa.select(t.accounts.c.timezone).where(t.accounts.c.id == account_id)
    return ZoneInfo((await conn.execute(query)).scalar_one())


async def schedule_active(
    conn: AsyncConnection, account_id: int, schedule_id: int, instant: dt.datetime
) -> bool:
    """Whether a stored schedule of the account is active at `instant` (SCH-1..6)."""
    query = sa.select(t.schedules).where(
        t.schedules.c.account_id == account_id, t.schedules.c.id == schedule_id
    )
    row = (await conn.execute(query)).mappings().one()
    spec = Schedule.model_validate({name: row[name] for name in Schedule.model_fields})
    zone = await account_zone(conn, account_id)
    return is_active(spec, instant, zone, await account_calendar(conn, account_id))
