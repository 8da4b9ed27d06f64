"""The webhook signature (API-2): `t=<unix>,v1=<hex>` over "t.body" with HMAC-SHA256, parsed and
checked as docs/api.md tells a receiver; hypothesis sweeps the header parser with garbage."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vpbx.domain.outbox import parse_signature, sign, signature_header, verify

SECRET = "whsec_abc"
BODY = b'{"id":"e1","type":"call_started"}'


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, 1700000000, BODY) == expected
    assert signature_header(SECRET, 1700000000, BODY) == f"t=1700000000,v1={expected}"


def test_a_receiver_accepts_it_and_refuses_tampering_replays_and_other_secrets() -> None:
    header = signature_header(SECRET, 1700000000, BODY)
    assert verify(SECRET, header, BODY, now=1700000010)
    assert not verify(SECRET, header, BODY + b" ", now=1700000010)
    assert not verify("other", header, BODY, now=1700000010)
    assert not verify(SECRET, header, BODY, now=1700000000 + 301)  # a replay, 5 min later
    assert not verify(SECRET, header.replace("t=1700000000", "t=1700000001"), BODY, 1700000001)


def test_several_v1_entries_and_unknown_keys() -> None:
    good = sign(SECRET, 5, BODY)
    parsed = parse_signature(f"t=5, v0=zz, v1={'0' * 64}, v1={good}")
    assert parsed.timestamp == 5
    assert parsed.signatures == ("0" * 64, good)
    assert verify(SECRET, f"t=5,v1={'0' * 64},v1={good}", BODY, now=5)


@pytest.mark.parametrize(
    ("header", "why"),
    [
        ("", "no '='"),
        ("v1=" + "a" * 64, "no timestamp"),
        ("t=1,t=2,v1=" + "a" * 64, "two timestamps"),
        ("t=-1,v1=" + "a" * 64, "not unix seconds"),
        ("t=１２,v1=" + "a" * 64, "not unix seconds"),
        ("t=1", "no v1"),
        ("t=1,v1=ABC", "64 lower-case hex"),
        ("t=1,v1", "no '='"),
    ],
)
def test_a_bad_header_is_refused_naming_why(header: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_signature(header)
    assert not verify(SECRET, header, BODY, now=1)


@given(st.text())
def test_any_header_parses_or_raises_value_error_only(header: str) -> None:
    try:
        parsed = parse_signature(header)
    except ValueError:
        return
    assert parsed.timestamp >= 0
    assert parsed.signatures


@given(st.text(min_size=1), st.integers(0, 10**11), st.binary())
def test_what_is_signed_verifies(secret: str, timestamp: int, body: bytes) -> None:
    header = signature_header(secret, timestamp, body)
    assert parse_signature(header).timestamp == timestamp
    assert verify(secret, header, body, now=timestamp)
    assert not verify(secret, header, body + b"x", now=timestamp)
