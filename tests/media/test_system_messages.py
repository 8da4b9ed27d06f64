"""System messages: defaults generated with real TTS, one second of silence, account overrides."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from vpbx.media.audiofile import write_wav
from vpbx.media.system_messages import (
    LABELS,
    SystemMessage,
    SystemMessages,
    queue_wait_text,
)
from vpbx.media.tones import sine
from vpbx.media.tts import Tts


async def test_defaults_are_generated_and_an_account_override_wins(tmp_path: Path) -> None:
    messages = SystemMessages(tmp_path / "system", Tts(tmp_path / "tts"))
    made = await messages.ensure_defaults()
    assert set(made) == set(SystemMessage)
    assert await messages.ensure_defaults() == []  # nothing missing any more
    for message in SystemMessage:
        path = messages.path(message)
        info = soundfile.info(str(path))
        assert (info.samplerate, info.channels) == (8000, 1), message
    silence, rate = soundfile.read(messages.path("input_timeout"), dtype="int16")
    assert rate == 8000
    assert silence.shape == (8000,)
    assert not np.any(silence)
    assert LABELS[SystemMessage.INPUT_TIMEOUT] == "Секунда тишины"
    rate_prompt, _ = soundfile.read(messages.path("rate_prompt"), dtype="int16")
    assert len(rate_prompt) > 8000
    assert np.abs(rate_prompt).max() > 1000  # speech, not silence

    override = messages.override_path("rate_prompt", 42)
    write_wav(override, sine(440, 1.0))
    assert messages.path("rate_prompt", account_id=42) == override
    assert messages.path("rate_prompt", account_id=7) == messages.default_path("rate_prompt")
    assert messages.path("rate_prompt") == messages.default_path("rate_prompt")
    assert messages.path("no_route", account_id=42) == messages.default_path("no_route")

    wait = await messages.queue_wait(125)
    assert soundfile.info(str(wait)).samplerate == 8000


def test_names_and_account_ids_are_checked(tmp_path: Path) -> None:
    messages = SystemMessages(tmp_path, Tts(tmp_path / "tts"))
    with pytest.raises(ValueError, match="not_a_message"):
        messages.path("not_a_message")
    with pytest.raises(ValueError, match="account id"):
        messages.override_path("no_route", "../other")


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (0, "менее минуты"),
        (59, "менее минуты"),
        (60, "1 минута"),
        (61, "2 минуты"),
        (120, "2 минуты"),
        (300, "5 минут"),
        (11 * 60, "11 минут"),
        (21 * 60, "21 минута"),
        (22 * 60, "22 минуты"),
        (3600, "1 час"),
        (3600 + 120, "1 час 2 минуты"),
        (5 * 3600, "5 часов"),
    ],
)
def test_queue_wait_text(seconds: float, said: str) -> None:
    assert queue_wait_text(seconds) == f"Ожидаемое время ответа — {said}"
