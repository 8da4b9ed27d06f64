"""What lingering transactions keep for the garbage collector to walk (issue 17, "No pauses").

A UDP call leaves its transactions behind for up to 32 s after it ends (Timer J of the BYE it
received, the accepted INVITE's record, Timer K of the BYE it sent) only to absorb
retransmissions. At 100 calls/s that is ~3,200 calls' worth at any time, and every object they
keep that the collector tracks is walked at each collection of its generation: the 262 ms
generation-1 pause of the stall benchmark walked mostly these. The calls here go through one
`TransactionLayer` as the switch's do (messages parsed from bytes, the endpoint's and the
counters' reads of what is sent, the TU's validation of what comes in, a new peer object per
datagram as the transport makes), and the test counts the collector-tracked objects the layer
still reaches once they have ended.
"""

from __future__ import annotations

import gc
from collections import Counter
from dataclasses import dataclass

from vpbx.sip.message import Message, Request, Response, make_response
from vpbx.sip.parser import parse_message, serialize
from vpbx.sip.transaction import (
    Ack,
    Deliver,
    NewRequest,
    Output,
    Send,
    TransactionKey,
    TransactionLayer,
)
from vpbx.sip.validate import validate_request, validate_response

CALLS = 200
CALL_GAP = 0.01  # 100 calls/s
#: What a call may leave behind while its transactions linger: the BYE it answered (the
#: transaction, its key, its peer, the bare 200 it repeats: a `Response` and its `Headers`), the
#: accepted INVITE's record (itself, key, peer) and, for Timer K's 5 s, the BYE it sent
#: (transaction, key, peer): 11. It was 65 before the transactions let go of their requests and
#: of the parsed copies of what they repeat, and kept their timers, outboxes, merge entries and
#: deadlines in objects the collector tracks.
MAX_OBJECTS_PER_CALL = 12


@dataclass(frozen=True, slots=True)
class Datagram:
    """The transport's peer: a new one for each datagram, as `vpbx.transport.sip` makes."""

    host: str
    port: int
    reliable: bool = False


SDP = (
    b"v=0\r\no=- 1 1 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\n"
    b"m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
)


def _wire(text: str, body: bytes = b"") -> Message:
    """A message as the transport hands it over: parsed from its bytes."""
    head = text.strip().replace("\n", "\r\n")
    if body:
        head += "\r\nContent-Type: application/sdp"
    return parse_message(
        f"{head}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body,
    )


def _request(method: str, n: int, branch: str, seq: int, to_tag: str = "") -> Request:
    to = f";tag={to_tag}" if to_tag else ""
    message = _wire(
        f"""
{method} sip:74951234567@10.0.0.2:5060 SIP/2.0
Via: SIP/2.0/UDP 10.0.0.9:5061;branch=z9hG4bK{branch}-{n};rport
Max-Forwards: 70
From: "Trunk" <sip:79161234567@10.0.0.9>;tag=trunk-{n}
To: <sip:74951234567@10.0.0.2>{to}
Call-ID: call-{n}@10.0.0.9
CSeq: {seq} {method}
Contact: <sip:79161234567@10.0.0.9:5061>
User-Agent: SIPp
""",
        SDP if method == "INVITE" else b"",
    )
    assert isinstance(message, Request)
    return message


def _response(request: Request, status: int, to_tag: str) -> Response:
    """The employee's answer to one of our requests, as it comes back from the wire."""
    response = make_response(request, status, to_tag=to_tag)
    parsed = parse_message(serialize(response))
    assert isinstance(parsed, Response)
    return parsed


class Switch:
    """The layer with what the endpoint and the call do around it (`vpbx.switch.endpoint`)."""

    def __init__(self) -> None:
        self.layer: TransactionLayer[Datagram] = TransactionLayer()
        self.now = 0.0

    def run(self) -> list[Output[Datagram]]:
        outputs = self.layer.drain()
        for output in outputs:
            match output:
                case Send(message=Response() as response):
                    _ = response.vias, response.cseq  # response_destination, the counters
                case NewRequest(request=request) | Ack(request=request):
                    assert validate_request(request) is None
                case Deliver(response=response):
                    assert validate_response(response) is None
        return outputs

    def receive(self, message: Message, port: int = 5061) -> list[Output[Datagram]]:
        self.layer.receive(message, Datagram("10.0.0.9", port), self.now)
        return self.run()

    def respond(self, request: Request, status: int, tag: str) -> None:
        headers = [("Contact", "<sip:pbx@10.0.0.2:5060>")] if status == 200 else []
        body = b""
        if status == 200 and request.method == "INVITE":
            headers.append(("Content-Type", "application/sdp"))
            body = SDP
        response = make_response(request, status, to_tag=tag, headers=headers, body=body)
        assert self.layer.respond(request, response, self.now)
        self.run()

    def send(self, request: Request) -> TransactionKey:
        key = self.layer.send_request(request, Datagram("10.0.0.5", 5070), self.now)
        self.run()
        return key

    def call(self, n: int) -> None:
        """Trunk → switch → a registered line, answered, then hung up by the trunk (the stall
        benchmark's calls, squeezed in time: only what is left afterwards matters)."""
        self.layer.handle_timer(self.now)  # the endpoint's timer, as time goes by
        self.run()
        tag = f"pbx-{n}"
        invite = _request("INVITE", n, "inv", 1)
        self.receive(invite)
        self.respond(invite, 180, tag)
        leg = _outbound("INVITE", n, 1)
        self.send(leg)
        for status in (100, 180, 200):
            self.receive(_response(leg, status, f"line-{n}"), 5070)
        self.respond(invite, 200, tag)
        self.receive(_request("ACK", n, "ack", 1, tag))
        self.receive(_request("BYE", n, "bye", 2, tag))  # the trunk hangs up
        bye = self.layer.drain()
        assert bye == []
        self.respond(_request("BYE", n, "bye", 2, tag), 200, tag)
        out = _outbound("BYE", n, 2, to_tag=f"line-{n}")
        self.send(out)
        self.receive(_response(out, 200, f"line-{n}"), 5070)


def _outbound(method: str, n: int, seq: int, to_tag: str = "") -> Request:
    to = f";tag={to_tag}" if to_tag else ""
    message = _wire(
        f"""
{method} sip:101@10.0.0.5:5070 SIP/2.0
Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKout{method}-{n};rport
Max-Forwards: 70
From: "Trunk" <sip:79161234567@10.0.0.2>;tag=leg-{n}
To: <sip:101@10.0.0.5>{to}
Call-ID: leg-{n}@10.0.0.2
CSeq: {seq} {method}
Contact: <sip:pbx@10.0.0.2:5060>
""",
        SDP if method == "INVITE" else b"",
    )
    assert isinstance(message, Request)
    return message


def _kept(root: object, old: set[int]) -> Counter[str]:
    """The objects the collector tracks that `root` reaches and that were made after `old` was
    taken (a full collection first: it stops tracking tuples and dicts of atomic values, as it
    would in the switch)."""
    gc.collect()
    seen: set[int] = set()
    kept: Counter[str] = Counter()
    stack = [root]
    while stack:
        for ref in gc.get_referents(stack.pop()):
            if id(ref) in seen or id(ref) in old or not gc.is_tracked(ref):
                continue
            seen.add(id(ref))
            kept[type(ref).__qualname__] += 1
            stack.append(ref)
    return kept


def test_a_lingering_call_keeps_few_objects_for_the_collector() -> None:
    before = gc.get_objects()  # held: their ids cannot be reused by what the calls make
    old = {id(o) for o in before}
    idle, switch = Switch(), Switch()
    for n in range(CALLS):
        switch.now = n * CALL_GAP
        switch.call(n)
    switch.now += 1.0  # every call over; Timers J, K and the accepted records still run
    assert switch.layer.active == 3 * CALLS
    kept = _kept(switch.layer, old) - _kept(idle.layer, old)
    per_call = sum(kept.values()) / CALLS
    assert per_call <= MAX_OBJECTS_PER_CALL, f"{per_call:.1f} objects a call: {kept.most_common()}"


def test_ended_transactions_keep_nothing() -> None:
    before = gc.get_objects()
    old = {id(o) for o in before}
    idle, switch = Switch(), Switch()
    for n in range(20):
        switch.now = n * CALL_GAP
        switch.call(n)
    switch.now = 100.0  # past 64*T1
    switch.layer.handle_timer(switch.now)
    switch.run()
    assert switch.layer.active == 0
    assert switch.layer.get_timer() is None
    assert _kept(switch.layer, old) == _kept(idle.layer, old)
