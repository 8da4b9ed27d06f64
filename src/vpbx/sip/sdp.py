"""SDP session descriptions (RFC 4566) and the offer/answer model for audio calls (RFC 3264).

Public API
----------
``parse_sdp(data: bytes) -> SessionDescription`` (raises `SdpError`, a ParseError: answer 400)
and ``SessionDescription.to_bytes()`` (CRLF line ends). The model is frozen dataclasses:
`SessionDescription` (v o s i u e p c b t r z k a), `MediaDescription` (m i c b k a), `Origin`,
`Connection`, `Timing`, `Attribute`. Lines are emitted in RFC 4566 order; parsing accepts the
i/c/b/k/a lines of a section in any order (seen in the wild) but a type letter we do not know
is an error, as RFC 4566 §5 demands.

Helpers: ``MediaDescription.rtpmap(pt)`` / ``codec(pt)`` (static payload types resolved),
``fmtp(pt)``, ``direction`` (media level, else session level, else sendrecv), ``ptime``;
``SessionDescription.connection_for(media)``.

Offer/answer: ``Codec`` (``PCMU``, ``PCMA``, ``TELEPHONE_EVENT``; ``DEFAULT_CODECS`` is the
three), ``answer(offer, supported_codecs, local_addr, local_port, ...)`` and
``offer(codecs, local_addr, local_port, ...)``.
`answer` accepts the first audio stream that has a codec in common (one audio codec chosen in
the offerer's order of preference, plus telephone-event with the offerer's payload type),
rejects every other stream with port 0, mirrors the direction (sendonly -> recvonly...) and
copies the offer's t= line. When no stream can be accepted it raises `NoAcceptableMedia`
(answer 488 Not Acceptable Here).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from vpbx.sip._scan import is_digits
from vpbx.sip.errors import LocalError, ParseError, SipError

__all__ = [
    "DEFAULT_CODECS",
    "PCMA",
    "PCMU",
    "TELEPHONE_EVENT",
    "Attribute",
    "Codec",
    "Connection",
    "MediaDescription",
    "NoAcceptableMedia",
    "Origin",
    "SdpError",
    "SessionDescription",
    "Timing",
    "answer",
    "offer",
    "parse_sdp",
]

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
_REVERSE = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}
# RFC 3551 static audio payload types we can recognise without an rtpmap.
_STATIC = {
    0: ("PCMU", 8000, 1),
    3: ("GSM", 8000, 1),
    4: ("G723", 8000, 1),
    8: ("PCMA", 8000, 1),
    9: ("G722", 8000, 1),
    13: ("CN", 8000, 1),
    18: ("G729", 8000, 1),
}


class SdpError(ParseError):
    """The body is not a valid session description (answer 400)."""


class NoAcceptableMedia(SipError):
    """No offered stream can be accepted: answer 488 Not Acceptable Here."""

    status = 488


@dataclass(frozen=True, slots=True, kw_only=True)
class Origin:
    """The o= line. ``session_id`` and ``session_version`` are non-negative integers."""

    username: str = "-"
    session_id: int
    session_version: int
    net_type: str = "IN"
    addr_type: str = "IP4"
    address: str

    def __str__(self) -> str:
        return (
            f"{self.username} {self.session_id} {self.session_version} "
            f"{self.net_type} {self.addr_type} {self.address}"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Connection:
    """A c= line; ``address`` may carry ``/ttl[/count]`` for multicast, kept as written."""

    net_type: str = "IN"
    addr_type: str = "IP4"
    address: str

    @classmethod
    def for_address(cls, address: str) -> Connection:
        """IN IP4 or IN IP6 depending on the address."""
        return cls(addr_type="IP6" if ":" in address else "IP4", address=address)

    @property
    def host(self) -> str:
        """The address without multicast ``/ttl/count`` suffixes."""
        return self.address.split("/", 1)[0]

    def __str__(self) -> str:
        return f"{self.net_type} {self.addr_type} {self.address}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Timing:
    """A t= line and the r= lines that follow it (kept as text)."""

    start: int = 0
    stop: int = 0
    repeats: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Attribute:
    """An a= line: ``name`` alone (property attribute) or ``name:value``."""

    name: str
    value: str | None = None

    def __str__(self) -> str:
        return self.name if self.value is None else f"{self.name}:{self.value}"


def _attr(attributes: Sequence[Attribute], name: str) -> str | None:
    for a in attributes:
        if a.name == name:
            return a.value if a.value is not None else ""
    return None


def _direction(attributes: Sequence[Attribute]) -> str | None:
    for a in attributes:
        if a.name in DIRECTIONS:
            return a.name
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaDescription:
    """An m= section: media, port[/count], proto, formats and the lines that follow."""

    media: str
    port: int
    port_count: int | None = None
    proto: str = "RTP/AVP"
    formats: tuple[str, ...] = ()
    title: str | None = None
    connection: Connection | None = None
    bandwidths: tuple[str, ...] = ()
    key: str | None = None
    attributes: tuple[Attribute, ...] = ()

    def attribute(self, name: str) -> str | None:
        """Value of the first ``a=name`` ("" for a property attribute), None if absent."""
        return _attr(self.attributes, name)

    def rtpmap(self, pt: int) -> tuple[str, int, int] | None:
        """(encoding name, clock rate, channels) from ``a=rtpmap:<pt>``, None if absent."""
        prefix = f"{pt} "
        for a in self.attributes:
            if a.name == "rtpmap" and a.value is not None and a.value.startswith(prefix):
                spec = a.value[len(prefix) :].strip()
                parts = spec.split("/")
                if len(parts) < 2 or not is_digits(parts[1]):
                    return None
                channels = int(parts[2]) if len(parts) > 2 and is_digits(parts[2]) else 1
                return parts[0], int(parts[1]), channels
        return None

    def codec(self, pt: int) -> tuple[str, int, int] | None:
        """Like `rtpmap`, falling back to the RFC 3551 static payload types."""
        return self.rtpmap(pt) or _STATIC.get(pt)

    def fmtp(self, pt: int) -> str | None:
        prefix = f"{pt} "
        for a in self.attributes:
            if a.name == "fmtp" and a.value is not None and a.value.startswith(prefix):
                return a.value[len(prefix) :].strip()
        return None

    @property
    def direction(self) -> str | None:
        """sendrecv/sendonly/recvonly/inactive at media level, None when not given."""
        return _direction(self.attributes)

    @property
    def ptime(self) -> int | None:
        value = self.attribute("ptime")
        return int(value) if value and is_digits(value) else None

    @property
    def payload_types(self) -> list[int]:
        """The formats that are RTP payload type numbers."""
        return [int(f) for f in self.formats if is_digits(f) and int(f) < 128]


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionDescription:
    """A whole SDP body; see the module docstring."""

    origin: Origin
    name: str = "-"
    version: int = 0
    info: str | None = None
    uri: str | None = None
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    connection: Connection | None = None
    bandwidths: tuple[str, ...] = ()
    timings: tuple[Timing, ...] = (Timing(),)
    zone: str | None = None
    key: str | None = None
    attributes: tuple[Attribute, ...] = ()
    media: tuple[MediaDescription, ...] = ()

    def attribute(self, name: str) -> str | None:
        return _attr(self.attributes, name)

    @property
    def direction(self) -> str | None:
        """Session-level direction attribute, None when not given."""
        return _direction(self.attributes)

    def connection_for(self, media: MediaDescription) -> Connection | None:
        """The c= that applies to ``media`` (media level first)."""
        return media.connection or self.connection

    def direction_of(self, media: MediaDescription) -> str:
        """Effective direction of a stream: media level, session level, default sendrecv."""
        return media.direction or self.direction or "sendrecv"

    def to_bytes(self) -> bytes:
        lines = [f"v={self.version}", f"o={self.origin}", f"s={self.name}"]
        if self.info is not None:
            lines.append(f"i={self.info}")
        if self.uri is not None:
            lines.append(f"u={self.uri}")
        lines.extend(f"e={e}" for e in self.emails)
        lines.extend(f"p={p}" for p in self.phones)
        if self.connection is not None:
            lines.append(f"c={self.connection}")
        lines.extend(f"b={b}" for b in self.bandwidths)
        for t in self.timings:
            lines.append(f"t={t.start} {t.stop}")
            lines.extend(f"r={r}" for r in t.repeats)
        if self.zone is not None:
            lines.append(f"z={self.zone}")
        if self.key is not None:
            lines.append(f"k={self.key}")
        lines.extend(f"a={a}" for a in self.attributes)
        for m in self.media:
            port = str(m.port) if m.port_count is None else f"{m.port}/{m.port_count}"
            lines.append(" ".join(("m=" + m.media, port, m.proto, *m.formats)))
            if m.title is not None:
                lines.append(f"i={m.title}")
            if m.connection is not None:
                lines.append(f"c={m.connection}")
            lines.extend(f"b={b}" for b in m.bandwidths)
            if m.key is not None:
                lines.append(f"k={m.key}")
            lines.extend(f"a={a}" for a in m.attributes)
        for line in lines:
            if "\r" in line or "\n" in line or "\0" in line:
                raise LocalError(f"NUL, CR or LF in SDP line {line[:40]!r}")
        text = "\r\n".join(lines) + "\r\n"
        try:
            return text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError as exc:
            raise LocalError(f"SDP text cannot be encoded: {exc}") from None


def _int(value: str, what: str) -> int:
    if not is_digits(value) or len(value) > 20:
        raise SdpError(f"invalid {what} {value[:30]!r}")
    return int(value)


def _connection(value: str) -> Connection:
    parts = value.split()
    if len(parts) != 3:
        raise SdpError(f"invalid c= line {value[:60]!r}")
    return Connection(net_type=parts[0], addr_type=parts[1], address=parts[2])


def _media(value: str) -> MediaDescription:
    parts = value.split()
    if len(parts) < 3:
        raise SdpError(f"invalid m= line {value[:60]!r}")
    port_text, slash, count_text = parts[1].partition("/")
    port = _int(port_text, "media port")
    if port > 65535:
        raise SdpError(f"invalid media port {port}")
    count = _int(count_text, "port count") if slash else None
    return MediaDescription(
        media=parts[0], port=port, port_count=count, proto=parts[2], formats=tuple(parts[3:])
    )


@dataclass
class _Section:
    """Mutable accumulator for one section while parsing."""

    title: str | None = None
    connection: Connection | None = None
    bandwidths: list[str] = field(default_factory=list)
    key: str | None = None
    attributes: list[Attribute] = field(default_factory=list)


def _lines(data: bytes) -> Iterable[tuple[str, str]]:
    text = data.decode("utf-8", "surrogateescape")
    for raw in text.split("\n"):
        line = raw[:-1] if raw.endswith("\r") else raw
        if not line:
            continue
        if len(line) < 2 or line[1] != "=" or not ("a" <= line[0] <= "z"):
            raise SdpError(f"malformed SDP line {line[:40]!r}")
        yield line[0], line[2:]


def parse_sdp(data: bytes) -> SessionDescription:
    """Parse an SDP body; see the module docstring. Only `SdpError` is raised."""
    lines = iter(_lines(data))
    first = next(lines, None)
    if first is None or first[0] != "v" or first[1] != "0":
        raise SdpError("SDP must start with v=0")
    origin: Origin | None = None
    name: str | None = None
    info = uri = zone = None
    emails: list[str] = []
    phones: list[str] = []
    timings: list[Timing] = []
    session = _Section()
    section = session
    media: list[tuple[MediaDescription, _Section]] = []
    for kind, value in lines:
        if kind == "m":
            section = _Section()
            media.append((_media(value), section))
        elif kind == "a":
            attr_name, colon, attr_value = value.partition(":")
            if not attr_name:
                raise SdpError("empty attribute name")
            section.attributes.append(Attribute(attr_name, attr_value if colon else None))
        elif kind == "c":
            section.connection = _connection(value)
        elif kind == "b":
            section.bandwidths.append(value)
        elif kind == "i":
            section.title = value
        elif kind == "k":
            section.key = value
        elif media:
            raise SdpError(f"{kind}= line inside a media section")
        elif kind == "o":
            parts = value.split()
            if len(parts) != 6:
                raise SdpError(f"invalid o= line {value[:60]!r}")
            origin = Origin(
                username=parts[0],
                session_id=_int(parts[1], "session id"),
                session_version=_int(parts[2], "session version"),
                net_type=parts[3],
                addr_type=parts[4],
                address=parts[5],
            )
        elif kind == "s":
            name = value
        elif kind == "u":
            uri = value
        elif kind == "e":
            emails.append(value)
        elif kind == "p":
            phones.append(value)
        elif kind == "t":
            parts = value.split()
            if len(parts) != 2:
                raise SdpError(f"invalid t= line {value[:60]!r}")
            timings.append(
                Timing(start=_int(parts[0], "start time"), stop=_int(parts[1], "stop time"))
            )
        elif kind == "r":
            if not timings:
                raise SdpError("r= line without t= line")
            last = timings[-1]
            timings[-1] = replace(last, repeats=(*last.repeats, value))
        elif kind == "z":
            zone = value
        else:
            raise SdpError(f"unknown SDP line type {kind}=")
    if origin is None or name is None:
        raise SdpError("SDP without o= or s= line")
    if not timings:
        raise SdpError("SDP without t= line")
    info = session.title
    return SessionDescription(
        version=0,
        origin=origin,
        name=name,
        info=info,
        uri=uri,
        emails=tuple(emails),
        phones=tuple(phones),
        connection=session.connection,
        bandwidths=tuple(session.bandwidths),
        timings=tuple(timings),
        zone=zone,
        key=session.key,
        attributes=tuple(session.attributes),
        media=tuple(
            replace(
                m,
                title=s.title,
                connection=s.connection,
                bandwidths=tuple(s.bandwidths),
                key=s.key,
                attributes=tuple(s.attributes),
            )
            for m, s in media
        ),
    )


# -- offer / answer ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Codec:
    """An audio codec we can send and receive.

    ``payload_type`` is what we offer (static types keep theirs); in an answer the offerer's
    payload type is always reused. ``fmtp`` is sent as ``a=fmtp``.
    """

    name: str
    clock_rate: int = 8000
    channels: int = 1
    payload_type: int
    fmtp: str | None = None

    @property
    def is_dtmf(self) -> bool:
        return self.name.lower() == "telephone-event"

    def matches(self, name: str, clock_rate: int, channels: int) -> bool:
        return (
            self.name.lower() == name.lower()
            and self.clock_rate == clock_rate
            and self.channels == channels
        )

    def rtpmap(self, pt: int) -> Attribute:
        suffix = f"/{self.channels}" if self.channels != 1 else ""
        return Attribute("rtpmap", f"{pt} {self.name}/{self.clock_rate}{suffix}")


PCMU = Codec(name="PCMU", payload_type=0)
PCMA = Codec(name="PCMA", payload_type=8)
TELEPHONE_EVENT = Codec(name="telephone-event", payload_type=101, fmtp="0-16")
DEFAULT_CODECS = (PCMU, PCMA, TELEPHONE_EVENT)


def _combine(wanted: str, offered: str) -> str:
    """Answer direction: what we want, limited by the mirror of what was offered."""
    mirror = _REVERSE[offered]
    send = wanted in ("sendrecv", "sendonly") and mirror in ("sendrecv", "sendonly")
    recv = wanted in ("sendrecv", "recvonly") and mirror in ("sendrecv", "recvonly")
    return {(True, True): "sendrecv", (True, False): "sendonly", (False, True): "recvonly"}.get(
        (send, recv), "inactive"
    )


def _audio_attributes(
    formats: Sequence[tuple[int, Codec]], direction: str, ptime: int | None
) -> tuple[Attribute, ...]:
    attrs: list[Attribute] = []
    for pt, codec in formats:
        attrs.append(codec.rtpmap(pt))
        if codec.fmtp is not None:
            attrs.append(Attribute("fmtp", f"{pt} {codec.fmtp}"))
    if ptime is not None:
        attrs.append(Attribute("ptime", str(ptime)))
    attrs.append(Attribute(direction))
    return tuple(attrs)


def _rejected(m: MediaDescription) -> MediaDescription:
    # RFC 3264 §6: port 0, and the formats of the offer still have to be listed.
    return MediaDescription(media=m.media, port=0, proto=m.proto, formats=m.formats or ("0",))


def answer(
    offer: SessionDescription,
    supported_codecs: Sequence[Codec],
    local_addr: str,
    local_port: int,
    *,
    session_id: int = 0,
    session_version: int = 0,
    username: str = "-",
    direction: str = "sendrecv",
    ptime: int | None = 20,
    protos: Iterable[str] = ("RTP/AVP",),
) -> SessionDescription:
    """Answer an offer per RFC 3264 §6 for one audio stream; see the module docstring.

    ``direction`` is what we want (e.g. "sendonly" to hold); the answer is its intersection
    with the mirror of the offered direction. Callers keep ``session_id`` stable for a call and
    bump ``session_version`` whenever they send a changed description.
    """
    if direction not in DIRECTIONS:
        raise LocalError(f"invalid direction {direction!r}")
    allowed_protos = set(protos)
    audio_codecs = [c for c in supported_codecs if not c.is_dtmf]
    dtmf_codecs = [c for c in supported_codecs if c.is_dtmf]
    accepted = False
    media: list[MediaDescription] = []
    for m in offer.media:
        if accepted or m.media != "audio" or m.port == 0 or m.proto not in allowed_protos:
            media.append(_rejected(m))
            continue
        chosen: tuple[int, Codec] | None = None
        dtmf: tuple[int, Codec] | None = None
        for pt in m.payload_types:
            spec = m.codec(pt)
            if spec is None:
                continue
            if chosen is None:
                for codec in audio_codecs:
                    if codec.matches(*spec):
                        chosen = (pt, codec)
                        break
            if dtmf is None:
                for codec in dtmf_codecs:
                    if codec.matches(*spec):
                        dtmf = (pt, codec)
                        break
        if chosen is None:
            media.append(_rejected(m))
            continue
        accepted = True
        formats = [chosen] if dtmf is None else [chosen, dtmf]
        offered_direction = offer.direction_of(m)
        connection = offer.connection_for(m)
        if (
            offered_direction == "sendrecv"
            and connection is not None
            and connection.host
            in (
                "0.0.0.0",
                "::",
            )
        ):
            # RFC 2543 style hold (RFC 3264 §8.4): the offerer will not receive.
            offered_direction = "sendonly"
        media.append(
            MediaDescription(
                media="audio",
                port=local_port,
                proto=m.proto,
                formats=tuple(str(pt) for pt, _ in formats),
                attributes=_audio_attributes(
                    formats, _combine(direction, offered_direction), ptime
                ),
            )
        )
    if not accepted:
        raise NoAcceptableMedia("no offered audio stream uses a supported codec")
    connection = Connection.for_address(local_addr)
    return SessionDescription(
        origin=Origin(
            username=username,
            session_id=session_id,
            session_version=session_version,
            addr_type=connection.addr_type,
            address=local_addr,
        ),
        connection=connection,
        # RFC 3264 §6: the t= line of the answer must equal the offer's.
        timings=offer.timings,
        media=tuple(media),
    )


def offer(
    codecs: Sequence[Codec],
    local_addr: str,
    local_port: int,
    *,
    session_id: int = 0,
    session_version: int = 0,
    username: str = "-",
    direction: str = "sendrecv",
    ptime: int | None = 20,
) -> SessionDescription:
    """An offer with one audio stream listing ``codecs`` in order of preference."""
    if direction not in DIRECTIONS:
        raise LocalError(f"invalid direction {direction!r}")
    connection = Connection.for_address(local_addr)
    formats = [(c.payload_type, c) for c in codecs]
    return SessionDescription(
        origin=Origin(
            username=username,
            session_id=session_id,
            session_version=session_version,
            addr_type=connection.addr_type,
            address=local_addr,
        ),
        connection=connection,
        media=(
            MediaDescription(
                media="audio",
                port=local_port,
                formats=tuple(str(pt) for pt, _ in formats),
                attributes=_audio_attributes(formats, direction, ptime),
            ),
        ),
    )
