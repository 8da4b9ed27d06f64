"""A small jitter FIFO turning arriving audio of any packet size into 160-sample frames."""

from __future__ import annotations

from collections import deque
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = ["FrameFifo"]

Pcm = npt.NDArray[np.int16]

FRAME_SAMPLES: Final = 160


class FrameFifo:
    """Audio in at the sender's pace, whole frames out at ours.

    Output starts once `prime` frames are buffered (absorbing arrival jitter); an underrun
    yields None (the reader inserts silence) and primes again. More than `limit` frames
    (the peer's clock runs fast, or a burst after a stall) drops the oldest samples, so the
    delay and the memory stay bounded.
    """

    __slots__ = ("_chunks", "_count", "_frame", "_limit", "_prime", "_primed")

    def __init__(self, *, frame: int = FRAME_SAMPLES, prime: int = 2, limit: int = 10) -> None:
        if not 0 < prime <= limit:
            raise ValueError("need 0 < prime <= limit")
        self._frame = frame
        self._prime = prime * frame
        self._limit = limit * frame
        self._chunks: deque[Pcm] = deque()
        self._count = 0
        self._primed = False

    def __len__(self) -> int:
        """Buffered samples."""
        return self._count

    def push(self, pcm: Pcm) -> None:
        if not pcm.size:
            return
        self._chunks.append(pcm)
        self._count += pcm.size
        excess = self._count - self._limit
        while excess > 0:
            head = self._chunks[0]
            if head.size <= excess:
                self._chunks.popleft()
                self._count -= head.size
                excess -= head.size
            else:
                self._chunks[0] = head[excess:]
                self._count -= excess
                excess = 0

    def pop(self) -> Pcm | None:
        """The next frame, or None while priming or after an underrun."""
        frame = self._frame
        if not self._primed:
            if self._count < self._prime:
                return None
            self._primed = True
        if self._count < frame:
            self._primed = False
            return None
        head = self._chunks[0]
        if head.size == frame:
            self._chunks.popleft()
            self._count -= frame
            return head
        out = np.empty(frame, dtype=np.int16)
        filled = 0
        while filled < frame:
            head = self._chunks[0]
            take = min(frame - filled, head.size)
            out[filled : filled + take] = head[:take]
            filled += take
            if take == head.size:
                self._chunks.popleft()
            else:
                self._chunks[0] = head[take:]
        self._count -= frame
        return out
