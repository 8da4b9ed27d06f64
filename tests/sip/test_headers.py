"""Typed header values: Via, CSeq, Call-ID, Max-Forwards, token lists, Date, media types."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from vpbx.sip.errors import LocalError, ParseError
from vpbx.sip.headers import (
    COMPACT_FORMS,
    CSeq,
    Via,
    canonical_name,
    check_call_id,
    header_key,
    parse_cseq,
    parse_delta_seconds,
    parse_max_forwards,
    parse_media_type,
    parse_sip_date,
    parse_token_list,
    parse_via_list,
    split_list,
)
from vpbx.sip.uri import Params


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("v", "Via"),
        ("V", "Via"),
        ("i", "Call-ID"),
        ("call-id", "Call-ID"),
        ("CSEQ", "CSeq"),
        ("m", "Contact"),
        ("l", "Content-Length"),
        ("c", "Content-Type"),
        ("e", "Content-Encoding"),
        ("f", "From"),
        ("t", "To"),
        ("s", "Subject"),
        ("k", "Supported"),
        ("o", "Event"),
        ("u", "Allow-Events"),
        ("r", "Refer-To"),
        ("b", "Referred-By"),
        ("x", "Session-Expires"),
        ("www-authenticate", "WWW-Authenticate"),
        ("X-Custom-Thing", "X-Custom-Thing"),
        ("q", "q"),
    ],
)
def test_canonical_names(name: str, canonical: str) -> None:
    assert canonical_name(name) == canonical
    assert header_key(name) == canonical.lower()


def test_every_compact_form_expands_to_a_long_name() -> None:
    assert all(len(k) == 1 and len(v) > 1 for k, v in COMPACT_FORMS.items())


def test_via_parsing_with_lws_ipv6_and_params() -> None:
    (a, b, c) = parse_via_list(
        "SIP / 2.0 / udp  host.example.com : 5060 ;branch=z9hG4bK1;rport ,"
        "SIP/2.0/TLS [2001:db8::1]:5061;branch=z9hG4bK2;received=2001:db8::9;rport=5070,"
        " SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK3;maddr=239.255.255.1;ttl=16"
    )
    assert (a.transport, a.host, a.port, a.branch) == ("UDP", "host.example.com", 5060, "z9hG4bK1")
    assert a.rport_requested
    assert a.rport is None
    assert a.is_rfc3261_branch
    assert (b.host, b.port, b.received, b.rport) == ("2001:db8::1", 5061, "2001:db8::9", 5070)
    assert b.sent_by == "[2001:db8::1]:5061"
    assert c.maddr == "239.255.255.1"
    assert c.params.get("ttl") == "16"
    assert c.sent_by == "df7jal23ls0d.invalid"


def test_via_serialization_and_with_params() -> None:
    via = Via(transport="UDP", host="192.0.2.1", params=Params((("branch", "z9hG4bKa"),)))
    assert str(via) == "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa"
    updated = via.with_params(received="198.51.100.2", rport="4000")
    assert str(updated) == (
        "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa;received=198.51.100.2;rport=4000"
    )
    assert parse_via_list(str(updated)) == [updated]
    assert Via(transport="TCP", host="::1", port=5060).sent_by == "[::1]:5060"
    with pytest.raises(LocalError):
        Via(transport="U D P", host="h")


def test_branch_without_identifier_is_not_rfc3261() -> None:
    (via,) = parse_via_list("SIP/2.0/UDP h;branch=z9hG4bK")
    assert not via.is_rfc3261_branch
    (old,) = parse_via_list("SIP/2.0/UDP h;branch=1234")
    assert not old.is_rfc3261_branch
    (none,) = parse_via_list("SIP/2.0/UDP h")
    assert none.branch is None
    assert not none.is_rfc3261_branch


@pytest.mark.parametrize(
    "value",
    [
        "",
        "SIP/2.0/UDP",
        "SIP/2.0 UDP host",
        "SIP/3.0/UDP host",
        "HTTP/2.0/UDP host",
        "SIP/2.0/UDP host;;",
        "SIP/2.0/UDP 192.0.2.15;;,;,,",  # RFC 4475 badinv01
        "SIP/2.0/UDP host:port",
        "SIP/2.0/UDP host:99999",
        "SIP/2.0/UDP [::1",
        "SIP/2.0/UDP host;branch=",
        "SIP/2.0/UDP host,",
        "SIP/2.0/UDP host junk",
        "SIP/2.0/UDP host;branch=a b",
    ],
)
def test_invalid_via(value: str) -> None:
    with pytest.raises(ParseError):
        parse_via_list(value)


def test_cseq() -> None:
    assert parse_cseq("0009  INVITE") == CSeq(9, "INVITE")
    assert parse_cseq(f"{2**32 - 1} ACK") == CSeq(2**32 - 1, "ACK")
    assert str(CSeq(3, "BYE")) == "3 BYE"
    for bad in ["", "1", "INVITE", "1 2 INVITE", "-1 INVITE", f"{2**32} INVITE", "1 IN/VITE"]:
        with pytest.raises(ParseError):
            parse_cseq(bad)
    with pytest.raises(ParseError):
        parse_cseq("36893488147419103232 REGISTER")  # RFC 4475 scalar02
    with pytest.raises(ParseError):
        parse_cseq("²3 INVITE")  # str.isdigit() would accept this
    with pytest.raises(LocalError):
        CSeq(-1, "INVITE")
    with pytest.raises(LocalError):
        CSeq(1, "IN VITE")


def test_call_id() -> None:
    assert check_call_id("a84b4c76e66710@pc33.atlanta.com") == "a84b4c76e66710@pc33.atlanta.com"
    assert check_call_id("f81d4fae-7dec-11d0-a765-00a0c91e6bf6")
    for bad in ["", "a@b@c", "a b", "@x", "x@"]:
        with pytest.raises(ParseError):
            check_call_id(bad)


def test_max_forwards_and_delta_seconds() -> None:
    assert parse_max_forwards("0068") == 68
    assert parse_max_forwards("0") == 0
    for bad in ["256", "300", "-1", "", "1e2", "0000000000000000000000000000000070"[:3] + "x"]:
        with pytest.raises(ParseError):
            parse_max_forwards(bad)
    assert parse_delta_seconds("3600") == 3600
    assert parse_delta_seconds(str(2**32 - 1)) == 2**32 - 1
    with pytest.raises(ParseError):
        parse_delta_seconds(str(2**32))
    with pytest.raises(ParseError):
        parse_delta_seconds("1" * 100)


def test_lists() -> None:
    assert split_list(' a , "b, c" ,<d,e>;x="f,g",, h ') == ["a", '"b, c"', '<d,e>;x="f,g"', "h"]
    assert split_list('"a\\", b", c') == ['"a\\", b"', "c"]
    assert parse_token_list("100rel, timer,replaces") == ["100rel", "timer", "replaces"]
    with pytest.raises(ParseError):
        parse_token_list("a b")


def test_sip_date() -> None:
    assert parse_sip_date("Sat, 13 Nov 2010 23:29:00 GMT") == datetime(
        2010, 11, 13, 23, 29, tzinfo=UTC
    )
    for bad in [
        "Fri, 01 Jan 2010 16:00:00 EST",  # RFC 4475 baddate
        "Fri, 32 Jan 2010 16:00:00 GMT",
        "Fri, 1 Jan 2010 16:00:00 GMT",
        "2010-01-01T16:00:00Z",
        "",
    ]:
        with pytest.raises(ParseError):
            parse_sip_date(bad)


def test_media_types() -> None:
    assert parse_media_type("application/SDP") == ("application/sdp", Params())
    media_type, params = parse_media_type('multipart/mixed ; boundary="x y"')
    assert media_type == "multipart/mixed"
    assert params.get("boundary") == '"x y"'
    for bad in ["", "application", "application/", "/sdp", "a/b c"]:
        with pytest.raises(ParseError):
            parse_media_type(bad)
