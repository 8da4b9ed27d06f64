"""The scenario engine on live calls: one `LiveCall` per call to a virtual number.

`ScenarioRunner` is the `Pbx.controllers` factory. For each call it loads the account's
configuration (cached, dropped when the API changes it), feeds the pure `vpbx.scenario.engine.Call`
with what happens on the call, and carries out the actions it answers: prompts, keys,
voicemail recording and mail, CRM requests, dialling through the distribution
(`vpbx.scenario.distribution`, one `Distributor` per node), bridging, rating. When the call is
over its report row and details (CDR-1/2) are written.

Everything that happens to one call goes through its own queue and is handled in order by one
task, so the engine never sees two events at once and a slow prompt load cannot reorder keys.

The caller is answered lazily: when something has to be played to him or heard from him, or
when an employee answers. A scenario that starts by forwarding lets the caller hear the
phones ring (180), or the operation's ringback files as early media (183), before the answer.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from vpbx.domain.entities.misc import FileKind
from vpbx.domain.toll_fraud import Refusal
from vpbx.media.player import PlaybackResult, Player, ToneSource
from vpbx.media.recorder import Recorder
from vpbx.media.session import Pcm
from vpbx.media.tones import RINGBACK_RU, cadence_frames
from vpbx.scenario import actions as act
from vpbx.scenario import distribution as dist
from vpbx.scenario.dist_details import detail_step, give_up_reasons
from vpbx.scenario.engine import Call, Step
from vpbx.scenario.events import (
    Answered,
    CallArrived,
    CallerHungUp,
    DialFailed,
    Digit,
    Event,
    HttpResponse,
    PlaybackDone,
    RecordingDone,
    TalkEnded,
    TimerFired,
)
from vpbx.scenario.forwarding import forward_request
from vpbx.scenario.snapshot import ConfigSnapshot, EmployeeInfo, PhoneInfo
from vpbx.services.call_log import CallRecord, CallStart, StepRecord
from vpbx.services.crm import CrmClient
from vpbx.services.mailer import Mailer, MailResult
from vpbx.sip.uri import SipUri
from vpbx.switch.b2bua import B2BCall, CallState, LegRole, OutLeg, Target
from vpbx.switch.call_store import CallStore, CallTicket, work_file
from vpbx.switch.directory import NumberInfo
from vpbx.switch.pbx import Pbx
from vpbx.switch.prompt_library import BEEP, PromptLibrary
from vpbx.switch.snapshots import SnapshotCache
from vpbx.transport.sip import Peer

log = logging.getLogger("vpbx.switch.runner")

Clock = Callable[[], dt.datetime]

#: a recording shorter than this is "nothing recorded" (SCN-VM still mails)
MIN_RECORDING_SECONDS = 0.5
#: the switch's own limit on one ring, beyond the distribution's timer that normally ends it
RING_BACKSTOP = 5.0
#: hold music when the operation has no ringback files: Russian ringback, 20 s a round
HOLD_TONE = cadence_frames(RINGBACK_RU, 1000).reshape(-1)


def ring_result(status: int) -> dist.RingResult:
    """A leg's final status as the distribution counts it."""
    if status in (486, 600):
        return dist.RingResult.BUSY
    if status in (603,):
        return dist.RingResult.REJECTED
    if status in (408, 480, 487):
        return dist.RingResult.NO_ANSWER
    return dist.RingResult.FAILED


# -- what a call's queue carries beside engine and distribution events --------------------------


@dataclass(frozen=True, slots=True)
class _LegAnswered:
    leg: OutLeg


@dataclass(frozen=True, slots=True)
class _LegFailed:
    leg: OutLeg
    status: int


@dataclass(frozen=True, slots=True)
class _PartyLeft:
    role: LegRole


@dataclass(frozen=True, slots=True)
class _DistAction:
    action: dist.Action


@dataclass(frozen=True, slots=True)
class _PlayerDone:
    player: Player


@dataclass(frozen=True, slots=True)
class _RecordTimeUp:
    pass


Item = Event | _LegAnswered | _LegFailed | _PartyLeft | _DistAction | _PlayerDone | _RecordTimeUp


class ScenarioRunner:
    """One per node: the call logic of every call to a virtual number."""

    def __init__(
        self,
        pbx: Pbx,
        engine: AsyncEngine,
        prompts: PromptLibrary,
        store: CallStore,
        mailer: Mailer,
        work_dir: Path,
        clock: Clock,
        distributor: dist.Distributor | None = None,
    ) -> None:
        self.pbx = pbx
        self.engine = engine
        self.prompts = prompts
        self.store = store
        self.mailer = mailer
        self.work_dir = work_dir
        self.clock = clock
        self.distributor = distributor or dist.Distributor(dist.InProcessState())
        self.snapshots = SnapshotCache(engine, clock)
        self.crm = CrmClient()
        self.calls: dict[str, LiveCall] = {}
        self._dist_timer: asyncio.Handle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        await self.crm.__aenter__()

    async def stop(self, grace: float = 2.0) -> None:
        """Let the calls (already hung up by the PBX) finish and write their report rows, then
        cancel whatever is left and wait for it: nothing may run after the store is closed."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=grace)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._dist_timer is not None:
            self._dist_timer.cancel()
        await self.crm.__aexit__()

    def spawn(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("call logic task failed", exc_info=task.exception())

    async def __call__(self, call: B2BCall, number: NumberInfo) -> LiveCall:
        """`ControllerFactory`: the call's logic starts on its own task."""
        live = LiveCall(self, call, number)
        self.calls[call.id] = live
        # The row exists from now on (status active), its details follow as they happen: a
        # crash of the switch leaves the call in the report as interrupted, not absent.
        start = CallStart(
            account_id=call.account_id,
            started_at=call.started_at,
            direction="incoming",
            caller=call.caller,
            called=number.number,
            session_type="scenario",
            number_id=number.number_id,
            switch_call_id=call.id,
        )
        live.ticket = self.store.begin(start, live.steps_from, live.answer_so_far)
        self.spawn(live.run())
        return live

    # -- the distribution, shared by the calls of this node ----------------------------------

    def now_ts(self) -> float:
        return self.clock().timestamp()

    async def dist_start(self, request: dist.ForwardRequest) -> None:
        self.apply(await self.distributor.start(request, self.now_ts()))

    async def dist_event(self, event: dist.Event) -> None:
        try:
            step = await self.distributor.handle(event, self.now_ts())
        except (KeyError, ValueError) as error:
            extra = {"event": repr(event), "error": str(error)}
            log.warning("distribution event refused", extra=extra)
            return
        self.apply(step)

    def apply(self, step: dist.Step) -> None:
        """Details go to the calls they are about, actions to the calls' queues."""
        for detail in step.details:
            live = self.calls.get(detail.call_id)
            if live is not None:
                live.add_detail(detail)
        for action in step.actions:
            live = self.calls.get(action.call_id)
            if live is not None:
                live.post(_DistAction(action))
        self._arm_dist_timer()

    def _arm_dist_timer(self) -> None:
        if self._dist_timer is not None:
            self._dist_timer.cancel()
            self._dist_timer = None
        when = self.distributor.next_timer()
        if when is None:
            return
        delay = max(0.0, when - self.now_ts())
        self._dist_timer = asyncio.get_running_loop().call_later(delay, self._dist_due)

    def _dist_due(self) -> None:
        self._dist_timer = None
        self.spawn(self._dist_timers())

    async def _dist_timers(self) -> None:
        self.apply(await self.distributor.handle_timer(self.now_ts()))


class LiveCall:
    """The engine driving one B2BCall; implements `CallController`."""

    def __init__(self, runner: ScenarioRunner, call: B2BCall, number: NumberInfo) -> None:
        self.runner = runner
        self.call = call
        self.number = number
        self.account_id = call.account_id
        self.queue: asyncio.Queue[Item] = asyncio.Queue()
        self.engine: Call | None = None
        self.config: ConfigSnapshot | None = None
        self.timer: asyncio.Handle | None = None
        self.player: Player | None = None
        self.dial: act.Dial | None = None
        #: legs rung for the distribution: phone → its legs (one per registered contact)
        self.ringing: dict[tuple[int, str], list[OutLeg]] = {}
        self.leg_phone: dict[int, tuple[int, str]] = {}
        #: the phones of the employees the current Dial names, as stored (number, SIP line)
        self.phone_docs: dict[tuple[int, str], dict[str, Any]] = {}
        #: legs rung for an external number (CRM or analytics forward)
        self.leg_number: dict[int, str] = {}
        self.in_distribution = False
        #: the distribution counts the phone that answered as busy until told the talk ended
        self.dist_connected = False
        self.talking = False
        self.talk_started: dt.datetime | None = None
        self.first_answer: dt.datetime | None = None
        self.talk_seconds = 0.0
        self.recorder: Recorder | None = None
        self.record_timer: asyncio.Handle | None = None
        self.voicemail: tuple[int, Path] | None = None
        self.file_ids: list[int] = []
        self.saved: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.failed = False
        self.ticket: CallTicket | None = None

    # -- CallController ------------------------------------------------------------------------

    def leg_answered(self, call: B2BCall, leg: OutLeg) -> None:
        self.post(_LegAnswered(leg))

    def leg_failed(self, call: B2BCall, leg: OutLeg, status: int) -> None:
        self.post(_LegFailed(leg, status))

    def hung_up(self, call: B2BCall, role: LegRole) -> None:
        self.post(_PartyLeft(role))

    def post(self, item: Item) -> None:
        self.queue.put_nowait(item)

    # -- the loop ------------------------------------------------------------------------------

    def now(self) -> dt.datetime:
        return self.runner.clock()

    @property
    def finished(self) -> bool:
        return self.engine is not None and self.engine.ended and self.call.state is CallState.ENDED

    async def run(self) -> None:
        try:
            await self._begin()
            while not self.finished:
                item = await self.queue.get()
                await self._item(item)
        except asyncio.CancelledError:
            self.call.hangup_all()
            raise
        except Exception:
            log.exception("call logic failed: hanging up", extra={"call": self.call.id})
            self.failed = True
            self.call.hangup_all()
        finally:
            await self._cleanup()

    async def _begin(self) -> None:
        config, needs_facts = await self.runner.snapshots.get(self.account_id)
        now = self.now()
        facts = (
            await self.runner.snapshots.facts(self.account_id, self.call.caller, now)
            if needs_facts
            else None
        )
        self.config = config
        self.engine = Call(config, call_id=self.call.id, facts=facts)
        self.call.listen_digits(lambda digit: self.post(Digit(digit.digit)))
        await self._engine(CallArrived(self.number.number, self.call.caller))
        if self.call.state is CallState.ENDED:  # the caller left while the config loaded
            await self._engine(CallerHungUp())

    async def _item(self, item: Item) -> None:
        match item:
            case _LegAnswered(leg=leg):
                await self._leg_answered(leg)
            case _LegFailed(leg=leg, status=status):
                await self._leg_failed(leg, status)
            case _PartyLeft(role=role):
                await self._party_left(role)
            case _DistAction(action=action):
                await self._dist_action(action)
            case _PlayerDone(player=player):
                if self.player is player:
                    self.player = None
                    await self._engine(PlaybackDone())
            case _RecordTimeUp():
                await self._finish_recording()
            case _:
                await self._engine(item)

    async def _engine(self, event: Event) -> None:
        engine = self.engine
        assert engine is not None
        actions = engine.handle(event, self.now())
        for action in actions:
            await self._execute(action)
        self._arm_timer()

    def _arm_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        assert self.engine is not None
        deadline = self.engine.get_timer()
        if deadline is not None:
            delay = max(0.0, (deadline - self.now()).total_seconds())
            self.timer = asyncio.get_running_loop().call_later(delay, self.post, TimerFired())

    # -- actions -------------------------------------------------------------------------------

    async def _execute(self, action: act.Action) -> None:
        call = self.call
        match action:
            case act.Answer() | act.CollectDigits():
                pass  # answered when media is needed; keys are always listened to
            case act.Play():
                await self._play(action)
            case act.StopPlayback():
                self._stop_playback()
            case act.Record():
                await self._record(action)
            case act.SendMail():
                self._send_mail(action)
            case act.Dial():
                await self._dial(action)
            case act.CancelDial():
                await self._cancel_dial()
            case act.Bridge():
                await self._bridge()
            case act.HttpRequest():
                self.runner.spawn(self._http(action))
            case act.StoreRating():
                pass  # the engine keeps it; written with the call
            case act.OfferTagging():
                log.info("post-call tagging offered", extra={"call": call.id})
            case act.Hangup():
                self._stop_playback()
                call.hangup_all()
            case act.Reject():
                call.fail(403, "Forbidden (blacklisted)")

    def _answer(self) -> None:
        if not self.call.caller_up and self.call.state is not CallState.ENDED:
            self.call.answer_caller()

    def _stop_playback(self) -> None:
        player, self.player = self.player, None
        if player is not None:
            player.close()
        self.call.stop_playback()

    def _start_player(self, prompts: list[Pcm], *, loop: bool, notify: bool) -> None:
        session = self.call.session
        if self.call.state is CallState.ENDED or session is None or session.closed:
            return
        if not prompts:
            if notify:
                self.post(PlaybackDone())
            return
        self._stop_playback()
        player = self.call.play(prompts, loop=loop)
        self.player = player
        if notify:
            self.runner.spawn(self._await_player(player))

    async def _await_player(self, player: Player) -> None:
        if await player.wait() is PlaybackResult.COMPLETED:
            self.post(_PlayerDone(player))

    async def _play(self, play: act.Play) -> None:
        assert self.config is not None
        prompts = await self.runner.prompts.resolve(self.account_id, play, self.config)
        if self.call.state is CallState.ENDED:
            return
        self._answer()
        self._start_player(prompts, loop=play.loop, notify=not play.loop)

    # voicemail (SCN-VM) ------------------------------------------------------------------------

    async def _record(self, record: act.Record) -> None:
        self._answer()
        if record.beep:
            self._stop_playback()
            beep = self.call.play([BEEP])
            await beep.wait()
        if self.call.state is CallState.ENDED or self.call.session is None:
            await self._engine(RecordingDone(None, 0.0))
            return
        path = work_file(self.runner.work_dir, self.call.id)
        self.recorder = self.call.record(path)
        loop = asyncio.get_running_loop()
        self.record_timer = loop.call_later(record.max_seconds, self.post, _RecordTimeUp())

    async def _finish_recording(self) -> None:
        recorder, self.recorder = self.recorder, None
        if recorder is None:
            return
        if self.record_timer is not None:
            self.record_timer.cancel()
            self.record_timer = None
        path = recorder.stop()
        seconds = recorder.seconds
        file_id: int | None = None
        if seconds >= MIN_RECORDING_SECONDS and path.is_file():
            file_id, stored = await self.runner.store.save_file(
                self.account_id,
                FileKind.VOICEMAIL,
                path,
                name=f"Голосовое сообщение {self.call.caller}",
                caller=self.call.caller,
                called=self.number.number,
                employee_id=None,
                number_id=self.number.number_id,
            )
            self.voicemail = (file_id, stored)
            self.file_ids.append(file_id)
        else:
            path.unlink(missing_ok=True)
        await self._engine(RecordingDone(file_id, seconds))

    def _send_mail(self, mail: act.SendMail) -> None:
        wav = None
        if mail.file_id is not None and self.voicemail is not None:
            wav = self.voicemail[1] if self.voicemail[0] == mail.file_id else None
        engine = self.engine
        assert engine is not None
        assert self.config is not None
        message = self.runner.mailer.voicemail_message(
            list(mail.to),
            mail.subject,
            caller=engine.caller or self.call.caller,
            called=self.number.number,
            at=self.call.started_at.astimezone(self.config.tz),
            wav=wav,
        )
        self.runner.mailer.deliver(message, on_result=self._mail_result)

    def _mail_result(self, result: MailResult) -> None:
        if result.delivered:
            text = f"письмо голосовой почты доставлено (попыток: {result.attempts})"
        else:
            text = (
                f"письмо голосовой почты не доставлено: {result.error} (попыток: {result.attempts})"
            )
        step = StepRecord(
            self.now(),
            "mail_result",
            text,
            {"delivered": result.delivered, "attempts": result.attempts, "error": result.error},
        )
        self.runner.spawn(self._add_step_later(step))

    async def _add_step_later(self, step: StepRecord) -> None:
        call_id = await self.saved
        await self.runner.store.add_step(self.account_id, call_id, step)

    # CRM (IVX) ---------------------------------------------------------------------------------

    async def _http(self, request: act.HttpRequest) -> None:
        response: HttpResponse = await self.runner.crm.execute(request)
        self.post(response)

    # dialling ----------------------------------------------------------------------------------

    async def _dial(self, dial: act.Dial) -> None:
        assert self.config is not None
        assert self.engine is not None
        self.dial = dial
        phones = await self._reachable_phones(dial)
        numbers = [t.number for t in dial.targets if t.number is not None]

        def reachable(employee: EmployeeInfo, phone: PhoneInfo) -> bool:
            return (employee.id, phone.id) in phones

        request = forward_request(
            dial,
            self.config,
            call_id=self.call.id,
            account_id=self.account_id,
            caller=self.engine.caller,
            now=self.now(),
            reachable=reachable,
        )
        await self._ringback(dial)
        if not request.targets:
            if numbers:
                await self._ring_numbers(numbers, float(dial.ring_timeout or 60))
            else:
                await self._engine(DialFailed("no_answer", ("некого вызывать",)))
            return
        self.in_distribution = True
        await self.runner.dist_start(request)

    async def _reachable_phones(self, dial: act.Dial) -> set[tuple[int, str]]:
        """(employee, phone) pairs that can ring now: registered SIP lines, outside numbers."""
        assert self.config is not None
        ids: list[int] = []
        for target in dial.targets:
            if target.employee_id is not None:
                ids.append(target.employee_id)
            elif target.group_id is not None and target.group_id in self.config.groups:
                group = self.config.groups[target.group_id]
                ids += list(group.member_ids) + [row.employee_id for row in group.rows]
        employees = await self.runner.pbx.directory.employees(
            self.account_id, list(dict.fromkeys(ids))
        )
        found: set[tuple[int, str]] = set()
        self.phone_docs.clear()
        for employee in employees:
            for index, phone in enumerate(employee["phones"], start=1):
                key = (int(employee["id"]), str(phone.get("id") or index))
                self.phone_docs[key] = phone
                if phone["kind"] != "sip":
                    if phone.get("number"):
                        found.add(key)
                elif (await self._sip_targets(phone)) != []:
                    found.add(key)
        return found

    async def _sip_targets(
        self, phone: dict[str, Any], employee_id: int | None = None
    ) -> list[Target]:
        line_id = phone.get("sip_line_id")
        if line_id is None:
            return []
        logins = await self.runner.pbx.directory.line_logins([int(line_id)])
        login = logins.get(int(line_id))
        if login is None:
            return []
        now = self.runner.pbx.endpoint.now()
        return [
            Target.phone(location, employee_id)
            for location in self.runner.pbx.registrar.locations(login, int(line_id), now)
        ]

    async def _trunk_target(
        self, number: str, employee_id: int | None = None
    ) -> Target | Refusal | None:
        """An outside number through the account's outbound trunk, if the toll-fraud guard
        admits it (a refusal is noted in the call's details); None without a trunk."""
        trunks = await self.runner.pbx.directory.trunks()
        trunk = next((t for t in trunks if t.account_id == self.account_id and t.outbound), None)
        if trunk is None:
            return None
        lease = ""
        guard = self.runner.pbx.toll_guard
        if guard is not None:
            admitted = await guard.admit(
                self.account_id,
                self.call.id,
                number,
                source="forward" if employee_id is None else "employee_phone",
            )
            if isinstance(admitted, Refusal):
                if self.engine is not None:
                    data = {"rule": admitted.rule.value, "e164": admitted.number}
                    text = f"{admitted.text} (вызов {number})"
                    self.engine.details.append(Step(self.now(), "toll_fraud", text, data))
                return admitted
            lease = admitted.id
        return Target(
            uri=SipUri(host=trunk.host, port=trunk.port, user=number),
            peer=Peer(trunk.transport, trunk.host, trunk.port),
            to=f"<sip:{number}@{trunk.host}>",
            label=f"trunk {trunk.name}: {number}",
            caller_id=self.call.caller,
            credentials=(trunk.username, trunk.password) if trunk.username else None,
            employee_id=employee_id,
            lease=lease,
        )

    def _not_rung(self, target: Target) -> None:
        """A leg to an outside number that was admitted but never sent: its lease is free."""
        guard = self.runner.pbx.toll_guard
        if guard is not None and target.lease:
            guard.leg_over(target.lease)

    async def _ringback(self, dial: act.Dial) -> None:
        """What the caller hears while phones ring: the operation's files (early media before
        the answer), or ringing: his phone's own on 180, our ringback tone once answered."""
        if dial.ringback_file_ids:
            prompts = await self.runner.prompts.files(self.account_id, dial.ringback_file_ids)
            if prompts and self.call.state is not CallState.ENDED:
                if not self.call.caller_up:
                    self.call.early_media()
                self._start_player(prompts, loop=True, notify=False)
                return
        session = self.call.session
        if self.call.caller_up and session is not None and not session.closed:
            self._stop_playback()
            session.set_source(ToneSource(RINGBACK_RU))

    async def _hold_music(self, queued: dist.Queued) -> None:
        """QUE-4/5: the queue message (and the estimated wait), then the operation's files, again
        and again; the caller is answered to hear it."""
        dial = self.dial
        if dial is None or self.call.state is CallState.ENDED:
            return
        prompts = self.runner.prompts
        assert self.config is not None
        if dial.queue_message_file_id is not None:
            message = await prompts.files(self.account_id, (dial.queue_message_file_id,))
        else:
            message = await prompts.system_message(self.account_id, "queue_message", self.config)
        if queued.estimated_wait is not None:
            path = await prompts.system.queue_wait(queued.estimated_wait)
            message.append(await prompts.cache.load_async(path))
        music = await prompts.files(self.account_id, dial.ringback_file_ids) or [HOLD_TONE]
        if self.talking or not self.in_distribution:
            return
        self._answer()
        self._start_player([*message, *music], loop=True, notify=False)

    async def _ring_numbers(self, numbers: list[str], ring_timeout: float) -> None:
        refused: list[str] = []
        for number in numbers:
            target = await self._trunk_target(number)
            if target is None:
                continue
            if isinstance(target, Refusal):
                refused.append(f"{number}: {target.text}")
                continue
            leg = await self.call.ring_leg(target, ring_timeout)
            if leg is not None:
                self.leg_number[id(leg)] = number
            else:
                self._not_rung(target)
        if not self.leg_number:
            reasons = tuple(refused) or ("нет исходящего транка",)
            await self._engine(DialFailed("failed", reasons))

    async def _dist_action(self, action: dist.Action) -> None:
        match action:
            case dist.Ring(employee_id=eid, phone_id=phone_id, timeout=timeout):
                await self._ring_phone(eid, phone_id, timeout)
            case dist.Cancel(employee_id=eid, phone_id=phone_id):
                for leg in self.ringing.pop((eid, phone_id), []):
                    self.call.cancel_leg(leg)
            case dist.Queued():
                await self._hold_music(action)
            case dist.Held():
                pass
            case dist.GiveUp(skipped=skipped):
                self.in_distribution = False
                assert self.config is not None
                self._stop_playback()
                await self._engine(
                    DialFailed("no_answer", give_up_reasons(skipped, self.config.employees))
                )

    async def _ring_phone(self, employee_id: int, phone_id: str, seconds: float) -> None:
        phone = self.phone_docs.get((employee_id, phone_id))
        targets: list[Target] = []
        if phone is not None and phone["kind"] == "sip":
            targets = await self._sip_targets(phone, employee_id)
        elif phone is not None and phone.get("number"):
            trunk = await self._trunk_target(str(phone["number"]), employee_id)
            targets = [trunk] if isinstance(trunk, Target) else []
        legs: list[OutLeg] = []
        for target in targets:
            leg = await self.call.ring_leg(target, seconds + RING_BACKSTOP)
            if leg is not None:
                legs.append(leg)
                self.leg_phone[id(leg)] = (employee_id, phone_id)
            else:
                self._not_rung(target)
        if legs:
            self.ringing[(employee_id, phone_id)] = legs
        else:
            failed = dist.RingEnded(self.call.id, employee_id, phone_id, dist.RingResult.FAILED)
            await self.runner.dist_event(failed)

    async def _leg_failed(self, leg: OutLeg, status: int) -> None:
        number = self.leg_number.pop(id(leg), None)
        if number is not None:
            if not self.leg_number and self.engine is not None and not self.talking:
                self._stop_playback()
                await self._engine(DialFailed("no_answer", (f"{number}: {status}",)))
            return
        key = self.leg_phone.pop(id(leg), None)
        if key is None:
            return
        legs = self.ringing.get(key)
        if legs is None:
            return
        legs[:] = [other for other in legs if other is not leg]
        if not legs:
            del self.ringing[key]
            event = dist.RingEnded(self.call.id, key[0], key[1], ring_result(status))
            await self.runner.dist_event(event)

    async def _leg_answered(self, leg: OutLeg) -> None:
        self._stop_playback()
        now = self.now()
        self.first_answer = self.first_answer or now
        number = self.leg_number.pop(id(leg), None)
        for other in list(self.leg_number):
            self.leg_number.pop(other)
        if number is not None:
            await self._engine(Answered(number=number))
            return
        source = leg.picked_from or leg
        key = self.leg_phone.get(id(source))
        self.ringing.clear()
        self.leg_phone.clear()
        if key is None:
            log.warning("an unknown leg answered", extra={"call": self.call.id})
            self.call.release_winner()
            return
        self.dist_connected = True
        await self.runner.dist_event(dist.Answered(self.call.id, key[0], key[1]))
        employee_id = leg.target.employee_id if leg.target.employee_id is not None else key[0]
        await self._engine(Answered(employee_id=employee_id, phone_id=key[1]))

    async def _bridge(self) -> None:
        call, dial = self.call, self.dial
        winner = call.winner
        if winner is None or winner.session is None:
            return
        if dial is not None and (dial.operator_message_file_id or dial.operator_message_text):
            # played to the employee before the caller is connected (SCN-FWD, IVX-2)
            prompts = await self.runner.prompts.files(
                self.account_id,
                (dial.operator_message_file_id,) if dial.operator_message_file_id else (),
            )
            if not prompts and dial.operator_message_text:
                prompts = await self.runner.prompts.text(dial.operator_message_text)
            if prompts and winner.session is not None:
                await winner.session.play(prompts).wait()
        if call.state is CallState.ENDED or call.winner is not winner:
            return
        self._stop_playback()
        call.connect()
        self.talking = True
        self.talk_started = self.now()

    async def _cancel_dial(self) -> None:
        for legs in self.ringing.values():
            for leg in legs:
                self.call.cancel_leg(leg)
        self.ringing.clear()
        self.leg_phone.clear()
        await self._leave_distribution()

    async def _leave_distribution(self) -> None:
        """Tell the distribution this call is done with it: the phone that answered is free
        again (talk time counted) or, before any answer, the caller gave up ringing or queueing."""
        if not self.in_distribution:
            return
        self.in_distribution = False
        if self.dist_connected:
            self.dist_connected = False
            await self.runner.dist_event(dist.CallEnded(self.call.id))
        else:
            await self.runner.dist_event(dist.CallerHungUp(self.call.id))

    async def _talk_over(self) -> None:
        if self.talking:
            self.talking = False
            if self.talk_started is not None:
                self.talk_seconds += (self.now() - self.talk_started).total_seconds()
        if self.dist_connected:
            await self._leave_distribution()

    async def _party_left(self, role: LegRole) -> None:
        engine = self.engine
        if role is LegRole.CALLEE:
            await self._talk_over()
            if engine is not None:
                await self._engine(TalkEnded("employee"))
            return
        if self.recorder is not None:
            if engine is not None:
                # the engine hears of the recording first (it mails it), then ends the call
                engine.details.append(
                    Step(self.now(), "caller_hangup", "абонент положил трубку: запись завершена")
                )
            await self._finish_recording()
        await self._talk_over()
        if engine is not None and not engine.ended:
            await self._engine(CallerHungUp())
        if self.call.state is not CallState.ENDED:
            self.call.hangup_all()

    def add_detail(self, detail: dist.Detail) -> None:
        if self.engine is not None and self.config is not None:
            self.engine.details.append(detail_step(detail, self.config.employees))

    # -- the end -------------------------------------------------------------------------------

    async def _cleanup(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.recorder is not None:
            await self._finish_recording_quietly()
        try:
            await self._talk_over()
            await self._leave_distribution()
        finally:
            self.runner.calls.pop(self.call.id, None)
        record = self._record_of_call()
        try:
            call_id = await self.runner.store.save(record, self.ticket)
        except Exception as error:
            log.exception("call report not written", extra={"call": self.call.id})
            self.saved.set_exception(error)
            self.saved.exception()  # retrieved: nobody else may wait for it
            return
        self.saved.set_result(call_id)

    async def _finish_recording_quietly(self) -> None:
        recorder, self.recorder = self.recorder, None
        if recorder is not None:
            recorder.stop()

    def _record_of_call(self) -> CallRecord:
        engine = self.engine
        call = self.call
        ended = call.ended_at or self.now()
        steps: list[Step] = list(engine.details) if engine is not None else []
        if call.cut_reason:
            steps.append(Step(ended, "toll_fraud", call.cut_reason, {"rule": "minutes_per_hour"}))
        outcome = engine.outcome if engine is not None else None
        if isinstance(outcome, act.Reject):
            status = "blocked"
        elif self.failed or engine is None:
            status = "failed"
        elif self.first_answer is not None:
            status = "answered"
        else:
            status = "missed"
        started = call.started_at
        waited_until = self.first_answer or ended
        return CallRecord(
            account_id=self.account_id,
            started_at=started,
            direction="incoming",
            status=status,
            caller=(engine.caller if engine is not None and engine.caller else call.caller),
            called=self.number.number,
            answered_at=self.first_answer,
            ended_at=ended,
            session_type="scenario",
            number_id=self.number.number_id,
            scenario_id=engine.scenario_id if engine is not None else None,
            employee_id=engine.answered_by if engine is not None else None,
            wait_seconds=max(0.0, (waited_until - started).total_seconds()),
            talk_seconds=round(self.talk_seconds, 3),
            rating=engine.rating if engine is not None else None,
            recording_file_ids=tuple(self.file_ids),
            steps=tuple(StepRecord(s.at, s.kind, s.text, dict(s.data)) for s in steps),
            contact_name=self._contact_name(engine.caller if engine is not None else ""),
            switch_call_id=call.id,
        )

    def answer_so_far(self) -> tuple[dt.datetime, int | None] | None:
        """When the call was answered and by whom, while it lasts (None: not answered yet)."""
        if self.first_answer is None:
            return None
        return self.first_answer, self.engine.answered_by if self.engine is not None else None

    def steps_from(self, index: int) -> list[StepRecord]:
        """The call's details from `index` on (what the store writes while the call lasts)."""
        engine = self.engine
        if engine is None:
            return []
        return [StepRecord(s.at, s.kind, s.text, dict(s.data)) for s in engine.details[index:]]

    def _contact_name(self, caller: str) -> str | None:
        """The caller's contact from the snapshot (the oldest, as the report's lookup picks);
        None when the snapshot was never loaded (the writer looks it up then)."""
        if self.config is None:
            return None
        contacts = sorted(
            self.config.contacts_by_phone.get(caller, ()),
        )
        if not contacts:
            return ""
        contact = self.config.contacts[contacts[0]]
        return " ".join(p for p in (contact.last_name, contact.first_name) if p)


__all__ = ["LiveCall", "ScenarioRunner", "ring_result"]
