"""The Replaces header (RFC 3891) as an INVITE carries it and as a Refer-To URI carries it
escaped (RFC 5589 §7): what is read, what is refused with a clear ParseError, and that nothing
else ever comes out of the parser."""

from __future__ import annotations

import contextlib
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vpbx.sip.dialog import DialogId
from vpbx.sip.errors import ParseError
from vpbx.sip.replaces import Replaces, parse_replaces, replaces_of
from vpbx.sip.uri import parse_address

TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
tokens = st.text(alphabet=TOKEN_CHARS, min_size=1, max_size=20)
call_ids = st.builds(
    lambda left, right: f"{left}@{right}" if right else left,
    tokens,
    st.one_of(st.just(""), tokens),
)


def test_the_rfc_3891_example_is_read() -> None:
    value = "425928@bobster.example.org;to-tag=7743;from-tag=6472"
    assert parse_replaces(value) == Replaces("425928@bobster.example.org", "7743", "6472")


def test_the_dialog_is_named_as_its_receiver_sees_it() -> None:
    found = parse_replaces("abc;from-tag=remote;to-tag=local")
    assert found.dialog_id == DialogId("abc", "local", "remote")


def test_early_only_spaces_case_and_other_params() -> None:
    found = parse_replaces("abc ; To-Tag = 1 ;FROM-TAG=2; early-only ;foo=bar;baz")
    assert found == Replaces("abc", "1", "2", early_only=True)


def test_a_refer_to_with_an_escaped_replaces() -> None:
    refer_to = "<sip:102@127.0.0.1:5060?Replaces=a1b2%40host%3Bto-tag%3Dx%3Bfrom-tag%3Dy>"
    assert replaces_of(parse_address(refer_to).uri) == Replaces("a1b2@host", "x", "y")


def test_a_refer_to_without_replaces_is_a_blind_transfer() -> None:
    assert replaces_of(parse_address("<sip:102@127.0.0.1?Subject=hi>").uri) is None
    assert replaces_of(parse_address("<tel:+74951234567>").uri) is None


@pytest.mark.parametrize(
    "value",
    [
        "",
        ";to-tag=1;from-tag=2",  # no Call-ID
        "abc",  # no tags at all
        "abc;to-tag=1",  # no from-tag
        "abc;from-tag=2",  # no to-tag
        "abc;to-tag=;from-tag=2",  # an empty tag
        "abc;to-tag;from-tag=2",
        "abc;to-tag=1;to-tag=3;from-tag=2",  # two to-tags
        "abc;to-tag=1;from-tag=2;early-only=yes",
        "a b;to-tag=1;from-tag=2",  # a space in the Call-ID
        "a@b@c;to-tag=1;from-tag=2",
        "abc;to-tag=1 2;from-tag=2",
        "abc;to-tag=1;from-tag=2;=x",
        "x" * 2000 + ";to-tag=1;from-tag=2",
    ],
)
def test_garbage_is_refused_with_a_parse_error(value: str) -> None:
    with pytest.raises(ParseError) as raised:
        parse_replaces(value)
    assert raised.value.status == 400
    assert raised.value.reason


def test_two_replaces_in_one_refer_to_are_refused() -> None:
    uri = parse_address("<sip:102@h?Replaces=a%3Bto-tag%3D1%3Bfrom-tag%3D2&Replaces=b>").uri
    with pytest.raises(ParseError):
        replaces_of(uri)


@settings(max_examples=300, deadline=None)
@given(call_ids, tokens, tokens, st.booleans(), st.booleans())
def test_any_well_formed_value_is_read_back_as_written(
    call_id: str, to_tag: str, from_tag: str, early: bool, from_first: bool
) -> None:
    tags = [f"to-tag={to_tag}", f"from-tag={from_tag}"]
    if from_first:
        tags.reverse()
    value = ";".join([call_id, *tags, *(["early-only"] if early else [])])
    assert parse_replaces(value) == Replaces(call_id, to_tag, from_tag, early)
    # the same, escaped into a Refer-To URI as phones send it
    escaped = quote(value, safe="")
    uri = parse_address(f"<sip:102@127.0.0.1:5060?Replaces={escaped}>").uri
    assert replaces_of(uri) == Replaces(call_id, to_tag, from_tag, early)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=80))
def test_any_text_is_read_or_refused_never_anything_else(value: str) -> None:
    try:
        found = parse_replaces(value)
    except ParseError:
        return
    assert found.call_id
    assert found.to_tag
    assert found.from_tag


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60))
def test_any_refer_to_header_part_is_read_or_refused(header: str) -> None:
    try:
        uri = parse_address(f"<sip:102@127.0.0.1?Replaces={header}>").uri
    except ParseError:
        return
    with contextlib.suppress(ParseError):
        replaces_of(uri)
