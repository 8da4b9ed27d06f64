"""The WAV written as it goes: after every append the file on disk is a complete WAV of what
was appended (what a killed process leaves), mono and stereo; a failed write leaves it cut back
to what its header says; the crash repair reads a stereo file's frame size."""

from __future__ import annotations

import errno
import io
import os
import wave
from pathlib import Path

import numpy as np
import pytest
import soundfile

from vpbx.media.wavwriter import HEADER_BYTES, WavWriter
from vpbx.services.file_store import repair_wav_header


def ramp(n: int, channels: int = 1) -> np.ndarray:
    left = (np.arange(n) % 2000 - 1000).astype(np.int16)
    return left if channels == 1 else np.column_stack([left, -left])


@pytest.mark.parametrize("channels", [1, 2])
def test_every_append_leaves_a_complete_wav(tmp_path: Path, channels: int) -> None:
    path = tmp_path / "w.wav"
    writer = WavWriter(path, channels=channels)
    assert soundfile.info(str(path)).frames == 0  # the header alone is a valid, empty WAV
    chunk = ramp(8000, channels)
    for seconds in (1, 2):
        writer.append(chunk)
        # read while the writer still holds it open: what a kill -9 would leave
        audio, rate = soundfile.read(path, dtype="int16")
        assert rate == 8000
        assert len(audio) == 8000 * seconds
        assert np.array_equal(audio[-8000:], chunk)
    assert writer.frames == 16000
    writer.close()
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (channels, 2, 8000)
        assert w.getnframes() == 16000
    assert path.stat().st_size == HEADER_BYTES + 16000 * 2 * channels


def test_a_partial_stereo_file_is_repaired_by_whole_frames(tmp_path: Path) -> None:
    path = tmp_path / "cut.wav"
    writer = WavWriter(path, channels=2)
    writer.append(ramp(8000, 2))
    writer.close()
    with path.open("ab") as f:
        f.write(b"\x01\x00" * 8001)  # 4000 frames and half of one, after the last update
    assert repair_wav_header(path) == 1.5
    assert soundfile.info(str(path)).frames == 12000


class Refusing(io.FileIO):
    """Takes the header, then refuses everything (a disk that just filled up)."""

    def write(self, data: object) -> int:
        if self.tell() >= HEADER_BYTES:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(data)  # type: ignore[arg-type]


def test_a_refused_write_raises_oserror_and_abort_keeps_what_the_header_says(
    tmp_path: Path,
) -> None:
    path = tmp_path / "full.wav"
    writer = WavWriter(path, channels=1, opener=lambda p: Refusing(p, "w+"))
    with pytest.raises(OSError, match="No space left") as refused:
        writer.append(ramp(800))
    assert refused.value.errno == errno.ENOSPC
    assert writer.frames == 0
    writer.abort()
    assert writer.closed
    assert path.stat().st_size == HEADER_BYTES
    assert soundfile.info(str(path)).frames == 0


def test_odd_shapes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="channels"):
        WavWriter(tmp_path / "x.wav", channels=3)
    writer = WavWriter(tmp_path / "y.wav", channels=2)
    with pytest.raises(ValueError, match="whole frames"):
        writer.append(np.zeros(3, dtype=np.int16))
    writer.close()
    with pytest.raises(ValueError, match="closed"):
        writer.append(np.zeros(2, dtype=np.int16))
