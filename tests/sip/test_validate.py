"""Semantic validation beyond RFC 4475: what a UAS or proxy answers, which responses to drop."""

from __future__ import annotations

import pytest

from vpbx.sip.message import Headers, Request, Response
from vpbx.sip.uri import parse_uri
from vpbx.sip.validate import Rejection, validate_request, validate_response

BASE = [
    ("Via", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK77"),
    ("Max-Forwards", "70"),
    ("From", "<sip:alice@example.com>;tag=a1"),
    ("To", "<sip:bob@example.com>"),
    ("Call-ID", "c1"),
]


def _request(
    method: str = "INVITE",
    extra: list[tuple[str, str]] | None = None,
    *,
    uri: str = "sip:bob@example.com",
    body: bytes = b"",
    cseq: str | None = None,
    drop: tuple[str, ...] = (),
) -> Request:
    headers = [(n, v) for n, v in BASE if n not in drop]
    headers.append(("CSeq", cseq or f"1 {method}"))
    return Request(method, parse_uri(uri), Headers(headers + (extra or [])), body)


def _status(request: Request, **kwargs: bool) -> int | None:
    rejection = validate_request(request, **kwargs)  # type: ignore[arg-type]
    return None if rejection is None else rejection.status


def test_plain_requests_pass() -> None:
    assert validate_request(_request()) is None
    assert validate_request(_request("BYE")) is None
    assert validate_request(_request(uri="tel:+15551234")) is None
    assert validate_request(_request(uri="sips:bob@example.com")) is None


@pytest.mark.parametrize("missing", ["Via", "From", "To", "Call-ID"])
def test_missing_mandatory_header_is_400(missing: str) -> None:
    rejection = validate_request(_request(drop=(missing,)))
    assert rejection == Rejection(400, f"missing {missing} header")


def test_missing_max_forwards_is_tolerated() -> None:
    assert validate_request(_request(drop=("Max-Forwards",))) is None


@pytest.mark.parametrize(
    "extra",
    [
        [("Max-Forwards", "256")],
        [("Via", "SIP/2.0/UDP ;branch=x")],
        [("Contact", "<sip:a@b")],
        [("Route", "sip:p;lr, ")],
        [("Record-Route", "<sip:p;lr> x")],
        [("Date", "Mon, 01 Jan 2024 00:00:00 CET")],
        [("Content-Type", "sdp")],
        [("Require", "a b")],
        [("Expires", "1"), ("Expires", "2")],
        [("Contact", "*"), ("Contact", "<sip:a@b>")],
    ],
)
def test_malformed_or_repeated_headers_are_400(extra: list[tuple[str, str]]) -> None:
    assert _status(_request("REGISTER", extra, uri="sip:example.com")) == 400


def test_cseq_problems_are_400() -> None:
    assert _status(_request(cseq="1 BYE")) == 400
    assert _status(_request(cseq="x INVITE")) == 400
    assert _status(_request(cseq="4294967296 INVITE")) == 400


def test_request_uri_checks() -> None:
    assert _status(_request(uri="http://example.com/")) == 416
    assert _status(_request(uri="tel:+1"), proxy=True) is None
    rejection = validate_request(_request(uri="sip:x"), supported_schemes=("sips",))
    assert rejection is not None
    assert rejection.status == 416
    assert _status(_request(uri="sip:bob@example.com?Subject=hi")) == 400


def test_require_and_proxy_require() -> None:
    request = _request(extra=[("Require", "100rel, timer"), ("Proxy-Require", "sec-agree")])
    rejection = validate_request(request, supported_extensions=("timer",))
    assert rejection == Rejection(420, "unsupported extension", (("Unsupported", "100rel"),))
    assert validate_request(request, supported_extensions=("timer", "100rel")) is None
    # Proxies look at Proxy-Require only.
    rejection = validate_request(request, proxy=True, supported_extensions=("100rel",))
    assert rejection == Rejection(420, "unsupported extension", (("Unsupported", "sec-agree"),))
    # RFC 3261 §8.2.2.3: Require in ACK and CANCEL is ignored.
    assert validate_request(_request("ACK", [("Require", "foo")])) is None
    assert validate_request(_request("CANCEL", [("Require", "foo")])) is None


def test_max_forwards_zero() -> None:
    request = _request("OPTIONS", [("Max-Forwards", "0")], drop=("Max-Forwards",))
    assert _status(request) is None
    assert _status(request, proxy=True) == 483


def test_register_rules() -> None:
    register = "sip:example.com"
    star = [("Contact", "*")]
    assert _status(_request("REGISTER", [*star, ("Expires", "0")], uri=register)) is None
    assert _status(_request("REGISTER", star, uri=register)) == 400
    assert _status(_request("REGISTER", [*star, ("Expires", "60")], uri=register)) == 400
    not_sip = _request("REGISTER", uri=register, drop=("To",), extra=[("To", "<tel:+1555>")])
    assert _status(not_sip) == 400
    assert _status(not_sip, registrar=False) is None


def test_body_checks() -> None:
    sdp = [("Content-Type", "application/sdp")]
    assert _status(_request(body=b"v=0\r\n", extra=sdp)) is None
    assert _status(_request(body=b"v=0\r\n")) == 400  # body without Content-Type
    rejection = validate_request(_request(body=b"<x/>", extra=[("Content-Type", "text/xml")]))
    assert rejection == Rejection(
        415, "unsupported body type text/xml", (("Accept", "application/sdp"),)
    )
    gzip = [*sdp, ("Content-Encoding", "gzip")]
    assert _status(_request(body=b"x", extra=gzip)) == 415
    assert _status(_request(body=b"x", extra=[*sdp, ("e", "identity")])) is None
    # Bodies of other methods belong to the application (MESSAGE, INFO, NOTIFY...).
    assert _status(_request("MESSAGE", [("Content-Type", "text/plain")], body=b"hi")) is None
    assert _status(_request(body=b"x", extra=[("Content-Type", "text/xml")]), proxy=True) is None


@pytest.mark.parametrize(
    ("accept", "status"),
    [
        ("application/sdp", None),
        ("application/*", None),
        ("*/*", None),
        ("text/plain, application/SDP;level=1", None),
        ("text/nobodyKnowsThis", 406),
        ("", 406),
        ("garbage", 406),
    ],
)
def test_accept_for_invite(accept: str, status: int | None) -> None:
    assert _status(_request(extra=[("Accept", accept)])) == status
    assert _status(_request("OPTIONS", [("Accept", accept)])) is None


def _response(vias: list[str], extra: list[tuple[str, str]] | None = None) -> Response:
    headers = [("Via", v) for v in vias] + [
        ("From", "<sip:alice@example.com>;tag=a1"),
        ("To", "<sip:bob@example.com>;tag=b1"),
        ("Call-ID", "c1"),
        ("CSeq", "1 INVITE"),
    ]
    return Response(200, "OK", Headers(headers + (extra or [])))


def test_validate_response() -> None:
    one = ["SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1"]
    two = [*one, "SIP/2.0/UDP 192.0.2.2;branch=z9hG4bK2"]
    assert validate_response(_response(one)) is None
    assert validate_response(_response(two)) is not None
    assert validate_response(_response(two), proxy=True) is None
    multicast = [*one, "SIP/2.0/UDP 224.0.1.75;branch=z9hG4bK2"]
    assert validate_response(_response(multicast), proxy=True) is not None
    ipv6_multicast = [*one, "SIP/2.0/UDP [ff02::1];branch=z9hG4bK2"]
    assert validate_response(_response(ipv6_multicast), proxy=True) is not None
    assert validate_response(_response([])) == "missing Via header"
    ok = [("Retry-After", "18000;duration=3600"), ("Warning", '301 isi.edu "Incompatible"')]
    assert validate_response(_response(one, ok)) is None
    assert validate_response(_response(one, [("Retry-After", "120 (lunch)")])) is None
    assert validate_response(_response(one, [("Retry-After", "9" * 30)])) is not None
    assert validate_response(_response(one, [("Warning", '1812 overture "x"')])) is not None
