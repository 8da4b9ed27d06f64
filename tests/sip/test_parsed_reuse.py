"""What the REGISTER path reuses instead of parsing again (issue 17) gives what parsing again
would: the transport's Via stamp hands its parsed Vias on, a response holds its request's parsed
Via/CSeq/Call-ID/From (and To when copied unchanged), URIs and header names are memoized, and
validation reads only the headers present. Each shortcut against the long way, on generated
input."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vpbx.sip import uri as uri_module
from vpbx.sip.errors import ParseError
from vpbx.sip.message import Headers, Request, bare, make_response
from vpbx.sip.parser import parse_message, serialize
from vpbx.sip.uri import parse_uri
from vpbx.sip.validate import validate_request
from vpbx.transport.sip import Peer, stamp_via

_TOKEN = st.text(string.ascii_letters + string.digits + "-.!%*_+`'~", min_size=1, max_size=8)
_HOST = st.one_of(
    st.sampled_from(["127.0.0.1", "10.0.0.5", "::1", "2001:db8::7"]),
    st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=8).map(
        lambda s: f"{s}.example.com"
    ),
)
_PORT = st.one_of(st.none(), st.integers(1, 65535))


def _hostport(host: str, port: int | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return shown if port is None else f"{shown}:{port}"


@st.composite
def _via(draw: st.DrawFn) -> str:
    host, port = draw(_HOST), draw(_PORT)
    params = [f";branch=z9hG4bK{draw(_TOKEN)}"]
    if draw(st.booleans()):
        params.append(";rport")
    if draw(st.booleans()):
        params.append(f";received={draw(_HOST)}")
    if draw(st.booleans()):
        params.append(f";{draw(_TOKEN)}={draw(_TOKEN)}")
    transport = draw(st.sampled_from(["UDP", "TCP", "udp", "TLS"]))
    return f"SIP/2.0/{transport} {_hostport(host, port)}{''.join(params)}"


@st.composite
def _request(draw: st.DrawFn) -> bytes:
    """A REGISTER with one to three Via values over one or two lines, and To with or
    without a tag."""
    vias = draw(st.lists(_via(), min_size=1, max_size=3))
    split = draw(st.integers(1, len(vias)))
    via_lines = [", ".join(vias[:split])] + ([", ".join(vias[split:])] if vias[split:] else [])
    user = draw(st.text(string.ascii_letters + string.digits + "-_.", min_size=1, max_size=8))
    to_tag = draw(st.one_of(st.none(), _TOKEN))
    display = draw(st.sampled_from(["", '"Line" ', "Bob "]))
    lines = [
        "REGISTER sip:127.0.0.1:5060 SIP/2.0",
        *(f"Via: {line}" for line in via_lines[:1]),
        "Max-Forwards: 70",
        *(f"Via: {line}" for line in via_lines[1:]),
        f"From: {display}<sip:{user}@127.0.0.1>;tag={draw(_TOKEN)}",
        f"To: {display}<sip:{user}@127.0.0.1>" + (f";tag={to_tag}" if to_tag else ""),
        f"Call-ID: {draw(_TOKEN)}@127.0.0.1",
        f"CSeq: {draw(st.integers(0, 2**32 - 1))} REGISTER",
        f"Contact: <sip:{user}@{_hostport(draw(_HOST), draw(_PORT))}>",
        "Expires: 3600",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _parsed(data: bytes) -> Request:
    message = parse_message(data)
    assert isinstance(message, Request)
    return message


def _reparsed(message: Request) -> Request:
    """The same request with nothing parsed yet: what a reader would parse afresh."""
    return _parsed(serialize(message))


_PEERS = st.builds(
    Peer,
    st.sampled_from(["udp", "tcp"]),
    st.sampled_from(["127.0.0.1", "10.0.0.9", "::1"]),
    st.integers(1, 65535),
)


@settings(max_examples=300, deadline=None)
@given(_request(), _PEERS)
def test_the_stamped_request_holds_the_vias_parsing_it_again_gives(data: bytes, peer: Peer) -> None:
    request = _parsed(data)
    stamped = stamp_via(request, peer)
    if stamped is not request:  # else nothing to stamp: the request as it came
        # The long way, as the transport wrote it before: remove the top value, prepend the new.
        top = stamped.headers.get_list("Via")[0]
        expected = request.headers.remove_first_value("Via").prepend("Via", top)
        assert stamped.headers.items() == expected.items()
    assert stamped.vias == _reparsed(stamped).vias
    assert stamped.vias == bare(stamped).vias


_NAMES = st.sampled_from(["Via", "via", "v", "To", "X-Other", "Route"])
_VALUES = st.sampled_from(["a", "b, c", "d,e, f", '"x, y" z', "<sip:a,b>, g"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_NAMES, _VALUES), max_size=6), _NAMES, st.sampled_from(["n", "n2"]))
def test_replacing_the_first_value_is_removing_it_and_prepending(
    items: list[tuple[str, str]], name: str, value: str
) -> None:
    headers = Headers(items)
    long_way = headers.remove_first_value(name).prepend(name, value)
    short = headers.replace_first_value(name, value)
    assert short.items() == long_way.items()
    assert [short.get_all(n) for n in ("Via", "To", "Route")] == [
        long_way.get_all(n) for n in ("Via", "To", "Route")
    ]


@settings(max_examples=300, deadline=None)
@given(
    _request(),
    _PEERS,
    st.sampled_from([100, 200, 401, 403, 423]),
    st.one_of(st.none(), _TOKEN),
    st.booleans(),
)
def test_a_response_holds_what_its_request_parsed_as_parsing_it_again_would(
    data: bytes, peer: Peer, status: int, to_tag: str | None, read_first: bool
) -> None:
    request = stamp_via(_parsed(data), peer)
    if read_first:
        assert validate_request(request) is None  # every header parsed on the request
    response = make_response(request, status, to_tag=to_tag, headers=[("Date", "x")])
    # the same bytes whether or not the request had parsed anything
    assert serialize(response) == serialize(
        make_response(bare(request), status, to_tag=to_tag, headers=[("Date", "x")])
    )
    fresh = parse_message(serialize(response))
    assert response.vias == fresh.vias
    assert response.cseq == fresh.cseq
    assert response.call_id == fresh.call_id
    assert response.from_ == fresh.from_
    assert response.to == fresh.to
    assert response.to_tag == (request.to_tag or (to_tag if status > 100 else None))


_URI_TEXT = st.one_of(
    st.builds(
        lambda user, host, port, param: f"sip:{user}@{_hostport(host, port)}{param}",
        _TOKEN,
        _HOST,
        _PORT,
        st.sampled_from(["", ";transport=tcp", ";lr", ";x=%41"]),
    ),
    st.text(string.printable, max_size=30),
)


@settings(max_examples=500, deadline=None)
@given(_URI_TEXT)
def test_a_memoized_uri_is_the_one_parsing_gives_and_a_bad_one_fails_each_time(
    text: str,
) -> None:
    try:
        expected = uri_module._parse_uri(text)  # unmemoized
    except ParseError:
        for _ in range(2):
            with pytest.raises(ParseError):
                parse_uri(text)
        return
    assert parse_uri(text) == expected
    assert parse_uri(text) == expected  # from the memo


_SPELLINGS = st.sampled_from(
    ["Via", "VIA", "v", "Call-ID", "call-id", "i", "X-Custom", "x-custom", "CSeq ", "To\t"]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_SPELLINGS, min_size=1, max_size=5))
def test_header_names_are_canonical_however_often_a_spelling_comes(names: list[str]) -> None:
    head = "OPTIONS sip:a@127.0.0.1 SIP/2.0\r\n" + "".join(
        f"{name}: value{i}\r\n" for i, name in enumerate(names)
    )
    first = parse_message((head + "\r\n").encode())
    again = parse_message((head + "\r\n").encode())
    assert first.headers.items() == again.headers.items()
    # the canonical spelling Headers gives a name built by hand
    assert (
        first.headers.items()
        == Headers((name.strip(), f"value{i}") for i, name in enumerate(names)).items()
    )


@pytest.mark.parametrize("name", ["Bad Name", "Bad@Name", ""])
def test_an_invalid_header_name_is_refused_each_time(name: str) -> None:
    data = f"OPTIONS sip:a@127.0.0.1 SIP/2.0\r\n{name}: x\r\n\r\n".encode()
    for _ in range(2):
        with pytest.raises(ParseError, match="invalid header name"):
            parse_message(data)


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ("Route: <sip:a@b;lr>, garbage<", "<URI>"),
        ("Max-Forwards: 300", "Max-Forwards"),
        ("Require: a b", "token"),
        ("Date: yesterday", "Date"),
        ("Expires: 1\r\nExpires: 2", "more than one Expires"),
    ],
)
def test_validation_still_refuses_a_malformed_optional_header(extra: str, problem: str) -> None:
    data = (
        "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\n"
        "From: <sip:a@h>;tag=1\r\nTo: <sip:a@h>\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\n"
        f"{extra}\r\n\r\n"
    ).encode()
    rejection = validate_request(_parsed(data))
    assert rejection is not None
    assert rejection.status == 400
    assert problem.lower() in rejection.reason.lower()


def test_a_long_uri_is_parsed_but_not_kept() -> None:
    """The URI cache counts entries: a sender's long URIs must not fill it with big keys."""
    long_uri = "sip:" + "a" * uri_module.CACHED_URI_CHARS + "@example.com"
    before = uri_module._parse_uri_cached.cache_info().currsize
    parsed = uri_module.parse_uri(long_uri)
    assert str(parsed) == long_uri
    assert uri_module._parse_uri_cached.cache_info().currsize == before
    short = f"sip:u{before}@example.com"
    uri_module.parse_uri(short)
    assert uri_module._parse_uri_cached.cache_info().currsize == before + 1
