"""The frame FIFO: re-chunking, priming, underrun and the bound on delay."""

from __future__ import annotations

import numpy as np
import pytest

from vpbx.media.framebuffer import FrameFifo


def test_any_packet_size_comes_out_as_whole_frames_after_priming() -> None:
    fifo = FrameFifo(prime=2)
    data = np.arange(800, dtype=np.int16)
    fifo.push(data[:240])  # 30 ms packets
    assert fifo.pop() is None  # 1.5 frames: still priming
    fifo.push(data[240:480])
    out = [fifo.pop() for _ in range(3)]
    assert fifo.pop() is None  # 480 samples were three frames, no more
    assert all(frame is not None for frame in out)
    assert np.array_equal(np.concatenate([f for f in out if f is not None]), data[:480])


def test_underrun_primes_again_and_overflow_drops_the_oldest() -> None:
    fifo = FrameFifo(prime=2, limit=3)
    frames = [np.full(160, i, dtype=np.int16) for i in range(5)]
    for frame in frames:
        fifo.push(frame)
    assert len(fifo) == 480  # two oldest frames dropped
    popped = [fifo.pop() for _ in range(3)]
    assert [int(f[0]) for f in popped if f is not None] == [2, 3, 4]
    assert fifo.pop() is None
    fifo.push(frames[0])
    assert fifo.pop() is None  # priming again after the underrun
    with pytest.raises(ValueError, match="prime"):
        FrameFifo(prime=4, limit=3)
