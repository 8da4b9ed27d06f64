"""Tone generators, cadences and the spectral comparison helpers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from vpbx.media.dtmf import DTMF_FREQUENCIES, DTMF_KEYS
from vpbx.media.g711 import alaw_decode, alaw_encode, alaw_to_ulaw, ulaw_decode
from vpbx.media.tones import (
    BUSY_RU,
    FRAME_SAMPLES,
    HOLD_MUSIC,
    HOLD_TUNE,
    RATE,
    RINGBACK_RU,
    Cadence,
    cadence_frame,
    cadence_frames,
    dominant_frequency,
    dtmf_sequence,
    dtmf_tone,
    melody,
    normalized_xcorr_peak,
    sine,
)


def _peaks(pcm: np.ndarray, count: int) -> list[float]:
    """The `count` strongest spectral lines of a whole-second signal, in Hz, ascending."""
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64)))
    return sorted(float(k) * RATE / pcm.size for k in np.argsort(spectrum)[-count:])


# --- sine and DTMF synthesis


def test_sine_shape_level_and_frequency() -> None:
    pcm = sine(1000, 0.5, 0.5)
    assert pcm.dtype == np.int16
    assert pcm.shape == (4000,)
    assert int(np.abs(pcm).max()) == pytest.approx(0.5 * 32767, abs=1)
    assert dominant_frequency(pcm) == pytest.approx(1000, abs=0.5)


def test_full_scale_sine_does_not_wrap() -> None:
    pcm = sine(440, 0.1, 1.0)
    assert int(pcm.max()) <= 32767
    assert int(pcm.min()) >= -32767


@pytest.mark.parametrize("amplitude", [-0.1, 1.01])
def test_sine_rejects_bad_amplitude(amplitude: float) -> None:
    with pytest.raises(ValueError, match="fraction of full scale"):
        sine(440, 0.1, amplitude)


@pytest.mark.parametrize("key", list(DTMF_KEYS))
def test_dtmf_tone_has_the_two_keypad_frequencies(key: str) -> None:
    pcm = dtmf_tone(key, 1.0)
    assert pcm.shape == (8000,)
    assert _peaks(pcm, 2) == list(DTMF_FREQUENCIES[key])


def test_dtmf_tone_validation() -> None:
    assert np.array_equal(dtmf_tone("a", 0.1), dtmf_tone("A", 0.1))
    with pytest.raises(ValueError, match="not a DTMF key"):
        dtmf_tone("E", 0.1)
    with pytest.raises(ValueError, match="clips"):
        dtmf_tone("1", 0.1, amplitude=0.6)


def test_dtmf_sequence_layout() -> None:
    pcm = dtmf_sequence("12", on=0.05, off=0.03)
    assert pcm.shape == (2 * (400 + 240),)
    assert not np.any(pcm[400:640])
    assert np.any(pcm[640:1040])
    assert dtmf_sequence("").shape == (0,)


# --- Melodies (the built-in hold music)


def test_a_melody_plays_its_notes_in_order_and_rests_in_silence() -> None:
    pcm = melody([(600.0, 0.5), (0.0, 0.25), (900.0, 0.5)])
    assert pcm.dtype == np.int16
    assert pcm.shape == (10000,)
    assert dominant_frequency(pcm[:4000]) == pytest.approx(600, abs=1)
    assert not np.any(pcm[4000:6000])
    assert dominant_frequency(pcm[6000:]) == pytest.approx(900, abs=1)
    # soft edges: no click where a note starts or stops
    for edge in (0, 3999, 6000, 9999):
        assert abs(int(pcm[edge])) < 500
    assert melody([]).shape == (0,)
    with pytest.raises(ValueError, match="amplitude"):
        melody([(600.0, 0.1)], amplitude=1.5)


def test_the_hold_music_is_the_tune_far_from_call_progress_tones() -> None:
    assert HOLD_MUSIC.size == round(sum(seconds for _, seconds in HOLD_TUNE) * RATE)
    assert not HOLD_MUSIC.flags.writeable  # one array shared by every held call
    start = 0
    for hz, seconds in HOLD_TUNE:
        count = round(seconds * RATE)
        note = HOLD_MUSIC[start : start + count]
        start += count
        if hz:
            assert dominant_frequency(note) == pytest.approx(hz, abs=2)
            assert abs(hz - 425) > 50  # never taken for ringback or busy
        else:
            assert not np.any(note)
    # as loud as the call-progress tones, and never clipping
    assert 0.15 * 32767 < np.abs(HOLD_MUSIC).max() <= RINGBACK_RU.amplitude * 32767 + 1


# --- Cadences


def test_ringback_cadence_is_one_second_on_four_off() -> None:
    frames = [cadence_frame(RINGBACK_RU, i) for i in range(260)]
    assert all(f.shape == (FRAME_SAMPLES,) and f.dtype == np.int16 for f in frames)
    assert all(np.any(f) for f in frames[:50])
    assert not any(np.any(f) for f in frames[50:250])
    assert np.array_equal(frames[250], frames[0])
    assert dominant_frequency(np.concatenate(frames[:50])) == pytest.approx(425, abs=0.5)


def test_busy_cadence_switches_every_350_ms() -> None:
    pcm = cadence_frames(BUSY_RU, 70)  # 1.4 s = two periods
    on = np.zeros(pcm.size, dtype=bool)
    on[0:2800] = True
    on[5600:8400] = True
    assert not np.any(pcm[~on])
    # Nonzero inside the "on" parts apart from the sine's own zero crossings.
    assert np.count_nonzero(pcm[on]) > 0.98 * np.count_nonzero(on)
    assert dominant_frequency(pcm[:2800]) == pytest.approx(425, abs=1)


def test_cadence_frames_are_phase_continuous() -> None:
    # Frame by frame equals one uninterrupted sine over the whole "on" second.
    pcm = cadence_frames(RINGBACK_RU, 50)
    reference = sine(425, 1.0, RINGBACK_RU.amplitude)
    assert int(np.abs(pcm.astype(np.int32) - reference).max()) <= 1


def test_cadence_frame_is_pure_and_periodic_far_into_a_call() -> None:
    hours = 10 * 3600 * 50  # frame index 10 hours in
    period = 250  # 5 s of 20 ms frames
    first = cadence_frame(RINGBACK_RU, 7)
    assert np.array_equal(cadence_frame(RINGBACK_RU, 7 + hours // period * period), first)
    assert np.array_equal(cadence_frame(RINGBACK_RU, 7), first)


def test_cadence_frame_returns_a_private_copy() -> None:
    frame = cadence_frame(RINGBACK_RU, 3)
    frame[:] = 0
    assert np.any(cadence_frame(RINGBACK_RU, 3))


def test_uncacheable_cadence_is_rendered_directly_and_continuously() -> None:
    # 425.3 Hz never lines up with the pattern period: no cached cycle, same guarantees.
    odd = Cadence((425.3,), (0.5, 0.5))
    pcm = cadence_frames(odd, 25)
    reference = sine(425.3, 0.5, odd.amplitude)
    assert int(np.abs(pcm.astype(np.int32) - reference).max()) <= 1
    assert np.array_equal(cadence_frame(odd, 10**6), cadence_frame(odd, 10**6))
    assert not np.any(cadence_frame(odd, 30))


def test_two_frequency_cadence_shares_the_amplitude() -> None:
    dial = Cadence((350.0, 440.0), (1.0, 0.0), amplitude=0.4)
    pcm = cadence_frames(dial, 50)
    assert int(np.abs(pcm).max()) <= 0.4 * 32767 + 1
    assert _peaks(pcm, 2) == [350.0, 440.0]


@pytest.mark.parametrize(
    ("frequencies", "pattern", "amplitude"),
    [
        ((), (1.0, 1.0), 0.2),
        ((425.0,), (), 0.2),
        ((425.0,), (1.0,), 0.2),
        ((425.0,), (1.0, -1.0), 0.2),
        ((425.0,), (0.0, 0.0), 0.2),
        ((425.0,), (1.0, 1.0), 2.0),
    ],
)
def test_cadence_validation(
    frequencies: tuple[float, ...], pattern: tuple[float, ...], amplitude: float
) -> None:
    with pytest.raises(ValueError, match=r"frequency|pattern|fraction"):
        Cadence(frequencies, pattern, amplitude)


def test_cadence_frames_edge_cases() -> None:
    assert cadence_frames(BUSY_RU, 0).shape == (0,)
    assert np.array_equal(
        cadence_frames(BUSY_RU, 2, start=5),
        np.concatenate([cadence_frame(BUSY_RU, 5), cadence_frame(BUSY_RU, 6)]),
    )


# --- dominant_frequency


@pytest.mark.parametrize("freq", [300.0, 425.0, 697.0, 1000.0, 1633.0, 2600.0, 3400.0])
def test_dominant_frequency_of_a_second(freq: float) -> None:
    assert dominant_frequency(sine(freq, 1.0, 0.3)) == pytest.approx(freq, abs=0.5)


@pytest.mark.parametrize("freq", [425.0, 1000.0, 1777.7])
def test_dominant_frequency_of_one_frame(freq: float) -> None:
    assert dominant_frequency(sine(freq, 0.02, 0.3)) == pytest.approx(freq, abs=5)


def test_dominant_frequency_through_g711_and_noise() -> None:
    rng = np.random.default_rng(11)
    pcm = sine(425, 1.0, 0.2).astype(np.float64) + rng.normal(0, 1000, 8000) + 300  # DC too
    noisy = np.clip(pcm, -32768, 32767).astype(np.int16)
    assert dominant_frequency(alaw_decode(alaw_encode(noisy))) == pytest.approx(425, abs=1)


def test_dominant_frequency_edge_cases() -> None:
    assert dominant_frequency(np.zeros(800, dtype=np.int16)) == 0.0
    assert dominant_frequency(np.full(800, 1000, dtype=np.int16)) == 0.0
    with pytest.raises(ValueError, match="at least 4"):
        dominant_frequency(np.zeros(3, dtype=np.int16))
    assert dominant_frequency(sine(1000, 0.5, 0.3, rate=16000), rate=16000) == pytest.approx(
        1000, abs=0.5
    )


# --- normalized_xcorr_peak


def _noise(n: int, seed: int, scale: float = 3000) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, scale, n).astype(np.int16)


def test_xcorr_identical_and_embedded() -> None:
    played = _noise(4000, 1)
    assert normalized_xcorr_peak(played, played) == pytest.approx(1.0, abs=1e-9)
    recorded = np.concatenate([np.zeros(1234, np.int16), played, np.zeros(777, np.int16)])
    # Not exactly 1: removing each signal's mean spreads a tiny offset over the silence.
    assert normalized_xcorr_peak(played, recorded) == pytest.approx(1.0, abs=1e-3)
    assert normalized_xcorr_peak(recorded, played) == pytest.approx(1.0, abs=1e-3)


def test_xcorr_survives_g711_round_trips() -> None:
    played = dtmf_sequence("123", amplitude=0.1) + _noise(4800, 2, 500)
    # Encoded as PCMA, transcoded to PCMU on the way, decoded by the peer.
    heard = ulaw_decode(alaw_to_ulaw(alaw_encode(played)))
    assert normalized_xcorr_peak(played, heard) > 0.99


def test_xcorr_of_unrelated_or_silent_signals() -> None:
    a = _noise(8000, 3)
    b = _noise(8000, 4)
    assert normalized_xcorr_peak(a, b) < 0.1
    assert normalized_xcorr_peak(a, -a) < 0.1  # polarity matters: the peak is not |r|
    assert normalized_xcorr_peak(a, np.zeros(100, np.int16)) == 0.0
    assert normalized_xcorr_peak(np.zeros(0, np.int16), a) == 0.0


def test_xcorr_drops_with_added_noise() -> None:
    played = _noise(8000, 5)
    heard = played.astype(np.float64) + _noise(8000, 6)  # equal power: r = 1/sqrt(2)
    assert normalized_xcorr_peak(played, heard) == pytest.approx(2**-0.5, abs=0.03)


@settings(max_examples=50)
@given(
    hnp.arrays(np.int16, st.integers(1, 300)),
    hnp.arrays(np.int16, st.integers(1, 300)),
)
def test_xcorr_is_bounded(a: np.ndarray, b: np.ndarray) -> None:
    value = normalized_xcorr_peak(a, b)
    assert -1.0 <= value <= 1.0
