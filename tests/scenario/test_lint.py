"""SCN-LINT: each «чтобы не потерять звонок» case of the manual, and the structural checks."""

from __future__ import annotations

from typing import Any

import pytest

from tests.scenario.helpers import config, scenario
from vpbx.domain.entities.routing import VirtualNumber
from vpbx.scenario.lint import LintWarning, lint_account, lint_number, lint_scenario

VM: dict[str, Any] = {"key": "vm", "kind": "voicemail", "emails": ["a@b.ru"]}


def codes(ops: list[dict[str, Any]], **kw: Any) -> list[str]:
    cfg = config(ops, **kw)
    return [w.code for w in lint_scenario(cfg.scenarios[1], cfg, 1)]


# each case the manual warns about, as (operation without its fallback, the code expected)
MANUAL_CASES: list[tuple[str, dict[str, Any], str]] = [
    (
        "menu-timeout",
        {"key": "m", "kind": "menu", "exits": {"1": "vm", "invalid": "vm"}},
        "menu_no_timeout",
    ),
    (
        "menu-invalid",
        {"key": "m", "kind": "menu", "exits": {"1": "vm", "timeout": "vm"}},
        "menu_no_invalid",
    ),
    (
        "forward",
        {"key": "f", "kind": "forward", "targets": [{"group_id": 10}]},
        "forward_no_fallback",
    ),
    (
        "extension-failed",
        {"key": "e", "kind": "extension", "exits": {"invalid": "vm"}},
        "extension_no_failed",
    ),
    (
        "extension-invalid",
        {"key": "e", "kind": "extension", "exits": {"failed": "vm"}},
        "extension_no_invalid",
    ),
    ("manager", {"key": "pm", "kind": "personal_manager"}, "manager_no_failed"),
    (
        "region-others",
        {"key": "r", "kind": "region", "branches": [{"region": "Москва", "target": "vm"}]},
        "region_no_others",
    ),
    (
        "segment-no-segment",
        {"key": "s", "kind": "segment", "exits": {"others": "vm"}},
        "segment_no_segment",
    ),
    (
        "segment-others",
        {"key": "s", "kind": "segment", "exits": {"no_segment": "vm"}},
        "segment_no_others",
    ),
    (
        "interactive",
        {"key": "i", "kind": "interactive", "url": "http://crm.local/x"},
        "ivx_no_fallback",
    ),
]


@pytest.mark.parametrize(
    ("op", "code"), [c[1:] for c in MANUAL_CASES], ids=[c[0] for c in MANUAL_CASES]
)
def test_each_manual_case_is_flagged(op: dict[str, Any], code: str) -> None:
    found = codes([op, VM])
    assert code in found
    # and nothing is flagged once the exit is configured
    fixed_exits = {**op.get("exits", {})}
    name = {
        "menu_no_timeout": "timeout",
        "menu_no_invalid": "invalid",
        "forward_no_fallback": "no_answer",
        "extension_no_failed": "failed",
        "extension_no_invalid": "invalid",
        "manager_no_failed": "failed",
        "region_no_others": "others",
        "segment_no_segment": "no_segment",
        "segment_no_others": "others",
        "ivx_no_fallback": "fallback",
    }[code]
    fixed_exits[name] = "vm"
    assert code not in codes([{**op, "exits": fixed_exits}, VM])


def test_the_warning_carries_the_path_and_the_manuals_words() -> None:
    ops: list[dict[str, Any]] = [
        {"key": "m", "kind": "menu", "exits": {"1": "f", "timeout": "f", "invalid": "f"}},
        {"key": "f", "kind": "forward", "targets": [{"group_id": 10}]},
    ]
    cfg = config(ops)
    (warning,) = [
        w for w in lint_scenario(cfg.scenarios[1], cfg, 1) if w.code == "forward_no_fallback"
    ]
    assert warning.path == ("m", "клавиша 1", "f", "после переадресации")
    assert warning.operation == "f"
    assert warning.scenario_id == 1


def test_menu_extension_variant_defaults_back_to_the_menu() -> None:
    ops: list[dict[str, Any]] = [
        {
            "key": "m",
            "kind": "menu",
            "exits": {"timeout": "vm", "invalid": "vm", "extension_input": "e"},
        },
        {"key": "e", "kind": "extension", "from_menu": True, "exits": {"failed": "vm"}},
        VM,
    ]
    assert codes(ops) == []


def test_a_clean_scenario_has_no_warnings() -> None:
    ops: list[dict[str, Any]] = [
        {"key": "hi", "kind": "info", "file_ids": [100], "exits": {"next": "f"}},
        {
            "key": "f",
            "kind": "forward",
            "targets": [{"group_id": 10}],
            "exits": {"no_answer": "vm"},
        },
        VM,
    ]
    assert codes(ops) == []


def test_unreachable_operation() -> None:
    assert "unreachable" in codes([VM, {"key": "lonely", "kind": "info", "text": "x"}])


def test_missing_files_groups_and_segments() -> None:
    ops: list[dict[str, Any]] = [
        {"key": "hi", "kind": "info", "file_ids": [999], "exits": {"next": "f"}},
        {
            "key": "f",
            "kind": "forward",
            "targets": [{"group_id": 77}, {"employee_id": 88}],
            "ringback_file_ids": [998],
            "exits": {"no_answer": "s"},
        },
        {
            "key": "s",
            "kind": "segment",
            "branches": [{"segment_id": 66, "target": "vm"}],
            "exits": {"no_segment": "vm", "others": "vm"},
        },
        VM,
    ]
    found = codes(ops)
    assert found.count("missing_file") == 2
    assert found.count("missing_target") == 2
    assert "missing_segment" in found


def test_insertion_cycle_and_lost_paths_inside_inserted_scenarios() -> None:
    inner = scenario(
        [
            {"key": "x", "kind": "insert", "scenario_id": 1},
        ],
        name="Вложенный",
    )
    lossy = scenario(
        [{"key": "f", "kind": "forward", "targets": [{"group_id": 10}]}], name="Без запасного"
    )
    found = codes(
        [
            {
                "key": "m",
                "kind": "menu",
                "exits": {"1": "a", "2": "b", "timeout": "b", "invalid": "b"},
            },
            {"key": "a", "kind": "insert", "scenario_id": 2},
            {"key": "b", "kind": "insert", "scenario_id": 3},
        ],
        scenarios=[(2, inner), (3, lossy)],
    )
    assert "insert_cycle" in found
    assert "forward_no_fallback" in found


def test_loop_that_never_waits_for_the_caller() -> None:
    ops: list[dict[str, Any]] = [
        {"key": "a", "kind": "info", "text": "a", "exits": {"next": "b"}},
        {"key": "b", "kind": "info", "text": "b", "exits": {"next": "a"}},
    ]
    assert "endless_loop" in codes(ops)


def test_empty_scenario() -> None:
    cfg = config([])
    assert [w.code for w in lint_scenario(cfg.scenarios[1], cfg)] == ["empty_scenario"]


def test_voicemail_without_an_address() -> None:
    assert "voicemail_no_email" in codes([{"key": "vm", "kind": "voicemail"}])


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ([{"scenario_id": 1}], []),
        ([{"scenario_id": 1, "schedule_id": 5}], ["no_rule_fallback"]),
        ([{"scenario_id": 1, "callers": {"scope": "unknown"}}], ["no_rule_fallback"]),
        ([{"scenario_id": 1}, {"scenario_id": 1, "schedule_id": 5}], ["unreachable_rule"]),
        ([{"scenario_id": 9}], ["missing_scenario"]),
    ],
    ids=["always", "only-in-hours", "only-unknown", "shadowed", "missing-scenario"],
)
def test_number_rules(rules: list[dict[str, Any]], expected: list[str]) -> None:
    cfg = config([VM])
    number = VirtualNumber.model_validate({"number": "74950000009", "rules": rules})
    assert [w.code for w in lint_number(number, cfg)] == expected


def test_lint_account_and_dicts() -> None:
    cfg = config([{"key": "pm", "kind": "personal_manager"}])
    found = lint_account(cfg)
    assert all(isinstance(w, LintWarning) for w in found)
    assert found[0].as_dict()["code"] == "manager_no_failed"
