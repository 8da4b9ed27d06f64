"""SIP wire format: datagram parsing, stream framing and serialization (RFC 3261 §7, §18.3).

Public API
----------
``parse_message(data, *, max_size=65535) -> Request | Response``
    Parse one datagram. Leading CRLFs are skipped. Without Content-Length the body runs to the
    end of the datagram; with it, a shorter body is a ParseError(400) and bytes beyond the body
    are discarded (RFC 3261 §18.3: that is what makes RFC 4475 dblreq acceptable).
``StreamFramer(max_size=65535)``; ``framer.feed(data) -> Iterator[Request | Response | Ping]``
    Frame a TCP/TLS byte stream by Content-Length (absent means 0). ``Ping`` is an RFC 5626
    CRLFCRLF keep-alive, to be answered with a single CRLF; single stray CRLFs are skipped.
    Any ParseError is fatal for the stream (framing is lost): close the connection. Feeding a
    failed framer raises LocalError.
``serialize(message) -> bytes``
    Start line, headers in order, then a computed Content-Length, CRLF, body.
``is_keepalive(datagram) -> bool``
    True for datagrams made only of CR/LF/NUL/space (UDP keep-alives, not messages).

What the parser checks (anything else is left to `vpbx.sip.validate`):
framing, the start line (method token, Request-URI syntax, three-digit status 100-699,
SIP-Version: a well-formed other version gives 505), header line syntax (token name, colon,
folding), UTF-8 (undecodable bytes survive as surrogate escapes and are written back as is),
and Content-Length (single, numeric, not beyond the data). Header *values* are parsed lazily
by the typed accessors of `Request`/`Response`.

Size limits: a header section over ``max_size`` gives 513 (Message Too Large); a body that would
take the message over ``max_size`` gives 413 (Request Entity Too Large).

Only `ParseError` escapes from parsing, whatever the input bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from vpbx.sip._scan import TOKEN_RE, is_digits
from vpbx.sip.errors import LocalError, ParseError
from vpbx.sip.headers import CANONICAL_NAMES
from vpbx.sip.message import Headers, Message, Request, Response
from vpbx.sip.uri import Uri, parse_uri

__all__ = ["Ping", "StreamFramer", "is_keepalive", "parse_message", "serialize"]

_VERSION_RE = re.compile(r"SIP/[0-9]+\.[0-9]+", re.IGNORECASE)
_HEADER_END = b"\r\n\r\n"
_FOLD_RE = re.compile(r"\r\n[ \t]+")


@dataclass(frozen=True, slots=True)
class Ping:
    """An RFC 5626 §3.5.1 keep-alive ping (CRLFCRLF) on a stream; answer with b"\\r\\n"."""


PING = Ping()


def is_keepalive(data: bytes) -> bool:
    """True when a datagram carries no message, only keep-alive filler (CRLF, NUL, space)."""
    return not data.strip(b"\r\n\x00 \t")


def _check_version(version: str, headers: Headers | None) -> None:
    if version == "SIP/2.0":
        return
    if _VERSION_RE.fullmatch(version) is None:
        raise ParseError(f"malformed SIP-Version {version!r}", headers=headers)
    if version.upper() != "SIP/2.0":
        raise ParseError(f"unsupported SIP version {version!r}", 505, headers=headers)


@dataclass(frozen=True, slots=True)
class _StartLine:
    method: str | None  # None for a response
    uri: Uri | None
    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class _Head:
    """A parsed start line and header section, before the body is attached."""

    start: _StartLine
    headers: Headers
    content_length: int | None

    def build(self, body: bytes) -> Message:
        start = self.start
        if start.method is not None and start.uri is not None:
            return Request(start.method, start.uri, self.headers, body)
        return Response(start.status, start.reason, self.headers, body)


def _parse_start_line(line: str, headers: Headers | None) -> _StartLine:
    if line[:4].upper() == "SIP/":
        # Never attach headers for responses: nobody answers a response.
        version, _, rest = line.partition(" ")
        _check_version(version, None)
        code, _, reason = rest.partition(" ")
        if len(code) != 3 or not is_digits(code) or not 100 <= int(code) <= 699:
            raise ParseError(f"invalid status code {code[:20]!r}")
        return _StartLine(None, None, int(code), reason)
    parts = line.split(" ")
    if len(parts) != 3:
        # Extra, leading or trailing SP, or LWS in the Request-URI (RFC 4475 lwsruri, lwsstart,
        # trws): the Request-Line grammar allows exactly single SPs.
        raise ParseError("malformed Request-Line", headers=headers)
    method, uri_text, version = parts
    if TOKEN_RE.fullmatch(method) is None:
        raise ParseError("invalid method in Request-Line", headers=headers)
    _check_version(version, headers)
    try:
        uri = parse_uri(uri_text)
    except ParseError as exc:
        raise ParseError(f"invalid Request-URI: {exc.reason}", headers=headers) from None
    return _StartLine(method, uri, 0, "")


# Header names as written (before the colon) → (canonical name, lookup key): the same dozen
# spellings come in every message, and checking and canonicalizing each again was a fifth of
# parsing one. Only valid names are kept, and only so many (peers choose the spellings).
_NAMES: dict[str, tuple[str, str]] = {}
_NAMES_LIMIT = 1024


def _header_name(raw: str) -> tuple[str, str]:
    name = raw.rstrip(" \t")
    if TOKEN_RE.fullmatch(name) is None:
        raise ParseError("invalid header name")
    name = CANONICAL_NAMES.get(name.lower(), name)
    known = (name, name.lower())
    if len(_NAMES) < _NAMES_LIMIT:
        _NAMES[raw] = known
    return known


def _parse_head(head: bytes) -> _Head:
    """Parse start line + header lines (``head`` excludes the terminating empty line)."""
    text = head.decode("utf-8", "surrogateescape")
    crlf = text.count("\r\n")
    if text.count("\r") != crlf or text.count("\n") != crlf:
        raise ParseError("bare CR or LF in the header section")
    first, _, rest = text.partition("\r\n")
    if rest[:1] in (" ", "\t"):
        raise ParseError("continuation line before any header")
    if "\r\n " in rest or "\r\n\t" in rest:
        # Folded lines (LWS): a line break followed by whitespace is a single space.
        rest = _FOLD_RE.sub(" ", rest)
    items: list[tuple[str, str]] = []
    keys: list[str] = []
    lengths: list[str] = []
    names = _NAMES
    for line in rest.split("\r\n") if rest else ():
        raw, colon, value = line.partition(":")
        if not colon:
            raise ParseError("header line without colon")
        known = names.get(raw)
        if known is None:
            known = _header_name(raw)
        name, key = known
        if name == "Content-Length":
            lengths.append(value.strip(" \t"))
            continue
        items.append((name, value.strip(" \t")))
        keys.append(key)
    headers = Headers._trusted(tuple(items), tuple(keys))
    start = _parse_start_line(first, headers)
    headers_for_error = headers if start.method is not None else None
    content_length: int | None = None
    if len(lengths) > 1:
        # RFC 4475 mcl01: conflicting framing information is a framing error.
        raise ParseError("more than one Content-Length", headers=headers_for_error)
    if lengths:
        value = lengths[0]
        if not is_digits(value) or len(value) > 10:
            raise ParseError(f"invalid Content-Length {value[:20]!r}", headers=headers_for_error)
        content_length = int(value)
    return _Head(start, headers, content_length)


def _skip_crlf(data: bytes, pos: int) -> int:
    while data.startswith(b"\r\n", pos):
        pos += 2
    return pos


def parse_message(data: bytes, *, max_size: int = 65535) -> Message:
    """Parse one SIP message from a datagram; see the module docstring for the rules."""
    start = _skip_crlf(data, 0)
    end = data.find(_HEADER_END, start)
    if end < 0:
        if len(data) - start > max_size:
            raise ParseError("header section too large", 513)
        raise ParseError("incomplete header section" if data[start:] else "empty datagram")
    if end + 4 - start > max_size:
        raise ParseError("header section too large", 513)
    head = _parse_head(data[start:end])
    error_headers = head.headers if head.start.method is not None else None
    body_start = end + 4
    available = len(data) - body_start
    length = available if head.content_length is None else head.content_length
    if body_start - start + length > max_size:
        raise ParseError("message body too large", 413, headers=error_headers)
    if length > available:
        raise ParseError("body shorter than Content-Length", headers=error_headers)
    return head.build(data[body_start : body_start + length])


class StreamFramer:
    """Splits a stream transport's byte stream into messages; see the module docstring."""

    def __init__(self, *, max_size: int = 65535) -> None:
        self.max_size = max_size
        self._buf = bytearray()
        self._scan_from = 0  # where to resume searching for the end of headers
        self._start_checked = False
        self._head: _Head | None = None
        self._need = 0  # total bytes of the message whose head is parsed
        self._body_start = 0
        self._failed = False

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete message."""
        return len(self._buf)

    def feed(self, data: bytes) -> Iterator[Message | Ping]:
        """Append ``data`` and iterate over every complete message (and Ping) now available.

        The data is buffered immediately; messages are parsed while iterating, so a ParseError
        surfaces only after the messages before the garbage have been yielded. Messages left
        unconsumed when the iteration is abandoned come out of the next ``feed``.
        """
        if self._failed:
            raise LocalError("this stream already failed to parse; close the connection")
        self._buf += data
        return self._drain()

    def _drain(self) -> Iterator[Message | Ping]:
        while True:
            try:
                event = self._next()
            except ParseError:
                self._failed = True
                raise
            if event is None:
                return
            yield event

    def _next(self) -> Message | Ping | None:
        buf = self._buf
        if self._head is None:
            while buf.startswith(b"\r\n"):
                if buf.startswith(_HEADER_END):
                    del buf[:4]
                    return PING
                if len(buf) < 4 and _HEADER_END.startswith(buf):
                    return None  # maybe the first half of a ping: wait
                del buf[:2]
            if buf == b"\r":
                return None
            if not buf:
                return None
            end = buf.find(_HEADER_END, self._scan_from)
            if end < 0:
                if len(buf) > self.max_size:
                    raise ParseError("header section too large", 513)
                if not self._start_checked:
                    eol = buf.find(b"\r\n")
                    if eol >= 0:
                        # Reject garbage as soon as its first line is complete instead of
                        # buffering up to max_size.
                        line = bytes(buf[:eol]).decode("utf-8", "surrogateescape")
                        try:
                            _parse_start_line(line, None)
                        except ParseError as exc:
                            # A 505 waits for the whole head, so the error carries headers.
                            if exc.status != 505:
                                raise
                        self._start_checked = True
                self._scan_from = max(0, len(buf) - 3)
                return None
            if end + 4 > self.max_size:
                raise ParseError("header section too large", 513)
            head = _parse_head(bytes(buf[:end]))
            length = head.content_length or 0
            if end + 4 + length > self.max_size:
                raise ParseError("message body too large", 413)
            self._head = head
            self._need = end + 4 + length
            self._body_start = end + 4
        if len(buf) < self._need:
            return None
        head = self._head
        message = head.build(bytes(buf[self._body_start : self._need]))
        del buf[: self._need]
        self._head = None
        self._need = 0
        self._scan_from = 0
        self._start_checked = False
        return message


def serialize(message: Message) -> bytes:
    """Encode a message for the wire, with a Content-Length computed from the body."""
    if isinstance(message, Request):
        parts = [f"{message.method} {message.uri} SIP/2.0\r\n"]
    else:
        parts = [f"SIP/2.0 {message.status:03d} {message.reason}\r\n"]
    parts.extend(f"{name}: {value}\r\n" for name, value in message.headers)
    parts.append(f"Content-Length: {len(message.body)}\r\n\r\n")
    try:
        head = "".join(parts).encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        raise LocalError(f"message text cannot be encoded: {exc}") from None
    return head + message.body
