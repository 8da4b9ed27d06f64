"""A call the PBX places itself (CB-1/2 auto-callback, API-1 CallAPI), sans-IO.

The employee is called first (an employee or a group through the node's distribution, or an
outside number); when he answers he hears the whisper (CB-2: a text said by TTS, a file, or
«автоперезвон»), his leg becomes the call's own side, and only then the client is dialled
through the trunk, showing the rule's virtual number or the one the CID rules choose for the
employee's line (XFR-2: a virtual number towards the PSTN). When the client answers the two
are bridged. The call details are this object's log, as `CallLogic`'s are for other calls.

Same shape as `CallLogic`: `start(now)` and `handle(event, now)` answer commands
(`vpbx.scenario.call_io` plus the three below); the switch (`vpbx.switch.originated`) carries
them out.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from dataclasses import dataclass

from vpbx.scenario import actions as act
from vpbx.scenario import call_io as io
from vpbx.scenario import distribution as dist
from vpbx.scenario.call_logic import CallSummary, ring_result
from vpbx.scenario.dist_details import detail_step, employee_name, give_up_reasons
from vpbx.scenario.engine import Step
from vpbx.scenario.forwarding import forward_request
from vpbx.scenario.snapshot import ConfigSnapshot, EmployeeInfo, PhoneInfo
from vpbx.scenario.talk_recording import auto_record_reason, saved_text

__all__ = [
    "DEFAULT_WHISPER",
    "SESSION_TYPES",
    "CallerIdChosen",
    "ChooseCallerId",
    "OriginateLogic",
    "OriginatePlan",
    "Outcome",
    "Purpose",
    "TakeEmployee",
    "WhisperDone",
    "WhisperToEmployee",
]

DEFAULT_WHISPER = "автоперезвон"
EMPLOYEE_RING_SECONDS = 30.0
CLIENT_RING_SECONDS = 45.0


class Purpose(enum.StrEnum):
    CALLBACK = "callback"
    CALLAPI = "callapi"
    #: FILE-1 «Записать сообщение»: the employee (or number) records a sound file
    #: (`vpbx.scenario.record_by_phone`)
    RECORD = "record"


#: the calls report's session type of each kind of call the PBX places
SESSION_TYPES = {
    Purpose.CALLBACK: "Автоперезвон",
    Purpose.CALLAPI: "CallAPI",
    Purpose.RECORD: "Запись сообщения",
}


class Outcome(enum.StrEnum):
    """How an originated call ended, for whoever placed it (the callback scheduler)."""

    TALKED = "talked"  # the client answered and was bridged with the employee
    CLIENT_NO_ANSWER = "client_no_answer"
    EMPLOYEE_NO_ANSWER = "employee_no_answer"
    EMPLOYEE_LEFT = "employee_left"  # he answered and hung up before the client did
    REFUSED = "refused"  # the CID rules, the toll-fraud guard or no trunk
    FAILED = "failed"
    RECORDED = "recorded"  # FILE-1: the message was recorded and filed
    NOTHING_RECORDED = "nothing_recorded"  # FILE-1: answered, but nothing was said


@dataclass(frozen=True, slots=True)
class OriginatePlan:
    """Who is called first, who second, and what the employee hears in between."""

    account_id: int
    #: the client: the number dialled second, through the trunk
    client: str
    purpose: Purpose = Purpose.CALLBACK
    employee_id: int | None = None
    group_id: int | None = None
    #: CB-1 «звонок на номер»: an outside number answers first instead of an employee
    number: str | None = None
    #: CB-1 «тем, кому пытались дозвониться» / «… в последней фазе ожидания»: these phones
    #: (employee id, phone id) are rung, all at once or (`in_turn`) one after another
    phones: tuple[tuple[int, str], ...] = ()
    in_turn: bool = False
    #: CB-1/CB-4 «Сценарий ВАТС» whose first operation rings employees: that forward (its
    #: targets and knobs) rings them instead
    dial: act.Dial | None = None
    #: … whose first operation needs the caller: the client is rung first and this scenario
    #: runs with him (`vpbx.scenario.callback_scenario`)
    scenario_id: int | None = None
    whisper_text: str = ""
    whisper_file_id: int | None = None
    #: said when there is neither a text nor a file ("": nothing, as through a scenario)
    whisper_default: str = DEFAULT_WHISPER
    #: the virtual number shown to the client ("" : chosen by the CID rules of the employee's
    #: line) and the trunk it leaves through
    caller_id: str = ""
    trunk_id: int | None = None
    number_id: int | None = None
    #: what the details say this call is ("правило «…», попытка 2")
    label: str = ""
    employee_ring_seconds: float = EMPLOYEE_RING_SECONDS
    client_ring_seconds: float = CLIENT_RING_SECONDS
    #: what the report names as dialled ("": the client)
    called: str = ""
    #: Purpose.RECORD: the sound file's name and the longest recording, in seconds
    record_name: str = ""
    record_seconds: int = 0


# -- events and commands of its own ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WhisperToEmployee:
    """Play the whisper to the leg that answered first (text by TTS, or a file);
    `WhisperDone` follows."""

    text: str
    file_id: int | None = None


@dataclass(frozen=True, slots=True)
class WhisperDone:
    """The whisper was played to the employee."""


@dataclass(frozen=True, slots=True)
class TakeEmployee:
    """The leg that answered first becomes the call's own side (what a caller's leg is to an
    incoming call): the client is rung as the call's next leg and bridged with it.
    `listen_keys`: his keys come in as `Digit` events from then on."""

    listen_keys: bool = False


@dataclass(frozen=True, slots=True)
class ChooseCallerId:
    """Which virtual number the client is shown (CID-1..3 for the line of `employee_id`);
    `CallerIdChosen` follows."""

    employee_id: int | None
    number: str


@dataclass(frozen=True, slots=True)
class CallerIdChosen:
    """The number to show (`number` "" : the employee has no line to choose by), or why the
    call may not go out (`refusal`)."""

    number: str = ""
    trunk_id: int | None = None
    number_id: int | None = None
    why: str = ""
    refusal: str = ""


Command = io.Command | WhisperToEmployee | TakeEmployee | ChooseCallerId
Input = io.Input | WhisperDone | CallerIdChosen


class Phase(enum.Enum):
    FINDING = "finding"
    RINGING_EMPLOYEE = "ringing_employee"
    WHISPER = "whisper"
    CHOOSING = "choosing"
    RINGING_CLIENT = "ringing_client"
    TALKING = "talking"
    OVER = "over"


@dataclass(slots=True)
class _Ring:
    employee_id: int | None = None
    phone_id: str | None = None
    number: str | None = None


class OriginateLogic:
    """One call the PBX places, from its first ring to its report row."""

    def __init__(
        self, config: ConfigSnapshot, plan: OriginatePlan, *, call_id: str, started_at: dt.datetime
    ) -> None:
        self.config = config
        self.plan = plan
        self.call_id = call_id
        self.started_at = started_at
        self.phase = Phase.FINDING
        self.details: list[Step] = []
        self.outcome: Outcome | None = None
        self.reason = ""
        self.rings: dict[int, _Ring] = {}
        self._phone_rings: dict[tuple[int, str], int] = {}
        self._next_ring = 0
        self.in_distribution = False
        self._dist_connected = False
        self.employee_id: int | None = None
        self.employee_answered_at: dt.datetime | None = None
        self.client_ring: int | None = None
        self.client_answered_at: dt.datetime | None = None
        self.shown_number = plan.caller_id
        self.talking = False
        self._talk_started: dt.datetime | None = None
        self.talk_seconds = 0.0
        self.tagging = False
        #: REC-1: the talk is recorded (stopped and filed when the call is over)
        self.talk_recording = False
        self.file_ids: list[int] = []

    # -- the driver's side ---------------------------------------------------------------------

    @property
    def ended(self) -> bool:
        return self.phase is Phase.OVER

    def next_timer(self) -> dt.datetime | None:
        return None  # the rings are timed by the distribution and the switch

    def start(self, now: dt.datetime) -> list[Command]:
        plan = self.plan
        self._log(now, "originate", self._intent(), purpose=plan.purpose.value, client=plan.client)
        if plan.number is not None:
            return self._ring_outside_first(plan.number, now)
        ids = self._employee_ids()
        if not ids:
            return self._over(
                now, Outcome.FAILED, "некого вызывать: сотрудник или группа не найдены"
            )
        return [io.FindPhones(ids)]

    def handle(self, event: Input, now: dt.datetime) -> list[Command]:
        match event:
            case io.PhonesFound(reachable=reachable):
                return self._phones_found(reachable, now)
            case io.DistAction(action=action):
                return self._dist_action(action, now)
            case io.DistDetail(detail=detail):
                self.details.append(detail_step(detail, self.config.employees))
                return []
            case io.RingAnswered(ring=ring):
                return self._answered(ring, now)
            case io.RingFailed(ring=ring, status=status):
                return self._ring_failed(ring, status, f"SIP {status}", now)
            case io.RingRefused(ring=ring, text=text, kind=kind, data=data):
                self._log(now, kind, text, **dict(data))
                return self._ring_failed(ring, 0, text, now)
            case WhisperDone():
                return self._whispered(now)
            case CallerIdChosen():
                return self._caller_id_chosen(event, now)
            case io.Connected():
                self.phase = Phase.TALKING
                self.talking = True
                self._talk_started = now
                self._log(now, "connected", "сотрудник и абонент соединены")
                return self._auto_record(now)
            case io.TalkRecordingSaved():
                if event.file_id is not None:
                    self.file_ids.append(event.file_id)
                self._log(now, "talk_recording", saved_text(event), file_id=event.file_id,
                          seconds=round(event.seconds, 3), error=event.error)  # fmt: skip
                return []
            case io.CalleeHungUp():
                if self.phase in (Phase.WHISPER, Phase.CHOOSING):
                    # before the take, the employee's leg is the call's answered leg
                    return self._over(now, Outcome.EMPLOYEE_LEFT, "сотрудник положил трубку")
                if self.phase is Phase.TALKING:
                    return self._over(now, Outcome.TALKED, "абонент положил трубку")
                return []
            case io.CallerHungUp():
                if self.phase is Phase.TALKING:
                    return self._over(now, Outcome.TALKED, "сотрудник положил трубку")
                if self.phase is not Phase.OVER:
                    return self._over(
                        now, Outcome.EMPLOYEE_LEFT, "сотрудник положил трубку до ответа абонента"
                    )
                return []
        return []

    def fail(self, now: dt.datetime, why: str) -> list[Command]:
        return self._over(now, Outcome.FAILED, f"сбой обработки звонка: {why}")

    def finish(self, now: dt.datetime) -> list[Command]:
        """The call is over whatever state it was in (the switch hung it up, or stops); the
        talk's recording is filed now, before the report row that links it is written."""
        out = self._stop_recording() + self._talk_over(now) + self._leave()
        if self.phase is not Phase.OVER:
            self.phase = Phase.OVER
            if self.outcome is None:
                self.outcome = Outcome.FAILED
                self.reason = "звонок прерван"
        return out

    def answer_so_far(self) -> tuple[dt.datetime, int | None] | None:
        if self.client_answered_at is None:
            return None
        return self.client_answered_at, self.employee_id

    def summary(self, ended_at: dt.datetime) -> CallSummary:
        if self.client_answered_at is not None:
            status = "answered"
        elif self.outcome in (Outcome.REFUSED, Outcome.FAILED):
            status = "failed"
        else:
            status = "missed"
        talk = self.talk_seconds
        if self.talking and self._talk_started is not None:
            talk += (ended_at - self._talk_started).total_seconds()
        waited_until = self.client_answered_at or ended_at
        return CallSummary(
            status=status,
            caller=self._caller_label(),
            answered_at=self.client_answered_at,
            employee_id=self.employee_id,
            scenario_id=None,
            wait_seconds=max(0.0, (waited_until - self.started_at).total_seconds()),
            talk_seconds=round(max(talk, 0.0), 3),
            rating=None,
            recording_file_ids=tuple(self.file_ids),
            contact_name=self._contact_name(),
        )

    # -- the first leg -------------------------------------------------------------------------

    def _intent(self) -> str:
        """The details' first line: what this call is for."""
        plan = self.plan
        what = "автоперезвон" if plan.purpose is Purpose.CALLBACK else "звонок CallAPI"
        label = f" ({plan.label})" if plan.label else ""
        return f"{what}{label}: сначала {self._first_label()}, затем абонент {plan.client}"

    def _first_label(self) -> str:
        plan = self.plan
        if plan.number is not None:
            return f"номер {plan.number}"
        if plan.group_id is not None:
            group = self.config.groups.get(plan.group_id)
            return f"группа «{group.name}»" if group is not None else f"группа #{plan.group_id}"
        if plan.phones:
            names = [employee_name(self.config.employees, e) for e in self._employee_ids()]
            return f"сотрудники {', '.join(names)}"
        if plan.dial is not None:
            return f"переадресация сценария (операция '{plan.dial.operation}')"
        employee = self.config.employees.get(plan.employee_id or 0)
        return f"сотрудник {employee.name}" if employee is not None else "сотрудник"

    def _employee_ids(self) -> tuple[int, ...]:
        plan = self.plan
        if plan.phones:
            rung = (e for e, _phone in plan.phones if e in self.config.employees)
            return tuple(dict.fromkeys(rung))
        if plan.dial is not None:
            groups = [self.config.groups.get(t.group_id or 0) for t in plan.dial.targets]
            ids = [t.employee_id for t in plan.dial.targets if t.employee_id is not None]
            ids += [m for g in groups if g is not None for m in (*g.member_ids,
                    *(row.employee_id for row in g.rows))]  # fmt: skip
            return tuple(e for e in dict.fromkeys(ids) if e in self.config.employees)
        if plan.employee_id is not None and plan.employee_id in self.config.employees:
            return (plan.employee_id,)
        if plan.group_id is not None and plan.group_id in self.config.groups:
            group = self.config.groups[plan.group_id]
            ids = list(group.member_ids) + [row.employee_id for row in group.rows]
            return tuple(dict.fromkeys(ids))
        return ()

    def _new_ring(self, ring: _Ring) -> int:
        self._next_ring += 1
        self.rings[self._next_ring] = ring
        return self._next_ring

    def _ring_outside_first(self, number: str, now: dt.datetime) -> list[Command]:
        self.phase = Phase.RINGING_EMPLOYEE
        ring = self._new_ring(_Ring(number=number))
        shown = self.plan.caller_id or self._default_number()
        # XFR-2: the first leg goes to the PSTN too: a virtual number, never the client's
        return [
            io.RingNumber(ring, number, self.plan.employee_ring_seconds, shown, self.plan.trunk_id)
        ]

    def _phones_found(
        self, reachable: frozenset[tuple[int, str]], now: dt.datetime
    ) -> list[Command]:
        if self.phase is not Phase.FINDING:
            return []
        self.phase = Phase.RINGING_EMPLOYEE
        plan = self.plan
        targets = tuple(act.DialTarget(employee_id=e, phone_id=p) for e, p in plan.phones) or (
            act.DialTarget(group_id=plan.group_id, employee_id=plan.employee_id),
        )
        # the phones of a missed call: all at once for the same time, or in their order
        at_once = len(targets) if plan.phones and not plan.in_turn else None
        dial = act.Dial(
            targets,
            "originate",
            strategy="custom" if at_once else "priority",
            simultaneous_lines=at_once,
            ring_timeout=int(plan.employee_ring_seconds),
            queue=False,
        )
        if plan.dial is not None:
            dial = dataclasses.replace(plan.dial, queue=False)  # QUE-6: outgoing, never queued

        def can_ring(employee: EmployeeInfo, phone: PhoneInfo) -> bool:
            return (employee.id, phone.id) in reachable

        request = forward_request(
            dial,
            self.config,
            call_id=self.call_id,
            account_id=plan.account_id,
            caller=plan.client,
            now=now,
            reachable=can_ring,
            kind=dist.CallKind.OUTGOING,  # QUE-6: an outgoing call never queues
        )
        if not request.targets:
            return self._over(now, Outcome.EMPLOYEE_NO_ANSWER, "Вызовы сотрудникам не найдены")
        self.in_distribution = True
        return [io.Distribute(request)]

    def _dist_action(self, action: dist.Action, now: dt.datetime) -> list[Command]:
        match action:
            case dist.Ring(employee_id=eid, phone_id=phone_id, timeout=timeout):
                return self._ring_phone(eid, phone_id, timeout, now)
            case dist.Cancel(employee_id=eid, phone_id=phone_id):
                ring = self._phone_rings.pop((eid, phone_id), None)
                if ring is None or self.phase is not Phase.RINGING_EMPLOYEE:
                    return []
                self.rings.pop(ring, None)
                return [io.StopRing(ring)]
            case dist.GiveUp(skipped=skipped):
                self.in_distribution = False
                reasons = give_up_reasons(skipped, self.config.employees)
                why = "; ".join(reasons) or "никто не ответил"
                if self.phase is Phase.RINGING_EMPLOYEE:
                    return self._over(now, Outcome.EMPLOYEE_NO_ANSWER, f"сотрудник: {why}")
        return []

    def _ring_phone(
        self, employee_id: int, phone_id: str, timeout: float, now: dt.datetime
    ) -> list[Command]:
        employee = self.config.employees.get(employee_id)
        phone = next((p for p in employee.phones if p.id == phone_id), None) if employee else None
        ring = self._new_ring(_Ring(employee_id, phone_id))
        self._phone_rings[(employee_id, phone_id)] = ring
        if phone is None or phone.kind == "sip_uri":
            self._log(now, "ring_refused", f"телефон {phone_id} не вызывается при автоперезвоне")
            return self._ring_failed(ring, 0, "телефон не вызывается", now)
        refusal = self.config.fmc_refusal(phone)
        if refusal is not None:
            self._log(now, "ring_refused", refusal, phone=phone_id)  # FMC-1: blocked, off
            return self._ring_failed(ring, 0, "FMC", now)
        # the employee sees the client's number; a phone that is a PSTN number a virtual one
        shown = self._default_number() if phone.kind == "number" else self.plan.client
        return [io.RingPhone(ring, employee_id, phone, timeout, shown)]

    def _answered(self, ring: int, now: dt.datetime) -> list[Command]:
        found = self.rings.get(ring)
        if found is None:
            return []
        if self.phase is Phase.RINGING_CLIENT and ring == self.client_ring:
            self.client_answered_at = now
            self._log(now, "client_answered", f"абонент {self.plan.client} ответил")
            return [io.ConnectCallee(ring)]
        if self.phase is not Phase.RINGING_EMPLOYEE:
            return []
        out: list[Command] = [io.StopRing(r) for r in self.rings if r != ring]
        self.rings = {ring: found}
        self._phone_rings = {}
        self.employee_answered_at = now
        if found.employee_id is not None:
            self.employee_id = found.employee_id
            employee = self.config.employees.get(found.employee_id)
            who = employee.name if employee is not None else f"#{found.employee_id}"
            self._log(now, "employee_answered", f"сотрудник {who} ответил", employee_id=who)
            if self.in_distribution:
                self._dist_connected = True
                assert found.phone_id is not None
                answered = dist.Answered(self.call_id, found.employee_id, found.phone_id)
                out.append(io.TellDistribution(answered))
        else:
            self._log(now, "employee_answered", f"номер {found.number} ответил")
        return [*out, *self._first_answered(now)]

    def _first_answered(self, now: dt.datetime) -> list[Command]:
        """What follows the first leg's answer: the whisper, then the client."""
        self.phase = Phase.WHISPER
        plan = self.plan
        text = plan.whisper_text or ("" if plan.whisper_file_id else plan.whisper_default)
        said = f"файл #{plan.whisper_file_id}" if plan.whisper_file_id else f"«{text}»"
        if not text and not plan.whisper_file_id:
            said = "нет (через сценарий)"
        self._log(now, "whisper", f"подсказка сотруднику: {said}")
        return [WhisperToEmployee(text, plan.whisper_file_id)]

    def _ring_failed(self, ring: int, status: int, why: str, now: dt.datetime) -> list[Command]:
        found = self.rings.pop(ring, None)
        if found is None:
            return []
        if self.phase is Phase.RINGING_CLIENT and ring == self.client_ring:
            outcome = Outcome.REFUSED if status == 0 else Outcome.CLIENT_NO_ANSWER
            return self._over(now, outcome, f"абонент {self.plan.client} не ответил ({why})")
        if self.phase is not Phase.RINGING_EMPLOYEE:
            return []
        if found.number is not None:
            return self._over(
                now, Outcome.EMPLOYEE_NO_ANSWER, f"номер {found.number} не ответил ({why})"
            )
        assert found.employee_id is not None
        assert found.phone_id is not None
        self._phone_rings.pop((found.employee_id, found.phone_id), None)
        if not self.in_distribution:
            return []
        result = ring_result(status) if status else dist.RingResult.FAILED
        event = dist.RingEnded(self.call_id, found.employee_id, found.phone_id, result)
        return [io.TellDistribution(event)]

    # -- the second leg ------------------------------------------------------------------------

    def _whispered(self, now: dt.datetime) -> list[Command]:
        if self.phase is not Phase.WHISPER:
            return []
        if self.plan.caller_id:
            self.phase = Phase.CHOOSING
            return self._ring_client(self.plan.caller_id, self.plan.trunk_id, now)
        self.phase = Phase.CHOOSING
        return [ChooseCallerId(self.employee_id, self.plan.client)]

    def _caller_id_chosen(self, chosen: CallerIdChosen, now: dt.datetime) -> list[Command]:
        if self.phase is not Phase.CHOOSING:
            return []
        if chosen.refusal:
            self._log(now, "caller_id", chosen.refusal)
            return self._over(now, Outcome.REFUSED, chosen.refusal)
        number, trunk_id = chosen.number, chosen.trunk_id
        if not number:
            number = self._default_number()
        if chosen.why:
            self._log(now, "caller_id", f"номер для абонента {number}: {chosen.why}")
        return self._ring_client(number, trunk_id, now)

    def _ring_client(self, shown: str, trunk_id: int | None, now: dt.datetime) -> list[Command]:
        self.phase = Phase.RINGING_CLIENT
        self.shown_number = shown
        ring = self._new_ring(_Ring(number=self.plan.client))
        self.client_ring = ring
        self._log(
            now,
            "client_ring",
            f"вызов абонента {self.plan.client} с номера {shown or 'по умолчанию'}",
            shown=shown,
        )
        return [
            TakeEmployee(),
            io.RingNumber(ring, self.plan.client, self.plan.client_ring_seconds, shown, trunk_id),
        ]

    # -- the end -------------------------------------------------------------------------------

    def _over(self, now: dt.datetime, outcome: Outcome, why: str) -> list[Command]:
        if self.phase is Phase.OVER:
            return []
        out: list[Command] = [io.StopRing(r) for r in self.rings if r != self.client_ring]
        out += self._talk_over(now) + self._leave()
        self.phase = Phase.OVER
        self.outcome = outcome
        self.reason = why
        self._log(now, "originate_over", why, outcome=outcome.value)
        return [*out, io.HangUp()]

    def _auto_record(self, now: dt.datetime) -> list[Command]:
        """REC-1: the talk with the client is recorded as an incoming call's would be: the
        account, the number shown to the client, the employee, the scenario's Forward."""
        why = auto_record_reason(self.config, self.shown_number, self.employee_id, self.plan.dial)
        if why is None or self.talk_recording:
            return []
        self.talk_recording = True
        self._log(now, "talk_recording_start", f"запись разговора: {why}", reason=why)
        # the employee is the call's own side, the client the leg connected to him
        return [io.RecordTalk(caller_connected=True)]

    def _stop_recording(self) -> list[Command]:
        if not self.talk_recording:
            return []
        self.talk_recording = False
        client = self.plan.client
        name = f"Запись разговора {client}"
        return [io.StopTalkRecording(name, client, self.shown_number, self.employee_id)]

    def _talk_over(self, now: dt.datetime) -> list[Command]:
        if self.talking and self._talk_started is not None:
            self.talk_seconds += (now - self._talk_started).total_seconds()
        self.talking = False
        return []

    def _leave(self) -> list[Command]:
        if not self.in_distribution:
            return []
        self.in_distribution = False
        if self._dist_connected:
            self._dist_connected = False
            return [io.TellDistribution(dist.CallEnded(self.call_id))]
        return [io.TellDistribution(dist.CallerHungUp(self.call_id))]

    def _log(self, now: dt.datetime, kind: str, text: str, **data: object) -> None:
        self.details.append(Step(now, kind, text, dict(data)))

    def _default_number(self) -> str:
        """The account's first virtual number (the fallback shown towards the PSTN)."""
        numbers = sorted(self.config.numbers.values(), key=lambda item: item[0])
        return numbers[0][1].number if numbers else ""

    def _caller_label(self) -> str:
        employee = self.config.employees.get(self.employee_id or 0)
        if employee is not None:
            return employee.extension or employee.name
        return self.plan.number or ""

    def _contact_name(self) -> str:
        contacts = sorted(self.config.contacts_by_phone.get(self.plan.client, ()))
        if not contacts:
            return ""
        contact = self.config.contacts[contacts[0]]
        return " ".join(p for p in (contact.last_name, contact.first_name) if p)
