"""Errors of the media layer: local misuse versus bad input, with Russian and English text."""

from __future__ import annotations

__all__ = [
    "AudioFileError",
    "BilingualError",
    "MediaError",
    "PortsExhausted",
    "TtsError",
]


class MediaError(Exception):
    """Base of the errors the media layer raises."""

    error_id = "media_error"


class PortsExhausted(MediaError):
    """Every RTP port of the configured range is in use: no new call leg can get media."""

    error_id = "media.ports_exhausted"

    def __init__(self, first: int, last: int) -> None:
        super().__init__(f"no free RTP port pair in {first}-{last}")
        self.first = first
        self.last = last


class BilingualError(MediaError):
    """An error shown to an administrator: a stable id and the message in Russian and English."""

    def __init__(self, error_id: str, message_ru: str, message_en: str) -> None:
        super().__init__(f"{message_ru} / {message_en}")
        self.error_id = error_id
        self.message_ru = message_ru
        self.message_en = message_en


class AudioFileError(BilingualError):
    """An uploaded file cannot become a prompt (not audio, too large, too long, unreadable)."""


class TtsError(BilingualError):
    """Speech synthesis is unavailable or failed."""
