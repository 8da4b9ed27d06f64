"""G.711 tables against an independent scalar port of the classic Sun/CCITT g711.c."""

from __future__ import annotations

import sys
import warnings
from types import ModuleType

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vpbx.media.g711 import (
    ALAW_SILENCE,
    ULAW_SILENCE,
    alaw_decode,
    alaw_encode,
    alaw_to_ulaw,
    ulaw_decode,
    ulaw_encode,
    ulaw_to_alaw,
)

# --- Reference: a line-by-line scalar port of g711.c, deliberately sharing no code with the tables.

BIAS = 0x84
CLIP = 32635
SEG_END = (0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF, 0x3FFF, 0x7FFF)
SEG_AEND = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)


def search(val: int, table: tuple[int, ...]) -> int:
    for i, end in enumerate(table):
        if val <= end:
            return i
    return len(table)


def linear2ulaw(pcm_val: int) -> int:
    if pcm_val < 0:
        pcm_val = -pcm_val
        mask = 0x7F
    else:
        mask = 0xFF
    if pcm_val > CLIP:
        pcm_val = CLIP
    pcm_val += BIAS
    seg = search(pcm_val, SEG_END)
    if seg >= 8:
        return 0x7F ^ mask
    uval = (seg << 4) | ((pcm_val >> (seg + 3)) & 0xF)
    return uval ^ mask


def ulaw2linear(u_val: int) -> int:
    u_val = ~u_val & 0xFF
    t = ((u_val & 0x0F) << 3) + BIAS
    t <<= (u_val & 0x70) >> 4
    return BIAS - t if u_val & 0x80 else t - BIAS


def linear2alaw(pcm_val: int) -> int:
    pcm_val >>= 3
    if pcm_val >= 0:
        mask = 0xD5
    else:
        mask = 0x55
        pcm_val = -pcm_val - 1
    seg = search(pcm_val, SEG_AEND)
    if seg >= 8:
        return 0x7F ^ mask
    aval = seg << 4
    if seg < 2:
        aval |= (pcm_val >> 1) & 0x0F
    else:
        aval |= (pcm_val >> seg) & 0x0F
    return aval ^ mask


def alaw2linear(a_val: int) -> int:
    a_val ^= 0x55
    t = (a_val & 0x0F) << 4
    seg = (a_val & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t += 0x108
        t <<= seg - 1
    return t if a_val & 0x80 else -t


ALL_SAMPLES = np.arange(-32768, 32768, dtype=np.int16)
ALL_CODES = bytes(range(256))


# audioop is deprecated on 3.11+ and gone in 3.13: only a cross-check, never a dependency. The
# project runs on 3.11 (Debian 12), where it always exists; the version is the only way to lose it.
NO_AUDIOOP = pytest.mark.skipif(sys.version_info >= (3, 13), reason="audioop removed in 3.13")


@pytest.fixture(scope="module")
def audioop() -> ModuleType:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop as module
    return module


# --- Encoding: every int16 input.


def test_ulaw_encode_matches_reference_on_all_inputs() -> None:
    expected = bytes(linear2ulaw(int(s)) for s in ALL_SAMPLES)
    assert ulaw_encode(ALL_SAMPLES) == expected


def test_alaw_encode_matches_reference_on_all_inputs() -> None:
    expected = bytes(linear2alaw(int(s)) for s in ALL_SAMPLES)
    assert alaw_encode(ALL_SAMPLES) == expected


@pytest.mark.parametrize(
    ("sample", "ulaw", "alaw"),
    [
        (0, 0xFF, 0xD5),
        (-1, 0x7F, 0x55),
        (32767, 0x80, 0xAA),
        (-32768, 0x00, 0x2A),
        (1000, 0xCE, 0xFA),
        (-1000, 0x4E, 0x7A),
    ],
)
def test_known_codes(sample: int, ulaw: int, alaw: int) -> None:
    pcm = np.array([sample], dtype=np.int16)
    assert ulaw_encode(pcm) == bytes([ulaw])
    assert alaw_encode(pcm) == bytes([alaw])


def test_silence_constants() -> None:
    zero = np.zeros(1, dtype=np.int16)
    assert ulaw_encode(zero) == bytes([ULAW_SILENCE])
    assert alaw_encode(zero) == bytes([ALAW_SILENCE])


def test_encode_rejects_non_int16() -> None:
    with pytest.raises(TypeError, match="int16"):
        ulaw_encode(np.zeros(4, dtype=np.float64))
    with pytest.raises(TypeError, match="int16"):
        alaw_encode(np.zeros(4, dtype=np.int32))


def test_encode_accepts_strided_views() -> None:
    pcm = np.arange(-500, 500, 3, dtype=np.int16)
    assert ulaw_encode(pcm[::2]) == ulaw_encode(pcm[::2].copy())
    assert alaw_encode(pcm[::-1]) == alaw_encode(pcm[::-1].copy())


def test_encode_empty() -> None:
    empty = np.zeros(0, dtype=np.int16)
    assert ulaw_encode(empty) == b""
    assert alaw_encode(empty) == b""
    assert ulaw_decode(b"").shape == (0,)
    assert alaw_decode(b"").dtype == np.int16


# --- Decoding: every code.


def test_ulaw_decode_matches_reference_on_all_codes() -> None:
    decoded = ulaw_decode(ALL_CODES)
    assert decoded.dtype == np.int16
    assert decoded.tolist() == [ulaw2linear(c) for c in range(256)]


def test_alaw_decode_matches_reference_on_all_codes() -> None:
    decoded = alaw_decode(ALL_CODES)
    assert decoded.dtype == np.int16
    assert decoded.tolist() == [alaw2linear(c) for c in range(256)]


def test_decode_encode_is_identity_on_codes() -> None:
    # Every code decodes to a level that encodes back to the same code, except µ-law's
    # "negative zero" 0x7F, which decodes to 0 and therefore re-encodes as positive zero 0xFF.
    ulaw_round = ulaw_encode(ulaw_decode(ALL_CODES))
    assert [c for c in range(256) if ulaw_round[c] != c] == [0x7F]
    assert ulaw_round[0x7F] == 0xFF
    assert alaw_encode(alaw_decode(ALL_CODES)) == ALL_CODES


def test_decode_result_is_writable_copy() -> None:
    pcm = ulaw_decode(b"\x00\x80")
    pcm[0] = 0  # must not modify the shared table
    assert ulaw_decode(b"\x00").tolist() == [ulaw2linear(0)]


# --- Transcoding.


def test_ulaw_to_alaw_equals_decode_then_encode() -> None:
    assert ulaw_to_alaw(ALL_CODES) == alaw_encode(ulaw_decode(ALL_CODES))


def test_alaw_to_ulaw_equals_decode_then_encode() -> None:
    assert alaw_to_ulaw(ALL_CODES) == ulaw_encode(alaw_decode(ALL_CODES))


def test_transcoding_silence() -> None:
    assert ulaw_to_alaw(bytes([ULAW_SILENCE]) * 160) == bytes([ALAW_SILENCE]) * 160
    # A-law has no zero level: its "silence" decodes to +8, which µ-law represents exactly as 0xFE.
    assert alaw_decode(bytes([ALAW_SILENCE])).tolist() == [8]
    assert alaw_to_ulaw(bytes([ALAW_SILENCE]) * 160) == b"\xfe" * 160


@given(st.binary(max_size=400))
def test_double_transcode_stays_close(data: bytes) -> None:
    # A-law has the coarser steps near zero, µ-law near full scale: a round trip may move a code
    # to a neighbouring level but never further than one A-law or µ-law quantisation step.
    original = ulaw_decode(data).astype(np.int32)
    back = ulaw_decode(alaw_to_ulaw(ulaw_to_alaw(data))).astype(np.int32)
    step = np.maximum(np.abs(original) // 16, 16)
    assert np.all(np.abs(back - original) <= step)


@given(st.lists(st.integers(-32768, 32767), max_size=200))
def test_encode_decode_error_is_bounded(samples: list[int]) -> None:
    pcm = np.array(samples, dtype=np.int16)
    x = pcm.astype(np.int32)
    # Logarithmic quantisation: the error grows with the magnitude, ~1/32 of it, plus the
    # clipping of the extreme µ-law values above 32635 + bias.
    bound = np.abs(x) // 16 + 16
    assert np.all(np.abs(ulaw_decode(ulaw_encode(pcm)).astype(np.int32) - x) <= bound + 160)
    assert np.all(np.abs(alaw_decode(alaw_encode(pcm)).astype(np.int32) - x) <= bound)


# --- Cross-check with the (deprecated) stdlib implementation.


@NO_AUDIOOP
def test_audioop_alaw_agrees(audioop: ModuleType) -> None:
    raw = ALL_SAMPLES.astype("<i2").tobytes()
    assert alaw_encode(ALL_SAMPLES) == audioop.lin2alaw(raw, 2)
    assert alaw_decode(ALL_CODES).astype("<i2").tobytes() == audioop.alaw2lin(ALL_CODES, 2)


@NO_AUDIOOP
def test_audioop_ulaw_agrees(audioop: ModuleType) -> None:
    raw = ALL_SAMPLES.astype("<i2").tobytes()
    theirs = np.frombuffer(audioop.lin2ulaw(raw, 2), dtype=np.uint8)
    ours = np.frombuffer(ulaw_encode(ALL_SAMPLES), dtype=np.uint8)
    # audioop truncates to 14 bits (an arithmetic shift) before taking the magnitude, g711.c takes
    # the magnitude first. Both agree on every non-negative sample and on negatives divisible by 4;
    # elsewhere audioop may pick the neighbouring code (one quantisation step towards zero).
    x = ALL_SAMPLES.astype(np.int32)
    same = (x >= 0) | (x % 4 == 0)
    assert np.array_equal(ours[same], theirs[same])
    differ = ours != theirs
    assert np.all(np.abs(ours[differ].astype(np.int32) - theirs[differ].astype(np.int32)) == 1)
    assert ulaw_decode(ALL_CODES).astype("<i2").tobytes() == audioop.ulaw2lin(ALL_CODES, 2)
