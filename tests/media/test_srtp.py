"""SRTP of one session (pylibsrtp): what one side protects the other unprotects, and nothing
else is accepted."""

from __future__ import annotations

from vpbx.media.rtp import RtpPacket
from vpbx.media.srtp import Srtp, new_key


def packet(sequence: int) -> bytes:
    return RtpPacket(
        payload_type=0,
        sequence=sequence,
        timestamp=160 * sequence,
        ssrc=0x1234,
        payload=b"\xff" * 160,
    ).serialize()


def test_a_protected_packet_is_unprotected_by_the_peer_only() -> None:
    a, b = Srtp(new_key()), Srtp(new_key())
    a.set_remote(b.local_key)
    b.set_remote(a.local_key)
    plain = packet(1)
    wire = a.protect(plain)
    assert len(wire) == len(plain) + 10  # the authentication tag
    assert wire[12:172] != plain[12:]  # the payload is encrypted
    assert b.unprotect(wire) == plain
    assert b.unprotect(wire) is None  # a replay is refused
    stranger = Srtp(new_key())
    stranger.set_remote(new_key())
    assert stranger.unprotect(a.protect(packet(2))) is None
    assert b.unprotect(plain) is None  # plain RTP is not media on an encrypted leg
    assert b.rejected == 2


def test_nothing_is_accepted_before_the_peer_key_is_known() -> None:
    a, b = Srtp(new_key()), Srtp(new_key())
    assert b.unprotect(a.protect(packet(1))) is None
    assert b.rejected == 1
