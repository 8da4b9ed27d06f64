"""The native relay of a bridged talk (`vpbx.media.fastrelay`, `_fastrelay.c`): it sends what
the Python relay sends, keys still reach Python, and numbering and statistics continue
seamlessly when the talk goes from one relay to the other and back."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import os
import select
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, given, settings

from vpbx.media import fastrelay
from vpbx.media._fastrelay import Engine, Pair
from vpbx.media.bridge import Bridge
from vpbx.media.dtmf import DtmfDigit
from vpbx.media.errors import MediaError
from vpbx.media.rtp import RtpPacket
from vpbx.media.session import Address, RtpSession

from .test_relay_shortcut import PEER, STRANGER, Sent, _datagrams, _normalised, packets
from .test_session import Peer, make_pool

if TYPE_CHECKING:
    from vpbx.media._fastrelay import DirectionSpec

FRAME = bytes(range(160))


@pytest.fixture(params=["thread", "loop"])
def relay_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Who reads the native relay's sockets: its own thread (the default) or the event loop;
    the bridge tests below hold for both."""
    mode: str = request.param
    monkeypatch.setenv(fastrelay.ENV, "1" if mode == "thread" else "loop")
    return mode


def test_the_extension_is_built() -> None:
    """`make test` builds it (pip install -e .): a test run without it fails here."""
    assert fastrelay.available()


def test_the_environment_chooses_the_relay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(fastrelay.ENV, "0")
    assert not fastrelay.wanted()
    monkeypatch.setenv(fastrelay.ENV, "1")
    assert fastrelay.wanted()
    monkeypatch.delenv(fastrelay.ENV)
    assert fastrelay.wanted()
    assert fastrelay.threaded()
    monkeypatch.setenv(fastrelay.ENV, "loop")
    assert fastrelay.wanted()
    assert not fastrelay.threaded()
    monkeypatch.setattr(fastrelay, "_native", None)
    with pytest.raises(MediaError):
        fastrelay.wanted()
    monkeypatch.delenv(fastrelay.ENV)
    assert not fastrelay.wanted()
    monkeypatch.setenv(fastrelay.ENV, "1")
    with pytest.raises(MediaError):
        fastrelay.wanted()


async def _until(condition: Callable[[], bool], steps: int = 400) -> None:
    """Wait until `condition` holds, at most `steps` times 5 ms (loopback is quick)."""
    for _ in range(steps):
        if condition():
            return
        await asyncio.sleep(0.005)


async def _legs() -> tuple[Peer, Peer, RtpSession, RtpSession]:
    pool = make_pool()
    peer_a, peer_b = await Peer.create(), await Peer.create()
    a = await RtpSession.open(pool, remote_addr=peer_a.addr, name="a")
    b = await RtpSession.open(pool, remote_addr=peer_b.addr, name="b")
    return peer_a, peer_b, a, b


async def _close(peer_a: Peer, peer_b: Peer, a: RtpSession, b: RtpSession) -> None:
    await a.aclose()
    await b.aclose()
    peer_a.close()
    peer_b.close()


async def _relay(
    datagrams: list[tuple[bytes, Address]], *, fast: bool
) -> tuple[list[bytes], dict[str, int], int, tuple[int, int, int]]:
    """The datagrams arrive at a as if from its peer (PEER) or a stranger; what b's peer gets,
    a's counters, b's sent count, and a's reception (received, highest sequence, lost)."""
    peer_a, peer_b, a, b = await _legs()
    addresses = {PEER: peer_a.addr, STRANGER: STRANGER}
    try:
        bridge = Bridge(a, b, fast=fast)
        bridge.start()
        assert a.fast == fast
        for data, addr in datagrams:
            a._on_rtp_datagram(data, addresses[addr])
        await _until(lambda: len(peer_b.raw) >= b.stats.sent_packets)
        bridge.stop()
        assert not a.fast
        reception = a._reception
        block = (0, 0, 0) if reception is None else reception.report_block(0.0)
        received = (
            (0, 0, 0)
            if reception is None
            else (reception.received, block.highest_sequence, block.packets_lost)  # type: ignore[union-attr]
        )
    finally:
        await _close(peer_a, peer_b, a, b)
    return [data for data, _ in peer_b.raw], a.stats.as_dict(), b.stats.sent_packets, received


# the fixture only sets the environment, the same for every example
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(sent=packets)
def test_the_native_relay_sends_what_the_python_relay_sends(
    sent: list[Sent], relay_mode: str
) -> None:
    """Header rewriting, reproduced gaps, SSRC changes, late packets, strangers, events and
    packets only the Python path takes: the same packets out, the same counters and
    reception statistics, with the Python relay as the oracle."""
    datagrams = _datagrams(sent)
    native_sent, *native = asyncio.run(_relay(datagrams, fast=True))
    python_sent, *python = asyncio.run(_relay(datagrams, fast=False))
    assert _normalised(native_sent) == _normalised(python_sent)
    assert native == python


def _event(key: int, end: bool, duration: int) -> bytes:
    return bytes([key, 0x8A if end else 0x0A]) + duration.to_bytes(2, "big")


@pytest.mark.usefixtures("relay_mode")
async def test_a_talk_goes_through_the_native_relay_and_keys_still_reach_python() -> None:
    """Real sockets over loopback: audio both ways by the C path (the Python path sees only
    the first packets and the key's events), the employee's key goes to the call logic."""
    peer_a, peer_b, a, b = await _legs()
    keys: list[tuple[str, str]] = []
    python_path: list[str] = []
    for session in (a, b):
        receive = session._receive_rtp

        def counting(data: bytes, addr: Address, receive: Callable[..., None] = receive) -> None:
            python_path.append("a" if addr[1] == peer_a.addr[1] else "b")
            receive(data, addr)

        session._receive_rtp = counting  # type: ignore[method-assign]

    def on_dtmf(session: RtpSession, digit: DtmfDigit) -> None:
        keys.append((session.name, digit.digit))

    try:
        bridge = Bridge(a, b, fast=True, listen=a, on_dtmf=on_dtmf)
        bridge.start()
        assert a.fast
        assert b.fast
        for n in range(40):
            peer_a.send_rtp(FRAME, a.local_addr, marker=n == 0)
            peer_b.send_rtp(FRAME, b.local_addr, marker=n == 0)
            if n == 20:
                start = peer_a.ts
                for duration, end in ((160, False), (320, False), (480, True), (480, True)):
                    peer_a.send_rtp(_event(5, end, duration), a.local_addr, pt=101,
                                    timestamp=start, advance=0)  # fmt: skip
                peer_a.ts += 480
            await asyncio.sleep(0.002)
        await _until(lambda: len(peer_b.packets) >= 40 and len(peer_a.packets) >= 40)
        await asyncio.sleep(0.05)
        assert a.fast
        first_python = len(python_path)
        bridge.stop()
    finally:
        await _close(peer_a, peer_b, a, b)
    assert keys == [("a", "5")]
    to_b = [p for p, _ in peer_b.packets]
    to_a = [p for p, _ in peer_a.packets]
    assert [p.payload_type for p in to_b] == [0] * 40  # the employee's key did not cross
    assert [p.payload_type for p in to_a] == [0] * 40
    for stream, session in ((to_b, b), (to_a, a)):
        assert {p.ssrc for p in stream} == {session.ssrc}
        for x, y in itertools.pairwise(stream):
            assert y.sequence == (x.sequence + 1) & 0xFFFF
        assert stream[0].marker
    # the gap of the key's 60 ms is reproduced in b's timeline
    gaps = [(y.timestamp - x.timestamp) & 0xFFFF_FFFF for x, y in itertools.pairwise(to_b)]
    assert sorted(set(gaps)) == [160, 640]
    # latching (the first packet of each side) and the four event packets took the Python path
    assert first_python <= 8
    assert python_path.count("a") >= 4
    assert a.stats.received_packets == 40
    assert a.stats.received_dtmf_packets == 4
    assert b.stats.sent_packets == 40
    assert a.stats.sent_packets == 40


@pytest.mark.usefixtures("relay_mode")
async def test_numbering_and_statistics_continue_across_entering_and_leaving() -> None:
    """The talk goes native, back to Python (a recorder-like listener joins), native again,
    and back when the bridge stops and a prompt plays: b's peer sees one stream with
    continuous sequence numbers and timestamps, and every counter adds up."""
    peer_a, peer_b, a, b = await _legs()
    try:
        bridge = Bridge(a, b, fast=True)
        bridge.start()
        assert bridge.fast is not None
        sent = 0
        for phase in range(4):
            if phase == 1:
                a.add_listener(lambda packet, arrival: None)
                assert not a.fast
                assert not b.fast
            if phase == 2:
                a.remove_listener(a._listeners[-1])
                assert a.fast
            if phase == 3:
                assert a.fast
            for _ in range(25):
                peer_a.send_rtp(FRAME, a.local_addr)
                sent += 1
                await asyncio.sleep(0.001)
            await _until(lambda n=sent: len(peer_b.packets) >= n)
        assert bridge.fast.entered == 2
        # statistics read while the native relay holds them
        assert a.stats.received_packets == sent
        assert a._reception is not None
        bridge.stop()
        assert a._reception.received == sent
        assert a._reception.report_block(0.0).packets_lost == 0
        b.play([], name="after")  # b's own source again: the same stream goes on
        await _until(lambda: len(peer_b.packets) >= sent + 3)
    finally:
        await _close(peer_a, peer_b, a, b)
    stream = [p for p, _ in peer_b.packets]
    assert len(stream) >= sent + 3
    assert {p.ssrc for p in stream} == {b.ssrc}
    for x, y in itertools.pairwise(stream):
        assert y.sequence == (x.sequence + 1) & 0xFFFF
    for x, y in itertools.pairwise(stream[:sent]):
        assert y.timestamp == (x.timestamp + 160) & 0xFFFF_FFFF
    assert [n for n, p in enumerate(stream) if p.marker] == [0, sent]
    assert b.stats.sent_packets == len(stream)
    assert b.sender.packet_count == len(stream)
    assert a.stats.received_packets == sent


@pytest.mark.usefixtures("relay_mode")
async def test_an_rtcp_report_counts_what_the_native_relay_relayed() -> None:
    """The periodic report reads the reception statistics the native relay keeps."""
    peer_a, peer_b, a, b = await _legs()
    try:
        bridge = Bridge(a, b, fast=True)
        bridge.start()
        for _ in range(30):
            peer_a.send_rtp(FRAME, a.local_addr)
            await asyncio.sleep(0.001)
        await _until(lambda: len(peer_b.packets) >= 30)
        assert a.fast
        block = None
        assert bridge.fast is not None
        bridge.fast.hold()
        try:
            assert a._reception is not None
            block = a._reception.report_block(0.0)
        finally:
            bridge.fast.release()
        sender_packets = b.sender.packet_count
        bridge.stop()
    finally:
        await _close(peer_a, peer_b, a, b)
    assert block.highest_sequence & 0xFFFF == (peer_a.seq - 1) & 0xFFFF
    assert block.packets_lost == 0
    assert sender_packets == 30


@pytest.mark.usefixtures("relay_mode")
async def test_a_stranger_on_the_port_stays_with_python() -> None:
    """A packet from another address reaches the leg's own socket and is counted, not relayed."""
    peer_a, peer_b, a, b = await _legs()
    stranger = await Peer.create()
    try:
        bridge = Bridge(a, b, fast=True)
        bridge.start()
        peer_a.send_rtp(FRAME, a.local_addr)
        await _until(lambda: len(peer_b.packets) >= 1)
        assert a.fast
        stranger.send_rtp(FRAME, a.local_addr)
        peer_a.send_rtp(FRAME, a.local_addr)
        await _until(lambda: len(peer_b.packets) >= 2)
        await asyncio.sleep(0.02)
        bridge.stop()
    finally:
        stranger.close()
        await _close(peer_a, peer_b, a, b)
    assert len(peer_b.packets) == 2
    assert a.stats.dropped_foreign_address == 1
    assert a.stats.received_packets == 2


def test_a_parsed_packet_of_the_native_path_is_rtp() -> None:
    """The helper frames above are what the relay tests send (a guard of the test itself)."""
    packet = RtpPacket.parse(RtpPacket(0, 1, 2, 3, FRAME).serialize())
    assert packet.payload == FRAME


@pytest.mark.usefixtures("relay_mode")
async def test_a_listener_joining_while_packets_wait_gets_them_and_the_talk_stays_in_python() -> (
    None
):
    """Leaving hands what waits on the connected socket to the Python path first (here an
    event, which takes the bridge's full path): that must not bring the native relay back
    before the new listener is in place."""
    peer_a, peer_b, a, b = await _legs()
    heard: list[int] = []
    try:
        bridge = Bridge(a, b, fast=True)
        bridge.start()
        for _ in range(3):
            peer_a.send_rtp(FRAME, a.local_addr)
        await _until(lambda: len(peer_b.packets) >= 3)
        assert a.fast
        # queued on the connected socket, not read yet: no await until the listener is in
        peer_a.send_rtp(_event(1, False, 160), a.local_addr, pt=101, advance=0)
        peer_a.send_rtp(FRAME, a.local_addr)
        a.add_listener(lambda packet, arrival: heard.append(packet.payload_type))
        assert not a.fast
        peer_a.send_rtp(FRAME, a.local_addr)
        await _until(lambda: len(heard) >= 1 and len(peer_b.packets) >= 5)
        await asyncio.sleep(0.02)
        assert not a.fast
        a.remove_listener(a._listeners[-1])
        assert a.fast  # and back once the listener has gone
        assert bridge.fast is not None
        assert bridge.fast.entered == 2
        bridge.stop()
    finally:
        await _close(peer_a, peer_b, a, b)
    # the two packets that waited went the Python way before the listener came (the event
    # relayed as one); the one after reached it
    assert heard == [0]
    assert [p.payload_type for p, _ in peer_b.packets] == [0, 0, 0, 101, 0, 0]


# --- the Pair itself: closing, (re-)initialising, errors of the Python path ----------------


def _udp(peer: socket.socket | None = None) -> socket.socket:
    """A non-blocking UDP socket on loopback, connected to `peer` if given."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    if peer is not None:
        sock.connect(peer.getsockname())
    return sock


def _arrived(sock: socket.socket) -> list[bytes]:
    """What waits on `sock` (loopback delivers at once; a short wait for the scheduler)."""
    got: list[bytes] = []
    select.select([sock], [], [], 0.05)
    while True:
        try:
            got.append(sock.recv(4096))
        except BlockingIOError:
            return got


def _spec(in_fd: int, out_fd: int, fallback: Callable[[bytes], None]) -> DirectionSpec:
    return (in_fd, out_fd, 0, fallback, 0x5EED, 0, None, 8000.0)


SSRC = 0xA1B2C3D4


def _audio(sequence: int) -> bytes:
    return RtpPacket(0, sequence, sequence * 160, SSRC, FRAME).serialize()


def test_a_closed_pair_does_no_io_on_a_socket_that_got_its_descriptor() -> None:
    """After close() the descriptor numbers may belong to another call's sockets: a late pump
    leaves their packets alone and a late feed sends nothing on them (it goes to Python)."""
    peer_a, peer_b = _udp(), _udp()
    twin_a, twin_b = _udp(peer_a), _udp(peer_b)
    peer_a.connect(twin_a.getsockname())
    handed: list[bytes] = []
    pair = Pair(time.monotonic, _spec(twin_a.fileno(), twin_b.fileno(), handed.append),
                _spec(twin_b.fileno(), twin_a.fileno(), handed.append))  # fmt: skip
    state_a, state_b = pair.get_state()
    pair.set_state(((True, SSRC, *state_a[2:]), state_b))  # a's stream latched
    others: list[socket.socket] = []
    try:
        # relaying: the pair reads a's socket and sends on b's
        peer_a.send(_audio(1))
        select.select([twin_a], [], [], 1.0)
        pair.pump_a()
        pair.feed(0, _audio(2))
        assert len(_arrived(peer_b)) == 2
        assert handed == []

        fd_a, fd_b = twin_a.fileno(), twin_b.fileno()
        other_peer_a, other_peer_b = _udp(), _udp()  # before the numbers are free
        others += [other_peer_a, other_peer_b]
        pair.close()
        assert pair.closed
        assert not pair.active
        twin_a.close()
        twin_b.close()
        # another call's sockets get the same numbers
        for number, peer in ((fd_a, other_peer_a), (fd_b, other_peer_b)):
            fresh = _udp(peer)
            if fresh.fileno() != number:  # usually it gets the number itself (the lowest free)
                os.dup2(fresh.fileno(), number)
                fresh.close()
                fresh = socket.socket(fileno=number)
            others.append(fresh)
        other_a, other_b = others[2], others[3]
        other_peer_a.connect(other_a.getsockname())
        other_peer_b.connect(other_b.getsockname())
        other_peer_a.send(_audio(3))
        other_peer_b.send(_audio(5))
        select.select([other_a], [], [], 1.0)
        select.select([other_b], [], [], 1.0)
        pair.pump_a()
        pair.pump_b()
        pair.feed(0, _audio(4))
        # still there: not read by the pair
        assert _arrived(other_a) == [_audio(3)]
        assert _arrived(other_b) == [_audio(5)]
        assert _arrived(other_peer_b) == []  # nothing sent on the other call's socket
        assert handed == [_audio(4)]  # the fed one went the Python way
    finally:
        for sock in (peer_a, peer_b, twin_a, twin_b, *others):
            sock.close()


@pytest.mark.usefixtures("relay_mode")
async def test_leaving_closes_the_pair_before_its_sockets() -> None:
    """The Python side closes the pair wherever it closes the connected sockets."""
    peer_a, peer_b, a, b = await _legs()
    try:
        bridge = Bridge(a, b, fast=True)
        bridge.start()
        peer_a.send_rtp(FRAME, a.local_addr)
        await _until(lambda: len(peer_b.packets) >= 1)
        assert bridge.fast is not None
        pair = bridge.fast._pair
        assert pair is not None
        assert not pair.closed
        bridge.stop()
        assert pair.closed
    finally:
        await _close(peer_a, peer_b, a, b)


def test_initialising_again_lets_go_of_the_first_fallbacks() -> None:
    def first(data: bytes) -> None:
        pass

    def second(data: bytes) -> None:
        pass

    def clock() -> float:
        return 0.0

    before = sys.getrefcount(first), sys.getrefcount(second), sys.getrefcount(clock)
    pair = Pair(clock, _spec(1000, 1001, first), _spec(1001, 1000, first))
    pair.__init__(time.monotonic, _spec(1000, 1001, second), _spec(1001, 1000, second))  # type: ignore[misc]
    assert sys.getrefcount(first) == before[0]
    assert sys.getrefcount(clock) == before[2]
    # a failed one changes nothing
    with pytest.raises(ValueError, match="descriptor"):
        pair.__init__(clock, _spec(1000, 1001, first), _spec(-1, 1000, first))  # type: ignore[misc]
    assert sys.getrefcount(first) == before[0]
    assert sys.getrefcount(second) == before[1] + 2
    del pair
    assert sys.getrefcount(second) == before[1]


def test_an_uninitialised_pair_refuses_to_pump() -> None:
    """Pair.__new__ without __init__ has no clock nor fallbacks (and descriptor 0)."""
    pair = Pair.__new__(Pair)
    with pytest.raises(RuntimeError):
        pair.pump_a()
    with pytest.raises(RuntimeError):
        pair.pump_b()
    with pytest.raises(RuntimeError):
        pair.feed(0, _audio(1))


@pytest.mark.parametrize("size", [100, 3000])
def test_an_error_of_the_python_path_is_reported_not_raised(
    size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A datagram the core hands to Python, of any size (here larger than its buffers):
    the fallback's error is reported as unraisable, never raised into the loop's reader."""
    reported: list[BaseException | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda info: reported.append(info.exc_value))

    def failing(data: bytes) -> None:
        raise ValueError(len(data))

    pair = Pair(time.monotonic, _spec(1000, 1001, failing), _spec(1001, 1000, failing))
    pair.feed(1, b"\x01" * size)  # not RTP: the Python path's
    assert len(reported) == 1
    assert isinstance(reported[0], ValueError)
    assert reported[0].args == (size,)


# --- the relay thread (Engine) ----------------------------------------------------------------


async def test_the_relay_thread_carries_the_talk_while_the_event_loop_is_blocked(
    relay_mode: str,
) -> None:
    """The point of the thread: a pause of the event loop (a collection, a burst of SIP) does
    not hold up the talk. With the loop reading the sockets the packets wait for it."""
    peer_a, peer_b, a, b = await _legs()
    assert peer_b.transport is not None
    spy = socket.socket(fileno=os.dup(peer_b.transport.get_extra_info("socket").fileno()))
    got: list[bytes] = []
    try:
        bridge = Bridge(a, b, fast=True)
        bridge.start()
        peer_a.send_rtp(FRAME, a.local_addr, marker=True)
        await _until(lambda: len(peer_b.packets) >= 1)
        assert a.fast
        # no await from here on: the loop is blocked for the next ~0.3 s
        for _ in range(10):
            peer_a.send_rtp(FRAME, a.local_addr)
            time.sleep(0.005)  # noqa: ASYNC251 -- blocking the loop is the point
        deadline = time.monotonic() + 0.25
        while len(got) < 10 and time.monotonic() < deadline:
            select.select([spy], [], [], 0.02)
            with contextlib.suppress(BlockingIOError):
                got.append(spy.recv(4096))
        bridge.stop()
    finally:
        spy.close()
        await _close(peer_a, peer_b, a, b)
    assert len(got) == (10 if relay_mode == "thread" else 0)


def _attached_pair(
    engine: Engine, handed: list[bytes]
) -> tuple[Pair, socket.socket, socket.socket, list[socket.socket]]:
    """A pair on an engine between two plain peers, a's stream latched: (pair, peer a, peer b,
    every socket to close)."""
    peer_a, peer_b = _udp(), _udp()
    twin_a, twin_b = _udp(peer_a), _udp(peer_b)
    peer_a.connect(twin_a.getsockname())
    pair = Pair(time.monotonic, _spec(twin_a.fileno(), twin_b.fileno(), handed.append),
                _spec(twin_b.fileno(), twin_a.fileno(), handed.append))  # fmt: skip
    state_a, state_b = pair.get_state()
    pair.set_state(((True, SSRC, *state_a[2:]), state_b))
    engine.attach(pair)
    return pair, peer_a, peer_b, [peer_a, peer_b, twin_a, twin_b]


@contextlib.contextmanager
def _on_engine() -> Iterator[tuple[Engine, Pair, socket.socket, socket.socket, list[bytes]]]:
    """A fresh engine with one pair attached (`_attached_pair`): (engine, pair, peer a, peer b,
    what the pair handed to Python); everything closed after."""
    engine = Engine()
    handed: list[bytes] = []
    pair, peer_a, peer_b, sockets = _attached_pair(engine, handed)
    try:
        yield engine, pair, peer_a, peer_b, handed
    finally:
        pair.close()
        engine.close()
        for sock in sockets:
            sock.close()


def _sequences(datagrams: list[bytes]) -> list[int]:
    return [RtpPacket.parse(data).sequence for data in datagrams]


def _arrived_n(sock: socket.socket, count: int, timeout: float = 1.0) -> list[bytes]:
    got: list[bytes] = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        got += _arrived(sock)
    return got


def test_the_thread_parks_a_held_pair_and_relays_what_waited_in_order_after() -> None:
    """While the Python side holds the state, the thread relays nothing of the pair; released,
    it relays what waited, numbered on from where the Python side left the stream."""
    with _on_engine() as (engine, pair, peer_a, peer_b, handed):
        for sequence in (1, 2, 3):
            peer_a.send(_audio(sequence))
        first = _arrived_n(peer_b, 3)
        assert _sequences(first) == [0, 1, 2]  # the sender's own numbering from 0
        pair.hold()
        state_a, state_b = pair.get_state()
        # the Python side moves a's sender on (a prompt it played meanwhile, say)
        pair.set_state(((*state_a[:13], 100, *state_a[14:]), state_b))
        for sequence in (4, 5):
            peer_a.send(_audio(sequence))
        assert _arrived(peer_b) == []
        time.sleep(0.05)
        assert _arrived(peer_b) == []
        pair.unhold()
        assert _sequences(_arrived_n(peer_b, 2)) == [100, 101]
        assert handed == []
        assert engine.relayed == 5


def test_the_thread_hands_a_packet_not_its_own_and_what_follows_to_python_in_order() -> None:
    """An event packet parks the direction: nothing after it is relayed until the loop has
    handed it to the Python path (`deliver`), then the talk goes on in order."""
    event = RtpPacket(101, 9, 9 * 160, SSRC, _event(5, False, 160)).serialize()
    with _on_engine() as (engine, _pair, peer_a, peer_b, handed):
        peer_a.send(_audio(1))
        assert len(_arrived_n(peer_b, 1)) == 1
        for data in (event, _audio(2), _audio(3)):
            peer_a.send(data)
        assert select.select([engine.notify_fd], [], [], 1.0)[0]
        time.sleep(0.05)
        assert _arrived(peer_b) == []  # parked behind the event
        assert handed == []
        engine.deliver()
        assert handed == [event]
        peer_a.send(_audio(4))
        assert _sequences(_arrived_n(peer_b, 3)) == [1, 2, 3]


def test_a_pair_that_leaves_its_engine_hands_the_stash_to_the_drain_first() -> None:
    """What the thread kept for Python when the pair leaves (a bridge stopping) goes the
    Python way before what still waits on the socket."""
    event = RtpPacket(101, 9, 9 * 160, SSRC, _event(5, False, 160)).serialize()
    with _on_engine() as (engine, pair, peer_a, _peer_b, handed):
        peer_a.send(event)
        peer_a.send(_audio(2))
        assert select.select([engine.notify_fd], [], [], 1.0)[0]
        peer_a.send(_audio(3))
        time.sleep(0.02)
        pair.stop()
        pair.detach()
        assert not pair.attached
        assert engine.attached == 0
        engine.deliver()  # the tag no longer resolves: nothing is handed from here
        assert handed == []
        pair.pump_a()
        assert handed == [event, _audio(2), _audio(3)]


def test_closing_an_engine_lets_its_pairs_go_and_it_takes_no_more() -> None:
    with _on_engine() as (engine, pair, _peer_a, _peer_b, handed):
        refs = sys.getrefcount(pair)
        assert pair.attached
        assert engine.attached == 1
        with pytest.raises(ValueError, match="attached"):
            engine.attach(pair)
        with pytest.raises(RuntimeError, match="attached"):
            pair.__init__(time.monotonic, _spec(1000, 1001, handed.append),  # type: ignore[misc]
                          _spec(1001, 1000, handed.append))  # fmt: skip
        engine.close()
        assert not engine.running
        assert not pair.attached
        assert sys.getrefcount(pair) == refs - 1  # the engine's reference is gone
        with pytest.raises(ValueError, match="closed"):
            engine.attach(pair)


def test_closing_an_attached_pair_detaches_it_first() -> None:
    """close() may come while attached (a failed enter): the thread lets go before the
    descriptors are forgotten."""
    with _on_engine() as (engine, pair, _peer_a, _peer_b, _handed):
        pair.close()
        assert not pair.attached
        assert engine.attached == 0


@pytest.mark.usefixtures("relay_mode")
async def test_bridges_share_their_pools_relay_thread_and_leave_it_when_they_stop() -> None:
    peer_a, peer_b, a, b = await _legs()
    try:
        bridge = Bridge(a, b, fast=True)
        bridge.start()
        for _ in range(5):  # the first latches (the Python path), the rest the core's
            peer_a.send_rtp(FRAME, a.local_addr)
            await asyncio.sleep(0.002)
        await _until(lambda: len(peer_b.packets) >= 5)
        assert a.fast
        held = a._pool.relay_engine
        if fastrelay.threaded():
            assert isinstance(held, tuple)
            engine = held[1]
            assert engine.attached == 1
            assert fastrelay.engine_of(b) is engine
            assert engine.relayed >= 1
        else:
            assert held is None
        bridge.stop()
        if fastrelay.threaded():
            assert engine.attached == 0
    finally:
        await _close(peer_a, peer_b, a, b)


def _thread_nices() -> list[int]:
    """The nice value of each thread of this process (field 19 of /proc/self/task/*/stat)."""
    nices = []
    for stat in Path("/proc/self/task").glob("*/stat"):
        nices.append(int(stat.read_text().rsplit(")", 1)[1].split()[16]))
    return nices


def test_the_relay_thread_goes_before_the_loop_where_it_may() -> None:
    """Its nice value is set before the engine is handed out, or the refusal is reported
    (no CAP_SYS_NICE); out of range is an error."""
    before = _thread_nices().count(-7)
    engine = Engine(nice=-7)
    try:
        if engine.nice_error == 0:
            assert _thread_nices().count(-7) == before + 1
        else:
            assert engine.nice_error == errno.EACCES or engine.nice_error == errno.EPERM
    finally:
        engine.close()
    assert _thread_nices().count(-7) == before
    with pytest.raises(ValueError, match="nice"):
        Engine(nice=-21)
