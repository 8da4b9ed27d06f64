"""Hold and resume from either side (issue 13), without SIP peers: how a re-INVITE's offer is
answered (RFC 3264 §6.1 directions) and what a call does with its media while a party holds
(real RTP sessions on loopback, small test peers, no sleeps beyond the audio's own length)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import pytest

from tests.media.test_session import Peer, make_pool
from vpbx.media.conference import Conference
from vpbx.media.mixer import whisper_matrix
from vpbx.media.player import Player
from vpbx.media.session import RtpSession
from vpbx.media.srtp import Srtp, new_key
from vpbx.media.tones import HOLD_TUNE, dominant_frequency, sine
from vpbx.sip import sdp
from vpbx.sip.message import Request, Response
from vpbx.sip.parser import parse_message
from vpbx.sip.uri import SipUri
from vpbx.switch.b2bua import B2BCall, CallState, Contact, LegRole, OutLeg, Target
from vpbx.switch.media import MediaPlant, negotiate
from vpbx.switch.pbx import Pbx

NOTES = sorted({hz for hz, _ in HOLD_TUNE if hz})
EMPLOYEE_HZ = 1400.0
CALLER_HZ = 300.0
INLINE = base64.b64encode(bytes(30)).decode()


def offer(direction: str | None, *, address: str = "127.0.0.1", proto: str = "RTP/AVP") -> bytes:
    lines = [
        "v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", f"c=IN IP4 {address}", "t=0 0",
        f"m=audio 4000 {proto} 0 101", "a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000",
    ]  # fmt: skip
    if proto == "RTP/SAVP":
        lines.append(f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{INLINE}")
    if direction is not None:
        lines.append(f"a={direction}")
    return ("\r\n".join(lines) + "\r\n").encode()


def plant() -> MediaPlant:
    return MediaPlant(make_pool(), "127.0.0.1", "192.0.2.10")


def answered_direction(body: bytes) -> str:
    answer = sdp.parse_sdp(body)
    return answer.direction_of(answer.media[0])


# -- the answer to a hold offer ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("direction", "address", "answered", "holding"),
    [
        ("sendonly", "127.0.0.1", "recvonly", True),
        ("inactive", "127.0.0.1", "inactive", True),
        ("sendrecv", "127.0.0.1", "sendrecv", False),
        (None, "127.0.0.1", "sendrecv", False),  # no attribute: sendrecv
        ("sendrecv", "0.0.0.0", "recvonly", True),  # RFC 2543 hold: nowhere to send
        (None, "0.0.0.0", "recvonly", True),
        ("recvonly", "127.0.0.1", "sendonly", False),  # wants to listen only: not a hold
    ],
)
def test_a_re_offer_is_answered_with_the_mirrored_direction_and_read_as_hold_or_not(
    direction: str | None, address: str, answered: str, holding: bool
) -> None:
    description = sdp.parse_sdp(offer(direction, address=address))
    session = cast(RtpSession, SimpleNamespace(local_port=20000, ssrc=7, srtp=None))
    assert answered_direction(plant().answer(description, session)) == answered
    assert negotiate(description).holding is holding


def test_an_encrypted_leg_put_on_hold_is_answered_recvonly_with_its_key() -> None:
    description = sdp.parse_sdp(offer("sendonly", proto="RTP/SAVP"))
    session = cast(RtpSession, SimpleNamespace(local_port=20000, ssrc=7, srtp=Srtp(new_key())))
    answer = sdp.parse_sdp(plant().answer(description, session))
    audio = answer.media[0]
    assert (audio.proto, answer.direction_of(audio)) == ("RTP/SAVP", "recvonly")
    assert audio.attribute("crypto") is not None


# -- the PBX's re-INVITE path -------------------------------------------------------------------


@dataclass
class FakeEndpoint:
    responses: list[Response] = field(default_factory=list)

    def respond(self, _key: object, response: Response) -> None:
        self.responses.append(response)


@dataclass
class FakeSession:
    local_port: int = 20000
    ssrc: int = 7
    srtp: None = None
    remotes: list[object] = field(default_factory=list)

    def update_remote(self, remote: object, *_types: object) -> None:
        self.remotes.append(remote)


@dataclass
class FakeCall:
    session: FakeSession = field(default_factory=FakeSession)
    id: str = "c1"
    holds: list[tuple[LegRole, bool]] = field(default_factory=list)

    def leg_session(self, _role: LegRole) -> FakeSession:
        return self.session

    def set_hold(self, role: LegRole, holding: bool) -> None:
        self.holds.append((role, holding))


def reinvite(body: bytes) -> Request:
    head = (
        "INVITE sip:vpbx@127.0.0.1:5060 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK2\r\n"
        "From: <sip:101@127.0.0.1>;tag=a\r\nTo: <sip:vpbx@127.0.0.1>;tag=b\r\nCall-ID: c1\r\n"
        "CSeq: 2 INVITE\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    message = parse_message(head.encode() + body)
    assert isinstance(message, Request)
    return message


@pytest.mark.parametrize("role", [LegRole.CALLEE, LegRole.CALLER])
def test_a_hold_re_invite_is_answered_recvonly_and_puts_the_call_on_hold(role: LegRole) -> None:
    endpoint = FakeEndpoint()
    none = cast(Any, None)
    pbx = Pbx(cast(Any, endpoint), none, none, Contact("127.0.0.1", 5060), plant(), none)
    call = FakeCall()
    for body in (offer("sendonly"), offer("sendonly"), offer("sendrecv")):
        pbx._reinvite(cast(Any, call), role, reinvite(body), cast(Any, None))
    assert [r.status for r in endpoint.responses] == [200, 200, 200]
    directions = [answered_direction(r.body) for r in endpoint.responses]
    assert directions == ["recvonly", "recvonly", "sendrecv"]
    # every offer is reported; the call itself ignores a repeat (see below)
    assert call.holds == [(role, True), (role, True), (role, False)]
    assert call.session.remotes == [("127.0.0.1", 4000)] * 3


# -- what a call does with its media ------------------------------------------------------------


@dataclass
class Office:
    """A connected call: the caller's and the employee's sessions (a trainer's, unused until a
    test joins him), each with a test phone at the other end."""

    call: B2BCall
    caller: Peer
    employee: Peer
    trainer: Peer
    trainer_session: RtpSession
    holds: list[tuple[LegRole, bool]]

    @property
    def a(self) -> RtpSession:
        assert self.call.session is not None
        return self.call.session

    @property
    def b(self) -> RtpSession:
        assert self.call.winner is not None
        assert self.call.winner.session is not None
        return self.call.winner.session

    def playing_music(self, session: RtpSession) -> bool:
        return isinstance(session.source, Player) and session.source.result is None

    async def talk(self, seconds: float = 0.6) -> None:
        """Both phones say their tone at once (the caller 300 Hz, the employee 1400 Hz)."""
        self.caller.packets.clear()
        self.employee.packets.clear()
        await asyncio.gather(
            self.caller.stream(sine(CALLER_HZ, seconds), self.a.local_addr),
            self.employee.stream(sine(EMPLOYEE_HZ, seconds), self.b.local_addr),
        )
        await asyncio.sleep(0.1)


def invite() -> Request:
    raw = (
        b"INVITE sip:74951112233@127.0.0.1 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 127.0.0.2:5070;branch=z9hG4bK1\r\n"
        b"From: <sip:74957654321@127.0.0.2>;tag=a\r\nTo: <sip:74951112233@127.0.0.1>\r\n"
        b"Call-ID: c1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    message = parse_message(raw)
    assert isinstance(message, Request)
    return message


@pytest.fixture
async def office() -> AsyncIterator[Office]:
    pool = make_pool()
    peers = [await Peer.create() for _ in range(3)]
    sessions = [
        await RtpSession.open(pool, remote_addr=peer.addr, payload_type=0, name=name)
        for peer, name in zip(peers, ("caller", "employee", "trainer"), strict=True)
    ]
    none = cast(Any, None)
    holds: list[tuple[LegRole, bool]] = []
    call = B2BCall(
        none, Contact("127.0.0.1", 5060), invite(), none, none,
        lambda _c: None, lambda _c: None, none, 1,
    )  # fmt: skip
    call.on_hold = lambda c, role, holding: holds.append((role, holding))
    call.session = sessions[0]
    target = Target(SipUri(host="127.0.0.1", user="101"), none, "", "phone 101")
    call.winner = OutLeg(target, invite(), none, 0.0, final=200, session=sessions[1])
    call.legs.append(call.winner)
    call.state = CallState.ANSWERED
    call.caller_up = True  # answered already: connect() only bridges
    try:
        yield Office(call, *peers, sessions[2], holds)
    finally:
        if call.conference is not None:
            call.conference.close()
        for session in sessions:
            await session.aclose()
        for peer in peers:
            peer.close()


def is_music(pcm: np.ndarray) -> bool:
    return min(abs(dominant_frequency(pcm) - hz) for hz in NOTES) < 15


async def test_the_employee_holds_the_caller_hears_music_then_the_employee_again(
    office: Office,
) -> None:
    office.call.connect()
    bridge = office.call.bridge
    assert bridge is not None
    assert bridge.running
    await office.talk()
    assert dominant_frequency(office.caller.audio()) == pytest.approx(EMPLOYEE_HZ, abs=5)

    office.call.set_hold(LegRole.CALLEE, True)
    assert not bridge.running
    assert office.playing_music(office.a)
    assert office.b.source is None  # he holds: nothing is sent to him
    await office.talk()
    assert is_music(office.caller.audio()), dominant_frequency(office.caller.audio())
    assert len(office.employee.packets) <= 1  # nothing but a packet already on its way

    office.call.set_hold(LegRole.CALLEE, True)  # a session refresh while on hold: no change
    office.call.set_hold(LegRole.CALLEE, False)
    assert bridge.running
    assert office.call.bridge is bridge
    assert office.a.source is None
    await office.talk()
    assert dominant_frequency(office.caller.audio()) == pytest.approx(EMPLOYEE_HZ, abs=5)
    assert dominant_frequency(office.employee.audio()) == pytest.approx(CALLER_HZ, abs=5)
    assert office.holds == [(LegRole.CALLEE, True), (LegRole.CALLEE, False)]


async def test_the_caller_holds_too_and_music_goes_to_whoever_is_held_without_holding(
    office: Office,
) -> None:
    office.call.connect()
    call = office.call
    call.set_hold(LegRole.CALLER, True)
    assert office.playing_music(office.b)
    assert office.a.source is None
    await office.talk()
    assert is_music(office.employee.audio()), dominant_frequency(office.employee.audio())
    # both hold: neither is sent anything
    call.set_hold(LegRole.CALLEE, True)
    assert office.a.source is None
    assert office.b.source is None
    # the caller resumes while the employee still holds: now he is the one held
    call.set_hold(LegRole.CALLER, False)
    assert office.playing_music(office.a)
    assert office.b.source is None
    assert call.bridge is not None
    assert not call.bridge.running
    call.set_hold(LegRole.CALLEE, False)
    assert call.bridge.running
    assert office.a.source is None
    assert office.b.source is None
    assert office.holds == [
        (LegRole.CALLER, True),
        (LegRole.CALLEE, True),
        (LegRole.CALLER, False),
        (LegRole.CALLEE, False),
    ]


async def test_a_hold_before_the_employee_is_connected_applies_once_he_is(office: Office) -> None:
    call = office.call
    call.set_hold(LegRole.CALLER, True)  # during the call logic's prompts: nothing to stop
    assert call.bridge is None
    assert office.b.source is None
    call.connect()
    assert call.bridge is not None
    assert not call.bridge.running
    assert office.playing_music(office.b)
    call.set_hold(LegRole.CALLER, False)
    assert call.bridge.running
    assert office.b.source is None


async def test_with_a_trainer_the_held_pair_leaves_the_whisper_conference_and_comes_back(
    office: Office,
) -> None:
    call = office.call
    assert call.winner is not None
    call.trainer = OutLeg(call.winner.target, invite(), cast(Any, None), 0.0, final=200)
    call.trainer.session = office.trainer_session
    conference: Conference[LegRole] = Conference(name="whisper")
    conference.add(LegRole.CALLER, office.a)
    conference.add(LegRole.CALLEE, office.b)
    conference.add(LegRole.TRAINER, office.trainer_session)
    conference.set_matrix(whisper_matrix(LegRole.CALLER, LegRole.CALLEE, LegRole.TRAINER))
    call.conference = conference

    call.set_hold(LegRole.CALLEE, True)
    assert conference.parties == [LegRole.TRAINER]
    assert office.playing_music(office.a)
    call.set_hold(LegRole.CALLEE, False)
    assert sorted(conference.parties, key=lambda r: r.value) == [
        LegRole.CALLEE,
        LegRole.CALLER,
        LegRole.TRAINER,
    ]
    assert office.a.source is None
    # a trainer's own hold takes only him out; the conversation goes on
    call.set_hold(LegRole.TRAINER, True)
    assert set(conference.parties) == {LegRole.CALLER, LegRole.CALLEE}
    assert office.a.source is None
    assert office.b.source is None
    call.set_hold(LegRole.TRAINER, False)
    assert LegRole.TRAINER in conference.parties

    # the trainer hangs up while the caller is held: the plain bridge stays stopped
    call.set_hold(LegRole.CALLEE, True)
    call.trainer_left()
    assert call.conference is None
    assert call.bridge is not None
    assert not call.bridge.running
    assert office.playing_music(office.a)
    call.set_hold(LegRole.CALLEE, False)
    assert call.bridge.running
    assert office.a.source is None


async def test_the_employee_leaving_while_holding_stops_the_callers_music(office: Office) -> None:
    call = office.call
    call.connect()
    call.set_hold(LegRole.CALLEE, True)
    assert office.playing_music(office.a)
    call.release_winner()  # his BYE, with call logic: the caller stays
    assert office.a.source is None
    assert call.holding == set()
    assert office.holds == [(LegRole.CALLEE, True)]  # the leaving is not a resume
