"""What a `Play` of the engine sounds like: files of the file base, TTS text, system messages.

Files are read from their converted (8 kHz) version and cached in memory; text is spoken by
espeak-ng once per distinct text; a system message is the account's own file when it has one
(FILE-1 override), else the installation's default, else (not generated yet) spoken on the spot.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import numpy as np

from vpbx.media.errors import MediaError
from vpbx.media.prompts import PromptCache
from vpbx.media.session import Pcm
from vpbx.media.system_messages import TEXTS, SystemMessage, SystemMessages
from vpbx.media.tones import HOLD_MUSIC, sine
from vpbx.media.tts import Tts
from vpbx.scenario.actions import Play
from vpbx.scenario.snapshot import ConfigSnapshot

log = logging.getLogger("vpbx.switch.prompts")

#: the tone before a voicemail recording starts
BEEP = sine(1000.0, 0.4, 0.3)
#: a talk option that could not be done: two short low tones
REFUSED_TONE = np.concatenate(
    [sine(400.0, 0.15, 0.3), np.zeros(800, dtype=np.int16), sine(400.0, 0.15, 0.3)]
)
SECOND_OF_SILENCE = np.zeros(8000, dtype=np.int16)


class PromptFiles(Protocol):
    """Where the file base keeps the converted audio of files (the database one is
    `vpbx.services.prompt_files.SqlPromptFiles`)."""

    async def converted_paths(
        self, account_id: int, file_ids: tuple[int, ...]
    ) -> dict[int, str | None]: ...


class PromptLibrary:
    def __init__(
        self, files: PromptFiles, system: SystemMessages, tts: Tts, cache: PromptCache
    ) -> None:
        self.file_paths = files
        self.system = system
        self.tts = tts
        self.cache = cache

    async def files(self, account_id: int, file_ids: tuple[int, ...]) -> list[Pcm]:
        """The converted audio of files of the account, in order; missing ones are skipped."""
        if not file_ids:
            return []
        paths = await self.file_paths.converted_paths(account_id, file_ids)
        found: list[Pcm] = []
        for file_id in file_ids:
            path = paths.get(file_id)
            if not path:
                log.warning("prompt file has no audio", extra={"file_id": file_id})
                continue
            try:
                found.append(await self.cache.load_async(Path(path)))
            except (OSError, MediaError, ValueError) as error:
                extra = {"file_id": file_id, "error": str(error)}
                log.warning("prompt file unreadable", extra=extra)
        return found

    async def text(self, text: str) -> list[Pcm]:
        try:
            return [await self.cache.load_async(await self.tts.synthesize(text))]
        except MediaError as error:
            log.error("text-to-speech failed", extra={"error": str(error)})
            return []

    async def system_message(self, account_id: int, name: str, config: ConfigSnapshot) -> list[Pcm]:
        own = config.system_files.get(name)
        if own is not None:
            found = await self.files(account_id, (own,))
            if found:
                return found
        try:
            message = SystemMessage(name)
        except ValueError:
            log.warning("unknown system message", extra={"name": name})
            return []
        path = self.system.path(message, account_id)
        if path.is_file():
            return [await self.cache.load_async(path)]
        if message is SystemMessage.INPUT_TIMEOUT:
            return [SECOND_OF_SILENCE]
        if message is SystemMessage.HOLD_MUSIC:
            return [HOLD_MUSIC]
        return await self.text(TEXTS[message])

    async def resolve(self, account_id: int, play: Play, config: ConfigSnapshot) -> list[Pcm]:
        """Files first, then the text, then the system message (the order `Play` documents)."""
        prompts = await self.files(account_id, play.file_ids)
        if play.text:
            prompts += await self.text(play.text)
        if play.system:
            prompts += await self.system_message(account_id, play.system, config)
        return prompts
