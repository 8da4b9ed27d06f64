"""SDES `a=crypto` lines (RFC 4568): what is used, what is skipped as unsupported."""

from __future__ import annotations

import base64

from vpbx.sip import sdes
from vpbx.sip.sdp import Attribute, MediaDescription, parse_sdp

KEY = bytes(range(30))
INLINE = base64.b64encode(KEY).decode()


def test_a_supported_line_is_parsed_and_written_back_the_same() -> None:
    value = f"1 AES_CM_128_HMAC_SHA1_80 inline:{INLINE}"
    crypto = sdes.parse_crypto(value)
    assert crypto == sdes.Crypto(1, sdes.SUITE, KEY)
    assert str(crypto.attribute()) == f"crypto:{value}"


def test_lifetime_is_accepted() -> None:
    crypto = sdes.parse_crypto(f"2 AES_CM_128_HMAC_SHA1_80 inline:{INLINE}|2^31")
    assert crypto is not None
    assert crypto.tag == 2


def test_unsupported_or_malformed_lines_are_skipped() -> None:
    for value in (
        f"1 AES_CM_128_HMAC_SHA1_32 inline:{INLINE}",  # another suite
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{INLINE}|2^20|1:4",  # an MKI
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{INLINE} UNENCRYPTED_SRTP",  # session parameter
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{INLINE};inline:{INLINE}",  # several keys
        "1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ=",  # a key of the wrong length
        "1 AES_CM_128_HMAC_SHA1_80 inline:!!!not base64!!!",
        f"x AES_CM_128_HMAC_SHA1_80 inline:{INLINE}",
        "",
    ):
        assert sdes.parse_crypto(value) is None, value


def test_the_first_usable_line_of_the_offer_is_chosen() -> None:
    body = (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        "m=audio 4000 RTP/SAVP 0\r\n"
        f"a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:{INLINE}\r\n"
        f"a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:{INLINE}\r\n"
    ).encode()
    media = parse_sdp(body).media[0]
    chosen = sdes.choose(media)
    assert chosen is not None
    assert chosen.tag == 2
    assert (
        sdes.choose(MediaDescription(media="audio", port=1, attributes=(Attribute("x"),))) is None
    )
