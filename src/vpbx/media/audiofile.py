"""Audio files: decode what libsndfile reads, downmix, resample once to 8 kHz int16, write WAV."""

from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import soundfile
import soxr

__all__ = [
    "RATE",
    "Conversion",
    "DurationExceeded",
    "convert_file",
    "decode_bytes",
    "mp3_supported",
    "read_wav",
    "to_8k",
    "write_wav",
]

Pcm = npt.NDArray[np.int16]

RATE: Final = 8000
_BLOCK: Final = 65536  # frames decoded at a time: memory stays flat for hour-long uploads


def mp3_supported() -> bool:
    """Whether the libsndfile soundfile loaded decodes MP3 (libsndfile 1.1.0 and later)."""
    return "MP3" in soundfile.available_formats()


def _to_int16(x: npt.NDArray[Any]) -> Pcm:
    return np.clip(np.rint(x * 32768.0), -32768, 32767).astype(np.int16)


def _mono(block: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    # Averaging, not summing: two in-phase channels must not clip.
    if block.ndim == 1:
        return block
    mono: npt.NDArray[np.float32] = block.mean(axis=1, dtype=np.float32)
    return mono


def to_8k(samples: npt.NDArray[Any], rate: int) -> Pcm:
    """Float samples in [-1, 1) (frames × channels or mono) → 8 kHz mono int16, in memory."""
    mono = _mono(np.asarray(samples, dtype=np.float32))
    if rate != RATE:
        mono = soxr.resample(mono, rate, RATE, quality="HQ")
    return _to_int16(mono)


def decode_bytes(data: bytes) -> Pcm:
    """A whole (short) audio file held in memory → 8 kHz mono int16."""
    samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return to_8k(samples, rate)


def read_wav(path: Path) -> Pcm:
    """An 8 kHz mono file written by this module (or any file: then converted in memory)."""
    samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
    if rate == RATE and samples.shape[1] == 1:
        # Read again as int16: exact samples, no float round trip.
        exact, _ = soundfile.read(path, dtype="int16")
        result: Pcm = exact
        return result
    return to_8k(samples, rate)


def write_wav(path: Path, pcm: Pcm) -> None:
    """Write 8 kHz mono PCM_16, atomically (readers never see a half-written prompt)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            soundfile.write(out, pcm, RATE, subtype="PCM_16", format="WAV")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True, slots=True)
class Conversion:
    """What convert_file read and wrote."""

    source_format: str
    source_rate: int
    source_channels: int
    seconds: float  # of the output


class DurationExceeded(Exception):
    """Raised inside convert_file when decoding passes max_seconds."""


def convert_file(src: Path, dst: Path, *, max_seconds: float | None = None) -> Conversion:
    """Stream src through a downmix and one soxr resampler into an 8 kHz mono WAV at dst.

    Reads and writes block by block, so an hour of 48 kHz stereo needs a few hundred KB.
    Raises soundfile's errors for unreadable input and DurationExceeded if the decoded audio
    runs past `max_seconds` (headers of compressed files can understate the length). dst
    appears only when complete.
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
    os.close(fd)
    written = 0
    try:
        with soundfile.SoundFile(src) as source:
            rate = source.samplerate
            channels = source.channels
            fmt = source.format
            limit = None if max_seconds is None else int(max_seconds * rate)
            decoded = 0
            resampler = None if rate == RATE else soxr.ResampleStream(rate, RATE, 1, "float32")
            with soundfile.SoundFile(
                tmp, "w", samplerate=RATE, channels=1, subtype="PCM_16", format="WAV"
            ) as out:
                for block in source.blocks(_BLOCK, dtype="float32", always_2d=True):
                    decoded += len(block)
                    if limit is not None and decoded > limit:
                        raise DurationExceeded(decoded / rate)
                    mono = _mono(block)
                    if resampler is not None:
                        mono = resampler.resample_chunk(mono, last=False)
                    out.write(_to_int16(mono))
                    written += len(mono)
                if resampler is not None:
                    tail = resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
                    out.write(_to_int16(tail))
                    written += len(tail)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Conversion(fmt, rate, channels, written / RATE)
