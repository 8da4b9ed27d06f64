"""Which virtual number an outgoing call shows (CID-1..3): pure, no I/O, randomness passed in.

The manual's «Автоматический выбор АОНа»: a SIP line shows a fixed number, the number the
subscriber last dealt with, a random number of the pool (never the one shown to him last time),
a random number of his region, or one number of his region kept for him. The pool is every
virtual number of the account (PBX, analytics, third-party: CID-2), narrowed by the account's
allow/deny rules (CID-3: first match wins, a rule with no numbers or no employees matches all).
When nothing fits, the line's default number is shown; a default the rules deny blocks the call,
with the reason the report shows.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from vpbx.domain.regions import NumberRange

__all__ = [
    "CallerIdChoice",
    "CallerIdFacts",
    "CidRuleView",
    "Mode",
    "PoolNumber",
    "SubscriberHistory",
    "allowed",
    "choose_caller_id",
]


class Mode(enum.StrEnum):
    """The line's setting (mirrors `CallerIdMode` of the entities)."""

    FIXED = "fixed"
    FIXED_PER_SUBSCRIBER = "fixed_per_subscriber"
    RANDOM = "random"
    REGIONAL_RANDOM = "regional_random"
    REGIONAL_FIXED = "regional_fixed"


@dataclass(frozen=True, slots=True)
class PoolNumber:
    """A virtual number of the account that can be shown, and the region it belongs to."""

    id: int
    number: str
    #: `region_key` of the number's region (its owner's, not where it is used); None: unknown
    region: str | None = None
    trunk_id: int | None = None


@dataclass(frozen=True, slots=True)
class CidRuleView:
    """CID-3: one allow/deny rule; empty sets match every number or every employee."""

    allow: bool
    number_ids: frozenset[int] = frozenset()
    employee_ids: frozenset[int] = frozenset()

    def matches(self, number_id: int, employee_id: int | None) -> bool:
        if self.number_ids and number_id not in self.number_ids:
            return False
        return not self.employee_ids or employee_id in self.employee_ids


@dataclass(frozen=True, slots=True)
class SubscriberHistory:
    """What the account's calls say about one subscriber."""

    #: the virtual number of his latest call with us, in or out (fixed for the subscriber)
    last_contact: int | None = None
    #: the number our latest outgoing call to him showed (random never repeats it)
    last_shown: int | None = None


@dataclass(frozen=True, slots=True)
class CallerIdFacts:
    """What the database knows for one choice: the subscriber's history, and the numbering-plan
    rows of the subscriber and of the account's numbers without a region of their own."""

    history: SubscriberHistory = SubscriberHistory()
    ranges: tuple[NumberRange, ...] = ()


@dataclass(frozen=True, slots=True)
class CallerIdChoice:
    """The number to show, or why the call may not go out (`number` None and `refusal` set).
    `number` None without a refusal: the line has no number at all (the trunk decides)."""

    number: PoolNumber | None
    why: str
    refusal: str = ""


def allowed(rules: Iterable[CidRuleView], number_id: int, employee_id: int | None) -> bool:
    """CID-3: the first rule matching the number and the employee decides; none: allowed."""
    for rule in rules:
        if rule.matches(number_id, employee_id):
            return rule.allow
    return True


def choose_caller_id(
    mode: str,
    default_id: int | None,
    pool: Sequence[PoolNumber],
    rules: Sequence[CidRuleView],
    employee_id: int | None,
    subscriber_region: str | None,
    history: SubscriberHistory,
    pick: Callable[[Sequence[PoolNumber]], PoolNumber],
) -> CallerIdChoice:
    """The caller ID of an outgoing call by the line's `mode` (an unknown one counts as fixed);
    `default_id` is the line's number (the fixed one, or the default of the other modes);
    `pick` chooses one of several candidates (random in production, fixed in tests)."""
    by_id = {n.id: n for n in pool}
    usable = [n for n in pool if allowed(rules, n.id, employee_id)]
    usable_ids = {n.id for n in usable}
    regional = [n for n in usable if subscriber_region and n.region == subscriber_region]
    found: PoolNumber | None = None
    why = ""
    match mode:
        case Mode.FIXED_PER_SUBSCRIBER:
            if history.last_contact in usable_ids:
                found, why = by_id[history.last_contact], "номер последнего контакта с абонентом"
        case Mode.RANDOM:
            fresh = [n for n in usable if n.id != history.last_shown]
            if fresh:
                found, why = pick(fresh), "случайный номер (не тот, что в прошлый раз)"
        case Mode.REGIONAL_RANDOM:
            if regional:
                found, why = pick(regional), "случайный номер региона абонента"
        case Mode.REGIONAL_FIXED:
            kept = [n for n in regional if n.id in (history.last_shown, history.last_contact)]
            if kept:
                found, why = kept[0], "номер региона абонента, показанный ему ранее"
            elif regional:
                found, why = pick(regional), "номер региона абонента"
    if found is not None:
        return CallerIdChoice(found, why)
    return _default(mode, default_id, by_id, rules, employee_id)


def _default(
    mode: str,
    default_id: int | None,
    by_id: dict[int, PoolNumber],
    rules: Sequence[CidRuleView],
    employee_id: int | None,
) -> CallerIdChoice:
    fixed = mode not in set(Mode) or mode == Mode.FIXED
    why = "номер линии" if fixed else "номер по умолчанию: подходящего номера нет"
    if default_id is None:
        return CallerIdChoice(None, "у линии нет исходящего номера")
    number = by_id.get(default_id)
    if number is None:
        return CallerIdChoice(None, "", refusal="исходящий номер линии не подключен")
    if not allowed(rules, default_id, employee_id):
        return CallerIdChoice(
            None, "", refusal=f"номер {number.number} запрещен правилами выбора АОН"
        )
    return CallerIdChoice(number, why)
