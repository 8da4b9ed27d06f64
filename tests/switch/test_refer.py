"""The PBX's answer to a REFER in a call (RFC 3515, TALK-5), without SIP peers: who may transfer,
what a REFER must carry, and what the call logic is told. The live transfers are in
`test_transfer_live.py`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.switch.test_hold import FakeEndpoint, plant
from vpbx.sip.message import Request
from vpbx.sip.parser import parse_message
from vpbx.switch.b2bua import Contact, LegRole
from vpbx.switch.pbx import Pbx
from vpbx.transport.sip import Peer

EMPLOYEE = Peer("udp", "127.0.0.1", 5070)


@dataclass
class FakeController:
    asked: list[str] = field(default_factory=list)

    def transfer_asked(self, _call: object, target: str) -> None:
        self.asked.append(target)


@dataclass
class FakeLeg:
    peer: Peer = EMPLOYEE


@dataclass
class FakeCall:
    controller: FakeController | None = field(default_factory=FakeController)
    winner: FakeLeg = field(default_factory=FakeLeg)
    id: str = "c1"
    refer: tuple[object, Peer] | None = None
    notified: list[tuple[int, str]] = field(default_factory=list)

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


def send(request: Request, role: LegRole = LegRole.CALLEE) -> tuple[FakeEndpoint, FakeCall]:
    endpoint = FakeEndpoint()
    none = cast(Any, None)
    pbx = Pbx(cast(Any, endpoint), none, none, Contact("127.0.0.1", 5060), plant(), none)
    call = FakeCall()
    pbx._refer(cast(Any, call), role, request, cast(Any, None))
    return endpoint, call


def test_a_refer_from_the_employee_is_accepted_and_the_call_logic_told() -> None:
    endpoint, call = send(refer("<sip:102@127.0.0.1:5060>"))
    assert [r.status for r in endpoint.responses] == [202]
    assert call.notified == [(100, "Trying")]  # RFC 3515 §2.4.4: a NOTIFY at once
    assert call.refer == ("the employee's dialog", EMPLOYEE)
    assert call.controller is not None
    assert call.controller.asked == ["102"]


@pytest.mark.parametrize(
    ("refer_to", "status"),
    [
        ((), 400),  # no Refer-To
        (("<sip:102@127.0.0.1>", "<sip:103@127.0.0.1>"), 400),  # two
        (("<sip:127.0.0.1>",), 400),  # nobody named
        (("not a uri at all <",), 400),
        # an attended transfer of the phone's own (RFC 3891): not carried out yet
        (("<sip:102@127.0.0.1?Replaces=abc%3Bto-tag%3D1%3Bfrom-tag%3D2>",), 501),
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
    assert answer.status in (202, 400, 501)
    assert call.controller is not None
    assert (answer.status == 202) == bool(call.controller.asked)
