"""Call recording to WAV (8 kHz s16), written as it goes: one leg, several legs mixed (mono), or
a conversation in stereo (the caller's leg left, the employee's right, REC-1)."""

from __future__ import annotations

import asyncio
import enum
import errno
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from vpbx.media import g711
from vpbx.media.mixer import mix
from vpbx.media.rtp import RtpPacket
from vpbx.media.session import PCMU, Codec, PacketListener, RtpSession, SentListener, codec_for
from vpbx.media.wavwriter import Opener, WavWriter, open_file

__all__ = ["LEFT", "RIGHT", "Direction", "Layout", "Recorder", "Tap"]

Pcm = npt.NDArray[np.int16]

log = logging.getLogger("vpbx.media.recorder")

RATE: Final = 8000
#: the channels of a stereo recording: its first tap (the caller) and its second (the employee)
LEFT: Final = 0
RIGHT: Final = 1
#: Seconds between two writes. One timer a second per recording (not one per 20 ms frame) keeps
#: a recorded call's CPU close to an unrecorded one's; memory stays at ~16 KB per channel.
WRITE_EVERY: Final = 1.0
#: A write takes the audio up to this long ago: a packet that late still lands in its place.
LAG: Final = 0.1
#: A pause longer than this in what a side sends (or its late start) is kept as silence where it
#: happened, so that side's later speech is not pulled earlier against the other side's.
GAP_SAMPLES: Final = int(0.06 * RATE)
#: The most audio a side may hold beyond what is written (LAG plus jitter): a peer whose clock
#: runs fast loses its oldest excess here instead of drifting away from the other side.
KEEP_SAMPLES: Final = int(0.25 * RATE)


class Direction(enum.Enum):
    """Which way of a leg a tap hears."""

    RECEIVED = "received"  # what the leg's peer says
    SENT = "sent"  # what the leg's peer hears from us


class Layout(enum.Enum):
    """How the taps become channels."""

    MIXED = "mixed"  # every tap summed into one channel
    STEREO = "stereo"  # two taps, the first on the left channel, the second on the right


@dataclass(frozen=True, slots=True)
class Tap:
    session: RtpSession
    direction: Direction = Direction.RECEIVED


class _Track:
    """What one tap heard, as G.711 bytes of one law, on the recording's timeline: sample 0 is
    the recording's start, `taken` samples of it are written. A packet is placed by its
    arrival; the decoding waits for the write (one table lookup a second, not one a packet)."""

    __slots__ = ("buf", "law", "origin", "silence", "taken")

    def __init__(self, start: float) -> None:
        self.buf = bytearray()
        self.law: Codec | None = None
        self.silence = b""
        #: the start in samples of the loop clock (one multiplication a packet less)
        self.origin = start * RATE
        self.taken = 0

    def push(self, codec: Codec, payload: bytes, arrival: float) -> None:
        # Every packet of every recorded call comes through here: kept to a few operations.
        if codec is not self.law:
            payload = self._other_law(codec, payload)
        buf = self.buf
        missing = int(arrival * RATE - self.origin) - len(payload) - self.taken - len(buf)
        if missing > GAP_SAMPLES:
            buf += self.silence * missing
        buf += payload

    def _other_law(self, codec: Codec, payload: bytes) -> bytes:
        law = self.law
        if law is None:
            self.law = codec
            self.silence = bytes((codec.silence,))
            return payload
        # Rare (a re-INVITE changed the codec mid-call): one law per track, transcoded.
        return g711.alaw_to_ulaw(payload) if law is PCMU else g711.ulaw_to_alaw(payload)

    def take(self, count: int) -> Pcm:
        """The next `count` samples (silence where nothing arrived)."""
        self.taken += count
        law = self.law
        if law is None:
            return np.zeros(count, dtype=np.int16)
        pcm = law.decode(bytes(self.buf[:count]))
        del self.buf[:count]
        excess = len(self.buf) - KEEP_SAMPLES
        if excess > 0:
            del self.buf[:excess]
        if len(pcm) < count:  # an underrun: silence (zero, not the law's near-zero code)
            pcm = np.concatenate((pcm, np.zeros(count - len(pcm), dtype=np.int16)))
        return pcm


class Recorder:
    """Records the taps from `start` to `stop` (both callable mid-call).

    Each tap's packets are placed on the recording's timeline by their arrival (a pause stays a
    pause; jitter up to `LAG` is absorbed); once a second the audio up to `LAG` ago is decoded,
    mixed or put side by side, and appended to the WAV, whose header is rewritten with it (a
    killed process leaves a playable file up to the last second written).

    A failed write (a full disk: `OSError` ENOSPC) stops the recording, never the call: the file
    is kept as far as it was written, the error is logged and left in `failure` (`disk_full`
    says which kind) for the caller to report. `Recorder.call(path, a, b)` records a two-party
    call mixed, `Recorder.talk(path, caller, employee)` in stereo, `Recorder.leg(path, s)` one
    side (voicemail).
    """

    def __init__(
        self,
        path: Path,
        taps: Sequence[Tap],
        *,
        name: str = "",
        layout: Layout = Layout.MIXED,
        opener: Opener = open_file,
    ) -> None:
        if not taps:
            raise ValueError("a recording needs at least one tap")
        if layout is Layout.STEREO and len(taps) != 2:
            raise ValueError(f"a stereo recording has two taps, got {len(taps)}")
        self.path = Path(path)
        self.name = name
        self.layout = layout
        self._taps = list(taps)
        self._opener = opener
        self._writer: WavWriter | None = None
        self._started = False
        self._tracks: list[_Track] = []
        self._received: list[tuple[RtpSession, PacketListener]] = []
        self._sent: list[tuple[RtpSession, SentListener]] = []
        self._written = 0  # samples (per channel) on disk
        self._start = 0.0
        self._next_write = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        #: why the recording stopped before `stop` (None: it did not)
        self.failure: OSError | None = None

    @classmethod
    def leg(cls, path: Path, session: RtpSession, *, name: str = "") -> Recorder:
        return cls(path, [Tap(session)], name=name)

    @classmethod
    def call(cls, path: Path, a: RtpSession, b: RtpSession, *, name: str = "") -> Recorder:
        return cls(path, [Tap(a), Tap(b)], name=name)

    @classmethod
    def talk(
        cls,
        path: Path,
        caller: RtpSession,
        employee: RtpSession,
        *,
        name: str = "",
        opener: Opener = open_file,
    ) -> Recorder:
        """A conversation in stereo: what the caller says on the left channel, what the
        employee (or the number that answered) says on the right."""
        return cls(
            path,
            [Tap(caller), Tap(employee)],
            name=name,
            layout=Layout.STEREO,
            opener=opener,
        )

    @property
    def channels(self) -> int:
        return 2 if self.layout is Layout.STEREO else 1

    @property
    def seconds(self) -> float:
        """Audio written to the file so far."""
        return self._written / RATE

    @property
    def recording(self) -> bool:
        return self._writer is not None

    @property
    def disk_full(self) -> bool:
        return self.failure is not None and self.failure.errno in (errno.ENOSPC, errno.EDQUOT)

    def start(self) -> None:
        """Start recording (once; a recorder that stopped does not start again)."""
        if self._started:
            return
        self._started = True
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = WavWriter(self.path, channels=self.channels, opener=self._opener)
        except OSError as error:
            self._fail(error)
            return
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._start = loop.time()
        self._tracks = [_Track(self._start) for _ in self._taps]
        for tap, track in zip(self._taps, self._tracks, strict=True):
            if tap.direction is Direction.RECEIVED:
                received = _received_listener(tap.session, track)
                tap.session.add_listener(received)
                self._received.append((tap.session, received))
            else:
                sent = _sent_listener(loop, track)
                tap.session.add_sent_listener(sent)
                self._sent.append((tap.session, sent))
        self._next_write = self._start + WRITE_EVERY + LAG
        self._timer = loop.call_at(self._next_write, self._tick)
        log.info(
            "recording started",
            extra={"recording": self.name, "path": str(self.path), "layout": self.layout.value},
        )

    def stop(self) -> Path:
        """Stop, write what is left and close the file; returns its path (idempotent)."""
        writer = self._writer
        if writer is None:
            return self.path
        assert self._loop is not None
        self._detach()
        self._write_until(self._loop.time())
        if self._writer is not None:
            self._writer = None
            try:
                writer.close()
            except OSError as error:
                self._fail(error)
        log.info(
            "recording stopped",
            extra={"recording": self.name, "path": str(self.path), "seconds": self.seconds},
        )
        return self.path

    def retap(self, index: int, session: RtpSession) -> None:
        """Tap `index` hears `session` from now on (same direction, same channel): the
        employee's channel follows the call to the phone it was transferred to."""
        old = self._taps[index]
        if old.session is session:
            return
        new = Tap(session, old.direction)
        self._taps[index] = new
        if self._writer is None:
            return
        track = self._tracks[index]
        if old.direction is Direction.RECEIVED:
            for n, (was, received) in enumerate(self._received):
                if was is old.session:
                    was.remove_listener(received)
                    received = _received_listener(session, track)
                    session.add_listener(received)
                    self._received[n] = (session, received)
        else:
            for n, (was, sent) in enumerate(self._sent):
                if was is old.session:
                    was.remove_sent_listener(sent)
                    session.add_sent_listener(sent)
                    self._sent[n] = (session, sent)

    def _detach(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for session, received in self._received:
            session.remove_listener(received)
        for session, sent in self._sent:
            session.remove_sent_listener(sent)
        self._received, self._sent = [], []

    def _tick(self) -> None:
        loop = self._loop
        assert loop is not None
        self._write_until(loop.time() - LAG)
        if self._writer is None:
            return  # the write failed
        # Deadlines from the start, not from this wake-up: a late tick does not delay the next.
        self._next_write += WRITE_EVERY
        self._timer = loop.call_at(self._next_write, self._tick)

    def _write_until(self, when: float) -> None:
        writer = self._writer
        count = round((when - self._start) * RATE) - self._written
        if writer is None or count <= 0:
            return
        channels = [track.take(count) for track in self._tracks]
        if self.layout is Layout.STEREO:
            pcm = np.column_stack(channels)
        elif len(channels) == 1:
            pcm = channels[0]
        else:
            pcm = mix(channels, count)
        try:
            # A blocking write of ~16-32 KB once a second: cheaper than a thread hand-off.
            writer.append(pcm)
        except OSError as error:
            self._fail(error)
            return
        self._written += count

    def _fail(self, error: OSError) -> None:
        """The file cannot be written: the recording ends here, the call goes on."""
        self.failure = error
        self._detach()
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.abort()
        log.error(
            "recording stopped: the file cannot be written",
            extra={
                "recording": self.name,
                "path": str(self.path),
                "error": str(error),
                "errno": error.errno,
                "disk_full": self.disk_full,
                "seconds": self.seconds,
            },
        )


def _received_listener(session: RtpSession, track: _Track) -> PacketListener:
    def on_packet(packet: RtpPacket, arrival: float) -> None:
        if packet.payload_type == session.payload_type:
            track.push(session.codec, packet.payload, arrival)

    return on_packet


def _sent_listener(loop: asyncio.AbstractEventLoop, track: _Track) -> SentListener:
    def on_sent(payload: bytes, payload_type: int) -> None:
        track.push(codec_for(payload_type), payload, loop.time())

    return on_sent
