"""Whom a callback rings when its rule says «тем, кому пытались дозвониться» (`tried`) or «тем,
кто участвовал в последней фазе ожидания» (`last_phase`), CB-1: read from the missed call's
details (its `dial`, `transfer` and distribution steps), pure.

* `tried`: every phone the missed call rang (each dial of its scenario and each transfer), in
  the order they were first rung. Attempt 1 rings the first of them, each later attempt one
  more (the previous ones failed), never more at once than the simultaneous lines of the
  groups the call was dialled to («Одновременных линий при обзвоне»; no group: all of them).
* `last_phase`: the phones of the call's last waiting phase: those its last dial rang (all at
  once), or, when it was lost in a transfer, first the employee who transferred and then, if
  he does not answer, the one he transferred to (the manual's reason for the method).

Nobody rung at all (the caller left before any dial): «Вызовы сотрудникам не найдены».
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from vpbx.domain.switch_records import StepRecord
from vpbx.scenario.snapshot import ConfigSnapshot
from vpbx.scenario.transfer import Destination, destination

__all__ = ["NOBODY_TRIED", "Callees", "Phase", "last_phase_callees", "phases", "tried_callees"]

NOBODY_TRIED = "Вызовы сотрудникам не найдены"

Phone = tuple[int, str]


@dataclass(frozen=True, slots=True)
class Callees:
    """The phones an attempt rings: all at once, or (`in_turn`) one after another in this
    order; none: `why` says so."""

    phones: tuple[Phone, ...] = ()
    in_turn: bool = False
    why: str = ""


@dataclass(slots=True)
class Phase:
    """One waiting phase of the missed call: a dial of its scenario or a transfer."""

    kind: str  # "dial" | "transfer"
    phones: list[Phone] = field(default_factory=list)
    group_ids: list[int] = field(default_factory=list)
    #: a transfer: the employee who transferred and the phone he talked on
    by: int | None = None
    by_phone: str | None = None


def phases(steps: Iterable[StepRecord], config: ConfigSnapshot) -> list[Phase]:
    """The missed call's waiting phases in order, each with the phones it rang. A transfer to
    one employee rings his phones without the distribution (no record of each ring): his
    phones as the configuration has them now stand for them."""
    found: list[Phase] = []
    answered: dict[int, str] = {}
    for step in steps:
        data = step.data
        match step.kind:
            case "dial":
                groups = [int(g) for g in data.get("group_ids") or () if _is_int(g)]
                found.append(Phase("dial", group_ids=groups))
            case "transfer" if data.get("target") or data.get("employee_id"):
                raw = data.get("by")
                by: int | None = raw if _is_int(raw) else None
                phase = Phase("transfer", by=by, by_phone=answered.get(by) if by else None)
                to = (
                    destination(config, str(data["target"]), by)
                    if data.get("target")
                    else Destination(employee_ids=(int(data["employee_id"]),))
                )
                if to.group_id is not None:
                    phase.group_ids.append(to.group_id)  # its distribution records the rings
                else:
                    phase.phones += [
                        (employee_id, phone.id)
                        for employee_id in to.employee_ids
                        if (employee := config.employees.get(employee_id)) is not None
                        for phone in employee.phones
                        if phone.kind in ("sip", "number")
                    ]
                found.append(phase)
            case "distribution":
                phone = _phone_of(data)
                if phone is None:
                    continue
                if data.get("kind") == "answered":
                    answered[phone[0]] = phone[1]
                if data.get("kind") == "offered" and found and phone not in found[-1].phones:
                    found[-1].phones.append(phone)
    return found


def tried_callees(steps: Sequence[StepRecord], attempt: int, config: ConfigSnapshot) -> Callees:
    """CB-1 «тем, кому пытались дозвониться»: attempt `attempt` (1 = the first) rings the first
    `attempt` phones tried, at most the groups' simultaneous lines."""
    found = phases(steps, config)
    phones = _unique(phone for phase in found for phone in phase.phones)
    if not phones:
        return Callees(why=NOBODY_TRIED)
    lines = [
        config.groups[group_id].simultaneous_lines
        for phase in found
        for group_id in phase.group_ids
        if group_id in config.groups
    ]
    cap = max(lines) if lines else len(phones)
    return Callees(tuple(phones[: max(1, min(attempt, cap, len(phones)))]))


def last_phase_callees(steps: Sequence[StepRecord], config: ConfigSnapshot) -> Callees:
    """CB-1 «тем, кто участвовал в последней фазе ожидания»: the last dial's phones at once; a
    transfer's employee first, then its target."""
    found = [phase for phase in phases(steps, config) if phase.phones or phase.by is not None]
    if not found:
        return Callees(why=NOBODY_TRIED)
    last = found[-1]
    if last.kind == "dial":
        return Callees(tuple(last.phones))
    first: list[Phone] = []
    if last.by is not None:
        if last.by_phone is not None:
            first = [(last.by, last.by_phone)]
        elif (employee := config.employees.get(last.by)) is not None:
            first = [(last.by, phone.id) for phone in employee.phones]
    phones = _unique([*first, *last.phones])
    if not phones:
        return Callees(why=NOBODY_TRIED)
    return Callees(tuple(phones), in_turn=True)


def _phone_of(data: dict[str, Any]) -> Phone | None:
    employee_id: Any = data.get("employee_id")
    phone_id = data.get("phone_id")
    if not _is_int(employee_id) or not phone_id:
        return None
    return employee_id, str(phone_id)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _unique(phones: Iterable[Phone]) -> list[Phone]:
    return list(dict.fromkeys(phones))
