"""SIP message model: the Headers multi-dict, Request/Response dataclasses and typed accessors.

Public API
----------
``Headers(pairs)``: immutable ordered multi-dict of ``(name, value)``. Names match
case-insensitively and are canonicalized on the way in (compact forms expanded: "v" -> "Via",
"i" -> "Call-ID"...); unknown names keep their spelling. Values are ``str`` without CR/LF, with
surrounding whitespace stripped; a header line holding several comma-separated values stays one
entry (``get_all``) and ``get_list`` splits them (never inside quotes or <>). Mutators
(``add``, ``prepend``, ``set``, ``remove``, ``remove_first_value``) return new objects.
Content-Length never lives in Headers: the parser consumes it and `serialize` writes it.

``Request(method, uri, headers, body)`` and ``Response(status, reason, headers, body)``: frozen,
slotted, hashable dataclasses; ``body`` is ``bytes``; ``Message = Request | Response``.
Both have typed, memoized accessors that raise ``ParseError`` (400) when the header is missing
(for mandatory ones), repeated or malformed:

=====================  ==========================================  =========================
accessor               type                                        when absent
=====================  ==========================================  =========================
``vias`` / ``via``     ``tuple[Via, ...]`` / top ``Via``             ``()`` / ParseError
``cseq``               ``CSeq`` (seq, method)                      ParseError
``call_id``            ``str``                                     ParseError
``from_`` / ``to``     ``Address``                                 ParseError
``from_tag``/``to_tag`` ``str | None``                              ParseError (no header)
``max_forwards``       ``int | None`` (0..255)                     None
``contacts``           ``tuple[Address, ...] | Literal["*"]``      ``()``
``routes``             ``tuple[Address, ...]`` (also record_routes) ``()``
``content_type``       ``str | None`` (lower-case type/subtype)     None
``expires``            ``int | None``                               None
``require`` etc.       ``tuple[str, ...]`` (also supported, proxy_require) ``()``
=====================  ==========================================  =========================

``bare(message)`` is the same message without its memoized accessors or header index: what a
transaction keeps to retransmit while it lingers (see `bare`).

``make_response(request, status, ...)`` builds a response per RFC 3261 §8.2.6 (copies Via,
From, To (+tag), Call-ID, CSeq); ``error_response(parse_error)`` builds the stateless error
response for a request the parser rejected, when the header section was readable.

Building messages by hand is validated cheaply (`LocalError` on invalid method, status, header
name or CR/LF in values) so `serialize` cannot emit something unparsable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal, TypeVar, overload

from vpbx.sip._scan import is_token, quote_string, split_commas
from vpbx.sip.errors import LocalError, ParseError
from vpbx.sip.headers import (
    CSeq,
    Via,
    canonical_name,
    check_call_id,
    header_key,
    parse_cseq,
    parse_delta_seconds,
    parse_max_forwards,
    parse_media_type,
    parse_token_list,
    parse_via_list,
)
from vpbx.sip.uri import Address, Uri, parse_address, parse_address_list

__all__ = [
    "CONTACT_STAR",
    "REASON_PHRASES",
    "Headers",
    "Message",
    "Request",
    "Response",
    "bare",
    "error_response",
    "make_response",
    "with_top_via",
]

CONTACT_STAR: Literal["*"] = "*"

REASON_PHRASES = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    199: "Early Dialog Terminated",
    200: "OK",
    202: "Accepted",
    204: "No Notification",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Moved Temporarily",
    305: "Use Proxy",
    380: "Alternative Service",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    410: "Gone",
    412: "Conditional Request Failed",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    421: "Extension Required",
    422: "Session Interval Too Small",
    423: "Interval Too Brief",
    428: "Use Identity Header",
    429: "Provide Referrer Identity",
    433: "Anonymity Disallowed",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    484: "Address Incomplete",
    485: "Ambiguous",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    489: "Bad Event",
    491: "Request Pending",
    493: "Undecipherable",
    494: "Security Agreement Required",
    500: "Server Internal Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
    580: "Precondition Failure",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
    607: "Unwanted",
}


class Headers:
    """Immutable ordered multi-dict of header fields; see the module docstring."""

    __slots__ = ("_index", "_items", "_keys")

    _items: tuple[tuple[str, str], ...]
    _keys: tuple[str, ...]
    # Lazily built lookup table: lower-case canonical name -> values in order. Safe to cache
    # because Headers is immutable.
    _index: dict[str, tuple[str, ...]] | None

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        out = [_checked(name, value) for name, value in items]
        self._items = tuple(out)
        self._keys = tuple(n.lower() for n, _ in out)
        self._index = None

    @classmethod
    def _trusted(
        cls, items: tuple[tuple[str, str], ...], keys: tuple[str, ...] | None = None
    ) -> Headers:
        """Build without validation: the caller has already checked and canonicalized."""
        obj = cls.__new__(cls)
        obj._items = items
        obj._keys = keys if keys is not None else tuple(n.lower() for n, _ in items)
        obj._index = None
        return obj

    def _lookup(self) -> dict[str, tuple[str, ...]]:
        index = self._index
        if index is None:
            # One pass, tuples at once: nearly every name has a single line (a list per name
            # then a tuple of it was two objects per header for every message read).
            index = {}
            for key, (_, value) in zip(self._keys, self._items, strict=True):
                found = index.get(key)
                index[key] = (value,) if found is None else (*found, value)
            self._index = index
        return index

    # -- read access -------------------------------------------------------------------------

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and header_key(name) in self._lookup()

    def items(self) -> tuple[tuple[str, str], ...]:
        return self._items

    @overload
    def get(self, name: str) -> str | None: ...

    @overload
    def get(self, name: str, default: str) -> str: ...

    def get(self, name: str, default: str | None = None) -> str | None:
        """Value of the first header line called ``name``."""
        values = self._lookup().get(header_key(name))
        return values[0] if values else default

    def get_all(self, name: str) -> tuple[str, ...]:
        """Values of every header line called ``name``, in order (lines are not split)."""
        return self._lookup().get(header_key(name), ())

    def get_list(self, name: str) -> list[str]:
        """All comma-separated elements of every ``name`` line (for list-valued headers)."""
        return [elem for value in self.get_all(name) for elem in split_commas(value)]

    def count(self, name: str) -> int:
        return len(self._lookup().get(header_key(name), ()))

    def by_key(self) -> Mapping[str, tuple[str, ...]]:
        """Every value by `header_key` of its name, for a caller asking about many names at
        once (validation): one lookup each, without the name's key computed each time."""
        return self._lookup()

    # -- copies with changes -----------------------------------------------------------------

    def add(self, name: str, value: str) -> Headers:
        """A copy with ``name: value`` appended at the end."""
        return Headers((*self._items, (name, value)))

    def prepend(self, name: str, value: str) -> Headers:
        """A copy with ``name: value`` placed before the first ``name`` line (else first).

        This is how a proxy adds its Via or Record-Route on top.
        """
        key = header_key(name)
        items = list(self._items)
        index = self._keys.index(key) if key in self._keys else 0
        items.insert(index, (name, value))
        return Headers(items)

    def set(self, name: str, value: str) -> Headers:
        """A copy where ``name`` has exactly one line, at the place of the first one."""
        key = header_key(name)
        items: list[tuple[str, str]] = []
        done = False
        for k, item in zip(self._keys, self._items, strict=True):
            if k != key:
                items.append(item)
            elif not done:
                items.append((name, value))
                done = True
        if not done:
            items.append((name, value))
        return Headers(items)

    def remove(self, name: str) -> Headers:
        """A copy without any ``name`` line."""
        key = header_key(name)
        return Headers._trusted(
            tuple(item for k, item in zip(self._keys, self._items, strict=True) if k != key)
        )

    def remove_first_value(self, name: str) -> Headers:
        """A copy without the first list element of ``name`` (e.g. a proxy's own top Via).

        When the first line holds several comma-separated values, the line is rewritten with
        the remaining ones.
        """
        key = header_key(name)
        items = list(self._items)
        for i, k in enumerate(self._keys):
            if k == key:
                rest = split_commas(items[i][1])[1:]
                if rest:
                    items[i] = (items[i][0], ", ".join(rest))
                else:
                    del items[i]
                return Headers._trusted(tuple(items))
        return self

    def replace_first_value(self, name: str, value: str) -> Headers:
        """What ``remove_first_value(name).prepend(name, value)`` gives, in one copy.

        The transport stamps every request's top Via this way: the two steps built and checked
        the whole header list twice.
        """
        key = header_key(name)
        keys = self._keys
        if key not in keys:
            return self.prepend(name, value)
        field = _checked(name, value)
        i = keys.index(key)
        items = list(self._items)
        new_keys = list(keys)
        rest = split_commas(items[i][1])[1:]
        if rest:
            items[i] = (items[i][0], ", ".join(rest))
        else:
            del items[i], new_keys[i]
        # as `prepend`: before the first line of `name` left, else first of all
        at = new_keys.index(key) if key in new_keys else 0
        items.insert(at, field)
        new_keys.insert(at, key)
        return Headers._trusted(tuple(items), tuple(new_keys))

    # -- identity ----------------------------------------------------------------------------

    def _normalized(self) -> tuple[tuple[str, str], ...]:
        return tuple(zip(self._keys, (v for _, v in self._items), strict=True))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._normalized() == other._normalized()

    def __hash__(self) -> int:
        return hash(self._normalized())

    def __repr__(self) -> str:
        return f"Headers({list(self._items)!r})"


def _checked(name: str, value: str) -> tuple[str, str]:
    """A header field as `Headers` keeps it: canonical name, stripped value (LocalError if it
    could not be serialized and parsed back)."""
    if not is_token(name):
        raise LocalError(f"invalid header name {name!r}")
    if "\r" in value or "\n" in value:
        raise LocalError(f"CR/LF in the value of header {name!r}")
    cname = canonical_name(name)
    if cname == "Content-Length":
        raise LocalError("Content-Length is computed by serialize(), do not set it")
    return cname, value.strip(" \t")


_T = TypeVar("_T")


class _Accessors:
    """Typed header accessors shared by Request and Response (memoized per message)."""

    __slots__ = ()

    headers: Headers
    _cache: dict[str, object]

    def _memo(self, key: str, compute: Callable[[], _T]) -> _T:
        cache = self._cache
        if key in cache:
            return cache[key]  # type: ignore[return-value]
        value = compute()
        cache[key] = value
        return value

    def _single(self, name: str) -> str:
        values = self.headers.get_all(name)
        if not values:
            raise ParseError(f"missing {name} header")
        if len(values) > 1:
            raise ParseError(f"more than one {name} header")
        return values[0]

    def _optional(self, name: str) -> str | None:
        values = self.headers.get_all(name)
        if len(values) > 1:
            raise ParseError(f"more than one {name} header")
        return values[0] if values else None

    # The accessors read for every message (Via, CSeq, Call-ID, From, To: a few dozen reads
    # per REGISTER answered) look in the memo before anything else; `_memo` would make a
    # closure for each read, found or not. Their values are never None.

    @property
    def vias(self) -> tuple[Via, ...]:
        """Every Via value, topmost first (all lines, comma lists expanded)."""
        found = self._cache.get("vias")
        if found is None:
            found = self._cache["vias"] = tuple(
                v for line in self.headers.get_all("Via") for v in parse_via_list(line)
            )
        return found  # type: ignore[return-value]

    @property
    def via(self) -> Via:
        """The topmost Via."""
        vias = self.vias
        if not vias:
            raise ParseError("missing Via header")
        return vias[0]

    @property
    def cseq(self) -> CSeq:
        found = self._cache.get("cseq")
        if found is None:
            found = self._cache["cseq"] = parse_cseq(self._single("CSeq"))
        return found  # type: ignore[return-value]

    @property
    def call_id(self) -> str:
        found = self._cache.get("call_id")
        if found is None:
            found = self._cache["call_id"] = check_call_id(self._single("Call-ID"))
        return found  # type: ignore[return-value]

    @property
    def from_(self) -> Address:
        found = self._cache.get("from")
        if found is None:
            found = self._cache["from"] = parse_address(self._single("From"))
        return found  # type: ignore[return-value]

    @property
    def to(self) -> Address:
        found = self._cache.get("to")
        if found is None:
            found = self._cache["to"] = parse_address(self._single("To"))
        return found  # type: ignore[return-value]

    @property
    def from_tag(self) -> str | None:
        return self.from_.tag

    @property
    def to_tag(self) -> str | None:
        return self.to.tag

    @property
    def max_forwards(self) -> int | None:
        def compute() -> int | None:
            value = self._optional("Max-Forwards")
            return None if value is None else parse_max_forwards(value)

        return self._memo("max_forwards", compute)

    @property
    def contacts(self) -> tuple[Address, ...] | Literal["*"]:
        """Contact addresses, or ``"*"`` for the REGISTER wildcard (which must stand alone)."""

        def compute() -> tuple[Address, ...] | Literal["*"]:
            lines = self.headers.get_all("Contact")
            if any(line == "*" for line in lines):
                if len(lines) != 1:
                    raise ParseError("Contact '*' must be the only Contact value")
                return CONTACT_STAR
            return tuple(a for line in lines for a in parse_address_list(line))

        return self._memo("contacts", compute)

    def _address_list(self, name: str) -> tuple[Address, ...]:
        def compute() -> tuple[Address, ...]:
            lines = self.headers.get_all(name)
            return tuple(a for line in lines for a in parse_address_list(line))

        return self._memo(name, compute)

    @property
    def routes(self) -> tuple[Address, ...]:
        return self._address_list("Route")

    @property
    def record_routes(self) -> tuple[Address, ...]:
        return self._address_list("Record-Route")

    @property
    def content_type(self) -> str | None:
        """Lower-case ``type/subtype`` of the body, without parameters."""

        def compute() -> str | None:
            value = self._optional("Content-Type")
            return None if value is None else parse_media_type(value)[0]

        return self._memo("content_type", compute)

    @property
    def expires(self) -> int | None:
        """The Expires header in seconds (values over 2**32-1 are malformed)."""

        def compute() -> int | None:
            value = self._optional("Expires")
            return None if value is None else parse_delta_seconds(value)

        return self._memo("expires", compute)

    def _tokens(self, name: str) -> tuple[str, ...]:
        def compute() -> tuple[str, ...]:
            lines = self.headers.get_all(name)
            return tuple(t for line in lines for t in parse_token_list(line))

        return self._memo(name, compute)

    @property
    def require(self) -> tuple[str, ...]:
        return self._tokens("Require")

    @property
    def proxy_require(self) -> tuple[str, ...]:
        return self._tokens("Proxy-Require")

    @property
    def supported(self) -> tuple[str, ...]:
        return self._tokens("Supported")


_EMPTY_HEADERS = Headers()


@dataclass(frozen=True, slots=True)
class Request(_Accessors):
    """A SIP request. The method is a case-sensitive token; the version is always SIP/2.0."""

    method: str
    uri: Uri
    headers: Headers = _EMPTY_HEADERS
    body: bytes = b""
    _cache: dict[str, object] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        if not is_token(self.method):
            raise LocalError(f"invalid method {self.method!r}")


@dataclass(frozen=True, slots=True)
class Response(_Accessors):
    """A SIP response (status 100..699; the reason phrase may be empty)."""

    status: int
    reason: str
    headers: Headers = _EMPTY_HEADERS
    body: bytes = b""
    _cache: dict[str, object] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        if not 100 <= self.status <= 699:
            raise LocalError(f"status code out of range: {self.status}")
        if "\r" in self.reason or "\n" in self.reason:
            raise LocalError("CR/LF in reason phrase")


Message = Request | Response
_M = TypeVar("_M", Request, Response)


def bare(message: _M) -> _M:
    """An equal message without its memoized accessors or header index.

    Reading a message's Via, CSeq or To (the transport and the counters do, for every message
    sent) hangs a dict of parsed objects on it, and a header index on its `Headers`: a dozen
    objects the garbage collector walks at every collection of their generation. A transaction
    that keeps a message to retransmit for up to 32 s keeps this copy instead: the message and
    its `Headers` are the only objects the collector tracks (the header tuples hold only strings,
    which it stops tracking at their first collection).
    """
    headers = message.headers
    return replace(message, headers=Headers._trusted(headers._items, headers._keys))


def with_top_via(request: Request, via: Via) -> Request:
    """``request`` with ``via`` in place of its top Via value (the transport's received/rport
    stamp, RFC 3261 §18.2.1). The Vias already parsed are handed on: each reader after the
    transport (transaction key, validation, response routing) would otherwise parse them
    again, as the copy starts with no memo."""
    stamped = replace(request, headers=request.headers.replace_first_value("Via", str(via)))
    vias = request._cache.get("vias")
    if isinstance(vias, tuple) and vias:
        stamped._cache["vias"] = (via, *vias[1:])
    return stamped


# Copied verbatim from request to response, RFC 3261 §8.2.6.2.
_COPIED = ("Via", "From", "Call-ID", "CSeq")
# What a response holds parsed as its request did, being the same header lines: the readers of
# every response sent (the transaction's CSeq check, §18.2.2 routing by the top Via, the
# counters) would otherwise parse them once more.
_HANDED_ON = ("vias", "cseq", "call_id", "from")


def _response_headers(
    source: Headers,
    status: int,
    to_tag: str | None,
    extra: Iterable[tuple[str, str]],
    to: Address | None = None,
) -> Headers:
    """The response's header list; `to` is the request's To already parsed, if it was."""
    # The copied lines come from a `Headers`, checked and canonical already: only what is new
    # here is checked.
    out: list[tuple[str, str]] = [item for item in source.items() if item[0] in _COPIED]
    to_values = source.get_all("To")
    if to_values:
        to_value = to_values[0]
        if to_tag is not None and status > 100:
            if to is not None:
                has_tag = to.tag is not None
            else:
                try:
                    has_tag = parse_address(to_value).tag is not None
                except ParseError:
                    has_tag = True  # cannot safely edit a malformed To: copy it as is
            if not has_tag:
                to_value = f"{to_value};tag={to_tag}"
        out.append(_checked("To", to_value))
    if status == 100:
        out.extend(item for item in source.items() if item[0] == "Timestamp")
    out.extend(_checked(name, value) for name, value in extra)
    return Headers._trusted(tuple(out))


def make_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
) -> Response:
    """Build a response to ``request`` (RFC 3261 §8.2.6).

    Via, From, Call-ID and CSeq are copied; To is copied and gets ``to_tag`` unless it already
    has a tag or the status is 100; Timestamp is echoed in a 100. ``headers`` are appended
    (Contact, Record-Route for dialog-creating responses, Allow, Unsupported...). The default
    reason phrase comes from `REASON_PHRASES`. What the request had parsed of the copied
    headers, the response has parsed too.
    """
    phrase = reason if reason is not None else REASON_PHRASES.get(status, "")
    parsed = request._cache
    to = parsed.get("to")
    if not isinstance(to, Address):
        to = None
    response = Response(
        status, phrase, _response_headers(request.headers, status, to_tag, headers, to), body
    )
    handed = response._cache
    for part in _HANDED_ON:
        if part in parsed:
            handed[part] = parsed[part]
    if to is not None and (to_tag is None or status <= 100 or to.tag is not None):
        handed["to"] = to  # copied unchanged
    return response


def error_response(error: ParseError, *, to_tag: str | None = None) -> Response | None:
    """The stateless error response for a request that `parse_message` rejected.

    Returns None when the input was a response, or its header section was unreadable or lacked
    Via/From/To/Call-ID/CSeq: such input can only be dropped.
    """
    source = error.headers
    if source is None or not all(name in source for name in (*_COPIED, "To")):
        return None
    status = error.status if 300 <= error.status <= 699 else 400
    extra = [("Warning", f"399 - {quote_string(error.reason)}")]
    return Response(
        status, REASON_PHRASES.get(status, ""), _response_headers(source, status, to_tag, extra)
    )
