"""The native relay of a plain bridged talk (`vpbx.media._fastrelay`): when a bridge may hand
its packets to it, and how the stream state goes over and comes back (issue 17).

While both legs of a bridge are in the plain talk state (latched, no listener but the bridge,
no recorder, no playback, no SRTP), each leg gets a second UDP socket on its own port,
connected to its latched peer: the kernel then gives that socket every packet of the peer,
and the leg's own socket (its asyncio transport) keeps the rest (strangers). The C core reads
both connected sockets, rewrites plain audio and sends it on; anything else comes back to the
leg's Python path in order. By default the core reads them on a thread of its own (an
`Engine`, one per RTP port pool, without the GIL: the talk does not wait for the event loop,
and no Python runs per packet), handing what is not plain audio to the loop through an eventfd;
`VPBX_FAST_RELAY=loop` has the loop read them instead (`loop.add_reader`, one call per
readiness event for a batch of packets). The state the core changes (the receiving leg's
reception statistics and counters, the bridge relay's expectations, the sending leg's
`RtpSender` and send counters) lives in the core while it relays: the Python side takes it over
around any code of its own that touches it (`hold`/`release`, which also keeps the thread off
it) and for good when the talk state ends (`leave`), so numbering and statistics continue
seamlessly whichever side relays.

This module reaches into the private fields of the objects whose state it carries (sessions,
senders, reception statistics, the bridge's relays): the core stands in for their code.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from vpbx.media.errors import MediaError
from vpbx.media.session import Address, RtpSession

if TYPE_CHECKING:
    from vpbx.media._fastrelay import Engine, Pair

try:
    from vpbx.media import _fastrelay as _native_module

    _native: ModuleType | None = _native_module
except ImportError:  # not built (no compiler when installed): the Python relay does the work
    _native = None

__all__ = [
    "ENV",
    "FastRelay",
    "RelayState",
    "available",
    "engine_of",
    "tables_for",
    "threaded",
    "wanted",
]

log = logging.getLogger("vpbx.media.fastrelay")

#: "0": never use the native relay; "1": always (an error when it is not built); unset: when
#: built; "loop": as "1", with the event loop reading the relay's sockets instead of its thread
ENV = "VPBX_FAST_RELAY"

#: what the Python relay keeps of a direction (`vpbx.media.bridge._Relay`)
if TYPE_CHECKING:
    from vpbx.media.bridge import _Relay as RelayState
else:
    RelayState = Any


def available() -> bool:
    """Whether the C extension was built."""
    return _native is not None


def wanted() -> bool:
    """Whether new bridges use the native relay (the environment's `VPBX_FAST_RELAY`)."""
    setting = os.environ.get(ENV, "").strip()
    if setting == "0":
        return False
    if setting in ("1", "loop") and _native is None:
        raise MediaError(
            f"{ENV}={setting} but vpbx.media._fastrelay is not built (pip install -e .)"
        )
    return _native is not None


#: the relay thread's nice value: its packets go before the event loop's work on the same core
#: (with the loop's nice 0 it weighs ~9 times more; without CAP_SYS_NICE it stays at the
#: process's and says so in the log)
RELAY_NICE = -10


def threaded() -> bool:
    """Whether the native relay reads its sockets on its own thread (else on the event loop)."""
    return os.environ.get(ENV, "").strip() != "loop"


def engine_of(session: RtpSession) -> Engine:
    """The relay thread of the session's port pool, made at first use; the session's event
    loop reads its eventfd (what the thread hands to the Python path). A pool used from
    another loop than its engine's (tests: one loop each) gets a new engine; the old one
    ends with its last pair."""
    assert _native is not None
    pool = session._pool
    loop = session._loop
    held = pool.relay_engine
    if held is not None:
        owner, engine = held
        if owner is loop and engine.running and not loop.is_closed():
            return engine
    fresh: Engine = _native.Engine(nice=RELAY_NICE)
    if fresh.nice_error:
        log.warning(
            "relay thread not prioritised",
            extra={"nice": RELAY_NICE, "error": os.strerror(fresh.nice_error)},
        )
    loop.add_reader(fresh.notify_fd, fresh.deliver)
    pool.relay_engine = (loop, fresh)
    return fresh


def _fit(session: RtpSession, relay: RelayState) -> bool:
    """The plain talk state of one leg: what `RtpSession.relay_audio` short-cuts, with an
    address to send to (a leg not latched yet has its packets go the Python way until it is)."""
    return (
        not session._closing
        and session._fast is None
        and session._srtp is None
        and session._source is None
        and session._relay is relay
        and session._relay_audio is not None
        and session._listeners == [relay]
        and not session._sent_listeners
        and session.remote_addr is not None
        and session._rtp_transport is not None
        and session._rtp_transport.get_extra_info("socket") is not None
    )


def _connected_twin(session: RtpSession, peer: Address) -> socket.socket:
    """A second socket on the session's RTP port, connected to its peer.

    Both sockets need SO_REUSEPORT while the second binds; it is cleared on both at once, so
    no other socket can join the port afterwards (a connected UDP socket gets the packets of
    its peer: the kernel prefers the more specific match)."""
    transport = session._rtp_transport
    assert transport is not None
    own = transport.get_extra_info("socket")
    local = own.getsockname()
    twin = socket.socket(own.family, socket.SOCK_DGRAM)
    try:
        own.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            twin.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            twin.setblocking(False)
            twin.bind(local)
            twin.connect(peer)
        finally:
            own.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 0)
        twin.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 0)
    except OSError:
        twin.close()
        raise
    return twin


class FastRelay:
    """The native relay of one bridge: enters when both legs are in the plain talk state,
    leaves when either is not any more (see the module doc)."""

    def __init__(
        self,
        a: RtpSession,
        b: RtpSession,
        relays: tuple[RelayState, RelayState],
        tables: tuple[bytes | None, bytes | None],
        *,
        thread: bool | None = None,
    ) -> None:
        if _native is None:
            raise MediaError("vpbx.media._fastrelay is not built")
        #: the relay's sockets are read by the pool's relay thread (else by the event loop)
        self._thread = threaded() if thread is None else thread
        self._a = a
        self._b = b
        self._relays = relays
        self._tables = tables
        self._loop = a._loop
        self._pair: Pair | None = None
        self._sockets: tuple[socket.socket, socket.socket] | None = None
        self._peers: tuple[Address, Address] = (("", 0), ("", 0))
        #: the Python side holds the state (depth of nested `hold`s)
        self._held = 0
        #: asked to enter while the Python side held the state or the last connected sockets
        #: were being drained: try again once neither is so
        self._retry = False
        #: the connected sockets of the last `leave` are still open (they hold the port)
        self._draining = False
        self._oversize_seen = [0, 0]
        #: times the relay entered (tests and logs)
        self.entered = 0
        #: the connected sockets could not be made: this bridge stays with the Python relay
        self._broken = False

    @property
    def active(self) -> bool:
        return self._pair is not None

    # --- entering and leaving -----------------------------------------------------------

    def try_enter(self) -> bool:
        """Take the talk over if both legs are in the plain talk state; True if relaying."""
        if self._pair is not None:
            return True
        if self._broken:
            return False
        if self._held or self._draining:
            self._retry = True
            return False
        a, b = self._a, self._b
        if not (_fit(a, self._relays[0]) and _fit(b, self._relays[1])):
            return False
        assert _native is not None
        peer_a, peer_b = a.remote_addr, b.remote_addr
        assert peer_a is not None
        assert peer_b is not None
        try:
            twin_a = _connected_twin(a, peer_a)
            try:
                twin_b = _connected_twin(b, peer_b)
            except OSError:
                twin_a.close()
                raise
        except OSError as exc:
            log.warning(
                "native relay not entered", extra={"a": a.name, "b": b.name, "error": str(exc)}
            )
            self._broken = True
            return False
        fd_a, fd_b = twin_a.fileno(), twin_b.fileno()
        pair: Pair = _native.Pair(
            self._loop.time,
            (fd_a, fd_b, a.payload_type, self._fallback_a, b._sender.ssrc,
             b._sender.payload_type, self._tables[0], 8000.0),
            (fd_b, fd_a, b.payload_type, self._fallback_b, a._sender.ssrc,
             a._sender.payload_type, self._tables[1], 8000.0),
        )  # fmt: skip
        self._peers = (peer_a, peer_b)
        self._oversize_seen = [0, 0]
        try:
            self._push(pair)
            if self._thread:
                engine_of(a).attach(pair)
            else:
                self._loop.add_reader(fd_a, pair.pump_a)
                self._loop.add_reader(fd_b, pair.pump_b)
        except Exception:
            if not self._thread:
                self._loop.remove_reader(fd_a)
                self._loop.remove_reader(fd_b)
            pair.close()  # (detached too) before the numbers can be reused (see `_drain`)
            twin_a.close()
            twin_b.close()
            raise
        self._pair = pair
        self._sockets = (twin_a, twin_b)
        a._fast = b._fast = self
        self.entered += 1
        log.debug("native relay entered", extra={"a": a.name, "b": b.name})
        return True

    def leave(self) -> None:
        """Stop relaying; the state goes back to the legs' objects (see the module doc).

        What is still queued on the connected sockets goes the Python way: at once, or after
        the Python code now running (a leave from within the relay's own fallback)."""
        pair, sockets = self._pair, self._sockets
        if pair is None or sockets is None:
            return
        pair.stop()  # first: the relay thread relays nothing more after the state is read
        if not self._held:
            self._pull(pair)
        self._pair = None
        self._sockets = None
        self._draining = True
        self._a._fast = self._b._fast = None
        if pair.attached:
            pair.detach()
        else:
            for twin in sockets:
                self._loop.remove_reader(twin.fileno())
        if self._held:
            self._loop.call_soon(self._drain, pair, sockets)
        else:
            self._drain(pair, sockets)
        log.debug("native relay left", extra={"a": self._a.name, "b": self._b.name})

    def _drain(self, pair: Pair, sockets: tuple[socket.socket, socket.socket]) -> None:
        try:
            pair.pump_a()
            pair.pump_b()
        finally:
            # the pair forgets the descriptors first: a late pump or feed (a reader callback
            # already queued, a stale reference) must not reach the socket of another call
            # that gets one of these numbers next
            pair.close()
            for twin in sockets:
                twin.close()
            self._draining = False
        if self._retry:
            # not now: the code that made the relay leave (a listener being added, a source
            # set) has not finished changing the state the relay's fitness depends on
            self._retry = False
            self._loop.call_soon(self.try_enter)

    # --- the state ----------------------------------------------------------------------

    def refresh(self) -> None:
        pair = self._pair
        if pair is not None and not self._held:
            self._pull(pair)

    def hold(self) -> None:
        pair = self._pair
        if pair is not None and not self._held:
            pair.hold()  # the relay thread keeps off the state until `release`
            self._pull(pair)
        self._held += 1

    def release(self) -> None:
        self._held -= 1
        if self._held:
            return
        pair = self._pair
        if pair is not None:
            self._push(pair)
            pair.unhold()
        elif self._retry and not self._draining:
            self._retry = False
            self._loop.call_soon(self.try_enter)

    def _pull(self, pair: Pair) -> None:
        """The core's state into the legs' objects."""
        legs = ((self._a, self._b), (self._b, self._a))
        for which, ((src, dst), relay, state) in enumerate(
            zip(legs, self._relays, pair.get_state(), strict=True)
        ):
            (
                _ready, _rx_ssrc, max_seq, cycles, received, jitter, last_arrival, last_ts,
                received_packets, oversize, in_ssrc, expected_ts, offset,
                sequence, timestamp, talkspurt, packets, octets,
                sent_packets, send_errors, sent_since_report,
            ) = state  # fmt: skip
            reception = src._reception
            if reception is not None:
                reception._max_seq = max_seq
                reception._cycles = cycles
                reception._received = received
                reception._jitter = jitter
                reception._last_arrival = last_arrival
                reception._last_ts = last_ts
            src._stats.received_packets = received_packets
            src._stats.dropped_malformed += oversize - self._oversize_seen[which]
            self._oversize_seen[which] = oversize
            relay._in_ssrc = in_ssrc
            relay._expected_ts = expected_ts
            relay._offset = offset
            sender = dst._sender
            sender._sequence = sequence
            sender._timestamp = timestamp
            sender._talkspurt = bool(talkspurt)
            sender._packets = packets
            sender._octets = octets
            dst._stats.sent_packets = sent_packets
            dst._stats.send_errors = send_errors
            dst._sent_since_report = bool(sent_since_report)

    def _push(self, pair: Pair) -> None:
        """The legs' objects' state into the core."""
        states: list[tuple[Any, ...]] = []
        legs = ((self._a, self._b), (self._b, self._a))
        for which, ((src, dst), relay, peer) in enumerate(
            zip(legs, self._relays, self._peers, strict=True)
        ):
            reception = src._reception
            latch = src._latch
            ready = (
                reception is not None
                and src._rx_ssrc is not None
                and reception.ssrc == src._rx_ssrc
                and latch.address == peer
                and latch.holds(peer, src._rx_ssrc)
            )
            sender = dst._sender
            states.append(
                (
                    ready,
                    src._rx_ssrc or 0,
                    reception._max_seq if reception else 0,
                    reception._cycles if reception else 0,
                    reception._received if reception else 0,
                    reception._jitter if reception else 0.0,
                    reception._last_arrival if reception else None,
                    reception._last_ts if reception else 0,
                    src._stats.received_packets,
                    self._oversize_seen[which],
                    relay._in_ssrc,
                    relay._expected_ts,
                    relay._offset,
                    sender._sequence,
                    sender._timestamp,
                    sender._talkspurt,
                    sender._packets,
                    sender._octets,
                    dst._stats.sent_packets,
                    dst._stats.send_errors,
                    dst._sent_since_report,
                )
            )
        pair.set_state((states[0], states[1]))

    # --- packets the core does not relay ------------------------------------------------

    def inject(self, session: RtpSession, data: bytes, addr: Address) -> None:
        """A datagram the leg's own socket received (a stranger's, or one queued there before
        the connected socket existed): the core's if it is from the peer, else Python's."""
        pair = self._pair
        which = 0 if session is self._a else 1
        if pair is not None and addr == self._peers[which]:
            pair.feed(which, data)
        else:
            self._python(session, data, addr)

    def _fallback_a(self, data: bytes) -> None:
        self._fallback(self._a, data, 0)

    def _fallback_b(self, data: bytes) -> None:
        self._fallback(self._b, data, 1)

    def _fallback(self, session: RtpSession, data: bytes, which: int) -> None:
        addr = self._peers[which]
        if self._pair is None:
            # drained after leaving: the way any packet goes now (maybe another relay's)
            session._on_rtp_datagram(data, addr)
            return
        self._python(session, data, addr)

    def _python(self, session: RtpSession, data: bytes, addr: Address) -> None:
        if self._pair is None:
            session._on_rtp_datagram(data, addr)
            return
        self.hold()
        try:
            session._receive_rtp(data, addr)
            latched = session._latch.address
            peer = self._peers[0 if session is self._a else 1]
            if self._pair is not None and latched is not None and latched != peer:
                # the leg latched another address than the one its socket is connected to
                # (a peer behind NAT): connect anew
                self.leave()
                self._retry = True
        finally:
            self.release()


def tables_for(
    translate: Callable[[bytes], bytes] | None,
) -> bytes | None:
    """The 256-byte table of a byte-wise law conversion (None: none)."""
    return None if translate is None else translate(bytes(range(256)))
