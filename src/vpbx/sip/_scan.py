"""Private lexical helpers shared by the SIP parsers: character classes, quoted strings, params.

Everything here works on already-decoded, already-unfolded header text (no CR/LF) and reports
problems as `ParseError`. The regular expressions are single character classes or alternations
whose branches start with distinct characters, so matching stays linear on hostile input.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from vpbx.sip.errors import LocalError, ParseError

# RFC 3261 §25.1 token.
TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
# Generic parameter values: token / host (incl. IPv6 with or without brackets).
GENVALUE_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~:\[\]]+")
# quoted-string body: qdtext or quoted-pair; CR/LF never reach here (headers are unfolded).
QUOTED_RE = re.compile(r'"((?:[^"\\]|\\.)*)"', re.DOTALL)
_QUOTED_PAIR_RE = re.compile(r"\\(.)", re.DOTALL)
DIGITS_RE = re.compile(r"[0-9]+")


def is_token(text: str) -> bool:
    """True when ``text`` is a non-empty RFC 3261 token."""
    return TOKEN_RE.fullmatch(text) is not None


def is_digits(text: str) -> bool:
    """True for a non-empty run of ASCII digits (str.isdigit alone accepts '²' and friends)."""
    return DIGITS_RE.fullmatch(text) is not None


def skip_ws(text: str, pos: int) -> int:
    """Index of the first character at or after ``pos`` that is not SP or HTAB."""
    n = len(text)
    while pos < n and text[pos] in " \t":
        pos += 1
    return pos


def unquote_pairs(content: str) -> str:
    """Resolve quoted-pairs (``\\x`` -> ``x``) in the inside of a quoted-string."""
    if "\\" not in content:
        return content
    return _QUOTED_PAIR_RE.sub(r"\1", content)


def quote_string(text: str) -> str:
    """Render ``text`` as a quoted-string, escaping backslash and double quote."""
    if "\r" in text or "\n" in text:
        raise LocalError("CR/LF cannot be represented in a quoted-string")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unquote(value: str) -> str:
    """Strip the quotes of a quoted parameter value (leaving a token value as is)."""
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return unquote_pairs(value[1:-1])
    return value


def read_quoted(text: str, pos: int) -> tuple[str, int]:
    """Read a quoted-string starting at ``pos`` (which holds '"'); return (raw, end)."""
    m = QUOTED_RE.match(text, pos)
    if m is None:
        raise ParseError("unterminated quoted string")
    return m.group(0), m.end()


@dataclass(frozen=True, slots=True)
class Params:
    """An ordered, immutable list of ``;name[=value]`` parameters.

    Names match case-insensitively. A parameter without ``=`` has the value None (``lr``,
    ``rport``); use ``in`` to test presence. For header parameters (Via, To, Contact...) values
    are kept as written, quoted-strings with their quotes (see `unquote`); for URI parameters
    they are stored unescaped.
    """

    items: tuple[tuple[str, str | None], ...] = ()

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = name.lower()
        return any(k.lower() == key for k, _ in self.items)

    def __iter__(self) -> Iterator[tuple[str, str | None]]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)

    def get(self, name: str, default: str | None = None) -> str | None:
        """Value of the first parameter called ``name`` (None for a value-less one)."""
        key = name.lower()
        for k, v in self.items:
            if k.lower() == key:
                return v
        return default

    def set(self, name: str, value: str | None = None) -> Params:
        """A copy with ``name`` set to ``value`` (replacing the first occurrence, else appended)."""
        key = name.lower()
        items = list(self.items)
        for i, (k, _) in enumerate(items):
            if k.lower() == key:
                items[i] = (k, value)
                return Params(tuple(items))
        items.append((name, value))
        return Params(tuple(items))

    def remove(self, name: str) -> Params:
        """A copy without any parameter called ``name``."""
        key = name.lower()
        return Params(tuple((k, v) for k, v in self.items if k.lower() != key))

    def __str__(self) -> str:
        """Header-parameter rendering: ``;a=b;c`` (values as stored, no escaping)."""
        return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in self.items)


EMPTY_PARAMS = Params()


def read_params(text: str, pos: int) -> tuple[Params, int]:
    """Read ``*( SEMI generic-param )`` starting at ``pos``; return (params, end).

    LWS is allowed around ';' and '='. The returned position is after the last parameter
    (trailing whitespace not consumed). Empty parameters (``;;``) are a ParseError.
    """
    items: list[tuple[str, str | None]] = []
    n = len(text)
    while True:
        j = skip_ws(text, pos)
        if j >= n or text[j] != ";":
            return (Params(tuple(items)) if items else EMPTY_PARAMS), pos
        j = skip_ws(text, j + 1)
        m = TOKEN_RE.match(text, j)
        if m is None:
            raise ParseError("empty or invalid parameter name")
        name = m.group()
        j = m.end()
        k = skip_ws(text, j)
        value: str | None = None
        if k < n and text[k] == "=":
            k = skip_ws(text, k + 1)
            if k < n and text[k] == '"':
                value, j = read_quoted(text, k)
            else:
                mv = GENVALUE_RE.match(text, k)
                if mv is None:
                    raise ParseError(f"parameter {name!r} has an empty or invalid value")
                value = mv.group()
                j = mv.end()
        items.append((name, value))
        pos = j


def split_commas(value: str) -> list[str]:
    """Split a header value at commas outside quoted-strings and <...>; strip the elements.

    Empty elements are dropped (RFC 7230 style leniency); callers that parse a grammar element
    by element (Via, Contact) do their own stricter scanning instead.
    """
    if '"' not in value and "<" not in value:
        return [p for p in (s.strip(" \t") for s in value.split(",")) if p]
    out: list[str] = []
    start = 0
    i = 0
    n = len(value)
    in_quote = False
    in_angle = False
    while i < n:
        c = value[i]
        if in_quote:
            if c == "\\":
                i += 1
            elif c == '"':
                in_quote = False
        elif in_angle:
            if c == ">":
                in_angle = False
        elif c == '"':
            in_quote = True
        elif c == "<":
            in_angle = True
        elif c == ",":
            part = value[start:i].strip(" \t")
            if part:
                out.append(part)
            start = i + 1
        i += 1
    part = value[start:].strip(" \t")
    if part:
        out.append(part)
    return out
