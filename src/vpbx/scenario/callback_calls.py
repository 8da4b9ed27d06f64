"""The call one attempt of a callback or CallAPI task places (CB-1/2, API-1), pure: the rule's
«Как перезванивать» and «Подсказка ответившему» as an `OriginatePlan`, or why no call is placed.

The switch's scheduler (`vpbx.switch.callbacks`) claims the task, asks `plan_of` and places
what it answers; the missed call it calls back (`DueTask.missed`) was read with the task.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from vpbx.domain.callback_plan import DueTask, LeadFacts, MissedFacts
from vpbx.domain.entities.callback import CallbackMethod, HowToCall, Whisper
from vpbx.domain.entities.routing import VirtualNumber
from vpbx.scenario import actions as act
from vpbx.scenario.callback_targets import (
    NOBODY_TRIED,
    Callees,
    last_phase_callees,
    tried_callees,
)
from vpbx.scenario.engine import Call
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
    if task.kind == "callapi" and task.scenario_id is not None:
        return _callapi_scenario(task, config, task.scenario_id)
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
    missed_number = task.missed.number_id if task.missed is not None else None
    first = _FirstLeg(rule.how, callees, text, rule.whisper.file_id, rule.number_id, label,
                      missed_number)  # fmt: skip
    return first.plan(task, config, now)


def _callapi_scenario(
    task: DueTask, config: ConfigSnapshot, scenario_id: int
) -> OriginatePlan | NotPlaced:
    """API-1 «номер → сценарий»: the client is dialled first, shown the number the request
    chose (the API judged it by the CID rules), and the scenario runs with him once he answers
    (`vpbx.scenario.callback_scenario`), its forwards queueing as the manual's exception says
    (QUE-6). A scenario or number deleted since the request: no call, or the account's first
    number (as a callback through a scenario shows)."""
    scenario = config.scenarios.get(scenario_id)
    if scenario is None:
        return NotPlaced(f"сценарий #{scenario_id} не найден", final=True)
    shown = _number(config, task.number_id) or min(
        config.numbers.values(), default=None, key=lambda item: item[0]
    )
    return OriginatePlan(
        task.account_id,
        task.caller,
        Purpose.CALLAPI,
        scenario_id=scenario_id,
        whisper_default="",
        caller_id=shown[1].number if shown is not None else "",
        trunk_id=shown[1].trunk_id if shown is not None else None,
        number_id=shown[0] if shown is not None else None,
        label=f"задача #{task.id}: сценарий «{scenario.name}»",
    )


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
    first = _FirstLeg(rule.how, Callees(), text, rule.whisper.file_id, None, label, None)
    return first.plan(task, config, now)


@dataclass(frozen=True, slots=True)
class _FirstLeg:
    """What a rule says of an attempt: who answers first, what he hears, what the client sees."""

    how: HowToCall
    callees: Callees
    whisper: str
    whisper_file_id: int | None
    number_id: int | None
    label: str
    #: the virtual number the missed call came to (None: a lead)
    missed_number_id: int | None

    def plan(
        self, task: DueTask, config: ConfigSnapshot, now: dt.datetime
    ) -> OriginatePlan | NotPlaced:
        method = self.how.method
        if method is CallbackMethod.SCENARIO and self.how.scenario_id is not None:
            return self._through_scenario(task, config, now, self.how.scenario_id)
        if method is CallbackMethod.CAMPAIGN:
            return self._campaign(task, config, now)
        # XFR-2: the client is shown the virtual number he lost the call on (place «number»),
        # else the one the CID rules choose for the employee's line
        shown = _number(config, self.number_id)
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
            caller_id=shown[1].number if shown is not None else "",
            trunk_id=shown[1].trunk_id if shown is not None else None,
            number_id=shown[0] if shown is not None else None,
            label=self.label,
        )

    def _campaign(
        self, task: DueTask, config: ConfigSnapshot, now: dt.datetime
    ) -> OriginatePlan | NotPlaced:
        """«В соответствии с настройкой Рекламной Кампании»: vpbx has no call-tracking
        campaigns; a number's own settings stand for them: its rules choose the scenario for
        the client now (an analytics number: its forwarding number answers first)."""
        found = _number(config, self.missed_number_id)
        if found is None:
            why = "нет виртуального номера, на который был звонок"
            return NotPlaced(f"«по настройке рекламной кампании»: {why}", final=True)
        number = found[1]
        if number.forward_to:
            plan = _FirstLeg(
                HowToCall(method=CallbackMethod.NUMBER, number=number.forward_to),
                self.callees, self.whisper, self.whisper_file_id, found[0], self.label, found[0],
            )  # fmt: skip
            return plan.plan(task, config, now)
        scenario_id, why = Call(config, call_id=f"plan{task.id}").rule_scenario(
            number.number, task.caller, now
        )
        if scenario_id is None:
            return NotPlaced(f"«по настройке рекламной кампании»: {why}")
        return self._through_scenario(task, config, now, scenario_id)

    def _through_scenario(
        self, task: DueTask, config: ConfigSnapshot, now: dt.datetime, scenario_id: int
    ) -> OriginatePlan | NotPlaced:
        """CB-2: the scenario's first operation decides. One that rings employees (a forward,
        the personal manager) rings them first, the client when one answers; anything else
        (a menu, an extension, a message…) needs the client: he is rung first and the scenario
        runs with him. No rule whisper through a scenario (CB-4); the forward's own message to
        the employee is said."""
        shown = (
            _number(config, self.number_id)
            or _number(config, self.missed_number_id)
            or min(config.numbers.values(), default=None, key=lambda item: item[0])
        )
        probe = Call(config, call_id=f"plan{task.id}")
        actions = probe.start_scenario(task.caller, shown[1].number if shown else "", scenario_id,
                                       now)  # fmt: skip
        name = config.scenarios[scenario_id].name if scenario_id in config.scenarios else ""
        label = f"{self.label}: сценарий «{name}»"
        if probe.ended and not any(isinstance(a, act.Dial) for a in actions):
            why = probe.details[-1].text if probe.details else "сценарий пуст"
            return NotPlaced(f"сценарий #{scenario_id}: {why}", final=True)
        base = OriginatePlan(
            task.account_id,
            task.caller,
            Purpose.CALLBACK,
            whisper_default="",
            caller_id=shown[1].number if shown is not None else "",
            trunk_id=shown[1].trunk_id if shown is not None else None,
            number_id=shown[0] if shown is not None else None,
            label=label,
        )
        dial = actions[0] if actions else None
        if not isinstance(dial, act.Dial):
            return dataclasses.replace(base, scenario_id=scenario_id)  # the client first
        staff = tuple(t for t in dial.targets if t.number is None)
        numbers = [t.number for t in dial.targets if t.number is not None]
        first = dataclasses.replace(
            base,
            whisper_text=dial.operator_message_text,
            whisper_file_id=dial.operator_message_file_id,
        )
        if self.number_id is None:  # the employee's line chooses what the client sees
            first = dataclasses.replace(first, caller_id="", trunk_id=None, number_id=None)
        if staff:
            return dataclasses.replace(first, dial=dataclasses.replace(dial, targets=staff))
        return dataclasses.replace(first, number=numbers[0])


def _number(config: ConfigSnapshot, number_id: int | None) -> tuple[int, VirtualNumber] | None:
    """The account's virtual number by id, as (id, number)."""
    return next((n for n in config.numbers.values() if n[0] == number_id), None)


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
