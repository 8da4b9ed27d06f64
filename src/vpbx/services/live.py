"""CDR-4: what the live view needs from the database, read once when a viewer connects.

The live calls and the employees' states (talking, ringing, wrap-up, off schedule, registered,
pushed by the switch's feed) come from the switch; the account's employees (their names) and
which of them has a registered SIP line on any node are read here, once per connection of the
live view, never polled. The view's link (`POST /live/link`) is a
file link (`vpbx.services.file_links`) of a variant no file has, so it opens the live view of
its account only, for as long as a file link lives, and ends with the session.

TRN-1 from the live view: `supervisor` says who joins a call (the cabinet user's own employee,
whose phones the PBX rings) and refuses roles that may not supervise; `supervise_refusal`
turns the switch's answer into the API's error.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from vpbx.domain.actor import Actor, Role
from vpbx.domain.errors import DomainError, Forbidden
from vpbx.domain.live import SuperviseAnswer
from vpbx.services.file_links import FileLink, issue_file_link, link_actor
from vpbx.storage import tables as t
from vpbx.storage.db import as_utc

__all__ = [
    "LINK_TTL",
    "SUPERVISING_ROLES",
    "StaffMember",
    "SuperviseRefused",
    "Supervisor",
    "issue_live_link",
    "live_link_actor",
    "staff",
    "supervise_refusal",
    "supervisor",
]

#: the file id and variant of a live-view link: no file has them
_FILE, _VARIANT = 0, "live"
#: only needed to open the stream; a reconnect asks for a new one
LINK_TTL: Final = dt.timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class StaffMember:
    employee_id: int
    name: str
    registered: bool


async def issue_live_link(
    conn: AsyncConnection, access_token: str, actor: Actor, now: dt.datetime
) -> FileLink:
    return await issue_file_link(conn, access_token, actor, _FILE, _VARIANT, now, LINK_TTL)


async def live_link_actor(conn: AsyncConnection, link: str, now: dt.datetime) -> Actor | None:
    return await link_actor(conn, link, _FILE, _VARIANT, now)


async def staff(
    conn: AsyncConnection, account_id: int, now: dt.datetime, employee_id: int | None = None
) -> list[StaffMember]:
    """The account's employees (only `employee_id` when given), each with whether one of his
    SIP lines has an unexpired binding (the registrar stores each before its 200)."""
    emp, regs, lines = t.employees, t.sip_registrations, t.sip_lines
    registered = set(
        (
            await conn.execute(
                sa.select(regs.c.sip_line_id)
                .join(lines, lines.c.id == regs.c.sip_line_id)
                .where(lines.c.account_id == account_id, regs.c.expires_at > as_utc(now))
                .distinct()
            )
        ).scalars()
    )
    query = sa.select(emp.c.id, emp.c.last_name, emp.c.first_name, emp.c.phones).where(
        emp.c.account_id == account_id
    )
    if employee_id is not None:
        query = query.where(emp.c.id == employee_id)
    return [
        StaffMember(
            employee_id=int(row.id),
            name=" ".join(p for p in (row.last_name, row.first_name) if p),
            registered=any(p.get("sip_line_id") in registered for p in row.phones or ()),
        )
        for row in (await conn.execute(query.order_by(emp.c.last_name, emp.c.id))).all()
    ]


#: TRN-1: who may join a call from the live view (ACC-2: an admin and a supervisor)
SUPERVISING_ROLES: Final = frozenset({Role.ADMIN, Role.SUPERVISOR})


@dataclass(frozen=True, slots=True)
class Supervisor:
    """The employee a supervising cabinet user is: his phones are rung, his name is in the
    call's details."""

    employee_id: int
    name: str


class SuperviseRefused(DomainError):
    """The supervisor cannot join the call (HTTP 409 by default); `error_id` says why."""

    status = 409

    def __init__(self, error_id: str, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.error_id = error_id
        self.status = status


async def supervisor(conn: AsyncConnection, who: Actor) -> Supervisor:
    """The cabinet user's own employee, who joins a call from the live view (TRN-1): 403 for a
    role that may not supervise, 409 for a user linked to no employee or to one without a SIP
    line (the PBX has no phone of his to ring)."""
    if who.account_id is None or who.role not in SUPERVISING_ROLES:
        raise Forbidden(
            "подключаться к звонкам могут администратор и супервизор / "
            "only an admin or a supervisor may join calls"
        )
    emp = t.employees.c
    row = None
    if who.employee_id is not None:
        query = sa.select(emp.last_name, emp.first_name, emp.phones).where(
            emp.account_id == who.account_id, emp.id == who.employee_id
        )
        row = (await conn.execute(query)).first()
    if row is None:
        raise SuperviseRefused(
            "supervisor.no_employee",
            "ваш пользователь не связан с сотрудником: АТС не знает, какой телефон вызвать / "
            "your user is linked to no employee: the PBX has no phone of yours to ring",
        )
    if not any(p.get("kind") == "sip" and p.get("sip_line_id") for p in row.phones or ()):
        raise SuperviseRefused(
            "supervisor.no_phone",
            "у вашего сотрудника нет SIP-линии: АТС нечем вам позвонить / "
            "your employee has no SIP line for the PBX to ring",
        )
    assert who.employee_id is not None
    name = " ".join(p for p in (row.last_name, row.first_name) if p)
    return Supervisor(who.employee_id, name)


_REFUSALS: Final = {
    SuperviseAnswer.NO_CALL: (
        "live_call.not_found",
        "звонок уже закончился / the call has ended",
        404,
    ),
    SuperviseAnswer.NOT_TALKING: (
        "live_call.not_talking",
        "в этом звонке сейчас никто не разговаривает с абонентом / "
        "nobody is talking with the caller in this call now",
        409,
    ),
    SuperviseAnswer.TAKEN: (
        "live_call.supervised",
        "к этому разговору уже подключён или подключается другой супервизор (или тренер) / "
        "another supervisor (or the trainer) is in this call or being rung",
        409,
    ),
    SuperviseAnswer.OWN_CALL: (
        "live_call.own_call",
        "это ваш собственный разговор / this is your own call",
        409,
    ),
    SuperviseAnswer.NO_PHONE: (
        "supervisor.no_phone",
        "ни один ваш телефон не зарегистрирован: АТС нечем вам позвонить / "
        "none of your phones is registered: the PBX cannot ring you",
        409,
    ),
}


def supervise_refusal(answer: SuperviseAnswer) -> SuperviseRefused | None:
    """The API's error for the switch's answer (None: his phones are ringing)."""
    found = _REFUSALS.get(answer)
    return SuperviseRefused(*found) if found is not None else None
