"""The loop stall benchmark's reading of the switch's /loop reports: the worst second within the
window it timed, the collections between two reports, and whether a collection caused it."""

from __future__ import annotations

import math
from typing import Any

import pytest

from vpbx.bench.stall import window


def report(
    seconds: list[list[float]], collections: list[int], pauses: list[list[Any]]
) -> dict[str, Any]:
    return {"seconds": seconds, "gc": {"collections": collections, "pauses": pauses}}


BEFORE = report([], [10, 2, 1], [])


def test_the_worst_second_within_the_window_and_the_collections_in_it() -> None:
    after = report(
        [[99, 900.0], [100, 3.0], [101, 12.5], [102, 4.0], [106, 700.0]],
        [110, 4, 1],
        [[99.5, 2, 880.0, 500_000], [101.2, 0, 2.0, 300], [102.5, 1, 8.0, 9000]],
    )
    found = window(BEFORE, after, 100.2, 105.0)
    # second 99 (before the window) and 106 (after it) are not the window's
    assert found.stall_ms == pytest.approx(12.5)
    assert found.stall_at == 101
    assert found.collections == [100, 2, 0]
    assert found.gc_max == [102.5, 1, 8.0, 9000]
    assert found.gc_max_ms == pytest.approx(8.0)
    assert found.cause == "a generation-1 collection of 8.0 ms then"
    assert "worst stall 12.5 ms" in found.describe()
    assert "100/2/0" in found.describe()


def test_a_stall_with_no_collection_near_it_says_so() -> None:
    after = report([[200, 45.0], [201, 2.0]], [12, 2, 1], [[201.5, 0, 1.5, 10]])
    found = window(BEFORE, after, 200.0, 202.0)
    assert found.stall_ms == pytest.approx(45.0)
    assert found.cause.startswith("no collection of half of it then")
    assert found.gc_max_ms == pytest.approx(1.5)


def test_a_window_with_no_tick_has_no_figure() -> None:
    found = window(BEFORE, report([[50, 1.0]], [10, 2, 1], []), 60.0, 70.0)
    assert math.isnan(found.stall_ms)  # nothing was measured
    assert found.collections == [0, 0, 0]
    assert "no collection of 1 ms or more" in found.describe()
