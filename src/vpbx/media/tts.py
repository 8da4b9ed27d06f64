"""Russian text-to-speech with espeak-ng, converted to 8 kHz, cached on disk by (voice, text)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from vpbx.media.audiofile import decode_bytes, read_wav, write_wav
from vpbx.media.errors import TtsError

__all__ = ["MAX_TEXT_LENGTH", "Tts", "cache_key"]

Pcm = npt.NDArray[np.int16]

log = logging.getLogger("vpbx.media.tts")

MAX_TEXT_LENGTH: Final = 2000


def cache_key(voice: str, text: str) -> str:
    """The cache file stem of a phrase: a hash, so any text makes a safe file name."""
    return hashlib.sha256(f"{voice}\0{text}".encode()).hexdigest()


class Tts:
    """`espeak-ng -v <voice> --stdout <text>`, resampled once to 8 kHz mono int16.

    Results are cached as WAV files named by the hash of (voice, text) in `cache_dir`; a
    phrase is synthesised once, even when requested by many calls at the same moment.
    """

    def __init__(
        self,
        cache_dir: Path,
        *,
        voice: str = "ru",
        executable: str = "espeak-ng",
        timeout: float = 30.0,
    ) -> None:
        self.cache_dir = Path(cache_dir)
        self.voice = voice
        self.executable = executable
        self.timeout = timeout
        self.hits = 0
        self.misses = 0
        self._pending: dict[str, asyncio.Future[Path]] = {}

    def cached_path(self, text: str) -> Path:
        return self.cache_dir / f"{cache_key(self.voice, text)}.wav"

    async def synthesize(self, text: str) -> Path:
        """The cached 8 kHz WAV of `text`, made now if needed. TtsError if espeak-ng fails."""
        text = text.strip()
        if not text:
            raise ValueError("nothing to say: empty text")
        if len(text) > MAX_TEXT_LENGTH:
            raise ValueError(f"text longer than {MAX_TEXT_LENGTH} characters")
        path = self.cached_path(text)
        if path.exists():
            self.hits += 1
            return path
        key = path.stem
        pending = self._pending.get(key)
        if pending is not None:
            self.hits += 1
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                if pending.cancelled():
                    # The call that was synthesising it went away, not this one: take over.
                    return await self.synthesize(text)
                raise
        future: asyncio.Future[Path] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            await self._make(text, path)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: nobody else may be waiting
            raise
        else:
            future.set_result(path)
        finally:
            del self._pending[key]
        return path

    async def pcm(self, text: str) -> Pcm:
        """The samples of `text` (8 kHz mono int16)."""
        path = await self.synthesize(text)
        return await asyncio.to_thread(read_wav, path)

    async def _make(self, text: str, path: Path) -> None:
        self.misses += 1
        executable = shutil.which(self.executable)
        if executable is None:
            raise TtsError(
                "tts.unavailable",
                f"Синтез речи недоступен: программа {self.executable} не установлена "
                "(Debian: apt-get install espeak-ng)",
                f"Text-to-speech unavailable: {self.executable} is not installed "
                "(Debian: apt-get install espeak-ng)",
            )
        process = await asyncio.create_subprocess_exec(
            executable,
            "-v",
            self.voice,
            "--stdout",
            "--",  # a text starting with "-" is still text
            text,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), self.timeout)
        except BaseException as exc:
            # Timed out or cancelled: never leave an espeak-ng behind.
            if process.returncode is None:
                process.kill()
                await asyncio.shield(process.wait())
            if not isinstance(exc, TimeoutError):
                raise
            raise TtsError(
                "tts.failed",
                f"Синтез речи не завершился за {self.timeout:g} с",
                f"Text-to-speech did not finish within {self.timeout:g} s",
            ) from None
        if process.returncode != 0 or not out:
            detail = err.decode(errors="replace").strip()[:200]
            raise TtsError(
                "tts.failed",
                f"Ошибка синтеза речи (код {process.returncode}): {detail}",
                f"Text-to-speech failed (exit code {process.returncode}): {detail}",
            )
        # espeak-ng writes a WAV header with unknown sizes to a pipe; libsndfile copes.
        pcm = await asyncio.to_thread(decode_bytes, out)
        await asyncio.to_thread(write_wav, path, pcm)
        log.info(
            "tts synthesized",
            extra={"voice": self.voice, "chars": len(text), "seconds": pcm.size / 8000},
        )
