"""Uploaded prompts: validated, converted once to 8 kHz mono WAV beside the original, cached."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import soundfile

from vpbx.media.audiofile import Conversion, DurationExceeded, convert_file, read_wav
from vpbx.media.errors import AudioFileError

__all__ = [
    "MAX_UPLOAD_BYTES",
    "MAX_UPLOAD_SECONDS",
    "Prompt",
    "PromptCache",
    "convert_upload",
    "convert_upload_async",
    "converted_path",
]

Pcm = npt.NDArray[np.int16]

log = logging.getLogger("vpbx.media.prompts")

MAX_UPLOAD_BYTES: Final = 50 * 1024 * 1024
MAX_UPLOAD_SECONDS: Final = 3600.0
CONVERTED_SUFFIX: Final = ".8k.wav"


@dataclass(frozen=True, slots=True)
class Prompt:
    """An uploaded file and its playable 8 kHz mono conversion."""

    original: Path
    converted: Path
    seconds: float
    source_format: str
    source_rate: int
    source_channels: int


def converted_path(original: Path) -> Path:
    """Where the conversion of `original` lives: beside it, e.g. hello.mp3 → hello.8k.wav."""
    return original.with_name(original.stem + CONVERTED_SUFFIX)


def _too_large(size: int, limit: int) -> AudioFileError:
    return AudioFileError(
        "audio.too_large",
        f"Файл слишком большой: {size / 1048576:.1f} МБ, допускается не более "
        f"{limit / 1048576:.0f} МБ",
        f"File too large: {size / 1048576:.1f} MB, at most {limit / 1048576:.0f} MB allowed",
    )


def _too_long(seconds: float, limit: float) -> AudioFileError:
    return AudioFileError(
        "audio.too_long",
        f"Запись слишком длинная: {seconds / 60:.1f} мин, допускается не более {limit / 60:g} мин",
        f"Recording too long: {seconds / 60:.1f} min, at most {limit / 60:g} min allowed",
    )


def _not_audio(detail: str) -> AudioFileError:
    return AudioFileError(
        "audio.not_audio",
        f"Файл не распознан как аудиозапись (поддерживаются WAV, MP3, OGG, FLAC): {detail}",
        f"Not a recognised audio file (WAV, MP3, OGG and FLAC are supported): {detail}",
    )


def convert_upload(
    original: Path,
    *,
    max_bytes: int = MAX_UPLOAD_BYTES,
    max_seconds: float = MAX_UPLOAD_SECONDS,
) -> Prompt:
    """Check an uploaded file and write its 8 kHz mono int16 WAV beside it.

    Refuses (AudioFileError, message in Russian and English) what is larger than
    `max_bytes`, not audio, empty, or longer than `max_seconds`; size and the header's
    length are checked before anything is decoded. Blocking: see convert_upload_async.
    """
    original = Path(original)
    try:
        size = original.stat().st_size
    except FileNotFoundError:
        raise AudioFileError(
            "audio.not_found",
            f"Файл не найден: {original.name}",
            f"File not found: {original.name}",
        ) from None
    if size > max_bytes:
        raise _too_large(size, max_bytes)
    try:
        info = soundfile.info(str(original))
    except RuntimeError as exc:  # soundfile.LibsndfileError and friends
        raise _not_audio(str(exc)) from None
    if info.samplerate <= 0 or info.channels <= 0:
        raise _not_audio("no audio stream")
    if info.frames <= 0:
        raise AudioFileError("audio.empty", "Аудиозапись пуста", "The recording is empty")
    if info.frames / info.samplerate > max_seconds:
        raise _too_long(info.frames / info.samplerate, max_seconds)
    target = converted_path(original)
    try:
        result: Conversion = convert_file(original, target, max_seconds=max_seconds)
    except DurationExceeded as exc:
        raise _too_long(float(exc.args[0]), max_seconds) from None
    except RuntimeError as exc:  # soundfile.LibsndfileError and friends
        raise AudioFileError(
            "audio.unreadable",
            f"Не удалось прочитать аудиозапись: {exc}",
            f"Could not decode the recording: {exc}",
        ) from None
    log.info(
        "prompt converted",
        extra={
            "original": str(original),
            "converted": str(target),
            "format": result.source_format,
            "rate": result.source_rate,
            "channels": result.source_channels,
            "seconds": round(result.seconds, 3),
        },
    )
    return Prompt(
        original,
        target,
        result.seconds,
        result.source_format,
        result.source_rate,
        result.source_channels,
    )


async def convert_upload_async(
    original: Path,
    *,
    max_bytes: int = MAX_UPLOAD_BYTES,
    max_seconds: float = MAX_UPLOAD_SECONDS,
) -> Prompt:
    """convert_upload in a worker thread: decoding an hour of MP3 must not stall RTP pacing."""
    return await asyncio.to_thread(
        convert_upload, original, max_bytes=max_bytes, max_seconds=max_seconds
    )


class PromptCache:
    """Converted prompts held in memory for playback, least recently used evicted first.

    Keyed by path and modification time, so a replaced prompt is read again. Bounded by the
    total number of samples (default: 30 minutes of audio, ~29 MB).
    """

    def __init__(self, max_samples: int = 30 * 60 * 8000) -> None:
        self._max = max_samples
        self._entries: OrderedDict[Path, tuple[int, Pcm]] = OrderedDict()
        self._samples = 0

    def load(self, path: Path) -> Pcm:
        """The samples of a converted prompt (read from disk unless cached and unchanged)."""
        path = Path(path)
        mtime = path.stat().st_mtime_ns
        cached = self._get(path, mtime)
        return cached if cached is not None else self._put(path, mtime, read_wav(path))

    async def load_async(self, path: Path) -> Pcm:
        """load, with the disk access in a worker thread (the cache itself stays on the loop)."""
        path = Path(path)
        mtime = await asyncio.to_thread(lambda: path.stat().st_mtime_ns)
        cached = self._get(path, mtime)
        if cached is not None:
            return cached
        return self._put(path, mtime, await asyncio.to_thread(read_wav, path))

    def _get(self, path: Path, mtime: int) -> Pcm | None:
        entry = self._entries.get(path)
        if entry is None or entry[0] != mtime:
            return None
        self._entries.move_to_end(path)
        return entry[1]

    def _put(self, path: Path, mtime: int, pcm: Pcm) -> Pcm:
        pcm.flags.writeable = False  # shared between calls playing it at once
        old = self._entries.pop(path, None)
        if old is not None:
            self._samples -= old[1].size
        self._entries[path] = (mtime, pcm)
        self._samples += pcm.size
        while self._samples > self._max and len(self._entries) > 1:
            _, (_, evicted) = self._entries.popitem(last=False)
            self._samples -= evicted.size
        return pcm
