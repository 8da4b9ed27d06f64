"""What an SDP says about SRTP, as the switch reads it (no sockets)."""

from __future__ import annotations

import base64

import pytest

from vpbx.sip import sdp
from vpbx.switch.b2bua import Contact
from vpbx.switch.media import negotiate, offers_srtp

INLINE = base64.b64encode(bytes(30)).decode()


def body(proto: str, *extra: str) -> bytes:
    lines = [
        "v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
        f"m=audio 4000 {proto} 0 101", "a=rtpmap:101 telephone-event/8000", *extra,
    ]  # fmt: skip
    return ("\r\n".join(lines) + "\r\n").encode()


def test_a_savp_offer_with_a_usable_key_is_srtp() -> None:
    offer = body("RTP/SAVP", f"a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:{INLINE}")
    assert offers_srtp(offer)
    crypto = negotiate(sdp.parse_sdp(offer)).crypto
    assert crypto is not None
    assert crypto.tag == 3


def test_plain_offers_are_not_srtp_even_with_a_crypto_line() -> None:
    assert not offers_srtp(body("RTP/AVP"))
    # a=crypto means nothing on RTP/AVP (RFC 4568 §3.1.4): the stream stays plain.
    assert not offers_srtp(body("RTP/AVP", f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{INLINE}"))
    assert not offers_srtp(b"not sdp")


def test_a_savp_offer_without_a_usable_key_is_refused() -> None:
    with pytest.raises(sdp.NoAcceptableMedia):
        negotiate(
            sdp.parse_sdp(body("RTP/SAVP", f"a=crypto:1 F8_128_HMAC_SHA1_80 inline:{INLINE}"))
        )


def test_tls_peers_get_our_tls_port_and_transport() -> None:
    me = Contact("198.51.100.1", 5060, tls_port=5061)
    assert me.uri("tls") == "<sip:vpbx@198.51.100.1:5061;transport=tls>"
    assert me.uri("udp") == "<sip:vpbx@198.51.100.1:5060>"
    assert str(me.via("tls")).startswith("SIP/2.0/TLS 198.51.100.1:5061;")
