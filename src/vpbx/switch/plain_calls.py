"""The calls-report row of a call the scenario engine did not drive: an internal call between
extensions, or an outgoing call through a trunk."""

from __future__ import annotations

import datetime as dt

from vpbx.domain.switch_records import CallRecord, CallStart, StepRecord
from vpbx.switch.b2bua import B2BCall


def plain_call_start(call: B2BCall) -> CallStart:
    """The row of such a call as it starts ringing (closed as interrupted if the switch dies)."""
    return CallStart(
        account_id=call.account_id,
        started_at=call.started_at,
        direction=call.direction,
        caller=_caller(call),
        called=call.called,
        session_type=call.session_type,
        number_id=call.number_id,
        switch_call_id=call.id,
    )


def _caller(call: B2BCall) -> str:
    """The caller as the report shows him: the extension of the employee whose line called."""
    return call.caller_extension or call.caller


def plain_call_answer(call: B2BCall) -> tuple[dt.datetime, int | None] | None:
    """When such a call was answered and by which employee, while it lasts (None: ringing)."""
    if call.answered_at is None:
        return None
    return call.answered_at, _employee_of(call)


def _employee_of(call: B2BCall) -> int | None:
    """The employee of the report row: who answered an internal call, who placed another."""
    winner = call.winner or call.handed_over
    if call.direction == "internal" and winner is not None:
        return winner.target.employee_id
    return call.caller_employee_id


def plain_call_record(call: B2BCall) -> CallRecord:
    """The report row of a call without call logic: internal (extension) or outgoing (trunk)."""
    ended = call.ended_at or call.clock()
    caller = _caller(call)
    started = call.started_at
    handed_over = call.handed_over
    winner = call.winner or handed_over
    employee_id = _employee_of(call)
    kind = "внутренний" if call.direction == "internal" else "исходящий"
    steps = [StepRecord(started, "arrived", f"{kind} звонок с {caller} на {call.called}")]
    for leg in [*call.legs, *([handed_over] if handed_over is not None else [])]:
        outcome = "ответил" if leg is winner else f"не ответил ({leg.final})"
        steps.append(StepRecord(started, "ring", f"вызов {leg.target.label}: {outcome}"))
    talk = (ended - call.answered_at).total_seconds() if call.answered_at else 0.0
    if handed_over is not None:
        text = (
            f"{handed_over.target.label} принял переведенного абонента: "
            "перевод с консультацией (REFER с Replaces)"
        )
        steps.append(StepRecord(ended, "transfer", text, {"mode": "replaces"}))
    if call.cut_reason:
        steps.append(StepRecord(ended, "toll_fraud", call.cut_reason, {"rule": "minutes_per_hour"}))
    steps.append(StepRecord(ended, "hangup", "звонок завершен"))
    return CallRecord(
        account_id=call.account_id,
        started_at=started,
        direction=call.direction,
        status="answered" if call.answered_at else "missed",
        caller=caller,
        called=call.called,
        answered_at=call.answered_at,
        ended_at=ended,
        employee_id=employee_id,
        wait_seconds=max(0.0, ((call.answered_at or ended) - started).total_seconds()),
        talk_seconds=max(0.0, talk),
        steps=tuple(steps),
        session_type=call.session_type,
        number_id=call.number_id,
        switch_call_id=call.id,
    )


def refused_call_record(
    account_id: int,
    caller: str,
    called: str,
    employee_id: int | None,
    why: StepRecord,
    now: dt.datetime,
) -> CallRecord:
    """The report row of an outgoing call refused before any leg went to the trunk (the
    toll-fraud guard, the caller-ID rules): status blocked, `why` in its details."""
    at = now
    steps = (StepRecord(at, "arrived", f"исходящий звонок с {caller} на {called}"), why)
    return CallRecord(
        account_id=account_id,
        started_at=at,
        direction="outgoing",
        status="blocked",
        caller=caller,
        called=called,
        ended_at=at,
        employee_id=employee_id,
        steps=steps,
    )
