"""URIs and addresses: parsing, serialization, escaping, RFC 3261 §19.1.4 comparison."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vpbx.sip.errors import LocalError, ParseError
from vpbx.sip.uri import (
    AbsoluteUri,
    Address,
    Params,
    SipUri,
    TelUri,
    parse_address,
    parse_address_list,
    parse_uri,
)


@pytest.mark.parametrize(
    "text",
    [
        "sip:alice@atlanta.com",
        "sips:alice@atlanta.com:5061;transport=tls",
        "sip:alice:secretword@atlanta.com;transport=tcp",
        "sip:+1-212-555-1212:1234@gateway.com;user=phone",
        "sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com",
        "sip:alice;day=tuesday@atlanta.com",
        "sip:[2001:db8::10]:5070;lr",
        "sip:192.0.2.4",
        "sip:proxy.example.com;lr;maddr=[2001:db8::1]",
        "tel:+358-555-1234567;postd=pp22",
        "tel:7042;phone-context=example.com",
        "urn:service:sos",
        "mailto:alice@example.com",
    ],
)
def test_canonical_uris_round_trip_exactly(text: str) -> None:
    uri = parse_uri(text)
    assert str(uri) == text
    assert parse_uri(str(uri)) == uri


def test_components_are_unescaped_and_reescaped_minimally() -> None:
    uri = parse_uri(
        "sip:%61lice%20smith:p%40ss@Example.COM:5060;n%61me=v%61lue%25;lr?h%31=a%20b&x="
    )
    assert isinstance(uri, SipUri)
    assert uri.user == "alice smith"
    assert uri.password == "p@ss"
    assert uri.host == "Example.COM"
    assert uri.port == 5060
    assert uri.params == Params((("name", "value%"), ("lr", None)))
    assert uri.headers == (("h1", "a b"), ("x", ""))
    assert uri.lr
    assert str(uri) == "sip:alice%20smith:p%40ss@Example.COM:5060;name=value%25;lr?h1=a%20b&x="


def test_sip_uri_properties() -> None:
    uri = parse_uri("sip:bob@[2001:db8::1]:5080;transport=TCP;maddr=239.255.255.1")
    assert isinstance(uri, SipUri)
    assert uri.host == "2001:db8::1"
    assert uri.host_port == "[2001:db8::1]:5080"
    assert uri.transport == "tcp"
    assert uri.maddr == "239.255.255.1"
    assert not uri.lr


def test_schemes_are_case_insensitive() -> None:
    assert parse_uri("SIP:a@b") == SipUri(user="a", host="b")
    assert parse_uri("SIPS:a@b") == SipUri(scheme="sips", user="a", host="b")
    assert parse_uri("TEL:+1") == TelUri(number="+1")
    assert parse_uri("HTTP://x") == AbsoluteUri(scheme="http", opaque="//x")


def test_tel_uri() -> None:
    uri = parse_uri("tel:+1-(201)-555.0123;ext=1234")
    assert isinstance(uri, TelUri)
    assert uri.scheme == "tel"
    assert uri.is_global
    assert uri.digits == "+12015550123"
    assert uri.params.get("EXT") == "1234"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "sip",
        "sip:",
        "sip:@host",
        "sip:user@",
        "sip:user@host:",
        "sip:user@host:65536",
        "sip:user@host:5060x",
        "sip:host:1:2",
        "sip:[::1",
        "sip:[::1]x",
        "sip:[not-ipv6]",
        "sip:[1.2.3.4]",
        "sip:ho st",
        "sip:us er@host",
        "sip:user@host;",
        "sip:user@host;;lr",
        "sip:user@host;a=",
        "sip:user@host;a=b c",
        "sip:user@host?",
        "sip:user@host?a",
        "sip:user@host?=b",
        "sip:user@host%41",
        "sip:user%4@host",
        "sip:user%zz@host",
        "sip:a:b:c@host",
        "<sip:user@example.com>",
        "1abc:foo",
        "tel:",
        "tel:12 34",
        "tel:+1;;x",
        "foo:",
        "foo:bar baz",
        "foo:<x>",
        'foo:"x"',
    ],
)
def test_invalid_uris_raise_parse_error(text: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_uri(text)
    assert info.value.status == 400


# RFC 3261 §19.1.4 examples.
EQUIVALENT = [
    ("sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com;security=on"),
    ("sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on"),
    (
        "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
        "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com",
    ),
    (
        "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
        "sip:alice@atlanta.com?priority=urgent&subject=project%20x",
    ),
]
NOT_EQUIVALENT = [
    ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),
    ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
    ("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"),
    ("sip:a@b", "sips:a@b"),
    ("sip:a@b;lr", "sip:a@b;lr=on"),
]


@pytest.mark.parametrize(("a", "b"), EQUIVALENT)
def test_rfc3261_equivalent_uris(a: str, b: str) -> None:
    ua, ub = parse_uri(a), parse_uri(b)
    assert isinstance(ua, SipUri)
    assert ua.equivalent(ub)
    assert isinstance(ub, SipUri)
    assert ub.equivalent(ua)


@pytest.mark.parametrize(("a", "b"), NOT_EQUIVALENT)
def test_rfc3261_non_equivalent_uris(a: str, b: str) -> None:
    ua, ub = parse_uri(a), parse_uri(b)
    assert isinstance(ua, SipUri)
    assert not ua.equivalent(ub)


def test_equivalent_is_false_for_other_kinds() -> None:
    assert not SipUri(host="a").equivalent(TelUri(number="1"))
    assert not SipUri(host="a").equivalent("sip:a")


def test_constructor_rejects_unserializable_uris() -> None:
    with pytest.raises(LocalError):
        SipUri(host="")
    with pytest.raises(LocalError):
        SipUri(host="a b")
    with pytest.raises(LocalError):
        SipUri(host="a", user="")
    with pytest.raises(LocalError):
        SipUri(host="a", port=70000)
    with pytest.raises(LocalError):
        SipUri(host=":::")
    with pytest.raises(LocalError):
        SipUri(host="a", params=Params((("x", ""),)))
    with pytest.raises(LocalError):
        SipUri(host="a", params=Params((("", None),)))
    with pytest.raises(LocalError):
        SipUri(host="a", scheme="tel")  # type: ignore[arg-type]
    with pytest.raises(LocalError):
        TelUri(number="12 34")


def test_params_helpers() -> None:
    p = Params((("Transport", "tcp"), ("lr", None)))
    assert "transport" in p
    assert "LR" in p
    assert 5 not in p
    assert p.get("TRANSPORT") == "tcp"
    assert p.get("lr") is None
    assert p.get("missing", "dflt") == "dflt"
    assert p.set("transport", "udp").items == (("Transport", "udp"), ("lr", None))
    assert p.set("q", "1").items[-1] == ("q", "1")
    assert p.remove("LR").items == (("Transport", "tcp"),)
    assert str(p) == ";Transport=tcp;lr"
    assert len(p) == 2
    assert list(p) == [("Transport", "tcp"), ("lr", None)]
    assert not Params()


# -- addresses -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "display", "uri", "params"),
    [
        ("<sip:a@b>", None, "sip:a@b", ()),
        ("sip:a@b;tag=x", None, "sip:a@b", (("tag", "x"),)),
        ("sip:a@b ; tag = x ;lr", None, "sip:a@b", (("tag", "x"), ("lr", None))),
        ('"Alice" <sip:a@b>;tag=1', "Alice", "sip:a@b", (("tag", "1"),)),
        ('""<sip:a@b>', "", "sip:a@b", ()),
        ('"A \\"q\\" \\\\ z"  <sip:a@b>', 'A "q" \\ z', "sip:a@b", ()),
        ("Alice Smith <sip:a@b>", "Alice Smith", "sip:a@b", ()),
        ("Alice   Smith<sip:a@b>", "Alice Smith", "sip:a@b", ()),
        ("Jürgen Müller <sip:a@b>", "Jürgen Müller", "sip:a@b", ()),
        ('"Mr, Watson" <sip:a@b;lr>;expires=60', "Mr, Watson", "sip:a@b;lr", (("expires", "60"),)),
        ("<sip:a@b?Subject=x>", None, "sip:a@b?Subject=x", ()),
        ("<urn:uuid:f81d4fae>", None, "urn:uuid:f81d4fae", ()),
        ("tel:+1234;tag=a", None, "tel:+1234", (("tag", "a"),)),
        (
            '<sip:a@b>;+sip.instance="<urn:uuid:1>"',
            None,
            "sip:a@b",
            (("+sip.instance", '"<urn:uuid:1>"'),),
        ),
        ("<sip:a@b>;received=2001:db8::1", None, "sip:a@b", (("received", "2001:db8::1"),)),
    ],
)
def test_parse_address(
    text: str, display: str | None, uri: str, params: tuple[tuple[str, str | None], ...]
) -> None:
    addr = parse_address(text)
    assert addr.display_name == display
    assert addr.uri == parse_uri(uri)
    assert addr.params == Params(params)
    assert parse_address(str(addr)) == addr


@pytest.mark.parametrize(
    "text",
    [
        "",
        '"unterminated <sip:a@b>',
        '"quoted" sip:a@b',
        "<sip:a@b",
        "< sip:a@b>",
        "<sip:a@b >",
        "<>",
        "Bell, Alexander <sip:a@b>",
        "Müller, Jürgen <sip:a@b>",
        "a;b <sip:a@b>",
        "sip:a@b?Route=x",
        "sip:a@b;;",
        "sip:a@b;tag=",
        "<sip:a@b> trailing",
        "<sip:a@b>, <sip:c@d>",
        "Display Name",
        "<bad uri>",
    ],
)
def test_invalid_addresses(text: str) -> None:
    with pytest.raises(ParseError):
        parse_address(text)


def test_address_list_does_not_split_inside_quotes_or_brackets() -> None:
    addrs = parse_address_list('"Doe, John" <sip:j,k@x;lr>, <sip:c@d>;q=0.5 ,sip:e@f;expires=0')
    assert [a.display_name for a in addrs] == ["Doe, John", None, None]
    assert [str(a.uri) for a in addrs][1:] == ["sip:c@d", "sip:e@f"]
    assert addrs[1].params.get("q") == "0.5"
    with pytest.raises(ParseError):
        parse_address_list("<sip:a@b>,")
    with pytest.raises(ParseError):
        parse_address_list("<sip:a@b> <sip:c@d>")


def test_address_helpers() -> None:
    addr = parse_address('"Bob" <sip:bob@b>')
    tagged = addr.with_tag("abc")
    assert tagged.tag == "abc"
    assert addr.tag is None
    assert str(tagged) == '"Bob" <sip:bob@b>;tag=abc'
    with pytest.raises(LocalError):
        str(Address(uri=SipUri(host="b"), display_name="a\r\nb"))


# -- properties -----------------------------------------------------------------------------------

_any_text = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=12)
_hostnames = st.from_regex(
    r"[a-z0-9]([a-z0-9\-]{0,10}[a-z0-9])?(\.[a-z0-9]{1,8}){0,3}", fullmatch=True
)
_hosts = _hostnames | st.ip_addresses(v=4).map(str) | st.ip_addresses(v=6).map(str)


@st.composite
def sip_uris(draw: st.DrawFn) -> SipUri:
    user = draw(st.none() | _any_text)
    return SipUri(
        scheme=draw(st.sampled_from(["sip", "sips"])),
        user=user,
        password=draw(st.none() | st.text(max_size=8)) if user is not None else None,
        host=draw(_hosts),
        port=draw(st.none() | st.integers(0, 65535)),
        params=Params(
            tuple(draw(st.lists(st.tuples(_any_text, st.none() | _any_text), max_size=3)))
        ),
        headers=tuple(draw(st.lists(st.tuples(_any_text, st.text(max_size=6)), max_size=2))),
    )


@settings(deadline=None)
@given(sip_uris())
def test_generated_sip_uris_round_trip(uri: SipUri) -> None:
    assert parse_uri(str(uri)) == uri
    assert uri.equivalent(parse_uri(str(uri)))


_tokens = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABC0123456789-.!%*_+`'~", min_size=1, max_size=8
)


@settings(deadline=None)
@given(
    sip_uris(),
    st.none()
    | st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=10),
    st.lists(st.tuples(_tokens, st.none() | _tokens), max_size=3),
)
def test_generated_addresses_round_trip(
    uri: SipUri, display: str | None, params: list[tuple[str, str | None]]
) -> None:
    addr = Address(uri=uri, display_name=display, params=Params(tuple(params)))
    assert parse_address(str(addr)) == addr
    assert parse_address_list(f"{addr}, {addr}") == [addr, addr]


@settings(deadline=None)
@given(st.text(max_size=60))
def test_uri_and_address_parsers_raise_only_parse_error(text: str) -> None:
    for parse in (parse_uri, parse_address, parse_address_list):
        with contextlib.suppress(ParseError):
            parse(text)
