"""Two-party bridge over real UDP: relay, PCMU↔PCMA transcoding, DTMF relayed or consumed."""

from __future__ import annotations

import asyncio
import itertools

import numpy as np
import pytest

from vpbx.media import g711
from vpbx.media.bridge import Bridge
from vpbx.media.dtmf import DtmfReceiver
from vpbx.media.session import RtpSession
from vpbx.media.tones import dominant_frequency, sine

from .test_session import Peer, make_pool

# each test runs with the Python relay and with the native one (conftest.relay_mode)
pytestmark = pytest.mark.usefixtures("relay_mode")


async def _legs(
    pt_a: int, pt_b: int, *, dtmf_a: int = 101, dtmf_b: int = 101
) -> tuple[Peer, Peer, RtpSession, RtpSession]:
    pool = make_pool()
    peer_a = await Peer.create()
    peer_b = await Peer.create()
    a = await RtpSession.open(
        pool, remote_addr=peer_a.addr, payload_type=pt_a, dtmf_payload_type=dtmf_a, name="a"
    )
    b = await RtpSession.open(
        pool, remote_addr=peer_b.addr, payload_type=pt_b, dtmf_payload_type=dtmf_b, name="b"
    )
    return peer_a, peer_b, a, b


async def _close(*things: Peer | RtpSession) -> None:
    for thing in things:
        if isinstance(thing, RtpSession):
            await thing.aclose()
        else:
            thing.close()


async def test_same_codec_is_relayed_untouched_with_continuous_numbering() -> None:
    peer_a, peer_b, a, b = await _legs(0, 0)
    try:
        b.play([sine(300, 5.0)])  # ringback-like media before the answer
        await asyncio.sleep(0.2)
        bridge = Bridge(a, b)
        bridge.start()
        assert not bridge.transcoding
        await asyncio.sleep(0.05)  # the prompt's last packets are still on their way
        before = len(peer_b.packets)
        tone = sine(1000, 0.6)
        await peer_a.stream(tone, a.local_addr, pt=0)
        await asyncio.sleep(0.1)
        bridge.stop()
    finally:
        await _close(a, b, peer_a, peer_b)
    packets = [p for p, _ in peer_b.packets]
    assert {p.ssrc for p in packets} == {b.ssrc}
    for x, y in itertools.pairwise(packets):
        assert y.sequence == (x.sequence + 1) & 0xFFFF
    relayed = packets[before:]
    assert relayed[0].marker
    assert b"".join(p.payload for p in relayed) == g711.ulaw_encode(tone)
    for x, y in itertools.pairwise(relayed):
        assert y.timestamp == (x.timestamp + 160) & 0xFFFF_FFFF


async def test_pcmu_to_pcma_transcoding_keeps_the_tone_both_ways() -> None:
    peer_a, peer_b, a, b = await _legs(0, 8)
    try:
        bridge = Bridge(a, b)
        bridge.start()
        assert bridge.transcoding
        await asyncio.gather(
            peer_a.stream(sine(1000, 0.6), a.local_addr, pt=0),
            peer_b.stream(sine(600, 0.6), b.local_addr, pt=8),
        )
        await asyncio.sleep(0.1)
    finally:
        await _close(a, b, peer_a, peer_b)
    assert {p.payload_type for p, _ in peer_b.packets} == {8}
    assert {p.payload_type for p, _ in peer_a.packets} == {0}
    assert dominant_frequency(peer_b.audio(8)) == pytest.approx(1000, abs=3)
    assert dominant_frequency(peer_a.audio(0)) == pytest.approx(600, abs=3)


async def test_dtmf_is_relayed_or_consumed_depending_on_the_switch() -> None:
    peer_a, peer_b, a, b = await _legs(0, 8, dtmf_a=101, dtmf_b=96)
    consumed: list[tuple[str, str]] = []
    try:
        bridge = Bridge(a, b, on_dtmf=lambda s, d: consumed.append((s.name, d.digit)))
        bridge.start()
        # Some audio first so event timestamps map into b's timeline.
        await peer_a.stream(sine(1000, 0.1), a.local_addr, pt=0)
        await peer_a.send_digits("12#", a.local_addr, pt=101)
        await asyncio.sleep(0.1)
        relayed_events = [p for p, _ in peer_b.packets if p.payload_type == 96]
        bridge.consume_dtmf = True  # the call logic now listens for talk-option keys
        await peer_a.send_digits("45", a.local_addr, pt=101)
        await asyncio.sleep(0.1)
        after = [p for p, _ in peer_b.packets if p.payload_type == 96]
        bridge.stop()
        assert a.dtmf_handler is None
    finally:
        await _close(a, b, peer_a, peer_b)
    receiver = DtmfReceiver()
    digits = []
    for packet in relayed_events:
        assert packet.ssrc == b.ssrc
        digits += receiver.feed(packet.timestamp, packet.sequence, packet.marker, packet.payload, 0)
    assert [d.digit for d in digits] == ["1", "2", "#"]
    assert all(d.duration_samples == 800 for d in digits)
    assert len(after) == len(relayed_events)  # nothing more crossed once consumed
    assert consumed == [("a", "4"), ("a", "5")]
    # The events sit in b's timeline: after the relayed audio, not at a's timestamps.
    audio_ts = [p.timestamp for p, _ in peer_b.packets if p.payload_type == 8]
    assert 0 <= (relayed_events[0].timestamp - audio_ts[0]) & 0xFFFF_FFFF < 8000 * 2


async def test_gaps_and_late_packets_from_the_source() -> None:
    peer_a, peer_b, a, b = await _legs(0, 0)
    try:
        Bridge(a, b).start()
        frame = g711.ulaw_encode(sine(1000, 0.02))
        peer_a.send_rtp(frame, a.local_addr, marker=True)
        peer_a.ts += 1600  # 200 ms of silence suppression
        peer_a.send_rtp(frame, a.local_addr, marker=True)
        peer_a.ts -= 640  # a late packet from before
        peer_a.send_rtp(frame, a.local_addr)
        await asyncio.sleep(0.1)
    finally:
        await _close(a, b, peer_a, peer_b)
    packets = [p for p, _ in peer_b.packets]
    assert len(packets) == 2
    assert (packets[1].timestamp - packets[0].timestamp) & 0xFFFF_FFFF == 1760
    assert packets[1].marker
    assert np.array_equal(g711.ulaw_decode(packets[1].payload), g711.ulaw_decode(frame))
