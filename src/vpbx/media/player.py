"""Media sources a session pulls 20 ms frames from: prompt playlists, tone cadences, silence."""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable, Sequence
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt

from vpbx.media.tones import Cadence, cadence_frame

__all__ = [
    "FRAME_SAMPLES",
    "SILENCE_FRAME",
    "MediaSource",
    "PlaybackResult",
    "Player",
    "Silence",
    "ToneSource",
]

Pcm = npt.NDArray[np.int16]

log = logging.getLogger("vpbx.media.player")

FRAME_SAMPLES: Final = 160  # 20 ms at 8 kHz

# One shared read-only zero frame: a session recognises it and sends a pre-encoded payload.
SILENCE_FRAME: Final[Pcm] = np.zeros(FRAME_SAMPLES, dtype=np.int16)
SILENCE_FRAME.flags.writeable = False


class MediaSource(Protocol):
    """What an RTP session sends: one 160-sample int16 frame per 20 ms tick."""

    def read_frame(self) -> Pcm | None:
        """The next frame, or None once the source has finished (it is then not read again)."""

    def close(self) -> None:
        """The session stopped using this source (replaced or hung up) before or after its end."""


class Silence:
    """Endless silence: keeps the stream (and NAT bindings) alive while nothing is played."""

    __slots__ = ()

    def read_frame(self) -> Pcm:
        return SILENCE_FRAME

    def close(self) -> None:
        pass


class PlaybackResult(enum.Enum):
    """How a playback ended."""

    COMPLETED = "completed"  # every prompt was played to its end
    STOPPED = "stopped"  # replaced or hung up before the end


DoneCallback = Callable[["Player", PlaybackResult], None]


class Player:
    """A playlist of 8 kHz int16 prompts, played back to back, once or in a loop.

    Prompts run into each other without padding: a prompt whose length is not a multiple of
    160 continues in the same frame as the next one; only the very end is padded with silence.
    On the end (or when stopped) `on_done` is called once and `wait()` returns the result.
    """

    __slots__ = ("_done", "_index", "_loop", "_offset", "_on_done", "_prompts", "_result", "name")

    def __init__(
        self,
        prompts: Sequence[Pcm],
        *,
        loop: bool = False,
        on_done: DoneCallback | None = None,
        name: str = "",
    ) -> None:
        for prompt in prompts:
            if prompt.dtype != np.int16 or prompt.ndim != 1:
                raise TypeError("prompts must be one-dimensional int16 arrays at 8 kHz")
        self._prompts = [p for p in prompts if p.size]
        if loop and not self._prompts:
            raise ValueError("a looping player needs at least one non-empty prompt")
        self._loop = loop
        self._on_done = on_done
        self._index = 0
        self._offset = 0
        self._result: PlaybackResult | None = None
        self._done = asyncio.Event()
        self.name = name

    @property
    def result(self) -> PlaybackResult | None:
        """None while playing."""
        return self._result

    async def wait(self) -> PlaybackResult:
        """Wait until the playlist ends or the player is stopped."""
        await self._done.wait()
        assert self._result is not None
        return self._result

    def read_frame(self) -> Pcm | None:
        if self._result is not None:
            return None
        prompts = self._prompts
        if self._index >= len(prompts):
            self._finish(PlaybackResult.COMPLETED)
            return None
        prompt = prompts[self._index]
        end = self._offset + FRAME_SAMPLES
        if end <= prompt.size:
            # The common case: a view, no copy.
            frame = prompt[self._offset : end]
            self._offset = end
            if end == prompt.size:
                self._next_prompt()
            return frame
        frame = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        filled = 0
        while filled < FRAME_SAMPLES and self._index < len(prompts):
            prompt = prompts[self._index]
            take = min(FRAME_SAMPLES - filled, prompt.size - self._offset)
            frame[filled : filled + take] = prompt[self._offset : self._offset + take]
            filled += take
            self._offset += take
            if self._offset == prompt.size:
                self._next_prompt()
        return frame

    def _next_prompt(self) -> None:
        self._offset = 0
        self._index += 1
        if self._loop and self._index == len(self._prompts):
            self._index = 0

    def close(self) -> None:
        """Stop: a player closed before its end reports STOPPED."""
        if self._result is None:
            self._finish(PlaybackResult.STOPPED)

    def _finish(self, result: PlaybackResult) -> None:
        self._result = result
        self._done.set()
        log.debug("playback ended", extra={"player": self.name, "result": result.value})
        if self._on_done is not None:
            self._on_done(self, result)


class ToneSource:
    """A call-progress cadence (ringback, busy), endless or for `seconds`."""

    __slots__ = ("_cadence", "_frame", "_frames")

    def __init__(self, cadence: Cadence, seconds: float | None = None) -> None:
        self._cadence = cadence
        self._frame = 0
        self._frames = None if seconds is None else round(seconds * 50)

    def read_frame(self) -> Pcm | None:
        if self._frames is not None and self._frame >= self._frames:
            return None
        frame = cadence_frame(self._cadence, self._frame)
        self._frame += 1
        return frame

    def close(self) -> None:
        pass
