"""A bridge with kernel forwarding, over real UDP in a network namespace of the test's own:
plain talk goes through the kernel (vpbx's sockets receive no audio, the nft counters grow,
the far phone gets every packet, as one stream with ours), keys still reach vpbx (a talk
option hears them; one that crosses takes the talk back for a second), leaving the plain
state (a listener such as a recorder, the bridge's end) hands the talk back to userspace
without a gap, and without the kernel the bridge relays as before."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from vpbx.bench.netns import network_namespace
from vpbx.media import g711
from vpbx.media.bridge import Bridge
from vpbx.media.dtmf import DtmfReceiver
from vpbx.media.kernel_rtp import HEADROOM, FlowState, KernelForwarder
from vpbx.media.kernel_rtp_rules import UNSPECIFIED
from vpbx.media.ports import PortPool
from vpbx.media.rtp import RtpPacket
from vpbx.media.session import RtpSession
from vpbx.media.tones import sine

from .test_session import Peer

PORTS = (20000, 20098)
FRAME = g711.ulaw_encode(sine(1000, 0.02))


@pytest.fixture
def netns() -> Iterator[str]:
    with network_namespace("vpbxt") as name:
        yield name


@pytest.fixture
async def forwarder(netns: str) -> AsyncIterator[KernelForwarder]:
    forwarder = KernelForwarder(port_min=PORTS[0], port_max=PORTS[1], poll_interval=0.1)
    assert await forwarder.start(), forwarder.reason
    yield forwarder
    await forwarder.close()


class Legs:
    def __init__(self, peer_a: Peer, peer_b: Peer, a: RtpSession, b: RtpSession) -> None:
        self.peer_a, self.peer_b, self.a, self.b = peer_a, peer_b, a, b

    @classmethod
    async def open(cls, dtmf_b: int = 101, host: str = "127.0.0.1") -> Legs:
        pool = PortPool(*PORTS)
        peer_a, peer_b = await Peer.create(), await Peer.create()
        a = await RtpSession.open(pool, host=host, remote_addr=peer_a.addr, name="a")
        b = await RtpSession.open(
            pool, host=host, remote_addr=peer_b.addr, dtmf_payload_type=dtmf_b, name="b"
        )
        return cls(peer_a, peer_b, a, b)

    async def talk(self, packets: int) -> None:
        """Both phones send `packets` frames, 20 ms apart (as phones do)."""
        for _ in range(packets):
            self.peer_a.send_rtp(FRAME, self.a.local_addr)
            self.peer_b.send_rtp(FRAME, self.b.local_addr)
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)

    async def close(self) -> None:
        await self.a.aclose()
        await self.b.aclose()
        self.peer_a.close()
        self.peer_b.close()


def assert_one_stream(packets: list[RtpPacket], ssrc: int) -> None:
    """What a phone heard from us is one stream: our SSRC, numbers that never go back."""
    assert {p.ssrc for p in packets} == {ssrc}
    for x, y in itertools.pairwise(packets):
        assert 0 < (y.sequence - x.sequence) & 0xFFFF < 0x8000, (x, y)


async def test_plain_talk_goes_through_the_kernel_and_keys_still_reach_vpbx(
    forwarder: KernelForwarder,
) -> None:
    legs = await Legs.open(dtmf_b=96)
    keys: list[tuple[str, str]] = []
    bridge = Bridge(
        legs.a,
        legs.b,
        listen=legs.a,  # a's keys are talk options, b's go across
        on_dtmf=lambda session, digit: keys.append((session.name, digit.digit)),
        kernel=forwarder,
    )
    try:
        bridge.start()
        await legs.talk(5)  # the legs latch in userspace, then the flow is queued
        await forwarder.settled()
        assert bridge.kernel is not None
        assert bridge.kernel.active, bridge.kernel.why_not
        flow = bridge.kernel.flow
        assert flow is not None
        await forwarder.poll()
        counted = flow.packets
        received = (legs.a.stats.received_packets, legs.b.stats.received_packets)
        at_a, at_b = len(legs.peer_a.packets), len(legs.peer_b.packets)
        await legs.talk(100)
        # every packet crossed, none through vpbx's sockets, all counted by the kernel
        assert len(legs.peer_b.packets) - at_b == 100
        assert len(legs.peer_a.packets) - at_a == 100
        assert (legs.a.stats.received_packets, legs.b.stats.received_packets) == received
        await forwarder.poll()
        assert (flow.packets[0] - counted[0], flow.packets[1] - counted[1]) == (100, 100)
        # a talk option's key reaches vpbx and the kernel keeps the talk
        await legs.peer_a.send_digits("5", legs.a.local_addr, pt=101)
        await asyncio.sleep(0.1)
        assert keys == [("a", "5")]
        assert bridge.kernel.active
        # b's key crosses: the switch takes the talk back to number it in a's stream
        await legs.peer_b.send_digits("7", legs.b.local_addr, pt=96)
        assert not bridge.kernel.active
        await legs.talk(10)
        events = [p for p, _ in legs.peer_a.packets if p.payload_type == 101]
        receiver = DtmfReceiver()
        digits = []
        for p in events:
            digits += receiver.feed(p.timestamp, p.sequence, p.marker, p.payload, 0)
        assert [d.digit for d in digits] == ["7"]
        assert not [p for p, _ in legs.peer_b.packets if p.payload_type in (96, 101)]
        # a second after the last key the kernel has the talk again
        await asyncio.sleep(1.2)
        await forwarder.settled()
        assert bridge.kernel.active
        await legs.talk(10)
        assert len(legs.peer_b.packets) - at_b == 120
        # through all of it each phone heard one stream, ours
        assert_one_stream([p for p, _ in legs.peer_b.packets], legs.b.ssrc)
        assert_one_stream([p for p, _ in legs.peer_a.packets], legs.a.ssrc)
    finally:
        bridge.stop()
        await legs.close()


async def test_a_listener_hands_the_talk_back_without_losing_a_packet(
    forwarder: KernelForwarder,
) -> None:
    legs = await Legs.open()
    bridge = Bridge(legs.a, legs.b, kernel=forwarder)
    heard: list[RtpPacket] = []

    def recorder(packet: RtpPacket, arrival: float) -> None:
        heard.append(packet)

    try:
        bridge.start()
        await legs.talk(5)
        await forwarder.settled()
        assert bridge.kernel is not None
        assert bridge.kernel.active, bridge.kernel.why_not
        at_b = len(legs.peer_b.packets)
        await legs.talk(20)
        # a recorder starts listening: the flow goes at once, userspace relays meanwhile
        legs.a.add_listener(recorder)
        assert not bridge.kernel.active
        await legs.talk(30)
        await forwarder.settled()
        assert "goto" not in _ruleset()
        assert len(legs.peer_b.packets) - at_b == 50  # none lost in the hand-back
        # what raced the rules' removal went through the kernel unheard (how many depends on
        # how fast nft answers on a busy box); once it is gone the recorder hears every packet
        assert len(heard) >= 15
        before = len(heard)
        await legs.talk(5)
        assert len(heard) == before + 5
        back = [p for p, _ in legs.peer_b.packets[-35:]]
        assert sum(p.marker for p in back) == 1  # the switch's stream resumes, marked
        # the recorder stops: plain talk again, and the kernel takes the audio back
        legs.a.remove_listener(recorder)
        await forwarder.settled()
        assert bridge.kernel.active
        recorded = len(heard)
        await legs.talk(10)
        assert len(heard) == recorded
        assert len(legs.peer_b.packets) - at_b == 65
        assert_one_stream([p for p, _ in legs.peer_b.packets], legs.b.ssrc)
    finally:
        bridge.stop()
        await legs.close()


async def test_the_bridges_end_removes_the_flow(forwarder: KernelForwarder) -> None:
    legs = await Legs.open()
    bridge = Bridge(legs.a, legs.b, kernel=forwarder)
    try:
        bridge.start()
        await legs.talk(5)
        await forwarder.settled()
        assert bridge.kernel is not None
        flow = bridge.kernel.flow
        assert flow is not None
        assert flow.state is FlowState.ACTIVE
        bridge.stop()
        await forwarder.settled()
        assert flow.state is FlowState.REMOVED
        assert "goto" not in _ruleset()
        at_a = legs.a.stats.received_packets
        await legs.talk(3)
        assert legs.a.stats.received_packets == at_a + 3  # the sockets hear the phones again
    finally:
        await legs.close()


async def test_leaving_while_the_installation_is_sent_still_skips_ahead(
    netns: str, tmp_path: Path
) -> None:
    # nft takes its time over installations: the bridge leaves while one is in flight, so
    # the kernel may have numbered packets in our streams before the removal follows it
    slow = tmp_path / "nft"
    slow.write_text(
        "#!/bin/sh\n"
        "script=$(cat)\n"
        'case "$script" in *"create element"*) sleep 1.5;; esac\n'
        'printf \'%s\\n\' "$script" | exec nft "$@"\n'
    )
    slow.chmod(0o755)
    forwarder = KernelForwarder(port_min=PORTS[0], port_max=PORTS[1], command=(str(slow),))
    assert await forwarder.start(), forwarder.reason
    legs = await Legs.open()
    bridge = Bridge(legs.a, legs.b, kernel=forwarder)
    try:
        bridge.start()
        await legs.talk(5)  # the legs latch and the installation goes to nft
        assert bridge.kernel is not None
        flow = bridge.kernel.flow
        assert flow is not None
        # sent, not answered yet (a tuple: mypy would keep the state narrowed past awaits)
        assert (flow.state, flow.submitted is not None) == (FlowState.QUEUED, True)
        at_b = len(legs.peer_b.packets)
        bridge.kernel.leave()
        # our streams go on past whatever the kernel may number meanwhile
        for session, stream in ((legs.a, flow.pair.a_stream), (legs.b, flow.pair.b_stream)):
            assert (session.sender.sequence - stream.sequence) & 0xFFFF >= HEADROOM
        await legs.talk(10)
        await forwarder.settled()
        assert flow.state is FlowState.REMOVED
        assert "goto" not in _ruleset()
        back = [p for p, _ in legs.peer_b.packets[at_b:]]
        assert len(back) == 10
        assert back[0].marker  # the switch's stream resumes, marked
        assert_one_stream([p for p, _ in legs.peer_b.packets], legs.b.ssrc)
        assert_one_stream([p for p, _ in legs.peer_a.packets], legs.a.ssrc)
    finally:
        bridge.stop()
        await legs.close()
        await forwarder.close()


async def test_sockets_on_the_unspecified_address_stay_in_userspace_logged_once(
    forwarder: KernelForwarder, caplog: pytest.LogCaptureFixture
) -> None:
    # the default VPBX_SIP_HOST: a rule naming 0.0.0.0 would match no packet
    bridges = []
    with caplog.at_level(logging.WARNING, logger="vpbx.media.kernel_rtp"):
        for _ in range(2):
            legs = await Legs.open(host="0.0.0.0")
            bridge = Bridge(legs.a, legs.b, kernel=forwarder)
            bridges.append((legs, bridge))
            bridge.start()
            await legs.talk(5)
    try:
        await forwarder.settled()
        assert forwarder.transactions == 0
        for legs, bridge in bridges:
            assert bridge.kernel is not None
            assert bridge.kernel.flow is None
            assert bridge.kernel.why_not == UNSPECIFIED
            assert len(legs.peer_b.packets) == 5  # the switch relays
        assert [r.getMessage() for r in caplog.records] == ["kernel rtp cannot forward these calls"]
    finally:
        for legs, bridge in bridges:
            bridge.stop()
            await legs.close()


async def test_without_the_kernel_the_bridge_relays_in_userspace(netns: str) -> None:
    off = KernelForwarder(
        port_min=PORTS[0],
        port_max=PORTS[1],
        command=("setpriv", "--inh-caps=-net_admin", "--bounding-set=-net_admin", "nft"),
    )
    assert not await off.start()
    legs = await Legs.open()
    bridge = Bridge(legs.a, legs.b, kernel=off)
    try:
        bridge.start()
        await legs.talk(20)
        assert bridge.kernel is None
        assert "Operation not permitted" in off.reason
        assert len(legs.peer_b.packets) == 20
        assert legs.a.stats.received_packets == 20
    finally:
        bridge.stop()
        await legs.close()
        await off.close()


def _ruleset() -> str:
    import subprocess

    return subprocess.run(
        ["nft", "list", "ruleset"], check=True, capture_output=True, text=True
    ).stdout
