"""Call recording to WAV (8 kHz mono s16): one leg or several mixed, written as it goes."""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import soundfile

from vpbx.media.framebuffer import FrameFifo
from vpbx.media.mixer import mix
from vpbx.media.rtp import Pacer, RtpPacket
from vpbx.media.session import PacketListener, RtpSession, SentListener, codec_for

__all__ = ["Direction", "Recorder", "Tap"]

Pcm = npt.NDArray[np.int16]

log = logging.getLogger("vpbx.media.recorder")

PTIME: Final = 0.020
# Frames collected before each write: one second, so memory stays at ~16 KB per recording.
WRITE_EVERY: Final = 50
MAX_BURST: Final = 3


class Direction(enum.Enum):
    """Which way of a leg a tap hears."""

    RECEIVED = "received"  # what the leg's peer says
    SENT = "sent"  # what the leg's peer hears from us


@dataclass(frozen=True, slots=True)
class Tap:
    session: RtpSession
    direction: Direction = Direction.RECEIVED


class Recorder:
    """Records the taps, mixed, from `start` to `stop` (both callable mid-call).

    Each tap feeds a small jitter FIFO; a 20 ms tick on the loop clock takes one frame from
    each (silence where none is ready), mixes them and appends to the file every second, so
    a long call never grows memory. `Recorder.call(path, a, b)` records a two-party call
    (what each side says); `Recorder.leg(path, s)` one side (voicemail).
    """

    def __init__(self, path: Path, taps: Sequence[Tap], *, name: str = "") -> None:
        if not taps:
            raise ValueError("a recording needs at least one tap")
        self.path = Path(path)
        self.name = name
        self._taps = list(taps)
        self._fifos = [FrameFifo() for _ in taps]
        self._file: soundfile.SoundFile | None = None
        self._pending: list[Pcm] = []
        self._frames_written = 0
        self._pacer: Pacer | None = None
        self._timer: asyncio.Handle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._received = [
            _received_listener(t.session, f) for t, f in zip(self._taps, self._fifos, strict=True)
        ]
        self._sent = [_sent_listener(f) for f in self._fifos]

    @classmethod
    def leg(cls, path: Path, session: RtpSession, *, name: str = "") -> Recorder:
        return cls(path, [Tap(session)], name=name)

    @classmethod
    def call(cls, path: Path, a: RtpSession, b: RtpSession, *, name: str = "") -> Recorder:
        return cls(path, [Tap(a), Tap(b)], name=name)

    @property
    def seconds(self) -> float:
        """Audio recorded so far (written or about to be)."""
        return (self._frames_written + len(self._pending)) * PTIME

    @property
    def recording(self) -> bool:
        return self._file is not None

    def start(self) -> None:
        if self._file is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = soundfile.SoundFile(
            self.path, "w", samplerate=8000, channels=1, subtype="PCM_16", format="WAV"
        )
        for tap, received, sent in zip(self._taps, self._received, self._sent, strict=True):
            if tap.direction is Direction.RECEIVED:
                tap.session.add_listener(received)
            else:
                tap.session.add_sent_listener(sent)
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._pacer = Pacer(loop.time(), PTIME)
        self._timer = loop.call_at(self._pacer.next_deadline, self._tick)
        log.info("recording started", extra={"recording": self.name, "path": str(self.path)})

    def stop(self) -> Path:
        """Stop, write what is left and close the file; returns its path."""
        if self._file is None:
            return self.path
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for tap, received, sent in zip(self._taps, self._received, self._sent, strict=True):
            tap.session.remove_listener(received)
            tap.session.remove_sent_listener(sent)
        self._flush()
        self._file.close()
        self._file = None
        log.info(
            "recording stopped",
            extra={"recording": self.name, "path": str(self.path), "seconds": self.seconds},
        )
        return self.path

    def _tick(self) -> None:
        loop, pacer = self._loop, self._pacer
        assert loop is not None
        assert pacer is not None
        due = pacer.due(loop.time())
        # After a stall the missed time is still recorded (as whatever the FIFOs hold).
        for _ in range(due):
            frames = [f for f in (fifo.pop() for fifo in self._fifos) if f is not None]
            self._pending.append(mix(frames))
        if len(self._pending) >= WRITE_EVERY:
            self._flush()
        self._timer = loop.call_at(pacer.next_deadline, self._tick)

    def _flush(self) -> None:
        if self._pending and self._file is not None:
            # A blocking write of ~16 KB once a second: cheaper than a thread hand-off.
            self._file.write(np.concatenate(self._pending))
            self._file.flush()
            self._frames_written += len(self._pending)
            self._pending = []


def _received_listener(session: RtpSession, fifo: FrameFifo) -> PacketListener:
    def on_packet(packet: RtpPacket, arrival: float) -> None:
        if packet.payload_type == session.payload_type:
            fifo.push(session.codec.decode(packet.payload))

    return on_packet


def _sent_listener(fifo: FrameFifo) -> SentListener:
    def on_sent(payload: bytes, payload_type: int) -> None:
        fifo.push(codec_for(payload_type).decode(payload))

    return on_sent
