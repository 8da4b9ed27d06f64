"""The dialog layer: creation on both sides, routing, CSeq, target refresh, ACK of a 2xx."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from vpbx.sip.dialog import Dialog, DialogState, incoming_dialog_id, new_branch
from vpbx.sip.headers import Via
from vpbx.sip.message import Request, Response
from vpbx.sip.parser import parse_message, serialize
from vpbx.sip.uri import SipUri

INVITE = (
    b"INVITE sip:101@pbx.example SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKaaa\r\n"
    b"Max-Forwards: 70\r\n"
    b"From: <sip:74951234567@trunk.example>;tag=caller1\r\n"
    b"To: <sip:101@pbx.example>\r\n"
    b"Call-ID: call-1@10.0.0.1\r\n"
    b"CSeq: 10 INVITE\r\n"
    b"Contact: <sip:74951234567@10.0.0.1:5070>\r\n"
    b"Record-Route: <sip:p2.example;lr>, <sip:p1.example;lr>\r\n"
    b"Content-Length: 0\r\n\r\n"
)
OK = (
    b"SIP/2.0 200 OK\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKaaa\r\n"
    b"From: <sip:74951234567@trunk.example>;tag=caller1\r\n"
    b"To: <sip:101@pbx.example>;tag=callee9\r\n"
    b"Call-ID: call-1@10.0.0.1\r\n"
    b"CSeq: 10 INVITE\r\n"
    b"Contact: <sip:101@192.168.1.5:5062>\r\n"
    b"Record-Route: <sip:p2.example;lr>, <sip:p1.example;lr>\r\n"
    b"Content-Length: 0\r\n\r\n"
)
VIA = Via(transport="UDP", host="10.0.0.1", port=5070)


def request(data: bytes) -> Request:
    message = parse_message(data)
    assert isinstance(message, Request)
    return message


def response(data: bytes) -> Response:
    message = parse_message(data)
    assert isinstance(message, Response)
    return message


def via() -> Via:
    return VIA.with_params(branch=new_branch())


def test_uac_dialog_routes_by_reversed_record_route_to_the_contact() -> None:
    dialog = Dialog.as_uac(request(INVITE), response(OK))
    assert dialog.state is DialogState.CONFIRMED
    assert dialog.id.local_tag == "caller1"
    assert dialog.id.remote_tag == "callee9"
    bye = dialog.request("BYE", via=via())
    assert str(bye.uri) == "sip:101@192.168.1.5:5062"
    assert [str(r.uri) for r in bye.routes] == ["sip:p1.example;lr", "sip:p2.example;lr"]
    assert bye.cseq.seq == 11
    assert bye.cseq.method == "BYE"
    assert bye.to_tag == "callee9"
    assert bye.from_tag == "caller1"
    assert parse_message(serialize(bye)) == bye


def test_ack_of_a_2xx_keeps_the_invite_cseq_number() -> None:
    invite = request(INVITE)
    dialog = Dialog.as_uac(invite, response(OK))
    ack = dialog.ack(invite, via=via())
    assert ack.method == "ACK"
    assert ack.cseq.seq == 10
    assert dialog.request("BYE", via=via()).cseq.seq == 11


def test_uas_dialog_routes_by_record_route_in_order_and_refuses_old_cseq() -> None:
    dialog = Dialog.as_uas(request(INVITE), local_tag="pbx5")
    assert dialog.id.local_tag == "pbx5"
    assert str(dialog.remote_target) == "sip:74951234567@10.0.0.1:5070"
    bye = dialog.request("BYE", via=via())
    assert [str(r.uri) for r in bye.routes] == ["sip:p2.example;lr", "sip:p1.example;lr"]
    assert bye.cseq.seq == 1
    old = request(
        INVITE.replace(b"CSeq: 10 INVITE", b"CSeq: 9 BYE").replace(b"INVITE sip", b"BYE sip")
    )
    assert dialog.receive(old) == 500
    assert dialog.state is DialogState.EARLY


def test_reinvite_refreshes_the_remote_target() -> None:
    dialog = Dialog.as_uas(request(INVITE), local_tag="pbx5")
    reinvite = request(
        INVITE.replace(b"CSeq: 10", b"CSeq: 11").replace(b"10.0.0.1:5070>", b"10.0.0.7:5080>")
    )
    assert dialog.receive(reinvite) is None
    assert str(dialog.remote_target) == "sip:74951234567@10.0.0.7:5080"
    bye = request(
        INVITE.replace(b"CSeq: 10 INVITE", b"CSeq: 12 BYE").replace(b"INVITE sip", b"BYE sip")
    )
    assert dialog.receive(bye) is None
    assert dialog.state is DialogState.TERMINATED


def test_strict_router_becomes_the_request_uri() -> None:
    strict = OK.replace(b"<sip:p2.example;lr>, <sip:p1.example;lr>", b"<sip:p2.example>")
    dialog = Dialog.as_uac(request(INVITE), response(strict))
    bye = dialog.request("BYE", via=via())
    assert bye.uri == SipUri(host="p2.example")
    assert [str(r.uri) for r in bye.routes] == ["sip:101@192.168.1.5:5062"]


def test_incoming_dialog_id_takes_our_tag_from_the_right_header() -> None:
    ok = response(OK)
    assert incoming_dialog_id(ok) is not None
    assert incoming_dialog_id(ok).local_tag == "caller1"  # type: ignore[union-attr]
    bye = request(OK.replace(b"SIP/2.0 200 OK", b"BYE sip:x@h SIP/2.0"))
    assert incoming_dialog_id(bye).local_tag == "callee9"  # type: ignore[union-attr]
    assert incoming_dialog_id(request(INVITE)) is None


@given(
    st.lists(st.sampled_from(["BYE", "INFO", "INVITE", "ACK", "UPDATE", "OPTIONS"]), max_size=30)
)
def test_local_cseq_strictly_increases_except_ack(methods: list[str]) -> None:
    invite = request(INVITE)
    dialog = Dialog.as_uac(invite, response(OK))
    last = invite.cseq.seq
    for method in methods:
        sent = (
            dialog.request(method, via=via()) if method != "ACK" else dialog.ack(invite, via=via())
        )
        if method == "ACK":
            assert sent.cseq.seq == invite.cseq.seq
        else:
            assert sent.cseq.seq == last + 1
            last = sent.cseq.seq
