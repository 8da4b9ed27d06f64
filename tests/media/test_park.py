"""Parked RTP socket pairs (issue 17): the park's rules on a clock of its own, and real
sessions over UDP handing their open sockets on."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from vpbx.media.park import SocketPark
from vpbx.media.ports import PortPool
from vpbx.media.session import BoundPair, RtpSession

from .test_session import Peer, make_pool


class _Pair:
    def __init__(self, name: str, quiet_since: float = 0.0) -> None:
        self.name = name
        self.closed = False
        self.quiet_since = quiet_since

    def close(self) -> None:
        self.closed = True


def test_a_pair_is_handed_out_only_after_its_rest_oldest_first() -> None:
    park: SocketPark[_Pair] = SocketPark(capacity=4, rest=10.0)
    a, b = _Pair("a"), _Pair("b")
    assert park.put(a, now=100.0)
    assert park.put(b, now=105.0)
    assert park.take(109.9) is None  # a finished call's stray packets may still come
    assert park.take(110.0) is a
    assert park.take(110.0) is None
    assert park.take(110.0, any_age=True) is b  # no port left to bind: a short rest will do
    assert len(park) == 0


def test_a_pair_still_hearing_a_stream_is_not_handed_out_but_rests_again() -> None:
    """A finished call's peer that goes on sending after its BYE would be latched by the next
    leg on the port: such a pair waits until it has been quiet for the whole rest."""
    park: SocketPark[_Pair] = SocketPark(capacity=4, rest=10.0)
    noisy, quiet = _Pair("noisy", quiet_since=100.0), _Pair("quiet", quiet_since=101.0)
    assert park.put(noisy, 100.0)
    assert park.put(quiet, 101.0)
    noisy.quiet_since = 108.0  # a packet reached it while parked
    assert park.take(111.0) is quiet  # the noisy one went to the back
    assert park.take(117.9) is None
    assert park.take(118.0) is noisy


def test_a_full_or_closed_park_refuses_and_closing_closes_every_pair() -> None:
    park: SocketPark[_Pair] = SocketPark(capacity=2, rest=0.0)
    pairs = [_Pair(str(n)) for n in range(3)]
    assert park.put(pairs[0], 0.0)
    assert park.put(pairs[1], 0.0)
    assert not park.has_room()
    assert not park.put(pairs[2], 0.0)
    park.close()
    assert [p.closed for p in pairs] == [True, True, False]
    assert not park.put(pairs[2], 1.0)
    assert park.take(99.0, any_age=True) is None


@given(st.lists(st.tuples(st.booleans(), st.floats(0, 30)), max_size=60))
def test_the_park_never_exceeds_its_capacity_nor_hands_out_a_pair_twice(
    steps: list[tuple[bool, float]],
) -> None:
    park: SocketPark[_Pair] = SocketPark(capacity=5, rest=3.0)
    now, out, parked = 0.0, [], 0
    for put, dt in steps:
        now += dt
        if put:
            parked += park.put(_Pair(str(parked)), now)
        elif (pair := park.take(now)) is not None:
            out.append(pair)
        assert len(park) <= 5
    assert len({id(p) for p in out}) == len(out) == parked - len(park)


async def _talk(session: RtpSession, peer: Peer) -> bytes:
    """A packet from the peer reaches the session, and the session's reply reaches the peer."""
    got: list[bytes] = []
    session.add_listener(lambda packet, arrival: got.append(packet.payload))
    peer.send_rtp(b"\x01" * 160, session.local_addr)
    for _ in range(100):
        if got:
            break
        await asyncio.sleep(0.01)
    session.send_payload(b"\x02" * 160)
    for _ in range(100):
        if any(p.payload == b"\x02" * 160 for p, _ in peer.packets):
            break
        await asyncio.sleep(0.01)
    assert any(p.payload == b"\x02" * 160 for p, _ in peer.packets)
    return got[0]


async def _ports_back(pool: PortPool) -> int:
    """The pool's free pairs once closed sockets had time to go (the kernel closes them after
    the loop's next turn)."""
    for _ in range(100):
        if pool.available == pool.capacity:
            break
        await asyncio.sleep(0.01)
    return pool.available


async def test_a_closed_leg_parks_its_open_sockets_and_the_next_leg_talks_on_them() -> None:
    pool = make_pool(4)
    park: SocketPark[BoundPair] = SocketPark(capacity=8, rest=0.0)
    peer = await Peer.create()
    try:
        first = await RtpSession.open(pool, remote_addr=peer.addr, name="first", park=park)
        port = first.local_port
        assert await _talk(first, peer) == b"\x01" * 160
        await first.aclose()  # returns at once: nothing to wait for, the sockets stay open
        assert len(park) == 1
        assert pool.available == 3
        # a finished call's late packet reaches the parked pair, which drops it
        peer.send_rtp(b"\x03" * 160, ("127.0.0.1", port))
        await asyncio.sleep(0.05)
        second = await RtpSession.open(pool, remote_addr=peer.addr, name="second", park=park)
        assert second.local_port == port
        assert len(park) == 0
        assert first.stats.received_packets == 1  # the late packet never reached the old leg
        assert await _talk(second, peer) == b"\x01" * 160
        assert second.stats.received_packets == 1  # nor the new one
        await second.aclose()
        park.close()
        assert await _ports_back(pool) == 4  # closed for good: every port back in the pool
    finally:
        peer.close()


async def test_a_resting_pair_is_not_taken_and_a_full_park_lets_the_sockets_close() -> None:
    pool = make_pool(4)
    park: SocketPark[BoundPair] = SocketPark(capacity=1, rest=60.0)
    a = await RtpSession.open(pool, name="a", park=park)
    b = await RtpSession.open(pool, name="b", park=park)
    await a.aclose()
    await b.aclose()  # the park is full: b's sockets are closed and its port released
    assert len(park) == 1
    assert pool.available == 3
    c = await RtpSession.open(pool, name="c", park=park)  # a's pair rests: c binds anew
    assert c.local_port not in (a.local_port,)
    assert len(park) == 1
    await c.aclose()
    park.close()
    assert await _ports_back(pool) == 4
