"""The bridge's short cut for plain audio (`RtpSession.relay_audio`) sends exactly what the full
path sends: the same packets out, the same counters, for any mix of streams, gaps, strangers,
events and packets the short cut must leave to the full path."""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from vpbx.media.bridge import Bridge
from vpbx.media.rtp import RtpPacket
from vpbx.media.session import Address, RtpSession

from .test_session import make_pool

PEER: Address = ("127.0.0.1", 40_000)
STRANGER: Address = ("127.0.0.1", 40_002)
SSRCS = (0x1111_1111, 0x2222_2222, 0x3333_3333)


@dataclass(frozen=True)
class Sent:
    """One packet arriving at `a`: who sent it and how its header moves on from the last."""

    stranger: bool
    ssrc: int
    sequence_step: int
    timestamp_step: int
    marker: bool
    payload_type: int
    csrc: bool


packets = st.lists(
    st.builds(
        Sent,
        stranger=st.sampled_from((False, False, False, True)),
        ssrc=st.sampled_from(SSRCS[:1] * 6 + SSRCS[1:]),
        sequence_step=st.sampled_from((1, 1, 1, 1, 2, 0, -1)),
        timestamp_step=st.sampled_from((160, 160, 160, 160, 320, 0, -160, 60_000)),
        marker=st.booleans(),
        payload_type=st.sampled_from((0, 0, 0, 0, 0, 101, 8)),
        csrc=st.sampled_from((False, False, False, False, True)),
    ),
    min_size=1,
    max_size=120,
)


class _Wire:
    """Stands in for b's socket: what b sends to its peer."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def sendto(self, data: bytes, addr: Address) -> None:
        self.sent.append(bytes(data))


def _datagrams(sent: list[Sent]) -> list[tuple[bytes, Address]]:
    out = []
    sequence, timestamp = 1000, 50_000
    for n, p in enumerate(sent):
        sequence = (sequence + p.sequence_step) & 0xFFFF
        timestamp = (timestamp + p.timestamp_step) & 0xFFFF_FFFF
        if p.payload_type == 101:
            payload = bytes([5, 0x0A, 0, 160])  # RFC 4733: key 5, volume 10, 160 samples
        else:
            payload = bytes((n + i) & 0xFF for i in range(160))
        packet = RtpPacket(
            payload_type=p.payload_type,
            sequence=sequence,
            timestamp=timestamp,
            ssrc=p.ssrc,
            payload=payload,
            marker=p.marker,
            csrc=(7,) if p.csrc else (),
        )
        out.append((packet.serialize(), STRANGER if p.stranger else PEER))
    return out


def _normalised(sent: list[bytes]) -> list[tuple[int, int, bool, int, bytes]]:
    """Sequence and timestamp relative to b's first packet (its stream starts at random)."""
    if not sent:
        return []
    first = RtpPacket.parse(sent[0])
    out = []
    for data in sent:
        p = RtpPacket.parse(data)
        out.append(
            (
                (p.sequence - first.sequence) & 0xFFFF,
                (p.timestamp - first.timestamp) & 0xFFFF_FFFF,
                p.marker,
                p.payload_type,
                p.payload,
            )
        )
    return out


async def _relay(
    datagrams: list[tuple[bytes, Address]], *, shortcut: bool
) -> tuple[list[bytes], dict[str, int], int]:
    pool = make_pool()
    a = await RtpSession.open(pool, remote_addr=PEER, name="a")
    b = await RtpSession.open(pool, remote_addr=("127.0.0.1", 40_004), name="b")
    wire = _Wire()
    real = b._rtp_transport
    b._rtp_transport = wire  # type: ignore[assignment]
    try:
        bridge = Bridge(a, b, fast=False)  # the Python relay's short cut (native: test_fastrelay)
        bridge.start()
        if not shortcut:
            a.add_listener(lambda packet, arrival: None)  # a second listener: full path only
        for data, addr in datagrams:
            a._on_rtp_datagram(data, addr)
        bridge.stop()
    finally:
        b._rtp_transport = real
        await a.aclose()
        await b.aclose()
    stats = a.stats.as_dict()
    return wire.sent, stats, b.stats.sent_packets


@settings(max_examples=60, deadline=None)
@given(packets)
def test_the_short_cut_sends_what_the_full_path_sends(sent: list[Sent]) -> None:
    datagrams = _datagrams(sent)
    fast_sent, *fast = asyncio.run(_relay(datagrams, shortcut=True))
    full_sent, *full = asyncio.run(_relay(datagrams, shortcut=False))
    assert _normalised(fast_sent) == _normalised(full_sent)
    assert fast == full


async def test_a_plain_talk_takes_the_short_cut_and_a_recorder_turns_it_off() -> None:
    """The short cut is taken (no packet object is made for a plain audio packet), and left
    as soon as another listener wants the packets."""
    made: list[int] = []
    original = RtpPacket.parse

    def counting(data: bytes) -> RtpPacket:
        made.append(1)
        return original(data)

    datagrams = [
        (struct.pack("!BBHII", 0x80, 0, 100 + i, 160 * i, SSRCS[0]) + bytes(160), PEER)
        for i in range(50)
    ]
    RtpPacket.parse = counting  # type: ignore[method-assign]
    try:
        fast = await _relay(datagrams, shortcut=True)
        parsed_fast = len(made)
        made.clear()
        full = await _relay(datagrams, shortcut=False)
        parsed_full = len(made)
    finally:
        RtpPacket.parse = original  # type: ignore[method-assign]
    assert _normalised(fast[0]) == _normalised(full[0])
    assert fast[1:] == full[1:]
    assert len(fast[0]) == 50
    # the first packet latches the peer and its stream: the full path; the rest: the short cut
    assert parsed_fast <= 2
    assert parsed_full >= 50
