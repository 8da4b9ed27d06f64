"""The switch's side of calls to virtual numbers: one `LiveCall` per call carries out what its
`vpbx.scenario.call_logic.CallLogic` decides.

`ScenarioRunner` is the `Pbx.controllers` factory and owns the node's distributor. For each call
it loads the account's configuration (cached, dropped when the API changes it) and starts a
`LiveCall`, which turns what happens on the call (keys, legs answering or failing, hang-ups,
prompts played, recordings saved, CRM answers, timers) into the core's events and executes the
commands the core answers: prompts, ringing phones and numbers, hold music, bridging, recording,
mail, HTTP requests, hanging up. The core decides; nothing here chooses what the call does next,
and nothing here writes the call details (they are the core's; the store persists them).

Everything that happens to one call goes through its own queue and is handled in order by one
task, so the core never sees two events at once and a slow prompt load cannot reorder keys.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vpbx.domain.entities.misc import FileKind
from vpbx.domain.live import LiveCallState, SuperviseAnswer, SuperviseRequest
from vpbx.domain.switch_records import CallRecord, CallStart, StepRecord
from vpbx.domain.toll_fraud import Refusal
from vpbx.media.player import PlaybackResult, Player, ToneSource
from vpbx.media.recorder import Recorder
from vpbx.media.session import Pcm
from vpbx.media.system_messages import SystemMessage
from vpbx.media.tones import RINGBACK_RU, cadence_frames
from vpbx.scenario import actions as act
from vpbx.scenario import call_io as io
from vpbx.scenario import distribution as dist
from vpbx.scenario.call_core import CallCore
from vpbx.scenario.call_logic import CallLogic, route_step
from vpbx.scenario.snapshot import ConfigSnapshot, PhoneInfo
from vpbx.services.crm import CrmClient
from vpbx.services.mailer import Mailer, MailResult
from vpbx.sip.uri import SipUri, parse_host_port
from vpbx.switch.b2bua import B2BCall, CallState, Consultation, LegRole, OutLeg, Target
from vpbx.switch.call_store import (
    CallStore,
    CallTicket,
    TicketState,
    talk_work_file,
    work_file,
)
from vpbx.switch.directory import NumberInfo
from vpbx.switch.live_feed import LiveFeed
from vpbx.switch.pbx import Pbx
from vpbx.switch.prompt_library import BEEP, REFUSED_TONE, PromptLibrary
from vpbx.switch.snapshots import SnapshotCache
from vpbx.switch.talk_records import TalkRecords
from vpbx.transport.sip import Peer

log = logging.getLogger("vpbx.switch.runner")

Clock = Callable[[], dt.datetime]

#: a recording shorter than this is "nothing recorded" (SCN-VM still mails)
MIN_RECORDING_SECONDS = 0.5
#: the switch's own limit on one ring, beyond the distribution's timer that normally ends it
RING_BACKSTOP = 5.0
#: hold music when the operation has no ringback files: Russian ringback, 20 s a round
HOLD_TONE = cadence_frames(RINGBACK_RU, 1000).reshape(-1)


def _recording_error(recorder: Recorder) -> str:
    """What the call details say of a recording the disk stopped early ("" when none did)."""
    failure = recorder.failure
    if failure is None:
        return ""
    cause = "диск заполнен" if recorder.disk_full else "ошибка записи файла"
    detail = failure.strerror or str(failure)
    return f"{cause} ({detail}): запись остановлена на {recorder.seconds:.0f} с"


# -- what a call's queue carries beside the core's own events -------------------------------------


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
class _PlayerDone:
    player: Player


Item = io.Input | _LegAnswered | _LegFailed | _PartyLeft | _PlayerDone


@dataclass(frozen=True, slots=True)
class Called:
    """What a call dialled: a virtual number (from a trunk), or a group's extension (an
    employee's internal call, GRP-1)."""

    called: str
    direction: str = "incoming"
    session_type: str = "scenario"
    number_id: int | None = None
    #: VirtualNumber.trunk_id: the trunk its outside legs leave through
    trunk_id: int | None = None
    group_id: int | None = None

    @classmethod
    def number(cls, number: NumberInfo) -> Called:
        return cls(number.number, number_id=number.number_id, trunk_id=number.trunk_id)


class ScenarioRunner:
    """One per node: the call logic of every call to a virtual number."""

    def __init__(
        self,
        pbx: Pbx,
        snapshots: SnapshotCache,
        prompts: PromptLibrary,
        store: CallStore,
        mailer: Mailer,
        work_dir: Path,
        clock: Clock,
        distributor: dist.Distributor | None = None,
        crm: CrmClient | None = None,
        talk_records: TalkRecords | None = None,
    ) -> None:
        self.pbx = pbx
        self.snapshots = snapshots
        self.prompts = prompts
        self.store = store
        self.mailer = mailer
        self.work_dir = work_dir
        self.clock = clock
        self.distributor = distributor or dist.Distributor(dist.InProcessState())
        self.crm = crm or CrmClient()
        #: where talk options write (tags, personal managers, contact groups, the blacklist)
        self.talk_records = talk_records
        self.calls: dict[str, LiveCall] = {}
        #: told of every call written (its row id, the account's configuration): a missed
        #: call may be called back (CB-1, `vpbx.switch.callbacks`)
        self.call_over: Callable[[CallRecord, int, ConfigSnapshot], None] | None = None
        #: CDR-4: told of what each call does, for the live view
        self.live: LiveFeed | None = None
        self._dist_timer: asyncio.Handle | None = None
        # The distributor keeps each call's round in plain fields and expects one operation
        # at a time: the calls' tasks and its timer would otherwise interleave at each await
        # of the shared state (Redis), e.g. the timer ending a round that `start` is still
        # in and queueing the caller twice (CI, a claim waiting out a Redis restart).
        self._dist_lock = asyncio.Lock()
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
        return self._start(call, Called.number(number), call.caller)

    async def group_call(self, call: B2BCall, group_id: int) -> LiveCall:
        """`GroupCallFactory`: an employee dialled a group's extension."""
        called = Called(call.called, "internal", "group", group_id=group_id)
        return self._start(call, called, call.caller_extension or call.caller)

    def start_live(self, live: LiveCall, row_id: int | None = None) -> LiveCall:
        """A call driven by another kind of `LiveCall` (a call the PBX places itself)."""
        return self._start(live.call, live.number, live.caller, live, row_id)

    def _start(
        self,
        call: B2BCall,
        called: Called,
        caller: str,
        live: LiveCall | None = None,
        row_id: int | None = None,
    ) -> LiveCall:
        """`live`: a driver of another kind (a call the PBX places); `row_id`: its report row
        exists already (a CallAPI call, whose id the API answered)."""
        live = live or LiveCall(self, call, called, caller)
        self.calls[call.id] = live
        # The row exists from now on (status active), its details follow as they happen: a
        # crash of the switch leaves the call in the report as interrupted, not absent.
        start = CallStart(
            account_id=call.account_id,
            started_at=call.started_at,
            direction=called.direction,
            caller=caller,
            called=called.called,
            session_type=called.session_type,
            number_id=called.number_id,
            switch_call_id=call.id,
        )
        live.ticket = self.store.begin(start, live.steps_from, live.answer_so_far, row_id=row_id)
        self.spawn(live.run())
        return live

    # -- TRN-1: a supervisor joins from the live view -----------------------------------------

    async def supervise(self, account_id: int, request: SuperviseRequest) -> SuperviseAnswer:
        """Whether the supervisor's phones are rung to join the call (the live feed's socket
        answers the API with it): the call must be the account's and on this node, someone
        must be talking with the caller, nobody else joining, and one of the supervisor's
        phones reachable. The call's logic then decides and notes it in the call's details."""
        live = self.calls.get(request.call_id)
        call = live.call if live is not None else None
        if live is None or call is None or call.account_id != account_id or call.over:
            return SuperviseAnswer.NO_CALL
        logic = live.logic
        if not isinstance(logic, CallLogic) or not logic.talking or call.transferring:
            return SuperviseAnswer.NOT_TALKING
        if logic.talker == request.employee_id:
            return SuperviseAnswer.OWN_CALL
        if call.trainer_joining or logic.supervisor is not None:
            return SuperviseAnswer.TAKEN
        if not await self.pbx.employee_targets(account_id, request.employee_id):
            return SuperviseAnswer.NO_PHONE
        live.post(io.SuperviseAsked(request.employee_id, request.name, request.mode.value))
        return SuperviseAnswer.RINGING

    # -- the distribution, shared by the calls of this node ----------------------------------

    def now_ts(self) -> float:
        return self.clock().timestamp()

    async def dist_start(self, request: dist.ForwardRequest) -> None:
        # the time the call reached the Forward, not the time the lock was free: it numbers
        # the caller in a queue shared by several nodes (the order they called in)
        now = self.now_ts()
        async with self._dist_lock:
            self.apply(await self.distributor.start(request, now))

    async def dist_event(self, event: dist.Event) -> None:
        async with self._dist_lock:
            try:
                step = await self.distributor.handle(event, self.now_ts())
            except (KeyError, ValueError) as error:
                extra = {"event": repr(event), "error": str(error)}
                log.warning("distribution event refused", extra=extra)
                return
            self.apply(step)

    def apply(self, step: dist.Step) -> None:
        """The distributor's decisions go to the queues of the calls they concern."""
        for call_id, event in route_step(step):
            live = self.calls.get(call_id)
            if live is not None:
                live.post(event)
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
        async with self._dist_lock:
            self.apply(await self.distributor.handle_timer(self.now_ts()))


class LiveCall:
    """One B2BCall driven by its `CallLogic`; implements `CallController`."""

    def __init__(self, runner: ScenarioRunner, call: B2BCall, called: Called, caller: str) -> None:
        self.runner = runner
        self.call = call
        self.number = called
        #: who calls, as the report and the phones rung name him (an extension, internally)
        self.caller = caller
        self.account_id = call.account_id
        self.queue: asyncio.Queue[Item] = asyncio.Queue()
        self.logic: CallCore | None = None
        self.config: ConfigSnapshot | None = None
        self.timer: asyncio.Handle | None = None
        self.player: Player | None = None
        #: the legs of each ring of the core (a SIP line rings each registered contact)
        self.ring_legs: dict[int, list[OutLeg]] = {}
        #: the other ids the distributor knows this call by (transfers to a group)
        self.dist_ids: list[str] = []
        self.leg_ring: dict[int, int] = {}
        self.recorder: Recorder | None = None
        self.voicemail: tuple[int, Path] | None = None
        #: the conversation's recording (REC-1, TALK-2) while it runs
        self.talk_recorder: Recorder | None = None
        self.saved: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.ticket: CallTicket | None = None
        self._written = 0
        #: QUE-4: the caller's place in the queue when the distribution queued him
        self.queue_place: int | None = None

    # -- CallController ------------------------------------------------------------------------

    def leg_answered(self, call: B2BCall, leg: OutLeg) -> None:
        self.post(_LegAnswered(leg))

    def leg_failed(self, call: B2BCall, leg: OutLeg, status: int) -> None:
        self.post(_LegFailed(leg, status))

    def hung_up(self, call: B2BCall, role: LegRole) -> None:
        self.post(_PartyLeft(role))

    def transfer_asked(self, call: B2BCall, target: str, uri: str = "") -> None:
        self.post(io.TransferAsked(target, uri))

    def replaces_asked(self, call: B2BCall, found: Consultation) -> None:
        self.post(io.ReplacesAsked(found.call_id, found.employee_id, found.status, found.reason))

    def post(self, item: Item) -> None:
        self.queue.put_nowait(item)

    # -- the loop ------------------------------------------------------------------------------

    def now(self) -> dt.datetime:
        return self.runner.clock()

    @property
    def finished(self) -> bool:
        return self.logic is not None and self.logic.ended and self.call.state is CallState.ENDED

    async def run(self) -> None:
        try:
            await self._begin()
            while not self.finished:
                item = await self.queue.get()
                await self._item(item)
        except asyncio.CancelledError:
            self.call.hangup_all()
            raise
        except Exception as error:
            log.exception("call logic failed: hanging up", extra={"call": self.call.id})
            if self.logic is not None:
                await self._execute(self.logic.fail(self.now(), type(error).__name__))
            self.call.hangup_all()
        finally:
            try:
                await self._cleanup()
            finally:
                self.call.detach()
                if self.runner.live is not None:
                    self.runner.live.end_call(self.account_id, self.call.id)

    async def _begin(self) -> None:
        config, needs_facts = await self.runner.snapshots.get(self.account_id)
        now = self.now()
        facts = (
            await self.runner.snapshots.facts(self.account_id, self.caller, now)
            if needs_facts and self.number.group_id is None
            else None
        )
        self.config = config
        if SystemMessage.HOLD_MUSIC in config.system_files:
            # FILE-1: the account's own hold music (the built-in tune otherwise, no file read)
            self.call.hold_music = (
                await self.runner.prompts.system_message(
                    self.account_id, SystemMessage.HOLD_MUSIC, config
                )
                or self.call.hold_music
            )
        self.logic = logic = CallLogic(
            config,
            call_id=self.call.id,
            account_id=self.account_id,
            number=self.number.called,
            number_id=self.number.number_id,
            trunk_id=self.number.trunk_id,
            caller=self.caller,
            started_at=self.call.started_at,
            facts=facts,
        )
        self.call.listen_digits(lambda digit: self.post(io.Digit(digit.digit)))
        self.call.on_employee_digit = lambda digit: self.post(io.EmployeeDigit(digit))
        self.call.on_trainer_digit = lambda digit: self.post(io.TrainerDigit(digit))
        self.call.on_trainer_joined = lambda mode: self.post(io.TrainerJoined(mode))
        self.call.on_trainer_left = lambda joined: self.post(io.TrainerLeft(joined))
        self.call.on_hold = lambda _call, role, holding: self.post(
            io.HoldChanged(role.value, holding)
        )
        if self.number.group_id is not None:
            await self._execute(logic.start_group(self.number.group_id, now))
        else:
            await self._execute(logic.start(now))
        self._publish_live()
        if self.call.state is CallState.ENDED:  # the caller left while the config loaded
            await self._handle(io.CallerHungUp())

    async def _item(self, item: Item) -> None:
        match item:
            case _LegAnswered(leg=leg):
                await self._leg_answered(leg)
            case _LegFailed(leg=leg, status=status):
                await self._leg_failed(leg, status)
            case _PartyLeft(role=LegRole.TARGET):
                await self._handle(io.TargetHungUp())
            case _PartyLeft(role=role):
                left = io.CalleeHungUp() if role is LegRole.CALLEE else io.CallerHungUp()
                await self._handle(left)
                tagging = self.logic is not None and self.logic.tagging
                if (
                    role is LegRole.CALLER
                    and self.call.state is not CallState.ENDED
                    and not tagging
                ):
                    self.call.hangup_all()
            case _PlayerDone(player=player):
                if self.player is player:
                    self.player = None
                    await self._handle(io.PlaybackDone())
            case _:
                await self._handle(item)

    async def _handle(self, event: io.Input) -> None:
        logic = self.logic
        assert logic is not None
        if isinstance(event, io.DistAction) and isinstance(event.action, dist.Queued):
            self.queue_place = event.action.position
        await self._execute(logic.handle(event, self.now()))
        self._arm_timer()
        self._publish_live()

    def _publish_live(self) -> None:
        """CDR-4: the call as the live view shows it now (the feed keeps only changes)."""
        feed, logic = self.runner.live, self.logic
        if feed is None or logic is None:
            return
        details = logic.details
        ringing: tuple[int, ...] = ()
        talker: int | None = None
        answered_at: float | None = None
        supervisor: int | None = None
        wrapup = 0.0
        if isinstance(logic, CallLogic):
            if logic.dial is not None:  # the forward that rang the talker: his wrap-up
                wrapup = float(logic.dial.wrapup_seconds)
            if logic.supervisor is not None:
                supervisor = logic.supervisor[0]
            if logic.answered_ring is None:
                ringing = tuple(
                    sorted({r.employee_id for r in logic.rings.values() if r.employee_id})
                )
            if logic.talking:
                talker = logic.talker
                if logic.first_answer is not None:
                    answered_at = logic.first_answer.timestamp()
        if logic.talking or not logic.in_distribution:
            self.queue_place = None
        state = LiveCallState(
            call_id=self.call.id,
            caller=self.caller,
            number=self.number.called,
            started_at=self.call.started_at.timestamp(),
            step=details[-1].text if details else "",
            ringing=ringing,
            talker=talker,
            answered_at=answered_at,
            queue_place=self.queue_place,
            supervisor=supervisor,
            supervise_mode=logic.supervise_mode if isinstance(logic, CallLogic) else None,
            wrapup_seconds=wrapup,
        )
        feed.put_call(self.account_id, state)

    def _arm_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        assert self.logic is not None
        deadline = self.logic.next_timer()
        if deadline is not None:
            delay = max(0.0, (deadline - self.now()).total_seconds())
            self.timer = asyncio.get_running_loop().call_later(delay, self.post, io.TimerFired())

    # -- commands ------------------------------------------------------------------------------

    async def _execute(self, commands: Sequence[Any]) -> None:
        """The core's commands, in order (`vpbx.scenario.call_io`'s, and those of the core's
        own that a driver of its kind carries out)."""
        for command in commands:
            await self._command(command)

    async def _command(self, command: io.Command) -> None:
        call = self.call
        match command:
            case io.AnswerCaller():
                self._answer()
            case io.PlayToCaller(play=play):
                await self._play(play)
            case io.StopPlayback():
                self._stop_playback()
            case act.CollectDigits():
                pass  # keys are always listened to
            case io.Ringback():
                await self._ringback(command)
            case io.HoldMusic():
                await self._hold_music(command)
            case io.StartRecording():
                await self._record(command)
            case io.StopRecording():
                await self._finish_recording(command)
            case io.FindPhones(employee_ids=ids):
                self.post(io.PhonesFound(await self._reachable(ids)))
            case io.RingPhone():
                await self._ring_phone(command)
            case io.RingNumber():
                await self._ring_number(command)
            case io.RingUri(ring=ring, uri=uri, timeout=timeout, caller_id=caller_id):
                target = self._uri_target(uri, None, caller_id)
                await self._ring(ring, [target], timeout, command.transfer)
            case io.StopRing(ring=ring):
                for leg in self.ring_legs.pop(ring, []):
                    self.leg_ring.pop(id(leg), None)
                    call.cancel_leg(leg)
            case io.ConnectCallee():
                await self._connect(command)
            case io.HangUp():
                self._stop_playback()
                call.hangup_all()
            case io.RejectCall(status=status, reason=reason):
                call.fail(status, reason)
            case io.SendVoicemail():
                self._send_mail(command)
            case io.Distribute(request=request):
                if request.call_id != self.call.id:
                    # a transfer to a group: its distribution speaks of it by an id of its own
                    self.runner.calls.setdefault(request.call_id, self)
                    self.dist_ids.append(request.call_id)
                await self.runner.dist_start(request)
            case io.TellDistribution(event=event):
                await self.runner.dist_event(event)
            case act.HttpRequest():
                self.runner.spawn(self._http(command))
            case act.OfferTagging():
                log.info("post-call tagging offered", extra={"call": call.id})
            case io.HoldCaller():
                await self._hold_caller(command)
            case io.ConsultTarget():
                call.consult()
            case io.TakeConsultation(ring=ring, consultation=consultation):
                self._take_consultation(ring, consultation)
            case io.CompleteTransfer(ring=ring):
                self._stop_playback()
                call.complete_transfer()
                self.ring_legs = {ring: self.ring_legs.get(ring, [])}
            case io.ReturnToEmployee():
                self._stop_playback()
                call.end_transfer()
            case io.ReleaseEmployee():
                call.release_winner()
            case io.KeepEmployee():
                call.keep_employee = True
            case io.PromptEmployee(text=text):
                self.runner.spawn(self._prompt_employee(text))
            case io.NotifyTransfer(status=status, reason=reason):
                call.notify_refer(status, reason)
            case io.ToneToEmployee(ok=ok):
                await self._tone_to_employee(ok)
            case io.TrainerMode(mode=mode):
                call.set_trainer_mode(mode)
            case io.CallTrainer(employee_id=employee_id):
                self.runner.spawn(self.runner.pbx.call_trainer_of(call, employee_id))
            case io.CallSupervisor(employee_id=employee_id, mode=mode):
                self.runner.spawn(self.runner.pbx.call_supervisor(call, employee_id, mode))
            case io.TagCall() | io.AssignManager() | io.SaveCaller():
                self.runner.spawn(self._talk_record(command))
            case io.RecordTalk(caller_connected=swapped):
                self._record_talk(swapped)
            case io.StopTalkRecording():
                self.post(await self._finish_talk_recording(command))

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
                self.post(io.PlaybackDone())
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

    async def _ringback(self, ringback: io.Ringback) -> None:
        """The operation's files (early media before the answer), or ringing: the caller's
        phone's own on 180, our ringback tone once he is answered."""
        if ringback.file_ids:
            prompts = await self.runner.prompts.files(self.account_id, ringback.file_ids)
            if prompts and self.call.state is not CallState.ENDED:
                if not self.call.caller_up:
                    self.call.early_media()
                self._start_player(prompts, loop=True, notify=False)
                return
        session = self.call.session
        if self.call.caller_up and session is not None and not session.closed:
            self._stop_playback()
            session.set_source(ToneSource(RINGBACK_RU))

    async def _hold_music(self, hold: io.HoldMusic) -> None:
        if self.call.state is CallState.ENDED:
            return
        prompts = self.runner.prompts
        assert self.config is not None
        if hold.message_file_id is not None:
            message = await prompts.files(self.account_id, (hold.message_file_id,))
        else:
            message = await prompts.system_message(self.account_id, "queue_message", self.config)
        if hold.estimated_wait is not None:
            path = await prompts.system.queue_wait(hold.estimated_wait)
            message.append(await prompts.cache.load_async(path))
        music = await prompts.files(self.account_id, hold.music_file_ids) or [HOLD_TONE]
        logic = self.logic
        if logic is None or logic.talking or not logic.in_distribution:
            return  # answered (or given up) while the prompts loaded
        self._start_player([*message, *music], loop=True, notify=False)

    # the talk: transfers and talk options (TALK-1..7) --------------------------------------------

    async def _hold_caller(self, hold: io.HoldCaller) -> None:
        music = await self.runner.prompts.files(self.account_id, hold.music_file_ids)
        if self.call.state is CallState.ENDED:
            return
        self._stop_playback()
        self.call.hold_for_transfer(music or self.call.hold_music)

    def _take_consultation(self, ring: int, consultation: str) -> None:
        """Attended transfer by Replaces: the consulted target's leg becomes this call's
        transfer target (ring `ring`), answered already; 481 when it is gone meanwhile."""
        other = self.runner.pbx.call_by_id(consultation)
        leg = self.call.take_consultation(other) if other is not None else None
        if leg is None:
            self.post(io.RingFailed(ring, 481))
            return
        self.ring_legs[ring] = [leg]
        self.post(io.RingAnswered(ring))

    async def _prompt_employee(self, text: str) -> None:
        prompts = await self.runner.prompts.text(text)
        if prompts:
            await self.call.tell_employee(prompts)

    async def _tone_to_employee(self, ok: bool) -> None:
        await self.call.tell_employee([BEEP if ok else REFUSED_TONE])

    async def _talk_record(self, command: io.TagCall | io.AssignManager | io.SaveCaller) -> None:
        """TALK-4/6/7: written by the services behind `TalkRecords`; a failure is logged (the
        call goes on: the option's step is in the details already)."""
        records = self.runner.talk_records
        if records is None:
            log.warning(
                "talk option not stored: no talk records service", extra={"call": self.call.id}
            )
            return
        try:
            match command:
                case io.TagCall(tag_id=tag_id, name=name):
                    await records.tag_call(self.account_id, self.call.id, tag_id, name or None)
                case io.AssignManager(employee_id=employee_id, caller=caller):
                    await records.assign_manager(self.account_id, caller, employee_id)
                case io.SaveCaller(caller=caller, contact_group_id=group_id, to_blacklist=black):
                    await records.save_caller(self.account_id, caller, group_id, black)
                    # the next call from that number must see it (the blacklist above all)
                    self.runner.snapshots.invalidate(self.account_id)
        except Exception:
            log.exception("talk option not stored", extra={"call": self.call.id})

    # recording the talk (REC-1, TALK-2) --------------------------------------------------------

    def _record_talk(self, caller_connected: bool) -> None:
        if self.talk_recorder is not None or self.call.state is CallState.ENDED:
            return
        path = talk_work_file(self.runner.work_dir, self.call.id)
        # None when nobody is connected any more: the stop then reports nothing recorded
        self.talk_recorder = self.call.record_talk(path, caller_connected=caller_connected)

    async def _finish_talk_recording(self, stop: io.StopTalkRecording) -> io.TalkRecordingSaved:
        """Stop the conversation's recording and file it in «Записанные разговоры». When a full
        disk stopped it early, or the file base refused it, `error` says so; the call goes on
        either way."""
        recorder, self.talk_recorder = self.talk_recorder, None
        if recorder is None:
            return io.TalkRecordingSaved(None, 0.0)
        path = recorder.stop()
        seconds = recorder.seconds
        error = _recording_error(recorder)
        if seconds < MIN_RECORDING_SECONDS or not path.is_file():
            path.unlink(missing_ok=True)
            return io.TalkRecordingSaved(None, seconds, error)
        ticket = self.ticket
        row = ticket.call_id if ticket is not None and ticket.state is TicketState.WRITTEN else None
        try:
            file_id, _ = await self.runner.store.save_file(
                self.account_id,
                FileKind.RECORDING,
                path,
                name=stop.name,
                caller=stop.caller,
                called=stop.called,
                employee_id=stop.employee_id,
                number_id=self.number.number_id,
                call_id=row,
            )
        except Exception as failure:
            # The work file stays where it is (named by the call) for an admin to pick up.
            log.exception(
                "talk recording not filed", extra={"call": self.call.id, "path": str(path)}
            )
            why = f"запись не сохранена в базу файлов ({type(failure).__name__}): {path.name}"
            return io.TalkRecordingSaved(None, seconds, "; ".join(e for e in (error, why) if e))
        return io.TalkRecordingSaved(file_id, seconds, error)

    # voicemail (SCN-VM) ------------------------------------------------------------------------

    async def _record(self, record: io.StartRecording) -> None:
        if record.beep:
            self._stop_playback()
            beep = self.call.play([BEEP])
            await beep.wait()
        if self.call.state is CallState.ENDED or self.call.session is None:
            self.post(io.RecordingSaved(None, 0.0))
            return
        path = work_file(self.runner.work_dir, self.call.id)
        self.recorder = self.call.record(path)

    async def _finish_recording(self, stop: io.StopRecording) -> None:
        recorder, self.recorder = self.recorder, None
        if recorder is None:
            self.post(io.RecordingSaved(None, 0.0))
            return
        path = recorder.stop()
        seconds = recorder.seconds
        file_id: int | None = None
        if seconds >= MIN_RECORDING_SECONDS and path.is_file():
            file_id, stored = await self.runner.store.save_file(
                self.account_id,
                stop.kind,
                path,
                name=stop.name,
                caller=stop.caller,
                called=stop.called,
                employee_id=stop.employee_id,
                number_id=self.number.number_id,
            )
            self.voicemail = (file_id, stored)
        else:
            path.unlink(missing_ok=True)
        self.post(io.RecordingSaved(file_id, seconds))

    def _send_mail(self, mail: io.SendVoicemail) -> None:
        wav = None
        if mail.file_id is not None and self.voicemail is not None:
            wav = self.voicemail[1] if self.voicemail[0] == mail.file_id else None
        assert self.config is not None
        message = self.runner.mailer.voicemail_message(
            list(mail.to),
            mail.subject,
            caller=mail.caller or self.call.caller,
            called=mail.called,
            at=self.call.started_at.astimezone(self.config.tz),
            wav=wav,
        )
        self.runner.mailer.deliver(message, on_result=self._mail_result)

    def _mail_result(self, result: MailResult) -> None:
        sent = io.MailSent(result.delivered, result.attempts, result.error)
        if not self.saved.done():
            self.post(sent)
            return
        # the call is over and written: the core still notes the mail's fate, stored late
        assert self.logic is not None
        self.logic.handle(sent, self.now())
        self.runner.spawn(self._write_late_steps())

    async def _write_late_steps(self) -> None:
        assert self.logic is not None
        call_id = await self.saved
        steps = self.logic.details[self._written :]
        self._written += len(steps)
        for step in steps:
            record = StepRecord(step.at, step.kind, step.text, dict(step.data))
            await self.runner.store.add_step(self.account_id, call_id, record)

    # CRM (IVX) ---------------------------------------------------------------------------------

    async def _http(self, request: act.HttpRequest) -> None:
        self.post(await self.runner.crm.execute(request))

    # ringing -----------------------------------------------------------------------------------

    async def _reachable(self, employee_ids: tuple[int, ...]) -> frozenset[tuple[int, str]]:
        """(employee, phone) pairs that can ring now: registered SIP lines, outside numbers,
        SIP URIs, FMC lines (the core says why a blocked one, or one switched off, does not)."""
        assert self.config is not None
        found: set[tuple[int, str]] = set()
        for employee_id in employee_ids:
            employee = self.config.employees.get(employee_id)
            for phone in employee.phones if employee is not None else ():
                if phone.kind != "sip" or await self._locations(phone, employee_id):
                    found.add((employee_id, phone.id))
        return frozenset(found)

    async def _locations(self, phone: PhoneInfo, employee_id: int) -> list[Target]:
        if phone.sip_line_id is None:
            return []
        logins = await self.runner.pbx.directory.line_logins([phone.sip_line_id])
        login = logins.get(phone.sip_line_id)
        if login is None:
            return []
        now = self.runner.pbx.endpoint.now()
        return [
            Target.phone(location, employee_id)
            for location in self.runner.pbx.registrar.locations(login, phone.sip_line_id, now)
        ]

    async def _ring_phone(self, ring: io.RingPhone) -> None:
        phone = ring.phone
        targets: list[Target] = []
        why = "нет адреса"
        if phone.kind == "sip":
            targets = [
                dataclasses.replace(target, caller_id=ring.caller_id)
                for target in await self._locations(phone, ring.employee_id)
            ]
            why = "линия не зарегистрирована"
        elif phone.kind in ("number", "fmc") and phone.number:
            # an FMC line is rung at its SIM's mobile number through the trunk (FMC-1)
            target = await self._trunk_target(
                ring.ring, phone.number, ring.caller_id, self.number.trunk_id, ring.employee_id
            )
            if target is None:
                return
            targets = [target]
        elif phone.kind == "sip_uri" and phone.sip_uri:
            targets = [self._uri_target(phone.sip_uri, ring.employee_id, ring.caller_id)]
        if not targets:
            self.post(io.RingRefused(ring.ring, f"телефон {phone.id}: {why}"))
            return
        await self._ring(ring.ring, targets, ring.timeout + RING_BACKSTOP, ring.transfer)

    async def _ring_number(self, ring: io.RingNumber) -> None:
        target = await self._trunk_target(ring.ring, ring.number, ring.caller_id, ring.trunk_id)
        if target is not None:
            await self._ring(ring.ring, [target], ring.timeout, ring.transfer)

    async def _ring(
        self, ring: int, targets: list[Target], ring_seconds: float, transfer: bool = False
    ) -> None:
        legs: list[OutLeg] = []
        for target in targets:
            if transfer:
                leg = await self.call.ring_target(target, ring_seconds)
            else:
                leg = await self.call.ring_leg(target, ring_seconds)
            if leg is not None:
                legs.append(leg)
                self.leg_ring[id(leg)] = ring
            else:
                self._not_rung(target)
        if legs:
            self.ring_legs[ring] = legs
        else:
            self.post(io.RingFailed(ring, 503))

    def _uri_target(self, uri: str, employee_id: int | None, caller_id: str) -> Target:
        """XFR-3: a SIP URI phone (user@server[:port]), rung directly over UDP."""
        user, _, hostport = uri.removeprefix("sip:").partition("@")
        host, port = parse_host_port(hostport)
        return Target(
            uri=SipUri(host=host, port=port, user=user),
            peer=Peer("udp", host, port or 5060),
            to=f"<sip:{user}@{hostport}>",
            label=f"SIP URI {uri}",
            caller_id=caller_id,
            employee_id=employee_id,
        )

    async def _trunk_target(
        self,
        ring: int,
        number: str,
        caller_id: str,
        trunk_id: int | None = None,
        employee_id: int | None = None,
    ) -> Target | None:
        """An outside number through the outbound trunk, if the toll-fraud guard admits it;
        None (and the core told why) otherwise."""
        target = await self.runner.pbx.outbound_target(
            self.account_id,
            number,
            call_id=self.call.id,
            caller_id=caller_id,
            employee_id=employee_id,
            source="forward" if employee_id is None else "employee_phone",
            trunk_id=trunk_id,
        )
        if target is None:
            self.post(io.RingRefused(ring, f"{number}: нет исходящего транка"))
            return None
        if isinstance(target, Refusal):
            data = (("rule", target.rule.value), ("e164", target.number))
            text = f"{target.text} (вызов {number})"
            self.post(io.RingRefused(ring, text, "toll_fraud", data))
            return None
        return target

    def _not_rung(self, target: Target) -> None:
        """A leg to an outside number that was admitted but never sent: its lease is free."""
        guard = self.runner.pbx.toll_guard
        if guard is not None and target.lease:
            guard.leg_over(target.lease)

    async def _leg_failed(self, leg: OutLeg, status: int) -> None:
        ring = self.leg_ring.pop(id(leg), None)
        if ring is None:
            return
        legs = self.ring_legs.get(ring, [])
        legs[:] = [other for other in legs if other is not leg]
        if not legs:
            self.ring_legs.pop(ring, None)
            await self._handle(io.RingFailed(ring, status))

    async def _leg_answered(self, leg: OutLeg) -> None:
        if leg.role is LegRole.TARGET:
            # a transfer target: the talk's own legs stay as they are
            ring = self.leg_ring.pop(id(leg), None)
            if ring is None:
                self.call.end_transfer()
                return
            await self._handle(io.RingAnswered(ring))
            return
        source = leg.picked_from or leg
        ring = self.leg_ring.get(id(source))
        self.ring_legs.clear()
        self.leg_ring.clear()
        if ring is None:
            log.warning("an unknown leg answered", extra={"call": self.call.id})
            self.call.release_winner()
            return
        self.ring_legs[ring] = [leg]
        if leg.picked_from is None or leg.target.employee_id is None:
            await self._handle(io.RingAnswered(ring))
            return
        phone_id = await self._phone_of_line(leg.target.employee_id, leg.target.login)
        await self._handle(io.RingAnswered(ring, leg.target.employee_id, phone_id))

    async def _phone_of_line(self, employee_id: int, login: str) -> str | None:
        """The phone of `employee_id` that is the SIP line `login` (a pickup's phone)."""
        line = await self.runner.pbx.directory.line(login) if login else None
        employee = self.config.employees.get(employee_id) if self.config else None
        if line is None or employee is None:
            return None
        return next((p.id for p in employee.phones if p.sip_line_id == line.line_id), None)

    async def _connect(self, connect: io.ConnectCallee) -> None:
        call = self.call
        winner = call.winner
        if winner is None or winner.session is None:
            return
        if connect.message_file_id or connect.message_text:
            # played to the employee before the caller is connected (SCN-FWD, IVX-2)
            prompts = self.runner.prompts
            played = (
                await prompts.files(self.account_id, (connect.message_file_id,))
                if connect.message_file_id
                else []
            )
            if not played and connect.message_text:
                played = await prompts.text(connect.message_text)
            if played and winner.session is not None:
                await winner.session.play(played).wait()
        if call.state is CallState.ENDED or call.winner is not winner:
            return
        self._stop_playback()
        call.connect()
        self.post(io.Connected())

    # -- the end -------------------------------------------------------------------------------

    async def _cleanup(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        recorder, self.recorder = self.recorder, None
        if recorder is not None:
            recorder.stop()
        logic = self.logic
        try:
            if logic is not None:
                if self.call.cut_reason:
                    logic.handle(io.CallCut(self.call.cut_reason), self.now())
                for command in logic.finish(self.now()):
                    if isinstance(command, io.TellDistribution):
                        await self.runner.dist_event(command.event)
                    elif isinstance(command, io.StopTalkRecording):
                        # filed before the row is written, so the row links it
                        saved = await self._finish_talk_recording(command)
                        logic.handle(saved, self.now())
        finally:
            for dist_id in (self.call.id, *self.dist_ids):
                self.runner.calls.pop(dist_id, None)
        record = self._record_of_call()
        try:
            call_id = await self.runner.store.save(record, self.ticket)
        except Exception as error:
            log.exception("call report not written", extra={"call": self.call.id})
            self.saved.set_exception(error)
            self.saved.exception()  # retrieved: nobody else may wait for it
            return
        self.saved.set_result(call_id)
        if self.runner.call_over is not None and self.config is not None:
            self.runner.call_over(record, call_id, self.config)

    def _record_of_call(self) -> CallRecord:
        logic = self.logic
        call = self.call
        ended = call.ended_at or self.now()
        start = CallRecord(
            account_id=self.account_id,
            started_at=call.started_at,
            direction=self.number.direction,
            status="failed",
            caller=self.caller,
            called=self.number.called,
            ended_at=ended,
            session_type=self.number.session_type,
            number_id=self.number.number_id,
            switch_call_id=call.id,
        )
        if logic is None:
            return start
        summary = logic.summary(ended)
        self._written = len(logic.details)
        return dataclasses.replace(
            start,
            status=summary.status,
            caller=summary.caller,
            answered_at=summary.answered_at,
            scenario_id=summary.scenario_id,
            employee_id=summary.employee_id,
            wait_seconds=summary.wait_seconds,
            talk_seconds=summary.talk_seconds,
            rating=summary.rating,
            recording_file_ids=summary.recording_file_ids,
            steps=tuple(StepRecord(s.at, s.kind, s.text, dict(s.data)) for s in logic.details),
            contact_name=summary.contact_name,
        )

    def answer_so_far(self) -> tuple[dt.datetime, int | None] | None:
        """When the call was answered and by whom, while it lasts (None: not answered yet)."""
        return self.logic.answer_so_far() if self.logic is not None else None

    def steps_from(self, index: int) -> list[StepRecord]:
        """The call's details from `index` on (what the store writes while the call lasts)."""
        if self.logic is None:
            return []
        return [StepRecord(s.at, s.kind, s.text, dict(s.data)) for s in self.logic.details[index:]]


__all__ = ["LiveCall", "ScenarioRunner"]
