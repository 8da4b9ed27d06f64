"""Media anchoring for the switch: one RTP session per call leg, SDP offers and answers for it.

Every leg of a call gets its own port pair from the pool; the SDP we send names our address
and that port, so the phones' media flows through vpbx (prompts, recording, transcoding,
talk-option keys all need it). `negotiate` reads what the peer's SDP chose: the codec, the
telephone-event payload type, and where to send.

Encrypted legs (SRTP with SDES keys, RFC 4568): an offer on RTP/SAVP with a usable `a=crypto`
opens the leg's session with SRTP (the peer's key for what arrives, a fresh one of ours in
our answer); a leg to a line that requires SRTP is offered on RTP/SAVP only, and an answer
without a key is refused. The other legs stay plain: the bridge between an encrypted and a
plain leg decrypts on one side and sends in the clear on the other, as a B2BUA must.

Hold (RFC 3264 §8.4): a re-offer with `a=sendonly`, `a=inactive` or `c=0.0.0.0` puts the call
on hold (`Negotiated.holding`); `MediaPlant.answer` mirrors the offered direction (sendonly →
recvonly, inactive → inactive, sendrecv → sendrecv), so we promise to send nothing to a party
who holds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from vpbx.media.kernel_rtp import KernelForwarder
from vpbx.media.park import SocketPark
from vpbx.media.ports import PortPool
from vpbx.media.session import BoundPair, RtpSession
from vpbx.media.srtp import Srtp, new_key
from vpbx.sip import sdes, sdp
from vpbx.sip.sdp import SessionDescription

log = logging.getLogger("vpbx.switch.media")

AUDIO_CODECS = (sdp.PCMU, sdp.PCMA)
CODECS = (*AUDIO_CODECS, sdp.TELEPHONE_EVENT)
SUPPORTED_PT = {0, 8}


@dataclass(frozen=True, slots=True)
class Negotiated:
    """What an SDP exchange settled for one leg."""

    payload_type: int
    dtmf_payload_type: int | None
    remote: tuple[str, int] | None
    direction: str
    #: the peer's SRTP key when its stream is RTP/SAVP (None: plain RTP)
    crypto: sdes.Crypto | None = None

    @property
    def holding(self) -> bool:
        """An offer that puts the call on hold (RFC 3264 §8.4): its sender will not receive
        (sendonly, inactive) or gave no address to send to (c=0.0.0.0, the RFC 2543 way)."""
        return self.remote is None or self.direction in ("sendonly", "inactive")


def _audio(description: SessionDescription) -> sdp.MediaDescription | None:
    return next((m for m in description.media if m.media == "audio" and m.port != 0), None)


def _remote(description: SessionDescription, media: sdp.MediaDescription) -> tuple[str, int] | None:
    connection = description.connection_for(media)
    if connection is None or connection.address in ("0.0.0.0", "::"):
        return None  # RFC 3264 hold by address: nowhere to send
    return connection.address.split("/")[0], media.port


def negotiate(description: SessionDescription) -> Negotiated:
    """The codec (first of ours the SDP lists), DTMF type and remote of an answer or offer."""
    media = _audio(description)
    if media is None:
        raise sdp.NoAcceptableMedia("no audio stream")
    chosen: int | None = None
    dtmf: int | None = None
    for pt in media.payload_types:
        codec = media.codec(pt)
        name = codec[0].upper() if codec else ""
        if chosen is None and pt in SUPPORTED_PT and name in ("PCMU", "PCMA"):
            chosen = pt
        if name == "TELEPHONE-EVENT" and dtmf is None:
            dtmf = pt
    if chosen is None:
        raise sdp.NoAcceptableMedia("no PCMU or PCMA in the offer")
    crypto: sdes.Crypto | None = None
    if media.proto == sdes.SECURE_PROTO:
        crypto = sdes.choose(media)
        if crypto is None:
            raise sdp.NoAcceptableMedia(f"no a=crypto with {sdes.SUITE}")
    return Negotiated(
        chosen, dtmf, _remote(description, media), description.direction_of(media), crypto
    )


def offers_srtp(body: bytes) -> bool:
    """Whether an INVITE's SDP offers audio on RTP/SAVP with a key we can use."""
    try:
        return negotiate(sdp.parse_sdp(body)).crypto is not None
    except (sdp.SdpError, sdp.NoAcceptableMedia):
        return False


@dataclass(slots=True)
class MediaPlant:
    """Where RTP is bound and what address is advertised in SDP."""

    pool: PortPool
    bind_host: str
    advertise_host: str
    _version: int = 0
    #: told of every session opened (the RTP counters of /metrics)
    opened: Callable[[RtpSession], None] | None = None
    #: whether the line of a login requires SRTP (set by the composition root)
    srtp_required: Callable[[str], Awaitable[bool]] | None = None
    #: the wall clock (Unix seconds) sessions date their RTCP reports with
    wall: Callable[[], float] = time.time
    #: open socket pairs of finished legs, taken by new legs (None: every leg binds its own)
    park: SocketPark[BoundPair] | None = None
    #: the kernel forwarding of bridged plain talk (VPBX_KERNEL_RTP; started with the switch)
    kernel: KernelForwarder | None = None

    @property
    def pairs_in_use(self) -> int:
        """RTP/RTCP port pairs held by legs now (a parked pair is not: it waits for one)."""
        parked = len(self.park) if self.park is not None else 0
        return self.pool.capacity - self.pool.available - parked

    def close(self) -> None:
        """Close the parked sockets (the switch stops); legs closing later close theirs."""
        if self.park is not None:
            self.park.close()

    async def requires_srtp(self, login: str) -> bool:
        return bool(login) and self.srtp_required is not None and await self.srtp_required(login)

    async def open(
        self, name: str, negotiated: Negotiated | None = None, *, secure: bool = False
    ) -> RtpSession:
        """A session for a leg; with SRTP when the peer's SDP carried a key, or when `secure`
        (a leg we offer to a line that requires it)."""
        session = await self._open(name, negotiated)
        crypto = negotiated.crypto if negotiated is not None else None
        if crypto is not None or secure:
            session.srtp = Srtp(new_key())
            if crypto is not None:
                session.srtp.set_remote(crypto.key)
        return session

    def accept_answer(self, session: RtpSession, negotiated: Negotiated) -> None:
        """The peer's answer to our offer: its key when we offered SRTP (NoAcceptableMedia
        when it answered in the clear, or with a key to a plain offer)."""
        if session.srtp is None:
            if negotiated.crypto is not None:
                raise sdp.NoAcceptableMedia("RTP/SAVP answer to a plain RTP offer")
            return
        if negotiated.crypto is None:
            raise sdp.NoAcceptableMedia("the line requires SRTP: the answer has no a=crypto")
        session.srtp.set_remote(negotiated.crypto.key)

    async def _open(self, name: str, negotiated: Negotiated | None) -> RtpSession:
        if negotiated is None:
            session = await RtpSession.open(
                self.pool, host=self.bind_host, name=name, wall=self.wall, park=self.park
            )
        else:
            session = await RtpSession.open(
                self.pool,
                host=self.bind_host,
                remote_addr=negotiated.remote,
                payload_type=negotiated.payload_type,
                dtmf_payload_type=negotiated.dtmf_payload_type,
                name=name,
                wall=self.wall,
                park=self.park,
            )
        if self.opened is not None:
            self.opened(session)
        return session

    def _next_version(self) -> int:
        self._version += 1
        return self._version

    def offer(self, session: RtpSession) -> bytes:
        description = sdp.offer(
            CODECS,
            self.advertise_host,
            session.local_port,
            session_id=session.ssrc,
            session_version=self._next_version(),
        )
        if session.srtp is not None:
            description = _secured(description, sdes.Crypto(1, sdes.SUITE, session.srtp.local_key))
        return description.to_bytes()

    def answer(self, offer: SessionDescription, session: RtpSession) -> bytes:
        """Our answer to `offer`, on `session`'s port (raises NoAcceptableMedia → 488)."""
        secure = session.srtp is not None
        description = sdp.answer(
            offer,
            CODECS,
            self.advertise_host,
            session.local_port,
            session_id=session.ssrc,
            session_version=self._next_version(),
            protos=(sdes.SECURE_PROTO,) if secure else ("RTP/AVP",),
        )
        if session.srtp is not None:
            media = _audio(offer)
            theirs = sdes.choose(media) if media is not None else None
            tag = theirs.tag if theirs is not None else 1
            description = _secured(
                description, sdes.Crypto(tag, sdes.SUITE, session.srtp.local_key)
            )
        return description.to_bytes()


def _secured(description: SessionDescription, crypto: sdes.Crypto) -> SessionDescription:
    """`description` with its audio stream on RTP/SAVP carrying our key (`a=crypto`)."""
    media = tuple(
        replace(m, proto=sdes.SECURE_PROTO, attributes=(crypto.attribute(), *m.attributes))
        if m.media == "audio" and m.port != 0
        else m
        for m in description.media
    )
    return replace(description, media=media)
