"""NUM-2..4 and BLK: blacklist first, ordered rules with schedule and callers, no route."""

from __future__ import annotations

from typing import Any

import pytest

from tests.scenario.helpers import CALLER, NIGHT, NOW, VIP_CALLER, Driver, config
from vpbx.domain.entities.routing import VirtualNumber
from vpbx.scenario.actions import Answer, Dial, DialTarget, Hangup, Play, Reject
from vpbx.scenario.events import Answered, PlaybackDone, TalkEnded
from vpbx.scenario.snapshot import ConfigSnapshot

OPS = [{"key": "hello", "kind": "info", "text": "привет"}]


def rule(scope: str = "all", schedule: int | None = None, **extra: Any) -> dict[str, Any]:
    callers: dict[str, Any] = {"scope": scope}
    callers.update(extra)
    out: dict[str, Any] = {"scenario_id": 1, "callers": callers, "name": f"r-{scope}"}
    if schedule is not None:
        out["schedule_id"] = schedule
    return out


def matched_rule(d: Driver) -> int | None:
    found = [s for s in d.call.details if s.kind == "rule"]
    return found[0].data.get("rule") if found else None


@pytest.mark.parametrize(
    ("rules", "caller", "now", "expected"),
    [
        ([rule()], CALLER, NOW, 1),
        ([rule(schedule=5), rule()], CALLER, NOW, 1),  # inside the schedule
        ([rule(schedule=5), rule()], CALLER, NIGHT, 2),  # outside: the next rule
        ([rule("unknown"), rule()], CALLER, NOW, 1),  # not in the address book
        ([rule("unknown"), rule()], VIP_CALLER, NOW, 2),
        ([rule("contacts", contact_ids=[20]), rule()], VIP_CALLER, NOW, 1),
        ([rule("contacts", contact_ids=[21]), rule()], VIP_CALLER, NOW, 2),
        ([rule("contact_groups", contact_group_ids=[30]), rule()], VIP_CALLER, NOW, 1),
        ([rule("contact_groups", contact_group_ids=[30]), rule()], CALLER, NOW, 2),
        ([rule("lists", caller_list_ids=[40]), rule()], "78121234567", NOW, 1),  # prefix 7812*
        ([rule("lists", caller_list_ids=[40]), rule()], CALLER, NOW, 2),
        ([{**rule(), "enabled": False}, rule()], CALLER, NOW, 2),
        ([rule("unknown", schedule=5), rule("all", schedule=5)], CALLER, NIGHT, None),
    ],
    ids=[
        "all",
        "schedule-in",
        "schedule-out",
        "unknown",
        "known-not-unknown",
        "contact",
        "other-contact",
        "contact-group",
        "not-in-group",
        "caller-list",
        "not-in-list",
        "disabled",
        "none",
    ],
)
def test_first_matching_rule_wins(
    rules: list[dict[str, Any]], caller: str, now: Any, expected: int | None
) -> None:
    d = Driver(config(OPS, rules=rules), now=now)
    out = d.arrive(caller)
    assert matched_rule(d) == expected
    if expected is None:
        assert out == [Answer(), Play(system="no_route")]
        assert any("no_route" in t for t in d.texts())
        end = d.send(PlaybackDone())
        assert isinstance(end[0], Hangup)
        assert end[0].reason == "no_route"


def test_the_reason_names_schedule_and_list() -> None:
    rules = [rule("lists", schedule=5, caller_list_ids=[40])]
    d = Driver(config(OPS, rules=rules))
    d.arrive("78121234567")
    assert "правило 1 'r-lists': график 'Рабочее время', список 'Питер'" in d.texts()


def test_skipped_rules_say_why() -> None:
    d = Driver(config(OPS, rules=[rule(schedule=5), rule()]), now=NIGHT)
    d.arrive()
    assert "правило 1 'r-all' не подошло: вне графика 'Рабочее время'" in d.texts()


def test_blacklist_is_checked_before_any_rule() -> None:
    d = Driver(config(OPS, blacklist=["+7 (916) 123-45-67"]))
    out = d.arrive(CALLER)
    assert out == [Reject("blacklisted")]
    assert d.kinds() == ["arrived", "blocked"]
    assert d.call.ended


def test_unknown_number_is_a_defined_outcome() -> None:
    d = Driver(config(OPS))
    out = d.arrive(number="74959999999")
    assert out == [Answer(), Play(system="no_route")]


def test_eight_prefix_is_the_same_caller() -> None:
    d = Driver(config(OPS, rules=[rule("contacts", contact_ids=[20])]))
    d.arrive("8" + VIP_CALLER[1:])
    assert matched_rule(d) == 1


def test_analytics_number_forwards_to_its_one_number() -> None:
    analytics = VirtualNumber.model_validate(
        {"number": "74950000002", "kind": "analytics", "forward_to": "74951112233"}
    )
    cfg: ConfigSnapshot = config(OPS, numbers=[(2, analytics)])
    d = Driver(cfg)
    out = d.arrive(number="74950000002")
    assert out == [Dial((DialTarget(number="74951112233"),), operation="analytics")]
    d.send(Answered(number="74951112233"))
    assert isinstance(d.send(TalkEnded("caller"))[-1], Hangup)
