"""FILE-1 «Записать сообщение» in the database, on SQLite and PostgreSQL: a request writes the
call's report row and a `record` task; a node claims it once with the file's name and longest
length (even with the account's auto-callback switched off) and owns the row; the state read
back follows the task (pending, calling, recorded with the file the call's row links, failed
with the outcome and reason); a node's restart fails a recording it had under way; a task never
placed closes its row; record tasks are not «Задачи автоперезвона»."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from vpbx.domain.actor import Actor, Role
from vpbx.domain.entities.misc import Account, FileKind
from vpbx.domain.errors import Conflict, Forbidden, NotFound, ValidationFailed
from vpbx.scenario.snapshot import ConfigSnapshot
from vpbx.services.accounts import create_account
from vpbx.services.callapi import TooManyCalls
from vpbx.services.callbacks import SqlCallbackTasks
from vpbx.services.entities import EntityService
from vpbx.services.file_store import save_recording
from vpbx.services.record_by_phone import (
    RecordingRequest,
    RecordingState,
    RecordLimits,
    get_recording,
    start_recording,
)
from vpbx.storage import tables as t

T0 = dt.datetime(2026, 3, 11, 9, 0, tzinfo=dt.UTC)
LIMITS = RecordLimits(per_minute=3)


async def _account(engine: AsyncEngine, callbacks: bool = True) -> tuple[Actor, int]:
    async with engine.begin() as conn:
        account_id = await create_account(conn, Account(name="A"), T0)
        await conn.execute(
            sa.update(t.accounts)
            .where(t.accounts.c.id == account_id)
            .values(callback_enabled=callbacks)
        )
        admin = Actor(Role.ADMIN, account_id)
        svc = EntityService(conn, admin, lambda: T0)
        employee = await svc.create(
            "employees", {"last_name": "E", "extension": "101", "phones": [{"kind": "sip"}]}
        )
        return admin, int(employee.model_dump()["id"])


async def _start(engine: AsyncEngine, who: Actor, at: dt.datetime = T0, **body: Any) -> Any:
    async with engine.begin() as conn:
        return await start_recording(conn, who, RecordingRequest(**body), at, LIMITS)


async def _read(engine: AsyncEngine, who: Actor, recording_id: int) -> Any:
    async with engine.connect() as conn:
        return await get_recording(conn, who, recording_id)


def _wav(path: Path, seconds: float) -> Path:
    samples = (np.sin(np.arange(int(8000 * seconds)) / 8000 * 2 * np.pi * 440) * 8000).astype(
        np.int16
    )
    soundfile.write(path, samples, 8000, subtype="PCM_16")
    return path


async def test_a_request_is_claimed_once_and_ends_recorded_with_its_file(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    # the account's auto-callback is off: recordings are asked for by hand, they still run
    admin, employee_id = await _account(engine, callbacks=False)
    started = await _start(engine, admin, name="Приветствие", employee_id=employee_id)
    assert started.status is RecordingState.PENDING
    assert (started.employee_id, started.number, started.max_seconds) == (employee_id, None, 120)
    assert (started.file_id, started.outcome, started.reason) == (None, None, "")
    async with engine.connect() as conn:
        row = (
            (await conn.execute(sa.select(t.calls).where(t.calls.c.id == started.call_id)))
            .mappings()
            .one()
        )
    assert (row["status"], row["session_type"], row["direction"]) == (
        "active",
        "Запись сообщения",
        "outgoing",
    )
    assert (row["caller"], row["called"], row["employee_id"]) == ("101", "Приветствие", employee_id)

    tasks = SqlCallbackTasks(engine)
    [task] = await tasks.claim("node-a", T0, 5, 60)
    assert (task.id, task.kind, task.employee_id) == (started.id, "record", employee_id)
    assert (task.record_name, task.record_seconds) == ("Приветствие", 120)
    assert task.result_call_id == started.call_id
    assert await tasks.claim("node-b", T0, 5, 60) == []
    assert (await _read(engine, admin, started.id)).status is RecordingState.CALLING
    async with engine.connect() as conn:
        node = await conn.scalar(sa.select(t.calls.c.node).where(t.calls.c.id == started.call_id))
    assert node == "node-a"  # its restart closes the row

    # the switch files the recording, the call's row links it, then the attempt is finished
    async with engine.begin() as conn:
        file_id = await save_recording(
            conn,
            tmp_path,
            admin.account_id or 0,
            FileKind.SOUND,
            _wav(tmp_path / "work.wav", 3.0),
            name="Приветствие",
            caller="101",
            called="",
            employee_id=employee_id,
            number_id=None,
            now=T0,
            call_id=started.call_id,
        )
    await tasks.finish(task, True, "recorded: записано 3.0 с", started.call_id, None, T0)
    done = await _read(engine, admin, started.id)
    assert done.status is RecordingState.RECORDED
    assert (done.file_id, done.outcome, done.reason) == (file_id, "recorded", "")


async def test_failures_read_back_with_outcome_and_reason(engine: AsyncEngine) -> None:
    admin, employee_id = await _account(engine)
    tasks = SqlCallbackTasks(engine)
    config = ConfigSnapshot.build()
    started = await _start(engine, admin, name="Меню", number="79161234567", max_seconds=30)
    assert (started.number, started.employee_id, started.max_seconds) == ("79161234567", None, 30)
    [task] = await tasks.claim("node-a", T0, 5, 60)
    assert (task.caller, task.employee_id) == ("79161234567", None)
    await tasks.finish(
        task, False, "employee_no_answer: номер 79161234567 не ответил (SIP 486)", 5, config, T0
    )
    failed = await _read(engine, admin, started.id)
    assert failed.status is RecordingState.FAILED
    assert failed.outcome == "employee_no_answer"
    assert failed.reason == "номер 79161234567 не ответил (SIP 486)"
    assert failed.file_id is None
    # a recording is placed once: no next attempt
    assert await tasks.claim("node-a", T0 + dt.timedelta(hours=1), 5, 60) == []

    # never placed (the scheduler could not): the row the API answered says so
    other = await _start(engine, admin, name="Другое", employee_id=employee_id)
    [task] = await tasks.claim("node-a", T0, 5, 60)
    await tasks.finish(task, False, "сбой: boom", None, config, T0)
    async with engine.connect() as conn:
        status = await conn.scalar(sa.select(t.calls.c.status).where(t.calls.c.id == other.call_id))
    assert status == "failed"
    again = await _read(engine, admin, other.id)
    assert (again.status, again.outcome, again.reason) == (
        RecordingState.FAILED,
        "failed",
        "сбой: boom",
    )


async def test_a_restart_fails_a_recording_under_way_instead_of_calling_again(
    engine: AsyncEngine,
) -> None:
    admin, employee_id = await _account(engine)
    tasks = SqlCallbackTasks(engine)
    started = await _start(engine, admin, name="Приветствие", employee_id=employee_id)
    await tasks.claim("node-a", T0, 5, 60)
    await tasks.release("node-a", T0 + dt.timedelta(seconds=5))
    assert await tasks.claim("node-a", T0 + dt.timedelta(seconds=6), 5, 60) == []
    gone = await _read(engine, admin, started.id)
    assert gone.status is RecordingState.FAILED
    assert "перезапуском" in gone.reason


async def test_refusals_roles_one_at_a_time_and_the_limit(engine: AsyncEngine) -> None:
    admin, employee_id = await _account(engine)
    other_admin, other_employee = await _account(engine)
    with pytest.raises(ValidationFailed) as unknown:
        await _start(engine, admin, name="x", employee_id=other_employee)  # B's employee
    assert unknown.value.violations[0].field == "employee_id"
    for refused in ("78091234567", "441234567890"):  # premium-rate, international
        with pytest.raises(ValidationFailed) as toll:
            await _start(engine, admin, name="x", number=refused)
        assert (toll.value.violations[0].field, toll.value.violations[0].error_id) == (
            "number",
            "toll_fraud_refused",
        )
    for role in (Role.SUPERVISOR, Role.EMPLOYEE):
        with pytest.raises(Forbidden):
            await _start(engine, Actor(role, admin.account_id), name="x", employee_id=employee_id)
    operator = Actor(Role.OPERATOR, admin.account_id)
    first = await _start(engine, operator, name="Оператор", employee_id=employee_id)
    with pytest.raises(Conflict) as busy:  # the same phone while the first is pending
        await _start(engine, admin, name="Ещё", employee_id=employee_id)
    assert busy.value.field == "employee_id"
    # another account's request is not found, and the supervisor may not read it
    with pytest.raises(NotFound):
        await _read(engine, other_admin, first.id)
    with pytest.raises(Forbidden):
        await _read(engine, Actor(Role.SUPERVISOR, admin.account_id), first.id)
    # the limit per minute (3 here): the fourth is refused, another account is not limited
    await _start(engine, admin, name="1", number="79160000001")
    await _start(engine, admin, name="2", number="79160000002")
    with pytest.raises(TooManyCalls) as flood:
        await _start(engine, admin, name="3", number="79160000003")
    assert 1 <= flood.value.retry_after <= 60
    assert "записей сообщений по телефону" in flood.value.message
    await _start(engine, other_admin, name="B", employee_id=other_employee)
    # a minute later there is room again
    await _start(engine, admin, T0 + dt.timedelta(seconds=61), name="4", number="79160000004")


async def test_record_tasks_are_not_callback_tasks(engine: AsyncEngine) -> None:
    admin, employee_id = await _account(engine)
    started = await _start(engine, admin, name="Приветствие", employee_id=employee_id)
    async with engine.connect() as conn:
        svc = EntityService(conn, admin, lambda: T0)
        assert (await svc.page("callback-tasks")).total == 0
        assert not await svc.exists("callback-tasks", started.id)
        with pytest.raises(NotFound):
            await svc.get("callback-tasks", started.id)
