"""The transport's rules for where answers go and how noise is logged, without sockets."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable

import pytest

from vpbx.sip.message import Request, make_response
from vpbx.sip.parser import parse_message
from vpbx.transport.noise import NoiseLog
from vpbx.transport.sip import Peer, SipTransport, response_destination, stamp_via

SOURCE = Peer("udp", "198.51.100.20", 40000)


def options(via: str) -> Request:
    text = (
        "OPTIONS sip:pbx.example.com SIP/2.0\r\n"
        f"Via: {via}\r\n"
        "From: <sip:a@example.com>;tag=1\r\nTo: <sip:pbx.example.com>\r\n"
        "Call-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    message = parse_message(text.encode())
    assert isinstance(message, Request)
    return message


@pytest.mark.parametrize(
    "via",
    [
        "SIP/2.0/UDP 198.51.100.20:5060;branch=z9hG4bK1",
        "SIP/2.0/UDP 198.51.100.20:5060;received=203.0.113.66;branch=z9hG4bK1",
        "SIP/2.0/UDP victim.example.com:5060;received=203.0.113.66;branch=z9hG4bK1",
        "SIP/2.0/UDP victim.example.com:5060;branch=z9hG4bK1",
        "SIP/2.0/UDP 203.0.113.66:5060;rport;branch=z9hG4bK1",
    ],
)
def test_an_answer_always_goes_to_the_address_the_request_came_from(via: str) -> None:
    """Whatever host or received a sender writes in its Via, the answer's address is the
    packet's source (the port may follow the Via, as RFC 3261 §18.2.2 says, but the host is
    ours to know): no reflection at a third party, no host name to resolve."""
    stamped = stamp_via(options(via), SOURCE)
    destination = response_destination(make_response(stamped, 200), SOURCE)
    assert destination.host == SOURCE.host


def test_rport_sends_the_answer_to_the_source_port() -> None:
    stamped = stamp_via(options("SIP/2.0/UDP 10.0.0.1:5060;rport;branch=z9hG4bK1"), SOURCE)
    assert response_destination(make_response(stamped, 200), SOURCE) == Peer(
        "udp", SOURCE.host, SOURCE.port
    )


def test_noise_is_logged_once_then_summarised_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fired: list[Callable[[], None]] = []

    class Handle:
        def cancel(self) -> None:
            pass

    def schedule(delay: float, callback: Callable[[], None]) -> Handle:
        fired.append(callback)
        return Handle()

    logger = logging.getLogger("test.noise")
    caplog.set_level(logging.INFO, logger="test.noise")
    noise = NoiseLog(logger, 10.0, schedule=schedule)  # type: ignore[arg-type]
    for i in range(10_000):
        noise.record("malformed sip message", f"reason {i % 3}", f"udp:10.0.{i % 7}.1")
    assert len(caplog.records) == 1  # the first, in full
    fired.pop(0)()  # the interval ends: one summary
    assert len(caplog.records) == 2
    summary = caplog.records[1]
    assert summary.count == 9_999  # type: ignore[attr-defined]
    assert summary.reasons == {"reason 0": 3333, "reason 1": 3333, "reason 2": 3333}  # type: ignore[attr-defined]
    assert noise.total == 10_000
    fired.pop(0)()  # a quiet interval: nothing logged, the period ends
    assert len(caplog.records) == 2
    assert not fired
    noise.record("malformed sip message", "again", "udp:10.0.0.1")
    assert len(caplog.records) == 3  # a new period starts with a full line


def test_noise_tables_stay_bounded_under_forged_sources() -> None:
    class Handle:
        def cancel(self) -> None:
            pass

    noise = NoiseLog(logging.getLogger("test.noise"), schedule=lambda d, c: Handle())  # type: ignore[arg-type,return-value]
    for i in range(50_000):
        noise.record("m", f"reason {i}", f"udp:{i}")
    assert noise.total == 50_000
    assert len(noise._reasons) == len(noise._sources) == 1000


def test_a_request_to_a_host_name_is_resolved_off_the_loop_and_sent() -> None:
    """uvloop's sendto raises on a name and the default loop would resolve it blocking: a trunk
    configured by host name gets its requests after an asynchronous lookup."""
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    port = receiver.getsockname()[1]
    message = options("SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1")

    async def send() -> None:
        transport = SipTransport("127.0.0.1", 0, lambda m, p: None)
        await transport.start()
        try:
            transport.send(message, Peer("udp", "localhost", port))
            transport.send(message, Peer("udp", "no-such-host.invalid", port))  # logged, no raise
            await asyncio.sleep(0.5)
        finally:
            await transport.stop()

    asyncio.run(send())
    data = receiver.recv(65535)
    receiver.close()
    assert data.startswith(b"OPTIONS sip:pbx.example.com SIP/2.0")
