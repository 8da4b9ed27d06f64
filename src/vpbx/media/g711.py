"""G.711 µ-law (PCMU) and A-law (PCMA) codecs built on numpy lookup tables."""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "ALAW_SILENCE",
    "ULAW_SILENCE",
    "alaw_decode",
    "alaw_encode",
    "alaw_to_ulaw",
    "ulaw_decode",
    "ulaw_encode",
    "ulaw_to_alaw",
]

Pcm = npt.NDArray[np.int16]

# The code each law uses for a zero sample: what comfort "silence" frames are filled with.
ULAW_SILENCE: Final = 0xFF
ALAW_SILENCE: Final = 0xD5

# Constants of the classic Sun/CCITT g711.c (the same algorithm Asterisk and most PBXes use).
_ULAW_BIAS: Final = 0x84
_ULAW_CLIP: Final = 32635
_ULAW_SEG_END: Final = np.array([0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF, 0x3FFF, 0x7FFF])
_ALAW_SEG_END: Final = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])


def _all_int16() -> npt.NDArray[np.int64]:
    """Every int16 value, ordered by its uint16 bit pattern (the encode tables' index)."""
    return np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int64)


def _build_ulaw_encode() -> npt.NDArray[np.uint8]:
    s = _all_int16()
    mask = np.where(s < 0, 0x7F, 0xFF)
    mag = np.minimum(np.abs(s), _ULAW_CLIP) + _ULAW_BIAS
    seg = np.searchsorted(_ULAW_SEG_END, mag)
    uval = (seg << 4) | ((mag >> (seg + 3)) & 0xF)
    return (uval ^ mask).astype(np.uint8)


def _build_alaw_encode() -> npt.NDArray[np.uint8]:
    s = _all_int16() >> 3
    mask = np.where(s >= 0, 0xD5, 0x55)
    mag = np.where(s >= 0, s, -s - 1)
    # A 16-bit input shifted to 13 bits never exceeds 0xFFF, so the segment is always 0..7.
    seg = np.searchsorted(_ALAW_SEG_END, mag)
    aval = (seg << 4) | ((mag >> np.maximum(seg, 1)) & 0xF)
    return (aval ^ mask).astype(np.uint8)


def _build_ulaw_decode() -> Pcm:
    u = ~np.arange(256, dtype=np.int64) & 0xFF
    t = (((u & 0xF) << 3) + _ULAW_BIAS) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, _ULAW_BIAS - t, t - _ULAW_BIAS).astype(np.int16)


def _build_alaw_decode() -> Pcm:
    a = np.arange(256, dtype=np.int64) ^ 0x55
    seg = (a & 0x70) >> 4
    t = (a & 0xF) << 4
    t = np.where(seg == 0, t + 8, (t + 0x108) << np.maximum(seg - 1, 0))
    return np.where(a & 0x80, t, -t).astype(np.int16)


# Built once at import: 64 KiB + 64 KiB encode tables, 2 × 512 B decode tables.
_ULAW_ENCODE: Final = _build_ulaw_encode()
_ALAW_ENCODE: Final = _build_alaw_encode()
_ULAW_DECODE: Final = _build_ulaw_decode()
_ALAW_DECODE: Final = _build_alaw_decode()

# Transcoding tables for bytes.translate: one C-level pass, no intermediate arrays.
_ULAW_TO_ALAW: Final = _ALAW_ENCODE[_ULAW_DECODE.view(np.uint16)].tobytes()
_ALAW_TO_ULAW: Final = _ULAW_ENCODE[_ALAW_DECODE.view(np.uint16)].tobytes()

for _table in (_ULAW_ENCODE, _ALAW_ENCODE, _ULAW_DECODE, _ALAW_DECODE):
    _table.flags.writeable = False
del _table


def _as_index(pcm: Pcm) -> npt.NDArray[np.uint16]:
    if pcm.dtype != np.int16:
        # Casting floats or int32 silently would wrap or truncate: the caller decides.
        raise TypeError(f"G.711 encoding needs int16 samples, got {pcm.dtype}")
    return pcm.view(np.uint16)


def ulaw_encode(pcm: Pcm) -> bytes:
    """Encode int16 samples to µ-law bytes (one byte per sample)."""
    return _ULAW_ENCODE[_as_index(pcm)].tobytes()


def alaw_encode(pcm: Pcm) -> bytes:
    """Encode int16 samples to A-law bytes (one byte per sample)."""
    return _ALAW_ENCODE[_as_index(pcm)].tobytes()


def ulaw_decode(data: bytes) -> Pcm:
    """Decode µ-law bytes to a new int16 array."""
    return _ULAW_DECODE[np.frombuffer(data, dtype=np.uint8)]


def alaw_decode(data: bytes) -> Pcm:
    """Decode A-law bytes to a new int16 array."""
    return _ALAW_DECODE[np.frombuffer(data, dtype=np.uint8)]


def ulaw_to_alaw(data: bytes) -> bytes:
    """Transcode PCMU to PCMA byte by byte (equal to alaw_encode(ulaw_decode(data)))."""
    return data.translate(_ULAW_TO_ALAW)


def alaw_to_ulaw(data: bytes) -> bytes:
    """Transcode PCMA to PCMU byte by byte (equal to ulaw_encode(alaw_decode(data)))."""
    return data.translate(_ALAW_TO_ULAW)
