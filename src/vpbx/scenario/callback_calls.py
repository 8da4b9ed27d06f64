"""The call one attempt of a callback or CallAPI task places (CB-1/2, API-1), pure: the rule's
«Как перезванивать» and «Подсказка ответившему» as an `OriginatePlan`, or why no call is placed.

The switch's scheduler (`vpbx.switch.callbacks`) claims the task, asks `plan_of` and places
what it answers; the missed call it calls back (`DueTask.missed`) was read with the task.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from vpbx.domain.callback_plan import DueTask, MissedFacts
from vpbx.domain.entities.callback import CallbackMethod, CallbackRule
from vpbx.scenario.callback_targets import (
    NOBODY_TRIED,
    Callees,
    last_phase_callees,
    tried_callees,
)
from vpbx.scenario.originate import DEFAULT_WHISPER, OriginatePlan, Purpose
from vpbx.scenario.snapshot import ConfigSnapshot

__all__ = ["NotPlaced", "call_data_phrase", "plan_of", "spoken_number"]

_MONTHS = (
    "января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября",
    "октября", "ноября", "декабря",
)  # fmt: skip


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
        whisper_text=whisper_text(rule, task.missed, config, now),
        whisper_file_id=rule.whisper.file_id,
        caller_id=shown.number if shown is not None else "",
        trunk_id=shown.trunk_id if shown is not None else None,
        number_id=rule.number_id if shown is not None else None,
        label=f"правило «{rule.name}», попытка {task.attempt}",
    )


def whisper_text(
    rule: CallbackRule, missed: MissedFacts | None, config: ConfigSnapshot, now: dt.datetime
) -> str:
    """What TTS says to the employee: the rule's text, followed by the call data when the rule
    asks for it (after the default word when there is neither a text nor a file)."""
    whisper = rule.whisper
    if not whisper.call_data or missed is None:
        return whisper.text
    base = whisper.text or ("" if whisper.file_id else DEFAULT_WHISPER)
    phrase = call_data_phrase(missed, config, now)
    return f"{base}. {phrase}" if base else phrase


def call_data_phrase(missed: MissedFacts, config: ConfigSnapshot, now: dt.datetime) -> str:
    """CB-1 «известная информация о звонке», said to the employee: who called (his number and
    the address book's name), which virtual number (its name when it has one), when, and how
    long he waited, e.g. «Пропущенный звонок с номера 916 123 45 67, Иванов Иван, на номер
    Реклама в 14:05, ожидание 35 секунд.»"""
    parts = [f"Пропущенный звонок с номера {spoken_number(missed.caller)}"]
    if missed.contact_name:
        parts.append(missed.contact_name)
    vnumber = next((n for i, n in config.numbers.values() if i == missed.number_id), None)
    if vnumber is not None:
        called = vnumber.name or spoken_number(vnumber.number)
    else:
        called = spoken_number(missed.called)
    local = missed.started_at.astimezone(config.tz)
    when = f"в {local:%H:%M}"
    if local.date() != now.astimezone(config.tz).date():
        when = f"{local.day} {_MONTHS[local.month - 1]} {when}"
    parts.append(f"на номер {called} {when}")
    parts.append(f"ожидание {_duration(missed.wait_seconds)}")
    return ", ".join(parts) + "."


def spoken_number(number: str) -> str:
    """A phone number as TTS should read it: a Russian number without its country code in
    groups of 3-3-2-2 («916 123 45 67»), another number in pairs; anything else as it is."""
    digits = "".join(ch for ch in number if ch.isdigit())
    if not digits:
        return number
    if len(digits) == 11 and digits[0] in "78":
        digits = digits[1:]
    if len(digits) == 10:
        return f"{digits[:3]} {digits[3:6]} {digits[6:8]} {digits[8:]}"
    if len(digits) <= 4:
        return digits
    head = len(digits) % 2
    groups = [digits[:head]] if head else []
    groups += [digits[i : i + 2] for i in range(head, len(digits), 2)]
    return " ".join(groups)


def _duration(seconds: float) -> str:
    total = max(0, round(seconds))
    minutes, rest = divmod(total, 60)
    said = []
    if minutes:
        said.append(f"{minutes} {_plural(minutes, ('минута', 'минуты', 'минут'))}")
    if rest or not minutes:
        said.append(f"{rest} {_plural(rest, ('секунда', 'секунды', 'секунд'))}")
    return " ".join(said)


def _plural(n: int, forms: tuple[str, str, str]) -> str:
    if n % 10 == 1 and n % 100 != 11:
        return forms[0]
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return forms[1]
    return forms[2]
