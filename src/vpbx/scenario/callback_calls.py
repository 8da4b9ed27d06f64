"""The call one attempt of a callback or CallAPI task places (CB-1/2, API-1), pure: the rule's
«Как перезванивать» and «Подсказка ответившему» as an `OriginatePlan`, or why no call is placed.

The switch's scheduler (`vpbx.switch.callbacks`) claims the task, asks `plan_of` and places
what it answers; the missed call it calls back (`DueTask.missed`) was read with the task.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from vpbx.domain.callback_plan import DueTask
from vpbx.domain.entities.callback import CallbackMethod
from vpbx.scenario.callback_targets import (
    NOBODY_TRIED,
    Callees,
    last_phase_callees,
    tried_callees,
)
from vpbx.scenario.originate import OriginatePlan, Purpose
from vpbx.scenario.snapshot import ConfigSnapshot

__all__ = ["NotPlaced", "plan_of"]


@dataclass(frozen=True, slots=True)
class NotPlaced:
    """No call for this attempt: why; `final`: no later attempt could do better (the task
    fails now rather than after its remaining intervals)."""

    reason: str
    final: bool = False


def plan_of(task: DueTask, config: ConfigSnapshot, now: dt.datetime) -> OriginatePlan | NotPlaced:
    """The call an attempt places, or why it cannot be placed."""
    if task.kind == "callapi":
        number = next((n for i, n in config.numbers.values() if i == task.number_id), None)
        return OriginatePlan(
            task.account_id,
            task.caller,
            Purpose.CALLAPI,
            employee_id=task.employee_id,
            whisper_text="звонок через CallAPI",
            caller_id=number.number if number is not None else "",
            trunk_id=number.trunk_id if number is not None else None,
            number_id=task.number_id if number is not None else None,
            label=f"задача #{task.id}",
        )
    rule = task.rule
    if rule is None:
        return NotPlaced("правило не найдено")
    how = rule.how
    method = how.method
    callees = Callees()
    match method:
        case CallbackMethod.TRIED | CallbackMethod.LAST_PHASE:
            steps = task.missed.steps if task.missed is not None else ()
            if method is CallbackMethod.TRIED:
                callees = tried_callees(steps, task.attempt, config)
            else:
                callees = last_phase_callees(steps, config)
            if callees.why:
                return NotPlaced(callees.why, final=callees.why == NOBODY_TRIED)
        case CallbackMethod.EMPLOYEE | CallbackMethod.GROUP | CallbackMethod.NUMBER:
            pass
        case _:
            return NotPlaced(f"способ перезвона «{method.value}» пока не поддерживается")
    # XFR-2: the client is shown the virtual number he lost the call on (place «number»),
    # else the one the CID rules choose for the employee's line
    shown = next((n for i, n in config.numbers.values() if i == rule.number_id), None)
    return OriginatePlan(
        task.account_id,
        task.caller,
        Purpose.CALLBACK,
        employee_id=how.employee_id if method is CallbackMethod.EMPLOYEE else None,
        group_id=how.group_id if method is CallbackMethod.GROUP else None,
        number=how.number if method is CallbackMethod.NUMBER else None,
        phones=callees.phones,
        in_turn=callees.in_turn,
        whisper_text=rule.whisper.text,
        whisper_file_id=rule.whisper.file_id,
        caller_id=shown.number if shown is not None else "",
        trunk_id=shown.trunk_id if shown is not None else None,
        number_id=rule.number_id if shown is not None else None,
        label=f"правило «{rule.name}», попытка {task.attempt}",
    )
