"""Scenario graphs (SCN, SCN-MENU, SCN-INS): pure checks of links and insertion cycles."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vpbx.domain.entities.scenarios import Scenario
from vpbx.domain.scenario_graph import graph_violations, inserted, insertion_cycle


def scenario(*operations: dict[str, Any], entry: str | None = "start") -> Scenario:
    return Scenario.model_validate({"name": "s", "entry": entry, "operations": list(operations)})


def info(key: str, **exits: str | None) -> dict[str, Any]:
    return {"key": key, "kind": "info", "text": "Здравствуйте", "exits": exits}


def problems(doc: Scenario) -> list[tuple[str, str]]:
    return [(v.field, v.error_id) for v in graph_violations(doc)]


# -- graph_violations --------------------------------------------------------------------------


def test_empty_scenario_is_valid() -> None:
    assert problems(scenario(entry=None)) == []


def test_linked_graph_is_valid() -> None:
    doc = scenario(
        {"key": "start", "kind": "menu", "exits": {"1": "a", "2": "b", "timeout": None}},
        info("a", next="b"),
        {"key": "b", "kind": "voicemail", "exits": {"next": None}},
    )
    assert problems(doc) == []


def test_unlinked_exits_end_the_call_and_are_valid() -> None:
    assert problems(scenario(info("start"))) == []
    assert problems(scenario(info("start", next=None))) == []


def test_dangling_exit() -> None:
    doc = scenario(info("start", next="nowhere"))
    assert problems(doc) == [("operations.0.exits.next", "dangling_exit")]
    assert "nowhere" in graph_violations(doc)[0].rule


def test_exit_to_itself_is_a_link() -> None:
    doc = scenario({"key": "start", "kind": "menu", "exits": {"invalid": "start"}})
    assert problems(doc) == []


def test_entry_required_when_there_are_operations() -> None:
    assert problems(scenario(info("start"), entry=None)) == [("entry", "invalid")]


def test_entry_must_be_an_operation() -> None:
    assert problems(scenario(info("start"), entry="missing")) == [("entry", "invalid")]
    assert problems(scenario(entry="missing")) == [("entry", "invalid")]


def test_duplicate_keys() -> None:
    doc = scenario(info("start", next="start"), info("start"))
    assert problems(doc) == [("operations.1.key", "invalid")]


@pytest.mark.parametrize(
    ("operation", "exit_name"),
    [
        (
            {
                "key": "start",
                "kind": "interactive",
                "url": "https://crm.example/ivr",
                "codes": [{"code": 1, "target": "start"}, {"code": 2, "target": "gone"}],
            },
            "code 2",
        ),
        (
            {
                "key": "start",
                "kind": "region",
                "branches": [{"region": "Москва", "target": "gone"}],
            },
            "Москва",
        ),
        (
            {
                "key": "start",
                "kind": "segment",
                "branches": [{"segment_id": 7, "target": "gone"}],
            },
            "segment 7",
        ),
        ({"key": "start", "kind": "auth", "code": "1234", "exits": {"no": "gone"}}, "no"),
        ({"key": "start", "kind": "visit", "exits": {"repeat": "gone"}}, "repeat"),
    ],
)
def test_branch_exits_are_links_too(operation: dict[str, Any], exit_name: str) -> None:
    assert problems(scenario(operation)) == [(f"operations.0.exits.{exit_name}", "dangling_exit")]


def menu_to(target: dict[str, Any]) -> Scenario:
    return scenario(
        {"key": "start", "kind": "menu", "exits": {"extension_input": target["key"]}}, target
    )


def test_menu_extension_input_accepts_the_menu_extension_operation() -> None:
    assert problems(menu_to({"key": "ext", "kind": "extension", "from_menu": True})) == []


@pytest.mark.parametrize(
    "target",
    [
        {"key": "ext", "kind": "extension"},
        {"key": "ext", "kind": "extension", "from_menu": False},
        {"key": "ext", "kind": "forward", "targets": [{"number": "74951234567"}]},
        info("ext"),
        {"key": "ext", "kind": "menu"},
    ],
)
def test_menu_extension_input_refuses_other_operations(target: dict[str, Any]) -> None:
    assert problems(menu_to(target)) == [
        ("operations.0.exits.extension_input", "menu_extension_input")
    ]


def test_menu_extension_input_dangling_is_reported_once() -> None:
    doc = scenario({"key": "start", "kind": "menu", "exits": {"extension_input": "gone"}})
    assert problems(doc) == [("operations.0.exits.extension_input", "dangling_exit")]


def test_other_menu_exits_may_lead_to_any_extension_operation() -> None:
    doc = scenario(
        {"key": "start", "kind": "menu", "exits": {"1": "ext"}},
        {"key": "ext", "kind": "extension"},
    )
    assert problems(doc) == []


def test_every_violation_is_reported() -> None:
    doc = scenario(
        info("start", next="x"),
        info("start", next="y"),
        {"key": "m", "kind": "menu", "exits": {"extension_input": "start"}},
        entry="z",
    )
    assert problems(doc) == [
        ("operations.1.key", "invalid"),
        ("entry", "invalid"),
        ("operations.0.exits.next", "dangling_exit"),
        ("operations.1.exits.next", "dangling_exit"),
        ("operations.2.exits.extension_input", "menu_extension_input"),
    ]


# -- inserted / insertion_cycle ----------------------------------------------------------------


def test_inserted_lists_the_inserted_scenarios() -> None:
    doc = scenario(
        {"key": "start", "kind": "insert", "scenario_id": 4},
        {"key": "b", "kind": "insert", "scenario_id": 2},
        {"key": "c", "kind": "insert", "scenario_id": 4},
        info("d"),
    )
    assert inserted(doc) == {2, 4}
    assert inserted(scenario(info("start"))) == set()


def test_no_cycle() -> None:
    assert insertion_cycle(1, {}) is None
    assert insertion_cycle(1, {1: {2, 3}, 2: {3}, 3: set()}) is None  # a diamond


def test_self_insertion() -> None:
    assert insertion_cycle(1, {1: {1}}) == [1, 1]


def test_two_cycle() -> None:
    assert insertion_cycle(1, {1: {2}, 2: {1}}) == [1, 2, 1]


def test_long_cycle() -> None:
    assert insertion_cycle(1, {1: {2}, 2: {3}, 3: {4}, 4: {1}}) == [1, 2, 3, 4, 1]


def test_cycle_elsewhere_is_not_through_start() -> None:
    edges = {1: {2}, 2: {3}, 3: {2}}
    assert insertion_cycle(1, edges) is None
    assert insertion_cycle(2, edges) == [2, 3, 2]


def test_unknown_nodes_are_leaves() -> None:
    assert insertion_cycle(1, {1: {99}}) is None


# -- property: insertion_cycle against a plain reachability search -----------------------------


def reaches(edges: Mapping[int, set[int]], sources: set[int], goal: int) -> bool:
    seen: set[int] = set()
    todo = list(sources)
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            todo.extend(edges.get(node, set()))
    return False


nodes = st.integers(min_value=0, max_value=7)
graphs = st.dictionaries(nodes, st.sets(nodes, max_size=4), max_size=8)


@given(graphs, nodes)
def test_property_cycle_found_iff_start_is_on_a_cycle(
    edges: dict[int, set[int]], start: int
) -> None:
    cycle = insertion_cycle(start, edges)
    on_cycle = reaches(edges, set(edges.get(start, set())), start)
    assert (cycle is not None) == on_cycle
    if cycle is not None:
        assert cycle[0] == cycle[-1] == start
        assert all(b in edges.get(a, set()) for a, b in itertools.pairwise(cycle))
        assert len(set(cycle[:-1])) == len(cycle) - 1  # a simple cycle


@given(graphs, nodes)
def test_property_insertion_cycle_does_not_change_the_graph(
    edges: dict[int, set[int]], start: int
) -> None:
    before = {k: set(v) for k, v in edges.items()}
    insertion_cycle(start, edges)
    assert edges == before
