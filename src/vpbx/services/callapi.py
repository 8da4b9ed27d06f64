"""CallAPI (API-1): start an "employee → number" or a "number → scenario" call by HTTP.

`start_call` checks the request the way the switch would judge the call, so that a call that
could never go out is refused with a 422 naming the field at once rather than failing later:
the employee (by id or extension) or the scenario must be of the account, the number must pass
the account's toll-fraud destination rules, and the caller ID shown (the one asked for, the one
the employee's line would show, or for a scenario the one chosen here) must not be denied by
the CID-3 rules. Past the account's limit of
CallAPI calls per minute it answers 429 with Retry-After (counted on the calls table, so every
API worker and node shares it). Then the call's report row (status active, session type
CallAPI), its `call_started` webhook event and the task that makes a switch node place it are
written in the request's transaction (`create_callapi_call`); a node's scheduler claims the task
within a second and drives the call (`vpbx.switch.callbacks`).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.ext.asyncio import AsyncConnection

from vpbx.domain.actor import Actor, Role
from vpbx.domain.caller_id import CidRuleView, Mode, allowed
from vpbx.domain.entities.toll_fraud import TollFraudPolicy
from vpbx.domain.errors import DomainError, Forbidden, ValidationFailed
from vpbx.domain.fields import Extension, PhoneNumber
from vpbx.domain.toll_fraud import destination_refusal
from vpbx.services.callbacks import create_callapi_call
from vpbx.storage import tables as t
from vpbx.storage.db import as_utc

__all__ = [
    "CallApiLimits",
    "CallRequest",
    "StartedCall",
    "TooManyCalls",
    "check_rate",
    "destination_policy",
    "start_call",
]

#: the window of the per-account limit
WINDOW = dt.timedelta(seconds=60)
SESSION_TYPE = "CallAPI"


@dataclass(frozen=True, slots=True)
class CallApiLimits:
    #: CallAPI calls an account may start per minute (0: none)
    per_minute: int = 30


class TooManyCalls(DomainError):
    """The account started its limit of CallAPI calls (or of calls of another kind it asks
    for by HTTP, `what`) within the last minute (HTTP 429)."""

    error_id = "too_many_calls"
    status = 429

    def __init__(
        self, retry_after: int, limit: int, what: tuple[str, str] = ("CallAPI", "CallAPI")
    ) -> None:
        ru, en = what
        super().__init__(
            f"превышен лимит {ru}: {limit} звонков в минуту, повторите через {retry_after} с / "
            f"{en} limit of {limit} calls per minute reached, retry in {retry_after} s"
        )
        self.retry_after = retry_after


class CallRequest(BaseModel):
    """API-1 «сотрудник → номер»: the employee is called first; when he answers, `number`.
    «номер → сценарий» (`scenario_id` instead of the employee): `number` is called first;
    when he answers the scenario runs with him."""

    model_config = ConfigDict(extra="forbid")

    employee_id: Annotated[int, Field(ge=1, le=2**53)] | None = Field(
        default=None, description="the employee called first (or `extension`, or `scenario_id`)"
    )
    extension: Extension | None = Field(
        default=None, description="the employee's extension, instead of `employee_id`"
    )
    scenario_id: Annotated[int, Field(ge=1, le=2**53)] | None = Field(
        default=None,
        description="«номер → сценарий»: a scenario of the account run with the client once he "
        "answers, instead of an employee called first",
    )
    number: PhoneNumber = Field(description="the client's number, dialled through the trunk")
    caller_id: PhoneNumber | None = Field(
        default=None,
        description="a virtual number of the account shown to the client; by default the one "
        "the caller-ID rules of the employee's SIP line choose (CID-1..3), or, with "
        "`scenario_id`, the first number whose rules lead to the scenario (else the account's "
        "first) that the CID-3 rules allow",
    )

    @model_validator(mode="after")
    def _one_first_leg(self) -> CallRequest:
        if self.scenario_id is not None:
            if self.employee_id is not None or self.extension is not None:
                raise ValueError("name either an employee or scenario_id, not both")
        elif (self.employee_id is None) == (self.extension is None):
            raise ValueError(
                "name the employee by exactly one of employee_id and extension, or scenario_id"
            )
        return self


class StartedCall(BaseModel):
    """The call was accepted: its report row (`GET /calls/{id}`) and its task."""

    id: int = Field(description="the call's id in the calls report")
    status: str = Field(description="`active` until the call ends")
    employee_id: int | None = Field(description="the employee called first (None: a scenario)")
    scenario_id: int | None = Field(
        default=None, description="«номер → сценарий»: the scenario run with the client"
    )
    number: str
    task_id: int


async def start_call(
    conn: AsyncConnection,
    who: Actor,
    request: CallRequest,
    now: dt.datetime,
    limits: CallApiLimits,
) -> StartedCall:
    account_id = who.account_id
    if account_id is None:
        raise Forbidden("no account chosen (operators pass X-Account-Id)")
    now = as_utc(now)
    await check_rate(conn, account_id, now, limits.per_minute, SESSION_TYPE)
    if request.scenario_id is not None:
        first = await _scenario_first(conn, who, account_id, request, request.scenario_id)
    else:
        first = await _employee_first(conn, who, account_id, request)
    call_id, task_id = await create_callapi_call(
        conn,
        account_id=account_id,
        employee_id=first.employee_id,
        employee_label=first.label,
        number=request.number,
        now=now,
        number_id=first.number_id,
        scenario_id=request.scenario_id,
    )
    return StartedCall(
        id=call_id,
        status="active",
        employee_id=first.employee_id,
        scenario_id=request.scenario_id,
        number=request.number,
        task_id=task_id,
    )


@dataclass(frozen=True, slots=True)
class _FirstLeg:
    """What a request says of the call's own side: the employee rung first (None: the client
    is, for a scenario), what the row names as the caller, the number asked to be shown."""

    employee_id: int | None
    label: str
    number_id: int | None


async def _employee_first(
    conn: AsyncConnection, who: Actor, account_id: int, request: CallRequest
) -> _FirstLeg:
    """«сотрудник → номер»: the employee of the account; an employee user calls as himself."""
    employee = await _employee(conn, account_id, request)
    if who.role is Role.EMPLOYEE and employee["id"] != who.employee_id:
        raise Forbidden("an employee starts CallAPI calls only for himself")
    await _check_destination(conn, account_id, request.number)
    number_id = await _caller_id(conn, account_id, int(employee["id"]), employee, request)
    return _FirstLeg(int(employee["id"]), employee["extension"] or employee["last_name"], number_id)


async def _scenario_first(
    conn: AsyncConnection, who: Actor, account_id: int, request: CallRequest, scenario_id: int
) -> _FirstLeg:
    """«номер → сценарий»: the client first, then the scenario with him; nobody is called as
    himself, so an employee user may not start one (he could route any number to anybody)."""
    if who.role is Role.EMPLOYEE:
        raise Forbidden("an employee starts CallAPI calls only to himself, not to a scenario")
    s = t.scenarios.c
    query = sa.select(s.id).where(s.account_id == account_id, s.id == scenario_id)
    if await conn.scalar(query) is None:
        raise ValidationFailed.one(
            "scenario_id", "no such scenario in the account", "unknown_scenario"
        )
    await _check_destination(conn, account_id, request.number)
    rules = await _cid_rules(conn, account_id)
    numbers = await _numbers(conn, account_id)
    if request.caller_id is not None:
        number_id = _asked(rules, numbers, request.caller_id, None)
    else:
        number_id = _scenario_caller_id(rules, numbers, scenario_id)
    shown = next(n.number for n in numbers if n.id == number_id)
    return _FirstLeg(None, shown, number_id)


def _scenario_caller_id(rules: list[CidRuleView], numbers: list[_Number], scenario_id: int) -> int:
    """The number a «номер → сценарий» call shows when the request names none: no employee's
    line chooses, so the first number (by id) whose rules lead to the scenario (the client is
    shown the number the scenario serves), else the account's first, among those the CID-3
    rules allow for a call of no employee."""
    usable = [n for n in numbers if allowed(rules, n.id, None)]
    serving = [n for n in usable if scenario_id in n.scenario_ids]
    chosen = (serving or usable)[:1]
    if not chosen:
        why = (
            "the account has no virtual number to show"
            if not numbers
            else "every virtual number of the account is denied by the caller-ID rules"
        )
        raise ValidationFailed.one("caller_id", why, "caller_id_denied")
    return chosen[0].id


async def _check_destination(conn: AsyncConnection, account_id: int, number: str) -> None:
    """The account's toll-fraud destination rules must let `number` be dialled (422)."""
    refusal = destination_refusal(await destination_policy(conn, account_id), number)
    if refusal is not None:
        raise ValidationFailed.one("number", refusal.text, "toll_fraud_refused")


async def check_rate(
    conn: AsyncConnection,
    account_id: int,
    now: dt.datetime,
    per_minute: int,
    session_type: str,
    what: tuple[str, str] = ("CallAPI", "CallAPI"),
) -> None:
    """TooManyCalls when the account started `per_minute` calls of `session_type` within the
    last minute (counted on the calls table: every API worker and node shares the count)."""
    c = t.calls.c
    since = now - WINDOW
    query = sa.select(c.started_at).where(
        c.account_id == account_id, c.session_type == session_type, c.started_at > since
    )
    started = sorted(as_utc(at) for at in (await conn.execute(query)).scalars())
    if len(started) < per_minute:
        return
    # the call that leaves the window first makes room for one more
    frees_at = started[len(started) - per_minute] + WINDOW if started else now + WINDOW
    retry = max(1, math.ceil((frees_at - now).total_seconds()))
    raise TooManyCalls(retry, per_minute, what)


async def _employee(conn: AsyncConnection, account_id: int, request: CallRequest) -> dict[str, Any]:
    e = t.employees.c
    query = sa.select(e.id, e.extension, e.last_name, e.phones).where(e.account_id == account_id)
    if request.employee_id is not None:
        field, query = "employee_id", query.where(e.id == request.employee_id)
    else:
        field, query = "extension", query.where(e.extension == request.extension)
    row = (await conn.execute(query)).mappings().first()
    if row is None:
        raise ValidationFailed.one(field, "no such employee in the account", "unknown_employee")
    return dict(row)


async def destination_policy(conn: AsyncConnection, account_id: int) -> TollFraudPolicy:
    """The account's toll-fraud policy as the switch's guard reads it."""
    stored = await conn.scalar(
        sa.select(t.accounts.c.toll_fraud).where(t.accounts.c.id == account_id)
    )
    try:
        return TollFraudPolicy.model_validate(stored or {})
    except ValueError:
        return TollFraudPolicy()  # the strict defaults, as the switch's guard reads it


@dataclass(frozen=True, slots=True)
class _Number:
    """A virtual number of the account: its id, the number, and the scenarios of its rules."""

    id: int
    number: str
    scenario_ids: frozenset[int]


async def _numbers(conn: AsyncConnection, account_id: int) -> list[_Number]:
    n = t.numbers.c
    query = sa.select(n.id, n.number, n.rules).where(n.account_id == account_id).order_by(n.id)
    return [
        _Number(
            int(row.id),
            row.number,
            frozenset(int(r["scenario_id"]) for r in row.rules or () if r.get("scenario_id")),
        )
        for row in (await conn.execute(query)).all()
    ]


async def _cid_rules(conn: AsyncConnection, account_id: int) -> list[CidRuleView]:
    r = t.cid_rules.c
    query = (
        sa.select(r.action, r.number_ids, r.employee_ids)
        .where(r.account_id == account_id)
        .order_by(r.position, r.id)
    )
    return [
        CidRuleView(row.action == "allow", frozenset(row.number_ids), frozenset(row.employee_ids))
        for row in (await conn.execute(query)).all()
    ]


def _asked(
    rules: list[CidRuleView], numbers: list[_Number], asked: str, employee_id: int | None
) -> int:
    """The id of the caller ID a request asked for: the account's, allowed by CID-3 (422)."""
    found = next((n.id for n in numbers if n.number == asked), None)
    if found is None:
        raise ValidationFailed.one(
            "caller_id", "not a virtual number of the account", "unknown_number"
        )
    if not allowed(rules, found, employee_id):
        whom = "this employee" if employee_id is not None else "calls of no employee"
        raise ValidationFailed.one(
            "caller_id",
            f"number {asked} is denied for {whom} by the caller-ID rules",
            "caller_id_denied",
        )
    return found


async def _caller_id(
    conn: AsyncConnection,
    account_id: int,
    employee_id: int,
    employee: dict[str, Any],
    request: CallRequest,
) -> int | None:
    """CID-3 for the number shown to the client: the asked one must be the account's and
    allowed; without one, the employee's line must not end up with a denied number only (what
    the switch would refuse). The asked number's id, or None (the switch chooses)."""
    rules = await _cid_rules(conn, account_id)
    numbers = await _numbers(conn, account_id)
    if request.caller_id is not None:
        return _asked(rules, numbers, request.caller_id, employee_id)
    line_ids = [p.get("sip_line_id") for p in employee["phones"] or () if p.get("sip_line_id")]
    if not line_ids:
        return None
    line = (
        await conn.execute(
            sa.select(t.sip_lines.c.caller_id_mode, t.sip_lines.c.caller_id_number_id).where(
                t.sip_lines.c.id == line_ids[0]
            )
        )
    ).first()
    if line is None or line.caller_id_number_id is None:
        return None
    default = int(line.caller_id_number_id)
    if allowed(rules, default, employee_id):
        return None
    mode = line.caller_id_mode or Mode.FIXED.value
    others = [n.id for n in numbers if allowed(rules, n.id, employee_id)]
    if mode == Mode.FIXED.value or not others:
        shown = next((n.number for n in numbers if n.id == default), str(default))
        raise ValidationFailed.one(
            "caller_id",
            f"the number of the employee's line, {shown}, is denied by the caller-ID rules; "
            "name an allowed caller_id",
            "caller_id_denied",
        )
    return None
