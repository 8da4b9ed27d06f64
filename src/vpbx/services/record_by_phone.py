"""FILE-1 «Записать сообщение»: a sound file recorded by phone, asked for by HTTP.

The admin names the file and whom the PBX calls: an employee of the account (his phones, as
the originator rings an employee) or an outside number (through the trunk, if the account's
toll-fraud policy lets it go there). `start_recording` checks the request the way the switch
would judge the call (422 naming the field), refuses a second request to the same phone while
one is under way (409) and more than the account's recordings per minute (429, counted on the
calls table as CallAPI's calls are), then writes the call's report row, its `call_started`
webhook event and a `record` task in the request's transaction
(`vpbx.services.callbacks.create_record_call`). A switch node's scheduler claims the task
within a second and places the call (`vpbx.scenario.record_by_phone`): the recording becomes a
«Звуковые файлы» entry of the account, linked to that report row.

The task is the request's state (`get_recording`): pending until claimed, calling while the
call lasts, then recorded (with the file's id) or failed (with the reason).
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy.ext.asyncio import AsyncConnection

from vpbx.domain.actor import Actor
from vpbx.domain.entities.callback import TaskStatus
from vpbx.domain.entities.misc import FileKind
from vpbx.domain.entities.scenarios import DEFAULT_RECORD_SECONDS, RecordSeconds
from vpbx.domain.errors import Conflict, Forbidden, NotFound, ValidationFailed
from vpbx.domain.fields import Name, PhoneNumber
from vpbx.domain.toll_fraud import destination_refusal
from vpbx.scenario.originate import SESSION_TYPES, Outcome, Purpose
from vpbx.scenario.record_by_phone import RECORD
from vpbx.services.callapi import check_rate, destination_policy
from vpbx.services.callbacks import create_record_call
from vpbx.services.catalog import BY_NAME
from vpbx.storage import tables as t
from vpbx.storage.db import as_utc

__all__ = [
    "PhoneRecording",
    "RecordLimits",
    "RecordingRequest",
    "RecordingState",
    "RecordingUnderWay",
    "get_recording",
    "start_recording",
]

#: what a missing (or another account's) request is called in a 404
RESOURCE = "recordings-by-phone"
SESSION_TYPE = SESSION_TYPES[Purpose.RECORD]
_ACTIVE = (TaskStatus.PENDING.value, TaskStatus.RUNNING.value)


@dataclass(frozen=True, slots=True)
class RecordLimits:
    #: recordings by phone an account may ask for per minute (0: none)
    per_minute: int = 10


class RecordingRequest(BaseModel):
    """FILE-1 «Записать сообщение»: the file's name and whom the PBX calls to record it."""

    model_config = ConfigDict(extra="forbid")

    name: Name = Field(description="the sound file's name in «Звуковые файлы»")
    employee_id: Annotated[int, Field(ge=1, le=2**53)] | None = Field(
        default=None, description="the employee called (all his phones, as a call to him rings)"
    )
    number: PhoneNumber | None = Field(
        default=None,
        description="an outside number called through the trunk instead (the toll-fraud "
        "policy applies)",
    )
    max_seconds: RecordSeconds = Field(
        default=DEFAULT_RECORD_SECONDS,
        description="the longest recording, in seconds (the voicemail's limits: 5 to 600)",
    )

    @field_validator("name")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("the name must not be blank / название не может быть пустым")
        return value

    @model_validator(mode="after")
    def _one_target(self) -> RecordingRequest:
        if (self.employee_id is None) == (self.number is None):
            raise ValueError("name whom to call by exactly one of employee_id and number")
        return self


class RecordingState(enum.StrEnum):
    PENDING = "pending"  # no switch node has taken it yet
    CALLING = "calling"  # the call is under way
    RECORDED = "recorded"  # the sound file is in the file base (`file_id`)
    FAILED = "failed"  # not answered, busy, refused, nothing recorded (`reason`)


class PhoneRecording(BaseModel):
    """A recording by phone and how far it got."""

    id: int
    status: RecordingState
    name: str
    employee_id: int | None
    number: str | None
    max_seconds: int
    call_id: int | None = Field(description="the call's row in the calls report")
    file_id: int | None = Field(description="the sound file, once recorded")
    outcome: str | None = Field(
        description="how the call ended: recorded, employee_no_answer, employee_left, refused, "
        "nothing_recorded, failed (None while it lasts)"
    )
    reason: str = Field(description="why it failed, in words (the call details say more)")
    created_at: dt.datetime
    updated_at: dt.datetime


def _may(who: Actor) -> int:
    """The account of an actor who may record sound files (who may upload them)."""
    if who.account_id is None:
        raise Forbidden("no account chosen (operators pass X-Account-Id)")
    if who.role not in BY_NAME["files"].writable_by:
        raise Forbidden(f"role {who.role.value} may not record sound files")
    return who.account_id


async def start_recording(
    conn: AsyncConnection,
    who: Actor,
    request: RecordingRequest,
    now: dt.datetime,
    limits: RecordLimits,
) -> PhoneRecording:
    account_id = _may(who)
    now = as_utc(now)
    await check_rate(
        conn,
        account_id,
        now,
        limits.per_minute,
        SESSION_TYPE,
        ("записей сообщений по телефону", "recordings by phone"),
    )
    label = request.number or ""
    if request.employee_id is not None:
        label = await _employee(conn, account_id, request.employee_id)
    else:
        assert request.number is not None
        refusal = destination_refusal(await destination_policy(conn, account_id), request.number)
        if refusal is not None:
            raise ValidationFailed.one("number", refusal.text, "toll_fraud_refused")
    await _none_under_way(conn, account_id, request)
    _call_id, task_id = await create_record_call(
        conn,
        account_id=account_id,
        name=request.name,
        max_seconds=request.max_seconds,
        now=now,
        employee_id=request.employee_id,
        number=request.number,
        label=label,
    )
    return await _read(conn, account_id, task_id)


async def get_recording(conn: AsyncConnection, who: Actor, recording_id: int) -> PhoneRecording:
    return await _read(conn, _may(who), recording_id)


async def _employee(conn: AsyncConnection, account_id: int, employee_id: int) -> str:
    """How the report names the employee (his extension or last name); 422 when he is not of
    the account (every employee has a phone: EMP-1)."""
    e = t.employees.c
    query = sa.select(e.extension, e.last_name).where(
        e.account_id == account_id, e.id == employee_id
    )
    row = (await conn.execute(query)).first()
    if row is None:
        raise ValidationFailed.one(
            "employee_id", "no such employee in the account", "unknown_employee"
        )
    return str(row.extension or row.last_name)


class RecordingUnderWay(Conflict):
    """A recording by phone to the same phone is pending or calling (HTTP 409)."""

    error_id = "recording_under_way"


async def _none_under_way(
    conn: AsyncConnection, account_id: int, request: RecordingRequest
) -> None:
    """409 while a recording to the same employee or number is pending or calling: one call
    at a time rings a phone for a recording."""
    c = t.callback_tasks.c
    query = sa.select(c.id).where(
        c.account_id == account_id, c.kind == RECORD, c.status.in_(_ACTIVE)
    )
    if request.employee_id is not None:
        field, query = "employee_id", query.where(c.employee_id == request.employee_id)
    else:
        field, query = "number", query.where(c.caller == request.number, c.employee_id.is_(None))
    found = (await conn.execute(query.limit(1))).scalar()
    if found is not None:
        raise RecordingUnderWay(
            field,
            f"a recording by phone (#{found}) is already calling this phone; wait for it / "
            f"запись по этому телефону (#{found}) уже идёт",
        )


async def _read(conn: AsyncConnection, account_id: int, recording_id: int) -> PhoneRecording:
    c = t.callback_tasks.c
    query = sa.select(t.callback_tasks).where(
        c.account_id == account_id, c.id == recording_id, c.kind == RECORD
    )
    row = (await conn.execute(query)).mappings().first()
    if row is None:
        raise NotFound(RESOURCE, recording_id)
    status = _state(row["status"])
    file_id: int | None = None
    outcome: str | None = None
    reason = ""
    if status is RecordingState.RECORDED:
        outcome = Outcome.RECORDED.value
        file_id = await _file_of(conn, account_id, row["result_call_id"])
    elif status is RecordingState.FAILED:
        outcome, reason = _result(row["last_result"] or "")
    return PhoneRecording(
        id=int(row["id"]),
        status=status,
        name=row["file_name"] or "",
        employee_id=row["employee_id"],
        number=None if row["employee_id"] is not None else (row["caller"] or None),
        max_seconds=int(row["record_seconds"] or DEFAULT_RECORD_SECONDS),
        call_id=row["result_call_id"],
        file_id=file_id,
        outcome=outcome,
        reason=reason,
        created_at=as_utc(row["created_at"]),
        updated_at=as_utc(row["updated_at"]),
    )


def _state(status: str) -> RecordingState:
    match status:
        case TaskStatus.PENDING.value:
            return RecordingState.PENDING
        case TaskStatus.RUNNING.value:
            return RecordingState.CALLING
        case TaskStatus.DONE.value:
            return RecordingState.RECORDED
    return RecordingState.FAILED


_OUTCOMES = frozenset(item.value for item in Outcome)


def _result(text: str) -> tuple[str, str]:
    """(outcome, reason) from the task's last result: the scheduler writes "outcome: reason"
    for a call it placed, a reason alone otherwise (a failure, a restart)."""
    head, sep, rest = text.partition(": ")
    if sep and head in _OUTCOMES:
        return head, rest
    return Outcome.FAILED.value, text


async def _file_of(conn: AsyncConnection, account_id: int, call_id: int | None) -> int | None:
    """The sound file the call recorded (the call's row links it when the call ends)."""
    if call_id is None:
        return None
    f = t.files.c
    query = (
        sa.select(f.id)
        .where(f.account_id == account_id, f.call_id == call_id, f.kind == FileKind.SOUND.value)
        .order_by(f.id.desc())
        .limit(1)
    )
    found: Any = (await conn.execute(query)).scalar()
    return int(found) if found is not None else None
