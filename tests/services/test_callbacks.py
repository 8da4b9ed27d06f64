"""Callback tasks in the database (CB-1..3) on SQLite and PostgreSQL: made by the first matching
rule, claimed once under a lease within the rule's `max_concurrent`, moved to the next interval
after a failed attempt, cancelled when the subscriber talked to the company meanwhile, released
at a node's restart."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from vpbx.domain.actor import Actor, Role
from vpbx.domain.callback_plan import LeadFacts, MissedCall
from vpbx.domain.entities.callback import LeadSource
from vpbx.domain.entities.misc import Account
from vpbx.domain.switch_records import StepRecord
from vpbx.scenario.callback_calls import plan_of
from vpbx.scenario.callback_targets import NOBODY_TRIED, tried_callees
from vpbx.scenario.originate import OriginatePlan
from vpbx.scenario.snapshot import ConfigSnapshot
from vpbx.services.accounts import create_account
from vpbx.services.callbacks import COMMENT, SqlCallbackTasks, create_lead_task
from vpbx.services.entities import EntityService
from vpbx.storage import tables as t

T0 = dt.datetime(2026, 3, 11, 9, 0, tzinfo=dt.UTC)
CLIENT = "79161112233"


async def _account(engine: AsyncEngine) -> tuple[int, int]:
    async with engine.begin() as conn:
        account_id = await create_account(conn, Account(name="A"), T0)
        svc = EntityService(conn, Actor(Role.ADMIN, account_id), lambda: T0)
        employee = await svc.create(
            "employees", {"last_name": "E", "extension": "101", "phones": [{"kind": "sip"}]}
        )
        await svc.create(
            "callback-rules",
            {
                "name": "later",
                "position": 5,
                "how": {"method": "employee", "employee_id": employee.model_dump()["id"]},
            },
        )
        first = await svc.create(
            "callback-rules",
            {
                "name": "first",
                "position": 1,
                "how": {"method": "employee", "employee_id": employee.model_dump()["id"]},
                "attempt_intervals": [10, 60],
                "max_concurrent": 1,
            },
        )
        return account_id, first.model_dump()["id"]


async def test_a_missed_call_makes_one_task_claimed_once_then_retried_then_failed(
    engine: AsyncEngine,
) -> None:
    account_id, rule_id = await _account(engine)
    tasks = SqlCallbackTasks(engine)
    config = ConfigSnapshot.build()
    missed = MissedCall(account_id, None, CLIENT, T0, wait_seconds=5)
    task_id = await tasks.missed(missed, config, T0)
    assert task_id is not None
    assert await tasks.missed(missed, config, T0) is None  # one open task per subscriber
    assert await tasks.claim("a", T0, 5, 60) == []  # due in 10 s
    assert await tasks.next_due(T0) == T0 + dt.timedelta(seconds=10)
    later = T0 + dt.timedelta(seconds=11)
    [task] = await tasks.claim("a", later, 5, 60)
    assert (task.id, task.rule_id, task.attempt, task.caller) == (task_id, rule_id, 1, CLIENT)
    assert await tasks.claim("b", later, 5, 60) == []  # leased to node a
    await tasks.finish(task, False, "client_no_answer", None, config, later)
    assert await tasks.claim("a", later + dt.timedelta(seconds=30), 5, 60) == []
    [again] = await tasks.claim("a", later + dt.timedelta(seconds=61), 5, 60)
    assert again.attempt == 2
    await tasks.finish(again, False, "client_no_answer", None, config, later)
    async with engine.connect() as conn:
        status = await conn.scalar(sa.select(t.callback_tasks.c.status))
    assert status == "failed"  # both intervals used


async def test_concurrency_restart_and_a_subscriber_reached_otherwise(engine: AsyncEngine) -> None:
    account_id, _rule_id = await _account(engine)
    tasks = SqlCallbackTasks(engine)
    config = ConfigSnapshot.build()
    for index in range(3):
        missed = MissedCall(account_id, None, f"7916111000{index}", T0, wait_seconds=5)
        assert await tasks.missed(missed, config, T0) is not None
    due = T0 + dt.timedelta(seconds=20)
    claimed = await tasks.claim("a", due, 5, 60)
    assert len(claimed) == 1  # max_concurrent 1 for the rule
    assert await tasks.claim("b", due, 5, 60) == []
    # node a dies and comes back: its attempt is due again at once, once
    assert await tasks.release("a", due) == 1
    async with engine.connect() as conn:
        status = await conn.scalar(
            sa.select(t.callback_tasks.c.status).where(t.callback_tasks.c.id == claimed[0].id)
        )
    assert status == "pending"
    [retried] = await tasks.claim("a", due, 5, 60)  # still one at a time for the rule
    await tasks.finish(retried, True, "talked", None, config, due)
    # the other subscribers talked to the company in between (one called back, one was
    # called by an employee): their tasks are cancelled when claimed, never placed
    others = [c for c in (f"7916111000{i}" for i in range(3)) if c != retried.caller]
    async with engine.begin() as conn:
        for number, direction in zip(others, ("incoming", "outgoing"), strict=True):
            caller, called = ("8" + number[1:], "74950000001")
            if direction == "outgoing":
                caller, called = called, number
            await conn.execute(
                sa.insert(t.calls).values(
                    account_id=account_id, started_at=due, answered_at=due, ended_at=due,
                    direction=direction, session_type="scenario", status="answered",
                    caller=caller, called=called, contact_name="", wait_seconds=1.0,
                    talk_seconds=30.0, tag_ids=[], recording_file_ids=[], created_at=due,
                    updated_at=due,
                )
            )  # fmt: skip
    assert await tasks.claim("a", due, 5, 60) == []
    assert await tasks.claim("a", due, 5, 60) == []
    async with engine.connect() as conn:
        rows = dict(
            (await conn.execute(sa.select(t.callback_tasks.c.caller, t.callback_tasks.c.status)))
            .tuples()
            .all()
        )
    assert [rows[o] for o in others] == ["cancelled", "cancelled"]
    assert rows[retried.caller] == "done"


async def _missed_call_row(engine: AsyncEngine, account_id: int, steps: list[StepRecord]) -> int:
    """A missed call's report row and its details, as the call store writes them."""
    async with engine.begin() as conn:
        call_id = (
            await conn.execute(
                sa.insert(t.calls).values(
                    account_id=account_id, started_at=T0, answered_at=None, ended_at=T0,
                    direction="incoming", session_type="scenario", status="missed",
                    caller=CLIENT, called="74950000001", contact_name="Петров", wait_seconds=12.0,
                    talk_seconds=0.0, tag_ids=[], recording_file_ids=[], created_at=T0,
                    updated_at=T0,
                ).returning(t.calls.c.id)
            )
        ).scalar_one()  # fmt: skip
        await conn.execute(
            sa.insert(t.call_steps),
            [
                {"call_id": call_id, "seq": seq, "at": step.at, "leg": "", "kind": step.kind,
                 "text": step.text, "data": step.data}
                for seq, step in enumerate(steps, 1)
            ],
        )  # fmt: skip
    return int(call_id)


async def test_a_tried_task_reads_whom_the_missed_call_rang_and_fails_when_nobody(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        account_id = await create_account(conn, Account(name="A"), T0)
        svc = EntityService(conn, Actor(Role.ADMIN, account_id), lambda: T0)
        staff = [
            (
                await svc.create(
                    "employees",
                    {"last_name": f"E{i}", "extension": f"10{i}", "phones": [{"kind": "sip"}]},
                )
            ).model_dump()
            for i in (1, 2)
        ]
        await svc.create(
            "callback-rules",
            {"name": "tried", "how": {"method": "tried"}, "attempt_intervals": [0, 0]},
        )
    ids = [(e["id"], e["phones"][0]["id"]) for e in staff]
    offered = [
        StepRecord(T0, "distribution", "звонок предложен",
                   {"kind": "offered", "employee_id": e, "phone_id": p})
        for e, p in ids
    ]  # fmt: skip
    steps = [
        StepRecord(T0, "arrived", "входящий звонок", {}),
        StepRecord(T0, "dial", "переадресация", {"operation": "fwd", "group_ids": []}),
        *offered,
        StepRecord(T0, "caller_hangup", "абонент положил трубку", {}),
    ]
    call_id = await _missed_call_row(engine, account_id, steps)
    tasks = SqlCallbackTasks(engine)
    config = ConfigSnapshot.build()
    missed = MissedCall(account_id, call_id, CLIENT, T0, wait_seconds=12)
    assert await tasks.missed(missed, config, T0) is not None
    [task] = await tasks.claim("a", T0, 5, 60)
    assert task.missed is not None
    assert (task.missed.call_id, task.missed.called, task.missed.contact_name) == (
        call_id, "74950000001", "Петров",
    )  # fmt: skip
    assert task.missed.wait_seconds == 12.0
    # only the steps that say whom it rang, in order, with their data
    assert [s.kind for s in task.missed.steps] == ["dial", "distribution", "distribution"]
    assert [s.data["employee_id"] for s in task.missed.steps[1:]] == [i for i, _ in ids]
    assert tried_callees(task.missed.steps, task.attempt, config).phones == (ids[0],)
    await tasks.finish(task, False, "employee_no_answer", None, config, T0)
    [again] = await tasks.claim("a", T0, 5, 60)
    assert again.missed is not None
    assert tried_callees(again.missed.steps, again.attempt, config).phones == tuple(ids)
    await tasks.finish(again, True, "talked", None, config, T0)

    # a call that rang nobody: the attempt is not placed and the task fails at once
    other = "79160000077"
    empty = await _missed_call_row(engine, account_id, steps[:1])
    async with engine.begin() as conn:
        await conn.execute(sa.update(t.calls).where(t.calls.c.id == empty).values(caller=other))
    assert await tasks.missed(MissedCall(account_id, empty, other, T0, 3), config, T0)
    [lonely] = [c for c in await tasks.claim("a", T0, 5, 60) if c.caller == other]
    assert lonely.missed is not None
    assert lonely.missed.steps == ()
    assert tried_callees(lonely.missed.steps, 1, config).why == NOBODY_TRIED
    await tasks.finish(lonely, False, NOBODY_TRIED, None, config, T0, final=True)
    async with engine.connect() as conn:
        row = (
            (
                await conn.execute(
                    sa.select(t.callback_tasks).where(t.callback_tasks.c.caller == other)
                )
            )
            .mappings()
            .one()
        )
    assert (row["status"], row["last_result"], row["attempts_made"]) == (
        "failed", NOBODY_TRIED, 1,
    )  # fmt: skip


async def _lead(
    engine: AsyncEngine, account_id: int, phone: str, config: ConfigSnapshot
) -> int | None:
    """A lead stored and handed to the lead rules, as `POST /leads/incoming` does."""
    async with engine.begin() as conn:
        svc = EntityService(conn, Actor(Role.ADMIN, account_id), lambda: T0)
        payload = {"source": "custom", "phone": phone, "name": "Пётр", "site": "example.ru",
                   "payload": {COMMENT: "после обеда"}}  # fmt: skip
        lead_id = (await svc.create("leads", payload)).model_dump()["id"]
        facts = LeadFacts(lead_id, phone, LeadSource.CUSTOM, T0, "Пётр", "example.ru",
                          "после обеда")  # fmt: skip
        task_id, _why = await create_lead_task(conn, facts, account_id, config, lambda _s: False,
                                               T0)  # fmt: skip
        return task_id


async def test_lead_tasks_are_claimed_within_their_rule_and_switch_and_tried_once(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        account_id = await create_account(conn, Account(name="A"), T0)
        svc = EntityService(conn, Actor(Role.ADMIN, account_id), lambda: T0)
        employee = (
            await svc.create(
                "employees", {"last_name": "E", "extension": "101", "phones": [{"kind": "sip"}]}
            )
        ).model_dump()
        rule = (
            await svc.create(
                "lead-callback-rules",
                {"name": "Заявки", "how": {"method": "employee", "employee_id": employee["id"]},
                 "whisper": {"call_data": True}},
            )
        ).model_dump()  # fmt: skip
    tasks = SqlCallbackTasks(engine)
    config = ConfigSnapshot.build()
    first = await _lead(engine, account_id, CLIENT, config)
    second = await _lead(engine, account_id, "79160000002", config)
    assert first is not None
    assert second is not None
    assert await _lead(engine, account_id, CLIENT, config) is None  # he waits already
    # the account's lead callback switched off: nothing is claimed, the tasks are kept
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(t.accounts).where(t.accounts.c.id == account_id)
            .values(lead_callback_enabled=False)
        )  # fmt: skip
    assert await tasks.claim("a", T0, 5, 60) == []
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(t.accounts).where(t.accounts.c.id == account_id)
            .values(lead_callback_enabled=True, callback_enabled=False)
        )  # fmt: skip
    # the missed calls' switch does not stop leads; the rule's max_concurrent (1) does
    [task] = await tasks.claim("a", T0, 5, 60)
    assert (task.id, task.kind, task.caller) == (first, "lead", CLIENT)
    assert task.lead_rule is not None
    assert task.lead_rule.name == "Заявки"
    assert task.lead is not None
    assert (task.lead.name, task.lead.site, task.lead.comment) == ("Пётр", "example.ru",
                                                                  "после обеда")  # fmt: skip
    assert await tasks.claim("b", T0, 5, 60) == []
    plan = plan_of(task, config, T0)
    assert isinstance(plan, OriginatePlan)
    assert plan.employee_id == employee["id"]
    assert plan.whisper_text.startswith("Автоперезвон по заявкам. Заявка с сайта example.ru, Пётр")
    # one attempt: not reached, the task fails; the next lead's turn
    await tasks.finish(task, False, "client_no_answer", None, config, T0)
    [next_task] = await tasks.claim("a", T0, 5, 60)
    assert next_task.id == second
    await tasks.release("a", T0)
    # deleting the rule cancels its tasks (CB-4 as CB-3)
    async with engine.begin() as conn:
        svc = EntityService(conn, Actor(Role.ADMIN, account_id), lambda: T0)
        await svc.delete("lead-callback-rules", rule["id"])
    assert await tasks.claim("a", T0, 5, 60) == []
    async with engine.connect() as conn:
        rows = dict(
            (await conn.execute(sa.select(t.callback_tasks.c.id, t.callback_tasks.c.status)))
            .tuples()
            .all()
        )
    assert rows == {first: "failed", second: "cancelled"}
