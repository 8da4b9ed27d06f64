"""The endpoint lets go of a request's callbacks at its final response (issue 17, "No pauses"):
the callbacks hold their call, and a non-INVITE transaction lingers 5 s more (Timer K on UDP)
only to absorb retransmitted responses."""

from __future__ import annotations

import asyncio
import gc
import socket
import weakref

from vpbx.sip.message import Headers, Request, Response, make_response
from vpbx.sip.parser import parse_message, serialize
from vpbx.sip.transaction import CancelReceived, ClientNonInviteState
from vpbx.sip.uri import parse_uri
from vpbx.switch.endpoint import SipEndpoint
from vpbx.transport.sip import Peer


class _NoRequests:
    def on_request(self, request: Request, peer: Peer, key: object) -> None:
        raise AssertionError(f"unexpected {request.method}")

    def on_cancel(self, event: CancelReceived[Peer]) -> None:
        raise AssertionError("unexpected CANCEL")

    def on_ack(self, request: Request, peer: Peer) -> None:
        raise AssertionError("unexpected ACK")

    def on_stray_response(self, response: Response, peer: Peer) -> None:
        raise AssertionError(f"unexpected {response.status}")


class _Call:
    """Stands for the call a BYE's callback belongs to."""

    def __init__(self) -> None:
        self.answered = asyncio.Event()
        self.statuses: list[int] = []

    def on_response(self, response: Response) -> None:
        self.statuses.append(response.status)
        self.answered.set()


def _bye(port: int) -> Request:
    headers = [
        ("Via", f"SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKbye-retention"),
        ("Max-Forwards", "70"),
        ("From", "<sip:pbx@127.0.0.1>;tag=pbx1"),
        ("To", "<sip:101@127.0.0.1>;tag=line1"),
        ("Call-ID", "retention@127.0.0.1"),
        ("CSeq", "2 BYE"),
    ]
    return Request("BYE", parse_uri("sip:101@127.0.0.1"), Headers(headers))


async def test_a_final_response_releases_the_callbacks_while_timer_k_runs() -> None:
    endpoint = SipEndpoint("127.0.0.1", 0)
    await endpoint.start(_NoRequests())
    line = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    line.bind(("127.0.0.1", 0))
    line.settimeout(5)
    try:
        call = _Call()
        answered = call.answered
        key = endpoint.send_request(
            _bye(endpoint.port), Peer("udp", "127.0.0.1", line.getsockname()[1]), call.on_response
        )
        data, source = await asyncio.to_thread(line.recvfrom, 65535)
        request = parse_message(data)
        assert isinstance(request, Request)
        assert request.method == "BYE"
        line.sendto(serialize(make_response(request, 200)), source)
        await asyncio.wait_for(answered.wait(), 5)
        assert call.statuses == [200]
        gone = weakref.ref(call)
        del call
        gc.collect()
        # Timer K still runs (absorbing a retransmitted 200), the call is no longer held.
        txn = endpoint.layer.client(key)
        assert txn is not None
        assert txn.state is ClientNonInviteState.COMPLETED
        assert gone() is None
    finally:
        line.close()
        await endpoint.stop()
