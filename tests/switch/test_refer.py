"""The PBX's answer to a REFER in a call (RFC 3515, TALK-5), without SIP peers: who may transfer,
what a REFER must carry, and what the call logic is told; with Replaces (RFC 3891), which of
our dialogs it names and what the phone is told when it names none (481) or one we do not hand
over; an INVITE with Replaces. The live transfers are in `test_transfer_live.py` and
`test_replaces_live.py`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.switch.test_hold import FakeEndpoint, invite, plant
from vpbx.sip.dialog import DialogId
from vpbx.sip.message import Request
from vpbx.sip.parser import parse_message
from vpbx.sip.uri import SipUri
from vpbx.switch.b2bua import B2BCall, CallState, Consultation, Contact, LegRole, OutLeg, Target
from vpbx.switch.pbx import Pbx
from vpbx.transport.sip import Peer

EMPLOYEE = Peer("udp", "127.0.0.1", 5070)


@dataclass
class FakeController:
    asked: list[str] = field(default_factory=list)
    #: the Refer-To as user@server[:port] when it named another server (XFR-3)
    uris: list[str] = field(default_factory=list)
    replacing: list[Consultation] = field(default_factory=list)

    def transfer_asked(self, _call: object, target: str, uri: str = "") -> None:
        self.asked.append(target)
        self.uris.append(uri)

    def replaces_asked(self, _call: object, found: Consultation) -> None:
        self.replacing.append(found)


@dataclass(frozen=True)
class FakeTarget:
    employee_id: int | None = 1


@dataclass
class FakeLeg:
    peer: Peer = EMPLOYEE
    target: FakeTarget = field(default_factory=FakeTarget)


@dataclass
class FakeCall:
    controller: FakeController | None = field(default_factory=FakeController)
    winner: FakeLeg | None = field(default_factory=FakeLeg)
    id: str = "c1"
    refer: tuple[object, Peer] | None = None
    notified: list[tuple[int, str]] = field(default_factory=list)
    account_id: int = 1
    #: the employee whose phone placed the call (a consultation call of employee 1)
    caller_employee_id: int | None = 1

    def leg_dialog(self, _role: LegRole) -> object:
        return "the employee's dialog"

    def notify_refer(self, status: int, reason: str) -> None:
        self.notified.append((status, reason))


def refer(*refer_to: str) -> Request:
    headers = "".join(f"Refer-To: {value}\r\n" for value in refer_to)
    raw = (
        "REFER sip:vpbx@127.0.0.1:5060 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK7\r\n"
        "From: <sip:101@127.0.0.1>;tag=a\r\nTo: <sip:vpbx@127.0.0.1>;tag=b\r\nCall-ID: c1\r\n"
        f"CSeq: 3 REFER\r\nMax-Forwards: 70\r\n{headers}Content-Length: 0\r\n\r\n"
    )
    message = parse_message(raw.encode())
    assert isinstance(message, Request)
    return message


def make_pbx() -> tuple[Pbx, FakeEndpoint]:
    endpoint = FakeEndpoint()
    none = cast(Any, None)
    return Pbx(cast(Any, endpoint), none, none, Contact("127.0.0.1", 5060), plant(), none), endpoint


def send(
    request: Request, role: LegRole = LegRole.CALLEE, pbx: Pbx | None = None
) -> tuple[FakeEndpoint, FakeCall]:
    if pbx is None:
        pbx, endpoint = make_pbx()
    else:
        endpoint = cast(FakeEndpoint, pbx.endpoint)
    call = FakeCall()
    pbx._refer(cast(Any, call), role, request, cast(Any, None))
    return endpoint, call


#: the consultation dialog as the transferring phone names it (RFC 5589 §7): its Call-ID, our
#: tag (to-tag) and the phone's (from-tag)
CONSULTATION = DialogId("y1@phone", "pbx-tag", "phone-tag")
REFER_TO = "<sip:102@127.0.0.1:5060?Replaces=y1%40phone%3Bto-tag%3Dpbx-tag%3Bfrom-tag%3Dphone-tag>"


def with_consultation(
    role: LegRole = LegRole.CALLER, callee: int | None = 2, **fields: Any
) -> tuple[Pbx, FakeCall]:
    """A PBX where the phone's call to employee `callee` (role: the phone's side) is up."""
    pbx, _ = make_pbx()
    other = FakeCall(id="y1", winner=FakeLeg(target=FakeTarget(callee)), **fields)
    pbx.by_dialog[CONSULTATION] = (cast(Any, other), role)
    return pbx, other


def test_a_refer_from_the_employee_is_accepted_and_the_call_logic_told() -> None:
    endpoint, call = send(refer("<sip:102@127.0.0.1:5060>"))
    assert [r.status for r in endpoint.responses] == [202]
    assert call.notified == [(100, "Trying")]  # RFC 3515 §2.4.4: a NOTIFY at once
    assert call.refer == ("the employee's dialog", EMPLOYEE)
    assert call.controller is not None
    assert call.controller.asked == ["102"]
    assert call.controller.uris == [""]  # this PBX, not a SIP URI of another


@pytest.mark.parametrize(
    ("refer_to", "uri"),
    [
        ("<sip:102@127.0.0.1>", ""),  # our host, no port
        ("<sip:102@127.0.0.1:5060;transport=udp>", ""),
        ("<sip:7001@127.0.0.1:5070>", "7001@127.0.0.1:5070"),  # another port: another PBX
        ("<sip:7001@pbx.partner.example>", "7001@pbx.partner.example"),
        ("sip:sales@10.1.2.3:5080", "sales@10.1.2.3:5080"),
    ],
)
def test_a_refer_to_names_this_pbx_or_a_sip_uri_of_another(refer_to: str, uri: str) -> None:
    endpoint, call = send(refer(refer_to))
    assert [r.status for r in endpoint.responses] == [202]
    assert call.controller is not None
    assert call.controller.uris == [uri]


@pytest.mark.parametrize(
    ("refer_to", "status"),
    [
        ((), 400),  # no Refer-To
        (("<sip:102@127.0.0.1>", "<sip:103@127.0.0.1>"), 400),  # two
        (("<sip:127.0.0.1>",), 400),  # nobody named
        (("not a uri at all <",), 400),
        # Replaces without its tags, or not escaped, is refused as a bad Refer-To
        (("<sip:102@127.0.0.1?Replaces=abc%3Bto-tag%3D1>",), 400),
        (("<sip:102@127.0.0.1?Replaces=abc;to-tag=1;from-tag=2>",), 400),
        (("<sip:102@127.0.0.1?Replaces=a%3Bto-tag%3D1%3Bfrom-tag%3D2&Replaces=b>",), 400),
    ],
)
def test_a_refer_that_cannot_be_done_is_refused_and_nothing_starts(
    refer_to: tuple[str, ...], status: int
) -> None:
    endpoint, call = send(refer(*refer_to))
    assert [r.status for r in endpoint.responses] == [status]
    assert call.notified == []
    assert call.controller is not None
    assert call.controller.asked == []
    assert call.controller.replacing == []


def test_the_caller_side_cannot_transfer_the_call() -> None:
    endpoint, call = send(refer("<sip:102@127.0.0.1>"), LegRole.CALLER)
    assert [r.status for r in endpoint.responses] == [403]
    assert call.controller is not None
    assert call.controller.asked == []


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60))
def test_any_refer_to_gets_one_answer_and_never_raises(value: str) -> None:
    try:
        request = refer(value)
    except Exception:  # the parser refuses the message itself: nothing reaches _refer
        return
    endpoint, call = send(request)
    [answer] = endpoint.responses
    assert answer.status in (202, 400)
    assert call.controller is not None
    told = call.controller.asked + call.controller.replacing
    assert (answer.status == 202) == (len(told) == 1)


def test_refer_with_replaces_names_the_phones_consultation_call() -> None:
    pbx, _ = with_consultation()
    endpoint, call = send(refer(REFER_TO), pbx=pbx)
    assert [r.status for r in endpoint.responses] == [202]
    assert call.notified == [(100, "Trying")]
    assert call.controller is not None
    assert call.controller.replacing == [Consultation("y1", 2)]
    assert call.controller.asked == []  # not a blind transfer to 102


def test_refer_with_replaces_of_no_dialog_is_accepted_and_notified_481() -> None:
    """The phone hears of the failure as the transfer's outcome (NOTIFY 481 via the call
    logic, which leaves the talk as it was), not as a refused REFER."""
    pbx, _ = make_pbx()
    endpoint, call = send(refer(REFER_TO), pbx=pbx)
    assert [r.status for r in endpoint.responses] == [202]
    assert call.controller is not None
    [found] = call.controller.replacing
    assert (found.call_id, found.status) == ("", 481)
    # the tags swapped are another dialog: 481 too
    swapped = REFER_TO.replace("to-tag%3Dpbx-tag", "to-tag%3DX").replace("phone-tag", "pbx-tag")
    _, call = send(refer(swapped), pbx=with_consultation()[0])
    assert call.controller is not None
    assert call.controller.replacing[0].status == 481


@pytest.mark.parametrize(
    ("refer_to", "role", "fields", "status"),
    [
        (REFER_TO.replace(">", "%3Bearly-only>"), LegRole.CALLER, {}, 486),
        (REFER_TO, LegRole.CALLEE, {}, 501),  # a call the phone took, not placed
        (REFER_TO, LegRole.CALLER, {"callee": None}, 501),  # to an outside number
        (REFER_TO, LegRole.CALLER, {"caller_employee_id": 7}, 403),  # another's call
        (REFER_TO, LegRole.CALLER, {"account_id": 2}, 403),
    ],
)
def test_a_consultation_we_do_not_hand_over_is_notified_with_its_status(
    refer_to: str, role: LegRole, fields: dict[str, Any], status: int
) -> None:
    pbx, _ = with_consultation(role, **fields)
    endpoint, call = send(refer(refer_to), pbx=pbx)
    assert [r.status for r in endpoint.responses] == [202]
    assert call.controller is not None
    [found] = call.controller.replacing
    assert (found.call_id, found.status) == ("", status)


def invite_with(*replaces: str) -> Request:
    headers = "".join(f"Replaces: {value}\r\n" for value in replaces)
    raw = (
        "INVITE sip:102@127.0.0.1:5060 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK9\r\n"
        "From: <sip:101@127.0.0.1>;tag=a\r\nTo: <sip:102@127.0.0.1>\r\nCall-ID: new1\r\n"
        f"CSeq: 1 INVITE\r\nMax-Forwards: 70\r\n{headers}Content-Length: 0\r\n\r\n"
    )
    message = parse_message(raw.encode())
    assert isinstance(message, Request)
    return message


@pytest.mark.parametrize(
    ("replaces", "status"),
    [
        (("nobody@x;to-tag=1;from-tag=2",), 481),  # RFC 3891 §3: no such dialog
        (("y1@phone;to-tag=pbx-tag;from-tag=phone-tag;early-only",), 486),
        (("y1@phone;to-tag=pbx-tag;from-tag=phone-tag",), 501),  # phones transfer by REFER
        (("y1@phone;to-tag=pbx-tag",), 400),
        (("a;to-tag=1;from-tag=2", "b;to-tag=1;from-tag=2"), 400),
    ],
)
def test_an_invite_with_replaces_is_answered_by_rfc_3891(
    replaces: tuple[str, ...], status: int
) -> None:
    pbx, _ = with_consultation()
    endpoint = cast(FakeEndpoint, pbx.endpoint)
    asyncio.run(pbx._invite(invite_with(*replaces), EMPLOYEE, cast(Any, None)))
    assert [r.status for r in endpoint.responses] == [status]


def bare_call(account_id: int = 1) -> B2BCall:
    none = cast(Any, None)
    return B2BCall(
        none, Contact("127.0.0.1", 5060), invite(), none, none,
        lambda _c: None, lambda _c: None, none, account_id,
    )  # fmt: skip


def test_a_consultation_is_taken_only_by_a_call_waiting_for_its_target() -> None:
    """`take_consultation` changes nothing (the core is told 481) unless the transferred call
    holds its caller for a transfer and the consultation has a talking leg to give."""
    transferred, consultation = bare_call(), bare_call()
    assert transferred.take_consultation(consultation) is None  # not transferring
    transferred.transferring = True
    assert transferred.take_consultation(transferred) is None  # itself
    assert transferred.take_consultation(consultation) is None  # nobody answered it
    assert consultation.state is CallState.RINGING  # left as it was
    assert transferred.target is None
    consultation.state = CallState.ANSWERED  # answered, but its leg has no media any more
    none = cast(Any, None)
    target = Target(SipUri(host="127.0.0.1", user="102"), none, "", "phone 102", employee_id=2)
    consultation.winner = OutLeg(target, invite(), none, 0.0, final=200)
    assert transferred.take_consultation(consultation) is None
    assert consultation.winner is not None
    assert consultation.state is CallState.ANSWERED
