"""RTP/RTCP packets (RFC 3550), one-port demultiplexing (RFC 5761) and pure sender-side state."""

from __future__ import annotations

import dataclasses
import enum
import functools
import math
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final, ParamSpec, TypeAlias, TypeVar

__all__ = [
    "NTP_UNIX_OFFSET",
    "RTP_HEADER_SIZE",
    "RTP_VERSION",
    "Latch",
    "LatchState",
    "Pacer",
    "PacketKind",
    "ReportBlock",
    "RtcpBye",
    "RtcpPacket",
    "RtcpParseError",
    "RtcpReceiverReport",
    "RtcpSenderReport",
    "RtcpType",
    "RtcpUnknown",
    "RtpExtension",
    "RtpPacket",
    "RtpParseError",
    "RtpSender",
    "classify",
    "is_rtcp",
    "ntp_from_unix",
    "ntp_middle32",
    "parse_rtcp",
    "samples_for",
    "serialize_rtcp",
]

RTP_VERSION: Final = 2
RTP_HEADER_SIZE: Final = 12

_HEADER: Final = struct.Struct("!BBHII")
_CSRC: Final = tuple(struct.Struct(f"!{n}I") for n in range(16))
_EXTENSION_HEADER: Final = struct.Struct("!HH")
_RTCP_HEADER: Final = struct.Struct("!BBH")
_SR_INFO: Final = struct.Struct("!IQIII")
_REPORT_BLOCK: Final = struct.Struct("!IIIIII")
_SSRC: Final = struct.Struct("!I")


class RtpParseError(ValueError):
    """Bytes from the network are not a well-formed RTP (or RTCP) packet."""


class RtcpParseError(RtpParseError):
    """Bytes from the network are not a well-formed RTCP compound packet."""


# --- RTP -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RtpExtension:
    """The RFC 3550 §5.3.1 header extension, kept opaque (RFC 8285 elements are not decoded)."""

    profile: int  # the 16-bit "defined by profile" field, e.g. 0xBEDE for one-byte elements
    data: bytes  # a whole number of 32-bit words


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One RTP packet; `padding` is the padding length including its count byte (0 = none)."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrc: tuple[int, ...] = ()
    extension: RtpExtension | None = None
    padding: int = 0

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        """Parse one packet; raise RtpParseError (only) if it is truncated or malformed."""
        size = len(data)
        if size < RTP_HEADER_SIZE:
            raise RtpParseError(f"RTP packet too short: {size} bytes")
        first, second, sequence, timestamp, ssrc = _HEADER.unpack_from(data)
        if first >> 6 != RTP_VERSION:
            raise RtpParseError(f"unsupported RTP version {first >> 6}")
        count = first & 0x0F
        pos = RTP_HEADER_SIZE + 4 * count
        if pos > size:
            raise RtpParseError(f"RTP packet truncated in its CSRC list ({count} entries)")
        csrc: tuple[int, ...] = _CSRC[count].unpack_from(data, RTP_HEADER_SIZE) if count else ()
        extension = None
        if first & 0x10:
            if pos + 4 > size:
                raise RtpParseError("RTP packet truncated in its extension header")
            profile, words = _EXTENSION_HEADER.unpack_from(data, pos)
            end = pos + 4 + 4 * words
            if end > size:
                raise RtpParseError(f"RTP extension of {words} words overruns the packet")
            extension = RtpExtension(profile, data[pos + 4 : end])
            pos = end
        padding = 0
        end = size
        if first & 0x20:
            padding = data[-1]
            # The count includes itself, so zero is invalid; it may not eat into the header.
            if padding == 0 or pos + padding > size:
                raise RtpParseError(f"invalid RTP padding length {padding}")
            end = size - padding
        if cls is not RtpPacket:
            return cls(
                second & 0x7F,
                sequence,
                timestamp,
                ssrc,
                data[pos:end],
                bool(second & 0x80),
                csrc,
                extension,
                padding,
            )
        return _new_rtp_packet(
            second & 0x7F,
            sequence,
            timestamp,
            ssrc,
            data[pos:end],
            bool(second & 0x80),
            csrc,
            extension,
            padding,
        )

    def serialize(self) -> bytes:
        """The wire form; padding bytes are zeros followed by the count."""
        count = len(self.csrc)
        extension = self.extension
        padding = self.padding
        if not 0 <= self.payload_type <= 0x7F:
            raise ValueError(f"RTP payload type out of range: {self.payload_type}")
        if count > 15:
            raise ValueError(f"at most 15 CSRCs, got {count}")
        first = 0x80 | count
        if extension is not None:
            first |= 0x10
        if padding:
            if not 0 < padding <= 0xFF:
                raise ValueError(f"RTP padding length out of range: {padding}")
            first |= 0x20
        try:
            header = _HEADER.pack(
                first,
                (0x80 if self.marker else 0) | self.payload_type,
                self.sequence,
                self.timestamp,
                self.ssrc,
            )
            if not (count or extension is not None or padding):
                return header + self.payload  # the common case: one concatenation
            parts = [header]
            if count:
                parts.append(_CSRC[count].pack(*self.csrc))
            if extension is not None:
                words, rest = divmod(len(extension.data), 4)
                if rest:
                    raise ValueError("RTP extension data must be a whole number of 32-bit words")
                parts.append(_EXTENSION_HEADER.pack(extension.profile, words))
                parts.append(extension.data)
        except struct.error as exc:
            raise ValueError(f"RTP header field out of range: {exc}") from None
        parts.append(self.payload)
        if padding:
            parts.append(bytes(padding - 1) + bytes((padding,)))
        return b"".join(parts)


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _range_checked(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """Report a field that does not fit its wire width as ValueError, not struct.error."""

    @functools.wraps(method)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(*args, **kwargs)
        except struct.error as exc:
            raise ValueError(f"field out of range: {exc}") from None

    return wrapper


# Frozen dataclasses set each field through object.__setattr__ with a name lookup: ~3 µs for
# nine fields. Packets are built 50 times a second per stream, so the parser and the sender
# fill the slots directly through their descriptors, which halves that.
_object_new = object.__new__
(
    _set_payload_type,
    _set_sequence,
    _set_timestamp,
    _set_ssrc,
    _set_payload,
    _set_marker,
    _set_csrc,
    _set_extension,
    _set_padding,
) = (getattr(RtpPacket, f.name).__set__ for f in dataclasses.fields(RtpPacket))


def _new_rtp_packet(
    payload_type: int,
    sequence: int,
    timestamp: int,
    ssrc: int,
    payload: bytes,
    marker: bool,
    csrc: tuple[int, ...] = (),
    extension: RtpExtension | None = None,
    padding: int = 0,
) -> RtpPacket:
    """Same as RtpPacket(...) with every field given positionally, only faster."""
    packet: RtpPacket = _object_new(RtpPacket)
    _set_payload_type(packet, payload_type)
    _set_sequence(packet, sequence)
    _set_timestamp(packet, timestamp)
    _set_ssrc(packet, ssrc)
    _set_payload(packet, payload)
    _set_marker(packet, marker)
    _set_csrc(packet, csrc)
    _set_extension(packet, extension)
    _set_padding(packet, padding)
    return packet


# --- RTCP ------------------------------------------------------------------------------------


class RtcpType(enum.IntEnum):
    """RTCP packet types of RFC 3550 (others are carried as RtcpUnknown)."""

    SR = 200
    RR = 201
    SDES = 202
    BYE = 203
    APP = 204


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """Reception statistics about one source (RFC 3550 §6.4.1)."""

    ssrc: int
    fraction_lost: int  # 8-bit fixed point: lost / expected * 256 since the previous report
    packets_lost: int  # cumulative, signed 24-bit (duplicates can make it negative)
    highest_sequence: int  # extended: cycles << 16 | highest sequence number received
    jitter: int  # interarrival jitter in timestamp units
    lsr: int  # middle 32 bits of the last SR's NTP timestamp, 0 if none
    dlsr: int  # delay since that SR in 1/65536 s

    def _pack(self) -> bytes:
        if not 0 <= self.fraction_lost <= 0xFF:
            raise ValueError(f"fraction_lost out of range: {self.fraction_lost}")
        if not -0x800000 <= self.packets_lost <= 0x7FFFFF:
            raise ValueError(f"packets_lost out of 24-bit range: {self.packets_lost}")
        word = self.fraction_lost << 24 | (self.packets_lost & 0xFFFFFF)
        return _REPORT_BLOCK.pack(
            self.ssrc, word, self.highest_sequence, self.jitter, self.lsr, self.dlsr
        )

    @classmethod
    def _unpack(cls, data: bytes, offset: int) -> ReportBlock:
        ssrc, word, highest, jitter, lsr, dlsr = _REPORT_BLOCK.unpack_from(data, offset)
        lost = word & 0xFFFFFF
        if lost & 0x800000:
            lost -= 0x1000000
        return cls(ssrc, word >> 24, lost, highest, jitter, lsr, dlsr)


@dataclass(frozen=True, slots=True)
class RtcpSenderReport:
    """SR; profile-specific extensions after the report blocks are not kept."""

    ssrc: int
    ntp_timestamp: int  # 64-bit NTP format: seconds since 1900 << 32 | fraction
    rtp_timestamp: int
    packet_count: int
    octet_count: int  # payload octets only
    reports: tuple[ReportBlock, ...] = ()

    @_range_checked
    def serialize(self) -> bytes:
        info = _SR_INFO.pack(
            self.ssrc, self.ntp_timestamp, self.rtp_timestamp, self.packet_count, self.octet_count
        )
        return _rtcp(RtcpType.SR, len(self.reports), info + _pack_reports(self.reports))


@dataclass(frozen=True, slots=True)
class RtcpReceiverReport:
    """RR; profile-specific extensions after the report blocks are not kept."""

    ssrc: int
    reports: tuple[ReportBlock, ...] = ()

    @_range_checked
    def serialize(self) -> bytes:
        body = _SSRC.pack(self.ssrc) + _pack_reports(self.reports)
        return _rtcp(RtcpType.RR, len(self.reports), body)


@dataclass(frozen=True, slots=True)
class RtcpBye:
    """BYE: these sources leave; an empty reason means none was given."""

    sources: tuple[int, ...] = ()
    reason: str = ""

    @_range_checked
    def serialize(self) -> bytes:
        body = b"".join(_SSRC.pack(s) for s in self.sources)
        if self.reason:
            text = self.reason.encode()
            if len(text) > 0xFF:
                raise ValueError("BYE reason longer than 255 bytes")
            body += bytes((len(text),)) + text
            body += bytes(-len(body) % 4)  # zero-filled to the 32-bit boundary, not P-bit padding
        return _rtcp(RtcpType.BYE, len(self.sources), body)


@dataclass(frozen=True, slots=True)
class RtcpUnknown:
    """Any other packet (SDES, APP, feedback, XR…), kept raw so compound packets still parse."""

    packet_type: int
    count: int  # the 5-bit count / subtype field
    body: bytes  # everything after the 4-byte header, padding removed

    def serialize(self) -> bytes:
        return _rtcp(self.packet_type, self.count, self.body)


RtcpPacket: TypeAlias = RtcpSenderReport | RtcpReceiverReport | RtcpBye | RtcpUnknown


def _pack_reports(reports: tuple[ReportBlock, ...]) -> bytes:
    return b"".join(block._pack() for block in reports)


def _rtcp(packet_type: int, count: int, body: bytes) -> bytes:
    if not 0 <= count <= 0x1F:
        raise ValueError(f"RTCP count field out of range: {count}")
    first = 0x80 | count
    if rem := len(body) % 4:
        # Only an opaque body can be unaligned: restore it with P-bit padding, as it came in.
        pad = 4 - rem
        body += bytes(pad - 1) + bytes((pad,))
        first |= 0x20
    try:
        return _RTCP_HEADER.pack(first, packet_type, len(body) // 4) + body
    except struct.error as exc:
        raise ValueError(f"RTCP header field out of range: {exc}") from None


def serialize_rtcp(packets: Iterable[RtcpPacket]) -> bytes:
    """A compound packet: the packets back to back."""
    return b"".join(packet.serialize() for packet in packets)


def parse_rtcp(data: bytes) -> list[RtcpPacket]:
    """Parse a compound RTCP packet; raise RtcpParseError (only) if anything is malformed.

    The RFC 3550 rule that a compound starts with SR/RR is not enforced: reduced-size RTCP
    (RFC 5506) sends feedback alone, and a receiver gains nothing by dropping such reports.
    """
    size = len(data)
    if size == 0:
        raise RtcpParseError("empty RTCP packet")
    packets: list[RtcpPacket] = []
    pos = 0
    while pos < size:
        if size - pos < 4:
            raise RtcpParseError(f"RTCP header truncated at offset {pos}")
        first, packet_type, words = _RTCP_HEADER.unpack_from(data, pos)
        if first >> 6 != RTP_VERSION:
            raise RtcpParseError(f"unsupported RTCP version {first >> 6} at offset {pos}")
        start = pos + 4
        end = start + 4 * words
        if end > size:
            raise RtcpParseError(f"RTCP packet at offset {pos} overruns the datagram")
        body_end = end
        if first & 0x20:
            pad = data[end - 1] if end > start else 0
            if pad == 0 or start + pad > end:
                raise RtcpParseError(f"invalid RTCP padding length {pad}")
            body_end = end - pad
        packets.append(_parse_one(packet_type, first & 0x1F, data[start:body_end]))
        pos = end
    return packets


def _parse_one(packet_type: int, count: int, body: bytes) -> RtcpPacket:
    size = len(body)
    if packet_type == RtcpType.SR:
        if size < _SR_INFO.size + 24 * count:
            raise RtcpParseError(f"SR too short for {count} report blocks")
        ssrc, ntp, rtp_ts, packets, octets = _SR_INFO.unpack_from(body)
        return RtcpSenderReport(
            ssrc, ntp, rtp_ts, packets, octets, _unpack_reports(body, _SR_INFO.size, count)
        )
    if packet_type == RtcpType.RR:
        if size < 4 + 24 * count:
            raise RtcpParseError(f"RR too short for {count} report blocks")
        (ssrc,) = _SSRC.unpack_from(body)
        return RtcpReceiverReport(ssrc, _unpack_reports(body, 4, count))
    if packet_type == RtcpType.BYE:
        pos = 4 * count
        if size < pos:
            raise RtcpParseError(f"BYE too short for {count} sources")
        sources: tuple[int, ...] = struct.unpack_from(f"!{count}I", body)
        reason = ""
        if size > pos:
            length = body[pos]
            if pos + 1 + length > size:
                raise RtcpParseError("BYE reason overruns the packet")
            # A peer's reason text is informational: never fail a BYE over bad UTF-8.
            reason = body[pos + 1 : pos + 1 + length].decode("utf-8", "replace")
        return RtcpBye(sources, reason)
    return RtcpUnknown(packet_type, count, body)


def _unpack_reports(body: bytes, offset: int, count: int) -> tuple[ReportBlock, ...]:
    return tuple(ReportBlock._unpack(body, offset + 24 * i) for i in range(count))


NTP_UNIX_OFFSET: Final = 2_208_988_800  # seconds from 1900-01-01 (NTP era 0) to 1970-01-01


def ntp_from_unix(seconds: float) -> int:
    """The 64-bit NTP timestamp for a Unix time (for SR; the caller supplies the clock)."""
    # Whole seconds and fraction apart: as one float product the result would lose ~11 bits.
    whole = math.floor(seconds)
    fraction = min(int((seconds - whole) * (1 << 32)), 0xFFFF_FFFF)
    return ((whole + NTP_UNIX_OFFSET) << 32 | fraction) & 0xFFFF_FFFF_FFFF_FFFF


def ntp_middle32(ntp_timestamp: int) -> int:
    """The middle 32 bits of an NTP timestamp: the LSR value a receiver echoes back."""
    return (ntp_timestamp >> 16) & 0xFFFF_FFFF


# --- One port for RTP and RTCP ---------------------------------------------------------------


class PacketKind(enum.Enum):
    """What a datagram arriving on a media port is."""

    RTP = "rtp"
    RTCP = "rtcp"
    OTHER = "other"  # not version 2: STUN keep-alives, DTLS, garbage


def classify(data: bytes) -> PacketKind:
    """Tell RTP from RTCP on a shared port (RFC 5761 §4).

    RTCP packet types 192–223 occupy the second octet where RTP has marker + payload type, i.e.
    they look like RTP payload types 64–95 with the marker set; SR, RR, SDES, BYE and APP are
    200–204, i.e. payload types 72–76. RFC 5761 forbids RTP payload types 64–95 on a muxed port,
    so the whole band is RTCP, which also routes feedback (205, 206) and XR (207) correctly.
    """
    if len(data) < 2 or data[0] >> 6 != RTP_VERSION:
        return PacketKind.OTHER
    return PacketKind.RTCP if 192 <= data[1] <= 223 else PacketKind.RTP


def is_rtcp(data: bytes) -> bool:
    """Whether a version-2 datagram on a muxed port is RTCP rather than RTP (see classify)."""
    return len(data) >= 2 and data[0] >> 6 == RTP_VERSION and 192 <= data[1] <= 223


# --- Sender side -----------------------------------------------------------------------------


def samples_for(ms: float, rate: int = 8000) -> int:
    """Samples (RTP timestamp units) in `ms` milliseconds at `rate` Hz, e.g. 160 for 20 ms."""
    exact = ms * rate / 1000
    samples = round(exact)
    if samples < 0 or abs(exact - samples) > 1e-6:
        raise ValueError(f"{ms} ms is not a whole number of samples at {rate} Hz")
    return samples


class RtpSender:
    """Numbering of one outgoing RTP stream: SSRC, sequence (mod 2^16) and timestamp (mod 2^32).

    One sender lives as long as the stream, so switching prompts, music or a bridged source only
    changes payloads: SSRC, sequence and timestamp keep progressing and the peer sees one
    continuous stream. RFC 3550 wants random initial values: the caller draws them.
    """

    __slots__ = (
        "_octets",
        "_packets",
        "_payload_type",
        "_samples_per_frame",
        "_sequence",
        "_ssrc",
        "_talkspurt",
        "_timestamp",
    )

    def __init__(
        self,
        ssrc: int,
        payload_type: int = 0,
        *,
        sequence: int = 0,
        timestamp: int = 0,
        samples_per_frame: int = 160,
    ) -> None:
        if not 0 <= ssrc <= 0xFFFF_FFFF:
            raise ValueError(f"SSRC out of range: {ssrc}")
        self._ssrc = ssrc
        self._payload_type = payload_type
        self._sequence = sequence & 0xFFFF
        self._timestamp = timestamp & 0xFFFF_FFFF
        self._samples_per_frame = samples_per_frame
        # The very first packet starts a talkspurt (RFC 3551 §4.1).
        self._talkspurt = True
        self._packets = 0
        self._octets = 0

    @property
    def ssrc(self) -> int:
        return self._ssrc

    @property
    def sequence(self) -> int:
        """The sequence number the next packet will carry."""
        return self._sequence

    @property
    def timestamp(self) -> int:
        """The media clock: the timestamp the next frame will carry."""
        return self._timestamp

    @property
    def payload_type(self) -> int:
        """The payload type of media packets (events pass theirs explicitly)."""
        return self._payload_type

    @payload_type.setter
    def payload_type(self, value: int) -> None:
        if not 0 <= value <= 127:
            raise ValueError(f"payload type out of range: {value}")
        self._payload_type = value

    @property
    def packet_count(self) -> int:
        """Packets produced so far (for RTCP SR)."""
        return self._packets

    @property
    def octet_count(self) -> int:
        """Payload octets produced so far (for RTCP SR)."""
        return self._octets

    def start_talkspurt(self) -> None:
        """Set the marker bit on the next packet (first packet after silence or a pause)."""
        self._talkspurt = True

    def skip_to(self, sequence: int) -> None:
        """Number the next packet `sequence`: someone else (the kernel) sent the ones between
        in this stream's name."""
        self._sequence = sequence & 0xFFFF

    def advance(self, samples: int) -> None:
        """Let media time pass without sending (silence suppression, gaps between events)."""
        self._timestamp = (self._timestamp + samples) & 0xFFFF_FFFF

    def next_packet(
        self,
        payload: bytes,
        pt: int | None = None,
        marker: bool = False,
        *,
        timestamp: int | None = None,
        samples: int | None = None,
    ) -> RtpPacket:
        """The next packet of the stream; then the media clock advances by one frame.

        `timestamp` overrides the packet's timestamp without moving the clock: RFC 4733 event
        packets all carry the event's start. `samples` overrides how far the clock advances
        (0 for a packet that takes no media time, like an event's repeated end packets).
        """
        packet = _new_rtp_packet(
            self._payload_type if pt is None else pt,
            self._sequence,
            self._timestamp if timestamp is None else timestamp & 0xFFFF_FFFF,
            self._ssrc,
            payload,
            marker or self._talkspurt,
        )
        self._advance_past(len(payload), samples)
        return packet

    def next_header(
        self,
        size: int,
        pt: int | None = None,
        marker: bool = False,
        *,
        timestamp: int | None = None,
        samples: int | None = None,
    ) -> bytes:
        """The 12-byte header of the packet `next_packet` would make for a `size`-byte payload
        (no CSRC, extension or padding), the stream advanced the same way: what a relay sends
        before the payload it passes on, without building a packet object to serialize."""
        payload_type = self._payload_type if pt is None else pt
        if not 0 <= payload_type <= 0x7F:
            raise ValueError(f"RTP payload type out of range: {payload_type}")
        header = _HEADER.pack(
            0x80,
            0x80 | payload_type if marker or self._talkspurt else payload_type,
            self._sequence,
            self._timestamp if timestamp is None else timestamp & 0xFFFF_FFFF,
            self._ssrc,
        )
        self._advance_past(size, samples)
        return header

    def audio_header(self, size: int, marker: bool) -> bytes:
        """`next_header` for an audio payload of `size` one-byte samples (G.711) of the
        stream's own payload type, in one step: the header of every relayed packet."""
        payload_type = self._payload_type
        sequence = self._sequence
        timestamp = self._timestamp
        header = _HEADER.pack(
            0x80,
            0x80 | payload_type if marker or self._talkspurt else payload_type,
            sequence,
            timestamp,
            self._ssrc,
        )
        self._talkspurt = False
        self._sequence = (sequence + 1) & 0xFFFF
        self._timestamp = (timestamp + size) & 0xFFFF_FFFF
        self._packets += 1
        self._octets += size
        return header

    def _advance_past(self, size: int, samples: int | None) -> None:
        """Count a packet of `size` payload bytes sent; the clock moves a frame or `samples`."""
        self._talkspurt = False
        self._sequence = (self._sequence + 1) & 0xFFFF
        step = self._samples_per_frame if samples is None else samples
        self._timestamp = (self._timestamp + step) & 0xFFFF_FFFF
        self._packets += 1
        self._octets += size


class Pacer:
    """Drift-free frame deadlines: frame n is due at start + n * ptime.

    Deadlines are computed from the start, never by adding up sleeps, so a late wake-up does
    not push every later frame back: the next call to `due` simply reports more frames.
    """

    __slots__ = ("_next", "_ptime", "_start")

    def __init__(self, start: float, ptime: float = 0.020) -> None:
        if ptime <= 0:
            raise ValueError(f"ptime must be positive, got {ptime}")
        self._start = start
        self._ptime = ptime
        self._next = 0

    @property
    def next_frame(self) -> int:
        """Index of the first frame not yet reported by `due`."""
        return self._next

    @property
    def next_deadline(self) -> float:
        """When to wake up for the next frame."""
        return self._start + self._next * self._ptime

    def deadline(self, n: int) -> float:
        """When frame n is due."""
        return self._start + n * self._ptime

    def due(self, now: float) -> int:
        """How many frames became due by `now` since the previous call (0 if none).

        After a stall the count can exceed one; sending the backlog or dropping it (and
        advancing the RtpSender clock) is the caller's choice.
        """
        start = self._start
        ptime = self._ptime
        if now < start + self._next * ptime:
            return 0
        last = int((now - start) / ptime)
        # The division can round either way: settle on the same sums `deadline` computes, so
        # that due(deadline(n)) always includes frame n.
        while start + (last + 1) * ptime <= now:
            last += 1
        while start + last * ptime > now:
            last -= 1
        count = last + 1 - self._next
        self._next = last + 1
        return count


# --- Symmetric RTP latching ------------------------------------------------------------------

Address: TypeAlias = tuple[str, int]


class LatchState(enum.Enum):
    """Whether a Latch has chosen its peer yet."""

    OPEN = "open"
    LATCHED = "latched"


class Latch:
    """Symmetric RTP (comedia) source latching for one media port.

    Behind NAT the address in the SDP is useless, so media is sent back to where the peer's
    media comes from. Rules of `accept`:

    * Before latching, the first packet is accepted and its address and SSRC are latched.
    * After latching, packets from any other address are ignored: a stray or spoofed sender
      cannot hijack the call. Call `reset` when signalling announces a new peer (re-INVITE).
    * From the latched address, packets of the latched SSRC are accepted. A different SSRC is a
      new source (a re-INVITE to another media server, a trunk switching streams); it is accepted
      only once `ssrc_switch_after` consecutive packets carry it, the last of them included,
      after which it becomes the latched SSRC. Any packet of the old SSRC in between restarts
      the count, so late packets of a finished stream interleaved with the current one never
      flip the latch. The cost is that the first `ssrc_switch_after - 1` packets of a
      genuinely new source are dropped (80 ms at 20 ms ptime with the default of 5).
    """

    __slots__ = ("_address", "_candidate", "_candidate_count", "_ssrc", "_switch_after")

    def __init__(self, ssrc_switch_after: int = 5) -> None:
        if ssrc_switch_after < 1:
            raise ValueError("ssrc_switch_after must be at least 1")
        self._switch_after = ssrc_switch_after
        self._address: Address | None = None
        self._ssrc = 0
        self._candidate: int | None = None
        self._candidate_count = 0

    @property
    def state(self) -> LatchState:
        return LatchState.OPEN if self._address is None else LatchState.LATCHED

    @property
    def address(self) -> Address | None:
        """Where media goes back to, None until latched."""
        return self._address

    @property
    def ssrc(self) -> int | None:
        """The accepted source, None until latched."""
        return None if self._address is None else self._ssrc

    def reset(self) -> None:
        """Forget the peer: the next packet from anywhere latches again."""
        self._address = None
        self._candidate = None
        self._candidate_count = 0

    def holds(self, source_addr: Address, ssrc: int) -> bool:
        """Whether a packet from `source_addr` with `ssrc` is the latched stream itself with no
        switch to another SSRC under way: `accept` would take it and change nothing."""
        return source_addr == self._address and ssrc == self._ssrc and self._candidate is None

    def accept(self, source_addr: Address, ssrc: int) -> bool:
        """Whether to take a packet with this source address and SSRC (see the class doc)."""
        if source_addr == self._address:
            if ssrc == self._ssrc:
                if self._candidate is not None:
                    self._candidate = None
                return True
            if ssrc == self._candidate:
                self._candidate_count += 1
            else:
                self._candidate = ssrc
                self._candidate_count = 1
            if self._candidate_count < self._switch_after:
                return False
            self._ssrc = ssrc
            self._candidate = None
            return True
        if self._address is None:
            self._address = source_addr
            self._ssrc = ssrc
            return True
        return False
