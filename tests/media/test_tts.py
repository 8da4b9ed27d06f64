"""Text-to-speech with the real espeak-ng: Russian speech at 8 kHz, the disk cache, failures."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile

from vpbx.media.errors import TtsError
from vpbx.media.tts import Tts

PHRASE = "Здравствуйте, вы позвонили в компанию"


def listing(directory: Path) -> list[Path]:
    return list(directory.iterdir())


async def test_a_russian_phrase_becomes_8k_speech_and_is_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tts = Tts(tmp_path / "tts")
    path = await tts.synthesize(PHRASE)
    info = soundfile.info(str(path))
    assert (info.samplerate, info.channels, info.subtype) == (8000, 1, "PCM_16")
    pcm = await tts.pcm(PHRASE)
    assert pcm.dtype == np.int16
    assert len(pcm) > 8000  # over a second of speech
    assert float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2))) > 300  # not silence
    assert tts.misses == 1

    def no_subprocess(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the cache should have answered")

    monkeypatch.setattr(asyncio, "create_subprocess_exec", no_subprocess)
    again = Tts(tmp_path / "tts")  # a new instance over the same directory: a restart
    assert await again.synthesize(PHRASE) == path
    assert (again.hits, again.misses) == (1, 0)


async def test_concurrent_requests_run_espeak_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = asyncio.create_subprocess_exec
    calls: list[tuple[Any, ...]] = []

    async def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return await real(*args, **kwargs)

    monkeypatch.setattr(asyncio, "create_subprocess_exec", counting)
    tts = Tts(tmp_path)
    paths = await asyncio.gather(*(tts.synthesize("-минус в начале") for _ in range(5)))
    assert len(set(paths)) == 1
    assert len(calls) == 1
    assert calls[0][-2:] == ("--", "-минус в начале")


async def test_missing_or_failing_espeak_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TtsError) as caught:
        await Tts(tmp_path, executable="espeak-ng-not-installed").synthesize("текст")
    assert caught.value.error_id == "tts.unavailable"
    assert "не установлена" in caught.value.message_ru
    assert "not installed" in caught.value.message_en
    with pytest.raises(TtsError) as caught:
        await Tts(tmp_path, executable="false").synthesize("текст")
    assert caught.value.error_id == "tts.failed"
    assert listing(tmp_path) == []  # nothing cached from a failure
    with pytest.raises(ValueError, match="empty"):
        await Tts(tmp_path).synthesize("   ")


async def test_a_hanging_synthesiser_times_out_and_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "slow-espeak"
    script.write_text("#!/bin/sh\nexec sleep 30\n")
    script.chmod(0o755)
    tts = Tts(tmp_path / "cache", executable=str(script), timeout=0.2)
    with pytest.raises(TtsError) as caught:
        await tts.synthesize("текст")
    assert caught.value.error_id == "tts.failed"
    assert "0.2" in caught.value.message_en


async def test_a_waiter_takes_over_when_the_first_caller_is_cancelled(tmp_path: Path) -> None:
    tts = Tts(tmp_path)
    first = asyncio.create_task(tts.synthesize("отмена"))
    await asyncio.sleep(0)  # the first call is now synthesising
    second = asyncio.create_task(tts.synthesize("отмена"))
    await asyncio.sleep(0)
    first.cancel()
    path = await asyncio.wait_for(second, 10)
    assert path == tts.cached_path("отмена")
    with pytest.raises(asyncio.CancelledError):
        await first
