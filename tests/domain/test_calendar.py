"""A stored schedule evaluated with the account's zone and production-calendar overrides."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.dbs import database_fixture
from vpbx.domain.actor import Actor, Role
from vpbx.domain.entities.misc import Account
from vpbx.services.accounts import create_account
from vpbx.services.calendar import schedule_active
from vpbx.services.entities import EntityService
from vpbx.storage.db import make_async_engine

calendar_db_url = database_fixture(migrated=True, name="calendar_db_url")
NOW = dt.datetime(2025, 10, 1, tzinfo=dt.UTC)
WORKDAYS = {
    "name": "Рабочее время",
    "use_production_calendar": True,
    "weekly": [
        {"weekday": d, "intervals": [{"start": "09:00", "end": "18:00"}]} for d in range(1, 6)
    ],
}


@pytest.fixture
async def engine(calendar_db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_async_engine(calendar_db_url)
    yield engine
    await engine.dispose()


async def test_overrides_and_zone_of_the_account_decide(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        account = await create_account(conn, Account(name="A", timezone="Asia/Vladivostok"), NOW)
        svc = EntityService(conn, Actor(Role.ADMIN, account), lambda: NOW)
        schedule = await svc.create("schedules", WORKDAYS)
        schedule_id = schedule.model_dump()["id"]
        # 2025-11-05 01:00 UTC is 11:00 in Vladivostok (inside) and 04:00 in Moscow (outside).
        wednesday = dt.datetime(2025, 11, 5, 1, 0, tzinfo=dt.UTC)
        assert await schedule_active(conn, account, schedule_id, wednesday)
        # 2025-11-04 is a public holiday; 2025-11-01 (Saturday) a transferred working day.
        assert not await schedule_active(
            conn, account, schedule_id, wednesday - dt.timedelta(days=1)
        )
        saturday = dt.datetime(2025, 11, 1, 1, 0, tzinfo=dt.UTC)
        assert await schedule_active(conn, account, schedule_id, saturday)
        await svc.create("calendar-overrides", {"date": "2025-11-05", "working": False})
        await svc.create("calendar-overrides", {"date": "2025-11-04", "working": True})
        assert not await schedule_active(conn, account, schedule_id, wednesday)
        assert await schedule_active(conn, account, schedule_id, wednesday - dt.timedelta(days=1))
