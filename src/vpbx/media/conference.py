"""Conferences of three or more parties mixed by a hearing matrix, one 20 ms tick for all."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Hashable, Mapping
from collections.abc import Set as AbstractSet
from typing import Final, Generic, TypeVar

import numpy as np
import numpy.typing as npt

from vpbx.media.framebuffer import FrameFifo
from vpbx.media.mixer import conference_matrix, mix_all
from vpbx.media.player import SILENCE_FRAME
from vpbx.media.rtp import Pacer, RtpPacket
from vpbx.media.session import PacketListener, RtpSession

__all__ = ["Conference"]

Pcm = npt.NDArray[np.int16]
K = TypeVar("K", bound=Hashable)

log = logging.getLogger("vpbx.media.conference")

PTIME: Final = 0.020
MAX_BURST: Final = 3


class _Party:
    __slots__ = ("fifo", "listener", "session")

    def __init__(self, session: RtpSession) -> None:
        self.session = session
        self.fifo = FrameFifo()
        fifo = self.fifo

        def on_packet(packet: RtpPacket, arrival: float) -> None:
            if packet.payload_type == session.payload_type:
                fifo.push(session.codec.decode(packet.payload))

        self.listener: PacketListener = on_packet


class Conference(Generic[K]):
    """Parties keyed by K (leg ids, roles), each an RtpSession, mixed every 20 ms.

    Each tick takes one decoded frame per party (from a small jitter FIFO; a party without
    audio this tick is simply absent), mixes per listener with `mixer.mix_all` and sends
    each listener its mix in its own codec. The matrix defaults to everyone hearing everyone
    else and follows joins and leaves; `set_matrix` fixes it (whisper: `mixer.whisper_matrix`).
    The sessions' own sources are detached while they take part.
    """

    def __init__(self, *, name: str = "") -> None:
        self.name = name
        self._parties: dict[K, _Party] = {}
        self._matrix: dict[K, AbstractSet[K]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pacer: Pacer | None = None
        self._timer: asyncio.Handle | None = None

    @property
    def parties(self) -> list[K]:
        return list(self._parties)

    def hears(self) -> Mapping[K, AbstractSet[K]]:
        """The matrix in force."""
        if self._matrix is not None:
            return self._matrix
        return conference_matrix(self._parties)

    def set_matrix(self, hears: Mapping[K, AbstractSet[K]] | None) -> None:
        """Who hears whom from the next tick on (None: back to everyone-hears-everyone)."""
        self._matrix = None if hears is None else dict(hears)

    def add(self, key: K, session: RtpSession) -> None:
        if key in self._parties:
            raise ValueError(f"party {key!r} is already in the conference")
        party = _Party(session)
        self._parties[key] = party
        session.set_source(None)
        session.sender.start_talkspurt()
        session.add_listener(party.listener)
        log.info("conference join", extra={"conference": self.name, "party": str(key)})
        self._start()

    def remove(self, key: K) -> None:
        party = self._parties.pop(key, None)
        if party is None:
            return
        party.session.remove_listener(party.listener)
        log.info("conference leave", extra={"conference": self.name, "party": str(key)})
        if not self._parties:
            self._stop()

    def close(self) -> None:
        for key in list(self._parties):
            self.remove(key)

    def _start(self) -> None:
        if self._pacer is not None:
            return
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._pacer = Pacer(loop.time(), PTIME)
        self._timer = loop.call_at(self._pacer.next_deadline, self._tick)

    def _stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._pacer = None

    def _tick(self) -> None:
        loop = self._loop
        pacer = self._pacer
        assert loop is not None
        assert pacer is not None
        due = pacer.due(loop.time())
        for _ in range(max(0, due - MAX_BURST)):
            for party in self._parties.values():
                party.fifo.pop()  # keep the FIFOs in time after a stall
        for _ in range(min(due, MAX_BURST)):
            self._mix_once()
        self._timer = loop.call_at(pacer.next_deadline, self._tick)

    def _mix_once(self) -> None:
        frames: dict[K, Pcm] = {}
        for key, party in self._parties.items():
            frame = party.fifo.pop()
            if frame is not None:
                frames[key] = frame
        mixes = mix_all(frames, self.hears(), frame_samples=160)
        for key, party in self._parties.items():
            if party.session.closed:
                continue
            mixed = mixes.get(key)
            party.session.send_pcm(SILENCE_FRAME if mixed is None else mixed)
