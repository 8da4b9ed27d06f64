"""Wire format: datagram parsing, stream framing, serialization, and their properties."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.paths import TESTDATA
from vpbx.sip.errors import LocalError, ParseError
from vpbx.sip.message import Headers, Message, Request, Response
from vpbx.sip.parser import Ping, StreamFramer, is_keepalive, parse_message, serialize
from vpbx.sip.uri import AbsoluteUri, Params, SipUri, TelUri, Uri, parse_uri
from vpbx.sip.validate import validate_request, validate_response

OPTIONS = (
    b"OPTIONS sip:carol@chicago.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKhjhs8ass877\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: <sip:carol@chicago.example.com>\r\n"
    b"From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
    b"Call-ID: a84b4c76e66710\r\n"
    b"CSeq: 63104 OPTIONS\r\n"
    b"Accept: application/sdp\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)


def _parse(data: bytes) -> Message:
    return parse_message(data)


def test_parse_simple_request_and_serialize_back_exactly() -> None:
    message = _parse(OPTIONS)
    assert isinstance(message, Request)
    assert message.method == "OPTIONS"
    assert "Content-Length" not in message.headers
    assert serialize(message) == OPTIONS


def test_parse_response() -> None:
    message = _parse(b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h\r\nContent-Length: 0\r\n\r\n")
    assert isinstance(message, Response)
    assert (message.status, message.reason) == (180, "Ringing")
    assert serialize(message).startswith(b"SIP/2.0 180 Ringing\r\n")


@pytest.mark.parametrize(
    ("line", "status", "reason"),
    [
        (b"SIP/2.0 200 OK", 200, "OK"),
        (b"SIP/2.0 200", 200, ""),
        (b"SIP/2.0 100 ", 100, ""),
        (b"SIP/2.0 404  Not  Found ", 404, " Not  Found "),
        (b"sip/2.0 603 Decline", 603, "Decline"),
        (b"SIP/2.0 699 \xc3\xa9t\xc3\xa9", 699, "été"),
    ],
)
def test_status_lines(line: bytes, status: int, reason: str) -> None:
    message = _parse(line + b"\r\n\r\n")
    assert isinstance(message, Response)
    assert (message.status, message.reason) == (status, reason)
    assert parse_message(serialize(message)) == message


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"", 400),
        (b"\r\n\r\n", 400),
        (b"OPTIONS sip:x SIP/2.0\r\n", 400),  # no end of headers
        (b"OPTIONS sip:x SIP/3.0\r\n\r\n", 505),
        (b"OPTIONS sip:x SIP/2.0.1\r\n\r\n", 400),
        (b"OPTIONS sip:x HTTP/1.1\r\n\r\n", 400),
        (b"OPTIONS sip:x\r\n\r\n", 400),
        (b"OPTIONS  sip:x SIP/2.0\r\n\r\n", 400),
        (b"OPTIONS sip:x SIP/2.0 \r\n\r\n", 400),
        (b" OPTIONS sip:x SIP/2.0\r\n\r\n", 400),
        (b"OPT(IONS sip:x SIP/2.0\r\n\r\n", 400),
        (b"OPTIONS sip:x y SIP/2.0\r\n\r\n", 400),
        (b"OPTIONS sip: SIP/2.0\r\n\r\n", 400),
        (b"SIP/2.0 99 Low\r\n\r\n", 400),
        (b"SIP/2.0 700 High\r\n\r\n", 400),
        (b"SIP/2.0 2000 OK\r\n\r\n", 400),
        (b"SIP/2.0 2x0 OK\r\n\r\n", 400),
        (b"SIP/2.0 \xd9\xa2\xd9\xa0\xd9\xa0 OK\r\n\r\n", 400),  # Arabic-Indic digits
        (b"SIP/1.0 200 OK\r\n\r\n", 505),
        (b"OPTIONS sip:x SIP/2.0\r\nNoColon\r\n\r\n", 400),
        (b"OPTIONS sip:x SIP/2.0\r\nBad Name: x\r\n\r\n", 400),
        (b"OPTIONS sip:x SIP/2.0\r\n: x\r\n\r\n", 400),
        (b"OPTIONS sip:x SIP/2.0\r\n folded: before any header\r\n\r\n", 400),
        (b"OPTIONS sip:x SIP/2.0\r\nA: b\nC: d\r\n\r\n", 400),  # bare LF
        (b"OPTIONS sip:x SIP/2.0\r\nA: b\rC: d\r\n\r\n", 400),  # bare CR
        (b"OPTIONS sip:x SIP/2.0\r\nContent-Length: five\r\n\r\n", 400),
        (b"OPTIONS sip:x SIP/2.0\r\nContent-Length: -1\r\n\r\n", 400),
        (b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 1\r\n\r\n", 400),
        (b"OPTIONS sip:x SIP/2.0\r\nl: 0\r\nContent-Length: 0\r\n\r\n", 400),
        (b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 99999999999\r\n\r\n", 400),
    ],
)
def test_malformed_datagrams(data: bytes, status: int) -> None:
    with pytest.raises(ParseError) as info:
        parse_message(data)
    assert info.value.status == status


def test_request_errors_carry_headers_and_response_errors_do_not() -> None:
    with pytest.raises(ParseError) as info:
        parse_message(b"OPTIONS sip:x SIP/3.0\r\nVia: SIP/2.0/UDP h\r\n\r\n")
    assert info.value.headers == Headers([("Via", "SIP/2.0/UDP h")])
    with pytest.raises(ParseError) as info:
        parse_message(b"SIP/3.0 200 OK\r\nVia: SIP/2.0/UDP h\r\n\r\n")
    assert info.value.headers is None
    with pytest.raises(ParseError) as info:
        parse_message(b"OPTIONS sip:x SIP/2.0\r\nBroken\r\n\r\n")
    assert info.value.headers is None


def test_leading_crlf_folding_and_compact_forms() -> None:
    message = _parse(
        b"\r\n\r\nOPTIONS sip:x SIP/2.0\r\n"
        b"Subject: first\r\n  second\r\n\tthird\r\n"
        b"i: abc\r\n"
        b"Empty:\r\n"
        b"Folded-Empty:\r\n  value\r\n"
        b"X-Colon: a: b\r\n"
        b"TO :  <sip:a@b>  \r\n"
        b"\r\n"
    )
    assert list(message.headers) == [
        ("Subject", "first second third"),
        ("Call-ID", "abc"),
        ("Empty", ""),
        ("Folded-Empty", "value"),
        ("X-Colon", "a: b"),
        ("To", "<sip:a@b>"),
    ]


def test_datagram_body_rules() -> None:
    head = b"MESSAGE sip:x SIP/2.0\r\nContent-Type: text/plain\r\n"
    # Without Content-Length the body is the rest of the datagram (RFC 3261 §18.3).
    assert _parse(head + b"\r\nhello\r\n").body == b"hello\r\n"
    # Extra bytes after the announced body are discarded.
    assert _parse(head + b"Content-Length: 2\r\n\r\nhello").body == b"he"
    # Bodies are bytes, binary-safe.
    raw = bytes(range(256))
    assert _parse(head + b"Content-Length: 256\r\n\r\n" + raw).body == raw


def test_undecodable_header_bytes_survive_a_round_trip() -> None:
    data = b"MESSAGE sip:x SIP/2.0\r\nSubject: caf\xe9 \xff\r\nContent-Length: 0\r\n\r\n"
    message = _parse(data)
    assert message.headers.get("Subject") == "caf\udce9 \udcff"
    assert serialize(message) == data


def test_size_limits() -> None:
    big_header = b"OPTIONS sip:x SIP/2.0\r\nX: " + b"a" * 2000 + b"\r\n\r\n"
    with pytest.raises(ParseError) as info:
        parse_message(big_header, max_size=1000)
    assert info.value.status == 513
    with pytest.raises(ParseError) as info:
        parse_message(big_header[:-4] + b"\r\n", max_size=1000)  # not even terminated
    assert info.value.status == 513
    big_body = b"MESSAGE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nContent-Length: 2000\r\n\r\n"
    with pytest.raises(ParseError) as info:
        parse_message(big_body + b"x" * 2000, max_size=1000)
    assert info.value.status == 413
    assert info.value.headers is not None
    assert parse_message(big_body + b"x" * 2000, max_size=4000).body == b"x" * 2000


def test_keepalive_datagrams() -> None:
    assert is_keepalive(b"\r\n\r\n")
    assert is_keepalive(b"\r\n")
    assert is_keepalive(b"\x00\x00\x00\x00")
    assert is_keepalive(b"")
    assert not is_keepalive(OPTIONS)


def test_serialize_sets_content_length_and_encodes_utf8() -> None:
    message = Request(
        "MESSAGE",
        parse_uri("sip:bob@example.com"),
        Headers([("Subject", "caf\u00e9 \u2603"), ("Content-Type", "text/plain")]),
        b"hi",
    )
    assert serialize(message) == (
        b"MESSAGE sip:bob@example.com SIP/2.0\r\n"
        b"Subject: caf\xc3\xa9 \xe2\x98\x83\r\n"
        b"Content-Type: text/plain\r\n"
        b"Content-Length: 2\r\n"
        b"\r\n"
        b"hi"
    )
    with pytest.raises(LocalError):
        serialize(Response(200, "OK", Headers([("X", "\ud800")])))


# -- stream framing ------------------------------------------------------------------------------


def _feed_all(framer: StreamFramer, data: bytes, chunk: int) -> list[Message | Ping]:
    out: list[Message | Ping] = []
    for i in range(0, len(data), chunk):
        out.extend(framer.feed(data[i : i + chunk]))
    return out


def test_stream_frames_messages_and_pings() -> None:
    response = b"SIP/2.0 200 OK\r\nContent-Length: 3\r\n\r\nabc"
    stream = b"\r\n" + OPTIONS + b"\r\n\r\n" + response + b"\r\n" + OPTIONS
    for chunk in (1, 2, 3, 7, 64, len(stream)):
        framer = StreamFramer()
        events = _feed_all(framer, stream, chunk)
        assert events == [_parse(OPTIONS), Ping(), _parse(response), _parse(OPTIONS)], chunk
        assert framer.buffered == 0


def test_stream_waits_for_the_body_and_half_pings() -> None:
    framer = StreamFramer()
    head = b"MESSAGE sip:x SIP/2.0\r\nContent-Length: 5\r\n\r\n"
    assert list(framer.feed(head + b"abc")) == []
    assert framer.buffered == len(head) + 3
    (message,) = framer.feed(b"de\r\n")
    assert isinstance(message, Request)
    assert message.body == b"abcde"
    assert list(framer.feed(b"\r")) == []  # "\r\n\r" could still become a ping
    assert list(framer.feed(b"\n")) == [Ping()]
    assert list(framer.feed(b"\r\nOPT")) == []  # single CRLF (pong) skipped
    assert framer.buffered == 3


def test_stream_without_content_length_has_an_empty_body() -> None:
    framer = StreamFramer()
    (message,) = framer.feed(b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n")
    assert isinstance(message, Request)
    assert message.body == b""


def test_stream_rejects_garbage_early_and_then_refuses_use() -> None:
    framer = StreamFramer()
    events = framer.feed(OPTIONS + b"GET / HTTP/1.1\r\n")
    assert next(events) == _parse(OPTIONS)  # the good message comes out first
    with pytest.raises(ParseError):
        next(events)
    with pytest.raises(LocalError):
        framer.feed(OPTIONS)


def test_stream_version_error_waits_for_headers_to_allow_a_505() -> None:
    framer = StreamFramer()
    assert list(framer.feed(b"OPTIONS sip:x SIP/3.0\r\n")) == []
    with pytest.raises(ParseError) as info:
        list(framer.feed(b"Via: SIP/2.0/TCP h\r\nCall-ID: c\r\n\r\n"))
    assert info.value.status == 505
    assert info.value.headers is not None


def test_stream_size_limits() -> None:
    framer = StreamFramer(max_size=200)
    with pytest.raises(ParseError) as info:
        list(framer.feed(b"OPTIONS sip:x SIP/2.0\r\nX: " + b"a" * 300))
    assert info.value.status == 513
    framer = StreamFramer(max_size=200)
    with pytest.raises(ParseError) as info:
        list(framer.feed(b"MESSAGE sip:x SIP/2.0\r\nContent-Length: 1000\r\n\r\n"))
    assert info.value.status == 413


def test_abandoned_iteration_keeps_messages_for_the_next_feed() -> None:
    framer = StreamFramer()
    events = framer.feed(OPTIONS * 3)
    assert next(events) == _parse(OPTIONS)
    del events
    assert list(framer.feed(b"")) == [_parse(OPTIONS), _parse(OPTIONS)]


# -- properties ----------------------------------------------------------------------------------

_token = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789-.!%*_+`'~", min_size=1)
_value = st.text(
    alphabet=st.characters(exclude_categories=("Cs", "Cc"), exclude_characters="\r\n"),
    max_size=40,
).map(lambda s: s.strip(" \t"))
_header_names = st.sampled_from(
    ["Via", "v", "From", "To", "Call-ID", "CSeq", "Contact", "Subject", "X-Custom", "Route"]
) | _token.filter(lambda n: n.lower() not in ("content-length", "l"))
_headers = st.lists(st.tuples(_header_names, _value), max_size=12).map(Headers)
_uris: st.SearchStrategy[Uri] = st.sampled_from(
    [
        SipUri(user="bob", host="example.com"),
        SipUri(scheme="sips", host="2001:db8::1", port=5061, params=Params((("lr", None),))),
        TelUri(number="+15551234"),
        AbsoluteUri(scheme="urn", opaque="service:sos"),
    ]
)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    headers = draw(_headers)
    body = draw(st.binary(max_size=64))
    if draw(st.booleans()):
        return Request(draw(_token), draw(_uris), headers, body)
    reason = draw(_value)
    return Response(draw(st.integers(100, 699)), reason, headers, body)


@settings(deadline=None)
@given(messages())
def test_parse_serialize_round_trip(message: Message) -> None:
    data = serialize(message)
    assert parse_message(data) == message
    framer = StreamFramer()
    assert list(framer.feed(data)) == [message]


@settings(deadline=None)
@given(st.lists(messages(), min_size=1, max_size=4), st.integers(1, 50), st.booleans())
def test_stream_of_messages_in_arbitrary_chunks(
    batch: list[Message], chunk: int, pings: bool
) -> None:
    separator = b"\r\n\r\n" if pings else b""
    data = b"".join(separator + serialize(m) for m in batch)
    events = _feed_all(StreamFramer(), data, chunk)
    assert [e for e in events if not isinstance(e, Ping)] == batch
    assert sum(isinstance(e, Ping) for e in events) == (len(batch) if pings else 0)


_sipish = st.lists(
    st.sampled_from(
        [
            b"INVITE",
            b"SIP/2.0",
            b" ",
            b"\r\n",
            b":",
            b";",
            b",",
            b"<",
            b">",
            b'"',
            b"\\",
            b"sip:",
            b"@",
            b"Content-Length: ",
            b"l:",
            b"12",
            b"0",
            b"Via",
            b"SIP/2.0/UDP",
            b"\t",
            b"\x00",
            b"\xff",
            b"[::1]",
            b"%",
        ]
    ),
    max_size=60,
).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | _sipish)
def test_arbitrary_bytes_raise_only_parse_error(data: bytes) -> None:
    try:
        message = parse_message(data, max_size=200)
    except ParseError:
        pass
    else:
        # Whatever parses serializes, and the typed accessors fail only with ParseError.
        serialize(message)
        for name in ("vias", "cseq", "call_id", "from_", "to", "max_forwards", "contacts"):
            with contextlib.suppress(ParseError):
                getattr(message, name)
        # Validation never raises.
        if isinstance(message, Request):
            validate_request(message)
            validate_request(message, proxy=True)
        else:
            validate_response(message)
            validate_response(message, proxy=True)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | _sipish, st.integers(1, 40))
def test_stream_framer_raises_only_parse_error(data: bytes, chunk: int) -> None:
    framer = StreamFramer(max_size=200)
    try:
        _feed_all(framer, data, chunk)
    except ParseError:
        with pytest.raises(LocalError):
            framer.feed(b"x")


def test_all_shared_torture_files_are_harmless_in_any_chunking() -> None:
    # Includes test.dat, the stray file of the RFC 4475 archive.
    files = sorted((TESTDATA / "rfc4475").glob("*.dat"))
    assert len(files) == 50
    for path in files:
        data = path.read_bytes()
        for chunk in (1, 13, len(data)):
            with contextlib.suppress(ParseError):
                _feed_all(StreamFramer(), data, chunk)
        with contextlib.suppress(ParseError):
            parse_message(data)
