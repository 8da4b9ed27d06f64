"""`vpbx simulate` judges a scenario's forward to a number by the account's toll-fraud guard, as
the live switch does: an international number is not rung and the details say why."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.dbs import database_fixture
from vpbx.domain.actor import Actor, Role
from vpbx.seed import seed_demo
from vpbx.services.entities import EntityService
from vpbx.services.simulate import SimulationRequest, SimulationResult, simulate
from vpbx.storage.db import make_async_engine

WEDNESDAY_10 = dt.datetime(2025, 3, 12, 10, 0, tzinfo=ZoneInfo("Europe/Moscow"))
migrated_db_url = database_fixture(migrated=True, name="migrated_db_url")


def clock() -> dt.datetime:
    return WEDNESDAY_10


@pytest.fixture
async def engine(migrated_db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_async_engine(migrated_db_url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def _forward_to(engine: AsyncEngine, target: str, number: str) -> SimulationResult:
    async with engine.begin() as conn:
        demo = await seed_demo(conn, clock)
        svc = EntityService(conn, Actor(Role.ADMIN, demo.account_id), clock)
        scenario = await svc.create(
            "scenarios",
            {
                "name": "На внешний номер",
                "entry": "out",
                "operations": [{"key": "out", "kind": "forward", "targets": [{"number": target}]}],
            },
        )
        await svc.create(
            "numbers", {"number": number, "rules": [{"scenario_id": scenario.model_dump()["id"]}]}
        )
        return await simulate(svc, SimulationRequest(number, "79161234567", WEDNESDAY_10))


async def test_a_forward_abroad_is_refused_and_a_domestic_one_rings(engine: AsyncEngine) -> None:
    refused = await _forward_to(engine, "442071234567", "74950000091")
    (step,) = [s for s in refused.steps if s.kind == "toll_fraud"]
    assert step.text.startswith("исходящий вызов запрещён: ")
    assert step.data == {"rule": "destination", "e164": "442071234567"}
    assert refused.outcome != "completed"


async def test_a_domestic_forward_is_answered(engine: AsyncEngine) -> None:
    allowed = await _forward_to(engine, "79167654321", "74950000092")
    assert not [s for s in allowed.steps if s.kind == "toll_fraud"]
    assert allowed.outcome == "completed"
