"""A back-to-back user agent call: the caller's leg (we are its UAS) and the legs we ring (we are
their UAC), forked in parallel; the first 2xx wins, the others are CANCELled; ringing is relayed
to the caller; BYE on either side ends the other; a CANCEL from the caller cancels every leg.

Media is anchored: the caller's leg and every rung leg have their own RTP session (our SDP on
both sides); on answer the two sessions are bridged (relay, or PCMU↔PCMA transcoding). When the
answering employee has a trainer who joins every call (TRN-1), the trainer's phones are rung too
and, once he answers, the bridge becomes a whisper conference: the caller hears only the
employee, the employee and the trainer hear everyone.

Hold (issue 13): the caller or the employee puts the call on hold with a re-INVITE (sendonly,
inactive, c=0.0.0.0; the PBX answers it and calls `set_hold`). While either holds, their talk
(bridge or whisper conference) is stopped and the other party hears hold music; the one who
holds is sent nothing (we answered him recvonly or inactive). A resume (sendrecv) brings the
talk back. `on_hold` is told of every change, for the call's details.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from vpbx.media.bridge import Bridge
from vpbx.media.conference import Conference
from vpbx.media.dtmf import DtmfDigit
from vpbx.media.errors import MediaError
from vpbx.media.kernel_rtp import KernelForwarder
from vpbx.media.mixer import conference_matrix, listen_matrix, whisper_matrix
from vpbx.media.player import Player
from vpbx.media.recorder import RIGHT, Recorder
from vpbx.media.session import Pcm, RtpSession
from vpbx.media.tones import HOLD_MUSIC
from vpbx.sip import sdp
from vpbx.sip.dialog import Dialog, DialogState, new_branch, new_tag
from vpbx.sip.errors import ParseError
from vpbx.sip.headers import Via
from vpbx.sip.message import Headers, Request, Response, make_response
from vpbx.sip.transaction import TransactionKey
from vpbx.sip.uri import SipUri
from vpbx.switch.auth_client import with_credentials
from vpbx.switch.clock import WallClock, utc_now
from vpbx.switch.endpoint import SipEndpoint
from vpbx.switch.media import MediaPlant, negotiate
from vpbx.switch.registrar_service import Location
from vpbx.transport.sip import Peer

log = logging.getLogger("vpbx.switch.call")
#: seconds a caller refused for want of RTP ports is told to wait (calls end every few seconds)
RETRY_AFTER_NO_PORTS = 5


class CallState(enum.Enum):
    RINGING = "ringing"
    ANSWERED = "answered"
    ENDED = "ended"


class LegRole(enum.Enum):
    CALLER = "caller"
    CALLEE = "callee"
    TRAINER = "trainer"
    #: the phone (or number) the caller is being transferred to (TALK-5)
    TARGET = "target"


#: the two parties of the conversation: either holding stops it (a trainer's hold does not)
TALKERS = frozenset({LegRole.CALLER, LegRole.CALLEE})


@dataclass(frozen=True, slots=True)
class Target:
    """Where one leg goes: a registered phone contact, or a trunk for an outside number."""

    uri: SipUri
    peer: Peer
    to: str
    label: str
    caller_id: str = ""
    credentials: tuple[str, str] | None = None
    employee_id: int | None = None
    #: the toll-fraud guard's lease of a leg to an outside number ("" for our own phones)
    lease: str = ""
    #: the SIP line of a phone target ("" for trunks): its encryption policy applies
    login: str = ""

    @classmethod
    def phone(cls, location: Location, employee_id: int | None = None) -> Target:
        contact = location.contact
        to = f"<sip:{location.login}@{contact.host_port}>"
        return cls(
            contact, location.peer, to, location.login, employee_id=employee_id,
            login=location.login,
        )  # fmt: skip


@dataclass(slots=True)
class OutLeg:
    """A leg we ring."""

    target: Target
    request: Request
    peer: Peer
    ring_timeout: float
    key: TransactionKey | None = None
    dialog: Dialog | None = None
    final: int | None = None
    timer: asyncio.Handle | None = None
    auth_attempts: int = 0
    session: RtpSession | None = None
    role: LegRole = LegRole.CALLEE
    #: EMP-5: the ringing leg that a pickup (88 + extension) took the call from
    picked_from: OutLeg | None = None
    #: a pickup leg (we are its UAS): set when the picking phone ACKs our 2xx
    acked: asyncio.Event | None = None
    retransmit: asyncio.Task[None] | None = None


@dataclass(frozen=True, slots=True)
class Consultation:
    """What the PBX found for an attended transfer's Replaces (RFC 3891): the call, by its id,
    that the transferring phone placed to `employee_id` and whose answered leg is to take the
    caller; or, `status` set, why there is none to take (481: no such dialog)."""

    call_id: str = ""
    employee_id: int | None = None
    status: int = 0
    reason: str = ""


class CallController(Protocol):
    """The call logic driving a B2BCall (the scenario engine's runner, or a test's script).

    Without a controller a call rings its targets and connects the first to answer. With one,
    the controller answers the caller, plays and listens, rings legs one by one (`ring_leg`),
    and decides what happens when a phone answers, when one stops ringing without an answer
    (its final status: 486, 480, 408…), when a party hangs up, and when the employee's phone
    asks to transfer the caller (REFER, `transfer_asked`; with Replaces, `replaces_asked`).
    """

    def leg_answered(self, call: B2BCall, leg: OutLeg) -> None: ...

    def leg_failed(self, call: B2BCall, leg: OutLeg, status: int) -> None: ...

    def hung_up(self, call: B2BCall, role: LegRole) -> None: ...

    def transfer_asked(self, call: B2BCall, target: str, uri: str = "") -> None: ...

    def replaces_asked(self, call: B2BCall, found: Consultation) -> None: ...


class LegGuard(Protocol):
    """The toll-fraud guard, told when a leg holding a lease is answered and when it ends."""

    def leg_talking(self, lease_id: str) -> None: ...

    def leg_over(self, lease_id: str) -> None: ...


@dataclass(slots=True)
class Contact:
    """How we present ourselves: the Via sent-by and the Contact URI of our legs."""

    host: str
    port: int
    #: SIP over TLS (0 = none): a TLS peer is given this port in our Via and Contact
    tls_port: int = 0

    def _port(self, transport: str) -> int:
        return self.tls_port if transport == "tls" and self.tls_port else self.port

    def via(self, transport: str) -> Via:
        return Via(
            transport=transport.upper(), host=self.host, port=self._port(transport)
        ).with_params(branch=new_branch(), rport=None)

    def uri(self, transport: str) -> str:
        suffix = f";transport={transport}" if transport in ("tcp", "tls") else ""
        return f"<sip:vpbx@{self.host}:{self._port(transport)}{suffix}>"


@dataclass(slots=True)
class B2BCall:
    """One incoming call and the legs it rings."""

    endpoint: SipEndpoint
    me: Contact
    request: Request
    peer: Peer
    key: TransactionKey
    on_end: Callable[[B2BCall], None]
    on_answer: Callable[[B2BCall], None]
    media: MediaPlant
    account_id: int
    id: str = field(default_factory=lambda: secrets.token_hex(8))
    tag: str = field(default_factory=new_tag)
    state: CallState = CallState.RINGING
    legs: list[OutLeg] = field(default_factory=list)
    winner: OutLeg | None = None
    dialog: Dialog | None = None
    session: RtpSession | None = None
    offer: sdp.SessionDescription | None = None
    bridge: Bridge | None = None
    trainer_legs: list[OutLeg] = field(default_factory=list)
    trainer: OutLeg | None = None
    conference: Conference[LegRole] | None = None
    controller: CallController | None = None
    #: told of the answer and the end of every leg to an outside number (toll-fraud counters)
    guard: LegGuard | None = None
    #: why the switch hung the call up itself (the toll-fraud guard's minutes cap), for its row
    cut_reason: str = ""
    caller_up: bool = False
    recorders: list[Recorder] = field(default_factory=list)
    #: the conversation's recording while it runs (REC-1, TALK-2): its employee channel is
    #: moved to each leg `connect` bridges
    talk_recorder: Recorder | None = None
    #: for the calls report: incoming (trunk), internal (extension) or outgoing (to a trunk)
    direction: str = "incoming"
    called: str = ""
    #: the employee whose line placed the call (internal and outgoing calls)
    caller_employee_id: int | None = None
    #: how the calls report names the caller of such a call: his extension, not the line's
    #: login ("": the From user)
    caller_extension: str = ""
    #: the virtual number an outgoing call shows (CID-1), for its report row and the next choice
    number_id: int | None = None
    #: the calls report's session type of such a call («Исходящий с FMC», FMC-2; "": none)
    session_type: str = ""
    #: the wall clock that dates the call (its report row); timers run on the loop's clock
    clock: WallClock = utc_now
    started_at: dt.datetime = field(default_factory=utc_now)
    answered_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    #: 183 with our SDP was sent: the caller hears what we play before the answer
    early: bool = False
    #: the parties whose phones hold the call (see `set_hold`)
    holding: set[LegRole] = field(default_factory=set)
    #: told of every hold (True) and resume (False) with the party who did it; the call logic
    #: notes them in the call's details
    on_hold: Callable[[B2BCall, LegRole, bool], None] | None = None
    #: what a held party hears: the account's «Музыка на удержании» or the built-in tune
    hold_music: list[Pcm] = field(default_factory=lambda: [HOLD_MUSIC])
    #: the hold music each held party hears (a player of its session)
    _hold_players: dict[LegRole, Player] = field(default_factory=dict)
    #: TALK-5: the legs a transfer rings, the one that answered, the employee-target bridge of
    #: an attended transfer, and the caller's hold music meanwhile
    target_legs: list[OutLeg] = field(default_factory=list)
    target: OutLeg | None = None
    transferring: bool = False
    consult_bridge: Bridge | None = None
    _transfer_music: Player | None = None
    #: the REFER whose progress the employee's phone is told (NOTIFY), in his leg's dialog
    refer: tuple[Dialog, Peer] | None = None
    #: this call was the consultation of an attended transfer (Replaces): its answered leg,
    #: handed over to the transferred call (for this call's report row)
    handed_over: OutLeg | None = None
    #: the keys the employee in the talk presses (talk options, `#` transfers); not relayed
    on_employee_digit: Callable[[str], None] | None = None
    #: SCN-TAG: the caller's BYE ends only his leg; the call logic hangs the employee up later
    keep_employee: bool = False
    #: the keys the trainer presses (his mode: listen, whisper, barge)
    on_trainer_digit: Callable[[str], None] | None = None
    #: TRN-1: told when the trainer (or a supervisor) joins, with his mode, and when he leaves
    #: (or none of his phones answered)
    on_trainer_joined: Callable[[str], None] | None = None
    on_trainer_left: Callable[[bool], None] | None = None
    #: how the trainer being rung takes part once he answers (a supervisor chooses)
    trainer_mode: str = "whisper"
    #: a call the PBX places itself (CB-1, API-1): no INVITE came in; its first answered leg
    #: becomes its own side (`take_caller`), and nothing is ever answered to `request`
    originated: bool = False
    _answer_body: bytes | None = None
    _retransmit: asyncio.Task[None] | None = None
    _acked: asyncio.Event = field(default_factory=asyncio.Event)

    def leg_dialog(self, role: LegRole) -> Dialog | None:
        match role:
            case LegRole.CALLER:
                return self.dialog
            case LegRole.CALLEE:
                return self.winner.dialog if self.winner is not None else None
            case LegRole.TRAINER:
                return self.trainer.dialog if self.trainer is not None else None
            case LegRole.TARGET:
                return self.target.dialog if self.target is not None else None

    def leg_session(self, role: LegRole) -> RtpSession | None:
        match role:
            case LegRole.CALLER:
                return self.session
            case LegRole.CALLEE:
                return self.winner.session if self.winner is not None else None
            case LegRole.TRAINER:
                return self.trainer.session if self.trainer is not None else None
            case LegRole.TARGET:
                return self.target.session if self.target is not None else None

    @property
    def over(self) -> bool:
        """The call has ended (a property, so that a check after an await is not narrowed)."""
        return self.state is CallState.ENDED

    @property
    def caller(self) -> str:
        uri = self.request.from_.uri
        return (uri.user or "") if isinstance(uri, SipUri) else str(uri)

    # -- media -------------------------------------------------------------------------------

    async def prepare_media(self) -> bool:
        """Take the caller's offer and open his leg's RTP session; False when refused (488)."""
        problem = ""
        try:
            if not self.request.body:
                raise sdp.NoAcceptableMedia("an SDP offer is required in the INVITE")
            self.offer = sdp.parse_sdp(self.request.body)
            negotiated = negotiate(self.offer)
        except sdp.NoAcceptableMedia as error:
            problem = str(error) or "no acceptable media"
        except ParseError as error:
            problem = f"bad SDP: {error.reason}"
        if problem:
            warning = f'304 vpbx "{problem}"'
            self.fail(488, problem, [("Warning", warning)])
            return False
        try:
            self.session = await self.media.open(f"{self.id}-caller", negotiated)
        except MediaError as error:
            # Every RTP port in use (or none bindable): the caller's phone or provider is told
            # to come back, not left waiting on a call that cannot carry audio.
            log.warning(
                "call refused: no media ports", extra={"call": self.id, "error": str(error)}
            )
            self.fail(503, "no media ports", [("Retry-After", str(RETRY_AFTER_NO_PORTS))])
            return False
        return True

    async def _open_leg(self, name: str, login: str) -> RtpSession | None:
        """A session for a leg we place; None (logged) when no RTP port is left: that target
        is not rung, as one that does not answer."""
        try:
            return await self.media.open(name, secure=await self.media.requires_srtp(login))
        except MediaError as error:
            log.warning(
                "leg not rung: no media ports", extra={"call": self.id, "error": str(error)}
            )
            return None

    def _close_media(self) -> None:
        self.ended_at = self.ended_at or self.clock()
        for recorder in self.recorders:
            recorder.stop()  # what was recorded so far is kept
        self.recorders.clear()
        self._unbridge()
        self._hang_up_targets()
        self._stop_consult()
        for leg in [*self.legs, *self.trainer_legs, *self.target_legs]:
            self._leg_over(leg)
            if leg.session is not None:
                leg.session.close()
        if self.session is not None:
            self.session.close()

    # -- the caller's leg as the call logic uses it --------------------------------------------

    def answer_caller(self) -> None:
        """200 OK to the caller with our SDP: his media is now ours to play to and listen to."""
        if self.caller_up or self.state is CallState.ENDED:
            return
        assert self.session is not None
        assert self.offer is not None
        headers = [
            ("Contact", self.me.uri(self.peer.transport)),
            ("Content-Type", "application/sdp"),
        ]
        ok = make_response(
            self.request, 200, to_tag=self.tag, headers=headers, body=self._our_answer()
        )
        self.dialog = Dialog.as_uas(self.request, self.tag)
        self.dialog.confirm()
        self.caller_up = True
        self.endpoint.respond(self.key, ok)
        self.on_answer(self)
        self._retransmit = asyncio.ensure_future(self._retransmit_ok(ok, self.key, self._acked))

    def _our_answer(self) -> bytes:
        """Our SDP answer to the caller: the same in a 183 and in the 200 that follows it."""
        assert self.session is not None
        assert self.offer is not None
        if self._answer_body is None:
            self._answer_body = self.media.answer(self.offer, self.session)
        return self._answer_body

    def early_media(self) -> None:
        """183 Session Progress with our SDP: ringback files reach the caller before answer."""
        if self.caller_up or self.early or self.state is CallState.ENDED:
            return
        self.early = True
        headers = [
            ("Contact", self.me.uri(self.peer.transport)),
            ("Content-Type", "application/sdp"),
        ]
        progress = make_response(
            self.request, 183, to_tag=self.tag, headers=headers, body=self._our_answer()
        )
        self.endpoint.respond(self.key, progress)

    def play(self, prompts: list[Pcm], *, loop: bool = False) -> Player:
        """Play to the caller (replacing whatever played before)."""
        assert self.session is not None
        return self.session.play(prompts, loop=loop)

    def stop_playback(self) -> None:
        session = self.session
        idle = self.bridge is None and self.conference is None
        if session is not None and not session.closed and idle:
            session.set_source(None)

    def record(self, path: Path) -> Recorder:
        """Record what the caller says (voicemail, a prompt recorded by phone); the caller of
        this stops it."""
        assert self.session is not None
        recorder = Recorder.leg(path, self.session, name=self.id)
        recorder.start()
        self.recorders.append(recorder)
        return recorder

    def record_talk(self, path: Path, *, caller_connected: bool = False) -> Recorder | None:
        """REC-1, TALK-2: record the conversation in stereo, what the caller says on the left
        channel and what the connected employee (or number) says on the right; None when
        nobody is connected. The caller of this stops it; the right channel follows the call
        to whoever it is connected to next (a transfer, TALK-5). `caller_connected`: the
        caller is the connected leg, the employee the call's own side (a call the PBX placed
        that rang him first)."""
        winner = self.winner.session if self.winner is not None else None
        if self.session is None or winner is None or self.state is CallState.ENDED:
            return None
        caller, employee = (winner, self.session) if caller_connected else (self.session, winner)
        recorder = Recorder.talk(path, caller, employee, name=self.id)
        recorder.start()
        self.recorders.append(recorder)
        self.talk_recorder = recorder
        return recorder

    def listen_digits(self, handler: Callable[[DtmfDigit], None] | None) -> None:
        """Keys the caller presses (RFC 4733) go to `handler` (None: stop listening)."""
        if self.session is not None:
            self.session.dtmf_handler = handler

    def connect(self) -> None:
        """Bridge the caller with the phone that answered."""
        winner = self.winner
        if winner is None or winner.session is None or self.state is CallState.ENDED:
            return
        self.answer_caller()
        assert self.session is not None
        talk = self.talk_recorder
        if talk is not None and talk.recording:
            talk.retap(RIGHT, winner.session)  # a transfer connected another phone: it is heard
        if self.bridge is None and self.conference is None:
            self.session.set_source(None)
            self.bridge = self._talk_bridge(winner.session)
            # Started unless a party already holds (the caller may have held during prompts).
            self._apply_hold()
            log.info(
                "connected",
                extra={
                    "call": self.id,
                    "target": winner.target.label,
                    "transcoding": self.bridge.transcoding,
                },
            )

    # -- ringing -------------------------------------------------------------------------------

    async def ring(self, targets: list[tuple[Target, float]]) -> None:
        """Fork the call to every target at once, each with its ring timeout (seconds)."""
        if not targets:
            self.fail(480, "no registered phone to ring")
            return
        for target, ring_timeout in targets:
            if self.state is not CallState.RINGING:
                return
            session = await self._open_leg(f"{self.id}-leg{len(self.legs) + 1}", target.login)
            if session is not None:
                self._ring_one(target, ring_timeout, session)
        if self.state is CallState.RINGING and not self.legs and not self.caller_up:
            self.fail(503, "no media ports", [("Retry-After", str(RETRY_AFTER_NO_PORTS))])

    async def ring_leg(self, target: Target, ring_timeout: float) -> OutLeg | None:
        """Ring one more target (call logic decides the order); None once the call is over."""
        if self.state is not CallState.RINGING:
            return None
        session = await self._open_leg(f"{self.id}-leg{len(self.legs) + 1}", target.login)
        if session is None:
            return None
        if self.state is not CallState.RINGING:
            session.close()
            return None
        return self._ring_one(target, ring_timeout, session)

    def cancel_leg(self, leg: OutLeg) -> None:
        """Stop ringing one leg (its result is not reported: the caller of this decided)."""
        if leg.final is None:
            if leg.key is not None:
                self.endpoint.cancel(leg.key)
            leg.final = 487
        self._stop_timer(leg)
        if leg is not self.winner:
            self._leg_over(leg)
        if leg is not self.winner and leg.session is not None:
            leg.session.close()
            leg.session = None

    def ringing_leg_of(self, employee_ids: set[int]) -> OutLeg | None:
        """A leg still ringing a phone of one of these employees (for a pickup, EMP-5)."""
        if self.state is not CallState.RINGING:
            return None
        return next(
            (
                leg
                for leg in self.legs
                if leg.final is None and leg.target.employee_id in employee_ids
            ),
            None,
        )

    async def pick_up(
        self, request: Request, peer: Peer, key: TransactionKey, ringing: OutLeg, employee_id: int
    ) -> bool:
        """EMP-5: another phone dialled 88 + the extension: it takes the call from `ringing`.

        We are the picker's UAS: his INVITE is answered with our SDP on a new session, and
        his leg becomes the winner exactly as if the rung phone had answered. False (and a 488
        to the picker) when his offer is unusable.
        """
        try:
            offer = sdp.parse_sdp(request.body)
            negotiated = negotiate(offer)
        except (ParseError, sdp.NoAcceptableMedia) as error:
            warning = [("Warning", f'304 vpbx "{error}"')]
            self.endpoint.respond(key, make_response(request, 488, headers=warning))
            return False
        session = await self.media.open(f"{self.id}-pickup", negotiated)
        if self.state is not CallState.RINGING or ringing.final is not None:
            session.close()
            self.endpoint.respond(key, make_response(request, 481, "Call no longer ringing"))
            return False
        tag = new_tag()
        headers = [("Contact", self.me.uri(peer.transport)), ("Content-Type", "application/sdp")]
        body = self.media.answer(offer, session)
        ok = make_response(request, 200, to_tag=tag, headers=headers, body=body)
        dialog = Dialog.as_uas(request, tag)
        dialog.confirm()
        uri = request.uri if isinstance(request.uri, SipUri) else ringing.target.uri
        target = Target(uri, peer, "", "pickup", employee_id=employee_id)
        leg = OutLeg(target, request, peer, 0.0, key=key, dialog=dialog, final=200)
        leg.session = session
        leg.picked_from = ringing
        leg.acked = asyncio.Event()
        self.legs.append(leg)
        self.endpoint.respond(key, ok)
        # §13.3.1.4: our 2xx to the picking phone is retransmitted until his ACK, as the
        # caller's is.
        leg.retransmit = asyncio.ensure_future(self._retransmit_ok(ok, key, leg.acked))
        log.info("picked up", extra={"call": self.id, "from": ringing.target.label})
        self._won(leg)
        return True

    def _ring_one(
        self,
        target: Target,
        ring_timeout: float,
        session: RtpSession,
        role: LegRole = LegRole.CALLEE,
    ) -> OutLeg:
        transport = target.peer.transport
        caller = target.caller_id or self.caller or "anonymous"
        headers = [
            ("Via", str(self.me.via(transport))),
            ("Max-Forwards", "70"),
            ("From", f'"{caller}" <sip:{caller}@{self.me.host}>;tag={new_tag()}'),
            ("To", target.to),
            ("Call-ID", f"{secrets.token_hex(10)}@{self.me.host}"),
            ("CSeq", "1 INVITE"),
            ("Contact", self.me.uri(transport)),
            ("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO"),
        ]
        headers.append(("Content-Type", "application/sdp"))
        invite = Request("INVITE", target.uri, Headers(headers), self.media.offer(session))
        leg = OutLeg(target, invite, target.peer, ring_timeout, session=session, role=role)
        match role:
            case LegRole.TRAINER:
                self.trainer_legs.append(leg)
            case LegRole.TARGET:
                self.target_legs.append(leg)
            case _:
                self.legs.append(leg)
        self._send_leg_invite(leg)
        leg.timer = asyncio.get_running_loop().call_later(ring_timeout, self._ring_timeout, leg)
        log.info("ringing", extra={"call": self.id, "target": target.label, "uri": str(target.uri)})
        return leg

    def _send_leg_invite(self, leg: OutLeg) -> None:
        def on_response(response: Response) -> None:
            self._on_leg_response(leg, response)

        def on_timeout() -> None:
            self._on_leg_final(leg, 408)

        leg.key = self.endpoint.send_request(leg.request, leg.peer, on_response, on_timeout)

    def _authenticate_leg(self, leg: OutLeg, response: Response) -> bool:
        """Answer a 401/407 from a trunk once with its credentials (a new INVITE, CSeq + 1)."""
        credentials = leg.target.credentials
        if credentials is None or leg.auth_attempts >= 1:
            return False
        via = str(self.me.via(leg.peer.transport))
        retry = with_credentials(leg.request, response, credentials[0], credentials[1], via)
        if retry is None:
            return False
        leg.request = retry
        leg.auth_attempts += 1
        self._send_leg_invite(leg)
        return True

    def _ring_timeout(self, leg: OutLeg) -> None:
        if leg.role is LegRole.TARGET:
            if leg.final is None and leg.key is not None:
                self.endpoint.cancel(leg.key)
            self._target_final(leg, 480)
            return
        if leg.role is LegRole.TRAINER:
            if leg.final is None and leg.key is not None:
                self.endpoint.cancel(leg.key)
                leg.final = 480
                self._trainer_missed()
            return
        if leg.final is None and self.state is CallState.RINGING:
            log.info("ring timeout", extra={"call": self.id, "target": leg.target.label})
            if leg.key is not None:
                self.endpoint.cancel(leg.key)
            self._on_leg_final(leg, 480)

    def _on_leg_response(self, leg: OutLeg, response: Response) -> None:
        status = response.status
        if leg.role is LegRole.TRAINER:
            self._on_trainer_response(leg, response)
            return
        if leg.role is LegRole.TARGET:
            self._on_target_response(leg, response)
            return
        if status < 200:
            if (
                status > 100
                and self.state is CallState.RINGING
                and not self.caller_up
                and not self.early
                and not self.originated
            ):
                # The caller's phone plays its own ringback on 180 (early media comes with
                # ringback files and the engine).
                extra = [("Contact", self.me.uri(self.peer.transport))]
                self.endpoint.respond(
                    self.key, make_response(self.request, 180, to_tag=self.tag, headers=extra)
                )
            return
        if status < 300:
            self._on_leg_answer(leg, response)
            return
        if status in (401, 407) and self._authenticate_leg(leg, response):
            return
        self._on_leg_final(leg, status)

    def _on_leg_answer(self, leg: OutLeg, response: Response) -> None:
        dialog = Dialog.as_uac(leg.request, response)
        ack = dialog.ack(leg.request, via=self.me.via(leg.peer.transport))
        self.endpoint.send_stateless(ack, leg.peer)
        if self.state is not CallState.RINGING:
            # A second phone answered too late (or the caller left): hang it up at once.
            self._send_bye(dialog, leg.peer)
            return
        try:
            negotiated = negotiate(sdp.parse_sdp(response.body))
            if leg.session is not None:
                # SRTP: the answer's key when we offered one (a plain answer is refused).
                self.media.accept_answer(leg.session, negotiated)
        except (ParseError, sdp.NoAcceptableMedia) as error:
            log.warning("answer with unusable SDP", extra={"call": self.id, "error": str(error)})
            self._send_bye(dialog, leg.peer)
            self._on_leg_final(leg, 488)
            return
        assert leg.session is not None
        leg.session.update_remote(
            negotiated.remote, negotiated.payload_type, negotiated.dtmf_payload_type
        )
        leg.final = response.status
        leg.dialog = dialog
        self._won(leg)

    def _won(self, leg: OutLeg) -> None:
        """`leg` took the call: the others stop ringing, the call logic (or a bridge) follows."""
        self.winner = leg
        self.state = CallState.ANSWERED
        self.answered_at = self.clock()
        self._stop_timer(leg)
        if self.guard is not None and leg.target.lease:
            self.guard.leg_talking(leg.target.lease)
        for other in self.legs:
            if other is not leg and other.final is None and other.key is not None:
                self.endpoint.cancel(other.key)
                other.final = 487
                self._stop_timer(other)
            if other is not leg:
                self._leg_over(other)
            if other is not leg and other.session is not None:
                other.session.close()
                other.session = None
        self.on_answer(self)
        if self.controller is not None:
            self.controller.leg_answered(self, leg)
        else:
            self.connect()

    def _on_leg_final(self, leg: OutLeg, status: int) -> None:
        if leg.final is not None:
            return
        leg.final = status
        self._stop_timer(leg)
        self._leg_over(leg)
        if self.controller is not None:
            if leg.session is not None:
                leg.session.close()
                leg.session = None
            if self.state is CallState.RINGING:
                self.controller.leg_failed(self, leg, status)
            return
        if self.state is CallState.RINGING and all(other.final is not None for other in self.legs):
            finals = [other.final for other in self.legs if other.final is not None]
            self.fail(486 if 486 in finals else 480, f"no phone answered ({finals})")

    def _leg_over(self, leg: OutLeg) -> None:
        """The leg ends (however: failed, cancelled, hung up, the call over): its toll-fraud
        lease is free. Said by every such path; the guard ignores repeats."""
        if self.guard is not None and leg.target.lease:
            self.guard.leg_over(leg.target.lease)

    def _stop_timer(self, leg: OutLeg) -> None:
        if leg.timer is not None:
            leg.timer.cancel()
            leg.timer = None

    async def _retransmit_ok(self, ok: Response, key: TransactionKey, acked: asyncio.Event) -> None:
        """§13.3.1.4: the UAS core retransmits its 2xx until the ACK comes (T1 doubling to T2)."""
        timers = self.endpoint.layer.config
        interval, waited = timers.t1, 0.0
        while waited < timers.timeout:
            try:
                await asyncio.wait_for(acked.wait(), interval)
                return
            except TimeoutError:
                if self.state is CallState.ENDED:
                    return
                waited += interval
                interval = min(interval * 2, timers.t2)
                self.endpoint.respond(key, ok)
        log.warning("2xx never acknowledged: hanging up", extra={"call": self.id})
        self.hangup_all()

    # -- the trainer (TRN-1) ---------------------------------------------------------------

    async def call_trainer(
        self, targets: list[tuple[Target, float]], mode: str = "whisper"
    ) -> None:
        """Ring the trainer's (or a supervisor's) phones; the first to answer joins in `mode`
        (listen, whisper, barge: `set_trainer_mode`)."""
        self.trainer_mode = mode
        for target, ring_timeout in targets:
            if self.state is not CallState.ANSWERED:
                return
            session = await self.media.open(
                f"{self.id}-trainer{len(self.trainer_legs) + 1}",
                secure=await self.media.requires_srtp(target.login),
            )
            self._ring_one(target, ring_timeout, session, LegRole.TRAINER)

    def _on_trainer_response(self, leg: OutLeg, response: Response) -> None:
        if response.status < 200:
            return
        if response.status >= 300:
            if response.status in (401, 407) and self._authenticate_leg(leg, response):
                return
            leg.final = response.status
            self._stop_timer(leg)
            self._trainer_missed()
            return
        dialog = Dialog.as_uac(leg.request, response)
        ack = dialog.ack(leg.request, via=self.me.via(leg.peer.transport))
        self.endpoint.send_stateless(ack, leg.peer)
        leg.final = response.status
        self._stop_timer(leg)
        winner = self.winner
        if self.state is not CallState.ANSWERED or self.trainer is not None or winner is None:
            self._send_bye(dialog, leg.peer)
            return
        try:
            negotiated = negotiate(sdp.parse_sdp(response.body))
            if leg.session is not None:
                self.media.accept_answer(leg.session, negotiated)
        except (ParseError, sdp.NoAcceptableMedia):
            self._send_bye(dialog, leg.peer)
            return
        assert leg.session is not None
        assert winner.session is not None
        assert self.session is not None
        leg.session.update_remote(
            negotiated.remote, negotiated.payload_type, negotiated.dtmf_payload_type
        )
        leg.dialog = dialog
        self.trainer = leg
        for other in self.trainer_legs:
            if other is not leg and other.final is None and other.key is not None:
                self.endpoint.cancel(other.key)
                other.final = 487
                self._stop_timer(other)
        if self.bridge is not None:
            self.bridge.stop()
            self.bridge = None
        conference: Conference[LegRole] = Conference(name=self.id)
        conference.add(LegRole.CALLER, self.session)
        conference.add(LegRole.CALLEE, winner.session)
        conference.add(LegRole.TRAINER, leg.session)
        conference.set_matrix(_trainer_matrix(self.trainer_mode))
        self.conference = conference
        leg.session.dtmf_handler = self._trainer_digit
        if self.holding:
            self._apply_hold()  # a call on hold stays on hold with the trainer in
        self.on_answer(self)
        log.info(
            "trainer joined",
            extra={"call": self.id, "target": leg.target.label, "mode": self.trainer_mode},
        )
        if self.on_trainer_joined is not None:
            self.on_trainer_joined(self.trainer_mode)

    @property
    def trainer_joining(self) -> bool:
        """A trainer (or a supervisor) is in the talk, or his phones ring."""
        return self.trainer is not None or any(leg.final is None for leg in self.trainer_legs)

    def _trainer_missed(self) -> None:
        """None of the trainer's phones answered: whoever waits for him hears he is not coming
        (`on_trainer_left`), so that another may be asked."""
        if self.trainer_joining or self.state is not CallState.ANSWERED:
            return
        if self.on_trainer_left is not None:
            self.on_trainer_left(False)

    def _trainer_digit(self, digit: DtmfDigit) -> None:
        if self.on_trainer_digit is not None and self.state is not CallState.ENDED:
            self.on_trainer_digit(digit.digit)

    def set_trainer_mode(self, mode: str) -> None:
        """TRN-1: listen (nobody hears the trainer), whisper (the employee does), barge (a
        three-way conference: each hears the two others, not himself)."""
        if self.conference is None:
            return
        self.trainer_mode = mode
        self.conference.set_matrix(_trainer_matrix(mode))
        log.info("trainer mode", extra={"call": self.id, "mode": mode})

    def trainer_left(self) -> None:
        """The trainer hung up: back to a plain two-party bridge."""
        if self.conference is not None:
            self.conference.close()
            self.conference = None
        if self.trainer is not None and self.trainer.session is not None:
            self.trainer.session.close()
            self.trainer.session = None
        self.trainer = None
        self.holding.discard(LegRole.TRAINER)
        winner = self.winner
        if self.state is CallState.ANSWERED and winner is not None and winner.session is not None:
            assert self.session is not None
            self.bridge = self._talk_bridge(winner.session)
            self._apply_hold()  # started, unless the caller or the employee holds

    # -- hold (a re-INVITE from either side, issue 13) ---------------------------------------

    def set_hold(self, role: LegRole, holding: bool) -> None:
        """`role`'s phone put the call on hold (`holding`) or took it off, by a re-INVITE the
        PBX has answered: the talk stops or resumes, and `on_hold` hears of the change (a
        repeated offer, e.g. a session refresh while on hold, changes nothing)."""
        if (role in self.holding) == holding or self.state is CallState.ENDED:
            return
        if holding:
            self.holding.add(role)
        else:
            self.holding.discard(role)
        log.info("hold" if holding else "resume", extra={"call": self.id, "by": role.value})
        self._apply_hold()
        if self.on_hold is not None:
            self.on_hold(self, role, holding)

    def _apply_hold(self) -> None:
        """Media as the hold state says.

        While neither the caller nor the employee holds, they talk (the bridge, or the whisper
        conference of a trainer). While one does, the talk is stopped, and a party held by the
        other, not holding himself, hears hold music; nothing is sent to one who holds (we
        answered him recvonly or inactive). A trainer who holds only leaves the conference
        until he resumes. Before the employee is connected there is no talk to stop: the call
        logic's prompts go on, and the hold applies once `connect` bridges them.
        """
        if self.transferring:
            return  # the transfer owns the media (hold music, consult) until it ends
        winner = self.winner
        talkers = {
            LegRole.CALLER: self.session,
            LegRole.CALLEE: winner.session if winner is not None else None,
        }
        talking = not (self.holding & TALKERS)
        conference = self.conference
        if conference is not None:
            for role, session in talkers.items():
                _take_part(conference, role, session, talking)
            trainer = self.trainer.session if self.trainer is not None else None
            _take_part(conference, LegRole.TRAINER, trainer, LegRole.TRAINER not in self.holding)
        elif self.bridge is not None:
            if talking:
                self.bridge.start()  # the sessions' sources (the music) are detached
            else:
                self.bridge.stop()
        connected = self.bridge is not None or conference is not None
        for role, session in talkers.items():
            other = LegRole.CALLEE if role is LegRole.CALLER else LegRole.CALLER
            music = connected and other in self.holding and role not in self.holding
            if not music:
                self._stop_hold_music(role)
            elif session is not None and not session.closed:
                player = self._hold_players.get(role)
                if player is None or session.source is not player:
                    self._hold_players[role] = session.play(
                        self.hold_music, loop=True, name=f"{self.id}-hold"
                    )

    def _stop_hold_music(self, role: LegRole) -> None:
        """Silence the hold music of `role`'s party, if it still plays (else leave whatever
        replaced it: a bridge, a conference, the call logic's prompt)."""
        player = self._hold_players.pop(role, None)
        session = self.leg_session(role)
        playing = player is not None and session is not None and session.source is player
        if playing and session is not None and not session.closed:
            session.set_source(None)

    # -- transfers (TALK-5, issue 13) ---------------------------------------------------------

    def _talk_bridge(self, employee: RtpSession) -> Bridge:
        """The caller-employee bridge: the employee's keys are his talk options, not relayed
        (the caller must not hear them); the caller's keys still reach the employee."""
        assert self.session is not None
        employee.dtmf_handler = self._employee_digit  # also while no bridge runs (on hold)
        return Bridge(
            self.session,
            employee,
            name=self.id,
            listen=employee,
            on_dtmf=lambda _session, digit: self._employee_digit(digit),
            kernel=self._kernel(),
        )

    def _kernel(self) -> KernelForwarder | None:
        """The switch's kernel forwarding for this call's bridges (a call built without a
        media plant, in tests, has none)."""
        media: MediaPlant | None = self.media
        return None if media is None else media.kernel

    def _employee_digit(self, digit: DtmfDigit) -> None:
        if self.on_employee_digit is not None and self.state is not CallState.ENDED:
            self.on_employee_digit(digit.digit)

    def hold_for_transfer(self, music: list[Pcm]) -> None:
        """The caller waits, hearing `music`, while the employee dials and the target rings;
        the employee hears nothing of him. A trainer listening in is let go."""
        if self.state is CallState.ENDED or self.transferring:
            return
        self.transferring = True
        if self.bridge is not None:
            self.bridge.stop()
        if self.conference is not None:
            self._hang_up_trainer()
            self.trainer_left()
            if self.on_trainer_left is not None:
                self.on_trainer_left(True)
            if self.bridge is not None:
                self.bridge.stop()
        session = self.session
        if session is not None and not session.closed:
            self._transfer_music = session.play(music, loop=True, name=f"{self.id}-transfer")
        log.info("caller on hold for a transfer", extra={"call": self.id})

    async def ring_target(self, target: Target, ring_timeout: float) -> OutLeg | None:
        """Ring a transfer target beside the talk (None once the call is over)."""
        if self.state is CallState.ENDED:
            return None
        session = await self._open_leg(f"{self.id}-xfer{len(self.target_legs) + 1}", target.login)
        if session is None:
            return None
        if self.over:  # ended while the session opened
            session.close()
            return None
        return self._ring_one(target, ring_timeout, session, LegRole.TARGET)

    def _on_target_response(self, leg: OutLeg, response: Response) -> None:
        status = response.status
        if status < 200:
            return
        if status >= 300:
            if status in (401, 407) and self._authenticate_leg(leg, response):
                return
            self._target_final(leg, status)
            return
        dialog = Dialog.as_uac(leg.request, response)
        ack = dialog.ack(leg.request, via=self.me.via(leg.peer.transport))
        self.endpoint.send_stateless(ack, leg.peer)
        late = self.state is CallState.ENDED or self.target is not None or leg.final is not None
        if late or not self.transferring:
            # answered after the transfer ended (or another fork won): let it go at once
            self._send_bye(dialog, leg.peer)
            return
        try:
            negotiated = negotiate(sdp.parse_sdp(response.body))
            if leg.session is not None:
                self.media.accept_answer(leg.session, negotiated)
        except (ParseError, sdp.NoAcceptableMedia) as error:
            log.warning(
                "target answered unusable SDP", extra={"call": self.id, "error": str(error)}
            )
            self._send_bye(dialog, leg.peer)
            self._target_final(leg, 488)
            return
        assert leg.session is not None
        leg.session.update_remote(
            negotiated.remote, negotiated.payload_type, negotiated.dtmf_payload_type
        )
        leg.final = status
        leg.dialog = dialog
        self._stop_timer(leg)
        self.target = leg
        if self.guard is not None and leg.target.lease:
            self.guard.leg_talking(leg.target.lease)
        for other in self.target_legs:
            if other is not leg and other.final is None:
                if other.key is not None:
                    self.endpoint.cancel(other.key)
                other.final = 487
                self._stop_timer(other)
        self.on_answer(self)  # the target's dialog takes in-dialog requests from now on
        log.info("transfer target answered", extra={"call": self.id, "target": leg.target.label})
        if self.controller is not None:
            self.controller.leg_answered(self, leg)

    def _target_final(self, leg: OutLeg, status: int) -> None:
        if leg.final is not None:
            return
        leg.final = status
        self._stop_timer(leg)
        self._leg_over(leg)
        if leg.session is not None:
            leg.session.close()
            leg.session = None
        if self.controller is not None and self.state is not CallState.ENDED:
            self.controller.leg_failed(self, leg, status)

    def consult(self) -> None:
        """Attended transfer: the employee and the target talk; the caller stays on hold."""
        winner, target = self.winner, self.target
        if winner is None or target is None or self.state is CallState.ENDED:
            return
        if winner.session is None or target.session is None:
            return
        self._stop_consult()
        self.consult_bridge = Bridge(
            winner.session,
            target.session,
            name=f"{self.id}-consult",
            listen=winner.session,
            on_dtmf=lambda _session, digit: self._employee_digit(digit),
            kernel=self._kernel(),
        )
        self.consult_bridge.start()

    def _stop_consult(self) -> None:
        if self.consult_bridge is not None:
            self.consult_bridge.stop()
            self.consult_bridge = None

    def _stop_transfer_music(self) -> None:
        player, self._transfer_music = self._transfer_music, None
        session = self.session
        playing = session is not None and not session.closed and session.source is player
        if player is not None and playing:
            assert session is not None
            session.set_source(None)

    def complete_transfer(self) -> None:
        """The target takes the caller: the employee's leg (if still there) is hung up and the
        target becomes the call's connected leg."""
        target = self.target
        if target is None or self.state is CallState.ENDED:
            return
        self._stop_consult()
        if self.bridge is not None:
            self.bridge.stop()
            self.bridge = None
        if self.winner is not None:
            self._let_go(self.winner)
        self.winner = target
        self.legs = [target]
        self.target = None
        self.target_legs = []
        self.transferring = False
        self.holding -= {LegRole.CALLEE, LegRole.TRAINER}
        self._stop_transfer_music()
        self.state = CallState.ANSWERED
        self.on_answer(self)  # the new employee's dialog is the callee's now
        self.connect()
        log.info("transferred", extra={"call": self.id, "target": target.target.label})

    def end_transfer(self) -> None:
        """No target takes the caller: its legs go; the caller talks to the employee again,
        or, the employee gone, stays with the call logic."""
        self._stop_consult()
        self._hang_up_targets()
        for leg in self.target_legs:
            self._leg_over(leg)
            if leg.session is not None:
                leg.session.close()
                leg.session = None
        self.target_legs = []
        self.target = None
        was_transferring, self.transferring = self.transferring, False
        self._stop_transfer_music()
        if self.state is CallState.ENDED or not was_transferring:
            return
        winner = self.winner
        if winner is not None and winner.session is not None:
            if self.bridge is None:
                self.bridge = self._talk_bridge(winner.session)
            self._apply_hold()  # the talk again, unless a party holds
        else:
            self.release_winner()

    def _target_left(self) -> None:
        """The target hung up while talking to the employee (attended)."""
        target = self.target
        if target is None:
            return
        self._stop_consult()
        self._leg_over(target)
        if target.session is not None:
            target.session.close()
            target.session = None
        self.target = None
        self.target_legs = [leg for leg in self.target_legs if leg is not target]
        if self.controller is not None:
            self.controller.hung_up(self, LegRole.TARGET)

    def take_consultation(self, other: B2BCall) -> OutLeg | None:
        """Attended transfer by Replaces (RFC 3891): the answered leg of `other`, the call the
        employee's phone placed to consult the target, becomes this call's transfer target,
        still up (no new INVITE: its media stays anchored in our relay); `other` ends. None,
        and nothing changed, when this call is not waiting for a target or `other` has no
        talking leg to give."""
        if self.over or not self.transferring or self.target is not None or other is self:
            return None
        leg = other.hand_over_callee()
        if leg is None:
            return None
        leg.role = LegRole.TARGET
        self.target = leg
        self.target_legs = [leg]
        self.on_answer(self)  # the target's dialog takes in-dialog requests from now on
        log.info(
            "consultation taken over",
            extra={"call": self.id, "from": other.id, "target": leg.target.label},
        )
        return leg

    def hand_over_callee(self) -> OutLeg | None:
        """This call was the consultation of an attended transfer: its answered leg leaves it,
        still up, for another call to take (`take_consultation`), and this call ends as if its
        caller had hung up (his dialog, the transferring phone's, gets a BYE). None, and
        nothing changed, when no leg is talking."""
        leg = self.winner
        session = leg.session if leg is not None else None
        dialog = leg.dialog if leg is not None else None
        if self.state is not CallState.ANSWERED or leg is None or session is None:
            return None
        if session.closed or dialog is None or dialog.state is not DialogState.CONFIRMED:
            return None
        self._stop_hold_music(LegRole.CALLEE)
        self._stop_consult()
        self._unbridge()
        self.winner = None
        self.legs = [other for other in self.legs if other is not leg]
        self.handed_over = leg
        session.dtmf_handler = None
        session.set_source(None)
        log.info("consultation handed over", extra={"call": self.id})
        self.hangup_all()
        return leg

    async def tell_employee(self, prompts: list[Pcm]) -> None:
        """A short sound to the employee in the talk (his talk option was done, or not): the
        talk pauses for it, the caller hears a moment of silence."""
        winner = self.winner
        session = winner.session if winner is not None else None
        if session is None or session.closed or self.state is CallState.ENDED:
            return
        bridge = self.consult_bridge or self.bridge
        paused = bridge is not None and bridge.running
        if bridge is not None:
            bridge.stop()
        await session.play(prompts, name=f"{self.id}-tone").wait()
        if not paused or bridge is None or self.over or session.closed:
            return
        if bridge is self.consult_bridge:
            bridge.start()
        elif bridge is self.bridge:
            self._apply_hold()  # the talk again, unless a party holds meanwhile

    def notify_refer(self, status: int, reason: str) -> None:
        """RFC 3515 §2.4.5: the REFER's progress to its sender, as a message/sipfrag NOTIFY;
        a final status ends the implicit subscription."""
        found = self.refer
        if found is None:
            return
        dialog, peer = found
        if status >= 200:
            self.refer = None
        if dialog.state is DialogState.TERMINATED:
            return
        state = "terminated;reason=noresource" if status >= 200 else "active;expires=60"
        notify = dialog.request(
            "NOTIFY",
            via=self.me.via(peer.transport),
            body=f"SIP/2.0 {status} {reason}\r\n".encode(),
            content_type="message/sipfrag;version=2.0",
            extra=(
                ("Event", "refer"),
                ("Subscription-State", state),
                ("Contact", self.me.uri(peer.transport)),
            ),
        )
        self.endpoint.send_request(notify, peer, lambda _response: None)

    # -- the caller's side ---------------------------------------------------------------------

    def fail(self, status: int, reason: str, headers: list[tuple[str, str]] | None = None) -> None:
        if self.caller_up:
            self.hangup_all()
            return
        if self.state is not CallState.RINGING:
            return
        self.state = CallState.ENDED
        for leg in self.legs:
            self._stop_timer(leg)
        log.info("call failed", extra={"call": self.id, "status": status, "reason": reason})
        if not self.originated:
            answer = make_response(self.request, status, to_tag=self.tag, headers=headers or [])
            self.endpoint.respond(self.key, answer)
        self._close_media()
        self.on_end(self)

    def caller_cancelled(self) -> None:
        for leg in self.legs:
            if leg.final is None:
                if leg.key is not None:
                    self.endpoint.cancel(leg.key)
                leg.final = 487
            self._stop_timer(leg)
        dialog = self.winner.dialog if self.winner is not None else None
        if dialog is not None and dialog.state is not DialogState.TERMINATED:
            assert self.winner is not None
            self._send_bye(dialog, self.winner.peer)
        self._hang_up_trainer()
        self.state = CallState.ENDED
        self._close_media()
        self.on_end(self)
        if self.controller is not None:
            self.controller.hung_up(self, LegRole.CALLER)

    def acked(self, role: LegRole = LegRole.CALLER) -> None:
        """The ACK of a 2xx we sent: the caller's, or (CALLEE) the picking phone's."""
        if role is LegRole.CALLER:
            self._acked.set()
            return
        winner = self.winner
        if role is LegRole.CALLEE and winner is not None and winner.acked is not None:
            winner.acked.set()

    def on_bye(self, role: LegRole) -> None:
        """A BYE came from one side: hang up the others (a trainer's BYE only ends his part)."""
        if role is LegRole.TRAINER:
            self.trainer_left()
            if self.on_trainer_left is not None and self.state is not CallState.ENDED:
                self.on_trainer_left(True)
            return
        if role is LegRole.TARGET:
            self._target_left()
            return
        if self.state is CallState.ENDED:
            return
        if self.controller is not None:
            self._controlled_bye(role, self.controller)
            return
        self.state = CallState.ENDED
        self._acked.set()
        from_caller = role is LegRole.CALLER
        if from_caller:
            if self.winner is not None and self.winner.dialog is not None:
                self._send_bye(self.winner.dialog, self.winner.peer)
        elif self.dialog is not None:
            self._send_bye(self.dialog, self.peer)
        self._hang_up_trainer()
        log.info("call ended", extra={"call": self.id, "by": "caller" if from_caller else "callee"})
        self._close_media()
        self.on_end(self)

    def _controlled_bye(self, role: LegRole, controller: CallController) -> None:
        """With call logic, the employee's BYE ends only his leg (the caller may still rate)."""
        if role is LegRole.CALLER:
            self._acked.set()
            if self.dialog is not None:
                self.dialog.terminate()
            dialog = self.winner.dialog if self.winner is not None else None
            employee_up = dialog is not None and dialog.state is DialogState.CONFIRMED
            if self.keep_employee and employee_up:
                self._caller_left_alone(controller)
                return
            self.hangup_all()  # tells the controller
        else:
            self.release_winner()
            controller.hung_up(self, role)

    def _caller_left_alone(self, controller: CallController) -> None:
        """SCN-TAG: the caller hung up; the employee stays on the line, hearing nothing of
        him, until the call logic hangs up (`hangup_all`)."""
        self._unbridge()
        self._hang_up_trainer()
        if self.session is not None:
            self.session.set_source(None)
        log.info("caller left, the employee is kept", extra={"call": self.id})
        controller.hung_up(self, LegRole.CALLER)

    def take_caller(self) -> None:
        """An originated call: the leg that answered (the employee, after his whisper) becomes
        the call's own side, as a caller's leg is; the call rings its next leg (the client)."""
        leg = self.winner
        if not self.originated or leg is None or self.state is not CallState.ANSWERED:
            return
        self.dialog, self.session, self.peer = leg.dialog, leg.session, leg.peer
        self.caller_up = True
        self._acked.set()
        self.caller_employee_id = leg.target.employee_id
        self.winner = None
        self.legs.clear()
        self.state = CallState.RINGING
        self.on_answer(self)  # its dialog is now the caller's one for in-dialog requests

    def release_winner(self) -> None:
        """Drop the connected phone's leg (the caller stays with the call logic).

        The employee's (and the trainer's) hold ends with his leg, unreported (he left), and
        the caller's hold music stops; a caller who holds stays on hold (the next employee
        connected hears the music)."""
        self.holding -= {LegRole.CALLEE, LegRole.TRAINER}
        self._stop_hold_music(LegRole.CALLER)
        self._hold_players.clear()
        self._stop_consult()
        self._unbridge()
        self._hang_up_trainer()
        if self.winner is not None:
            self._let_go(self.winner)
        self.winner = None
        self.legs.clear()
        self.state = CallState.RINGING

    def _unbridge(self) -> None:
        """The caller and the connected leg stop talking: the bridge (or the trainer's
        conference) is stopped and dropped; the sessions stay open."""
        if self.bridge is not None:
            self.bridge.stop()
            self.bridge = None
        if self.conference is not None:
            self.conference.close()
            self.conference = None

    def _let_go(self, leg: OutLeg) -> None:
        """A connected leg leaves the call: its toll-fraud lease is free, a BYE if its dialog
        is still up, its media closed."""
        self._leg_over(leg)
        if leg.dialog is not None and leg.dialog.state is not DialogState.TERMINATED:
            self._send_bye(leg.dialog, leg.peer)
        if leg.session is not None:
            leg.session.close()
            leg.session = None

    def hangup_all(self) -> None:
        if self.state is CallState.ENDED:
            return
        self.state = CallState.ENDED
        for leg in self.legs:
            if leg.final is None and leg.key is not None:
                self.endpoint.cancel(leg.key)
                leg.final = 487
            self._stop_timer(leg)
        winner_dialog = self.winner.dialog if self.winner is not None else None
        if winner_dialog is not None and winner_dialog.state is not DialogState.TERMINATED:
            assert self.winner is not None
            self._send_bye(winner_dialog, self.winner.peer)
        if self.dialog is not None and self.dialog.state is not DialogState.TERMINATED:
            self._send_bye(self.dialog, self.peer)
        elif not self.caller_up and not self.originated:
            self.endpoint.respond(self.key, make_response(self.request, 480, to_tag=self.tag))
        self._hang_up_trainer()
        self._close_media()
        self.on_end(self)
        if self.controller is not None:
            self.controller.hung_up(self, LegRole.CALLER)

    def _hang_up_targets(self) -> None:
        """The call is over during a transfer: its target is let go too (decisions.md)."""
        self._hang_up_legs(self.target_legs)

    def _hang_up_trainer(self) -> None:
        self._hang_up_legs(self.trainer_legs)

    def detach(self) -> None:
        """The call logic is done with this call: its hooks (closures over the logic) are let
        go, so the call and its logic, which point at each other, are freed by reference
        counting when the call ends instead of piling up for a long collection."""
        self.controller = None
        self.on_hold = self.on_employee_digit = self.on_trainer_digit = None
        self.on_trainer_joined = self.on_trainer_left = None

    def _hang_up_legs(self, legs: list[OutLeg]) -> None:
        """BYE to the answered ones, CANCEL to those still ringing."""
        for leg in legs:
            if leg.dialog is not None and leg.dialog.state is not DialogState.TERMINATED:
                self._send_bye(leg.dialog, leg.peer)
            elif leg.final is None and leg.key is not None:
                self.endpoint.cancel(leg.key)
                leg.final = 487
            self._stop_timer(leg)

    def _send_bye(self, dialog: Dialog, peer: Peer) -> None:
        bye = dialog.request("BYE", via=self.me.via(peer.transport))
        dialog.terminate()
        self.endpoint.send_request(bye, peer, lambda _response: None)


def _trainer_matrix(mode: str) -> dict[LegRole, frozenset[LegRole]]:
    """TRN-1: listen (nobody hears the trainer), whisper (the employee does), barge (a
    three-way conference: each hears the two others, not himself)."""
    parties = (LegRole.CALLER, LegRole.CALLEE, LegRole.TRAINER)
    match mode:
        case "listen":
            return listen_matrix(*parties)
        case "barge":
            return conference_matrix(parties)
    return whisper_matrix(*parties)


def _take_part(
    conference: Conference[LegRole], role: LegRole, session: RtpSession | None, present: bool
) -> None:
    """`role`'s session joins or leaves the conference (a hold takes it out, a resume back)."""
    if session is None or session.closed:
        return
    if present and role not in conference.parties:
        conference.add(role, session)
    elif not present and role in conference.parties:
        conference.remove(role)
