"""Typed SIP header values: Via, CSeq, Call-ID, token lists, Date, and the header-name table.

Public API
----------
- ``canonical_name(name) -> str``: "v" -> "Via", "call-id" -> "Call-ID"; unknown names unchanged.
- ``Via`` (``str()`` serializes) and ``parse_via_list(value) -> list[Via]``.
- ``CSeq`` and ``parse_cseq(value)``; ``check_call_id(value)``; ``parse_max_forwards(value)``.
- ``split_list(value)``: comma-separated elements, never split inside quotes or <>.
- ``parse_token_list(value)`` (Require, Supported, Allow...), ``parse_delta_seconds``,
  ``parse_sip_date`` (RFC 1123 date in GMT), ``parse_media_type`` (Content-Type / Accept).

All parse functions raise `ParseError` (status 400) on malformed input and nothing else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from vpbx.sip._scan import (
    DIGITS_RE,
    EMPTY_PARAMS,
    TOKEN_RE,
    Params,
    is_digits,
    is_token,
    read_params,
    skip_ws,
    split_commas,
)
from vpbx.sip.errors import LocalError, ParseError
from vpbx.sip.uri import format_host, parse_host_port

__all__ = [
    "CANONICAL_NAMES",
    "COMPACT_FORMS",
    "MAGIC_COOKIE",
    "CSeq",
    "Via",
    "canonical_name",
    "check_call_id",
    "header_key",
    "parse_cseq",
    "parse_delta_seconds",
    "parse_max_forwards",
    "parse_media_type",
    "parse_sip_date",
    "parse_token_list",
    "parse_via_list",
    "split_list",
]

MAGIC_COOKIE = "z9hG4bK"

# RFC 3261 §7.3.3 and later extensions (IANA "Header Fields" registry, compact column).
COMPACT_FORMS = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "n": "Identity-Info",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}

_KNOWN = [
    "Accept",
    "Accept-Contact",
    "Accept-Encoding",
    "Accept-Language",
    "Alert-Info",
    "Allow",
    "Allow-Events",
    "Authentication-Info",
    "Authorization",
    "Call-ID",
    "Call-Info",
    "Contact",
    "Content-Disposition",
    "Content-Encoding",
    "Content-Language",
    "Content-Length",
    "Content-Type",
    "CSeq",
    "Date",
    "Diversion",
    "Error-Info",
    "Event",
    "Expires",
    "From",
    "History-Info",
    "Identity",
    "Identity-Info",
    "In-Reply-To",
    "Max-Forwards",
    "MIME-Version",
    "Min-Expires",
    "Min-SE",
    "Organization",
    "P-Asserted-Identity",
    "P-Preferred-Identity",
    "Path",
    "Priority",
    "Privacy",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Proxy-Require",
    "RAck",
    "Reason",
    "Record-Route",
    "Refer-To",
    "Referred-By",
    "Reject-Contact",
    "Replaces",
    "Reply-To",
    "Request-Disposition",
    "Require",
    "Retry-After",
    "Route",
    "RSeq",
    "Server",
    "Service-Route",
    "Session-Expires",
    "SIP-ETag",
    "SIP-If-Match",
    "Subject",
    "Subscription-State",
    "Supported",
    "Timestamp",
    "To",
    "Unsupported",
    "User-Agent",
    "Via",
    "Warning",
    "WWW-Authenticate",
]
# Lower-case name (or compact form) -> canonical spelling.
CANONICAL_NAMES = {name.lower(): name for name in _KNOWN}
CANONICAL_NAMES.update(COMPACT_FORMS)


def canonical_name(name: str) -> str:
    """Canonical spelling of a header name; compact forms are expanded, unknown names kept."""
    return CANONICAL_NAMES.get(name.lower(), name)


_KEYS: dict[str, str] = {}


def header_key(name: str) -> str:
    """Lookup key of a header name: its canonical spelling, lower-cased ("v" -> "via")."""
    key = _KEYS.get(name)
    if key is None:
        key = CANONICAL_NAMES.get(name.lower(), name).lower()
        if len(_KEYS) < 4096:  # names come from our own code; bound it anyway
            _KEYS[name] = key
    return key


def split_list(value: str) -> list[str]:
    """Elements of a comma-separated header value, never split inside quotes or <>.

    Do not use it on WWW-Authenticate/Authorization, Date or other headers whose commas are
    not list separators.
    """
    return split_commas(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class Via:
    """One Via header value: ``SIP/2.0/<transport> host[:port];params``.

    ``transport`` is upper-case; ``host`` is stored without IPv6 brackets.
    """

    transport: str
    host: str
    port: int | None = None
    params: Params = EMPTY_PARAMS

    def __post_init__(self) -> None:
        if not is_token(self.transport):
            raise LocalError(f"invalid Via transport {self.transport!r}")

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def is_rfc3261_branch(self) -> bool:
        """True when the branch carries the magic cookie *and* an actual identifier.

        A bare ``z9hG4bK`` (RFC 4475 badbranch) counts as RFC 2543 style: the transaction layer
        must then fall back to the old matching rules.
        """
        b = self.branch
        return b is not None and b.startswith(MAGIC_COOKIE) and len(b) > len(MAGIC_COOKIE)

    @property
    def received(self) -> str | None:
        return self.params.get("received")

    @property
    def rport(self) -> int | None:
        """The numeric ``rport`` value (set by a server in responses), else None."""
        value = self.params.get("rport")
        if value is None or not is_digits(value) or len(value) > 5:
            return None
        return int(value)

    @property
    def rport_requested(self) -> bool:
        """True when an ``rport`` parameter is present (RFC 3581), with or without value."""
        return "rport" in self.params

    @property
    def maddr(self) -> str | None:
        return self.params.get("maddr")

    @property
    def sent_by(self) -> str:
        """``host[:port]`` as in the header (IPv6 in brackets)."""
        h = format_host(self.host)
        return h if self.port is None else f"{h}:{self.port}"

    def with_params(self, **params: str | None) -> Via:
        """A copy with the given parameters set (None makes them value-less)."""
        p = self.params
        for name, value in params.items():
            p = p.set(name, value)
        return Via(transport=self.transport, host=self.host, port=self.port, params=p)

    def __str__(self) -> str:
        return f"SIP/2.0/{self.transport} {self.sent_by}{self.params}"


_HOSTCHARS_RE = re.compile(r"[A-Za-z0-9\-_.]+")


def _expect(text: str, pos: int, char: str, what: str) -> int:
    pos = skip_ws(text, pos)
    if pos >= len(text) or text[pos] != char:
        raise ParseError(f"malformed Via: expected {char!r} {what}")
    return skip_ws(text, pos + 1)


def parse_via_list(value: str) -> list[Via]:
    """Parse a Via header value (one or more comma-separated via-parms)."""
    out: list[Via] = []
    n = len(value)
    i = 0
    while True:
        i = skip_ws(value, i)
        m = TOKEN_RE.match(value, i)
        if m is None or m.group().upper() != "SIP":
            raise ParseError("malformed Via: protocol name must be SIP")
        i = _expect(value, m.end(), "/", "after protocol name")
        m = TOKEN_RE.match(value, i)
        if m is None or m.group() != "2.0":
            raise ParseError("malformed Via: protocol version must be 2.0")
        i = _expect(value, m.end(), "/", "after protocol version")
        m = TOKEN_RE.match(value, i)
        if m is None:
            raise ParseError("malformed Via: missing transport")
        transport = m.group().upper()
        i = skip_ws(value, m.end())
        if i < n and value[i] == "[":
            end = value.find("]", i)
            if end < 0:
                raise ParseError("malformed Via: unterminated IPv6 reference")
            host_text = value[i : end + 1]
            i = end + 1
        else:
            mh = _HOSTCHARS_RE.match(value, i)
            if mh is None:
                raise ParseError("malformed Via: missing sent-by host")
            host_text = mh.group()
            i = mh.end()
        j = skip_ws(value, i)
        if j < n and value[j] == ":":
            j = skip_ws(value, j + 1)
            mp = DIGITS_RE.match(value, j)
            if mp is None:
                raise ParseError("malformed Via: invalid port")
            host_text += ":" + mp.group()
            i = mp.end()
        host, port = parse_host_port(host_text)
        params, i = read_params(value, i)
        out.append(Via(transport=transport, host=host, port=port, params=params))
        i = skip_ws(value, i)
        if i >= n:
            return out
        if value[i] != ",":
            raise ParseError(f"malformed Via near {value[i:]!r}")
        i += 1


@dataclass(frozen=True, slots=True)
class CSeq:
    """The CSeq header: sequence number (0 <= seq < 2**32) and method (case-sensitive)."""

    seq: int
    method: str

    def __post_init__(self) -> None:
        if not 0 <= self.seq < 2**32:
            raise LocalError(f"CSeq number out of range: {self.seq}")
        if not is_token(self.method):
            raise LocalError(f"invalid CSeq method {self.method!r}")

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


def parse_cseq(value: str) -> CSeq:
    """Parse ``1*DIGIT LWS Method``; the number must fit in 32 bits (RFC 3261 §8.1.1.5)."""
    parts = value.split()
    if len(parts) != 2:
        raise ParseError(f"malformed CSeq {value!r}")
    number, method = parts
    # 10 digits bound the int() work on hostile input before the range check.
    if not is_digits(number) or len(number.lstrip("0")) > 10 or int(number) >= 2**32:
        raise ParseError(f"CSeq number invalid or out of range: {number!r}")
    if not is_token(method):
        raise ParseError(f"invalid CSeq method {method!r}")
    return CSeq(int(number), method)


_WORD = r"[A-Za-z0-9\-.!%*_+`'~()<>:\\\"/\[\]?{}]+"
_CALL_ID_RE = re.compile(rf"{_WORD}(?:@{_WORD})?")


def check_call_id(value: str) -> str:
    """Validate a Call-ID (``word ["@" word]``) and return it."""
    if _CALL_ID_RE.fullmatch(value) is None:
        raise ParseError(f"invalid Call-ID {value!r}")
    return value


def parse_max_forwards(value: str) -> int:
    """Max-Forwards must be an integer in 0..255."""
    if not is_digits(value) or len(value.lstrip("0")) > 3 or int(value) > 255:
        raise ParseError(f"invalid Max-Forwards {value!r}")
    return int(value)


def parse_delta_seconds(value: str, *, limit: int = 2**32 - 1) -> int:
    """A delta-seconds value (Expires, Retry-After...) up to ``limit`` (RFC 3261: 2**32-1)."""
    if not is_digits(value) or len(value.lstrip("0")) > 10 or int(value) > limit:
        raise ParseError(f"invalid or overlarge delta-seconds {value!r}")
    return int(value)


def parse_token_list(value: str) -> list[str]:
    """Elements of a token list header (Require, Supported, Allow, Unsupported...)."""
    items = split_commas(value)
    for item in items:
        if not is_token(item):
            raise ParseError(f"invalid token {item!r}")
    return items


_DATE_RE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{2}) "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([0-9]{4}) "
    r"([0-9]{2}):([0-9]{2}):([0-9]{2}) GMT"
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def parse_sip_date(value: str) -> datetime:
    """Parse a SIP-date (RFC 1123 form, time zone must be GMT: RFC 3261 §20.17)."""
    m = _DATE_RE.fullmatch(value.strip())
    if m is None:
        raise ParseError(f"invalid Date {value!r} (must be RFC 1123 in GMT)")
    day, month, year, hh, mm, ss = (m.group(i) for i in range(2, 8))
    try:
        return datetime(
            int(year), _MONTHS.index(month) + 1, int(day), int(hh), int(mm), int(ss), tzinfo=UTC
        )
    except ValueError:
        raise ParseError(f"invalid Date {value!r}") from None


def parse_media_type(value: str) -> tuple[str, Params]:
    """Parse ``type/subtype *(;param)`` into (lower-case "type/subtype", params)."""
    i = skip_ws(value, 0)
    m = TOKEN_RE.match(value, i)
    if m is None:
        raise ParseError(f"invalid media type {value!r}")
    j = skip_ws(value, m.end())
    if j >= len(value) or value[j] != "/":
        raise ParseError(f"invalid media type {value!r}")
    m2 = TOKEN_RE.match(value, skip_ws(value, j + 1))
    if m2 is None:
        raise ParseError(f"invalid media type {value!r}")
    params, end = read_params(value, m2.end())
    if skip_ws(value, end) != len(value):
        raise ParseError(f"invalid media type {value!r}")
    return f"{m.group().lower()}/{m2.group().lower()}", params
