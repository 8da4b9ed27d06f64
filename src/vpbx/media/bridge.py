"""Two-party media bridge: relay without decoding, PCMU↔PCMA transcoding, DTMF relay or capture."""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from typing import Final

from vpbx.media import fastrelay, g711
from vpbx.media.dtmf import DtmfDigit
from vpbx.media.kernel_rtp import KernelForwarder, KernelPath
from vpbx.media.rtp import RtpPacket
from vpbx.media.session import RtpSession

__all__ = ["Bridge", "BridgeDtmfCallback"]

log = logging.getLogger("vpbx.media.bridge")

BridgeDtmfCallback = Callable[[RtpSession, DtmfDigit], None]

_TS_MASK: Final = 0xFFFF_FFFF
# A forward timestamp jump up to this size is a gap in the source (loss, silence suppression)
# and is reproduced on the other side; a larger one is a restart and only gets a marker.
_MAX_GAP: Final = 8000 * 5


def _translator(src: RtpSession, dst: RtpSession) -> Callable[[bytes], bytes] | None:
    if src.payload_type == dst.payload_type:
        return None
    return g711.ulaw_to_alaw if src.payload_type == 0 else g711.alaw_to_ulaw


class _Relay:
    """One direction of a bridge: packets of `src`'s peer, sent on as `dst`'s stream.

    The payload goes on untouched (or transcoded byte by byte); the header is renumbered by
    dst's RtpSender, so dst's peer keeps seeing one SSRC with continuous numbering whatever
    was played to it before. Timestamp gaps of the source are reproduced; event packets
    (RFC 4733) get their start timestamp mapped into dst's timeline.
    """

    __slots__ = ("_bridge", "_dst", "_expected_ts", "_in_ssrc", "_offset", "_src", "_translate")

    def __init__(self, bridge: Bridge, src: RtpSession, dst: RtpSession) -> None:
        # weak: the bridge holds its relays, and a cycle would keep a finished call's media
        # for the garbage collector's long pauses
        self._bridge = weakref.ref(bridge)
        self._src = src
        self._dst = dst
        self._translate = _translator(src, dst)
        self._in_ssrc: int | None = None
        self._expected_ts = 0
        self._offset: int | None = None

    def __call__(self, packet: RtpPacket, arrival: float) -> None:
        pt = packet.payload_type
        if pt == self._src.payload_type:
            self.audio(packet.payload, packet.timestamp, packet.ssrc, packet.marker)
        elif pt == self._src.dtmf_payload_type:
            bridge = self._bridge()
            if bridge is not None and not bridge.consumes(self._src):
                self._event(packet)
        # the full path: the first packets of a talk, or one the native relay passed back
        bridge = self._bridge()
        if bridge is not None and bridge.fast is not None and not bridge.fast.active:
            bridge.fast.try_enter()
        if bridge is not None and bridge.kernel is not None and bridge.kernel.flow is None:
            bridge.kernel.try_enter()  # the legs latch on their first packets

    def audio(self, payload: bytes, timestamp: int, ssrc: int, marker: bool) -> None:
        """One audio packet across (also `RtpSession.relay_audio`'s short cut)."""
        dst = self._dst
        sender = dst.sender
        if ssrc != self._in_ssrc:
            self._in_ssrc = ssrc
            marker = True
        else:
            gap = (timestamp - self._expected_ts) & _TS_MASK
            if gap >= 0x8000_0000:
                return  # late or duplicated: its slot in dst's stream has gone by
            if 0 < gap <= _MAX_GAP:
                sender.advance(gap)
            elif gap:
                marker = True
        if self._translate is not None:
            payload = self._translate(payload)
        self._expected_ts = (timestamp + len(payload)) & _TS_MASK
        self._offset = (sender.timestamp - timestamp) & _TS_MASK
        dst.send_audio(payload, marker)

    def _event(self, packet: RtpPacket) -> None:
        dst = self._dst
        bridge = self._bridge()
        if bridge is not None and bridge.kernel is not None:
            bridge.kernel.keys_crossing()  # numbered in dst's stream: the kernel's pauses
        pt = dst.dtmf_payload_type
        if pt is None:
            return  # the other side negotiated no telephone-event: nothing to relay it as
        if self._offset is None:
            timestamp = dst.sender.timestamp
        else:
            timestamp = (packet.timestamp + self._offset) & _TS_MASK
        dst.send_payload(
            packet.payload,
            payload_type=pt,
            marker=packet.marker,
            timestamp=timestamp,
            samples=0,  # event packets take no media time of their own
        )


class Bridge:
    """Connects two sessions' media both ways until `stop`.

    While bridged the sessions send nothing of their own (their sources are detached); each
    received packet is relayed at once, without pacing or buffering, so the bridge adds no
    delay. DTMF from either side is relayed to the other as RFC 4733, or, while
    `consume_dtmf` is true (the call logic listens for talk-option keys), not relayed but
    handed to `on_dtmf(session, digit)`. The switch can be flipped at any time. `listen` names
    one side whose keys are always taken that way (the employee's: the caller must not hear
    his talk-option keys), while the other side's keys still go across.

    `fast` (default: `fastrelay.wanted()`, the environment's VPBX_FAST_RELAY) lets the native
    relay (`vpbx.media.fastrelay`) carry the plain talk whenever both sides are in it.
    `kernel` (the switch's forwarder, when it has one) lets the kernel carry the plain talk's
    audio instead (`vpbx.media.kernel_rtp`): preferred when available, the relays above stay
    attached for whatever the kernel leaves to them.
    """

    def __init__(
        self,
        a: RtpSession,
        b: RtpSession,
        *,
        consume_dtmf: bool = False,
        on_dtmf: BridgeDtmfCallback | None = None,
        name: str = "",
        listen: RtpSession | None = None,
        fast: bool | None = None,
        kernel: KernelForwarder | None = None,
    ) -> None:
        if a is b:
            raise ValueError("a session cannot be bridged to itself")
        self.a = a
        self.b = b
        self.consume_dtmf = consume_dtmf
        self.on_dtmf = on_dtmf
        self.listen = listen
        self.name = name
        self._relays = (_Relay(self, a, b), _Relay(self, b, a))
        use_fast = fastrelay.wanted() if fast is None else fast
        #: the native relay of this bridge (None: the Python relay only)
        self.fast = (
            fastrelay.FastRelay(
                a,
                b,
                self._relays,
                (
                    fastrelay.tables_for(_translator(a, b)),
                    fastrelay.tables_for(_translator(b, a)),
                ),
            )
            if use_fast
            else None
        )
        #: the kernel forwarding of this bridge (None: the switch's kernel does not forward)
        self.kernel = (
            KernelPath(kernel, a, b, self._relays)
            if kernel is not None and kernel.available
            else None
        )
        self._saved_handlers = (a.dtmf_handler, b.dtmf_handler)
        self._running = False

    def consumes(self, session: RtpSession) -> bool:
        """The keys of `session` go to `on_dtmf`, not across."""
        return self.consume_dtmf or session is self.listen

    @property
    def transcoding(self) -> bool:
        return self.a.payload_type != self.b.payload_type

    @property
    def running(self) -> bool:
        return self._running

    def start(self) -> None:
        if self._running:
            return
        self._running = True
        a, b = self.a, self.b
        self._saved_handlers = (a.dtmf_handler, b.dtmf_handler)
        for session, relay in zip((a, b), self._relays, strict=True):
            session.set_source(None)
            session.sender.start_talkspurt()
            session.add_listener(relay)
            session.relay_audio(relay, relay.audio)
            session.dtmf_handler = self._digit_handler(session)
        if self.fast is not None or self.kernel is not None:
            for session in (a, b):
                session.fast_ready = self._plain_again
                if self.kernel is not None:
                    session.plain_left = self.kernel.leave
            self._plain_again()
        log.info(
            "bridge started",
            extra={
                "bridge": self.name,
                "a": a.name,
                "b": b.name,
                "transcoding": self.transcoding,
                "consume_dtmf": self.consume_dtmf,
            },
        )

    def stop(self) -> None:
        """Disconnect; the sessions stay open and silent until given a source."""
        if not self._running:
            return
        self._running = False
        if self.fast is not None:
            self.fast.leave()
        if self.kernel is not None:
            self.kernel.leave()
        for session, relay, handler in zip(
            (self.a, self.b), self._relays, self._saved_handlers, strict=True
        ):
            session.remove_listener(relay)
            session.relay_audio(None, None)
            session.dtmf_handler = handler
            session.fast_ready = None
            session.plain_left = None
        log.info("bridge stopped", extra={"bridge": self.name})

    def _plain_again(self) -> None:
        """A leg may be back in the plain talk state: the kernel takes its audio, the native
        relay what the kernel leaves to userspace."""
        if self.kernel is not None:
            self.kernel.try_enter()
        if self.fast is not None:
            self.fast.try_enter()

    def _digit_handler(self, session: RtpSession) -> Callable[[DtmfDigit], None]:
        def handle(digit: DtmfDigit) -> None:
            # In relay mode the event packets themselves went across; the digit is only logged.
            if self.consumes(session) and self.on_dtmf is not None:
                self.on_dtmf(session, digit)

        return handle
