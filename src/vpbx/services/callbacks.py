"""Callback tasks in the database (CB-1..3, API-1): made from missed calls by the account's rules,
claimed by the switch nodes' schedulers (`vpbx.switch.callbacks`), finished or moved to their
next attempt.

Claiming follows the outbox's pattern (`vpbx.services.outbox`): one transaction leases due rows
to a node (`lease_until`, `lease_owner`); on PostgreSQL they are picked `FOR UPDATE SKIP
LOCKED` and the rules they belong to are locked first, so two nodes neither take the same task
nor exceed a rule's `max_concurrent` between them; SQLite has one writer at a time. A node that
dies mid-attempt leaves a lease that expires (or that its next start releases): the task is
tried again, never lost. A task whose subscriber was reached by other means since it was made
(he called and talked, an employee called him and he answered) is cancelled when claimed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from vpbx.domain.callback_plan import (
    DueTask,
    LeadFacts,
    MissedCall,
    MissedFacts,
    attempt_due,
    first_lead_rule,
    first_rule,
    next_active,
    same_subscriber,
)
from vpbx.domain.entities.callback import (
    CallbackMethod,
    CallbackRule,
    LeadCallbackRule,
    LeadSource,
    TaskStatus,
)
from vpbx.domain.entities.misc import WebhookEvent
from vpbx.domain.schedule import is_active
from vpbx.domain.switch_records import StepRecord
from vpbx.scenario.originate import SESSION_TYPES, Purpose
from vpbx.scenario.record_by_phone import RECORD
from vpbx.scenario.snapshot import ConfigSnapshot
from vpbx.services.webhook_events import CallEvent, enqueue_call_events
from vpbx.storage import tables as t
from vpbx.storage.db import as_utc

__all__ = [
    "CALLAPI",
    "CALLBACK",
    "COMMENT",
    "LEAD",
    "RECORD",
    "SqlCallbackTasks",
    "create_callapi_call",
    "create_lead_task",
    "create_record_call",
]

CALLBACK = "callback"
CALLAPI = "callapi"
#: a web lead's callback (CB-4)
LEAD = "lead"
#: the key of a lead's `payload` that holds the comment it was sent with
COMMENT = "comment"
#: the session types of calls placed by callbacks (they do not count as "reached otherwise"),
#: and of calls that record a sound file (nobody was reached)
_OWN_SESSIONS = ("Автоперезвон", SESSION_TYPES[Purpose.RECORD])
#: asked by HTTP and placed once (never retried): their report row is written by the API
_PLACED_ONCE = (CALLAPI, RECORD)
_ACTIVE = (TaskStatus.PENDING.value, TaskStatus.RUNNING.value)


def schedule_check(
    config: ConfigSnapshot, schedule_id: int | None
) -> Callable[[dt.datetime], bool]:
    """SCH-6: a schedule of the account as a predicate (none, or one not found: always)."""
    if schedule_id is None or schedule_id not in config.schedules:
        return lambda _at: True
    _name, spec = config.schedules[schedule_id]
    return lambda at: is_active(spec, at, config.tz, config.calendar)


def _rule(row: Any) -> CallbackRule:
    return CallbackRule.model_validate({name: row[name] for name in CallbackRule.model_fields})


def _lead_rule(row: Any) -> LeadCallbackRule:
    fields = LeadCallbackRule.model_fields
    return LeadCallbackRule.model_validate({name: row[name] for name in fields})


class SqlCallbackTasks:
    """The task store as the switch's scheduler sees it (each method one short transaction)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    # -- a missed call --------------------------------------------------------------------------

    async def missed(
        self, missed: MissedCall, config: ConfigSnapshot, now: dt.datetime
    ) -> int | None:
        """CB-1: the task of the first matching rule (its id), or None: the master switch is
        off, no rule matches, the rule has no attempt in its horizon, or the subscriber has a
        task already."""
        now = as_utc(now)
        async with self.engine.begin() as conn:
            enabled = await conn.scalar(
                sa.select(t.accounts.c.callback_enabled).where(t.accounts.c.id == missed.account_id)
            )
            if not enabled:
                return None
            rows = (
                (
                    await conn.execute(
                        sa.select(t.callback_rules).where(
                            t.callback_rules.c.account_id == missed.account_id
                        )
                    )
                )
                .mappings()
                .all()
            )
            rules = [(int(row["id"]), _rule(row)) for row in rows]
            found = first_rule(
                rules,
                missed,
                lambda rule: schedule_check(config, rule.rule_schedule_id)(missed.ended_at),
            )
            if found is None:
                return None
            rule_id, rule = found
            due = attempt_due(
                rule.attempt_intervals,
                0,
                as_utc(missed.ended_at),
                schedule_check(config, rule.call_schedule_id),
            )
            if due is None:
                return None
            if await _has_task(conn, missed.account_id, missed.caller, (CALLBACK,)):
                return None
            return await _insert(
                conn,
                account_id=missed.account_id,
                kind=CALLBACK,
                caller=missed.caller,
                due=due,
                now=now,
                rule_id=rule_id,
                call_id=missed.call_id,
                result=f"правило «{rule.name}»: первая попытка",
            )

    # -- the scheduler's side -------------------------------------------------------------------

    async def claim(self, node: str, now: dt.datetime, limit: int, lease: float) -> list[DueTask]:
        """Lease up to `limit` due tasks to `node` (status running, the attempt counted); a
        rule's tasks only up to its `max_concurrent` running at once; tasks of a deleted rule,
        and tasks whose subscriber was reached otherwise, are cancelled instead."""
        if limit <= 0:
            return []
        now = as_utc(now)
        c, r, a = t.callback_tasks, t.callback_rules, t.accounts
        postgres = self.engine.dialect.name == "postgresql"
        due = (
            sa.select(c.c.id, c.c.account_id, c.c.kind, c.c.rule_id, c.c.lead_rule_id)
            .join(a, a.c.id == c.c.account_id)
            .where(
                c.c.status == TaskStatus.PENDING.value,
                c.c.next_attempt_at <= now,
                sa.or_(c.c.lease_until.is_(None), c.c.lease_until <= now),
                # CB-3: the master switch off stops the tasks (kept), the leads' one their tasks
                # (CB-4); CallAPI calls go on
                sa.or_(
                    sa.and_(
                        a.c.callback_enabled.is_(True),
                        sa.or_(c.c.kind.is_(None), c.c.kind == CALLBACK),
                    ),
                    sa.and_(a.c.lead_callback_enabled.is_(True), c.c.kind == LEAD),
                    c.c.kind.in_(_PLACED_ONCE),
                ),
            )
            .order_by(c.c.next_attempt_at, c.c.id)
            .limit(limit * 4)
        )
        if postgres:
            due = due.with_for_update(skip_locked=True, of=c)
        claimed: list[DueTask] = []
        async with self.engine.begin() as conn:
            candidates = (await conn.execute(due)).all()
            rule_ids = sorted({int(row.rule_id) for row in candidates if row.rule_id is not None})
            rules: dict[int, CallbackRule] = {}
            if rule_ids:
                query = sa.select(r).where(r.c.id.in_(rule_ids)).order_by(r.c.id)
                if postgres:
                    query = query.with_for_update(of=r)  # the concurrency count is per rule
                rules = {
                    int(row["id"]): _rule(row) for row in (await conn.execute(query)).mappings()
                }
            running = await _running(conn, c.c.rule_id, rule_ids, now)
            lead_rules = await _lead_rules(conn, candidates, postgres)
            lead_running = await _running(conn, c.c.lead_rule_id, sorted(lead_rules), now)
            chosen: list[int] = []
            gone: list[int] = []
            for row in candidates:
                if len(chosen) >= limit:
                    break
                kind = row.kind or CALLBACK
                if kind == CALLBACK:
                    rule = rules.get(int(row.rule_id)) if row.rule_id is not None else None
                    if rule is None:
                        gone.append(int(row.id))  # CB-3: deleting a rule cancels its tasks
                        continue
                    if running.get(int(row.rule_id), 0) >= rule.max_concurrent:
                        continue
                    running[int(row.rule_id)] = running.get(int(row.rule_id), 0) + 1
                elif kind == LEAD:
                    lead_rule = lead_rules.get(row.lead_rule_id or 0)
                    if lead_rule is None:
                        gone.append(int(row.id))  # CB-4 as CB-3: deleting the rule cancels
                        continue
                    if lead_running.get(lead_rule_id := int(row.lead_rule_id), 0) >= (
                        lead_rule.max_concurrent
                    ):
                        continue
                    lead_running[lead_rule_id] = lead_running.get(lead_rule_id, 0) + 1
                chosen.append(int(row.id))
            if gone:
                await _set_status(conn, gone, TaskStatus.CANCELLED, "правило удалено", now)
            if not chosen:
                return []
            update = (
                sa.update(c)
                .where(c.c.id.in_(chosen))
                .values(
                    status=TaskStatus.RUNNING.value,
                    attempts_made=c.c.attempts_made + 1,
                    lease_until=now + dt.timedelta(seconds=lease),
                    lease_owner=node,
                    updated_at=now,
                )
                .returning(
                    c.c.id,
                    c.c.account_id,
                    c.c.kind,
                    c.c.caller,
                    c.c.attempts_made,
                    c.c.rule_id,
                    c.c.employee_id,
                    c.c.result_call_id,
                    c.c.created_at,
                    c.c.call_id,
                    c.c.lead_rule_id,
                    c.c.lead_id,
                )
            )
            rows = sorted((await conn.execute(update)).all(), key=lambda row: row.id)
            reached: list[int] = []
            for row in rows:
                kind = row.kind or CALLBACK
                if kind in (CALLBACK, LEAD) and await _reached(
                    conn, int(row.account_id), row.caller, as_utc(row.created_at)
                ):
                    reached.append(int(row.id))
                    continue
                claimed.append(
                    DueTask(
                        id=int(row.id),
                        account_id=int(row.account_id),
                        kind=kind,
                        caller=row.caller,
                        attempt=int(row.attempts_made),
                        rule_id=row.rule_id,
                        rule=rules.get(int(row.rule_id)) if row.rule_id is not None else None,
                        employee_id=row.employee_id,
                        result_call_id=row.result_call_id,
                        lead_rule=lead_rules.get(row.lead_rule_id or 0),
                    )
                )
            if reached:
                why = "абонент уже поговорил с компанией: попытки отменены"
                await _set_status(conn, reached, TaskStatus.CANCELLED, why, now)
            claimed = await _own_rows(conn, claimed, node, now)
            claimed = await _recordings(conn, claimed)
            missed_calls = {int(row.id): row.call_id for row in rows if row.call_id is not None}
            claimed = await _missed_facts(conn, claimed, missed_calls)
            leads = {int(row.id): row.lead_id for row in rows if row.lead_id is not None}
            claimed = await _lead_facts(conn, claimed, leads)
        return claimed

    async def renew(self, node: str, ids: Sequence[int], now: dt.datetime, lease: float) -> None:
        """The attempts `node` is still placing keep their leases (a talk longer than the
        lease is not taken for a dead node's and placed again)."""
        if not ids:
            return
        c = t.callback_tasks
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.update(c)
                .where(
                    c.c.id.in_(list(ids)),
                    c.c.lease_owner == node,
                    c.c.status == TaskStatus.RUNNING.value,
                )
                .values(lease_until=as_utc(now) + dt.timedelta(seconds=lease))
            )

    async def finish(
        self,
        task: DueTask,
        talked: bool,
        result: str,
        call_id: int | None,
        config: ConfigSnapshot | None,
        now: dt.datetime,
        *,
        final: bool = False,
    ) -> None:
        """An attempt is over: done when the client talked, else its next attempt at the rule's
        interval after this one, within the callback schedule (the rule as it is now, CB-3),
        or failed when none is left or another could not do better (`final`)."""
        now = as_utc(now)
        c = t.callback_tasks
        values: dict[str, Any] = {
            "lease_until": None,
            "lease_owner": None,
            "updated_at": now,
            "last_result": result[:500],
        }
        if call_id is not None:
            values["result_call_id"] = call_id
        async with self.engine.begin() as conn:
            if talked or final or task.kind != CALLBACK:
                values["status"] = (TaskStatus.DONE if talked else TaskStatus.FAILED).value
            else:
                rule = None
                if task.rule_id is not None:
                    row = (
                        (
                            await conn.execute(
                                sa.select(t.callback_rules).where(
                                    t.callback_rules.c.id == task.rule_id
                                )
                            )
                        )
                        .mappings()
                        .first()
                    )
                    rule = _rule(row) if row is not None else None
                active = (
                    schedule_check(config, rule.call_schedule_id)
                    if config is not None and rule is not None
                    else (lambda _at: True)
                )
                due = (
                    attempt_due(rule.attempt_intervals, task.attempt, now, active)
                    if rule is not None
                    else None
                )
                if due is None:
                    values["status"] = TaskStatus.FAILED.value
                else:
                    values["status"] = TaskStatus.PENDING.value
                    values["next_attempt_at"] = due
            await conn.execute(sa.update(c).where(c.c.id == task.id).values(**values))
            if task.kind in _PLACED_ONCE and call_id is None and task.result_call_id is not None:
                # never placed (no switch call): the row the API answered says so
                k = t.calls
                await conn.execute(
                    sa.update(k)
                    .where(k.c.id == task.result_call_id, k.c.status == "active")
                    .values(status="failed", ended_at=now, updated_at=now)
                )

    async def release(self, node: str, now: dt.datetime) -> int:
        """At a node's start: the attempts its previous run had under way (it died) are due
        again at once, rather than when their leases would have expired. A CallAPI call under
        way is not placed again (its row is closed as interrupted): it failed."""
        c = t.callback_tasks
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.update(c)
                .where(
                    c.c.lease_owner == node,
                    c.c.status == TaskStatus.RUNNING.value,
                    c.c.kind.in_(_PLACED_ONCE),
                )
                .values(
                    status=TaskStatus.FAILED.value,
                    lease_until=None,
                    lease_owner=None,
                    last_result="звонок прерван перезапуском АТС",
                    updated_at=as_utc(now),
                )
            )
        update = (
            sa.update(c)
            .where(c.c.lease_owner == node, c.c.status == TaskStatus.RUNNING.value)
            .values(
                status=TaskStatus.PENDING.value,
                lease_until=None,
                lease_owner=None,
                next_attempt_at=as_utc(now),
                last_result="попытка прервана перезапуском АТС",
                updated_at=as_utc(now),
            )
        )
        async with self.engine.begin() as conn:
            return int((await conn.execute(update)).rowcount or 0)

    async def expire(self, now: dt.datetime) -> int:
        """Running tasks whose lease ran out (their node died): pending again, due now."""
        c = t.callback_tasks
        update = (
            sa.update(c)
            .where(c.c.status == TaskStatus.RUNNING.value, c.c.lease_until <= as_utc(now))
            .values(status=TaskStatus.PENDING.value, lease_until=None, lease_owner=None)
        )
        async with self.engine.begin() as conn:
            return int((await conn.execute(update)).rowcount or 0)

    async def next_due(self, now: dt.datetime) -> dt.datetime | None:
        c = t.callback_tasks
        query = sa.select(sa.func.min(c.c.next_attempt_at)).where(
            c.c.status == TaskStatus.PENDING.value
        )
        async with self.engine.connect() as conn:
            found = (await conn.execute(query)).scalar_one_or_none()
        return None if found is None else as_utc(found)


async def _insert(
    conn: AsyncConnection,
    *,
    account_id: int,
    kind: str,
    caller: str,
    due: dt.datetime,
    now: dt.datetime,
    rule_id: int | None = None,
    call_id: int | None = None,
    lead_rule_id: int | None = None,
    lead_id: int | None = None,
    employee_id: int | None = None,
    result_call_id: int | None = None,
    result: str = "",
    file_name: str | None = None,
    record_seconds: int | None = None,
) -> int:
    values = {
        "account_id": account_id,
        "kind": kind,
        "rule_id": rule_id,
        "lead_rule_id": lead_rule_id,
        "call_id": call_id,
        "lead_id": lead_id,
        "caller": caller,
        "status": TaskStatus.PENDING.value,
        "attempts_made": 0,
        "next_attempt_at": as_utc(due),
        "last_result": result,
        "employee_id": employee_id,
        "result_call_id": result_call_id,
        "lease_until": None,
        "lease_owner": None,
        "file_name": file_name,
        "record_seconds": record_seconds,
        "created_at": now,
        "updated_at": now,
    }
    insert = sa.insert(t.callback_tasks).values(**values).returning(t.callback_tasks.c.id)
    return int((await conn.execute(insert)).scalar_one())


async def _own_rows(
    conn: AsyncConnection, claimed: list[DueTask], node: str, now: dt.datetime
) -> list[DueTask]:
    """The rows of CallAPI's calls and recordings, written by the API, become the claiming
    node's (its restart closes them if it dies during the call); each CallAPI task learns the
    number its request asked to show and, «номер → сценарий», the scenario."""
    rows = [
        task.result_call_id for task in claimed if task.kind in _PLACED_ONCE and task.result_call_id
    ]
    if not rows:
        return claimed
    k = t.calls
    await conn.execute(
        sa.update(k)
        .where(k.c.id.in_(rows), k.c.status == "active")
        .values(node=node, updated_at=now)
    )
    asked = {
        int(row.id): row
        for row in await conn.execute(
            sa.select(k.c.id, k.c.number_id, k.c.scenario_id).where(k.c.id.in_(rows))
        )
    }
    return [
        replace(task, number_id=row.number_id, scenario_id=row.scenario_id)
        if task.kind == CALLAPI and (row := asked.get(task.result_call_id or 0)) is not None
        else task
        for task in claimed
    ]


async def _recordings(conn: AsyncConnection, claimed: list[DueTask]) -> list[DueTask]:
    """Each `record` task learns the sound file's name and the longest recording."""
    ids = [task.id for task in claimed if task.kind == RECORD]
    if not ids:
        return claimed
    c = t.callback_tasks.c
    query = sa.select(c.id, c.file_name, c.record_seconds).where(c.id.in_(ids))
    asked = {int(row.id): row for row in await conn.execute(query)}
    return [
        replace(
            task,
            record_name=asked[task.id].file_name or "",
            record_seconds=asked[task.id].record_seconds or 0,
        )
        if task.id in asked
        else task
        for task in claimed
    ]


#: the details that say whom the missed call rang (`vpbx.scenario.callback_targets`)
_WHOM_STEPS = ("dial", "transfer", "distribution")
_WHOM_METHODS = (CallbackMethod.TRIED, CallbackMethod.LAST_PHASE)


async def _missed_facts(
    conn: AsyncConnection, claimed: list[DueTask], call_ids: dict[int, int]
) -> list[DueTask]:
    """Each callback learns its missed call: the row, and the steps that say whom it rang when
    its rule's method needs them."""
    wanted = {task.id: call_ids[task.id] for task in claimed if task.id in call_ids}
    if not wanted:
        return claimed
    k, s = t.calls, t.call_steps
    rows = {
        int(row.id): row
        for row in await conn.execute(
            sa.select(
                k.c.id, k.c.caller, k.c.called, k.c.started_at, k.c.wait_seconds, k.c.number_id,
                k.c.scenario_id, k.c.contact_name,
            ).where(k.c.id.in_(sorted(set(wanted.values()))))
        )
    }  # fmt: skip
    whom = sorted(
        {
            wanted[task.id]
            for task in claimed
            if task.id in wanted and task.rule is not None and task.rule.how.method in _WHOM_METHODS
        }
    )
    steps: dict[int, list[StepRecord]] = {}
    if whom:
        query = (
            sa.select(s.c.call_id, s.c.at, s.c.kind, s.c.text, s.c.data, s.c.leg)
            .where(s.c.call_id.in_(whom), s.c.kind.in_(_WHOM_STEPS))
            .order_by(s.c.call_id, s.c.seq)
        )
        for step in await conn.execute(query):
            record = StepRecord(as_utc(step.at), step.kind, step.text, dict(step.data or {}))
            steps.setdefault(int(step.call_id), []).append(record)
    out = []
    for task in claimed:
        row = rows.get(wanted.get(task.id, 0))
        if row is None:
            out.append(task)
            continue
        facts = MissedFacts(
            call_id=int(row.id),
            caller=row.caller,
            called=row.called,
            started_at=as_utc(row.started_at),
            wait_seconds=float(row.wait_seconds or 0.0),
            number_id=row.number_id,
            scenario_id=row.scenario_id,
            contact_name=row.contact_name or "",
            steps=tuple(steps.get(int(row.id), ())),
        )
        out.append(replace(task, missed=facts))
    return out


async def _lead_rules(
    conn: AsyncConnection, candidates: Sequence[Any], postgres: bool
) -> dict[int, LeadCallbackRule]:
    """The lead rules of the candidate tasks (locked on PostgreSQL: the concurrency count)."""
    ids = sorted({int(row.lead_rule_id) for row in candidates if row.lead_rule_id is not None})
    if not ids:
        return {}
    r = t.lead_callback_rules
    query = sa.select(r).where(r.c.id.in_(ids)).order_by(r.c.id)
    if postgres:
        query = query.with_for_update(of=r)
    return {int(row["id"]): _lead_rule(row) for row in (await conn.execute(query)).mappings()}


async def _lead_facts(
    conn: AsyncConnection, claimed: list[DueTask], lead_ids: dict[int, int]
) -> list[DueTask]:
    """Each lead's callback learns its lead (the whisper says what it asked)."""
    wanted = {task.id: lead_ids[task.id] for task in claimed if task.id in lead_ids}
    if not wanted:
        return claimed
    k = t.leads
    rows = {
        int(row.id): row
        for row in await conn.execute(
            sa.select(k.c.id, k.c.phone, k.c.source, k.c.name, k.c.site, k.c.payload,
                      k.c.created_at).where(k.c.id.in_(sorted(set(wanted.values()))))
        )
    }  # fmt: skip
    out = []
    for task in claimed:
        row = rows.get(wanted.get(task.id, 0))
        if row is None:
            out.append(task)
            continue
        facts = LeadFacts(
            lead_id=int(row.id),
            phone=row.phone,
            source=LeadSource(row.source),
            arrived_at=as_utc(row.created_at),
            name=row.name or "",
            site=row.site or "",
            comment=str((row.payload or {}).get(COMMENT, "")),
        )
        out.append(replace(task, lead=facts))
    return out


async def _has_task(
    conn: AsyncConnection, account_id: int, caller: str, kinds: Sequence[str]
) -> bool:
    """The subscriber has an open task of these kinds (a missed call or a lead makes no
    second one: a flood of repeats is not a flood of calls)."""
    c = t.callback_tasks
    kind: sa.ColumnElement[bool] = c.c.kind.in_(kinds)
    if CALLBACK in kinds:  # rows made before tasks had kinds are callbacks
        kind = sa.or_(kind, c.c.kind.is_(None))
    query = sa.select(c.c.id).where(
        c.c.account_id == account_id,
        c.c.caller == caller,
        c.c.status.in_(_ACTIVE),
        kind,
    )
    return (await conn.execute(query.limit(1))).first() is not None


async def create_lead_task(
    conn: AsyncConnection,
    lead: LeadFacts,
    account_id: int,
    config: ConfigSnapshot,
    in_segment: Callable[[int], bool],
    now: dt.datetime,
) -> tuple[int | None, str]:
    """CB-4: the task of the first matching lead rule, due at once within the rule's «когда
    перезванивать» schedule (one attempt: the manual gives lead rules no intervals); (its id,
    what happened), or (None, why not)."""
    now = as_utc(now)
    enabled = await conn.scalar(
        sa.select(t.accounts.c.lead_callback_enabled).where(t.accounts.c.id == account_id)
    )
    if not enabled:
        return None, "автоперезвон по заявкам выключен"
    r = t.lead_callback_rules
    rows = (await conn.execute(sa.select(r).where(r.c.account_id == account_id))).mappings()
    rules = [(int(row["id"]), _lead_rule(row)) for row in rows]
    found = first_lead_rule(
        rules,
        lead,
        lambda rule: schedule_check(config, rule.rule_schedule_id)(lead.arrived_at),
        in_segment,
    )
    if found is None:
        return None, "ни одно правило автоперезвона по заявкам не подошло"
    rule_id, rule = found
    due = next_active(now, schedule_check(config, rule.call_schedule_id))
    if due is None:
        return None, f"правило «{rule.name}»: график перезвона не наступит в ближайшие 14 дней"
    if await _has_task(conn, account_id, lead.phone, (CALLBACK, LEAD)):
        return None, "абонент уже ждет перезвона"
    task_id = await _insert(
        conn,
        account_id=account_id,
        kind=LEAD,
        caller=lead.phone,
        due=due,
        now=now,
        lead_rule_id=rule_id,
        lead_id=lead.lead_id,
        result=f"правило «{rule.name}»: заявка #{lead.lead_id}",
    )
    return task_id, f"правило «{rule.name}»"


async def _running(
    conn: AsyncConnection, column: Any, rule_ids: Sequence[int], now: dt.datetime
) -> dict[int, int]:
    if not rule_ids:
        return {}
    c = t.callback_tasks
    query = (
        sa.select(column, sa.func.count())
        .where(
            column.in_(rule_ids),
            c.c.status == TaskStatus.RUNNING.value,
            c.c.lease_until > now,
        )
        .group_by(column)
    )
    return {int(rule): int(n) for rule, n in (await conn.execute(query)).all()}


async def _set_status(
    conn: AsyncConnection, ids: Sequence[int], status: TaskStatus, why: str, now: dt.datetime
) -> None:
    c = t.callback_tasks
    await conn.execute(
        sa.update(c)
        .where(c.c.id.in_(ids))
        .values(
            status=status.value, last_result=why, lease_until=None, lease_owner=None, updated_at=now
        )
    )


async def _reached(
    conn: AsyncConnection, account_id: int, subscriber: str, since: dt.datetime
) -> bool:
    """CB-3: the subscriber talked to the company since `since` outside callbacks: he called
    and was answered, or an employee called him and he answered."""
    k = t.calls
    digits = "".join(ch for ch in subscriber if ch.isdigit())
    tail = digits[-10:] if len(digits) >= 10 else digits
    query = (
        sa.select(k.c.caller, k.c.called, k.c.direction)
        .where(
            k.c.account_id == account_id,
            k.c.started_at >= since,
            k.c.answered_at.is_not(None),
            sa.or_(k.c.session_type.is_(None), k.c.session_type.not_in(_OWN_SESSIONS)),
            sa.or_(k.c.caller.like(f"%{tail}"), k.c.called.like(f"%{tail}")),
        )
        .limit(20)
    )
    for row in (await conn.execute(query)).all():
        other = row.caller if row.direction == "incoming" else row.called
        if same_subscriber(other, subscriber):
            return True
    return False


async def create_callapi_call(
    conn: AsyncConnection,
    *,
    account_id: int,
    employee_id: int | None,
    employee_label: str,
    number: str,
    now: dt.datetime,
    number_id: int | None = None,
    scenario_id: int | None = None,
) -> tuple[int, int]:
    """API-1: the call's report row (status active, session type CallAPI; `number_id`: the
    virtual number asked to be shown; `scenario_id`: «номер → сценарий», the scenario run
    with the client, no employee, `employee_label` the number shown), its `call_started`
    webhook event, and the task that makes a switch node place it, at once; (call id, task
    id). The node that claims the task writes its name on the row (a crash of that node
    closes it as interrupted)."""
    now = as_utc(now)
    call_id = await _active_row(
        conn,
        account_id=account_id,
        session_type="CallAPI",
        caller=employee_label,
        called=number,
        employee_id=employee_id,
        number_id=number_id,
        now=now,
        scenario_id=scenario_id,
    )
    task_id = await _insert(
        conn,
        account_id=account_id,
        kind=CALLAPI,
        caller=number,
        due=now,
        now=now,
        employee_id=employee_id,
        result_call_id=call_id,
        result="CallAPI",
    )
    await enqueue_call_events(
        conn, [CallEvent(account_id, call_id, WebhookEvent.CALL_STARTED)], now
    )
    return call_id, task_id


async def create_record_call(
    conn: AsyncConnection,
    *,
    account_id: int,
    name: str,
    max_seconds: int,
    now: dt.datetime,
    employee_id: int | None = None,
    number: str | None = None,
    label: str = "",
) -> tuple[int, int]:
    """FILE-1 «Записать сообщение»: the report row of the call that records the sound file
    `name` (status active; `label`: the employee or number called), its `call_started` webhook
    event, and the `record` task a switch node claims to place it (the employee, or the outside
    `number`); (call id, task id). Like CallAPI's, the claiming node owns the row."""
    now = as_utc(now)
    call_id = await _active_row(
        conn,
        account_id=account_id,
        session_type=SESSION_TYPES[Purpose.RECORD],
        caller=label,
        called=name[:100],
        employee_id=employee_id,
        number_id=None,
        now=now,
    )
    task_id = await _insert(
        conn,
        account_id=account_id,
        kind=RECORD,
        caller=number or "",
        due=now,
        now=now,
        employee_id=employee_id,
        result_call_id=call_id,
        result=f"запись «{name}»"[:500],
        file_name=name,
        record_seconds=max_seconds,
    )
    await enqueue_call_events(
        conn, [CallEvent(account_id, call_id, WebhookEvent.CALL_STARTED)], now
    )
    return call_id, task_id


async def _active_row(
    conn: AsyncConnection,
    *,
    account_id: int,
    session_type: str,
    caller: str,
    called: str,
    employee_id: int | None,
    number_id: int | None,
    now: dt.datetime,
    scenario_id: int | None = None,
) -> int:
    """The report row of an outgoing call the API asked for, before a node places it."""
    row = {
        "account_id": account_id,
        "started_at": now,
        "answered_at": None,
        "ended_at": None,
        "direction": "outgoing",
        "session_type": session_type,
        "status": "active",
        "caller": caller,
        "called": called,
        "number_id": number_id,
        "scenario_id": scenario_id,
        "employee_id": employee_id,
        "contact_name": "",
        "wait_seconds": 0.0,
        "talk_seconds": 0.0,
        "rating": None,
        "tag_ids": [],
        "recording_file_ids": [],
        "node": None,
        "switch_call_id": None,
        "created_at": now,
        "updated_at": now,
    }
    insert = sa.insert(t.calls).values(**row).returning(t.calls.c.id)
    return int((await conn.execute(insert)).scalar_one())
