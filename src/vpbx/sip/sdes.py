"""SDP security descriptions for SRTP (SDES, RFC 4568): the `a=crypto` attribute.

``a=crypto:<tag> <suite> inline:<base64 key||salt>[|lifetime][|MKI:length] [session params]``

Only AES_CM_128_HMAC_SHA1_80 is supported (the suite every SDES phone offers, RFC 4568 §6.2);
a line with another suite, an MKI, several keys or session parameters (UNENCRYPTED_SRTP…) is
skipped as unsupported, so the offerer's next line may still be chosen. The keys travel in
the SDP: they are only secret when the signalling is (SIP over TLS).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from vpbx.sip.sdp import Attribute, MediaDescription

SUITE = "AES_CM_128_HMAC_SHA1_80"
#: master key (16 bytes) and master salt (14 bytes) of the suite
KEY_LENGTH = 30
SECURE_PROTO = "RTP/SAVP"


@dataclass(frozen=True, slots=True)
class Crypto:
    """One usable `a=crypto` line: its tag (echoed in the answer), suite and master key||salt."""

    tag: int
    suite: str
    key: bytes

    def attribute(self) -> Attribute:
        inline = base64.b64encode(self.key).decode()
        return Attribute("crypto", f"{self.tag} {self.suite} inline:{inline}")


def parse_crypto(value: str) -> Crypto | None:
    """The `a=crypto` value if we can use it, else None (unsupported or malformed)."""
    parts = value.split()
    if len(parts) != 3 or not parts[0].isdigit() or len(parts[0]) > 9:
        return None  # session parameters (a 4th field) change the protection: not supported
    tag, suite, params = int(parts[0]), parts[1], parts[2]
    if suite != SUITE or ";" in params:
        return None  # another suite, or several keys
    method, _, info = params.partition(":")
    if method != "inline":
        return None
    fields = info.split("|")
    if any(":" in field for field in fields[1:]):
        return None  # an MKI: keys would have to be chosen per packet
    try:
        key = base64.b64decode(fields[0], validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(key) != KEY_LENGTH:
        return None
    return Crypto(tag, suite, key)


def choose(media: MediaDescription) -> Crypto | None:
    """The first usable `a=crypto` of an RTP/SAVP stream (in the offerer's preference order)."""
    for attribute in media.attributes:
        if attribute.name == "crypto" and attribute.value is not None:
            found = parse_crypto(attribute.value)
            if found is not None:
                return found
    return None
