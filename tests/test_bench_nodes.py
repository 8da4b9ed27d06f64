"""The one-node vs two-node benchmark's choice of the rates held for its long runs."""

from __future__ import annotations

from vpbx.bench.nodes import FINAL_TRIES, final_rates


def test_the_long_runs_go_halfway_down_between_the_rungs_held() -> None:
    assert final_rates([200, 150, 100, 50]) == [200, 175, 150, 125, 100][:FINAL_TRIES]


def test_one_rung_held_is_tried_alone_and_none_gives_nothing() -> None:
    assert final_rates([50]) == [50]
    assert final_rates([]) == []
