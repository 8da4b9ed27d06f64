"""SIP, SIPS and tel URIs and name-addr/addr-spec addresses (RFC 3261 §19.1, §20.10, §25; RFC 3966).

Public API
----------
``parse_uri(text) -> Uri`` where ``Uri = SipUri | TelUri | AbsoluteUri``; ``str(uri)`` serializes.
Any other scheme parses as `AbsoluteUri` (scheme + opaque text) so that a server can answer
416 instead of 400 (RFC 4475 §3.3.2).

``SipUri`` stores user, password, parameter names/values and URI headers *unescaped*
(``sip:%75ser@h`` has ``user == "user"``); ``str()`` re-escapes only what must be escaped.
IPv6 hosts are stored without brackets (``host == "::1"``). ``SipUri.equivalent(other)``
implements the comparison rules of RFC 3261 §19.1.4; ``==`` is plain structural equality.

``parse_address(text) -> Address`` parses one name-addr or addr-spec with header parameters
(To, From, Contact, Route...); ``parse_address_list(text)`` a comma-separated list, never
splitting inside quotes or <>. In the addr-spec form (no <>) parameters after the URI belong
to the header (RFC 3261 §20), and a URI with '?' must be enclosed in <> or it is rejected.
``str(address)`` always renders the name-addr form with <>.

Every parse error is a `ParseError` (status 400).
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import quote, unquote

from vpbx.sip._scan import (
    EMPTY_PARAMS,
    QUOTED_RE,
    Params,
    is_digits,
    quote_string,
    read_params,
    skip_ws,
    unquote_pairs,
)
from vpbx.sip.errors import LocalError, ParseError

__all__ = [
    "AbsoluteUri",
    "Address",
    "Params",
    "SipUri",
    "TelUri",
    "Uri",
    "parse_address",
    "parse_address_list",
    "parse_uri",
]

_ESC = r"%[0-9A-Fa-f]{2}"
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
_USER_RE = re.compile(rf"(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/]|{_ESC})+")
_PASSWORD_RE = re.compile(rf"(?:[A-Za-z0-9\-_.!~*'()&=+$,]|{_ESC})*")
_PARAMCHAR_RE = re.compile(rf"(?:[A-Za-z0-9\-_.!~*'()\[\]/:&+$]|{_ESC})+")
_HNV_RE = re.compile(rf"(?:[A-Za-z0-9\-_.!~*'()\[\]/?:+$]|{_ESC})*")
# Hostnames per RFC 3261 are alphanum and '-' labels; '_' is tolerated because it is seen
# in the wild (SRV-style names) and cannot be confused with any delimiter.
_HOST_RE = re.compile(r"[A-Za-z0-9\-_.]+")
_TEL_RE = re.compile(r"\+?[0-9A-Fa-f*#\-.()]+")
_OPAQUE_RE = re.compile(rf"(?:[A-Za-z0-9\-_.!~*'();/?:@&=+$,\[\]#]|{_ESC})+")
_ADDR_SPEC_RE = re.compile(r"[^;,\s<>\"]+")
# Unquoted display-name words: RFC 3261 tokens, plus non-ASCII letters because phones do send
# unquoted UTF-8 names; separators such as ',' still make the name invalid (RFC 4475 baddn).
_DISPLAY_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~\u0080-\U0010ffff]+")

# Characters that stay literal when serializing each component ("%" is always escaped).
_USER_SAFE = "!*'()&=+$,;?/"
_PASSWORD_SAFE = "!*'()&=+$,"
_PARAM_SAFE = "!*'()[]/:&+$"
_HNV_SAFE = "!*'()[]/?:+$"


def _unescape(text: str) -> str:
    if "%" not in text:
        return text
    return unquote(text, encoding="utf-8", errors="surrogateescape")


def _escape(text: str, safe: str) -> str:
    return quote(text, safe=safe, encoding="utf-8", errors="surrogateescape")


def _check_host(host: str) -> None:
    if not host:
        raise ParseError("empty host")
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ParseError(f"invalid IPv6 address {host!r}") from None
    elif _HOST_RE.fullmatch(host) is None:
        raise ParseError(f"invalid host {host!r}")


def parse_host_port(text: str) -> tuple[str, int | None]:
    """Parse ``host[:port]`` where host may be an IPv6 reference ``[...]``."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ParseError("unterminated IPv6 reference")
        host = text[1:end]
        if ":" not in host:
            raise ParseError(f"invalid IPv6 reference {text!r}")
        rest = text[end + 1 :]
        if rest and rest[0] != ":":
            raise ParseError(f"garbage after IPv6 reference in {text!r}")
        port_text = rest[1:] if rest else None
    else:
        host, colon, port_text_raw = text.partition(":")
        port_text = port_text_raw if colon else None
        if not host or ":" in host:
            raise ParseError(f"invalid host in {text!r}")
    _check_host(host)
    port: int | None = None
    if port_text is not None:
        if not is_digits(port_text) or len(port_text) > 5 or int(port_text) > 65535:
            raise ParseError(f"invalid port in {text!r}")
        port = int(port_text)
    return host, port


def format_host(host: str) -> str:
    """Host as it appears in a URI or Via: IPv6 addresses get their brackets back."""
    return f"[{host}]" if ":" in host else host


def _parse_uri_params(text: str) -> Params:
    items: list[tuple[str, str | None]] = []
    for piece in text.split(";"):
        name, eq, value = piece.partition("=")
        if _PARAMCHAR_RE.fullmatch(name) is None:
            raise ParseError(f"invalid URI parameter {piece!r}")
        if eq:
            if _PARAMCHAR_RE.fullmatch(value) is None:
                raise ParseError(f"invalid URI parameter value {piece!r}")
            items.append((_unescape(name), _unescape(value)))
        else:
            items.append((_unescape(name), None))
    return Params(tuple(items))


def _format_uri_params(params: Params) -> str:
    return "".join(
        f";{_escape(k, _PARAM_SAFE)}"
        if v is None
        else f";{_escape(k, _PARAM_SAFE)}={_escape(v, _PARAM_SAFE)}"
        for k, v in params.items
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SipUri:
    """A ``sip:`` or ``sips:`` URI. Components are stored unescaped; see module docstring."""

    host: str
    scheme: Literal["sip", "sips"] = "sip"
    user: str | None = None
    password: str | None = None
    port: int | None = None
    params: Params = EMPTY_PARAMS
    headers: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        # Cheap sanity checks so that str() never produces an unparsable URI.
        if self.scheme not in ("sip", "sips"):
            raise LocalError(f"SipUri scheme must be sip or sips, not {self.scheme!r}")
        try:
            _check_host(self.host)
        except ParseError:
            raise LocalError(f"invalid host {self.host!r}") from None
        if self.user == "":
            raise LocalError("empty user part; use None for no user")
        if self.port is not None and not 0 <= self.port <= 65535:
            raise LocalError(f"invalid port {self.port}")
        if any(not k or v == "" for k, v in self.params.items) or any(
            not k for k, _ in self.headers
        ):
            raise LocalError("empty URI parameter name or value, or empty header name")

    @property
    def transport(self) -> str | None:
        """The ``transport`` parameter, lower-cased (None when absent)."""
        value = self.params.get("transport")
        return value.lower() if value else None

    @property
    def lr(self) -> bool:
        """True for a loose-routing URI (``;lr``)."""
        return "lr" in self.params

    @property
    def maddr(self) -> str | None:
        return self.params.get("maddr")

    @property
    def host_port(self) -> str:
        """``host[:port]`` with IPv6 brackets."""
        h = format_host(self.host)
        return h if self.port is None else f"{h}:{self.port}"

    def __str__(self) -> str:
        out = [self.scheme, ":"]
        if self.user is not None:
            out.append(_escape(self.user, _USER_SAFE))
            if self.password is not None:
                out.append(":")
                out.append(_escape(self.password, _PASSWORD_SAFE))
            out.append("@")
        out.append(self.host_port)
        if self.params:
            out.append(_format_uri_params(self.params))
        if self.headers:
            out.append("?")
            out.append(
                "&".join(
                    f"{_escape(k, _HNV_SAFE)}={_escape(v, _HNV_SAFE)}" for k, v in self.headers
                )
            )
        return "".join(out)

    def equivalent(self, other: object) -> bool:
        """URI equality per RFC 3261 §19.1.4 (not the same as ``==``)."""
        if not isinstance(other, SipUri):
            return False
        if self.scheme != other.scheme or self.user != other.user:
            return False
        if self.password != other.password or self.port != other.port:
            return False
        if self.host.lower() != other.host.lower():
            return False
        mine = {k.lower(): v for k, v in self.params.items}
        theirs = {k.lower(): v for k, v in other.params.items}
        for name in mine.keys() | theirs.keys():
            in_both = name in mine and name in theirs
            if name in ("user", "ttl", "method", "maddr", "transport") and not in_both:
                # These must appear in both URIs or in neither.
                return False
            if in_both:
                a, b = mine[name], theirs[name]
                if (a is None) != (b is None) or (
                    a is not None and b is not None and a.lower() != b.lower()
                ):
                    return False
        return {(k.lower(), v) for k, v in self.headers} == {
            (k.lower(), v) for k, v in other.headers
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class TelUri:
    """A ``tel:`` URI (RFC 3966): the number as written plus parameters (unescaped)."""

    number: str
    params: Params = EMPTY_PARAMS

    def __post_init__(self) -> None:
        if _TEL_RE.fullmatch(self.number) is None:
            raise LocalError(f"invalid telephone number {self.number!r}")
        if any(not k or v == "" for k, v in self.params.items):
            raise LocalError("empty tel URI parameter name or value")

    @property
    def scheme(self) -> Literal["tel"]:
        return "tel"

    @property
    def is_global(self) -> bool:
        return self.number.startswith("+")

    @property
    def digits(self) -> str:
        """The number without visual separators (``-``, ``.``, ``(``, ``)``)."""
        return "".join(c for c in self.number if c not in "-.()")

    def __str__(self) -> str:
        return f"tel:{self.number}{_format_uri_params(self.params)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class AbsoluteUri:
    """Any other URI scheme, kept opaque. ``scheme`` is lower-case."""

    scheme: str
    opaque: str

    def __str__(self) -> str:
        return f"{self.scheme}:{self.opaque}"


Uri = SipUri | TelUri | AbsoluteUri


def _parse_sip(scheme: Literal["sip", "sips"], rest: str) -> SipUri:
    # '@' cannot appear unescaped in params or headers, so the first one ends the userinfo;
    # '?' and ';' may appear in the user part (RFC 4475 intmeth, semiuri), so look after it.
    userinfo, at, hostpart = rest.partition("@")
    user: str | None = None
    password: str | None = None
    if at:
        user_text, colon, password_text = userinfo.partition(":")
        if _USER_RE.fullmatch(user_text) is None:
            raise ParseError(f"invalid user part in {scheme}:{rest}")
        user = _unescape(user_text)
        if colon:
            if _PASSWORD_RE.fullmatch(password_text) is None:
                raise ParseError(f"invalid password in {scheme}:{rest}")
            password = _unescape(password_text)
    else:
        hostpart = rest
    hostpart, q, header_text = hostpart.partition("?")
    hostport, semi, param_text = hostpart.partition(";")
    host, port = parse_host_port(hostport)
    params = _parse_uri_params(param_text) if semi else EMPTY_PARAMS
    headers: tuple[tuple[str, str], ...] = ()
    if q:
        hs: list[tuple[str, str]] = []
        for piece in header_text.split("&"):
            name, eq, value = piece.partition("=")
            if not eq or not name or _HNV_RE.fullmatch(name) is None:
                raise ParseError(f"invalid URI header {piece!r}")
            if _HNV_RE.fullmatch(value) is None:
                raise ParseError(f"invalid URI header value {piece!r}")
            hs.append((_unescape(name), _unescape(value)))
        headers = tuple(hs)
    return SipUri(
        scheme=scheme,
        user=user,
        password=password,
        host=host,
        port=port,
        params=params,
        headers=headers,
    )


#: longer URIs are parsed each time: the cache's bound counts entries, and a sender could
#: otherwise pin 4,096 URIs of up to a message's size each
CACHED_URI_CHARS = 256


def parse_uri(text: str) -> Uri:
    """Parse a URI as found in a Request-URI or inside <> of an address.

    Memoized: a URI is immutable, and the same few are parsed over and over (a phone's
    Request-URI, address-of-record and Contact, in every REGISTER it sends and every response
    it gets); parsing one was ~8 µs, five times per REGISTER. Only well-formed URIs of at most
    CACHED_URI_CHARS are kept (a `ParseError` is raised afresh each time), and the bound
    keeps hostile input from growing it.
    """
    if len(text) <= CACHED_URI_CHARS:
        return _parse_uri_cached(text)
    return _parse_uri(text)


def _parse_uri(text: str) -> Uri:
    scheme, colon, rest = text.partition(":")
    if not colon or _SCHEME_RE.fullmatch(scheme) is None:
        raise ParseError(f"invalid URI {text!r}")
    lscheme = scheme.lower()
    if lscheme == "sip" or lscheme == "sips":
        return _parse_sip("sip" if lscheme == "sip" else "sips", rest)
    if lscheme == "tel":
        number, semi, param_text = rest.partition(";")
        if _TEL_RE.fullmatch(number) is None:
            raise ParseError(f"invalid tel URI {text!r}")
        return TelUri(number=number, params=_parse_uri_params(param_text) if semi else EMPTY_PARAMS)
    if _OPAQUE_RE.fullmatch(rest) is None:
        raise ParseError(f"invalid URI {text!r}")
    return AbsoluteUri(scheme=lscheme, opaque=rest)


@dataclass(frozen=True, slots=True, kw_only=True)
class Address:
    """A name-addr or addr-spec with header parameters (To, From, Contact, Route...).

    ``display_name`` is unescaped (None when absent, "" for an empty quoted name); ``params``
    are the header parameters (``tag``, ``expires``, ``q``...) with values as written.
    """

    uri: Uri
    display_name: str | None = None
    params: Params = field(default=EMPTY_PARAMS)

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def with_tag(self, tag: str) -> Address:
        return Address(
            uri=self.uri, display_name=self.display_name, params=self.params.set("tag", tag)
        )

    def __str__(self) -> str:
        prefix = "" if self.display_name is None else quote_string(self.display_name) + " "
        return f"{prefix}<{self.uri}>{self.params}"


_parse_uri_cached = functools.lru_cache(maxsize=4096)(_parse_uri)


def parse_address_at(text: str, pos: int) -> tuple[Address, int]:
    """Parse one address starting at ``pos``; return it and the position after its params."""
    n = len(text)
    i = skip_ws(text, pos)
    display: str | None = None
    if i < n and text[i] == '"':
        m = QUOTED_RE.match(text, i)
        if m is None:
            raise ParseError("unterminated quoted display name")
        display = unquote_pairs(m.group(1))
        i = skip_ws(text, m.end())
        if i >= n or text[i] != "<":
            raise ParseError("quoted display name not followed by <URI>")
    else:
        # A display-name may also be a sequence of tokens: look ahead for '<'.
        j = i
        tokens: list[str] = []
        while True:
            mt = _DISPLAY_TOKEN_RE.match(text, j)
            if mt is None:
                break
            tokens.append(mt.group())
            j = skip_ws(text, mt.end())
        if j < n and text[j] == "<":
            display = " ".join(tokens) if tokens else None
            i = j
    if i < n and text[i] == "<":
        end = text.find(">", i + 1)
        if end < 0:
            raise ParseError("unterminated <URI>")
        inner = text[i + 1 : end]
        # LAQUOT/RAQUOT allow no whitespace inside the brackets (RFC 4475 badaspec).
        if not inner or inner != inner.strip() or " " in inner or "\t" in inner:
            raise ParseError("whitespace or nothing inside <URI>")
        uri = parse_uri(inner)
        i = end + 1
    else:
        m2 = _ADDR_SPEC_RE.match(text, i)
        if m2 is None:
            raise ParseError("missing URI")
        spec = m2.group()
        if "?" in spec:
            # RFC 3261 §20: a URI with ',', ';' or '?' must be written in name-addr form.
            raise ParseError("URI with headers must be enclosed in <>")
        uri = parse_uri(spec)
        i = m2.end()
    params, i = read_params(text, i)
    return Address(uri=uri, display_name=display, params=params), i


def parse_address(text: str) -> Address:
    """Parse exactly one address (the value of To, From, Refer-To...)."""
    addr, i = parse_address_at(text, 0)
    if skip_ws(text, i) != len(text):
        raise ParseError(f"unexpected text after address: {text[i:]!r}")
    return addr


def parse_address_list(text: str) -> list[Address]:
    """Parse a comma-separated list of addresses (Contact, Route, Record-Route...)."""
    out: list[Address] = []
    n = len(text)
    i = 0
    while True:
        addr, i = parse_address_at(text, i)
        out.append(addr)
        i = skip_ws(text, i)
        if i >= n:
            return out
        if text[i] != ",":
            raise ParseError(f"unexpected text in address list: {text[i:]!r}")
        i += 1
