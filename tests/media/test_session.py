"""RTP sessions over real UDP sockets on 127.0.0.1, against small asyncio test peers."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import struct
from typing import cast

import numpy as np
import numpy.typing as npt
import pytest

from vpbx.media import g711
from vpbx.media.dtmf import DtmfDigit, dtmf_packets
from vpbx.media.errors import MediaError, PortsExhausted
from vpbx.media.player import PlaybackResult, Player, ToneSource
from vpbx.media.ports import PortPool
from vpbx.media.rtp import (
    Pacer,
    RtcpReceiverReport,
    RtcpSenderReport,
    RtpPacket,
    parse_rtcp,
)
from vpbx.media.session import RtpSession
from vpbx.media.tones import RINGBACK_RU, dominant_frequency, normalized_xcorr_peak, sine

Pcm = npt.NDArray[np.int16]
Address = tuple[str, int]
HOST = "127.0.0.1"


def make_pool(pairs: int = 20) -> PortPool:
    # A random base: other test runs on this machine may hold ports (busy ones are skipped).
    base = random.randrange(20000, 60000, 2)
    return PortPool(base, base + 2 * pairs)


class Peer(asyncio.DatagramProtocol):
    """A phone's media socket: records what it receives, sends what the test tells it to."""

    def __init__(self) -> None:
        self.packets: list[tuple[RtpPacket, float]] = []
        self.raw: list[tuple[bytes, Address]] = []
        self.transport: asyncio.DatagramTransport | None = None
        self.ssrc = random.getrandbits(32)
        self.seq = random.getrandbits(16)
        self.ts = random.getrandbits(32)

    @classmethod
    async def create(cls) -> Peer:
        loop = asyncio.get_running_loop()
        _, peer = await loop.create_datagram_endpoint(cls, local_addr=(HOST, 0))
        return peer

    @property
    def addr(self) -> Address:
        assert self.transport is not None
        sockname: Address = self.transport.get_extra_info("sockname")
        return sockname

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.raw.append((data, addr))
        with contextlib.suppress(ValueError):
            self.packets.append((RtpPacket.parse(data), asyncio.get_running_loop().time()))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def send(self, data: bytes, dest: Address) -> None:
        assert self.transport is not None
        self.transport.sendto(data, dest)

    def send_rtp(
        self,
        payload: bytes,
        dest: Address,
        *,
        pt: int = 0,
        marker: bool = False,
        timestamp: int | None = None,
        advance: int = 160,
        ssrc: int | None = None,
    ) -> None:
        ts = self.ts if timestamp is None else timestamp
        packet = RtpPacket(pt, self.seq, ts, self.ssrc if ssrc is None else ssrc, payload, marker)
        self.send(packet.serialize(), dest)
        self.seq = (self.seq + 1) & 0xFFFF
        self.ts = (self.ts + advance) & 0xFFFF_FFFF

    async def stream(self, pcm: Pcm, dest: Address, *, pt: int = 0) -> None:
        """Send pcm as 20 ms packets in real time (drift-free, like a phone)."""
        encode = g711.ulaw_encode if pt == 0 else g711.alaw_encode
        loop = asyncio.get_running_loop()
        pacer = Pacer(loop.time())
        frames = [pcm[i : i + 160] for i in range(0, len(pcm) - 159, 160)]
        sent = 0
        while sent < len(frames):
            for _ in range(pacer.due(loop.time())):
                if sent < len(frames):
                    self.send_rtp(encode(frames[sent]), dest, pt=pt, marker=sent == 0)
                    sent += 1
            await asyncio.sleep(max(0.0, pacer.next_deadline - loop.time()))

    async def send_digits(
        self, digits: str, dest: Address, *, pt: int = 101, duration_ms: float = 100
    ) -> None:
        """RFC 4733 key presses, with packets at their real offsets."""
        loop = asyncio.get_running_loop()
        for digit in digits:
            start = loop.time()
            for packet in dtmf_packets(digit, duration_ms, timestamp=self.ts):
                await asyncio.sleep(max(0.0, start + packet.offset - loop.time()))
                self.send_rtp(
                    packet.payload,
                    dest,
                    pt=pt,
                    marker=packet.marker,
                    timestamp=packet.timestamp,
                    advance=0,
                )
            self.ts = (self.ts + round(duration_ms * 8) + 800) & 0xFFFF_FFFF
            await asyncio.sleep(0.05)

    def audio(self, pt: int | None = None) -> Pcm:
        """Everything received, decoded in arrival order (G.711 packets only)."""
        parts = []
        for packet, _ in self.packets:
            if packet.payload_type == 0 and pt in (None, 0):
                parts.append(g711.ulaw_decode(packet.payload))
            elif packet.payload_type == 8 and pt in (None, 8):
                parts.append(g711.alaw_decode(packet.payload))
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)


def band_power(pcm: Pcm, freq: float, width: float = 20.0) -> float:
    """Share of the signal's energy within ±width Hz of freq."""
    x = pcm.astype(np.float64) - float(np.mean(pcm))
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size))) ** 2
    bins = np.fft.rfftfreq(x.size, 1 / 8000)
    total = float(spectrum.sum()) or 1.0
    return float(spectrum[(bins > freq - width) & (bins < freq + width)].sum()) / total


def speechlike(seconds: float, seed: int = 1) -> Pcm:
    """A non-periodic test prompt: noise shaped by a syllable-like envelope."""
    rng = np.random.default_rng(seed)
    n = round(seconds * 8000)
    noise = np.convolve(rng.standard_normal(n), np.ones(6) / 6, mode="same")
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * np.arange(n) / 8000)
    return np.clip(noise * envelope * 6000, -32768, 32767).astype(np.int16)


async def wait_for(predicate: object, limit: float = 3.0) -> None:
    assert callable(predicate)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


# --- ports --------------------------------------------------------------------------------


def test_port_pool_hands_out_even_pairs_and_reports_exhaustion() -> None:
    pool = PortPool(30001, 30005)
    ports = [pool.acquire(), pool.acquire()]
    assert ports == [30002, 30004]
    assert pool.available == 0
    with pytest.raises(PortsExhausted, match="30002-30005"):
        pool.acquire()
    pool.release(30002)
    assert pool.acquire() == 30002
    with pytest.raises(ValueError, match="not allocated"):
        pool.release(40000)


async def test_session_binds_even_rtp_and_odd_rtcp_and_releases_on_close() -> None:
    pool = make_pool(2)
    a = await RtpSession.open(pool)
    b = await RtpSession.open(pool)
    assert a.local_port % 2 == 0
    assert b.local_port % 2 == 0
    with pytest.raises(PortsExhausted):
        await RtpSession.open(pool)
    await a.aclose()
    await b.aclose()
    assert pool.available == 2
    c = await RtpSession.open(pool)  # a released pair really binds again
    await c.aclose()


async def test_busy_pairs_are_skipped() -> None:
    pool = make_pool(2)
    first = pool.acquire()
    pool.release(first)
    pool.acquire()  # rotate: `first` is next again after this one comes back
    pool.release(first + 2)
    loop = asyncio.get_running_loop()
    # Another process holds the first pair's RTCP port: the session must move on.
    blocker, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=(HOST, first + 1)
    )
    try:
        session = await RtpSession.open(pool)
        assert session.local_port == first + 2
        await session.aclose()
    finally:
        blocker.close()
    assert pool.available == 2


async def test_unsupported_codec_is_refused() -> None:
    with pytest.raises(MediaError, match="payload type 18"):
        await RtpSession.open(make_pool(), payload_type=18)


# --- pacing and continuity -----------------------------------------------------------------


async def test_pacing_and_continuity_across_a_prompt_change() -> None:
    peer = await Peer.create()
    session = await RtpSession.open(make_pool(), remote_addr=peer.addr)
    try:
        first = session.play([sine(440, 5.0)])
        await asyncio.sleep(1.0)
        session.play([sine(880, 5.0)])
        await asyncio.sleep(1.3)
        assert first.result is PlaybackResult.STOPPED
    finally:
        await session.aclose()
        peer.close()
    packets = peer.packets
    start = packets[0][1]
    window = [p for p, t in packets if t < start + 2.0 - 0.01]
    assert 98 <= len(window) <= 102
    assert {p.ssrc for p, _ in packets} == {session.ssrc}
    for (a, _), (b, _) in itertools.pairwise(packets):
        assert b.sequence == (a.sequence + 1) & 0xFFFF
        assert b.timestamp == (a.timestamp + 160) & 0xFFFF_FFFF
    markers = [i for i, (p, _) in enumerate(packets) if p.marker]
    assert markers[0] == 0
    assert len(markers) == 2  # the first packet and the prompt change
    # The change really happened where the marker is.
    before = g711.ulaw_decode(b"".join(p.payload for p, _ in packets[markers[1] - 20 : markers[1]]))
    after = g711.ulaw_decode(b"".join(p.payload for p, _ in packets[markers[1] : markers[1] + 20]))
    assert dominant_frequency(before) == pytest.approx(440, abs=5)
    assert dominant_frequency(after) == pytest.approx(880, abs=5)


async def test_played_prompt_correlates_with_its_source_and_reports_done() -> None:
    peer = await Peer.create()
    session = await RtpSession.open(make_pool(), remote_addr=peer.addr)
    prompt = speechlike(1.0)
    done: list[PlaybackResult] = []
    player = Player([prompt[:3000], prompt[3000:]], on_done=lambda _p, r: done.append(r))
    try:
        session.set_source(player)
        assert await asyncio.wait_for(player.wait(), 3) is PlaybackResult.COMPLETED
        await asyncio.sleep(0.1)
    finally:
        await session.aclose()
        peer.close()
    assert done == [PlaybackResult.COMPLETED]
    received = peer.audio()
    assert normalized_xcorr_peak(received, prompt) >= 0.99
    # After the end the stream goes on with silence, not with nothing.
    assert not np.any(received[-800:])


@pytest.mark.parametrize("pt", [0, 8])
async def test_tone_keeps_its_frequency_through_g711(pt: int) -> None:
    peer = await Peer.create()
    session = await RtpSession.open(make_pool(), remote_addr=peer.addr, payload_type=pt)
    try:
        await asyncio.wait_for(session.play([sine(1000, 0.5)]).wait(), 3)
    finally:
        await session.aclose()
        peer.close()
    assert {p.payload_type for p, _ in peer.packets} == {pt}
    assert dominant_frequency(peer.audio(pt)[:4000]) == pytest.approx(1000, abs=3)


async def test_ringback_cadence_source() -> None:
    peer = await Peer.create()
    session = await RtpSession.open(make_pool(), remote_addr=peer.addr)
    try:
        session.set_source(ToneSource(RINGBACK_RU, seconds=0.6))
        await asyncio.sleep(0.8)
    finally:
        await session.aclose()
        peer.close()
    audio = peer.audio()
    assert dominant_frequency(audio[:4000]) == pytest.approx(425, abs=3)


# --- receiving -----------------------------------------------------------------------------


async def test_latching_ignores_a_second_source() -> None:
    phone = await Peer.create()
    intruder = await Peer.create()
    session = await RtpSession.open(make_pool())  # no SDP address: wait for the peer
    try:
        session.play([sine(500, 3.0)])
        await asyncio.sleep(0.1)
        assert phone.packets == []  # nowhere to send yet
        phone.send_rtp(g711.ulaw_encode(sine(300, 0.02)), session.local_addr)
        await wait_for(lambda: session.latched)
        assert session.remote_addr == phone.addr
        for _ in range(10):
            intruder.send_rtp(bytes(160), session.local_addr)
        await wait_for(lambda: session.stats.dropped_foreign_address == 10)
        phone.send_rtp(g711.ulaw_encode(sine(300, 0.02)), session.local_addr)
        await wait_for(lambda: session.stats.received_packets == 2)
        await asyncio.sleep(0.2)
        assert session.remote_addr == phone.addr
    finally:
        await session.aclose()
        phone.close()
        intruder.close()
    assert len(phone.packets) >= 5
    assert intruder.packets == []


async def test_garbage_is_dropped_and_counted_while_the_call_goes_on() -> None:
    phone = await Peer.create()
    session = await RtpSession.open(make_pool(), remote_addr=phone.addr)
    try:
        session.play([sine(700, 5.0)])
        phone.send_rtp(bytes(160), session.local_addr)
        await wait_for(lambda: session.latched)
        good = RtpPacket(0, 1, 2, 3, b"x" * 160).serialize()
        garbage = [
            b"\x00",  # not version 2
            b"hello world, this is not RTP",
            bytes([0x80]) * 5,  # too short
            bytes([0x8F, 0]) + bytes(20),  # 15 CSRCs announced, few present
            bytes([0x90, 0]) + bytes(10) + b"\x00\x00\xff\xff",  # extension overruns
            bytes([0xA0, 0]) + bytes(10) + b"\x00",  # padding of zero
            bytes([0x80, 0xC8, 0xFF, 0xFF]),  # RTCP SR overrunning the datagram
            good[:3],
        ]
        for data in garbage:
            phone.send(data, session.local_addr)
        random_bytes = random.Random(7)
        for _ in range(50):
            phone.send(random_bytes.randbytes(random_bytes.randrange(0, 300)), session.local_addr)
        # A short burst of a foreign SSRC from the latched address: not a new stream.
        for _ in range(3):
            phone.send_rtp(bytes(160), session.local_addr, ssrc=phone.ssrc ^ 1)
        # A payload type nobody negotiated.
        phone.send_rtp(bytes(160), session.local_addr, pt=97)
        await asyncio.sleep(0.2)
        stats = session.stats
        assert stats.dropped_not_rtp >= 1
        assert stats.dropped_malformed >= 6
        assert stats.dropped_foreign_ssrc >= 3
        assert stats.dropped_unknown_payload >= 1
        # The random bytes were each dropped somewhere or (rarely) accepted as valid RTP.
        assert stats.dropped + stats.received_packets + stats.rtcp_received >= 60
        received = stats.received_packets
        phone.send_rtp(bytes(160), session.local_addr)
        await wait_for(lambda: session.stats.received_packets == received + 1)
        sent_before = len(phone.packets)
        await asyncio.sleep(0.2)
        assert len(phone.packets) >= sent_before + 8  # still sending
    finally:
        await session.aclose()
        phone.close()


async def test_rfc4733_digits_are_detected_exactly_once() -> None:
    phone = await Peer.create()
    session = await RtpSession.open(make_pool(), remote_addr=phone.addr, dtmf_payload_type=101)
    try:
        await phone.send_digits("159#", session.local_addr)
        await asyncio.sleep(0.1)
        digits: list[DtmfDigit] = []
        while not session.dtmf_queue.empty():
            digits.append(session.dtmf_queue.get_nowait())
        assert [d.digit for d in digits] == list("159#")
        assert all(d.duration_samples == 800 for d in digits)
        assert [d.at for d in digits] == sorted(d.at for d in digits)
        # A handler takes precedence over the queue.
        seen: list[str] = []
        session.dtmf_handler = lambda d: seen.append(d.digit)
        await phone.send_digits("*0", session.local_addr)
        await asyncio.sleep(0.05)
        assert seen == ["*", "0"]
        assert session.dtmf_queue.empty()
    finally:
        await session.aclose()
        phone.close()


async def test_a_digit_whose_end_packets_are_lost_is_reported_by_the_timer() -> None:
    phone = await Peer.create()
    session = await RtpSession.open(make_pool(), remote_addr=phone.addr)
    try:
        for packet in dtmf_packets("7", 100, timestamp=1000, end_repeats=1)[:-1]:
            phone.send_rtp(
                packet.payload,
                session.local_addr,
                pt=101,
                marker=packet.marker,
                timestamp=packet.timestamp,
                advance=0,
            )
        digit = await asyncio.wait_for(session.dtmf_queue.get(), 2)
        assert digit.digit == "7"
    finally:
        await session.aclose()
        phone.close()


async def test_rtcp_reports_go_to_the_odd_port() -> None:
    phone = await Peer.create()
    rtcp = await Peer.create()
    # The phone's RTCP port is not its RTP port + 1 here: symmetric RTCP finds it.
    session = await RtpSession.open(make_pool(), remote_addr=phone.addr, rtcp_interval=0.2)
    try:
        session.play([sine(440, 5.0)])
        phone.send_rtp(bytes(160), session.local_addr)
        await wait_for(lambda: session.latched)
        sr = RtcpSenderReport(phone.ssrc, 123 << 32, 0, 1, 160).serialize()
        rtcp.send(sr, (HOST, session.local_port + 1))
        await wait_for(lambda: session.stats.rtcp_received == 1)
        await wait_for(lambda: len(rtcp.raw) >= 1, limit=2)
    finally:
        await session.aclose()
        phone.close()
        rtcp.close()
    compound = parse_rtcp(rtcp.raw[0][0])
    first = compound[0]
    assert isinstance(first, RtcpSenderReport | RtcpReceiverReport)
    assert first.ssrc == session.ssrc
    assert first.reports[0].ssrc == phone.ssrc
    assert first.reports[0].lsr == (123 << 16) & 0xFFFF_FFFF
    assert compound[1].serialize()[1] == 202  # SDES with the CNAME
    assert struct.unpack_from("!I", compound[1].serialize(), 4)[0] == session.ssrc


def test_pacing_under_uvloop() -> None:
    import uvloop

    async def scenario() -> tuple[list[RtpPacket], float, int]:
        peer = await Peer.create()
        session = await RtpSession.open(make_pool(), remote_addr=peer.addr)
        try:
            session.play([sine(440, 3.0)])
            await asyncio.sleep(1.05)
        finally:
            await session.aclose()
            peer.close()
        start = peer.packets[0][1]
        in_window = sum(1 for _, t in peer.packets if t < start + 1.0 - 0.01)
        return [p for p, _ in peer.packets], start, in_window

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        packets, _, in_window = runner.run(scenario())
    assert 49 <= in_window <= 51
    for a, b in itertools.pairwise(packets):
        assert b.sequence == (a.sequence + 1) & 0xFFFF
        assert b.timestamp == (a.timestamp + 160) & 0xFFFF_FFFF


def test_the_default_loop_reads_with_a_small_buffer() -> None:
    """The suite runs on uvloop; this knob is for the selector loop, so it gets one."""

    async def scenario() -> object:
        session = await RtpSession.open(make_pool())
        try:
            return getattr(session._rtp_transport, "max_size", None)
        finally:
            await session.aclose()

    with asyncio.Runner(loop_factory=asyncio.SelectorEventLoop) as runner:
        assert runner.run(scenario()) == 2048


async def test_a_failing_source_falls_back_to_silence() -> None:
    class Broken:
        def read_frame(self) -> Pcm | None:
            raise RuntimeError("decoder exploded")

        def close(self) -> None:
            pass

    peer = await Peer.create()
    session = await RtpSession.open(make_pool(), remote_addr=peer.addr)
    try:
        session.set_source(Broken())
        await asyncio.sleep(0.15)
        assert len(peer.packets) >= 4  # the stream continues, as silence
        assert not np.any(peer.audio())
    finally:
        await session.aclose()
        peer.close()
    with pytest.raises(MediaError, match="closed"):
        session.set_source(None)


async def test_update_remote_switches_the_payload_type_of_the_stream() -> None:
    """A codec settled after our offer (the answer chose PCMA) changes what our packets carry."""
    peer = await Peer.create()
    session = await RtpSession.open(make_pool(), remote_addr=peer.addr, payload_type=0)
    try:
        session.update_remote(peer.addr, payload_type=8)
        assert session.sender.payload_type == 8
        session.send_pcm(sine(1000, 0.02))
        await asyncio.sleep(0.1)
    finally:
        await session.aclose()
        peer.close()
    assert [p.payload_type for p, _ in peer.packets][:1] == [8]


async def test_a_deadline_already_due_rearms_under_uvloop() -> None:
    """H1 of the hardening issue: uvloop's `call_at` answers a plain `Handle` (no `.when()`)
    for a deadline already passed; the next re-arm raised AttributeError, the call logic
    failed and live calls were hung up (~9.6 s into the demo menu under `vpbx run`)."""
    import time

    import uvloop

    assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
    peer = await Peer.create()
    session = await RtpSession.open(make_pool(), remote_addr=peer.addr)
    try:
        session.play([sine(440, 1.0)])
        time.sleep(0.05)  # noqa: ASYNC251 - a deliberate stall: the pacer deadline passes
        session.play([sine(880, 1.0)])  # re-arms against the Handle of a past deadline
        session.play([sine(660, 1.0)])
        await asyncio.sleep(0.2)
    finally:
        await session.aclose()
        peer.close()
    assert len(peer.packets) >= 5
