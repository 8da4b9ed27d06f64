"""RFC 3261 §17 transactions on a fake clock: retransmission schedules, ACK, CANCEL, merging."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vpbx.sip.errors import LocalError, ParseError
from vpbx.sip.message import Headers, Request, Response, make_response
from vpbx.sip.parser import parse_message, serialize
from vpbx.sip.transaction import (
    Ack,
    CancelReceived,
    ClientInviteState,
    Deliver,
    MergedRequest,
    NewRequest,
    Output,
    Send,
    ServerInviteState,
    StrayResponse,
    Terminated,
    TerminationReason,
    Timeout,
    TimerConfig,
    TimerName,
    TransactionKey,
    TransactionLayer,
    client_key,
    server_key,
)
from vpbx.sip.uri import parse_uri
from vpbx.sip.validate import validate_request

T1 = 0.5


@dataclass(frozen=True)
class Addr:
    """A stand-in for the transport's peer: only ``reliable`` matters to transactions."""

    host: str
    reliable: bool = False


PHONE = Addr("10.0.0.1")
PBX = Addr("10.0.0.2")
PHONE_TCP = Addr("10.0.0.1", reliable=True)


def request(
    method: str = "INVITE",
    *,
    branch: str = "z9hG4bKinv1",
    from_tag: str | None = "caller1",
    to_tag: str | None = None,
    call_id: str = "call-1@10.0.0.1",
    seq: int = 1,
    sent_by: str = "10.0.0.1:5070",
) -> Request:
    branch_param = f";branch={branch}" if branch else ""
    return Request(
        method,
        parse_uri("sip:101@pbx.example"),
        Headers(
            [
                ("Via", f"SIP/2.0/UDP {sent_by}{branch_param}"),
                ("Max-Forwards", "70"),
                ("Route", "<sip:p1.example;lr>"),
                ("Route", "<sip:p2.example;lr>"),
                ("From", "<sip:alice@a.example>" + (f";tag={from_tag}" if from_tag else "")),
                ("To", "<sip:101@pbx.example>" + (f";tag={to_tag}" if to_tag else "")),
                ("Call-ID", call_id),
                ("CSeq", f"{seq} {method}"),
            ]
        ),
    )


def ack_for(invite: Request, response: Response) -> Request:
    """The ACK a UAC sends for a non-2xx (what the client transaction builds)."""
    headers = invite.headers.set("To", response.headers.get("To") or "").set(
        "CSeq", f"{invite.cseq.seq} ACK"
    )
    return Request("ACK", invite.uri, headers)


def answer(req: Request, status: int) -> Response:
    return make_response(req, status, to_tag="callee9")


def sends(outputs: list[Output[Addr]]) -> list[Request | Response]:
    return [o.message for o in outputs if isinstance(o, Send)]


def run_timers(layer: TransactionLayer[Addr], until: float) -> list[tuple[float, Output[Addr]]]:
    """Fire timers at their exact deadlines up to ``until``; outputs with the time they left."""
    out: list[tuple[float, Output[Addr]]] = []
    while (deadline := layer.get_timer()) is not None and deadline <= until:
        layer.handle_timer(deadline)
        out.extend((deadline, o) for o in layer.drain())
    return out


def send_times(timed: list[tuple[float, Output[Addr]]]) -> list[float]:
    return [t for t, o in timed if isinstance(o, Send)]


# -- keys ------------------------------------------------------------------------------------


def test_keys_ack_matches_invite_cancel_has_its_own_and_responses_match_clients() -> None:
    invite = request()
    key = server_key(invite)
    assert key == TransactionKey("z9hG4bKinv1", "10.0.0.1:5070", "INVITE")
    assert server_key(ack_for(invite, answer(invite, 486))) == key
    assert server_key(request("CANCEL")) == TransactionKey("z9hG4bKinv1", "10.0.0.1:5070", "CANCEL")
    assert client_key(answer(invite, 180)) == key
    assert server_key(request(sent_by="10.0.0.9")) != key


def test_rfc2543_requests_without_a_branch_get_a_fallback_key() -> None:
    old = request(branch="")
    ack = ack_for(old, answer(old, 486))
    assert server_key(old) == server_key(ack)
    assert server_key(old) != server_key(request(branch="", seq=2))


def test_a_request_unfit_for_matching_raises_parse_error_and_leaves_no_state() -> None:
    layer: TransactionLayer[Addr] = TransactionLayer()
    bad = request()
    bad = Request("INVITE", bad.uri, bad.headers.set("From", "<sip:alice@a.example"))
    with pytest.raises(ParseError):
        layer.receive(bad, PHONE, 0.0)
    assert layer.active == 0
    assert layer.drain() == []


def test_a_client_transaction_needs_an_rfc3261_branch() -> None:
    layer: TransactionLayer[Addr] = TransactionLayer()
    with pytest.raises(LocalError):
        layer.send_request(request(branch="z9hG4bK"), PBX, 0.0)
    with pytest.raises(LocalError):
        layer.send_request(request("ACK"), PBX, 0.0)


# -- client INVITE ---------------------------------------------------------------------------


def test_invite_client_udp_retransmits_on_timer_a_until_timer_b() -> None:
    layer: TransactionLayer[Addr] = TransactionLayer()
    key = layer.send_request(request(), PBX, 0.0)
    assert sends(layer.drain()) == [request()]
    timed = run_timers(layer, 100.0)
    assert send_times(timed) == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert [o for _, o in timed if not isinstance(o, Send)] == [
        Timeout(key, TimerName.B),
        Terminated(key, TerminationReason.TIMEOUT),
    ]
    assert [t for t, o in timed if isinstance(o, Terminated)] == [32.0]
    assert layer.active == 0
    assert layer.get_timer() is None


def test_invite_client_provisional_stops_retransmissions_and_timer_b() -> None:
    layer: TransactionLayer[Addr] = TransactionLayer()
    invite = request()
    key = layer.send_request(invite, PBX, 0.0)
    layer.drain()
    layer.receive(answer(invite, 180), PBX, 0.2)
    assert layer.drain() == [Deliver(answer(invite, 180), key)]
    assert run_timers(layer, 1000.0) == []
    client = layer.client(key)
    assert client is not None
    assert client.state is ClientInviteState.PROCEEDING


def test_invite_client_acks_a_486_inside_the_transaction() -> None:
    layer: TransactionLayer[Addr] = TransactionLayer()
    invite = request()
    key = layer.send_request(invite, PBX, 0.0)
    layer.drain()
    busy = answer(invite, 486)
    layer.receive(busy, PBX, 0.1)
    out = layer.drain()
    assert out[0] == Deliver(busy, key)
    assert isinstance(out[1], Send)
    assert out[1].destination == PBX
    ack = out[1].message
    assert isinstance(ack, Request)
    assert ack.method == "ACK"
    assert ack.uri == invite.uri
    assert ack.via.branch == "z9hG4bKinv1"
    assert ack.vias == invite.vias[:1]
    assert ack.to_tag == "callee9"
    assert ack.from_ == invite.from_
    assert ack.call_id == invite.call_id
    assert str(ack.cseq) == "1 ACK"
    assert ack.routes == invite.routes
    assert ack.max_forwards == 70
    assert len(out) == 2
    # A retransmitted 486 is re-ACKed but not delivered again.
    layer.receive(busy, PBX, 0.6)
    assert layer.drain() == [Send(ack, PBX, key)]
    # Timer D (32 s on UDP) absorbs retransmissions, then the transaction ends.
    assert [o for _, o in run_timers(layer, 100.0)] == [
        Terminated(key, TerminationReason.COMPLETED)
    ]
    assert layer.active == 0


def test_invite_client_2xx_terminates_and_retransmissions_go_to_the_tu() -> None:
    layer: TransactionLayer[Addr] = TransactionLayer()
    invite = request()
    key = layer.send_request(invite, PBX, 0.0)
    layer.drain()
    ok = answer(invite, 200)
    layer.receive(ok, PBX, 0.1)
    assert layer.drain() == [Deliver(ok, key), Terminated(key, TerminationReason.COMPLETED)]
    layer.receive(ok, PBX, 0.6)
    assert layer.drain() == [StrayResponse(ok, PBX)]


def test_invite_client_over_tcp_sends_once_and_ends_at_the_ack() -> None:
    layer: TransactionLayer[Addr] = TransactionLayer()
    invite = request()
    key = layer.send_request(invite, PHONE_TCP, 0.0)
    layer.drain()
    assert layer.get_timer() == 32.0  # Timer B only: no Timer A on a reliable transport
    busy = answer(invite, 486)
    layer.receive(busy, PHONE_TCP, 1.0)
    out = layer.drain()
    assert [type(o) for o in out] == [Deliver, Send, Terminated]  # Timer D = 0
    assert out[2] == Terminated(key, TerminationReason.COMPLETED)
    assert layer.active == 0


def test_invite_client_over_tcp_still_times_out_on_timer_b() -> None:
    layer: TransactionLayer[Addr] = TransactionLayer()
    key = layer.send_request(request(), PHONE_TCP, 0.0)
    layer.drain()
    timed = run_timers(layer, 100.0)
    assert timed == [
        (32.0, Timeout(key, TimerName.B)),
        (32.0, Terminated(key, TerminationReason.TIMEOUT)),
    ]


def test_transport_error_terminates_the_transaction() -> None:
    layer: TransactionLayer[Addr] = TransactionLayer()
    key = layer.send_request(request(), PBX, 0.0)
    layer.drain()
    layer.transport_error(key, 0.1)
    assert layer.drain() == [Terminated(key, TerminationReason.TRANSPORT_ERROR)]
    assert layer.active == 0


# -- client non-INVITE -----------------------------------------------------------------------


def test_non_invite_client_timer_e_doubles_to_t2_until_timer_f() -> None:
    layer: TransactionLayer[Addr] = TransactionLayer()
    key = layer.send_request(request("OPTIONS", branch="z9hG4bKopt"), PBX, 0.0)
    layer.drain()
    timed = run_timers(layer, 100.0)
    assert send_times(timed) == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert [(t, o) for t, o in timed if not isinstance(o, Send)] == [
        (32.0, Timeout(key, TimerName.F)),
        (32.0, Terminated(key, TerminationReason.TIMEOUT)),
    ]


def test_non_invite_client_provisional_switches_timer_e_to_t2() -> None:
    layer: TransactionLayer[Addr] = TransactionLayer()
    options = request("OPTIONS", branch="z9hG4bKopt")
    key = layer.send_request(options, PBX, 0.0)
    layer.drain()
    assert send_times(run_timers(layer, 0.6)) == [0.5]
    trying = answer(options, 100)
    layer.receive(trying, PBX, 0.6)
    layer.receive(trying, PBX, 0.7)  # retransmitted provisional: delivered once
    assert layer.drain() == [Deliver(trying, key)]
    timed = run_timers(layer, 100.0)
    # The pending E (1.5) still fires, then every T2 until F at 32.
    assert send_times(timed) == [1.5, 5.5, 9.5, 13.5, 17.5, 21.5, 25.5, 29.5]
    assert timed[-1] == (32.0, Terminated(key, TerminationReason.TIMEOUT))


def test_non_invite_client_final_response_then_timer_k() -> None:
    layer: TransactionLayer[Addr] = TransactionLayer()
    options = request("OPTIONS", branch="z9hG4bKopt")
    key = layer.send_request(options, PBX, 0.0)
    layer.drain()
    ok = answer(options, 200)
    layer.receive(ok, PBX, 1.0)
    layer.receive(ok, PBX, 2.0)
    assert layer.drain() == [Deliver(ok, key)]
    assert run_timers(layer, 100.0) == [(6.0, Terminated(key, TerminationReason.COMPLETED))]


def test_non_invite_client_over_tcp_has_no_timer_e_and_k_is_zero() -> None:
    layer: TransactionLayer[Addr] = TransactionLayer()
    options = request("OPTIONS", branch="z9hG4bKopt")
    key = layer.send_request(options, PHONE_TCP, 0.0)
    layer.drain()
    assert layer.get_timer() == 32.0
    ok = answer(options, 200)
    layer.receive(ok, PHONE_TCP, 1.0)
    assert layer.drain() == [Deliver(ok, key), Terminated(key, TerminationReason.COMPLETED)]


# -- server INVITE ---------------------------------------------------------------------------


def test_server_invite_timer_g_doubles_to_t2_and_timer_h_ends_it_without_ack() -> None:
    layer: TransactionLayer[Addr] = TransactionLayer()
    invite = request()
    layer.receive(invite, PHONE, 0.0)
    [event] = layer.drain()
    assert isinstance(event, NewRequest)
    busy = answer(invite, 486)
    layer.respond(event.key, busy, 0.0)
    assert layer.drain() == [Send(busy, PHONE, event.key)]
    timed = run_timers(layer, 100.0)
    assert send_times(timed) == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert all(o.message == busy for _, o in timed if isinstance(o, Send))
    assert [(t, o) for t, o in timed if not isinstance(o, Send)] == [
        (32.0, Timeout(event.key, TimerName.H)),
        (32.0, Terminated(event.key, TerminationReason.TIMEOUT)),
    ]
    assert layer.active == 0


def test_server_invite_ack_confirms_then_timer_i() -> None:
    layer: TransactionLayer[Addr] = TransactionLayer()
    invite = request()
    layer.receive(invite, PHONE, 0.0)
    key = server_key(invite)
    busy = answer(invite, 486)
    layer.respond(invite, busy, 0.1)
    layer.drain()
    assert send_times(run_timers(layer, 1.0)) == [0.6]
    layer.receive(ack_for(invite, busy), PHONE, 1.0)
    layer.receive(ack_for(invite, busy), PHONE, 1.2)  # retransmitted ACK: absorbed
    layer.receive(invite, PHONE, 1.3)  # late INVITE copy: absorbed in Confirmed
    assert layer.drain() == []
    server = layer.server(key)
    assert server is not None
    assert server.state is ServerInviteState.CONFIRMED
    assert run_timers(layer, 100.0) == [(6.0, Terminated(key, TerminationReason.COMPLETED))]


def test_server_invite_over_tcp_no_timer_g_and_i_is_zero() -> None:
    layer: TransactionLayer[Addr] = TransactionLayer()
    invite = request()
    layer.receive(invite, PHONE_TCP, 0.0)
    key = server_key(invite)
    busy = answer(invite, 486)
    layer.respond(key, busy, 0.1)
    layer.drain()
    assert layer.get_timer() == pytest.approx(32.1)  # Timer H only
    layer.receive(ack_for(invite, busy), PHONE_TCP, 0.2)
    assert layer.drain() == [Terminated(key, TerminationReason.COMPLETED)]
    assert layer.active == 0


def test_server_invite_sends_100_trying_after_200_ms_unless_answered() -> None:
    layer: TransactionLayer[Addr] = TransactionLayer()
    invite = request()
    layer.receive(invite, PHONE, 0.0)
    layer.drain()
    assert run_timers(layer, 0.19) == []
    [(t, sent)] = run_timers(layer, 0.3)
    assert t == 0.2
    assert isinstance(sent, Send)
    assert isinstance(sent.message, Response)
    assert sent.message.status == 100

    answered: TransactionLayer[Addr] = TransactionLayer()
    answered.receive(invite, PHONE, 0.0)
    answered.respond(invite, answer(invite, 180), 0.1)
    answered.drain()
    assert run_timers(answered, 1.0) == []

    silent: TransactionLayer[Addr] = TransactionLayer(trying_delay=None)
    silent.receive(invite, PHONE, 0.0)
    silent.drain()
    assert silent.get_timer() is None

    eager: TransactionLayer[Addr] = TransactionLayer(trying_delay=0)
    eager.receive(invite, PHONE, 0.0)
    out = eager.drain()
    assert isinstance(out[0], NewRequest)
    assert [m.status for m in sends(out) if isinstance(m, Response)] == [100]


def test_retransmitted_requests_are_absorbed_and_reanswered_with_the_last_response() -> None:
    layer: TransactionLayer[Addr] = TransactionLayer(trying_delay=None)
    invite = request()
    layer.receive(invite, PHONE, 0.0)
    layer.receive(invite, PHONE, 0.05)  # no response yet: nothing to repeat
    out = layer.drain()
    assert [type(o) for o in out] == [NewRequest]
    ringing = answer(invite, 180)
    layer.respond(invite, ringing, 0.1)
    layer.drain()
    layer.receive(invite, PHONE, 0.5)
    assert sends(layer.drain()) == [ringing]
    busy = answer(invite, 486)
    layer.respond(invite, busy, 0.6)
    layer.drain()
    layer.receive(invite, PHONE, 0.7)
    assert sends(layer.drain()) == [busy]
    # A second final response is discarded (§17.2.2), e.g. a TU racing a CANCEL.
    assert not layer.respond(invite, answer(invite, 500), 0.8)
    assert layer.drain() == []
    with pytest.raises(LocalError):
        layer.respond(invite, answer(request(seq=7), 500), 0.8)


def test_server_invite_2xx_ends_it_but_invite_retransmissions_are_still_absorbed() -> None:
    layer: TransactionLayer[Addr] = TransactionLayer()
    invite = request()
    key = server_key(invite)
    layer.receive(invite, PHONE, 0.0)
    ok = answer(invite, 200)
    layer.respond(key, ok, 0.1)
    out = layer.drain()
    assert out[1:] == [Send(ok, PHONE, key), Terminated(key, TerminationReason.COMPLETED)]
    layer.receive(invite, PHONE, 0.5)
    assert layer.drain() == []
    layer.respond(key, ok, 0.6)  # the TU retransmits its 2xx (§13.3.1.4)
    assert layer.drain() == [Send(ok, PHONE, key)]
    ack_2xx = request("ACK", branch="z9hG4bKack2xx", to_tag="callee9")
    layer.receive(ack_2xx, PHONE, 0.7)
    assert layer.drain() == [Ack(ack_2xx, PHONE)]
    run_timers(layer, 100.0)
    assert layer.active == 0


# -- server non-INVITE -----------------------------------------------------------------------


def test_server_non_invite_reanswers_retransmissions_until_timer_j() -> None:
    layer: TransactionLayer[Addr] = TransactionLayer()
    options = request("OPTIONS", branch="z9hG4bKopt")
    key = server_key(options)
    layer.receive(options, PHONE, 0.0)
    layer.receive(options, PHONE, 0.2)  # Trying: absorbed silently
    assert [type(o) for o in layer.drain()] == [NewRequest]
    ok = answer(options, 200)
    layer.respond(key, ok, 0.3)
    layer.receive(options, PHONE, 0.5)
    assert sends(layer.drain()) == [ok, ok]
    assert run_timers(layer, 100.0) == [(32.3, Terminated(key, TerminationReason.COMPLETED))]


def test_server_non_invite_repeats_its_provisional_then_discards_a_second_final() -> None:
    layer: TransactionLayer[Addr] = TransactionLayer()
    options = request("OPTIONS", branch="z9hG4bKopt")
    layer.receive(options, PHONE, 0.0)
    trying = make_response(options, 100)
    assert layer.respond(options, trying, 0.1)
    layer.receive(options, PHONE, 0.5)
    assert sends(layer.drain()) == [trying, trying]
    assert layer.respond(options, answer(options, 200), 0.6)
    assert not layer.respond(options, answer(options, 500), 0.7)
    assert sends(layer.drain()) == [answer(options, 200)]


def test_misuse_is_a_local_error() -> None:
    layer: TransactionLayer[Addr] = TransactionLayer()
    key = layer.send_request(request("OPTIONS", branch="z9hG4bKopt"), PBX, 0.0)
    with pytest.raises(LocalError):
        layer.send_request(request("OPTIONS", branch="z9hG4bKopt"), PBX, 0.0)  # reused branch
    with pytest.raises(LocalError):
        layer.cancel(key, 0.0)  # only INVITEs are cancelled
    with pytest.raises(LocalError):
        TimerConfig(t1=5.0, t2=4.0)


def test_transport_error_on_a_server_transaction() -> None:
    layer: TransactionLayer[Addr] = TransactionLayer()
    invite = request()
    layer.receive(invite, PHONE, 0.0)
    layer.drain()
    layer.transport_error(server_key(invite), 0.1)
    assert layer.drain() == [Terminated(server_key(invite), TerminationReason.TRANSPORT_ERROR)]
    assert layer.active == 0
    assert not layer.respond(invite, answer(invite, 486), 0.2)


def test_server_non_invite_over_tcp_ends_at_the_final_response() -> None:
    layer: TransactionLayer[Addr] = TransactionLayer()
    options = request("OPTIONS", branch="z9hG4bKopt")
    layer.receive(options, PHONE_TCP, 0.0)
    layer.respond(options, answer(options, 200), 0.3)
    assert isinstance(layer.drain()[-1], Terminated)
    assert layer.active == 0


# -- CANCEL ----------------------------------------------------------------------------------


def wire(message: Request | Response) -> Request | Response:
    """Serialize and parse back, as the transport would: built ACK/CANCEL must survive it."""
    return parse_message(serialize(message))


def wire_request(message: Request | Response) -> Request:
    parsed = wire(message)
    assert isinstance(parsed, Request)
    return parsed


@dataclass
class Link:
    """Two layers joined by a lossless, instant network; ``pump`` carries every Send across."""

    uac: TransactionLayer[Addr] = field(default_factory=TransactionLayer)
    uas: TransactionLayer[Addr] = field(default_factory=TransactionLayer)
    uac_events: list[Output[Addr]] = field(default_factory=list)
    uas_events: list[Output[Addr]] = field(default_factory=list)

    def pump(self, now: float) -> None:
        while True:
            from_uac, from_uas = self.uac.drain(), self.uas.drain()
            if not from_uac and not from_uas:
                return
            self.uac_events += from_uac
            self.uas_events += from_uas
            for o in from_uac:
                if isinstance(o, Send):
                    self.uas.receive(wire(o.message), PHONE, now)
            for o in from_uas:
                if isinstance(o, Send):
                    self.uac.receive(wire(o.message), PBX, now)

    def take(self) -> tuple[list[Output[Addr]], list[Output[Addr]]]:
        out = self.uac_events, self.uas_events
        self.uac_events, self.uas_events = [], []
        return out


def test_cancel_of_a_ringing_invite() -> None:
    link = Link()
    invite = request()
    invite_key = link.uac.send_request(invite, PBX, 0.0)
    link.pump(0.0)
    _, uas = link.take()
    [new] = [o for o in uas if isinstance(o, NewRequest)]
    link.uas.respond(new.key, answer(invite, 180), 0.1)
    link.pump(0.1)
    uac, _ = link.take()
    assert uac == [Deliver(answer(invite, 180), invite_key)]

    cancel_key = link.uac.cancel(invite_key, 1.0)
    assert cancel_key == TransactionKey("z9hG4bKinv1", "10.0.0.1:5070", "CANCEL")
    [cancel_send] = link.uac.drain()
    assert isinstance(cancel_send, Send)
    cancel = cancel_send.message
    assert isinstance(cancel, Request)
    assert cancel.method == "CANCEL"
    assert cancel.via.branch == invite.via.branch
    assert cancel.uri == invite.uri
    assert (cancel.call_id, cancel.from_, cancel.to) == (invite.call_id, invite.from_, invite.to)
    assert str(cancel.cseq) == "1 CANCEL"
    assert cancel.routes == invite.routes
    assert validate_request(wire_request(cancel)) is None
    assert link.uac.cancel(invite_key, 1.1) == cancel_key  # idempotent
    assert link.uac.drain() == []

    link.uas.receive(cancel, PHONE, 1.0)
    [event] = link.uas.drain()
    assert isinstance(event, CancelReceived)
    assert event.invite_key == new.key
    assert event.invite_pending
    link.uas.answer_cancel(event, 1.0)
    link.pump(1.0)
    uac, uas = link.take()
    answers = [o.message for o in uas if isinstance(o, Send)]
    assert [(r.status, r.cseq.method) for r in answers if isinstance(r, Response)] == [
        (200, "CANCEL"),
        (487, "INVITE"),
    ]
    assert all(r.to_tag == "callee9" for r in answers if isinstance(r, Response))
    delivered = [o.response for o in uac if isinstance(o, Deliver)]
    assert [(r.status, r.cseq.method) for r in delivered] == [(200, "CANCEL"), (487, "INVITE")]
    [ack] = [o.message for o in uac if isinstance(o, Send)]
    assert isinstance(ack, Request)
    assert ack.method == "ACK"
    assert ack.via.branch == invite.via.branch
    assert validate_request(wire_request(ack)) is None
    server = link.uas.server(new.key)
    assert server is not None
    assert server.state is ServerInviteState.CONFIRMED

    run_timers(link.uac, 100.0)
    run_timers(link.uas, 100.0)
    assert link.uac.active == link.uas.active == 0


def test_cancel_before_any_provisional_is_held_until_180() -> None:
    layer: TransactionLayer[Addr] = TransactionLayer()
    invite = request()
    key = layer.send_request(invite, PBX, 0.0)
    layer.drain()
    cancel_key = layer.cancel(key, 0.1)
    assert cancel_key is not None
    assert layer.drain() == []
    assert layer.client(cancel_key) is None
    layer.receive(answer(invite, 180), PBX, 0.3)
    out = layer.drain()
    assert out[0] == Deliver(answer(invite, 180), key)
    assert [m.method for m in sends(out) if isinstance(m, Request)] == ["CANCEL"]
    assert layer.client(cancel_key) is not None


def test_held_cancel_is_dropped_when_a_final_response_comes_first() -> None:
    layer: TransactionLayer[Addr] = TransactionLayer()
    invite = request()
    key = layer.send_request(invite, PBX, 0.0)
    layer.drain()
    layer.cancel(key, 0.1)
    layer.receive(answer(invite, 486), PBX, 0.3)
    assert [m.method for m in sends(layer.drain()) if isinstance(m, Request)] == ["ACK"]
    assert layer.cancel(key, 0.4) is None


def test_cancelled_invite_without_final_response_is_destroyed_after_64_t1() -> None:
    layer: TransactionLayer[Addr] = TransactionLayer()
    invite = request()
    key = layer.send_request(invite, PBX, 0.0)
    layer.receive(answer(invite, 180), PBX, 0.1)
    cancel_key = layer.cancel(key, 1.0)
    assert cancel_key is not None
    layer.receive(make_response(build_cancel_like(invite), 200, to_tag="callee9"), PBX, 1.1)
    layer.drain()
    timed = run_timers(layer, 100.0)
    assert (33.0, Timeout(key, TimerName.CANCELLED)) in timed
    assert layer.active == 0


def build_cancel_like(invite: Request) -> Request:
    headers = invite.headers.set("CSeq", f"{invite.cseq.seq} CANCEL")
    return Request("CANCEL", invite.uri, headers)


def test_cancel_matching_no_invite_gets_481() -> None:
    layer: TransactionLayer[Addr] = TransactionLayer()
    cancel = build_cancel_like(request())
    layer.receive(cancel, PHONE, 0.0)
    [event] = layer.drain()
    assert isinstance(event, CancelReceived)
    assert event.invite_key is None
    layer.answer_cancel(event, 0.0)
    [sent] = layer.drain()
    assert isinstance(sent, Send)
    assert isinstance(sent.message, Response)
    assert sent.message.status == 481
    assert sent.message.to_tag  # a final response always carries a To tag (§8.2.6.2)


def test_cancel_after_the_2xx_is_answered_200_with_the_2xx_tag_and_no_487() -> None:
    layer: TransactionLayer[Addr] = TransactionLayer()
    invite = request()
    layer.receive(invite, PHONE, 0.0)
    layer.respond(invite, answer(invite, 200), 0.1)
    layer.drain()
    layer.receive(build_cancel_like(invite), PHONE, 0.2)
    [event] = layer.drain()
    assert isinstance(event, CancelReceived)
    assert event.invite_key == server_key(invite)
    assert not event.invite_pending
    layer.answer_cancel(event, 0.2)
    replies = [m for m in sends(layer.drain()) if isinstance(m, Response)]
    assert [(r.status, r.cseq.method, r.to_tag) for r in replies] == [(200, "CANCEL", "callee9")]


# -- merged requests -------------------------------------------------------------------------


def test_merged_request_is_reported_for_a_482() -> None:
    layer: TransactionLayer[Addr] = TransactionLayer()
    first = request(branch="z9hG4bKviaA")
    layer.receive(first, PHONE, 0.0)
    second = request(branch="z9hG4bKviaB", sent_by="10.0.0.7")
    layer.receive(second, Addr("10.0.0.7"), 0.1)
    out = layer.drain()
    assert isinstance(out[0], NewRequest)
    assert out[1] == MergedRequest(second, Addr("10.0.0.7"), server_key(second), server_key(first))
    layer.respond(second, answer(second, 482), 0.1)
    assert [r.status for r in sends(layer.drain()) if isinstance(r, Response)] == [482]
    # In-dialog requests (To tag) and other CSeq numbers are not merged.
    layer.receive(request(branch="z9hG4bKviaC", to_tag="x"), PHONE, 0.2)
    layer.receive(request(branch="z9hG4bKviaD", seq=2), PHONE, 0.2)
    assert [type(o) for o in layer.drain()] == [NewRequest, NewRequest]


# -- property --------------------------------------------------------------------------------

MAX_DELAY = T1  # the network may hold a message this long, in any order, duplicated


@dataclass
class InFlight:
    message: Request | Response
    to_uas: bool
    sent_at: float


@dataclass
class Net:
    reliable: bool
    uac: TransactionLayer[Addr] = field(default_factory=TransactionLayer)
    uas: TransactionLayer[Addr] = field(default_factory=TransactionLayer)
    now: float = 0.0
    flight: list[InFlight] = field(default_factory=list)
    uac_log: list[Output[Addr]] = field(default_factory=list)
    uas_log: list[Output[Addr]] = field(default_factory=list)

    def collect(self) -> None:
        """Move outputs to the logs and the network; the UAS TU answers a CANCEL at once."""
        while True:
            from_uac, from_uas = self.uac.drain(), self.uas.drain()
            if not from_uac and not from_uas:
                return
            for outputs, log, to_uas in (
                (from_uac, self.uac_log, True),
                (from_uas, self.uas_log, False),
            ):
                for o in outputs:
                    log.append(o)
                    if isinstance(o, Send):
                        self.flight.append(InFlight(o.message, to_uas, self.now))
                    elif isinstance(o, CancelReceived):
                        self.uas.answer_cancel(o, self.now)

    def deliver(self, index: int) -> None:
        if self.flight:
            item = self.flight.pop(index % len(self.flight))
            peer = Addr("uac" if item.to_uas else "uas", self.reliable)
            (self.uas if item.to_uas else self.uac).receive(item.message, peer, self.now)
            self.collect()

    def advance(self, target: float) -> None:
        """Move the clock, firing timers on time; nothing stays in flight over MAX_DELAY."""
        while True:
            while overdue := [
                i for i, f in enumerate(self.flight) if f.sent_at + MAX_DELAY <= target
            ]:
                self.deliver(overdue[0])
            deadlines = [d for d in (self.uac.get_timer(), self.uas.get_timer()) if d is not None]
            if not deadlines or min(deadlines) > target:
                break
            self.now = max(self.now, min(deadlines))
            self.uac.handle_timer(self.now)
            self.uas.handle_timer(self.now)
            self.collect()
        self.now = target


operations = st.lists(
    st.one_of(
        st.tuples(st.just("deliver"), st.integers(0, 20)),
        st.tuples(st.just("duplicate"), st.integers(0, 20)),
        st.tuples(st.just("advance"), st.integers(0, 4000)),  # milliseconds
        st.tuples(st.just("answer"), st.just(0)),
        st.tuples(st.just("cancel"), st.just(0)),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(
    invite=st.booleans(),
    reliable=st.booleans(),
    provisionals=st.lists(st.sampled_from([180, 183]), max_size=2),
    final=st.sampled_from([200, 404, 486, 603]),
    ops=operations,
)
def test_property_distinct_deliveries_and_termination(
    invite: bool,
    reliable: bool,
    provisionals: list[int],
    final: int,
    ops: list[tuple[str, int]],
) -> None:
    cfg = TimerConfig()
    net = Net(reliable)
    req = request("INVITE" if invite else "OPTIONS", branch="z9hG4bKprop")
    key = net.uac.send_request(req, Addr("uas", reliable), 0.0)
    net.collect()
    script = [answer(req, s) for s in [*provisionals, final]]

    def tu_answers() -> None:
        news = [o for o in net.uas_log if isinstance(o, NewRequest)]
        if news and script and net.uas.server(news[0].key) is not None:
            net.uas.respond(news[0].key, script.pop(0), net.now)
            net.collect()

    for op, arg in ops:
        match op:
            case "deliver":
                net.deliver(arg)
            case "duplicate":
                if net.flight and not reliable:  # TCP never duplicates
                    item = net.flight[arg % len(net.flight)]
                    net.flight.append(InFlight(item.message, item.to_uas, item.sent_at))
            case "advance":
                net.advance(net.now + arg / 1000)
            case "cancel":
                if invite:
                    net.uac.cancel(key, net.now)
                    net.collect()
            case _:
                tu_answers()
    # The peers settle: every message arrives, the TU gives its remaining answers.
    net.advance(net.now + MAX_DELAY)
    while script and net.uas.active:
        tu_answers()
        net.advance(net.now + MAX_DELAY)
    net.advance(net.now + cfg.timeout + cfg.t4 + MAX_DELAY)

    delivered = [(o.key, o.response) for o in net.uac_log if isinstance(o, Deliver)]
    assert len(delivered) == len(set(delivered))
    assert len([o for o in net.uas_log if isinstance(o, NewRequest)]) == 1
    for log in (net.uac_log, net.uas_log):
        ended = [o.key for o in log if isinstance(o, Terminated)]
        assert len(ended) == len(set(ended))
        assert key in ended
    assert net.uac.active == net.uas.active == 0
    assert net.uac.get_timer() is None
    assert net.uas.get_timer() is None
