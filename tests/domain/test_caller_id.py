"""CID-1..3: the outgoing caller ID each mode chooses, the rules' first match, the fallbacks."""

from __future__ import annotations

import random
from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from vpbx.domain.caller_id import (
    CidRuleView,
    Mode,
    PoolNumber,
    SubscriberHistory,
    allowed,
    choose_caller_id,
)

MSK = [PoolNumber(1, "74951110001", "москва"), PoolNumber(2, "74951110002", "москва")]
EKB = [PoolNumber(3, "73432220003", "свердловская область")]
POOL = [*MSK, *EKB, PoolNumber(4, "78001112233", None)]
NONE = SubscriberHistory()


def first(items: Sequence[PoolNumber]) -> PoolNumber:
    return items[0]


def choose(mode: str, **kw: object) -> tuple[int | None, str]:
    args: dict[str, object] = {
        "default_id": 4,
        "pool": POOL,
        "rules": (),
        "employee_id": 7,
        "subscriber_region": None,
        "history": NONE,
        "pick": first,
    }
    args.update(kw)
    choice = choose_caller_id(mode, **args)  # type: ignore[arg-type]
    return (choice.number.id if choice.number else None), choice.refusal


def test_fixed_shows_the_lines_number_whatever_the_history() -> None:
    assert choose(Mode.FIXED, history=SubscriberHistory(1, 2)) == (4, "")


def test_fixed_for_the_subscriber_is_his_last_contact_else_the_default() -> None:
    assert choose(Mode.FIXED_PER_SUBSCRIBER, history=SubscriberHistory(last_contact=3)) == (3, "")
    assert choose(Mode.FIXED_PER_SUBSCRIBER) == (4, "")
    # a number no longer connected is not shown: the default is
    assert choose(Mode.FIXED_PER_SUBSCRIBER, history=SubscriberHistory(last_contact=99)) == (4, "")


def test_random_never_shows_the_number_shown_last_time() -> None:
    assert choose(Mode.RANDOM, history=SubscriberHistory(last_shown=1)) == (2, "")
    assert choose(Mode.RANDOM) == (1, "")


def test_regional_modes_keep_to_the_subscribers_region() -> None:
    assert choose(Mode.REGIONAL_RANDOM, subscriber_region="свердловская область") == (3, "")
    # no number of his region: the default
    assert choose(Mode.REGIONAL_RANDOM, subscriber_region="тверская область") == (4, "")
    assert choose(Mode.REGIONAL_RANDOM) == (4, "")


def test_regional_fixed_shows_him_the_same_regional_number_again() -> None:
    history = SubscriberHistory(last_contact=None, last_shown=2)
    assert choose(Mode.REGIONAL_FIXED, subscriber_region="москва", history=history) == (2, "")
    assert choose(Mode.REGIONAL_FIXED, subscriber_region="москва") == (1, "")
    # what he saw last is from another region: a number of his own
    assert choose(
        Mode.REGIONAL_FIXED, subscriber_region="москва", history=SubscriberHistory(3, 3)
    ) == (
        1,
        "",
    )


def test_the_first_matching_rule_decides_and_empty_lists_match_all() -> None:
    # the manual's task 1: the project's number allowed to its employee, denied to the rest
    rules = (
        CidRuleView(True, frozenset({1}), frozenset({7})),
        CidRuleView(False, frozenset({1})),
    )
    assert allowed(rules, 1, 7)
    assert not allowed(rules, 1, 8)
    assert allowed(rules, 2, 8)
    # task 2: only the listed numbers, everything else denied
    only = (CidRuleView(True, frozenset({2})), CidRuleView(False))
    assert choose(Mode.RANDOM, rules=only, default_id=2) == (2, "")


def test_a_denied_default_blocks_the_call_with_the_reason() -> None:
    deny_all = (CidRuleView(False),)
    number, refusal = choose(Mode.FIXED, rules=deny_all)
    assert number is None
    assert refusal == "номер 78001112233 запрещен правилами выбора АОН"
    assert choose(Mode.RANDOM, rules=deny_all)[1].startswith("номер 78001112233 запрещен")


def test_a_line_without_a_number_leaves_it_to_the_trunk_and_a_vanished_one_refuses() -> None:
    assert choose(Mode.FIXED, default_id=None) == (None, "")
    assert choose(Mode.FIXED, default_id=99) == (None, "исходящий номер линии не подключен")


def test_an_unknown_mode_counts_as_fixed() -> None:
    assert choose("something-else", history=SubscriberHistory(1, 1)) == (4, "")


@given(
    st.lists(st.booleans(), min_size=4, max_size=4),
    st.sampled_from(list(Mode)),
    st.sampled_from([None, 1, 2, 3, 4]),
    st.sampled_from([None, 1, 2, 3, 4]),
    st.sampled_from([None, "москва", "свердловская область"]),
    st.integers(0, 2**32),
)
def test_whatever_is_shown_is_allowed_and_random_never_repeats(
    allow: list[bool],
    mode: Mode,
    contact: int | None,
    shown: int | None,
    region: str | None,
    seed: int,
) -> None:
    rules = tuple(CidRuleView(ok, frozenset({n.id})) for ok, n in zip(allow, POOL, strict=True))
    history = SubscriberHistory(contact, shown)
    choice = choose_caller_id(mode, 4, POOL, rules, 7, region, history, random.Random(seed).choice)
    if choice.number is None:
        assert choice.refusal  # the default (4) is connected: no number means refused
        assert not allow[3]
        return
    assert allowed(rules, choice.number.id, 7)
    fresh = [n for n, ok in zip(POOL, allow, strict=True) if ok and n.id != shown]
    if mode is Mode.RANDOM and fresh:
        assert choice.number.id != shown
