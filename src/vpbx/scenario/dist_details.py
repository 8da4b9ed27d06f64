"""The distribution's records as lines of the call details (CDR-2), shared by the live switch
and the simulator: who was offered the call, who was skipped and why, queue places."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from vpbx.scenario import distribution as dist
from vpbx.scenario.engine import Step
from vpbx.scenario.snapshot import EmployeeInfo

__all__ = ["DETAIL_KINDS", "RING_RESULTS", "detail_step", "employee_name", "give_up_reasons"]

#: how the call details name the distribution's records
DETAIL_KINDS = {
    "offered": "звонок предложен",
    "skipped": "пропущен",
    "ring_ended": "не принял звонок",
    "answered": "ответил",
    "queued": "в очереди",
    "held": "удержание",
    "gave_up": "никто не может принять звонок",
    "hung_up": "абонент положил трубку",
    "answered_elsewhere": "звонок принят на внешнем номере: телефоны больше не вызываются",
    "ended": "разговор завершен",
}
RING_RESULTS = {
    "no_answer": "не ответил",
    "busy": "занято",
    "rejected": "отклонил",
    "failed": "ошибка",
}


def employee_name(employees: Mapping[int, EmployeeInfo], employee_id: int) -> str:
    employee = employees.get(employee_id)
    return employee.name if employee is not None else f"#{employee_id}"


def detail_step(detail: dist.Detail, employees: Mapping[int, EmployeeInfo]) -> Step:
    """One distribution record as a step of the call details, in Russian."""
    who = ""
    if detail.employee_id is not None:
        who = employee_name(employees, detail.employee_id)
        if detail.phone_id is not None:
            who += f" (телефон {detail.phone_id})"
    what = DETAIL_KINDS.get(detail.kind.value, detail.kind.value)
    reason = RING_RESULTS.get(detail.text, detail.text)
    text = ": ".join(part for part in (f"{what} {who}".strip(), reason) if part)
    if detail.ahead:
        text += f" (впереди: {', '.join(detail.ahead)})"
    return Step(
        dt.datetime.fromtimestamp(detail.at, dt.UTC),
        "distribution",
        text,
        {
            "kind": detail.kind.value,
            "employee_id": detail.employee_id,
            "phone_id": detail.phone_id,
            **({"ahead": list(detail.ahead)} if detail.ahead else {}),
        },
    )


def give_up_reasons(
    skipped: tuple[dist.Skip, ...], employees: Mapping[int, EmployeeInfo]
) -> tuple[str, ...]:
    """DST-7: why each phone was not rung, for the engine's `DialFailed`."""
    return tuple(f"{employee_name(employees, s.employee_id)}: {s.text}" for s in skipped)
