"""SCN-MENU: timeout, invalid input, keys, `#` back, and each rule of the extension input."""

from __future__ import annotations

from typing import Any

import pytest

from tests.scenario.helpers import Driver, config
from vpbx.scenario.actions import CollectDigits, Dial, DialTarget, Play, StopPlayback
from vpbx.scenario.engine import CallState
from vpbx.scenario.events import Answered, DialFailed


def menu_ops(
    extension: bool = True, ext_exits: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    exits: dict[str, str] = {"1": "one", "2": "two", "timeout": "late", "invalid": "bad"}
    if extension:
        exits["extension_input"] = "ext"
    ops: list[dict[str, Any]] = [
        {"key": "menu", "kind": "menu", "prompt_file_id": 103, "timeout": 5, "exits": exits},
        {"key": "one", "kind": "info", "text": "один"},
        {"key": "two", "kind": "info", "text": "два"},
        {"key": "late", "kind": "info", "text": "таймаут"},
        {"key": "bad", "kind": "info", "text": "ошибка"},
        {"key": "fallback", "kind": "voicemail", "emails": ["a@b.ru"]},
    ]
    if extension:
        ops.append({"key": "ext", "kind": "extension", "from_menu": True, "exits": ext_exits or {}})
    return ops


def started(ops: list[dict[str, Any]]) -> Driver:
    d = Driver(config(ops))
    first = d.arrive()
    assert isinstance(first[1], Play)
    assert first[1].file_ids == (103,)
    assert first[1].barge_in
    assert first[2] == CollectDigits(32, 5, "#")
    d.played()
    return d


def current(d: Driver) -> str | None:
    op = d.call._op  # the operation the call is in
    return op.key if op is not None else None


# -- plain menu ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "wait", "expected"),
    [
        ("1", 0, "one"),
        ("2", 0, "two"),
        ("9", 0, "bad"),  # a key without an exit → invalid input
        ("*", 0, "bad"),
        ("", 5, "late"),  # nothing pressed within the timeout
    ],
    ids=["key-1", "key-2", "unset-key-invalid", "star-invalid", "timeout"],
)
def test_plain_menu_exits(keys: str, wait: float, expected: str) -> None:
    d = started(menu_ops(extension=False))
    d.keys(keys)
    d.advance(wait)
    assert current(d) == expected


def test_plain_menu_decides_at_the_first_key_without_waiting() -> None:
    d = started(menu_ops(extension=False))
    d.keys("1")
    assert current(d) == "one"


def test_timeout_counts_from_the_end_of_the_prompt() -> None:
    d = Driver(config(menu_ops(extension=False)))
    d.arrive()
    d.advance(30)  # the prompt is still playing: no timeout yet
    assert current(d) == "menu"
    d.played()
    d.advance(4.9)
    assert current(d) == "menu"
    d.advance(0.2)
    assert current(d) == "late"


def test_a_key_stops_the_prompt() -> None:
    d = Driver(config(menu_ops(extension=False)))
    d.arrive()
    out = d.keys("1")
    assert out[0] == StopPlayback()


def test_unlinked_timeout_ends_the_call() -> None:
    ops = menu_ops(extension=False)
    del ops[0]["exits"]["timeout"]
    d = started(ops)
    d.advance(5)
    assert d.outcome is not None
    assert d.outcome.reason == "unlinked_exit"
    assert "не настроен" in d.texts()[-1]


# -- the extension input: the manual's rules, one case each -----------------------------------


def test_rule_one_digit_with_a_key_exit_follows_the_key() -> None:
    """«если ввели номер в одну цифру и на соответствующей клавише Меню задана операция»."""
    d = started(menu_ops())
    d.keys("1")
    assert current(d) == "menu"  # waits the inter-digit interval: a longer number may follow
    d.advance(5)
    assert current(d) == "one"
    assert "меню: одна цифра 1, на клавише есть выход" in d.texts()


def test_rule_one_digit_without_a_key_exit_is_an_extension() -> None:
    """«в одну цифру и в Меню нет настроек на данной клавише» → переадресация на внутренний."""
    d = started(menu_ops())
    out = d.keys("3") + d.advance(5)
    assert Dial((DialTarget(employee_id=3),), operation="ext", scenario_id=1) in out
    assert "меню: цифра 3 без выхода → внутренний номер 3" in d.texts()


def test_rule_several_digits_are_an_extension() -> None:
    """«если ввели номер длиной более 1 цифры» — even when its first digit has a key exit."""
    d = started(menu_ops())
    out = d.keys("102") + d.advance(5)
    dial = next(a for a in out if isinstance(a, Dial))
    assert dial.targets == (DialTarget(employee_id=2),)


def test_rule_group_extension() -> None:
    d = started(menu_ops())
    out = d.keys("200") + d.advance(5)
    dial = next(a for a in out if isinstance(a, Dial))
    assert dial.targets == (DialTarget(group_id=10),)


def test_rule_hash_ends_the_extension_early() -> None:
    d = started(menu_ops())
    out = d.keys("101#")
    assert any(isinstance(a, Dial) for a in out)


def test_rule_inter_digit_interval_is_the_menu_timeout() -> None:
    ops = menu_ops()
    ops[0]["timeout"] = 8
    d = Driver(config(ops))
    d.arrive()
    d.played()
    d.keys("10")
    d.advance(7.9)
    assert d.call.state is CallState.COLLECTING
    d.keys("1", gap=0)
    d.advance(7.9)
    assert d.call.state is CallState.COLLECTING
    d.advance(0.2)
    assert d.call.state.value == "dialing"


def test_rule_extension_not_found_plays_input_timeout_and_returns_to_the_menu() -> None:
    """«абонент обратно попадает в Меню … системное сообщение input_timeout («Секунда тишины»)»."""
    d = started(menu_ops())
    out = d.keys("555") + d.advance(5)
    assert out[-1] == Play(system="input_timeout")
    assert "проигрывание: 'Секунда тишины' (input_timeout)" in d.texts()
    again = d.played()
    assert isinstance(again[0], Play)
    assert again[0].file_ids == (103,)
    assert current(d) == "menu"


def test_rule_number_entered_incorrectly_exit_can_be_changed() -> None:
    d = started(menu_ops(ext_exits={"invalid": "fallback"}))
    d.keys("555")
    d.advance(5)
    assert current(d) == "fallback"


def test_rule_forwarding_failed_exit() -> None:
    d = started(menu_ops(ext_exits={"failed": "fallback"}))
    d.keys("101")
    d.advance(5)
    d.send(DialFailed("busy", ("Иванов Иван: занят",)))
    assert current(d) == "fallback"


def test_rule_forwarding_failed_unlinked_ends_the_call() -> None:
    d = started(menu_ops())
    d.keys("101")
    d.advance(5)
    d.send(DialFailed("no_answer"))
    assert d.outcome is not None
    assert d.outcome.reason == "unlinked_exit"


def test_rule_extension_answered_is_bridged() -> None:
    d = started(menu_ops())
    d.keys("101#")
    out = d.send(Answered(1, "p1"))
    assert d.call.state is CallState.TALKING
    assert out[0].__class__.__name__ == "Bridge"


def test_rule_timeout_without_input_still_takes_timeout() -> None:
    d = started(menu_ops())
    d.advance(5)
    assert current(d) == "late"


def test_rule_without_the_exit_the_menu_works_as_before() -> None:
    """«для того, чтобы Меню работало как и прежде, достаточно удалить настройку на выходе»."""
    d = started(menu_ops(extension=False))
    d.keys("3")
    assert current(d) == "bad"


# -- multi-level menus: `#` returns to the previous menu ---------------------------------------


def two_level(hash_returns: bool = True, hash_exit: str | None = None) -> list[dict[str, Any]]:
    sub_exits: dict[str, str] = {"1": "leaf", "timeout": "leaf", "invalid": "leaf"}
    if hash_exit:
        sub_exits["#"] = hash_exit
    return [
        {"key": "top", "kind": "menu", "prompt_text": "верхнее", "exits": {"5": "sub"}},
        {
            "key": "sub",
            "kind": "menu",
            "prompt_text": "подменю",
            "hash_returns": hash_returns,
            "exits": sub_exits,
        },
        {"key": "leaf", "kind": "info", "text": "лист"},
    ]


def test_hash_returns_to_the_previous_menu() -> None:
    d = Driver(config(two_level()))
    d.arrive()
    d.played()
    d.keys("5")
    assert current(d) == "sub"
    d.played()
    d.keys("#")
    assert current(d) == "top"
    assert any("возврат в предыдущее меню" in t for t in d.texts())
    d.played()
    d.keys("5")
    assert current(d) == "sub"


def test_hash_without_the_setting_is_invalid_input() -> None:
    d = Driver(config(two_level(hash_returns=False)))
    d.arrive()
    d.played()
    d.keys("5")
    d.played()
    d.keys("#")
    assert current(d) == "leaf"


def test_an_explicit_hash_exit_wins() -> None:
    d = Driver(config(two_level(hash_exit="leaf")))
    d.arrive()
    d.played()
    d.keys("5")
    d.played()
    d.keys("#")
    assert current(d) == "leaf"


def test_hash_in_the_first_menu_has_nowhere_to_go() -> None:
    ops = two_level()
    ops[0]["hash_returns"] = True
    ops[0]["exits"]["invalid"] = "leaf"
    d = Driver(config(ops))
    d.arrive()
    d.played()
    d.keys("#")
    assert current(d) == "leaf"
