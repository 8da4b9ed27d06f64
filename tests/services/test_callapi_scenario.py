"""CallAPI «номер → сценарий» (API-1) in the database, on SQLite and PostgreSQL: the request
writes the row (the scenario, the number shown, no employee) and a `callapi` task; a node claims
it once (with the account's auto-callback off: it was asked by hand), learns the scenario and
the number from the row and owns the row; the plan it places rings the client first and runs
that scenario; a call never placed closes its row as failed."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from vpbx.domain.actor import Actor, Role
from vpbx.domain.entities.misc import Account
from vpbx.domain.entities.routing import VirtualNumber
from vpbx.domain.entities.scenarios import Scenario
from vpbx.scenario.callback_calls import plan_of
from vpbx.scenario.originate import OriginatePlan, Purpose
from vpbx.scenario.snapshot import ConfigSnapshot
from vpbx.services.accounts import create_account
from vpbx.services.callapi import CallApiLimits, CallRequest, start_call
from vpbx.services.callbacks import SqlCallbackTasks
from vpbx.services.entities import EntityService
from vpbx.storage import tables as t

T0 = dt.datetime(2026, 3, 11, 9, 0, tzinfo=dt.UTC)
CLIENT = "79161234567"


async def test_a_scenario_call_is_claimed_once_with_its_scenario_and_number(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        account_id = await create_account(conn, Account(name="A"), T0)  # auto-callback off
        admin = Actor(Role.ADMIN, account_id)
        svc = EntityService(conn, admin, lambda: T0)
        await svc.create("numbers", {"number": "74950000001"})
        scenario = await svc.create(
            "scenarios",
            {"name": "Почта", "entry": "vm", "operations": [{"key": "vm", "kind": "voicemail"}]},
        )
        scenario_id = int(scenario.model_dump()["id"])
        served = await svc.create(
            "numbers", {"number": "74950000002", "rules": [{"scenario_id": scenario_id}]}
        )
        request = CallRequest(scenario_id=scenario_id, number=CLIENT)
        started = await start_call(conn, admin, request, T0, CallApiLimits())
    tasks = SqlCallbackTasks(engine)
    [task] = await tasks.claim("node-a", T0, 5, 60)
    assert await tasks.claim("node-b", T0, 5, 60) == []
    number_id = int(served.model_dump()["id"])
    assert (task.kind, task.caller, task.employee_id) == ("callapi", CLIENT, None)
    assert (task.scenario_id, task.number_id, task.result_call_id) == (
        scenario_id, number_id, started.id,
    )  # fmt: skip
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(t.calls).where(t.calls.c.id == started.id))).one()
    assert (row.node, row.status, row.scenario_id, row.employee_id) == (
        "node-a", "active", scenario_id, None,
    )  # fmt: skip
    number = VirtualNumber.model_validate({"number": "74950000002"})
    voicemail = Scenario.model_validate(
        {"name": "Почта", "entry": "vm", "operations": [{"key": "vm", "kind": "voicemail"}]}
    )
    config = ConfigSnapshot.build(
        numbers=[(number_id, number)], scenarios=[(scenario_id, voicemail)]
    )
    plan = plan_of(task, config, T0)
    assert isinstance(plan, OriginatePlan)
    assert (plan.purpose, plan.scenario_id, plan.caller_id) == (
        Purpose.CALLAPI, scenario_id, "74950000002",
    )  # fmt: skip
    # never placed (the node could not): the task fails and the row the API answered says so
    await tasks.finish(task, False, "сбой", None, None, T0)
    async with engine.connect() as conn:
        status = await conn.scalar(sa.select(t.calls.c.status).where(t.calls.c.id == started.id))
        task_status = await conn.scalar(
            sa.select(t.callback_tasks.c.status).where(t.callback_tasks.c.id == task.id)
        )
    assert (status, task_status) == ("failed", "failed")
