"""SRTP/SRTCP protection of one RTP session (RFC 3711) with libsrtp, through `pylibsrtp`.

An `Srtp` holds our outbound master key (sent to the peer in our SDP) and, once the peer's SDP
is read, its inbound one. Until then nothing is accepted: a leg that must be encrypted never
takes plain RTP for media. Only sessions of encrypted legs carry one; the plain path of
`RtpSession` pays one attribute test per packet.
"""

from __future__ import annotations

import secrets

from pylibsrtp import Error, Policy, Session

#: master key (16 bytes) and salt (14 bytes) of AES_CM_128_HMAC_SHA1_80
KEY_LENGTH = 30


def new_key() -> bytes:
    """A fresh master key and salt for AES_CM_128_HMAC_SHA1_80 (30 bytes)."""
    return secrets.token_bytes(KEY_LENGTH)


def _policy(key: bytes, ssrc_type: int) -> Policy:
    return Policy(key=key, ssrc_type=ssrc_type, srtp_profile=Policy.SRTP_PROFILE_AES128_CM_SHA1_80)


class Srtp:
    """Protect what a session sends with `local_key`; unprotect what it gets with the peer's."""

    def __init__(self, local_key: bytes) -> None:
        self.local_key = local_key
        self._tx = Session(_policy(local_key, Policy.SSRC_ANY_OUTBOUND))
        self._rx: Session | None = None
        self.remote_key: bytes | None = None
        #: packets refused: before the peer's key was known, or failing authentication/replay
        self.rejected = 0

    def set_remote(self, key: bytes) -> None:
        if key != self.remote_key:
            self.remote_key = key
            self._rx = Session(_policy(key, Policy.SSRC_ANY_INBOUND))

    def protect(self, packet: bytes) -> bytes:
        return self._tx.protect(packet)

    def protect_rtcp(self, packet: bytes) -> bytes:
        return self._tx.protect_rtcp(packet)

    def unprotect(self, packet: bytes) -> bytes | None:
        """The plain RTP packet, or None (not authentic, replayed, or no key yet)."""
        if self._rx is None:
            self.rejected += 1
            return None
        try:
            return self._rx.unprotect(packet)
        except Error:
            self.rejected += 1
            return None

    def unprotect_rtcp(self, packet: bytes) -> bytes | None:
        if self._rx is None:
            self.rejected += 1
            return None
        try:
            return self._rx.unprotect_rtcp(packet)
        except Error:
            self.rejected += 1
            return None
