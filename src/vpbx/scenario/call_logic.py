"""The whole logic of one call, sans-IO: the scenario engine, its link to the distribution, the
rings, the talk, the voicemail and the call details, in one object per call.

`CallLogic` takes what happened (`vpbx.scenario.call_io` events, with `now`) and answers what
the switch must do (commands). The live switch (`vpbx.switch.runner`) and `vpbx simulate`
(`vpbx.services.simulate`) both drive it; neither holds call logic of its own. The call
details are written here only: the engine's steps, the distribution's records, refused rings,
the mail's fate.

The distribution is one per node (its queue and line counts span every call), so the logic does
not call it: it says `Distribute` / `TellDistribution`, and the driver hands the distributor's
answers back as `DistAction` / `DistDetail` of the calls they concern (`route_step`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from vpbx.domain.entities.routing import TalkAction, TalkOption
from vpbx.domain.fields import check_sip_uri
from vpbx.scenario import actions as act
from vpbx.scenario import call_io as io
from vpbx.scenario import distribution as dist
from vpbx.scenario.dist_details import detail_step, give_up_reasons
from vpbx.scenario.engine import Call, Step
from vpbx.scenario.events import (
    Answered,
    CallArrived,
    CallerHungUp,
    DialFailed,
    Event,
    RecordingDone,
    TalkEnded,
)
from vpbx.scenario.forwarding import forward_request
from vpbx.scenario.snapshot import (
    CallerFacts,
    ConfigSnapshot,
    EmployeeInfo,
    PhoneInfo,
)
from vpbx.scenario.talk_recording import auto_record_reason, saved_text
from vpbx.scenario.transfer import (
    DIGITS_WAIT,
    TRANSFER_RING_SECONDS,
    Mode,
    Phase,
    Transfer,
    TransferRing,
    destination,
)

__all__ = ["CallLogic", "CallSummary", "ring_result", "route_step"]

#: what an outside number of a Forward rings for when the operation names no ring timeout
NUMBER_RING_SECONDS = 60.0
#: SCN-TAG: how long the employee has to press a tag's key after the caller left
TAGGING_SECONDS = 10.0
TAG_PROMPT = "Абонент положил трубку. Нажмите клавишу тега для этого звонка."
#: TRN-1: the trainer's keys in the talk
TRAINER_MODES = {
    "1": ("listen", "слушает (его не слышит никто)"),
    "2": ("whisper", "подсказывает (его слышит только сотрудник)"),
    "3": ("barge", "вмешался (его слышат все)"),
}
#: the same modes by name (a supervisor joining from the live view chooses one)
MODE_TEXTS = dict(TRAINER_MODES.values())


def ring_result(status: int) -> dist.RingResult:
    """A ring's final SIP status as the distribution counts it."""
    if status in (486, 600):
        return dist.RingResult.BUSY
    if status in (603,):
        return dist.RingResult.REJECTED
    if status in (408, 480, 487):
        return dist.RingResult.NO_ANSWER
    return dist.RingResult.FAILED


def route_step(step: dist.Step) -> Iterator[tuple[str, io.DistAction | io.DistDetail]]:
    """A distributor's step as (call id, event) pairs: details first, as they happened."""
    for detail in step.details:
        yield detail.call_id, io.DistDetail(detail)
    for action in step.actions:
        yield action.call_id, io.DistAction(action)


@dataclass(frozen=True, slots=True)
class CallSummary:
    """What the calls report keeps of one call (CDR-1), as the logic knows it."""

    status: str
    caller: str
    answered_at: dt.datetime | None
    employee_id: int | None
    scenario_id: int | None
    wait_seconds: float
    talk_seconds: float
    rating: int | None
    recording_file_ids: tuple[int, ...]
    contact_name: str


@dataclass(slots=True)
class _Ring:
    employee_id: int | None = None
    phone_id: str | None = None
    number: str | None = None


class CallLogic:
    """One call to a virtual number, from its arrival to its report row."""

    def __init__(
        self,
        config: ConfigSnapshot,
        *,
        call_id: str,
        account_id: int,
        number: str,
        caller: str,
        started_at: dt.datetime,
        facts: CallerFacts | None = None,
        number_id: int | None = None,
        trunk_id: int | None = None,
    ) -> None:
        self.config = config
        self.call_id = call_id
        self.account_id = account_id
        self.number = number
        self.number_id = number_id
        #: VirtualNumber.trunk_id: the trunk outside numbers of this call go out through
        self.trunk_id = trunk_id
        self.caller = caller
        self.started_at = started_at
        self.engine = Call(config, call_id=call_id, facts=facts)
        #: QUE-6: what kind of call the scenario's forwards ring for (whether it may queue)
        self.dial_kind = dist.CallKind.INCOMING
        self.caller_answered = False
        self.dial: act.Dial | None = None
        self._next_ring = 0
        self.rings: dict[int, _Ring] = {}
        self._phone_rings: dict[tuple[int, str], int] = {}
        self.in_distribution = False
        #: the distribution counts the phone that answered as busy until told the talk ended
        self.dist_connected = False
        #: the id the distributor knows this call's talk by: the call's own, or after a transfer
        #: to a group the transfer's (the group member's talk and wrap-up count there)
        self.dist_id = call_id
        self._transfers_made = 0
        self._gave_up: tuple[str, ...] | None = None
        self._number_failures: list[str] = []
        self.answered_ring: int | None = None
        self.talking = False
        self._talk_started: dt.datetime | None = None
        self.talk_seconds = 0.0
        self.first_answer: dt.datetime | None = None
        self.recording = False
        self._record_deadline: dt.datetime | None = None
        self._hangup_after_recording = False
        self.file_ids: list[int] = []
        self.failed = False
        self.hung_up = False
        #: the employee in the talk: whose keys are talk options, who transfers
        self.talker: int | None = None
        self.transfer: Transfer | None = None
        #: the number the employee dials after `#` (None: not dialling)
        self._keys: str | None = None
        self._keys_deadline: dt.datetime | None = None
        #: SCN-TAG: the caller left, the employee's tag key is awaited until then
        self._tagging_deadline: dt.datetime | None = None
        #: REC-1, TALK-2: the conversation is being recorded; and how many stopped recordings
        #: are not filed yet (the call is not over before they are)
        self.talk_recording = False
        self._talk_saving = 0
        #: TRN-1 from the live view: the supervisor asked for (employee id, name) and his mode
        #: (None: nobody, or the employee's own trainer, who joins by TALK-3 or automatically)
        self.supervisor: tuple[int, str] | None = None
        self.supervise_mode: str | None = None

    # -- the driver's side ---------------------------------------------------------------------

    @property
    def details(self) -> list[Step]:
        return self.engine.details

    @property
    def ended(self) -> bool:
        done = self.engine.ended and not self.recording and not self._talk_saving
        return done and self._tagging_deadline is None

    @property
    def tagging(self) -> bool:
        """SCN-TAG: the caller left; the employee is still on the line to tag the call."""
        return self._tagging_deadline is not None

    def next_timer(self) -> dt.datetime | None:
        """When `handle(TimerFired(), now)` is due next (None: nothing is timed)."""
        timers = [
            t
            for t in (
                self.engine.get_timer(),
                self._record_deadline,
                self._keys_deadline,
                self._tagging_deadline,
            )
            if t is not None
        ]
        return min(timers, default=None)

    def start(self, now: dt.datetime) -> list[io.Command]:
        return self._engine(CallArrived(self.number, self.caller), now)

    def start_group(self, group_id: int, now: dt.datetime) -> list[io.Command]:
        """An internal call to a group's extension (GRP-1): its distribution, no scenario."""
        out: list[io.Command] = []
        for action in self.engine.dial_group(self.caller, group_id, now):
            out += self._action(action, now)
        return out

    def start_scenario(
        self, scenario_id: int, now: dt.datetime, *, dialer: bool = False
    ) -> list[io.Command]:
        """CB-2: the client the PBX called back answered; the scenario runs with him (his leg
        is already answered). QUE-6: a call the PBX placed that runs a scenario queues only
        where its forward's queue is on, as CallAPI's does. QUE-7 (`dialer`: the PBX dialled
        the client first on its own, an outbound dialing): the queue only holds him, every
        free phone of the forward is rung at once and again, outside the FIFO."""
        self.caller_answered = True
        self.dial_kind = dist.CallKind.DIALER if dialer else dist.CallKind.CALLAPI_SCENARIO
        out: list[io.Command] = []
        for action in self.engine.start_scenario(self.caller, self.number, scenario_id, now):
            out += self._action(action, now)
        return out

    def handle(self, event: io.Input, now: dt.datetime) -> list[io.Command]:
        match event:
            case io.TimerFired():
                out: list[io.Command] = []
                if self._record_deadline is not None and now >= self._record_deadline:
                    out += self._stop_recording()
                if self._keys_deadline is not None and now >= self._keys_deadline:
                    out += self._keys_done(now)
                if self._tagging_deadline is not None and now >= self._tagging_deadline:
                    out += self._tagging_over(now, "тег не поставлен: время вышло")
                return out + self._engine(event, now)
            case io.Digit() | io.PlaybackDone() | io.HttpResponse():
                return self._engine(event, now)
            case io.CallerHungUp():
                return self._caller_left(now)
            case io.PhonesFound(reachable=reachable):
                if self.transfer is not None and self.transfer.phase is Phase.FINDING:
                    return self._transfer_phones(self.transfer, reachable, now)
                return self._phones_found(reachable, now)
            case io.RingAnswered():
                if self.transfer is not None and event.ring in self.transfer.rings:
                    return self._transfer_answered(self.transfer, event.ring, now)
                return self._ring_answered(event, now)
            case io.RingFailed(ring=ring, status=status):
                if self.transfer is not None and ring in self.transfer.rings:
                    return self._transfer_ring_failed(self.transfer, ring, status, now)
                return self._ring_failed(ring, status, f"{status}", now)
            case io.RingRefused(ring=ring, text=text, kind=kind, data=data):
                self._log(now, kind, text, **dict(data))
                if self.transfer is not None and ring in self.transfer.rings:
                    return self._transfer_ring_failed(self.transfer, ring, 0, now)
                return self._ring_failed(ring, 0, text, now)
            case io.EmployeeDigit(digit=digit):
                return self._employee_digit(digit, now)
            case io.TransferAsked(target=target, uri=uri):
                return self._transfer_asked(target, uri, now)
            case io.ReplacesAsked():
                return self._replaces_asked(event, now)
            case io.TargetHungUp():
                return self._target_hung_up(now)
            case io.TrainerDigit(digit=digit):
                return self._trainer_digit(digit, now)
            case io.SuperviseAsked():
                return self._supervise_asked(event, now)
            case io.TrainerJoined(mode=mode):
                kind, who, about = self._who_joins()
                if self.supervisor is not None:
                    self.supervise_mode = mode
                text = f"{who} подключился: {MODE_TEXTS.get(mode, mode)}"
                self._log(now, kind, text, **about, mode=mode)
                return []
            case io.TrainerLeft(joined=joined):
                kind, who, about = self._who_joins()
                text = "положил трубку, разговор идёт без него" if joined else "не ответил"
                self._log(now, kind, f"{who} {text}", **about)
                self.supervisor = self.supervise_mode = None
                return []
            case io.HoldChanged(by=by, holding=holding):
                who = {"caller": "абонент", "callee": "сотрудник", "trainer": "тренер"}.get(by, by)
                text = f"{who} поставил звонок на удержание" if holding else f"{who} снял удержание"
                self._log(now, "hold" if holding else "resume", text, by=by)
                return []
            case io.Connected():
                self.talking = True
                self._talk_started = now
                return self._auto_record(now)
            case io.CalleeHungUp():
                if self._tagging_deadline is not None:
                    return self._tagging_over(now, "сотрудник положил трубку: тег не поставлен")
                if self.transfer is not None or self._keys is not None:
                    return self._employee_left_transfer(now)
                return self._talk_over(now) + self._engine(TalkEnded("employee"), now)
            case io.CallCut(reason=reason):
                self._log(now, "toll_fraud", reason, rule="minutes_per_hour")
                return []
            case io.RecordingSaved():
                return self._recording_saved(event, now)
            case io.TalkRecordingSaved():
                self._talk_recording_saved(event, now)
                return []
            case io.MailSent():
                self._mail_sent(event, now)
                return []
            case io.DistDetail(detail=detail):
                self.details.append(detail_step(detail, self.config.employees))
                return []
            case io.DistAction(action=action):
                return self._dist_action(action, now)
        return []

    def fail(self, now: dt.datetime, why: str) -> list[io.Command]:
        """The driver could not carry the call on (an error of its own): end it cleanly."""
        self.failed = True
        self._log(now, "failed", f"сбой обработки звонка: {why}")
        return [*self._leave(now), io.HangUp()]

    def finish(self, now: dt.datetime) -> list[io.Command]:
        """The call is over, whatever state the logic was in (the switch hung it up, or is
        stopping): the talk stops counting and the distribution is told it is free of it."""
        self.recording = False
        self._record_deadline = None
        return [*self._talk_over(now), *self._leave(now), *self._transfer_dist_over()]

    def answer_so_far(self) -> tuple[dt.datetime, int | None] | None:
        """When the call was answered and by whom, while it lasts (None: not answered yet)."""
        if self.first_answer is None:
            return None
        return self.first_answer, self.engine.answered_by

    def summary(self, ended_at: dt.datetime) -> CallSummary:
        engine = self.engine
        if isinstance(engine.outcome, act.Reject):
            status = "blocked"
        elif self.failed:
            status = "failed"
        elif self.first_answer is not None:
            status = "answered"
        elif self.file_ids:
            status = "voicemail"  # not answered, but the caller left a message
        else:
            status = "missed"
        waited_until = self.first_answer or ended_at
        talk = self.talk_seconds
        if self.talking and self._talk_started is not None:
            talk += (ended_at - self._talk_started).total_seconds()
        caller = engine.caller or self.caller
        return CallSummary(
            status=status,
            caller=caller,
            answered_at=self.first_answer,
            employee_id=engine.answered_by,
            scenario_id=engine.scenario_id,
            wait_seconds=max(0.0, (waited_until - self.started_at).total_seconds()),
            talk_seconds=round(max(talk, 0.0), 3),
            rating=engine.rating,
            recording_file_ids=tuple(self.file_ids),
            contact_name=self._contact_name(caller),
        )

    # -- the engine ----------------------------------------------------------------------------

    def _log(self, now: dt.datetime, kind: str, text: str, **data: object) -> None:
        self.details.append(Step(now, kind, text, dict(data)))

    def _engine(self, event: Event, now: dt.datetime) -> list[io.Command]:
        actions = self.engine.handle(event, now)
        out: list[io.Command] = []
        for action in actions:
            out += self._action(action, now)
        return out

    def _answer(self) -> list[io.Command]:
        if self.caller_answered or self.hung_up:
            return []
        self.caller_answered = True
        return [io.AnswerCaller()]

    def _action(self, action: act.Action, now: dt.datetime) -> list[io.Command]:
        match action:
            case act.Answer() | act.StoreRating():
                # the caller is answered when media is needed; the rating is the engine's and
                # is written with the call
                return []
            case act.Play():
                return [*self._answer(), io.PlayToCaller(action)]
            case act.StopPlayback():
                return [io.StopPlayback()]
            case act.Record():
                self.recording = True
                self._record_deadline = now + dt.timedelta(seconds=action.max_seconds)
                return [*self._answer(), io.StartRecording(action.max_seconds, action.beep)]
            case act.SendMail():
                return [
                    io.SendVoicemail(
                        action.to, action.subject, action.file_id, self.engine.caller, self.number
                    )
                ]
            case act.Dial():
                return self._dial(action)
            case act.CancelDial():
                return self._cancel_rings() + self._leave(now)
            case act.Bridge():
                ring = self.answered_ring
                if ring is None:
                    return []
                dial = self.dial
                keep: list[io.Command] = [io.KeepEmployee()] if self.engine.offers_tagging else []
                return [
                    *keep,
                    io.StopPlayback(),
                    io.ConnectCallee(
                        ring,
                        dial.operator_message_file_id if dial is not None else None,
                        dial.operator_message_text if dial is not None else "",
                    ),
                ]
            case act.HttpRequest() | act.OfferTagging() | act.CollectDigits():
                return [action]
            case act.Hangup():
                self.hung_up = True
                return [io.StopPlayback(), *self._leave(now), io.HangUp()]
            case act.Reject():
                self.hung_up = True
                return [io.RejectCall(403, "Forbidden (blacklisted)")]
        return []

    # -- voicemail (SCN-VM) --------------------------------------------------------------------

    def _stop_recording(self) -> list[io.Command]:
        self._record_deadline = None
        employee_id, group_id = self._voicemail_owner()
        return [
            io.StopRecording(
                f"Голосовое сообщение {self.caller}",
                self.caller,
                self.number,
                employee_id,
                group_id,
            )
        ]

    def _voicemail_owner(self) -> tuple[int | None, int | None]:
        """ACC-2: the employee (or group) whose forward led to the voicemail, when the last
        forward named exactly one."""
        dial = self.dial
        if dial is None or len(dial.targets) != 1:
            return None, None
        target = dial.targets[0]
        return target.employee_id, target.group_id

    def _recording_saved(self, event: io.RecordingSaved, now: dt.datetime) -> list[io.Command]:
        if not self.recording:
            return []
        self.recording = False
        self._record_deadline = None
        if event.file_id is not None:
            self.file_ids.append(event.file_id)
        out = self._engine(RecordingDone(event.file_id, event.seconds), now)
        if self._hangup_after_recording:
            out += self._caller_left(now)
        return out

    def _mail_sent(self, event: io.MailSent, now: dt.datetime) -> None:
        if event.delivered:
            text = f"письмо голосовой почты доставлено (попыток: {event.attempts})"
        else:
            text = (
                f"письмо голосовой почты не доставлено: {event.error} (попыток: {event.attempts})"
            )
        self._log(
            now,
            "mail_result",
            text,
            delivered=event.delivered,
            attempts=event.attempts,
            error=event.error,
        )

    # -- dialling ------------------------------------------------------------------------------

    def _dial(self, dial: act.Dial) -> list[io.Command]:
        self.dial = dial
        self._gave_up = None
        self._number_failures = []
        ids: list[int] = []
        for target in dial.targets:
            if target.employee_id is not None:
                ids.append(target.employee_id)
            elif target.group_id is not None and target.group_id in self.config.groups:
                group = self.config.groups[target.group_id]
                ids += list(group.member_ids) + [row.employee_id for row in group.rows]
        return [io.FindPhones(tuple(dict.fromkeys(ids)))]

    def _new_ring(self, ring: _Ring) -> int:
        self._next_ring += 1
        self.rings[self._next_ring] = ring
        return self._next_ring

    def _phones_found(
        self, reachable: frozenset[tuple[int, str]], now: dt.datetime
    ) -> list[io.Command]:
        dial = self.dial
        if dial is None or self.engine.ended:
            return []

        def can_ring(employee: EmployeeInfo, phone: PhoneInfo) -> bool:
            return (employee.id, phone.id) in reachable

        request = forward_request(
            dial,
            self.config,
            call_id=self.dist_id,
            account_id=self.account_id,
            caller=self.engine.caller,
            now=now,
            reachable=can_ring,
            kind=self.dial_kind,
        )
        numbers = [t.number for t in dial.targets if t.number is not None]
        out: list[io.Command] = [io.Ringback(dial.ringback_file_ids, self.caller_answered)]
        if not request.targets and not numbers:
            return out + self._engine(DialFailed("no_answer", ("некого вызывать",)), now)
        # XFR-2: towards the PSTN only the virtual number the caller dialled is presented
        timeout = float(dial.ring_timeout or NUMBER_RING_SECONDS)
        for number in numbers:
            ring = self._new_ring(_Ring(number=number))
            out.append(io.RingNumber(ring, number, timeout, self.number, self.trunk_id))
        if request.targets:
            self.in_distribution = True
            out.append(io.Distribute(request))
        else:
            self._gave_up = ()
        return out

    def _dist_action(self, action: dist.Action, now: dt.datetime) -> list[io.Command]:
        transfer = self.transfer
        if transfer is not None and action.call_id == transfer.dist_id:
            return self._transfer_dist_action(transfer, action, now)
        match action:
            case dist.Ring(employee_id=eid, phone_id=phone_id, timeout=timeout):
                return self._ring_phone(eid, phone_id, timeout, now)
            case dist.Cancel(employee_id=eid, phone_id=phone_id):
                ring = self._phone_rings.pop((eid, phone_id), None)
                if ring is None or ring == self.answered_ring:
                    return []
                self.rings.pop(ring, None)
                return [io.StopRing(ring)]
            case dist.Queued() | dist.Held() if self.in_distribution and not self.talking:
                # QUE-7: a held dialer call has no place in a queue, hence no estimated wait
                wait = action.estimated_wait if isinstance(action, dist.Queued) else None
                dial = self.dial
                assert dial is not None
                return [
                    *self._answer(),
                    io.HoldMusic(dial.queue_message_file_id, wait, dial.ringback_file_ids),
                ]
            case dist.GiveUp(skipped=skipped):
                self.in_distribution = False
                self._gave_up = give_up_reasons(skipped, self.config.employees)
                return self._maybe_failed(now)
        return []

    def _ring_phone(
        self, employee_id: int, phone_id: str, timeout: float, now: dt.datetime
    ) -> list[io.Command]:
        employee = self.config.employees.get(employee_id)
        phone = next((p for p in employee.phones if p.id == phone_id), None) if employee else None
        ring = self._new_ring(_Ring(employee_id, phone_id))
        self._phone_rings[(employee_id, phone_id)] = ring
        if phone is None:
            return self._ring_failed(ring, 404, "телефона нет в настройках", now)
        refusal = self.config.fmc_refusal(phone)
        if refusal is not None:
            # FMC-1: a blocked line, or one whose service is off, is not rung (settings kept)
            self._log(now, "ring_refused", refusal, phone=phone_id)
            return self._ring_failed(ring, 0, "FMC", now)
        if phone.kind == "sip_uri" and not self.config.sip_uri_allowed:
            self._log(
                now,
                "ring_refused",
                f"{phone.sip_uri}: вызов SIP URI не подключён на аккаунте (XFR-3)",
            )
            return self._ring_failed(ring, 0, "SIP URI", now)
        # XFR-2: a phone that is a PSTN number is shown the virtual number, never the caller;
        # SIP and FMC lines (an FMC leg goes through the trunk too) see the caller's number
        caller_id = self.number if phone.kind == "number" else self.caller
        return [io.RingPhone(ring, employee_id, phone, timeout, caller_id)]

    def _ring_failed(self, ring: int, status: int, why: str, now: dt.datetime) -> list[io.Command]:
        if ring == self.answered_ring:
            return []  # answered: it ends by a hang-up, never by a late failure
        found = self.rings.pop(ring, None)
        if found is None:
            return []
        if found.number is not None:
            self._number_failures.append(f"{found.number}: {why}")
            return self._maybe_failed(now)
        assert found.employee_id is not None
        assert found.phone_id is not None
        self._phone_rings.pop((found.employee_id, found.phone_id), None)
        if status and ring_result(status) is dist.RingResult.FAILED:
            # not busy nor unanswered: the SIP status says what went wrong (a trunk's 503…)
            self._log(
                now, "ring_failed", f"телефон {found.phone_id}: ответ {status}", status=status
            )
        if not self.in_distribution:
            return []
        result = ring_result(status) if status else dist.RingResult.FAILED
        event = dist.RingEnded(self.dist_id, found.employee_id, found.phone_id, result)
        return [io.TellDistribution(event)]

    def _maybe_failed(self, now: dt.datetime) -> list[io.Command]:
        """The forward failed when the distribution gave up and no outside number still rings."""
        if self._gave_up is None or any(r.number is not None for r in self.rings.values()):
            return []
        if self.answered_ring is not None or self.engine.ended:
            return []
        reasons = self._gave_up + tuple(self._number_failures)
        why = "failed" if self._number_failures and not self._gave_up else "no_answer"
        self._gave_up = None
        return [io.StopPlayback(), *self._engine(DialFailed(why, reasons), now)]

    def _ring_answered(self, event: io.RingAnswered, now: dt.datetime) -> list[io.Command]:
        found = self.rings.get(event.ring)
        if found is None or self.answered_ring is not None:
            return []
        self.answered_ring = event.ring
        self.first_answer = self.first_answer or now
        # the other rings stop (the switch has already hung up the forks that lost)
        out: list[io.Command] = [io.StopRing(r) for r in self.rings if r != event.ring]
        self.rings = {event.ring: found}
        self._phone_rings = {}
        out.append(io.StopPlayback())
        if found.number is not None:
            if self.in_distribution:
                # the phones of the forward stop ringing: the number took the call
                self.in_distribution = False
                answered = dist.CallerHungUp(self.dist_id, answered_elsewhere=True)
                out.append(io.TellDistribution(answered))
            self.talker = None
            return out + self._engine(Answered(number=found.number), now)
        assert found.employee_id is not None
        assert found.phone_id is not None
        taker = event.employee_id if event.employee_id is not None else found.employee_id
        phone = event.phone_id if event.employee_id is not None else found.phone_id
        self.talker = taker
        if self.in_distribution:
            self.dist_connected = True
            picked = (taker, phone) if phone is not None and taker != found.employee_id else None
            out.append(
                io.TellDistribution(
                    dist.Answered(self.dist_id, found.employee_id, found.phone_id, picked)
                )
            )
        return out + self._engine(Answered(employee_id=taker, phone_id=phone), now)

    def _cancel_rings(self) -> list[io.Command]:
        out: list[io.Command] = [
            io.StopRing(ring) for ring in self.rings if ring != self.answered_ring
        ]
        self.rings = {}
        self._phone_rings = {}
        return out

    def _leave(self, now: dt.datetime) -> list[io.Command]:
        """Tell the distribution this call is done with it: the phone that answered is free
        again (talk time counted) or, before any answer, the caller gave up ringing or
        queueing."""
        if not self.in_distribution:
            return []
        self.in_distribution = False
        if self.dist_connected:
            self.dist_connected = False
            return [io.TellDistribution(dist.CallEnded(self.dist_id))]
        return [io.TellDistribution(dist.CallerHungUp(self.dist_id))]

    def _talk_over(self, now: dt.datetime) -> list[io.Command]:
        stopped = self._stop_talk_recording()  # the talk's recording ends with it (REC-1)
        if self.talking:
            self.talking = False
            if self._talk_started is not None:
                self.talk_seconds += (now - self._talk_started).total_seconds()
        self.answered_ring = None
        self.rings = {}
        return stopped + (self._leave(now) if self.dist_connected else [])

    def _caller_left(self, now: dt.datetime) -> list[io.Command]:
        if self.recording:
            # the engine hears of the recording first (it mails it), then ends the call
            self._hangup_after_recording = True
            self._log(now, "caller_hangup", "абонент положил трубку: запись завершена")
            return self._stop_recording()
        self._hangup_after_recording = False
        employee_on_line = self.talking and self.talker is not None and self.transfer is None
        out = [
            *self._cancel_rings(),
            *self._talk_over(now),
            *self._leave(now),
            *self._transfer_dist_over(),
        ]
        if not self.engine.ended:
            out += self._engine(CallerHungUp(), now)
        if employee_on_line and any(isinstance(c, act.OfferTagging) for c in out):
            # SCN-TAG: the employee stays on the line for the tag prompt; the engine's end of
            # the call waits for his key (or the time out)
            self._tagging_deadline = now + dt.timedelta(seconds=TAGGING_SECONDS)
            self.hung_up = False
            kept = [c for c in out if not isinstance(c, io.HangUp)]
            return [*kept, io.PromptEmployee(TAG_PROMPT)]
        if not self.hung_up:
            self.hung_up = True
            out.append(io.HangUp())
        return out

    # -- the talk: talk options (TALK-1..7) and transfers (TALK-5) -----------------------------

    def _employee_digit(self, digit: str, now: dt.datetime) -> list[io.Command]:
        if self._tagging_deadline is not None:
            return self._tag_key(digit, now)
        transfer = self.transfer
        if transfer is not None:
            if digit == "*" and not transfer.employee_gone:
                return self._transfer_cancelled(transfer, now)
            return []  # keys while a transfer is under way do nothing else
        if self._keys is not None:
            if digit == "#":
                return self._keys_done(now)
            if digit.isdigit() and len(self._keys) < 20:
                self._keys += digit
            self._keys_deadline = now + DIGITS_WAIT
            return []
        if not self.talking or self.answered_ring is None:
            return []
        option = self.config.talk_options.get(digit)
        if digit == "#" or (option is not None and option.action is TalkAction.TRANSFER):
            # TALK-5: the caller waits on hold while the employee dials
            self._keys = ""
            self._keys_deadline = now + DIGITS_WAIT
            self._log(now, "talk_option", "перевод: абонент на удержании, сотрудник набирает номер")
            return [io.HoldCaller()]
        if option is None:
            return []
        return self._talk_option(option, now)

    def _talk_option(self, option: TalkOption, now: dt.datetime) -> list[io.Command]:
        by = self.talker
        caller = self.engine.caller or self.caller
        key = option.key
        match option.action:
            case TalkAction.RUN_SCENARIO if option.scenario_id is not None:
                return self._run_scenario(option.scenario_id, now)
            case TalkAction.CALL_TRAINER:
                employee = self.config.employees.get(by) if by is not None else None
                if employee is None or employee.trainer_id is None:
                    self._log(
                        now, "talk_option", "тренер не вызван: у сотрудника нет тренера", key=key
                    )
                    return [io.ToneToEmployee(ok=False)]
                if self.supervisor is not None:  # one third party at a time
                    who = self.supervisor[1]
                    text = f"тренер не вызван: к разговору подключается супервизор {who}"
                    self._log(now, "talk_option", text, key=key)
                    return [io.ToneToEmployee(ok=False)]
                self._log(now, "talk_option", "сотрудник вызвал тренера (TRN-1)", key=key)
                return [io.CallTrainer(employee.id), io.ToneToEmployee()]
            case TalkAction.TAG:
                self._log(
                    now, "talk_option", "сотрудник поставил тег", key=key, tag_id=option.tag_id
                )
                return [io.TagCall(option.tag_id), io.ToneToEmployee()]
            case TalkAction.ASSIGN_MANAGER if by is not None:
                self._log(
                    now, "talk_option", "сотрудник стал персональным менеджером абонента", key=key
                )
                return [io.AssignManager(by, caller), io.ToneToEmployee()]
            case TalkAction.SAVE_CALLER_ID:
                where = (
                    "в черный список"
                    if option.to_blacklist
                    else f"в группу контактов #{option.contact_group_id}"
                )
                self._log(now, "talk_option", f"номер абонента {caller} сохранен {where}", key=key)
                return [
                    io.SaveCaller(caller, option.contact_group_id, option.to_blacklist),
                    io.ToneToEmployee(),
                ]
            case TalkAction.RECORDER:
                return [*self.toggle_talk_recording(now), io.ToneToEmployee()]
        return []

    def _trainer_digit(self, digit: str, now: dt.datetime) -> list[io.Command]:
        """TRN-1: the trainer (or the supervisor) chooses how he takes part, by a key."""
        mode = TRAINER_MODES.get(digit)
        if mode is None or not self.talking:
            return []
        name, text = mode
        kind, who, data = self._who_joins()
        if self.supervisor is not None:
            self.supervise_mode = name
        self._log(now, kind, f"{who}: {text}", **data, mode=name)
        return [io.TrainerMode(name)]

    def _who_joins(self) -> tuple[str, str, dict[str, object]]:
        """(details kind, how the details name him, his data) of whoever joins the talk."""
        if self.supervisor is None:
            return "trainer", "тренер", {}
        employee_id, name = self.supervisor
        return "supervisor", f"супервизор {name}", {"employee_id": employee_id}

    def _supervise_asked(self, event: io.SuperviseAsked, now: dt.datetime) -> list[io.Command]:
        """TRN-1 from the live view: the supervisor's phones are rung while the talk lasts;
        he joins in the mode he chose (the trainer's keys change it later)."""
        mode = MODE_TEXTS.get(event.mode)
        why = ""
        if mode is None or not self.talking or self.transfer is not None or self.hung_up:
            why = "разговора сейчас нет"
        elif self.supervisor is not None:
            why = f"уже подключается супервизор {self.supervisor[1]}"
        if why:
            self._log(
                now,
                "supervisor",
                f"супервизор {event.name} не вызван: {why}",
                employee_id=event.employee_id,
            )
            return []
        self.supervisor = (event.employee_id, event.name)
        self.supervise_mode = None  # until his phone answers
        self._log(
            now,
            "supervisor",
            f"супервизор {event.name} вызван из просмотра звонков: {mode}",
            employee_id=event.employee_id,
            mode=event.mode,
        )
        return [io.CallSupervisor(event.employee_id, event.mode)]

    def _tag_key(self, digit: str, now: dt.datetime) -> list[io.Command]:
        """SCN-TAG: a key of a tag talk option tags the call; other keys are refused."""
        option = self.config.talk_options.get(digit)
        if option is None or option.action is not TalkAction.TAG or option.tag_id is None:
            return [io.ToneToEmployee(ok=False)]
        self._log(
            now, "tag", "сотрудник поставил тег после разговора", key=digit, tag_id=option.tag_id
        )
        return [io.TagCall(option.tag_id), io.ToneToEmployee(), *self._tagging_over(now, "")]

    def _tagging_over(self, now: dt.datetime, why: str) -> list[io.Command]:
        self._tagging_deadline = None
        if why:
            self._log(now, "tag", why)
        if self.hung_up:
            return []
        self.hung_up = True
        return [io.HangUp()]

    def _run_scenario(self, scenario_id: int, now: dt.datetime) -> list[io.Command]:
        """TALK-1: the employee leaves the talk; the caller goes through the scenario."""
        out: list[io.Command] = [io.ReleaseEmployee()]
        out += self._talk_over(now)
        for action in self.engine.run_scenario(scenario_id, now):
            out += self._action(action, now)
        return out

    def _keys_done(self, now: dt.datetime) -> list[io.Command]:
        dialled = self._keys or ""
        self._keys = None
        self._keys_deadline = None
        if not dialled:
            self._log(now, "transfer_failed", "перевод отменен: номер не набран")
            return [io.ReturnToEmployee(), io.ToneToEmployee(ok=False)]
        return self._start_transfer(dialled, Mode.ATTENDED, now)

    def _transfer_asked(self, target: str, uri: str, now: dt.datetime) -> list[io.Command]:
        """A REFER from the employee's phone (its transfer button). A Refer-To naming another
        server is rung there (XFR-3) when the account has the SIP URI option and its user is no
        extension of the account; otherwise its user is dialled as if typed after `#`."""
        refused = self._transfer_refused(f"перевод на {uri or target}", now)
        if refused:
            return refused
        if uri and self.config.sip_uri_allowed and target not in self.config.extensions:
            return [io.HoldCaller(), *self._start_uri_transfer(uri, now)]
        return [io.HoldCaller(), *self._start_transfer(target, Mode.REFER, now)]

    def _start_uri_transfer(self, uri: str, now: dt.datetime) -> list[io.Command]:
        by = self.talker
        how = "кнопкой телефона (REFER)"
        self._log(
            now, "transfer", f"перевод на SIP URI {uri} {how}", target=uri, mode="refer", by=by
        )
        transfer = Transfer(uri, Mode.REFER, by)
        self.transfer = transfer
        try:
            address = check_sip_uri(uri)
        except ValueError as error:
            return self._transfer_failed(transfer, 404, f"{uri}: {error}", now)
        ring = self._transfer_ring(transfer, TransferRing(uri=address))
        transfer.phase = Phase.RINGING
        # XFR-2: not a PSTN leg, so the caller's own number is shown (the manual: that is what a
        # transfer to a SIP URI is for)
        caller_id = self.engine.caller or self.caller
        return [io.RingUri(ring, address, TRANSFER_RING_SECONDS, caller_id, True)]

    def _replaces_asked(self, asked: io.ReplacesAsked, now: dt.datetime) -> list[io.Command]:
        """An attended transfer of the phone's own (REFER with Replaces): the target it
        consulted on a call of its own takes the caller at once; a dialog the switch could not
        find (481) or hand over is told to the phone, and the talk goes on as it was."""
        how = "перевод с консультацией кнопками телефона (REFER с Replaces)"
        if asked.status:
            self._log(
                now,
                "transfer_failed",
                f"{how} не выполнен: {asked.reason}",
                mode=Mode.REPLACES.value,
                status=asked.status,
            )
            return [io.NotifyTransfer(asked.status, asked.reason)]
        refused = self._transfer_refused(how, now)
        if refused:
            return refused
        target = TransferRing(asked.employee_id)
        employee = self.config.employees.get(asked.employee_id or 0)
        dialled = employee.extension if employee is not None and employee.extension else ""
        label = target.label(self.config)
        by = self.talker
        self._log(
            now,
            "transfer",
            f"{how}: {label}",
            target=dialled,
            mode=Mode.REPLACES.value,
            by=by,
            employee_id=asked.employee_id,
        )
        transfer = Transfer(
            dialled or label, Mode.REPLACES, by, (asked.employee_id,) if asked.employee_id else ()
        )
        transfer.phase = Phase.RINGING
        self.transfer = transfer
        ring = self._transfer_ring(transfer, target)
        return [io.HoldCaller(), io.TakeConsultation(ring, asked.consultation)]

    def _transfer_refused(self, what: str, now: dt.datetime) -> list[io.Command]:
        """Why a transfer asked by the phone (REFER) cannot start now, as its NOTIFY ([]: it
        can): another one is under way, or there is no talk to transfer."""
        if self.transfer is not None or self._keys is not None:
            return [io.NotifyTransfer(491, "Request Pending")]
        if not self.talking or self.answered_ring is None:
            self._log(now, "transfer_failed", f"{what} отклонен: разговора нет")
            return [io.NotifyTransfer(403, "Forbidden")]
        return []

    def _start_transfer(
        self, dialled: str, mode: Mode, now: dt.datetime, *, employee_gone: bool = False
    ) -> list[io.Command]:
        by = self.talker
        how = "кнопкой телефона (REFER)" if mode is Mode.REFER else "через #"
        self._log(
            now, "transfer", f"перевод на {dialled} {how}", target=dialled, mode=mode.value, by=by
        )
        transfer = Transfer(dialled, mode, by, employee_gone=employee_gone)
        self.transfer = transfer
        found = destination(self.config, dialled, by)
        if found.problem:
            return self._transfer_failed(transfer, 404, found.problem, now)
        if found.number is not None:
            ring = self._transfer_ring(transfer, TransferRing(number=found.number))
            transfer.phase = Phase.RINGING
            # XFR-2: towards the PSTN the virtual number, always
            return [
                io.RingNumber(
                    ring, found.number, TRANSFER_RING_SECONDS, self.number, self.trunk_id, True
                )
            ]
        transfer.employee_ids = found.employee_ids
        transfer.group_id = found.group_id
        return [io.FindPhones(found.employee_ids)]

    def _transfer_ring(self, transfer: Transfer, target: TransferRing) -> int:
        self._next_ring += 1
        transfer.rings[self._next_ring] = target
        return self._next_ring

    def _transfer_phones(
        self, transfer: Transfer, reachable: frozenset[tuple[int, str]], now: dt.datetime
    ) -> list[io.Command]:
        transfer.phase = Phase.RINGING
        if transfer.group_id is not None:
            return self._transfer_to_group(transfer, transfer.group_id, reachable, now)
        out: list[io.Command] = []
        for employee_id in transfer.employee_ids:
            employee = self.config.employees.get(employee_id)
            for phone in employee.phones if employee is not None else ():
                if (employee_id, phone.id) not in reachable:
                    continue
                refusal = self.config.fmc_refusal(phone)
                if refusal is not None:
                    self._log(now, "ring_refused", refusal, phone=phone.id)
                    continue
                if phone.kind == "sip_uri" and not self.config.sip_uri_allowed:
                    continue
                ring = self._transfer_ring(transfer, TransferRing(employee_id, phone.id))
                timeout = phone.ring_timeout or TRANSFER_RING_SECONDS
                caller_id = self._transfer_caller_id(phone)
                out.append(io.RingPhone(ring, employee_id, phone, timeout, caller_id, True))
        if not out:
            return self._transfer_failed(transfer, 480, "ни один телефон не в сети", now)
        return out

    def _transfer_caller_id(self, phone: PhoneInfo) -> str:
        """XFR-1: the account chooses what the target's phone shows; a PSTN number is shown the
        virtual number whatever the choice (XFR-2)."""
        show_number = phone.kind == "number" or self.config.transfer_caller_id == "virtual_number"
        return self.number if show_number else (self.engine.caller or self.caller)

    def _transfer_to_group(
        self,
        transfer: Transfer,
        group_id: int,
        reachable: frozenset[tuple[int, str]],
        now: dt.datetime,
    ) -> list[io.Command]:
        """A group's extension: its distribution (strategy, lines, schedule, who is free) picks
        the members to ring, under an id of its own, as a Forward to the group would."""
        self._transfers_made += 1
        transfer.dist_id = f"{self.call_id}/transfer{self._transfers_made}"

        def can_ring(employee: EmployeeInfo, phone: PhoneInfo) -> bool:
            usable = phone.kind in ("sip", "number", "fmc") and not self.config.fmc_refusal(phone)
            return (employee.id, phone.id) in reachable and usable

        group = act.Dial(targets=(act.DialTarget(group_id=group_id),), operation="transfer")
        request = forward_request(
            group,
            self.config,
            call_id=transfer.dist_id,
            account_id=self.account_id,
            caller=self.engine.caller or self.caller,
            now=now,
            reachable=can_ring,
            kind=dist.CallKind.TRANSFER,
        )
        if not any(p.available for t in request.targets for p in t.phones):
            transfer.dist_done = True
            return self._transfer_failed(transfer, 480, "ни один телефон группы не в сети", now)
        return [io.Distribute(request)]

    def _transfer_dist_action(
        self, transfer: Transfer, action: dist.Action, now: dt.datetime
    ) -> list[io.Command]:
        match action:
            case dist.Ring(employee_id=eid, phone_id=phone_id, timeout=timeout):
                employee = self.config.employees.get(eid)
                phones = employee.phones if employee is not None else ()
                phone = next((p for p in phones if p.id == phone_id), None)
                ring = self._transfer_ring(transfer, TransferRing(eid, phone_id))
                transfer.phone_rings[(eid, phone_id)] = ring
                if phone is None:
                    return self._transfer_ring_failed(transfer, ring, 404, now)
                caller_id = self._transfer_caller_id(phone)
                return [io.RingPhone(ring, eid, phone, timeout, caller_id, True)]
            case dist.Cancel(employee_id=eid, phone_id=phone_id):
                cancelled = transfer.phone_rings.pop((eid, phone_id), None)
                if cancelled is None or cancelled == transfer.answered:
                    return []
                transfer.rings.pop(cancelled, None)
                return [io.StopRing(cancelled)]
            case dist.GiveUp():
                transfer.dist_done = True
                return self._transfer_failed(transfer, 480, "в группе никто не ответил", now)
        return []  # a transfer never queues: the caller already waits on hold

    def _transfer_dist_over(self, transfer: Transfer | None = None) -> list[io.Command]:
        """The group's distribution lets go of a transfer that will not be completed: a
        member who answered is free again, the others stop being rung."""
        transfer = transfer or self.transfer
        if transfer is None or transfer.dist_id is None or transfer.dist_done:
            return []
        transfer.dist_done = True
        if transfer.answered is not None:
            return [io.TellDistribution(dist.CallEnded(transfer.dist_id))]
        return [io.TellDistribution(dist.CallerHungUp(transfer.dist_id))]

    def _transfer_answered(
        self, transfer: Transfer, ring: int, now: dt.datetime
    ) -> list[io.Command]:
        found = transfer.rings[ring]
        out: list[io.Command] = [io.StopRing(r) for r in transfer.rings if r != ring]
        transfer.rings = {ring: found}
        transfer.answered = ring
        if transfer.dist_id is not None and found.employee_id is not None and found.phone_id:
            answered = dist.Answered(transfer.dist_id, found.employee_id, found.phone_id)
            out.append(io.TellDistribution(answered))
        if transfer.mode is not Mode.ATTENDED or transfer.employee_gone:
            return out + self._transfer_done(transfer, now)
        transfer.phase = Phase.CONSULT
        self._log(
            now,
            "transfer_answered",
            f"{found.label(self.config)} ответил: сотрудник говорит с ним, абонент на удержании",
        )
        return [*out, io.ConsultTarget(ring)]

    def _transfer_done(self, transfer: Transfer, now: dt.datetime) -> list[io.Command]:
        assert transfer.answered is not None
        ring = transfer.answered
        found = transfer.rings[ring]
        self.transfer = None
        out: list[io.Command] = []
        if transfer.mode.notifies:
            out.append(io.NotifyTransfer(200, "OK"))
        out += self._leave(now)  # the transferring employee is free for the distribution
        if transfer.dist_id is not None:
            # the group member's talk (and wrap-up) is counted by the group's distribution
            self.dist_id = transfer.dist_id
            self.in_distribution = True
            self.dist_connected = True
        self.talker = found.employee_id
        self.answered_ring = ring
        self.rings = {ring: _Ring(found.employee_id, found.phone_id, found.number or found.uri)}
        self._phone_rings = {}
        text = "абонент вернулся к сотруднику" if transfer.back else "абонент переведен"
        self._log(
            now,
            "transfer_done",
            f"{text}: {found.label(self.config)}",
            employee_id=found.employee_id,
            number=found.number,
        )
        return [*out, io.CompleteTransfer(ring)]

    def _transfer_ring_failed(
        self, transfer: Transfer, ring: int, status: int, now: dt.datetime
    ) -> list[io.Command]:
        found = transfer.rings.pop(ring, None)
        if transfer.dist_id is not None and not transfer.dist_done:
            if found is None or found.employee_id is None or found.phone_id is None:
                return []
            transfer.phone_rings.pop((found.employee_id, found.phone_id), None)
            result = ring_result(status) if status else dist.RingResult.FAILED
            ended = dist.RingEnded(transfer.dist_id, found.employee_id, found.phone_id, result)
            return [io.TellDistribution(ended)]
        if transfer.rings or transfer.phase is Phase.FINDING:
            return []
        if transfer.mode is Mode.REPLACES:
            why = "консультационного разговора уже нет"
        else:
            why = f"не ответил (SIP {status})" if status else "вызов не состоялся"
        return self._transfer_failed(transfer, status or 480, why, now)

    def _transfer_failed(
        self, transfer: Transfer, status: int, why: str, now: dt.datetime
    ) -> list[io.Command]:
        """The target cannot take the caller: back to the employee who transferred him."""
        self.transfer = None
        self._log(
            now,
            "transfer_failed",
            f"перевод на {transfer.dialled} не удался: {why}",
            status=status,
        )
        out: list[io.Command] = [io.StopRing(r) for r in transfer.rings]
        out += self._transfer_dist_over(transfer)
        if transfer.mode.notifies:
            out.append(io.NotifyTransfer(status if status >= 300 else 480, why))
        if not transfer.employee_gone:
            return [*out, io.ReturnToEmployee(), io.ToneToEmployee(ok=False)]
        if not transfer.back and transfer.by is not None:
            # blind: the caller is rung back to the employee who transferred him
            back = Transfer(
                transfer.dialled,
                Mode.ATTENDED,
                None,
                employee_ids=(transfer.by,),
                employee_gone=True,
                back=True,
            )
            self.transfer = back
            self._log(now, "transfer", "абонент возвращается к сотруднику, который его переводил")
            return [*out, io.FindPhones(back.employee_ids)]
        # nobody took him: the talk is over, the scenario goes on (rating, hang-up)
        return [
            *out,
            io.ReturnToEmployee(),
            *self._talk_over(now),
            *self._engine(TalkEnded("employee"), now),
        ]

    def _transfer_cancelled(self, transfer: Transfer, now: dt.datetime) -> list[io.Command]:
        self.transfer = None
        self._log(now, "transfer_failed", f"сотрудник отменил перевод на {transfer.dialled}")
        out: list[io.Command] = [io.StopRing(r) for r in transfer.rings]
        out += self._transfer_dist_over(transfer)
        if transfer.mode.notifies:
            out.append(io.NotifyTransfer(487, "Request Terminated"))
        return [*out, io.ReturnToEmployee(), io.ToneToEmployee()]

    def _target_hung_up(self, now: dt.datetime) -> list[io.Command]:
        transfer = self.transfer
        if transfer is None or transfer.phase is not Phase.CONSULT:
            return []
        return self._transfer_failed(transfer, 480, "цель перевода положила трубку", now)

    def _employee_left_transfer(self, now: dt.datetime) -> list[io.Command]:
        """The transferring employee hung up: attended becomes done, ringing becomes blind."""
        out = self._leave(now)
        if self.transfer is None:
            # hung up while dialling: what he dialled is the target, transferred blind
            dialled = self._keys or ""
            self._keys = None
            self._keys_deadline = None
            if not dialled:
                return [
                    *out,
                    io.ReturnToEmployee(),
                    *self._talk_over(now),
                    *self._engine(TalkEnded("employee"), now),
                ]
            self._log(
                now, "transfer", "сотрудник положил трубку, набрав номер: перевод без консультации"
            )
            return out + self._start_transfer(dialled, Mode.ATTENDED, now, employee_gone=True)
        transfer = self.transfer
        transfer.employee_gone = True
        if transfer.phase is Phase.CONSULT:
            return out + self._transfer_done(transfer, now)
        if transfer.mode is Mode.REPLACES:
            return out  # the phone hung up as its transfer was being done: nothing changes
        self._log(now, "transfer", "сотрудник положил трубку: перевод без консультации")
        return out

    # -- recording the talk (REC-1, TALK-2) -----------------------------------------------------

    def toggle_talk_recording(self, now: dt.datetime) -> list[io.Command]:
        """TALK-2 («Диктофон»): the employee's key starts recording the talk, or stops the
        recording that runs (automatic or his own); outside a talk it does nothing."""
        if self.talk_recording:
            self._log(now, "talk_recording_stop", "сотрудник выключил запись разговора (TALK-2)")
            return self._stop_talk_recording()
        if not self.talking:
            return []
        return self._start_talk_recording(now, "сотрудник включил запись разговора (TALK-2)")

    def _auto_record(self, now: dt.datetime) -> list[io.Command]:
        # REC-1: the account, the virtual number, the employee who answered, the Forward
        why = auto_record_reason(self.config, self.number, self.talker, self.dial)
        if why is None or self.talk_recording:
            return []
        return self._start_talk_recording(now, why)

    def _start_talk_recording(self, now: dt.datetime, why: str) -> list[io.Command]:
        self.talk_recording = True
        self._log(now, "talk_recording_start", f"запись разговора: {why}", reason=why)
        return [io.RecordTalk()]

    def _stop_talk_recording(self) -> list[io.Command]:
        if not self.talk_recording:
            return []
        self.talk_recording = False
        self._talk_saving += 1
        caller = self.engine.caller or self.caller
        # the employee in the talk now (after a transfer: the one it was transferred to)
        return [
            io.StopTalkRecording(f"Запись разговора {caller}", caller, self.number, self.talker)
        ]

    def _talk_recording_saved(self, event: io.TalkRecordingSaved, now: dt.datetime) -> None:
        self._talk_saving = max(0, self._talk_saving - 1)
        if event.file_id is not None:
            self.file_ids.append(event.file_id)
        self._log(
            now,
            "talk_recording",
            saved_text(event),
            file_id=event.file_id,
            seconds=round(event.seconds, 3),
            error=event.error,
        )

    # -- the report ----------------------------------------------------------------------------

    def _contact_name(self, caller: str) -> str:
        """The caller's contact (the oldest, as the report's lookup picks)."""
        contacts = sorted(self.config.contacts_by_phone.get(caller, ()))
        if not contacts:
            return ""
        contact = self.config.contacts[contacts[0]]
        return " ".join(p for p in (contact.last_name, contact.first_name) if p)
