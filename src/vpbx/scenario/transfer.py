"""A transfer of the caller by the employee in the talk (TALK-5), sans-IO: where it goes and how
far it got.

Three ways in: `#` and a number from the employee's keys (attended: the employee talks to the
target first and hangs up to hand the caller over, or hangs up at once), the transfer button
of the phone (SIP REFER: done as soon as the target answers), and the phone's own attended
transfer (REFER with Replaces: the phone consulted the target on a second call through the
PBX; that call's answered leg is taken over as if it had been rung here, and takes the caller
at once). Either way the caller is on hold while the target rings beside the talk.
`vpbx.scenario.call_logic` drives it.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field

from vpbx.scenario.snapshot import ConfigSnapshot, digits_of

__all__ = [
    "DIGITS_WAIT",
    "TRANSFER_RING_SECONDS",
    "Destination",
    "Mode",
    "Phase",
    "Transfer",
    "TransferRing",
    "destination",
]

#: the number after `#` ends with `#` or after this long without a key
DIGITS_WAIT = dt.timedelta(seconds=4)
#: how long a transfer target rings (an outside number, a phone with no ring timeout)
TRANSFER_RING_SECONDS = 30.0
#: a dialled string this long or longer is an outside number, not an extension
OUTSIDE_NUMBER_DIGITS = 6


class Mode(enum.Enum):
    #: `#` + number: the employee talks to the target first
    ATTENDED = "attended"
    #: the phone's transfer button (REFER): the caller goes to the target once he answers
    REFER = "refer"
    #: the phone's attended transfer (REFER with Replaces, RFC 3891): the phone consulted the
    #: target on a call of its own; its answered leg takes the caller at once
    REPLACES = "replaces"

    @property
    def notifies(self) -> bool:
        """The phone asked by REFER: its progress goes back as NOTIFY."""
        return self is not Mode.ATTENDED


class Phase(enum.Enum):
    FINDING = "finding"
    RINGING = "ringing"
    #: attended: the employee and the target talk, the caller waits on hold
    CONSULT = "consult"


@dataclass(slots=True)
class TransferRing:
    """One phone (or outside number) the transfer rings."""

    employee_id: int | None = None
    phone_id: str | None = None
    number: str | None = None
    #: XFR-3: a SIP URI of another PBX (`user@server[:port]`)
    uri: str | None = None

    def label(self, config: ConfigSnapshot) -> str:
        if self.uri is not None:
            return f"SIP URI {self.uri}"
        if self.number is not None:
            return f"номер {self.number}"
        employee = config.employees.get(self.employee_id or 0)
        return f"сотрудник {employee.name}" if employee is not None else "сотрудник"


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a dialled transfer goes: employees' phones, an outside number, or nowhere (why)."""

    employee_ids: tuple[int, ...] = ()
    number: str | None = None
    problem: str = ""
    #: a group's extension: its members are rung through the group's distribution
    group_id: int | None = None


def destination(config: ConfigSnapshot, dialled: str, by: int | None) -> Destination:
    """An extension of an employee or a group (all its members who take calls), or a full
    number through the trunk (XFR-2); anything else is refused with the reason."""
    found = config.extensions.get(dialled)
    if found is not None:
        kind, ident = found
        if kind == "employee":
            if ident == by:
                return Destination(problem=f"{dialled}: это добавочный самого сотрудника")
            return Destination(employee_ids=(ident,))
        group = config.groups.get(ident)
        members = tuple(
            m
            for m in (group.member_ids if group is not None else ())
            if m != by and (e := config.employees.get(m)) is not None and e.calls_enabled
        )
        if not members:
            return Destination(problem=f"{dialled}: в группе некому ответить")
        return Destination(employee_ids=members, group_id=ident)
    digits = digits_of(dialled)
    if len(digits) >= OUTSIDE_NUMBER_DIGITS:
        return Destination(number=digits)
    return Destination(problem=f"{dialled}: нет такого добавочного номера")


@dataclass(slots=True)
class Transfer:
    """One transfer under way."""

    dialled: str
    mode: Mode
    #: the employee who transfers (None: an outside number was in the talk)
    by: int | None
    employee_ids: tuple[int, ...] = ()
    phase: Phase = Phase.FINDING
    rings: dict[int, TransferRing] = field(default_factory=dict)
    answered: int | None = None
    #: the transferring employee hung up: the target takes the caller as soon as he answers
    employee_gone: bool = False
    #: the target failed after the employee left: the caller is rung back to that employee
    back: bool = False
    #: a transfer to a group: the group, and the id its distribution knows this transfer by
    group_id: int | None = None
    dist_id: str | None = None
    #: the distribution's rings of the transfer by (employee, phone)
    phone_rings: dict[tuple[int, str], int] = field(default_factory=dict)
    #: the distribution already let go of the transfer (it gave up)
    dist_done: bool = False
