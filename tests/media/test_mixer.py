"""Mixing by hearing matrix: conference, whisper, saturation, and mix_all == mix_for."""

from __future__ import annotations

from collections.abc import Set as AbstractSet

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from vpbx.media.mixer import (
    FRAME_SAMPLES,
    conference_matrix,
    listen_matrix,
    mix,
    mix_all,
    mix_for,
    whisper_matrix,
)


def const(value: int, n: int = FRAME_SAMPLES) -> np.ndarray:
    return np.full(n, value, dtype=np.int16)


def test_conference_matrix() -> None:
    assert conference_matrix(["a", "b", "c"]) == {
        "a": frozenset({"b", "c"}),
        "b": frozenset({"a", "c"}),
        "c": frozenset({"a", "b"}),
    }
    assert conference_matrix([]) == {}
    assert conference_matrix(["solo"]) == {"solo": frozenset()}


def test_whisper_matrix() -> None:
    matrix = whisper_matrix("caller", "employee", "trainer")
    assert matrix == {
        "caller": frozenset({"employee"}),
        "employee": frozenset({"caller", "trainer"}),
        "trainer": frozenset({"caller", "employee"}),
    }
    with pytest.raises(ValueError, match="three different"):
        whisper_matrix("a", "a", "b")


def test_conference_mix_excludes_self() -> None:
    frames = {"a": const(100), "b": const(20), "c": const(3)}
    matrix = conference_matrix(frames)
    assert mix_for("a", frames, matrix).tolist() == [23] * FRAME_SAMPLES
    assert mix_for("b", frames, matrix).tolist() == [103] * FRAME_SAMPLES
    assert mix_for("c", frames, matrix).tolist() == [120] * FRAME_SAMPLES


def test_whisper_mix_keeps_the_trainer_from_the_caller() -> None:
    frames = {"caller": const(1), "employee": const(10), "trainer": const(100)}
    matrix = whisper_matrix("caller", "employee", "trainer")
    assert mix_for("caller", frames, matrix)[0] == 10
    assert mix_for("employee", frames, matrix)[0] == 101
    assert mix_for("trainer", frames, matrix)[0] == 11


def test_listen_mix_keeps_the_trainer_from_both() -> None:
    frames = {"caller": const(1), "employee": const(10), "trainer": const(100)}
    matrix = listen_matrix("caller", "employee", "trainer")
    assert mix_for("caller", frames, matrix)[0] == 10
    assert mix_for("employee", frames, matrix)[0] == 1
    assert mix_for("trainer", frames, matrix)[0] == 11
    with pytest.raises(ValueError, match="three different"):
        listen_matrix("a", "b", "b")


def test_saturates_instead_of_wrapping() -> None:
    frames = {"a": const(30000), "b": const(30000), "c": const(-30000), "d": const(-30000)}
    loud = {"x": frozenset({"a", "b"}), "y": frozenset({"c", "d"})}
    assert mix_for("x", frames, loud)[0] == 32767
    assert mix_for("y", frames, loud)[0] == -32768
    # Saturation applies to the final sum only: opposite loud frames still cancel.
    assert mix_for("z", frames, {"z": frozenset(frames)})[0] == 0


def test_missing_frames_and_unknown_listeners() -> None:
    frames = {"a": const(5)}
    matrix = conference_matrix(["a", "b", "c"])
    assert mix_for("b", frames, matrix)[0] == 5  # c sent nothing this tick
    assert not np.any(mix_for("a", frames, matrix))  # b and c both silent
    assert not np.any(mix_for("nobody", frames, matrix))
    silence = mix_for("a", {}, matrix)
    assert silence.shape == (FRAME_SAMPLES,)
    assert silence.dtype == np.int16
    assert mix_for("a", {}, matrix, frame_samples=320).shape == (320,)


def test_result_never_aliases_an_input() -> None:
    frames = {"a": const(7), "b": const(9)}
    heard = mix_for("b", frames, conference_matrix(frames))
    heard[:] = 0
    assert frames["a"][0] == 7


def test_frame_shape_and_type_are_checked() -> None:
    matrix = conference_matrix(["a", "b", "c"])
    with pytest.raises(ValueError, match="160 samples"):
        mix_for("a", {"b": const(1), "c": const(1, 80)}, matrix)
    with pytest.raises(TypeError, match="int16"):
        mix_for("a", {"b": np.zeros(160, dtype=np.float32)}, matrix)
    with pytest.raises(ValueError, match="samples"):
        mix_all({"a": const(1), "b": const(1, 80)}, matrix)


def test_mix_plain() -> None:
    assert mix([]).tolist() == [0] * FRAME_SAMPLES
    assert mix([const(1, 4), const(2, 4)], frame_samples=4).tolist() == [3] * 4


def test_mix_all_conference_matches_mix_for() -> None:
    frames = {p: const(10**i % 30000) for i, p in enumerate("abcdefgh")}
    matrix = conference_matrix(frames)
    everyone = mix_all(frames, matrix)
    assert everyone.keys() == matrix.keys()
    for listener in matrix:
        assert np.array_equal(everyone[listener], mix_for(listener, frames, matrix))


parties = st.sampled_from("abcdefg")
frame16 = hnp.arrays(np.int16, FRAME_SAMPLES, elements=st.integers(-32768, 32767))


@settings(max_examples=100, deadline=None)
@given(
    frames=st.dictionaries(parties, frame16, max_size=7),
    matrix=st.dictionaries(parties, st.frozensets(parties), max_size=7),
)
def test_mixer_never_overflows(
    frames: dict[str, np.ndarray], matrix: dict[str, AbstractSet[str]]
) -> None:
    everyone = mix_all(frames, matrix)
    for listener, sources in matrix.items():
        expected = np.zeros(FRAME_SAMPLES, dtype=np.int64)
        for party in sources:
            if party in frames:
                expected += frames[party]
        expected = np.clip(expected, -32768, 32767)
        heard = mix_for(listener, frames, matrix)
        assert heard.dtype == np.int16
        assert np.array_equal(heard, expected)
        assert np.array_equal(everyone[listener], expected)


@given(st.lists(frame16, min_size=1, max_size=12))
def test_mixing_extremes_stays_in_range(frames: list[np.ndarray]) -> None:
    worst = [np.full(FRAME_SAMPLES, -32768, dtype=np.int16)] * 5 + frames
    result = mix(worst)
    assert result.dtype == np.int16
    assert np.array_equal(result, np.clip(np.sum(worst, axis=0, dtype=np.int64), -32768, 32767))
