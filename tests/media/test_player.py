"""Media sources without sockets: playlists across frame boundaries, loops, done, tones."""

from __future__ import annotations

import numpy as np
import pytest

from vpbx.media.player import SILENCE_FRAME, PlaybackResult, Player, Silence, ToneSource
from vpbx.media.tones import BUSY_RU, cadence_frame


def drain(player: Player, limit: int = 1000) -> list[np.ndarray]:
    frames = []
    for _ in range(limit):
        frame = player.read_frame()
        if frame is None:
            break
        frames.append(frame)
    return frames


def test_prompts_run_into_each_other_and_only_the_end_is_padded() -> None:
    a = np.arange(1, 251, dtype=np.int16)  # 250 samples: 1.5625 frames
    b = np.arange(1000, 1100, dtype=np.int16)  # 100 samples
    results: list[PlaybackResult] = []
    player = Player([a, b], on_done=lambda _p, r: results.append(r))
    frames = drain(player)
    assert [len(f) for f in frames] == [160, 160, 160]
    joined = np.concatenate(frames)
    assert np.array_equal(joined[:350], np.concatenate([a, b]))
    assert not np.any(joined[350:])
    assert results == [PlaybackResult.COMPLETED]
    assert player.read_frame() is None
    player.close()  # closing after the end changes nothing
    assert results == [PlaybackResult.COMPLETED]


def test_loop_mode_repeats_until_closed() -> None:
    prompt = np.arange(1, 401, dtype=np.int16)
    player = Player([prompt], loop=True)
    frames = [player.read_frame() for _ in range(10)]
    joined = np.concatenate([f for f in frames if f is not None])
    assert np.array_equal(joined, np.tile(prompt, 4))
    player.close()
    assert player.result is PlaybackResult.STOPPED
    assert player.read_frame() is None


async def test_wait_returns_the_result() -> None:
    player = Player([np.ones(10, dtype=np.int16)])
    drain(player)
    assert await player.wait() is PlaybackResult.COMPLETED


def test_invalid_playlists() -> None:
    with pytest.raises(TypeError, match="int16"):
        Player([np.zeros(10, dtype=np.float32)])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="looping"):
        Player([], loop=True)
    empty = Player([])
    assert empty.read_frame() is None
    assert empty.result is PlaybackResult.COMPLETED


def test_tone_and_silence_sources() -> None:
    tone = ToneSource(BUSY_RU, seconds=0.1)
    frames = [tone.read_frame() for _ in range(6)]
    assert frames[5] is None
    for i, frame in enumerate(frames[:5]):
        assert frame is not None
        assert np.array_equal(frame, cadence_frame(BUSY_RU, i))
    assert Silence().read_frame() is SILENCE_FRAME
    assert not SILENCE_FRAME.flags.writeable
