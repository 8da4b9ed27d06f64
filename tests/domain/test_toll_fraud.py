"""The toll-fraud guard's pure decisions with a fake clock: destinations, simultaneous calls,
minutes per sliding hour charged as calls proceed, and when a talking call is cut."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from vpbx.domain.entities.misc import Account
from vpbx.domain.entities.toll_fraud import TollFraudPolicy
from vpbx.domain.toll_fraud import (
    HOUR,
    InProcessCounters,
    OutgoingLedger,
    Refusal,
    Rule,
    destination_refusal,
    normalize,
)

DEFAULT = TollFraudPolicy()


def rule_of(refusal: Refusal | None) -> Rule | None:
    return refusal.rule if refusal is not None else None


@pytest.mark.parametrize(
    ("dialled", "e164"),
    [
        ("79161234567", "79161234567"),
        ("89161234567", "79161234567"),
        ("9161234567", "79161234567"),
        ("4951234567", "74951234567"),
        ("+79161234567", "79161234567"),
        ("+442071234567", "442071234567"),
        ("00442071234567", "442071234567"),
        ("810442071234567", "442071234567"),
        ("88091234567", "78091234567"),
        ("+78091234567", "78091234567"),
        ("12025550100", "12025550100"),
        ("77012345678", "77012345678"),
    ],
)
def test_normalize_reads_russian_and_international_dialling(dialled: str, e164: str) -> None:
    assert normalize(dialled) == e164


@pytest.mark.parametrize(
    ("dialled", "rule"),
    [
        ("79161234567", None),  # Russian mobile
        ("84951234567", None),  # Moscow with the domestic 8
        ("88001234567", None),  # free-phone 8-800
        ("00442071234567", Rule.DESTINATION),
        ("+442071234567", Rule.DESTINATION),
        ("810442071234567", Rule.DESTINATION),
        ("12025550100", Rule.DESTINATION),  # an employee's US mobile, as stored
        ("77012345678", Rule.DESTINATION),  # +7 7xx is Kazakhstan: international
        ("88091234567", Rule.BLOCKED_PREFIX),  # premium-rate 8-809
        ("+78091234567", Rule.BLOCKED_PREFIX),
    ],
)
def test_defaults_allow_russia_and_refuse_international_and_premium(
    dialled: str, rule: Rule | None
) -> None:
    refusal = destination_refusal(DEFAULT, dialled)
    assert (refusal.rule if refusal else None) == rule
    if refusal is not None:
        assert refusal.text.startswith("исходящий вызов запрещён: ")
        assert refusal.reason.isascii()


def test_the_longest_prefix_decides_and_a_blocked_one_wins_a_tie() -> None:
    policy = TollFraudPolicy(allowed_prefixes=["7", "44", "7809123"], blocked_prefixes=["7809"])
    assert destination_refusal(policy, "442071234567") is None
    assert destination_refusal(policy, "77012345678") is None
    assert destination_refusal(policy, "78091234567") is None  # the longer allowed exception
    refused = destination_refusal(policy, "78095554433")
    assert rule_of(refused) is Rule.BLOCKED_PREFIX
    tie = TollFraudPolicy(allowed_prefixes=["7809"], blocked_prefixes=["7809"])
    refused = destination_refusal(tie, "78091234567")
    assert rule_of(refused) is Rule.BLOCKED_PREFIX


def test_policy_defaults_and_validation_name_the_field() -> None:
    assert Account(name="A").toll_fraud == DEFAULT
    assert DEFAULT.max_simultaneous_calls == 10
    assert DEFAULT.max_minutes_per_hour == 600
    # An empty stored document (accounts from before migration 0007) reads as the defaults.
    assert TollFraudPolicy.model_validate({}) == DEFAULT
    with pytest.raises(ValidationError) as error:
        Account.model_validate({"name": "A", "toll_fraud": {"allowed_prefixes": ["+44"]}})
    assert error.value.errors()[0]["loc"] == ("toll_fraud", "allowed_prefixes", 0)
    with pytest.raises(ValidationError) as error:
        TollFraudPolicy.model_validate({"max_simultaneous_calls": -1})
    assert error.value.errors()[0]["loc"] == ("max_simultaneous_calls",)


def test_the_n_plus_first_simultaneous_call_is_refused_and_a_release_frees_its_place() -> None:
    ledger = OutgoingLedger()
    policy = TollFraudPolicy(max_simultaneous_calls=2)
    assert ledger.admit(1, "a", policy, "79161234567", 0.0) is None
    assert ledger.admit(1, "b", policy, "79161234567", 0.0) is None
    refused = ledger.admit(1, "c", policy, "79161234567", 0.0)
    assert rule_of(refused) is Rule.SIMULTANEOUS
    assert refused is not None
    assert "2 из 2" in refused.text
    # Another account has its own count.
    assert ledger.admit(2, "x", policy, "79161234567", 0.0) is None
    ledger.release("a", 1.0)
    ledger.release("a", 1.0)  # twice: every path that ends a leg may say so
    assert ledger.active(1) == 1
    assert ledger.admit(1, "c", policy, "79161234567", 1.0) is None


def test_a_refused_destination_takes_no_place() -> None:
    ledger = OutgoingLedger()
    policy = TollFraudPolicy(max_simultaneous_calls=1)
    assert ledger.admit(1, "a", policy, "0044207", 0.0) is not None
    assert ledger.active(1) == 0
    assert ledger.admit(1, "b", policy, "79161234567", 0.0) is None


def test_zero_caps_refuse_every_outgoing_call() -> None:
    ledger = OutgoingLedger()
    refused = ledger.admit(1, "a", TollFraudPolicy(max_simultaneous_calls=0), "79161234567", 0)
    assert rule_of(refused) is Rule.SIMULTANEOUS
    refused = ledger.admit(1, "a", TollFraudPolicy(max_minutes_per_hour=0), "79161234567", 0)
    assert rule_of(refused) is Rule.MINUTES


def test_minutes_are_charged_as_a_call_proceeds_and_leave_the_window_after_an_hour() -> None:
    ledger = OutgoingLedger()
    policy = TollFraudPolicy(max_minutes_per_hour=10)
    assert ledger.admit(1, "a", policy, "79161234567", 0.0) is None
    assert ledger.used_seconds(1, 5.0) == 0.0  # ringing costs nothing
    ledger.answered("a", 10.0)
    assert ledger.used_seconds(1, 310.0) == 300.0  # in progress: counted up to now
    # A second call while the first talks: 5 of 10 minutes are used, so it is admitted.
    assert ledger.admit(1, "b", policy, "79161234567", 310.0) is None
    ledger.release("b", 311.0)
    ledger.release("a", 610.0)
    assert ledger.used_seconds(1, 610.0) == 600.0
    refused = ledger.admit(1, "c", policy, "79161234567", 611.0)
    assert rule_of(refused) is Rule.MINUTES
    # The window slides: an hour after the answer, its first second is forgotten.
    assert ledger.used_seconds(1, 10.0 + HOUR + 60.0) == 540.0
    assert ledger.admit(1, "c", policy, "79161234567", 10.0 + HOUR + 60.0) is None
    assert ledger.used_seconds(1, 610.0 + HOUR) == 0.0


def test_one_long_call_is_cut_when_the_hour_is_used_up() -> None:
    ledger = OutgoingLedger()
    policy = TollFraudPolicy(max_minutes_per_hour=10)
    ledger.admit(1, "a", policy, "79161234567", 0.0)
    assert ledger.next_check(0.0) is None  # nothing talks yet
    ledger.answered("a", 0.0)
    assert ledger.next_check(0.0) == 600.0
    assert ledger.over_limit(599.0) == []
    assert ledger.over_limit(600.0) == ["a"]


def test_two_talking_calls_reach_the_cap_twice_as_fast() -> None:
    ledger = OutgoingLedger()
    policy = TollFraudPolicy(max_minutes_per_hour=10)
    for lease in ("a", "b"):
        ledger.admit(1, lease, policy, "79161234567", 0.0)
        ledger.answered(lease, 0.0)
    assert ledger.next_check(0.0) == 300.0
    assert sorted(ledger.over_limit(300.0)) == ["a", "b"]
    # A ringing lease of the same account is not cut (it costs nothing until answered).
    ledger.admit(2, "c", policy, "79161234567", 0.0)
    assert "c" not in ledger.over_limit(300.0)


async def test_the_in_process_store_answers_the_interface() -> None:
    counters = InProcessCounters()
    policy = TollFraudPolicy(max_simultaneous_calls=1, max_minutes_per_hour=1)
    assert await counters.admit(1, "a", policy, "79161234567", 0.0) is None
    assert await counters.active(1) == 1
    await counters.answered("a", 0.0)
    assert await counters.next_check(0.0) == 60.0
    assert await counters.over_limit(60.0) == ["a"]
    await counters.release("a", 60.0)
    assert await counters.active(1) == 0
    assert await counters.next_check(60.0) is None


# -- properties: whatever happens, the caps hold ------------------------------------------------

_events = st.lists(
    st.tuples(
        st.sampled_from(["admit", "answer", "release"]),
        st.integers(min_value=0, max_value=5),  # lease
        st.floats(min_value=0.0, max_value=400.0),  # seconds since the previous event
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(events=_events, cap=st.integers(min_value=0, max_value=4), minutes=st.integers(0, 5))
def test_leases_never_exceed_the_cap_and_talk_never_exceeds_a_cut_hour(
    events: list[tuple[str, int, float]], cap: int, minutes: int
) -> None:
    """Simultaneous leases never exceed the cap; and when the switch obeys `next_check` and
    `over_limit` (cutting at the time it is told), talk in any hour never exceeds the cap."""
    ledger = OutgoingLedger()
    policy = TollFraudPolicy(max_simultaneous_calls=cap, max_minutes_per_hour=minutes)
    now = 0.0
    held: set[str] = set()
    for kind, number, gap in events:
        target = now + gap
        # The switch's timer: wake at every check due before the next event and cut.
        for _wake in range(1000):
            due = ledger.next_check(now)
            if due is None or due > target:
                break
            now = max(now, due)
            for lease in ledger.over_limit(now):
                ledger.release(lease, now)
                held.discard(lease)
        else:
            raise AssertionError("next_check never moved on")
        now = target
        lease = f"l{number}"
        if kind == "admit" and lease not in held:
            if ledger.admit(1, lease, policy, "79161234567", now) is None:
                held.add(lease)
        elif kind == "answer":
            ledger.answered(lease, now)
        elif kind == "release":
            ledger.release(lease, now)
            held.discard(lease)
        assert ledger.active(1) == len(held) <= cap
        assert ledger.used_seconds(1, now) <= minutes * 60.0 + 1e-3


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.from_regex(r"[1-9][0-9]{0,5}", fullmatch=True),
    rest=st.from_regex(r"[0-9]{0,8}", fullmatch=True),
)
def test_a_blocked_prefix_refuses_every_number_under_it_whatever_the_dialling_form(
    prefix: str, rest: str
) -> None:
    policy = TollFraudPolicy(allowed_prefixes=[prefix[:1]], blocked_prefixes=[prefix])
    for form in (f"+{prefix}{rest}", f"00{prefix}{rest}", f"810{prefix}{rest}"):
        refusal = destination_refusal(policy, form)
        assert rule_of(refusal) is Rule.BLOCKED_PREFIX, form
