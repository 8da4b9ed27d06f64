"""Uploaded prompts: conversion of real WAV/OGG/FLAC/MP3 files to 8 kHz mono, refusals, cache."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile

from vpbx.media.audiofile import DurationExceeded, convert_file, mp3_supported, read_wav
from vpbx.media.errors import AudioFileError
from vpbx.media.prompts import (
    PromptCache,
    convert_upload,
    convert_upload_async,
    converted_path,
)
from vpbx.media.tones import dominant_frequency


def tone(freq: float, seconds: float, rate: int) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_libsndfile_reads_mp3() -> None:
    # soundfile bundles libsndfile 1.1.0 or later, which decodes MPEG audio.
    assert mp3_supported()
    assert tuple(int(x) for x in soundfile.__libsndfile_version__.split(".")[:2]) >= (1, 1)


def test_stereo_44k1_wav_becomes_8k_mono(tmp_path: Path) -> None:
    original = tmp_path / "greeting.wav"
    left = tone(1000, 2.0, 44100)
    soundfile.write(original, np.column_stack([left, left]), 44100, subtype="PCM_16")
    prompt = convert_upload(original)
    assert prompt.converted == converted_path(original) == tmp_path / "greeting.8k.wav"
    assert original.exists()  # the upload is kept beside its conversion
    info = soundfile.info(str(prompt.converted))
    assert (info.samplerate, info.channels, info.subtype) == (8000, 1, "PCM_16")
    assert (prompt.source_rate, prompt.source_channels) == (44100, 2)
    pcm = read_wav(prompt.converted)
    assert pcm.dtype == np.int16
    assert abs(len(pcm) - 16000) <= 2
    assert prompt.seconds == pytest.approx(2.0, abs=0.001)
    assert dominant_frequency(pcm[1000:15000]) == pytest.approx(1000, abs=2)
    # Mono is the average of the channels: same level as one of them.
    assert np.abs(pcm[1000:15000]).max() == pytest.approx(0.5 * 32768, rel=0.02)


@pytest.mark.parametrize(
    ("name", "fmt", "subtype", "rate"),
    [
        ("music.ogg", "OGG", "VORBIS", 22050),
        ("music.flac", "FLAC", "PCM_16", 48000),
        ("music.mp3", "MP3", "MPEG_LAYER_III", 16000),
    ],
)
def test_compressed_uploads_become_8k_mono(
    tmp_path: Path, name: str, fmt: str, subtype: str, rate: int
) -> None:
    original = tmp_path / name
    soundfile.write(original, tone(440, 1.5, rate), rate, format=fmt, subtype=subtype)
    prompt = convert_upload(original)
    info = soundfile.info(str(prompt.converted))
    assert (info.samplerate, info.channels) == (8000, 1)
    pcm = read_wav(prompt.converted)
    assert 1.4 <= len(pcm) / 8000 <= 1.7  # MP3 adds encoder delay and padding
    assert dominant_frequency(pcm[2000:10000]) == pytest.approx(440, abs=3)


def test_a_text_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.wav"
    path.write_text("Это не аудио, а просто текст.\n" * 100, encoding="utf-8")
    with pytest.raises(AudioFileError) as caught:
        convert_upload(path)
    error = caught.value
    assert error.error_id == "audio.not_audio"
    assert "не распознан как аудиозапись" in error.message_ru
    assert "Not a recognised audio file" in error.message_en
    assert not converted_path(path).exists()


def test_an_oversized_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.wav"
    with path.open("wb") as f:
        f.truncate(51 * 1024 * 1024)  # sparse: 51 MB without writing them
    with pytest.raises(AudioFileError) as caught:
        convert_upload(path)
    assert caught.value.error_id == "audio.too_large"
    assert "50 МБ" in caught.value.message_ru
    assert "50 MB" in caught.value.message_en


def test_a_recording_over_an_hour_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    # 3601 s at 100 Hz, 8 bit: over an hour in 360 KB, well under the size limit.
    soundfile.write(path, np.zeros(360_100, dtype=np.int16), 100, subtype="PCM_U8")
    with pytest.raises(AudioFileError) as caught:
        convert_upload(path)
    assert caught.value.error_id == "audio.too_long"
    assert "60 мин" in caught.value.message_ru
    assert not converted_path(path).exists()


def test_empty_and_missing_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros(0, dtype=np.int16), 8000)
    with pytest.raises(AudioFileError, match="пуста"):
        convert_upload(empty)
    with pytest.raises(AudioFileError) as caught:
        convert_upload(tmp_path / "absent.wav")
    assert caught.value.error_id == "audio.not_found"


def test_decoding_stops_past_the_limit_even_if_the_header_says_otherwise(tmp_path: Path) -> None:
    src = tmp_path / "a.wav"
    soundfile.write(src, tone(300, 3.0, 16000), 16000)
    with pytest.raises(DurationExceeded):
        convert_file(src, tmp_path / "out.wav", max_seconds=1.0)
    assert not (tmp_path / "out.wav").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["a.wav"]  # no temporary left behind


async def test_async_conversion_and_the_prompt_cache(tmp_path: Path) -> None:
    original = tmp_path / "hold.wav"
    soundfile.write(original, tone(600, 0.5, 16000), 16000)
    prompt = await convert_upload_async(original)
    cache = PromptCache()
    first = await cache.load_async(prompt.converted)
    assert cache.load(prompt.converted) is first
    assert not first.flags.writeable
    soundfile.write(original, tone(900, 0.5, 16000), 16000)
    convert_upload(original)
    stat = prompt.converted.stat()
    os.utime(prompt.converted, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    second = cache.load(prompt.converted)
    assert second is not first
    assert dominant_frequency(second) == pytest.approx(900, abs=3)
