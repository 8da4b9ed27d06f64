"""A 16-bit PCM WAV written as it goes, whose header always describes what it holds.

The header is written first with empty sizes; each `append` writes the audio after what is
there, then rewrites the RIFF and data sizes (8 bytes). So the file on disk is at every moment
a complete WAV of everything appended so far: a process killed mid-recording leaves a playable
file (the page cache survives `kill -9`; a power cut needs the file system's own guarantees),
and anything written after the last size update is what `repair_wav_header` accounts for.

Every failure is an `OSError` (a full disk is `ENOSPC`): the writer uses the file object it is
given (`open_file`, injectable) and nothing else, so a caller can stop on it and keep the call
going.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt

__all__ = ["HEADER_BYTES", "Opener", "RawFile", "WavWriter", "open_file"]

HEADER_BYTES: Final = 44
#: the largest data chunk a RIFF size field can describe
_MAX_DATA: Final = 0xFFFFFFFF - (HEADER_BYTES - 8)


class RawFile(Protocol):
    """What the writer needs of a file (an unbuffered `io.FileIO` has it)."""

    def write(self, data: bytes | memoryview, /) -> int | None: ...

    def seek(self, offset: int, whence: int = 0, /) -> int: ...

    def truncate(self, size: int | None = None, /) -> int: ...

    def close(self) -> None: ...


Opener = Callable[[Path], RawFile]


def open_file(path: Path) -> RawFile:
    """A new file at `path`, unbuffered: every append reaches the kernel at once."""
    return open(path, "w+b", buffering=0)  # the writer owns it and closes it


def _header(channels: int, rate: int, data_bytes: int) -> bytes:
    block_align = 2 * channels
    return b"".join(
        (
            b"RIFF",
            (HEADER_BYTES - 8 + data_bytes).to_bytes(4, "little"),
            b"WAVE",
            b"fmt ",
            (16).to_bytes(4, "little"),
            (1).to_bytes(2, "little"),  # PCM
            channels.to_bytes(2, "little"),
            rate.to_bytes(4, "little"),
            (rate * block_align).to_bytes(4, "little"),
            block_align.to_bytes(2, "little"),
            (16).to_bytes(2, "little"),
            b"data",
            data_bytes.to_bytes(4, "little"),
        )
    )


class WavWriter:
    """Interleaved int16 samples appended to a WAV (`channels` 1 or 2, `rate` Hz)."""

    def __init__(
        self, path: Path, *, channels: int, rate: int = 8000, opener: Opener = open_file
    ) -> None:
        if channels not in (1, 2):
            raise ValueError(f"1 or 2 channels, got {channels}")
        self.path = Path(path)
        self.channels = channels
        self.rate = rate
        self._file: RawFile | None = opener(self.path)
        #: audio bytes the header describes (all of them reached the file)
        self.data_bytes = 0
        try:
            self._write_all(_header(channels, rate, 0))
        except OSError:
            self.abort()
            raise

    @property
    def frames(self) -> int:
        """Sample frames written (one sample per channel each)."""
        return self.data_bytes // (2 * self.channels)

    @property
    def closed(self) -> bool:
        return self._file is None

    def append(self, samples: npt.NDArray[np.int16]) -> None:
        """Write `samples` (shape (n,) mono or (n, channels)) and update the header."""
        if self._file is None:
            raise ValueError("the WAV is closed")
        data = np.ascontiguousarray(samples, dtype="<i2").tobytes()
        if len(data) % (2 * self.channels):
            raise ValueError(f"{len(data)} bytes are not whole frames of {self.channels}")
        if self.data_bytes + len(data) > _MAX_DATA:
            raise OSError(errno.EFBIG, "the WAV would exceed 4 GiB", str(self.path))
        file = self._file
        file.seek(HEADER_BYTES + self.data_bytes)
        self._write_all(data)
        self.data_bytes += len(data)
        file.seek(4)
        self._write_all((HEADER_BYTES - 8 + self.data_bytes).to_bytes(4, "little"))
        file.seek(HEADER_BYTES - 4)
        self._write_all(self.data_bytes.to_bytes(4, "little"))

    def close(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            file.close()

    def abort(self) -> None:
        """After a failed write: cut the file back to what its header describes (a partial
        write may have left bytes beyond it) and close it; errors are ignored, since the disk
        that refused the write may refuse this too."""
        file, self._file = self._file, None
        if file is None:
            return
        with contextlib.suppress(OSError):
            file.truncate(HEADER_BYTES + self.data_bytes)
        with contextlib.suppress(OSError):
            file.close()

    def _write_all(self, data: bytes) -> None:
        assert self._file is not None
        view = memoryview(data)
        while view:
            written = self._file.write(view)
            if not written:
                # A regular file never writes nothing without an error; say so rather than spin.
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))
            view = view[written:]
