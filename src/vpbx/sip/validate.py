"""Semantic checks of parsed messages: which error a UAS or proxy answers (RFC 3261 §8.2, §16.3).

`parse_message` only guarantees framing and start-line syntax. Before a request reaches the
transaction user, call ``validate_request(request)``; it returns None when the request can be
processed, or a `Rejection` with the status to answer and the headers that response must
carry (Unsupported for 420, Accept for 415...). Build the response with
``make_response(request, r.status, headers=r.headers)``. Never answer an ACK: drop it.

``validate_response(response)`` returns None, or why the response must be silently discarded.

Checks, in this order (the first failing one wins):

1. mandatory headers present, single where single-valued, syntactically valid: Via, CSeq,
   Call-ID, From, To, Max-Forwards, Contact, Route, Record-Route, Date (RFC 1123 in GMT),
   Content-Type, Require/Proxy-Require/Supported; CSeq method equal to the request method -> 400
2. Request-URI scheme not in ``supported_schemes`` -> 416; a SIP Request-URI with headers -> 400
3. (proxy) Max-Forwards 0 -> 483; Proxy-Require not in ``supported_extensions`` -> 420
4. (UAS, not ACK/CANCEL) Require not in ``supported_extensions`` -> 420
5. (UAS registrar, REGISTER) To not a SIP/SIPS URI -> 400; Contact "*" without Expires: 0 -> 400
6. (UAS) a body without Content-Type -> 400; for INVITE/ACK/PRACK/UPDATE a body type not in
   ``accepted_content_types`` or a Content-Encoding other than identity -> 415
7. (UAS, INVITE) an Accept header that excludes application/sdp -> 406

RFC 2543 style requests (no Max-Forwards, no branch, no From tag) are accepted (RFC 4475 §3.4).
Max-Forwards 0 is not an error for a UAS (RFC 4475 zeromf: "an endpoint should process the
request as if the field were still positive").
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Collection
from dataclasses import dataclass

from vpbx.sip.errors import ParseError
from vpbx.sip.headers import (
    header_key,
    parse_delta_seconds,
    parse_media_type,
    parse_sip_date,
)
from vpbx.sip.message import CONTACT_STAR, Request, Response
from vpbx.sip.uri import SipUri

__all__ = [
    "DEFAULT_CONTENT_TYPES",
    "DEFAULT_SCHEMES",
    "Rejection",
    "validate_request",
    "validate_response",
]

DEFAULT_SCHEMES = frozenset({"sip", "sips", "tel"})
DEFAULT_CONTENT_TYPES = frozenset({"application/sdp"})

# Methods whose body we interpret as a session description (RFC 3261, 3262, 3311).
_SDP_METHODS = frozenset({"INVITE", "ACK", "PRACK", "UPDATE"})
_MANDATORY = ("Via", "Call-ID", "CSeq", "From", "To")
# Headers whose grammar allows one value; several lines make the request ambiguous (RFC 4475
# multi01).
_SINGLE = (
    "Call-ID",
    "CSeq",
    "From",
    "To",
    "Max-Forwards",
    "Content-Type",
    "Content-Disposition",
    "Date",
    "Expires",
    "Min-Expires",
    "MIME-Version",
    "Retry-After",
    "Session-Expires",
    "Min-SE",
    "RSeq",
    "RAck",
    "Refer-To",
    "Event",
)


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a request is refused: status to answer, explanation, headers the answer must carry."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...] = ()


# (accessor, key of its header): each is read only when the header is there, as an absent one
# cannot be malformed; reading it would only look up the name again.
_PARSED: tuple[tuple[Callable[[Request | Response], object], str], ...] = tuple(
    (accessor, header_key(name))
    for accessor, name in (
        (lambda m: m.vias, "Via"),
        (lambda m: m.cseq, "CSeq"),
        (lambda m: m.call_id, "Call-ID"),
        (lambda m: m.from_, "From"),
        (lambda m: m.to, "To"),
        (lambda m: m.max_forwards, "Max-Forwards"),
        (lambda m: m.contacts, "Contact"),
        (lambda m: m.routes, "Route"),
        (lambda m: m.record_routes, "Record-Route"),
        (lambda m: m.content_type, "Content-Type"),
        (lambda m: m.require, "Require"),
        (lambda m: m.proxy_require, "Proxy-Require"),
        (lambda m: m.supported, "Supported"),
    )
)
_MANDATORY_KEYS = tuple((name, header_key(name)) for name in _MANDATORY)
_SINGLE_KEYS = tuple((name, header_key(name)) for name in _SINGLE)
_DATE_KEY = header_key("Date")


def _syntax(message: Request | Response) -> str | None:
    """Check the headers every transaction and dialog needs; return a problem or None."""
    present = message.headers.by_key()
    for name, key in _MANDATORY_KEYS:
        if key not in present:
            return f"missing {name} header"
    for name, key in _SINGLE_KEYS:
        values = present.get(key)
        if values is not None and len(values) > 1:
            return f"more than one {name} header"
    try:
        for accessor, key in _PARSED:
            if key in present:
                accessor(message)
        date = present.get(_DATE_KEY)
        if date is not None:
            parse_sip_date(date[0])
    except ParseError as exc:
        return exc.reason
    return None


def _accepts(accept_values: list[str], media_type: str) -> bool:
    major = media_type.split("/", 1)[0]
    for value in accept_values:
        try:
            candidate, _ = parse_media_type(value)
        except ParseError:
            continue
        if candidate in (media_type, f"{major}/*", "*/*"):
            return True
    return False


def validate_request(
    request: Request,
    *,
    proxy: bool = False,
    registrar: bool = True,
    supported_schemes: Collection[str] = DEFAULT_SCHEMES,
    supported_extensions: Collection[str] = (),
    accepted_content_types: Collection[str] = DEFAULT_CONTENT_TYPES,
) -> Rejection | None:
    """Return the Rejection a UAS (or, with ``proxy=True``, a proxy) must answer, or None.

    ``registrar`` enables the REGISTER checks (set it False where REGISTER is only forwarded).
    Never raises.
    """
    problem = _syntax(request)
    if problem is not None:
        return Rejection(400, problem)
    if request.cseq.method != request.method:
        return Rejection(400, "CSeq method does not match the request method")

    uri = request.uri
    scheme = uri.scheme
    if scheme not in supported_schemes:
        return Rejection(416, f"unsupported URI scheme {scheme!r}")
    if isinstance(uri, SipUri) and uri.headers:
        # RFC 3261 §19.1.1 table: headers are not allowed in a Request-URI (RFC 4475 escruri).
        return Rejection(400, "headers are not allowed in the Request-URI")

    supported = set(supported_extensions)
    if proxy:
        if request.max_forwards == 0:
            return Rejection(483, "Max-Forwards reached 0")
        unknown = [tag for tag in request.proxy_require if tag not in supported]
        if unknown:
            return Rejection(420, "unsupported extension", (("Unsupported", ", ".join(unknown)),))
        return None

    if request.method not in ("ACK", "CANCEL"):
        # RFC 3261 §8.2.2.3: Require is ignored in ACK and CANCEL.
        unknown = [tag for tag in request.require if tag not in supported]
        if unknown:
            return Rejection(420, "unsupported extension", (("Unsupported", ", ".join(unknown)),))

    if registrar and request.method == "REGISTER":
        rejection = _check_register(request)
        if rejection is not None:
            return rejection

    if request.body:
        content_type = request.content_type
        if content_type is None:
            return Rejection(400, "a body without Content-Type")
        if request.method in _SDP_METHODS:
            accept = (("Accept", ", ".join(sorted(accepted_content_types))),)
            if content_type not in accepted_content_types:
                return Rejection(415, f"unsupported body type {content_type}", accept)
            encodings = [e.lower() for e in request.headers.get_list("Content-Encoding")]
            if any(e != "identity" for e in encodings):
                return Rejection(
                    415, "unsupported Content-Encoding", (("Accept-Encoding", "identity"),)
                )

    # An empty Accept header means that no body is acceptable at all.
    if (
        request.method == "INVITE"
        and "Accept" in request.headers
        and not _accepts(request.headers.get_list("Accept"), "application/sdp")
    ):
        return Rejection(
            406,
            "Accept excludes application/sdp",
            (("Warning", '399 - "no acceptable answer format"'),),
        )
    return None


def _check_register(request: Request) -> Rejection | None:
    to_uri = request.to.uri
    if not isinstance(to_uri, SipUri):
        # RFC 3261 §10.2: the To header carries the address-of-record, a SIP or SIPS URI
        # (RFC 4475 unksm2).
        return Rejection(400, "the To header of a REGISTER must be a SIP or SIPS URI")
    if request.contacts == CONTACT_STAR:
        # RFC 3261 §10.3 step 6: "*" is only valid with Expires: 0.
        try:
            expires = request.expires
        except ParseError:
            expires = None
        if expires != 0:
            return Rejection(400, "Contact '*' requires Expires: 0")
    return None


def _is_broadcast_or_multicast(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if address.is_multicast:
        return True
    return isinstance(address, ipaddress.IPv4Address) and address == ipaddress.IPv4Address(
        "255.255.255.255"
    )


def validate_response(response: Response, *, proxy: bool = False) -> str | None:
    """Return why ``response`` must be silently discarded, or None to process it.

    A UAC (``proxy=False``) discards responses with more than one Via (RFC 3261 §8.1.3.3). A
    proxy drops responses whose next Via is a broadcast or multicast address (RFC 4475 bcast).
    Out-of-range scalars (CSeq, Retry-After, Warning code) make a response unusable
    (RFC 4475 scalarlg). Never raises.
    """
    problem = _syntax(response)
    if problem is not None:
        return problem
    retry_after = response.headers.get("Retry-After")
    if retry_after is not None:
        seconds = retry_after.split("(", 1)[0].split(";", 1)[0].strip()
        try:
            parse_delta_seconds(seconds)
        except ParseError as exc:
            return f"Retry-After: {exc.reason}"
    for warning in response.headers.get_list("Warning"):
        code = warning.split(" ", 1)[0]
        if len(code) != 3 or not code.isascii() or not code.isdigit():
            return f"invalid Warning code {code[:20]!r}"
    vias = response.vias
    if proxy:
        if len(vias) > 1 and _is_broadcast_or_multicast(vias[1].host):
            return "next Via is a broadcast or multicast address"
    elif len(vias) != 1:
        return "a UAC discards responses with more than one Via"
    return None
