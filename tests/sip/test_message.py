"""The message model: Headers multi-dict, Request/Response, typed accessors, responses."""

from __future__ import annotations

import dataclasses

import pytest

from vpbx.sip.errors import LocalError, ParseError
from vpbx.sip.headers import CSeq
from vpbx.sip.message import (
    CONTACT_STAR,
    Headers,
    Request,
    Response,
    error_response,
    make_response,
)
from vpbx.sip.parser import parse_message
from vpbx.sip.uri import SipUri, parse_uri

INVITE = (
    b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8\r\n"
    b"v: SIP/2.0/TCP p1.example.com;branch=z9hG4bK1, SIP/2.0/UDP p2.example.com;branch=z9hG4bK2\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: Bob <sip:bob@biloxi.example.com>\r\n"
    b'From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774\r\n'
    b"Call-ID: a84b4c76e66710\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:alice@pc33.atlanta.example.com>;expires=60, <sip:a2@x>\r\n"
    b"Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n"
    b"Record-Route: <sip:rr.example.com;lr>\r\n"
    b"Supported: replaces, 100rel\r\n"
    b"Require: timer\r\n"
    b"Proxy-Require: sec-agree\r\n"
    b"Expires: 120\r\n"
    b"Timestamp: 54\r\n"
    b"c: application/sdp; charset=utf-8\r\n"
    b"Content-Length: 4\r\n"
    b"\r\n"
    b"v=0\r\n"
)


def _invite() -> Request:
    message = parse_message(INVITE)
    assert isinstance(message, Request)
    return message


def test_accessors() -> None:
    r = _invite()
    assert r.method == "INVITE"
    assert r.uri == SipUri(user="bob", host="biloxi.example.com")
    assert [v.host for v in r.vias] == [
        "pc33.atlanta.example.com",
        "p1.example.com",
        "p2.example.com",
    ]
    assert r.via.branch == "z9hG4bKnashds8"
    assert r.cseq == CSeq(314159, "INVITE")
    assert r.call_id == "a84b4c76e66710"
    assert r.from_.display_name == "Alice"
    assert r.from_tag == "1928301774"
    assert r.to.display_name == "Bob"
    assert r.to_tag is None
    assert r.max_forwards == 70
    contacts = r.contacts
    assert contacts != CONTACT_STAR
    assert [str(c.uri) for c in contacts] == ["sip:alice@pc33.atlanta.example.com", "sip:a2@x"]
    assert contacts[0].params.get("expires") == "60"
    assert [str(a.uri) for a in r.routes] == ["sip:p1.example.com;lr", "sip:p2.example.com;lr"]
    assert [str(a.uri) for a in r.record_routes] == ["sip:rr.example.com;lr"]
    assert r.supported == ("replaces", "100rel")
    assert r.require == ("timer",)
    assert r.proxy_require == ("sec-agree",)
    assert r.expires == 120
    assert r.content_type == "application/sdp"
    assert r.body == b"v=0\r\n"[:4]
    # Memoized: the same object comes back.
    assert r.vias is r.vias


def test_accessors_on_missing_and_repeated_headers() -> None:
    bare = Request("OPTIONS", parse_uri("sip:x"))
    assert bare.vias == ()
    assert bare.contacts == ()
    assert bare.routes == ()
    assert bare.max_forwards is None
    assert bare.content_type is None
    assert bare.expires is None
    assert bare.require == ()
    for name in ("via", "cseq", "call_id", "from_", "to", "from_tag", "to_tag"):
        with pytest.raises(ParseError):
            getattr(bare, name)
    doubled = Request(
        "OPTIONS",
        parse_uri("sip:x"),
        Headers([("Call-ID", "a"), ("i", "b"), ("Max-Forwards", "1"), ("Max-Forwards", "2")]),
    )
    with pytest.raises(ParseError, match="more than one Call-ID"):
        _ = doubled.call_id
    with pytest.raises(ParseError):
        _ = doubled.max_forwards


def test_contact_star() -> None:
    uri = parse_uri("sip:r")
    assert Request("REGISTER", uri, Headers([("Contact", "*")])).contacts == CONTACT_STAR
    mixed = Request("REGISTER", uri, Headers([("Contact", "*"), ("Contact", "<sip:a@b>")]))
    with pytest.raises(ParseError):
        _ = mixed.contacts


def test_headers_multidict() -> None:
    h = Headers([("v", "a"), ("X-Thing", " spaced \t"), ("VIA", "b, c"), ("x-thing", "2")])
    assert list(h) == [("Via", "a"), ("X-Thing", "spaced"), ("Via", "b, c"), ("x-thing", "2")]
    assert len(h) == 4
    assert "via" in h
    assert "V" in h
    assert 3 not in h
    assert h.get("Via") == "a"
    assert h.get("x-THING") == "spaced"
    assert h.get("Nope") is None
    assert h.get("Nope", "d") == "d"
    assert h.get_all("via") == ("a", "b, c")
    assert h.get_list("Via") == ["a", "b", "c"]
    assert h.count("X-Thing") == 2
    assert h.items() == tuple(h)
    # Case-insensitive names: equal and same hash.
    assert h == Headers([("Via", "a"), ("x-thing", "spaced"), ("v", "b, c"), ("X-THING", "2")])
    assert hash(h) == hash(
        Headers([("Via", "a"), ("x-thing", "spaced"), ("v", "b, c"), ("X-THING", "2")])
    )
    assert h != Headers([("Via", "a")])
    assert h != "Via: a"
    assert "Headers(" in repr(h)


def test_headers_copies_with_changes() -> None:
    h = Headers([("Via", "a"), ("To", "t"), ("Via", "b, c")])
    assert list(h.add("Via", "z")) == [("Via", "a"), ("To", "t"), ("Via", "b, c"), ("Via", "z")]
    assert list(h.prepend("v", "top")) == [
        ("Via", "top"),
        ("Via", "a"),
        ("To", "t"),
        ("Via", "b, c"),
    ]
    assert h.prepend("Record-Route", "<sip:p>").items()[0] == ("Record-Route", "<sip:p>")
    assert list(h.set("via", "only")) == [("Via", "only"), ("To", "t")]
    assert list(h.set("From", "f"))[-1] == ("From", "f")
    assert list(h.remove("VIA")) == [("To", "t")]
    once = h.remove_first_value("Via")
    assert list(once) == [("To", "t"), ("Via", "b, c")]
    assert list(once.remove_first_value("Via")) == [("To", "t"), ("Via", "c")]
    assert h.remove_first_value("Route") is h
    assert list(h) == [("Via", "a"), ("To", "t"), ("Via", "b, c")]  # unchanged


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Bad Name", "x"),
        ("", "x"),
        ("X:Y", "x"),
        ("X-Inject", "a\r\nVia: evil"),
        ("X-Inject", "a\nb"),
        ("Content-Length", "5"),
        ("l", "5"),
    ],
)
def test_headers_refuse_invalid_fields(name: str, value: str) -> None:
    with pytest.raises(LocalError):
        Headers([(name, value)])


def test_message_construction_is_validated() -> None:
    uri = parse_uri("sip:x")
    with pytest.raises(LocalError):
        Request("IN VITE", uri)
    with pytest.raises(LocalError):
        Request("", uri)
    with pytest.raises(LocalError):
        Response(99, "x")
    with pytest.raises(LocalError):
        Response(700, "x")
    with pytest.raises(LocalError):
        Response(200, "O\r\nK")


def test_messages_are_hashable_values() -> None:
    a = _invite()
    b = _invite()
    _ = a.vias  # a filled memo must not matter
    assert a == b
    assert hash(a) == hash(b)
    assert dataclasses.replace(a, body=b"") != a
    assert dataclasses.replace(a, body=b"").vias == a.vias
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.method = "BYE"  # type: ignore[misc]


def test_make_response_copies_the_right_headers() -> None:
    r = _invite()
    ok = make_response(
        r, 200, to_tag="b0b", headers=[("Contact", "<sip:bob@192.0.2.4>")], body=b"v=0\r\n"
    )
    assert (ok.status, ok.reason) == (200, "OK")
    assert ok.headers.get_all("Via") == r.headers.get_all("Via")
    assert ok.headers.get("From") == r.headers.get("From")
    assert ok.headers.get("Call-ID") == r.headers.get("Call-ID")
    assert ok.headers.get("CSeq") == r.headers.get("CSeq")
    assert ok.to_tag == "b0b"
    assert ok.headers.get("Contact") == "<sip:bob@192.0.2.4>"
    assert "Timestamp" not in ok.headers
    assert "Route" not in ok.headers
    assert ok.body == b"v=0\r\n"

    trying = make_response(r, 100, to_tag="ignored")
    assert trying.reason == "Trying"
    assert trying.to_tag is None  # no tag in a 100
    assert trying.headers.get("Timestamp") == "54"

    custom = make_response(r, 488, "No Thanks", to_tag="x")
    assert custom.reason == "No Thanks"
    assert make_response(r, 299).reason == ""


def test_make_response_keeps_an_existing_to_tag_and_a_malformed_to() -> None:
    uri = parse_uri("sip:x")
    base = [
        ("Via", "SIP/2.0/UDP h"),
        ("From", "<sip:a@b>;tag=1"),
        ("Call-ID", "c"),
        ("CSeq", "1 BYE"),
    ]
    tagged = Request("BYE", uri, Headers([*base, ("To", "<sip:b@c>;tag=old")]))
    assert make_response(tagged, 200, to_tag="new").to_tag == "old"
    broken = Request("BYE", uri, Headers([*base, ("To", '"unterminated <sip:b@c>')]))
    assert make_response(broken, 400, to_tag="new").headers.get("To") == '"unterminated <sip:b@c>'


def test_error_response_for_a_rejected_request() -> None:
    data = INVITE.replace(b"SIP/2.0\r\nVia", b"SIP/3.0\r\nVia", 1)
    with pytest.raises(ParseError) as info:
        parse_message(data)
    answer = error_response(info.value, to_tag="t1")
    assert answer is not None
    assert answer.status == 505
    assert answer.reason == "Version Not Supported"
    assert answer.to_tag == "t1"
    assert answer.headers.get_all("Via") == _invite().headers.get_all("Via")
    assert answer.headers.get("Warning", "").startswith('399 - "')


def test_error_response_is_none_when_nothing_can_be_answered() -> None:
    assert error_response(ParseError("x")) is None
    headers = Headers([("Via", "SIP/2.0/UDP h")])
    assert error_response(ParseError("x", headers=headers)) is None
    with pytest.raises(ParseError) as info:
        parse_message(b"SIP/2.0 999 Nope\r\nVia: SIP/2.0/UDP h\r\n\r\n")
    assert error_response(info.value) is None
