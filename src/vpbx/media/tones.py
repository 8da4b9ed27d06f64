"""Tone generation (sines, call-progress cadences, DTMF, melodies such as the built-in hold
music) and spectral comparison helpers."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from vpbx.media.dtmf import DTMF_FREQUENCIES

__all__ = [
    "BUSY_RU",
    "FRAME_SAMPLES",
    "HOLD_MUSIC",
    "HOLD_TUNE",
    "RATE",
    "RINGBACK_RU",
    "Cadence",
    "cadence_frame",
    "cadence_frames",
    "dominant_frequency",
    "dtmf_sequence",
    "dtmf_tone",
    "melody",
    "normalized_xcorr_peak",
    "sine",
]

Pcm = npt.NDArray[np.int16]

RATE: Final = 8000
FRAME_SAMPLES: Final = 160  # 20 ms at 8 kHz
_FULL_SCALE: Final = 32767

# About -10 dBm0 (0 dBm0 is 3.17 dB below a full-scale sine in G.711): a usual level for
# call-progress tones, loud enough to hear, far from clipping after mixing.
TONE_AMPLITUDE: Final = 0.22


def _to_int16(x: npt.NDArray[np.float64]) -> Pcm:
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


def _check_amplitude(amplitude: float) -> None:
    if not 0.0 <= amplitude <= 1.0:
        raise ValueError(f"amplitude is a fraction of full scale in [0, 1], got {amplitude}")


def sine(freq: float, seconds: float, amplitude: float = 0.5, *, rate: int = RATE) -> Pcm:
    """A sine of `freq` Hz; `amplitude` is the peak as a fraction of full scale (1.0 = 32767)."""
    _check_amplitude(amplitude)
    n = np.arange(round(seconds * rate), dtype=np.float64)
    return _to_int16(amplitude * _FULL_SCALE * np.sin(2 * np.pi * freq * n / rate))


def dtmf_tone(digit: str, seconds: float, amplitude: float = 0.2, *, rate: int = RATE) -> Pcm:
    """The two-tone DTMF signal of a key; `amplitude` applies to each of the two tones."""
    if amplitude > 0.5:
        raise ValueError("each DTMF tone is at most half of full scale, or their sum clips")
    try:
        low, high = DTMF_FREQUENCIES[digit.upper()]
    except KeyError:
        raise ValueError(f"not a DTMF key: {digit!r}") from None
    _check_amplitude(amplitude)
    n = np.arange(round(seconds * rate), dtype=np.float64)
    w = 2 * np.pi * n / rate
    return _to_int16(amplitude * _FULL_SCALE * (np.sin(low * w) + np.sin(high * w)))


def dtmf_sequence(
    digits: str,
    on: float = 0.1,
    off: float = 0.1,
    amplitude: float = 0.2,
    *,
    rate: int = RATE,
) -> Pcm:
    """Keys pressed one after another: each tone `on` seconds, then `off` seconds of silence."""
    gap = np.zeros(round(off * rate), dtype=np.int16)
    parts: list[Pcm] = []
    for digit in digits:
        parts += [dtmf_tone(digit, on, amplitude, rate=rate), gap]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)


# --- Cadences --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cadence:
    """A call-progress tone: frequencies summed, switched on and off by `pattern`.

    `pattern` lists seconds on, off, on, off…; it repeats forever. `amplitude` is the peak of
    the whole tone (shared by its frequencies) as a fraction of full scale.
    """

    frequencies: tuple[float, ...]
    pattern: tuple[float, ...]
    amplitude: float = TONE_AMPLITUDE
    rate: int = RATE

    def __post_init__(self) -> None:
        if not self.frequencies:
            raise ValueError("a cadence needs at least one frequency")
        if not self.pattern or len(self.pattern) % 2 or any(t < 0 for t in self.pattern):
            raise ValueError("pattern must be pairs of non-negative (on, off) durations")
        if sum(self.pattern) <= 0:
            raise ValueError("the pattern must last some time")
        _check_amplitude(self.amplitude)


# ГОСТ/Russian PSTN call-progress tones: 425 Hz.
RINGBACK_RU: Final = Cadence((425.0,), (1.0, 4.0))
BUSY_RU: Final = Cadence((425.0,), (0.35, 0.35))

# Cache whole repetitions of a cadence up to this length (10 s at 8 kHz = 160 KB of int16).
_MAX_CACHED_SAMPLES: Final = 80_000


def _edges(cadence: Cadence) -> npt.NDArray[np.int64]:
    seconds = np.cumsum(np.array((0.0, *cadence.pattern), dtype=np.float64))
    return np.rint(seconds * cadence.rate).astype(np.int64)


def _render(cadence: Cadence, n: npt.NDArray[np.int64]) -> Pcm:
    """Samples at absolute indices n: phase-continuous tone, gated by the pattern."""
    edges = _edges(cadence)
    period = int(edges[-1])
    segment = np.searchsorted(edges, n % period, side="right") - 1
    on = segment % 2 == 0
    rate = cadence.rate
    wave = np.zeros(n.shape, dtype=np.float64)
    for freq in cadence.frequencies:
        # The phase is reduced modulo one cycle in exact-ish arithmetic first, so that hours
        # into a call the sine is as clean as at its start.
        wave += np.sin(2 * np.pi * (np.mod(freq * n, rate) / rate))
    scale = cadence.amplitude * _FULL_SCALE / len(cadence.frequencies)
    return _to_int16(np.where(on, wave * scale, 0.0))


@functools.lru_cache(maxsize=32)
def _cycle(cadence: Cadence) -> Pcm | None:
    """The shortest whole-frame span after which both the pattern and every tone phase repeat."""
    period = int(_edges(cadence)[-1])
    rate = cadence.rate
    for repeats in range(1, 65):
        length = period * repeats
        if length % FRAME_SAMPLES:
            continue
        if length > _MAX_CACHED_SAMPLES:
            break
        if all(
            math.isclose((f * length / rate) % 1.0, 0.0, abs_tol=1e-9) for f in cadence.frequencies
        ):
            wave = _render(cadence, np.arange(length, dtype=np.int64))
            wave.flags.writeable = False
            return wave
    return None


def cadence_frame(cadence: Cadence, frame_index: int) -> Pcm:
    """Samples of 20 ms frame `frame_index` (0 = the start of the tone): 160 new int16 samples.

    Pure: frame n is the same whatever was asked before, so a player can jump (e.g. resume a
    ringback after hold) and the phase stays continuous between consecutive frames.
    """
    cycle = _cycle(cadence)
    if cycle is not None:
        start = (frame_index * FRAME_SAMPLES) % len(cycle)
        return cycle[start : start + FRAME_SAMPLES].copy()
    first = frame_index * FRAME_SAMPLES
    return _render(cadence, np.arange(first, first + FRAME_SAMPLES, dtype=np.int64))


def cadence_frames(cadence: Cadence, count: int, start: int = 0) -> Pcm:
    """`count` consecutive frames from frame `start`, as one array."""
    if count <= 0:
        return np.zeros(0, dtype=np.int16)
    return np.concatenate([cadence_frame(cadence, start + i) for i in range(count)])


# --- Melodies --------------------------------------------------------------------------------

# A note's envelope: a short rise and fall so that notes start and stop without clicks, and a
# gentle decay between them, so the tune sounds like a soft chime rather than a test tone.
_ATTACK: Final = 0.015
_RELEASE: Final = 0.04
_DECAY_PER_SECOND: Final = 1.2


def melody(
    notes: Sequence[tuple[float, float]], amplitude: float = TONE_AMPLITUDE, *, rate: int = RATE
) -> Pcm:
    """Notes played one after another: each (frequency in Hz, seconds); frequency 0 is a rest.

    Each note is a sine under a soft envelope (see `_ATTACK`…); `amplitude` is its peak as a
    fraction of full scale.
    """
    _check_amplitude(amplitude)
    parts: list[Pcm] = []
    for freq, seconds in notes:
        count = round(seconds * rate)
        if freq <= 0:
            parts.append(np.zeros(count, dtype=np.int16))
            continue
        t = np.arange(count, dtype=np.float64) / rate
        envelope = np.exp(-_DECAY_PER_SECOND * t)
        envelope *= np.clip(t / _ATTACK, 0.0, 1.0) * np.clip((seconds - t) / _RELEASE, 0.0, 1.0)
        wave = np.sin(2 * np.pi * freq * t) * envelope
        parts.append(_to_int16(amplitude * _FULL_SCALE * wave))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)


# The built-in hold music (docs/decisions.md): an original little tune on C major notes
# (C5 523 Hz to A5 880 Hz), 7.2 s a round, played in a loop to a party put on hold when the
# account has nothing of its own. Its notes are far from 425 Hz, so a caller never takes it
# for ringback or busy.
HOLD_TUNE: Final = (
    (523.25, 0.4), (659.25, 0.4), (783.99, 0.4), (880.0, 0.8),
    (783.99, 0.4), (659.25, 0.4), (587.33, 0.8),
    (659.25, 0.4), (783.99, 0.4), (659.25, 0.4), (587.33, 0.4), (523.25, 1.2),
    (0.0, 0.8),
)  # fmt: skip
#: `HOLD_TUNE` rendered once at 8 kHz (read-only: every held call plays the same array)
HOLD_MUSIC: Final[Pcm] = melody(HOLD_TUNE)
HOLD_MUSIC.flags.writeable = False


# --- Analysis --------------------------------------------------------------------------------


def _centred(x: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    y = np.asarray(x, dtype=np.float64).ravel()
    return y - y.mean() if y.size else y


def dominant_frequency(pcm: npt.NDArray[Any], rate: int = RATE) -> float:
    """The strongest frequency in Hz (0.0 for silence), to within ~1 Hz for a clean tone.

    A Hann window keeps leakage from the ends low; zero padding and a parabola through the
    log magnitudes around the peak refine it between FFT bins.
    """
    x = _centred(pcm)
    if x.size < 4:
        raise ValueError("need at least 4 samples")
    if not np.any(x):
        return 0.0
    n_fft = 1 << max(14, (4 * x.size - 1).bit_length())
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size), n_fft))
    k = int(np.argmax(spectrum[1:])) + 1
    offset = 0.0
    if k + 1 < spectrum.size:
        a, b, c = np.log(spectrum[k - 1 : k + 2] + 1e-12)
        denominator = a - 2 * b + c
        if denominator < 0:
            offset = float(0.5 * (a - c) / denominator)
    return (k + offset) * rate / n_fft


def normalized_xcorr_peak(
    a: npt.NDArray[Any],
    b: npt.NDArray[Any],
) -> float:
    """The best normalised cross-correlation of a and b over every alignment, in [-1, 1].

    Both are mean-removed and the correlation at each lag is divided by the norms of the whole
    signals, so 1.0 means one contains the other exactly (plus silence) and a noisy or
    distorted copy scores a little lower. 0.0 if either is silent. Computed via FFT.
    """
    x = _centred(a)
    y = _centred(b)
    norm = math.sqrt(float(np.dot(x, x)) * float(np.dot(y, y)))
    if norm == 0.0:
        return 0.0
    n_fft = 1 << (x.size + y.size - 1).bit_length()
    corr = np.fft.irfft(np.fft.rfft(x, n_fft) * np.conj(np.fft.rfft(y, n_fft)), n_fft)
    return float(min(1.0, max(-1.0, float(corr.max()) / norm)))
