"""The call one attempt of a callback or CallAPI task places (CB-1/2, API-1), pure: the rule's
«Как перезванивать» and «Подсказка ответившему» as an `OriginatePlan`, or why no call is placed.

The switch's scheduler (`vpbx.switch.callbacks`) claims the task, asks `plan_of` and places
what it answers; the missed call it calls back (`DueTask.missed`) was read with the task.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from vpbx.domain.callback_plan import DueTask, LeadFacts, MissedFacts
from vpbx.domain.entities.callback import CallbackMethod, HowToCall, Whisper
from vpbx.scenario.callback_targets import (
    NOBODY_TRIED,
    Callees,
    last_phase_callees,
    tried_callees,
)
from vpbx.scenario.originate import DEFAULT_WHISPER, OriginatePlan, Purpose
from vpbx.scenario.snapshot import ConfigSnapshot

__all__ = [
    "LEAD_WHISPER",
    "NotPlaced",
    "call_data_phrase",
    "lead_data_phrase",
    "plan_of",
    "spoken_number",
]

#: CB-4: what the employee hears before a lead's callback when the rule sets no whisper
LEAD_WHISPER = "Автоперезвон по заявкам"

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
    if task.kind == "lead":
        return _lead_plan(task, config, now)
    rule = task.rule
    if rule is None:
        return NotPlaced("правило не найдено")
    callees = Callees()
    steps = task.missed.steps if task.missed is not None else ()
    match rule.how.method:
        case CallbackMethod.TRIED:
            callees = tried_callees(steps, task.attempt, config)
        case CallbackMethod.LAST_PHASE:
            callees = last_phase_callees(steps, config)
    if callees.why:
        return NotPlaced(callees.why, final=callees.why == NOBODY_TRIED)
    text = _with_data(rule.whisper, DEFAULT_WHISPER, task.missed, config, now)
    label = f"правило «{rule.name}», попытка {task.attempt}"
    first = _FirstLeg(rule.how, callees, text, rule.whisper.file_id, rule.number_id, label)
    return first.plan(task, config)


def _lead_plan(
    task: DueTask, config: ConfigSnapshot, now: dt.datetime
) -> OriginatePlan | NotPlaced:
    """CB-4: a lead's callback, as a missed call's, with the lead's whisper."""
    rule = task.lead_rule
    if rule is None:
        return NotPlaced("правило не найдено")
    method = rule.how.method
    if method in (CallbackMethod.TRIED, CallbackMethod.LAST_PHASE):
        # no call was missed: nobody was tried, there was no waiting phase
        return NotPlaced(f"способ перезвона «{method.value}» не применим к заявкам", final=True)
    text = _with_data(rule.whisper, LEAD_WHISPER, task.lead, config, now)
    label = f"правило «{rule.name}»"
    if task.lead is not None:
        label += f", заявка #{task.lead.lead_id}"
    first = _FirstLeg(rule.how, Callees(), text, rule.whisper.file_id, None, label)
    return first.plan(task, config)


@dataclass(frozen=True, slots=True)
class _FirstLeg:
    """What a rule says of an attempt: who answers first, what he hears, what the client sees."""

    how: HowToCall
    callees: Callees
    whisper: str
    whisper_file_id: int | None
    number_id: int | None
    label: str

    def plan(self, task: DueTask, config: ConfigSnapshot) -> OriginatePlan | NotPlaced:
        method = self.how.method
        supported = (CallbackMethod.EMPLOYEE, CallbackMethod.GROUP, CallbackMethod.NUMBER)
        if not self.callees.phones and method not in supported:
            return NotPlaced(f"способ перезвона «{method.value}» пока не поддерживается")
        # XFR-2: the client is shown the virtual number he lost the call on (place «number»),
        # else the one the CID rules choose for the employee's line
        shown = next((n for i, n in config.numbers.values() if i == self.number_id), None)
        return OriginatePlan(
            task.account_id,
            task.caller,
            Purpose.CALLBACK,
            employee_id=self.how.employee_id if method is CallbackMethod.EMPLOYEE else None,
            group_id=self.how.group_id if method is CallbackMethod.GROUP else None,
            number=self.how.number if method is CallbackMethod.NUMBER else None,
            phones=self.callees.phones,
            in_turn=self.callees.in_turn,
            whisper_text=self.whisper,
            whisper_file_id=self.whisper_file_id,
            caller_id=shown.number if shown is not None else "",
            trunk_id=shown.trunk_id if shown is not None else None,
            number_id=self.number_id if shown is not None else None,
            label=self.label,
        )


def _with_data(
    whisper: Whisper,
    default: str,
    known: MissedFacts | LeadFacts | None,
    config: ConfigSnapshot,
    now: dt.datetime,
) -> str:
    """What TTS says to the employee: the rule's text, followed by the data of the call (or of
    the lead) when the rule asks for it, after the default words when there is neither a text
    nor a file. Without data and text the originator says the default itself."""
    base = whisper.text or ("" if whisper.file_id else default)
    if not whisper.call_data or known is None:
        return base
    if isinstance(known, LeadFacts):
        phrase = lead_data_phrase(known, config, now)
    else:
        phrase = call_data_phrase(known, config, now)
    return f"{base}. {phrase}" if base else phrase


def lead_data_phrase(lead: LeadFacts, config: ConfigSnapshot, now: dt.datetime) -> str:
    """CB-4's whisper with what the lead says: where from, who, what he asked, when, e.g.
    «Заявка с сайта example.ru, Иван, комментарий: перезвоните после обеда, номер 916 123 45
    67, в 14:05.»"""
    parts = [f"Заявка с сайта {lead.site}" if lead.site else "Заявка"]
    if lead.name:
        parts.append(lead.name)
    if lead.comment:
        parts.append(f"комментарий: {lead.comment}")
    parts.append(f"номер {spoken_number(lead.phone)}")
    parts.append(_when(lead.arrived_at, config, now))
    return ", ".join(parts) + "."


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
    parts.append(f"на номер {called} {_when(missed.started_at, config, now)}")
    parts.append(f"ожидание {_duration(missed.wait_seconds)}")
    return ", ".join(parts) + "."


def _when(at: dt.datetime, config: ConfigSnapshot, now: dt.datetime) -> str:
    """«в 14:05» in the account's zone, «11 марта в 14:05» when not today."""
    local = at.astimezone(config.tz)
    when = f"в {local:%H:%M}"
    if local.date() != now.astimezone(config.tz).date():
        when = f"{local.day} {_MONTHS[local.month - 1]} {when}"
    return when


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
