"""One call leg's RTP session on asyncio: pacing, symmetric latching, DTMF, RTCP, counters."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt

from vpbx.media import g711
from vpbx.media.dtmf import DtmfDigit, DtmfReceiver
from vpbx.media.errors import MediaError
from vpbx.media.park import SocketPark
from vpbx.media.player import SILENCE_FRAME, MediaSource, Player, Silence
from vpbx.media.ports import PortPool
from vpbx.media.reception import ReceptionStats
from vpbx.media.rtp import (
    RTP_HEADER_SIZE,
    Latch,
    Pacer,
    PacketKind,
    RtcpBye,
    RtcpPacket,
    RtcpParseError,
    RtcpReceiverReport,
    RtcpSenderReport,
    RtcpUnknown,
    RtpPacket,
    RtpParseError,
    RtpSender,
    classify,
    ntp_from_unix,
    parse_rtcp,
    serialize_rtcp,
)
from vpbx.media.srtp import Srtp

__all__ = [
    "PCMA",
    "PCMU",
    "Address",
    "AudioRelay",
    "BoundPair",
    "Codec",
    "FastPath",
    "PacketListener",
    "RtpSession",
    "SentListener",
    "SessionStats",
    "codec_for",
]

_SEQUENCE_TIMESTAMP_SSRC: Final = struct.Struct("!HII")

Pcm = npt.NDArray[np.int16]
Address = tuple[str, int]
PacketListener = Callable[[RtpPacket, float], None]
SentListener = Callable[[bytes, int], None]
#: a bridge's relay of plain audio (`RtpSession.relay_audio`): payload, timestamp, SSRC and
#: marker bit of a packet
AudioRelay = Callable[[bytes, int, int, bool], None]
DtmfHandler = Callable[[DtmfDigit], None]


class FastPath(Protocol):
    """A native relay that holds a bridged session's stream state while it relays for it
    (`vpbx.media.fastrelay`): the numbering of what the session sends, the statistics of what
    it receives. The session asks for that state back before its own code touches it."""

    def inject(self, session: RtpSession, data: bytes, addr: Address) -> None:
        """A datagram the session's own socket received: the relay's to judge."""
        ...

    def refresh(self) -> None:
        """Copy the state into the session's objects (to read them)."""
        ...

    def hold(self) -> None:
        """The session's code takes the state over (until `release`)."""
        ...

    def release(self) -> None:
        """The relay takes the state back from the session's objects."""
        ...

    def leave(self) -> None:
        """Stop relaying: the state stays with the session from now on."""
        ...


log = logging.getLogger("vpbx.media.session")

PTIME: Final = 0.020
FRAME_SAMPLES: Final = 160
# Datagrams larger than this are not RTP we can use. The default asyncio transport reads
# into a 256 KiB buffer per packet, which triples its per-packet cost (TESTING.md).
RECV_BUFFER: Final = 2048
# After a stall, at most this many late frames go out back to back; older ones are skipped
# (the source and the RTP clock still advance, so audio stays in time).
MAX_BURST: Final = 3
DTMF_QUEUE_SIZE: Final = 64


@dataclass(frozen=True, slots=True)
class Codec:
    """A G.711 flavour: its static payload type, coder functions and silence byte."""

    name: str
    payload_type: int
    encode: Callable[[Pcm], bytes]
    decode: Callable[[bytes], Pcm]
    silence: int


PCMU: Final = Codec("PCMU", 0, g711.ulaw_encode, g711.ulaw_decode, g711.ULAW_SILENCE)
PCMA: Final = Codec("PCMA", 8, g711.alaw_encode, g711.alaw_decode, g711.ALAW_SILENCE)
_CODECS: Final = {PCMU.payload_type: PCMU, PCMA.payload_type: PCMA}


def codec_for(payload_type: int) -> Codec:
    """The codec of a negotiated payload type (PCMU 0 or PCMA 8)."""
    try:
        return _CODECS[payload_type]
    except KeyError:
        raise MediaError(f"unsupported audio payload type {payload_type}") from None


@dataclass(slots=True)
class SessionStats:
    """Counters of one session: what went out, what came in, and what was dropped and why."""

    sent_packets: int = 0
    received_packets: int = 0
    received_dtmf_packets: int = 0
    dropped_malformed: int = 0  # not parseable as RTP/RTCP
    dropped_not_rtp: int = 0  # not version 2 (STUN, garbage)
    dropped_foreign_address: int = 0  # from another address after latching
    dropped_foreign_ssrc: int = 0  # another SSRC from the latched address (not yet switched)
    dropped_unknown_payload: int = 0  # a payload type that was not negotiated
    rtcp_sent: int = 0
    rtcp_received: int = 0
    frames_skipped: int = 0  # late frames dropped after a stall of the event loop
    send_errors: int = 0
    listener_errors: int = 0

    @property
    def dropped(self) -> int:
        return (
            self.dropped_malformed
            + self.dropped_not_rtp
            + self.dropped_foreign_address
            + self.dropped_foreign_ssrc
            + self.dropped_unknown_payload
        )

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class _Endpoint(asyncio.DatagramProtocol):
    """Forwards datagrams of one socket to a session method; reports when the socket is gone."""

    def __init__(
        self,
        on_datagram: Callable[[bytes, Address], None],
        on_lost: Callable[[], None],
    ) -> None:
        # changed when the socket passes from one session to the next (a parked pair)
        self.on_datagram = on_datagram
        self.on_lost = on_lost

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Only the selector-based asyncio transport has (and needs) this knob; uvloop reads
        # into its own buffer.
        with contextlib.suppress(AttributeError):
            transport.max_size = RECV_BUFFER  # type: ignore[attr-defined]

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a peer that went away: not a reason to stop.
        log.debug("rtp socket error", extra={"error": str(exc)})

    def connection_lost(self, exc: Exception | None) -> None:
        self.on_lost()


def _nothing() -> None:
    pass


def _ignored(data: bytes, addr: Address) -> None:
    pass


class BoundPair:
    """A closed session's two open sockets, parked for the next session (`vpbx.media.park`);
    their port returns to the pool once both are really closed."""

    __slots__ = (
        "_clock",
        "_open",
        "_pool",
        "port",
        "quiet_since",
        "rtcp",
        "rtcp_endpoint",
        "rtp",
        "rtp_endpoint",
    )

    def __init__(
        self,
        port: int,
        pool: PortPool,
        rtp: tuple[asyncio.DatagramTransport, _Endpoint],
        rtcp: tuple[asyncio.DatagramTransport, _Endpoint],
        clock: Callable[[], float],
    ) -> None:
        self.port = port
        self._pool = pool
        self._clock = clock
        self.quiet_since = clock()
        self.rtp, self.rtp_endpoint = rtp
        self.rtcp, self.rtcp_endpoint = rtcp
        self._open = 2
        for endpoint in (self.rtp_endpoint, self.rtcp_endpoint):
            endpoint.on_datagram = self._heard
            endpoint.on_lost = self._lost

    def _heard(self, data: bytes, addr: Address) -> None:
        """A packet for nobody (a finished call's peer still sending): dropped, and the pair
        rests again from now (see `vpbx.media.park`)."""
        self.quiet_since = self._clock()

    def _lost(self) -> None:
        self._open -= 1
        if self._open == 0:
            self._pool.release(self.port)
            for endpoint in (self.rtp_endpoint, self.rtcp_endpoint):  # no cycle left
                endpoint.on_datagram = _ignored
                endpoint.on_lost = _nothing

    def close(self) -> None:
        self.rtp.close()
        self.rtcp.close()


class RtpSession:
    """The RTP/RTCP endpoint of one call leg.

    Media goes out one packet per 20 ms from the current source (`play`, `set_source`), paced
    by one timer on the loop clock; with no source (`set_source(None)`) a bridge or a
    conference sends through `send_payload`/`send_pcm` instead. Whatever the source, one
    `RtpSender` numbers the stream, so the peer sees one SSRC with continuous sequence
    numbers and timestamps, and the marker bit where a new source starts.

    Incoming packets: the first one latches the peer's address (symmetric RTP) and media goes
    back there; everything else is counted in `stats` and dropped. Digits (RFC 4733) go to
    `dtmf_handler` if set, else into `dtmf_queue`; accepted packets go to the listeners.
    """

    def __init__(
        self,
        *,
        loop: asyncio.AbstractEventLoop,
        pool: PortPool,
        port: int,
        host: str,
        remote_addr: Address | None,
        payload_type: int,
        dtmf_payload_type: int | None,
        ssrc: int,
        rtcp_interval: float,
        name: str,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._loop = loop
        #: the wall clock (Unix seconds) of RTCP sender reports' NTP time; timing is the loop's
        self._wall = wall
        self._pool = pool
        self._port = port
        self._host = host
        self.name = name
        self._codec = codec_for(payload_type)
        self._dtmf_pt = dtmf_payload_type
        self._remote = remote_addr
        self._latch = Latch()
        self._rtcp_remote: Address | None = None
        self._sender = RtpSender(
            ssrc,
            self._codec.payload_type,
            sequence=random.getrandbits(16),
            timestamp=random.getrandbits(32),
        )
        self._silence_payload = bytes([self._codec.silence]) * FRAME_SAMPLES
        self._source: MediaSource | None = None
        self._pacer: Pacer | None = None
        self._timer: asyncio.Handle | None = None
        # uvloop's call_at answers a plain Handle (no .when()) for a deadline already passed:
        # the deadline is kept beside the handle (calls were hung up at ~9.6 s under vpbx run).
        self._timer_when = 0.0
        self._rtcp_interval = rtcp_interval
        self._next_rtcp = loop.time() + rtcp_interval * random.uniform(0.5, 1.5)
        self._sent_since_report = False
        self._dtmf = DtmfReceiver()
        self._rx_ssrc: int | None = None
        self._reception: ReceptionStats | None = None
        self._listeners: list[PacketListener] = []
        self._sent_listeners: list[SentListener] = []
        self._relay: PacketListener | None = None
        self._relay_audio: AudioRelay | None = None
        self.dtmf_handler: DtmfHandler | None = None
        self.dtmf_queue: asyncio.Queue[DtmfDigit] = asyncio.Queue(DTMF_QUEUE_SIZE)
        self._stats = SessionStats()
        #: the native relay holding this session's stream state, while it does
        self._fast: FastPath | None = None
        #: called when this session may have become fit for the native relay again
        self.fast_ready: Callable[[], object] | None = None
        #: called when this session leaves the plain talk state (kernel forwarding's hook,
        #: `vpbx.media.kernel_rtp`): the same moments the native relay is left
        self.plain_left: Callable[[], None] | None = None
        self._rtp_transport: asyncio.DatagramTransport | None = None
        self._rtcp_transport: asyncio.DatagramTransport | None = None
        self._srtp: Srtp | None = None
        self._open_sockets = 0
        #: the two sockets' protocols, kept to hand the pair to the park at close
        self._endpoints: tuple[_Endpoint, _Endpoint] | None = None
        self._park: SocketPark[BoundPair] | None = None
        self._closing = False
        self._closed = loop.create_future()
        self._log_extra: dict[str, Any] = {"session": name, "rtp_port": port}

    # --- opening and closing ------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        pool: PortPool,
        *,
        host: str = "127.0.0.1",
        remote_addr: Address | None = None,
        payload_type: int = 0,
        dtmf_payload_type: int | None = 101,
        ssrc: int | None = None,
        rtcp_interval: float = 5.0,
        name: str = "",
        wall: Callable[[], float] = time.time,
        park: SocketPark[BoundPair] | None = None,
    ) -> RtpSession:
        """Bind an RTP/RTCP port pair from `pool` on `host` and start the session; with a
        `park`, take a rested pair of it when there is one, and park the pair at close.

        Pairs another process holds are skipped (and returned to the pool); PortsExhausted
        when the pool is empty (and the park too), MediaError when no pair could be bound.
        """
        loop = asyncio.get_running_loop()
        codec_for(payload_type)  # fail before taking a port

        def new(port: int) -> RtpSession:
            session = cls(
                loop=loop,
                pool=pool,
                port=port,
                host=host,
                remote_addr=remote_addr,
                payload_type=payload_type,
                dtmf_payload_type=dtmf_payload_type,
                ssrc=random.getrandbits(32) if ssrc is None else ssrc,
                rtcp_interval=rtcp_interval,
                name=name,
                wall=wall,
            )
            session._park = park
            return session

        if park is not None:
            pair = park.take(loop.time(), any_age=not pool.available)
            if pair is not None:
                session = new(pair.port)
                session._adopt(pair)
                session._schedule()
                return session
        attempts = pool.capacity
        for _ in range(attempts):
            port = pool.acquire()
            session = new(port)
            try:
                await session._bind()
            except OSError as exc:
                log.info(
                    "rtp port pair busy, trying another",
                    extra={"rtp_port": port, "error": str(exc)},
                )
                session._abort_bind()
                continue
            session._schedule()
            log.debug(
                "rtp session open",
                extra={**session._log_extra, "remote": remote_addr, "pt": payload_type},
            )
            return session
        raise MediaError(f"could not bind any RTP port pair of the pool on {host}")

    async def _bind(self) -> None:
        loop = self._loop
        rtp = _Endpoint(self._on_rtp_datagram, self._on_socket_lost)
        transport, _ = await loop.create_datagram_endpoint(
            lambda: rtp, sock=_bound_udp_socket(self._host, self._port)
        )
        self._rtp_transport = transport
        self._open_sockets += 1
        rtcp = _Endpoint(self._on_rtcp_datagram, self._on_socket_lost)
        transport, _ = await loop.create_datagram_endpoint(
            lambda: rtcp, sock=_bound_udp_socket(self._host, self._port + 1)
        )
        self._rtcp_transport = transport
        self._open_sockets += 1
        self._endpoints = (rtp, rtcp)

    def _adopt(self, pair: BoundPair) -> None:
        """Take over a parked pair's open sockets."""
        pair.rtp_endpoint.on_datagram = self._on_rtp_datagram
        pair.rtcp_endpoint.on_datagram = self._on_rtcp_datagram
        pair.rtp_endpoint.on_lost = pair.rtcp_endpoint.on_lost = self._on_socket_lost
        self._rtp_transport, self._rtcp_transport = pair.rtp, pair.rtcp
        self._endpoints = (pair.rtp_endpoint, pair.rtcp_endpoint)
        self._open_sockets = 2

    def _abort_bind(self) -> None:
        if self._rtp_transport is not None:
            self._closing = True
            self._rtp_transport.close()  # releases the port once the socket is gone
        else:
            self._pool.release(self._port)

    def _on_socket_lost(self) -> None:
        self._open_sockets -= 1
        if self._open_sockets == 0:
            # Only now is the socket really closed: releasing earlier could hand the port to
            # a new session that then fails to bind it.
            self._pool.release(self._port)
            self._finished()

    def _finished(self) -> None:
        """Nothing more can arrive: the handlers (bound methods of the call, bridges) and
        the transports (whose protocols point back here) are let go, so a finished call
        leaves no reference cycle for the garbage collector."""
        if not self._closed.done():
            self._closed.set_result(None)
        self._rtp_transport = self._rtcp_transport = None
        self._endpoints = None
        self._listeners.clear()
        self._sent_listeners.clear()
        self._relay = self._relay_audio = None
        self.dtmf_handler = None
        self._fast = None
        self.fast_ready = None
        self.plain_left = None

    def _parked(self) -> bool:
        """Hand both open sockets to the park (True), or leave them to be closed (False)."""
        park, endpoints = self._park, self._endpoints
        rtp, rtcp = self._rtp_transport, self._rtcp_transport
        if (
            park is None
            or endpoints is None
            or rtp is None
            or rtcp is None
            or self._open_sockets != 2
            or rtp.is_closing()
            or rtcp.is_closing()
            or not park.has_room()
        ):
            return False
        pair = BoundPair(
            self._port, self._pool, (rtp, endpoints[0]), (rtcp, endpoints[1]), self._loop.time
        )
        park.put(pair, pair.quiet_since)
        self._open_sockets = 0
        self._finished()
        return True

    def close(self) -> None:
        """Stop sending, say RTCP BYE, close both sockets (the ports return to the pool)."""
        if self._closing:
            return
        self._leave_fast()
        self._closing = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._source is not None:
            self._source.close()
            self._source = None
        with contextlib.suppress(Exception):
            self._send_rtcp(self._loop.time(), bye=True)
        if not self._parked():
            for transport in (self._rtp_transport, self._rtcp_transport):
                if transport is not None:
                    transport.close()
        log.debug("rtp session closed", extra={**self._log_extra, **self._stats.as_dict()})

    async def aclose(self) -> None:
        """Close and wait until the sockets are released."""
        self.close()
        await asyncio.shield(self._closed)

    async def __aenter__(self) -> RtpSession:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # --- properties ---------------------------------------------------------------------

    @property
    def stats(self) -> SessionStats:
        """The counters (up to date also while the native relay counts for this session)."""
        if self._fast is not None:
            self._fast.refresh()
        return self._stats

    @property
    def srtp(self) -> Srtp | None:
        """SRTP of an encrypted leg (`vpbx.media.srtp`); None = plain RTP."""
        return self._srtp

    @srtp.setter
    def srtp(self, value: Srtp | None) -> None:
        self._leave_fast()  # the native relay passes plain RTP only
        self._srtp = value

    @property
    def fast(self) -> bool:
        """Whether the native relay (`vpbx.media.fastrelay`) relays this session's audio now."""
        return self._fast is not None

    def _leave_fast(self) -> None:
        if self._fast is not None:
            self._fast.leave()
        # after the native relay: the state the kernel path touches is the session's again
        if self.plain_left is not None:
            self.plain_left()

    def _fast_may_return(self) -> None:
        if self.fast_ready is not None and self._fast is None:
            self.fast_ready()

    @property
    def local_port(self) -> int:
        return self._port

    @property
    def local_addr(self) -> Address:
        return (self._host, self._port)

    @property
    def remote_addr(self) -> Address | None:
        """Where media goes: the latched source once the peer has sent, else the SDP address."""
        return self._latch.address or self._remote

    @property
    def latched(self) -> bool:
        return self._latch.address is not None

    @property
    def codec(self) -> Codec:
        return self._codec

    @property
    def payload_type(self) -> int:
        return self._codec.payload_type

    @property
    def dtmf_payload_type(self) -> int | None:
        return self._dtmf_pt

    @property
    def sender(self) -> RtpSender:
        """The numbering of the outgoing stream (read it; send through this session)."""
        if self._fast is not None:
            self._fast.refresh()
        return self._sender

    @property
    def ssrc(self) -> int:
        return self._sender.ssrc

    @property
    def closed(self) -> bool:
        return self._closing

    def update_remote(
        self,
        remote_addr: Address | None,
        payload_type: int | None = None,
        dtmf_payload_type: int | None = None,
    ) -> None:
        """A re-INVITE changed the peer: latch again; our own stream continues unchanged."""
        self._leave_fast()
        self._remote = remote_addr
        self._latch.reset()
        self._rtcp_remote = None
        if payload_type is not None and payload_type != self._codec.payload_type:
            self._codec = codec_for(payload_type)
            self._sender.payload_type = payload_type  # our stream follows the negotiated codec
            self._silence_payload = bytes([self._codec.silence]) * FRAME_SAMPLES
        if dtmf_payload_type is not None:
            self._dtmf_pt = dtmf_payload_type
        self._sender.start_talkspurt()

    # --- sources and sending ------------------------------------------------------------

    @property
    def source(self) -> MediaSource | None:
        return self._source

    def set_source(self, source: MediaSource | None) -> None:
        """Send from `source` from the next tick on (None: stop pacing; someone else sends).

        The replaced source is closed (a player that had not finished reports STOPPED). The
        stream continues with the same SSRC and numbering, the next packet marked.
        """
        if self._closing:
            raise MediaError("the session is closed")
        self._leave_fast()
        old = self._source
        self._source = source
        if old is not None and old is not source:
            old.close()
        if source is None:
            self._pacer = None
        else:
            self._sender.start_talkspurt()
            if self._pacer is None:
                # The first frame goes out now; later ones on a fixed grid from here.
                self._pacer = Pacer(self._loop.time(), PTIME)
        self._schedule()
        if source is None:
            self._fast_may_return()

    def play(self, prompts: list[Pcm], *, loop: bool = False, name: str = "") -> Player:
        """Play prompts (8 kHz int16), replacing the current source; silence follows the end."""
        player = Player(prompts, loop=loop, name=name)
        self.set_source(player)
        return player

    def send_payload(
        self,
        payload: bytes,
        *,
        payload_type: int | None = None,
        marker: bool = False,
        timestamp: int | None = None,
        samples: int | None = None,
    ) -> None:
        """Send one packet of this stream now (for bridges and conferences; see RtpSender)."""
        # the header alone is built (no packet object): this runs for every relayed packet
        header = self._sender.next_header(
            len(payload), payload_type, marker, timestamp=timestamp, samples=samples
        )
        self._transmit(header + payload)
        if self._sent_listeners and (payload_type is None or payload_type == self.payload_type):
            self._notify_sent(payload)

    def send_audio(self, payload: bytes, marker: bool) -> None:
        """`send_payload` of a G.711 frame of this stream's payload type (one byte a sample):
        what a bridge sends for nearly every packet it relays, in fewer steps."""
        self._transmit(self._sender.audio_header(len(payload), marker) + payload)
        if self._sent_listeners:
            self._notify_sent(payload)

    def send_pcm(self, frame: Pcm) -> None:
        """Encode a 160-sample frame with this leg's codec and send it now."""
        payload = self._silence_payload if frame is SILENCE_FRAME else self._codec.encode(frame)
        self.send_payload(payload, samples=len(frame))

    def _transmit(self, data: bytes) -> None:
        destination = self._latch.address or self._remote
        transport = self._rtp_transport
        if destination is None or transport is None or self._closing:
            return
        if self._srtp is not None:
            data = self._srtp.protect(data)
        try:
            transport.sendto(data, destination)
        except OSError:
            self._stats.send_errors += 1
            return
        self._stats.sent_packets += 1
        self._sent_since_report = True

    def _notify_sent(self, payload: bytes) -> None:
        for listener in tuple(self._sent_listeners):
            try:
                listener(payload, self._codec.payload_type)
            except Exception:
                self._stats.listener_errors += 1
                log.exception("sent-media listener failed", extra=self._log_extra)

    def _next_frame(self) -> Pcm:
        source = self._source
        assert source is not None
        frame = source.read_frame()
        if frame is None:
            # The source has ended: keep the stream going with silence until told otherwise.
            source.close()
            self._source = Silence()
            return SILENCE_FRAME
        return frame

    def _send_frames(self, count: int) -> None:
        skip = count - MAX_BURST
        for _ in range(max(0, skip)):
            self._next_frame()
            self._sender.advance(FRAME_SAMPLES)
            self._stats.frames_skipped += 1
        if skip > 0:
            log.warning(
                "event loop stall: frames skipped", extra={**self._log_extra, "skipped": skip}
            )
        for _ in range(min(count, MAX_BURST)):
            self.send_pcm(self._next_frame())

    # --- the one timer ------------------------------------------------------------------

    def _schedule(self) -> None:
        """(Re)arm the session's single timer for its earliest duty."""
        if self._closing:
            return
        when = self._next_rtcp
        if self._pacer is not None:
            when = min(when, self._pacer.next_deadline)
        dtmf_due = self._dtmf.get_timer()
        if dtmf_due is not None:
            when = min(when, dtmf_due)
        timer = self._timer
        if timer is not None:
            if self._timer_when <= when:
                return
            timer.cancel()
        self._timer_when = when
        self._timer = self._loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        now = self._loop.time()
        pacer = self._pacer
        if pacer is not None and self._source is not None:
            due = pacer.due(now)
            if due:
                try:
                    self._send_frames(due)
                except Exception:
                    # A broken source must not stop the stream (or the timer): go silent.
                    log.exception("media source failed", extra=self._log_extra)
                    failed, self._source = self._source, Silence()
                    if failed is not None:
                        failed.close()
        if now >= self._next_rtcp:
            fast = self._fast
            if fast is None:
                self._send_rtcp(now)
            else:
                # the report reads (and restarts) what the native relay counts
                fast.hold()
                try:
                    self._send_rtcp(now)
                finally:
                    fast.release()
            # Randomised around the interval (RFC 3550 §6.3.1) so sessions do not synchronise.
            self._next_rtcp = now + self._rtcp_interval * random.uniform(0.5, 1.5)
        for digit in self._dtmf.flush(now):
            self._deliver_dtmf(digit)
        self._schedule()

    # --- receiving ----------------------------------------------------------------------

    def add_listener(self, listener: PacketListener) -> None:
        """Call `listener(packet, arrival)` for every accepted packet (audio and events)."""
        self._leave_fast()
        self._listeners.append(listener)

    def remove_listener(self, listener: PacketListener) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)
        self._fast_may_return()

    def add_sent_listener(self, listener: SentListener) -> None:
        """Call `listener(payload, payload_type)` for every audio packet this session sends."""
        self._leave_fast()
        self._sent_listeners.append(listener)

    def remove_sent_listener(self, listener: SentListener) -> None:
        with contextlib.suppress(ValueError):
            self._sent_listeners.remove(listener)
        self._fast_may_return()

    def relay_audio(self, listener: PacketListener | None, audio: AudioRelay | None) -> None:
        """A bridge's short cut: while `listener` is this session's only listener, a plain
        audio packet of the latched stream (no CSRC, extension or padding, not encrypted)
        goes to `audio` (what `listener` would do with it) without a packet object, the
        listener loop or its guard: the path of nearly every packet of a bridged talk. Any
        other packet, or any other listener added (a recorder, a trainer), takes the full
        path. None, None: no short cut."""
        self._leave_fast()
        self._relay = listener
        self._relay_audio = audio

    def _on_rtp_datagram(self, data: bytes, addr: Address) -> None:
        fast = self._fast
        if fast is not None:
            fast.inject(self, data, addr)
        else:
            self._receive_rtp(data, addr)

    def _receive_rtp(self, data: bytes, addr: Address) -> None:
        """The Python path of a datagram on the RTP port (also the native relay's fallback)."""
        audio = self._relay_audio
        if (
            audio is not None
            and len(data) > RTP_HEADER_SIZE
            and data[0] == 0x80  # version 2, no padding, extension or CSRC
            and data[1] & 0x7F == self._codec.payload_type
            and self._srtp is None
            and len(self._listeners) == 1
            and self._listeners[0] is self._relay
        ):
            sequence, timestamp, ssrc = _SEQUENCE_TIMESTAMP_SSRC.unpack_from(data, 2)
            reception = self._reception
            if reception is not None and ssrc == self._rx_ssrc and self._latch.holds(addr, ssrc):
                reception.update(sequence, timestamp, self._loop.time())
                self._stats.received_packets += 1
                audio(data[RTP_HEADER_SIZE:], timestamp, ssrc, data[1] >= 0x80)
                return
        kind = classify(data)
        if kind is PacketKind.RTCP:
            self._on_rtcp_datagram(data, addr)  # rtcp-mux (RFC 5761)
            return
        stats = self._stats
        if kind is PacketKind.OTHER:
            stats.dropped_not_rtp += 1
            return
        if self._srtp is not None:
            plain = self._srtp.unprotect(data)
            if plain is None:
                stats.dropped_malformed += 1  # not authentic (or no key yet): never played
                return
            data = plain
        try:
            packet = RtpPacket.parse(data)
        except RtpParseError:
            stats.dropped_malformed += 1
            return
        latch = self._latch
        was_latched = latch.address is not None
        if not latch.accept(addr, packet.ssrc):
            if addr != latch.address:
                stats.dropped_foreign_address += 1
            else:
                stats.dropped_foreign_ssrc += 1
            return
        if not was_latched:
            log.info("rtp latched", extra={**self._log_extra, "peer": addr, "ssrc": packet.ssrc})
        now = self._loop.time()
        pt = packet.payload_type
        is_audio = pt == self._codec.payload_type
        if not is_audio and pt != self._dtmf_pt:
            stats.dropped_unknown_payload += 1
            return
        if packet.ssrc != self._rx_ssrc:
            # A new source: its numbering starts over.
            self._rx_ssrc = packet.ssrc
            self._reception = ReceptionStats(packet.ssrc, packet.sequence)
            self._dtmf.reset()
        assert self._reception is not None
        self._reception.update(packet.sequence, packet.timestamp, now, media=is_audio)
        if is_audio:
            stats.received_packets += 1
        else:
            stats.received_dtmf_packets += 1
            digits = self._dtmf.feed(
                packet.timestamp, packet.sequence, packet.marker, packet.payload, now
            )
            for digit in digits:
                self._deliver_dtmf(digit)
            self._schedule()  # the DTMF loss timer may now be the earliest duty
        for listener in tuple(self._listeners):
            try:
                listener(packet, now)
            except Exception:
                stats.listener_errors += 1
                log.exception("rtp listener failed", extra=self._log_extra)

    def deliver_digit(self, digit: DtmfDigit) -> None:
        """A key that arrived outside RTP (SIP INFO) takes the same way as RFC 4733 keys."""
        self._deliver_dtmf(digit)

    def _deliver_dtmf(self, digit: DtmfDigit) -> None:
        log.info("dtmf received", extra={**self._log_extra, "digit": digit.digit, "at": digit.at})
        handler = self.dtmf_handler
        if handler is not None:
            try:
                handler(digit)
            except Exception:
                self._stats.listener_errors += 1
                log.exception("dtmf handler failed", extra=self._log_extra)
            return
        if self.dtmf_queue.full():
            # Nobody is reading: keep the newest keys, they are the ones a menu will want.
            self.dtmf_queue.get_nowait()
        self.dtmf_queue.put_nowait(digit)

    # --- RTCP ---------------------------------------------------------------------------

    def _on_rtcp_datagram(self, data: bytes, addr: Address) -> None:
        if self._srtp is not None:
            plain = self._srtp.unprotect_rtcp(data)
            if plain is None:
                self._stats.dropped_malformed += 1
                return
            data = plain
        try:
            packets = parse_rtcp(data)
        except RtcpParseError:
            self._stats.dropped_malformed += 1
            return
        latched = self._latch.address
        if latched is not None and addr[0] != latched[0]:
            self._stats.dropped_foreign_address += 1
            return
        self._stats.rtcp_received += 1
        if self._rtcp_remote is None and latched is not None:
            self._rtcp_remote = addr  # symmetric RTCP, like the media
        now = self._loop.time()
        for packet in packets:
            if isinstance(packet, RtcpSenderReport):
                reception = self._reception
                if reception is not None and packet.ssrc == reception.ssrc:
                    reception.sender_report(packet.ntp_timestamp, now)
            elif isinstance(packet, RtcpBye):
                log.info("rtcp bye", extra={**self._log_extra, "reason": packet.reason})

    def _rtcp_destination(self) -> Address | None:
        if self._rtcp_remote is not None:
            return self._rtcp_remote
        rtp = self.remote_addr
        return None if rtp is None else (rtp[0], rtp[1] + 1)

    def _send_rtcp(self, now: float, *, bye: bool = False) -> None:
        destination = self._rtcp_destination()
        transport = self._rtcp_transport
        if destination is None or transport is None:
            return
        reports = () if self._reception is None else (self._reception.report_block(now),)
        sender = self._sender
        first: RtcpPacket
        if self._sent_since_report:
            rtp_ts = sender.timestamp
            if self._pacer is not None:
                # The clock reading belongs to the next frame's deadline, not to now.
                ahead = self._pacer.next_deadline - now
                rtp_ts = (rtp_ts - round(ahead * 8000)) & 0xFFFF_FFFF
            first = RtcpSenderReport(
                sender.ssrc,
                ntp_from_unix(self._wall()),
                rtp_ts,
                sender.packet_count & 0xFFFF_FFFF,
                sender.octet_count & 0xFFFF_FFFF,
                reports,
            )
        else:
            first = RtcpReceiverReport(sender.ssrc, reports)
        self._sent_since_report = False
        packets: list[RtcpPacket] = [first, _sdes_cname(sender.ssrc, f"vpbx@{self._host}")]
        if bye:
            packets.append(RtcpBye((sender.ssrc,)))
        data = serialize_rtcp(packets)
        if self._srtp is not None:
            data = self._srtp.protect_rtcp(data)
        try:
            transport.sendto(data, destination)
        except OSError:
            self._stats.send_errors += 1
            return
        self._stats.rtcp_sent += 1


def _sdes_cname(ssrc: int, cname: str) -> RtcpUnknown:
    """An SDES packet with one CNAME item: RFC 3550 requires one in every compound packet."""
    text = cname.encode()[:255]
    chunk = ssrc.to_bytes(4, "big") + bytes((1, len(text))) + text + b"\0"
    chunk += bytes(-len(chunk) % 4)  # the item list ends with nulls up to a 32-bit boundary
    return RtcpUnknown(202, 1, chunk)


def _bound_udp_socket(host: str, port: int) -> socket.socket:
    """A UDP socket bound to (host, port), closed again if the bind fails.

    The socket is bound here rather than by `create_datagram_endpoint(local_addr=...)`: when
    that bind fails, uvloop leaves the transport it made unclosed (a ResourceWarning per busy
    port, and a file descriptor until the collector runs)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock
