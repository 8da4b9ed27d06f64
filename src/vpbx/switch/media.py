"""Media anchoring for the switch: one RTP session per call leg, SDP offers and answers for it.

Every leg of a call gets its own port pair from the pool; the SDP we send names our address
and that port, so the phones' media flows through vpbx (prompts, recording, transcoding,
talk-option keys all need it). `negotiate` reads what the peer's SDP chose: the codec, the
telephone-event payload type, and where to send.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from vpbx.media.ports import PortPool
from vpbx.media.session import RtpSession
from vpbx.sip import sdp
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
    return Negotiated(chosen, dtmf, _remote(description, media), description.direction_of(media))


@dataclass(slots=True)
class MediaPlant:
    """Where RTP is bound and what address is advertised in SDP."""

    pool: PortPool
    bind_host: str
    advertise_host: str
    _version: int = 0
    #: told of every session opened (the RTP counters of /metrics)
    opened: Callable[[RtpSession], None] | None = None

    async def open(self, name: str, negotiated: Negotiated | None = None) -> RtpSession:
        if negotiated is None:
            session = await RtpSession.open(self.pool, host=self.bind_host, name=name)
        else:
            session = await RtpSession.open(
                self.pool,
                host=self.bind_host,
                remote_addr=negotiated.remote,
                payload_type=negotiated.payload_type,
                dtmf_payload_type=negotiated.dtmf_payload_type,
                name=name,
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
        return description.to_bytes()

    def answer(self, offer: SessionDescription, session: RtpSession) -> bytes:
        """Our answer to `offer`, on `session`'s port (raises NoAcceptableMedia → 488)."""
        description = sdp.answer(
            offer,
            CODECS,
            self.advertise_host,
            session.local_port,
            session_id=session.ssrc,
            session_version=self._next_version(),
        )
        return description.to_bytes()
