"""Auto-callback decisions (CB-1..3), pure: which rule takes a missed call, when its attempts
are due, whether a call cancels the remaining attempts. No clock, no database: the services
(`vpbx.services.callbacks`) bring the rows, the schedules as predicates and `now`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from vpbx.domain.entities.callback import (
    MAX_ATTEMPTS,
    CallbackRule,
    LeadCallbackRule,
    LeadSource,
    LossPlace,
)
from vpbx.domain.switch_records import CallRecord, StepRecord

__all__ = [
    "SCHEDULE_HORIZON",
    "DueTask",
    "LeadFacts",
    "MissedCall",
    "MissedFacts",
    "attempt_due",
    "first_lead_rule",
    "first_rule",
    "lead_matches",
    "loss_matches",
    "missed_call",
    "next_active",
    "same_subscriber",
    "site_host",
]

#: how far ahead a callback schedule is searched for its next active minute
SCHEDULE_HORIZON = dt.timedelta(days=14)
_STEP = dt.timedelta(minutes=1)

Active = Callable[[dt.datetime], bool]


@dataclass(frozen=True, slots=True)
class MissedCall:
    """A call the caller left before talking to anybody, as the rules see it."""

    account_id: int
    call_id: int | None
    caller: str
    ended_at: dt.datetime
    wait_seconds: float
    number_id: int | None = None
    scenario_id: int | None = None
    #: lost in a transfer (the caller left while a transfer target rang)
    in_transfer: bool = False


def loss_matches(rule: CallbackRule, missed: MissedCall) -> bool:
    """CB-1 «Место потери» and «Не перезванивать, если абонент ожидал менее N с»."""
    match rule.place:
        case LossPlace.NUMBER:
            place = missed.number_id is not None and missed.number_id == rule.number_id
        case LossPlace.SCENARIO:
            place = missed.scenario_id is not None and missed.scenario_id == rule.scenario_id
        case LossPlace.TRANSFER:
            return missed.in_transfer  # the minimum wait does not apply (CB-1)
        case _:
            place = True
    return place and missed.wait_seconds >= rule.min_wait_seconds


def first_rule(
    rules: Iterable[tuple[int, CallbackRule]],
    missed: MissedCall,
    rule_active: Callable[[CallbackRule], bool],
) -> tuple[int, CallbackRule] | None:
    """The first enabled rule (by `position`, then id) whose place, minimum wait and «когда
    действует правило» schedule match: it alone makes the task (CB-1 priority)."""
    ordered = sorted(rules, key=lambda item: (item[1].position, item[0]))
    for rule_id, rule in ordered:
        if rule.enabled and loss_matches(rule, missed) and rule_active(rule):
            return rule_id, rule
    return None


def next_active(
    at: dt.datetime, active: Active, horizon: dt.timedelta = SCHEDULE_HORIZON
) -> dt.datetime | None:
    """`at` if the callback schedule is active then, else the first minute it becomes active
    (None: not within `horizon`)."""
    if active(at):
        return at
    probe = at.replace(second=0, microsecond=0) + _STEP
    end = at + horizon
    while probe <= end:
        if active(probe):
            return probe
        probe += _STEP
    return None


def attempt_due(
    intervals: Sequence[int],
    attempts_made: int,
    since: dt.datetime,
    active: Active,
) -> dt.datetime | None:
    """When attempt number `attempts_made + 1` is due: its interval after `since` (the missed
    call for the first, the previous failed attempt for the next ones), moved into the
    callback schedule (SCH-6). None when the rule has no attempt left (at most 5)."""
    if attempts_made >= min(len(intervals), MAX_ATTEMPTS):
        return None
    return next_active(since + dt.timedelta(seconds=intervals[attempts_made]), active)


def same_subscriber(a: str, b: str) -> bool:
    """Whether two numbers name the same subscriber (8… and 7… are one Russian number)."""
    da, db = _national(a), _national(b)
    return bool(da) and da == db


def _national(number: str) -> str:
    digits = "".join(c for c in number if c.isdigit())
    if len(digits) == 11 and digits[0] in "78":
        return digits[1:]
    return digits


# -- what the scheduler and the task store exchange ---------------------------------------------


@dataclass(frozen=True, slots=True)
class MissedFacts:
    """The missed call a task calls back, as its report row and details tell it (read when
    the task is claimed: whom it rang decides methods `tried` and `last_phase`, the rest the
    whisper with call data)."""

    call_id: int
    caller: str
    called: str
    started_at: dt.datetime
    wait_seconds: float = 0.0
    number_id: int | None = None
    scenario_id: int | None = None
    contact_name: str = ""
    #: its `dial`, `transfer` and distribution steps, in order (only for the methods that
    #: need them)
    steps: tuple[StepRecord, ...] = ()


@dataclass(frozen=True, slots=True)
class LeadFacts:
    """A web lead (CB-4) as its callback sees it: who asked to be called, from where."""

    lead_id: int
    phone: str
    source: LeadSource
    arrived_at: dt.datetime
    name: str = ""
    site: str = ""
    comment: str = ""


def lead_matches(
    rule: LeadCallbackRule, lead: LeadFacts, in_segment: Callable[[int], bool]
) -> bool:
    """CB-4 «Какие заявки обрабатываем»: all, one kind of source, one site (the same host,
    whatever the scheme, `www.` or path), or the leads of a segment's subscribers."""
    match rule.source:
        case LeadSource.ALL:
            return True
        case LeadSource.SITE:
            return bool(lead.site) and site_host(lead.site) == site_host(rule.site)
        case LeadSource.SEGMENT:
            return rule.segment_id is not None and in_segment(rule.segment_id)
        case _:
            return rule.source is lead.source


def first_lead_rule(
    rules: Iterable[tuple[int, LeadCallbackRule]],
    lead: LeadFacts,
    rule_active: Callable[[LeadCallbackRule], bool],
    in_segment: Callable[[int], bool],
) -> tuple[int, LeadCallbackRule] | None:
    """The first enabled lead rule (by `position`, then id) whose source and «когда действует
    правило» schedule match the lead: it alone makes the task (CB-4, as CB-1)."""
    ordered = sorted(rules, key=lambda item: (item[1].position, item[0]))
    for rule_id, rule in ordered:
        if rule.enabled and lead_matches(rule, lead, in_segment) and rule_active(rule):
            return rule_id, rule
    return None


def site_host(site: str) -> str:
    """«https://www.Example.ru/contacts» → «example.ru»: how two mentions of a site compare."""
    host = site.strip().lower()
    for scheme in ("https://", "http://", "//"):
        host = host.removeprefix(scheme)
    host = host.split("/", 1)[0].split("?", 1)[0]
    return host.removeprefix("www.")


@dataclass(frozen=True, slots=True)
class DueTask:
    """A task a node claimed: one attempt of it is to be placed now."""

    id: int
    account_id: int
    kind: str  # "callback" | "callapi" | "record"
    #: the client: the number to call back (or CallAPI's number)
    caller: str
    #: the attempt being made (1 = the first)
    attempt: int
    rule_id: int | None = None
    rule: CallbackRule | None = None
    #: CallAPI: the employee called first and the report row answered to the API
    employee_id: int | None = None
    result_call_id: int | None = None
    #: CallAPI: the virtual number the request asked to show (None: the CID rules choose)
    number_id: int | None = None
    #: CallAPI «номер → сценарий»: the scenario run with the client once he answers (he is
    #: dialled first; `employee_id` is None)
    scenario_id: int | None = None
    #: record (FILE-1): the sound file's name and the longest recording, in seconds
    record_name: str = ""
    record_seconds: int = 0
    #: a callback: the missed call (None: its row is gone)
    missed: MissedFacts | None = None
    #: a lead's callback (CB-4): its rule and the lead
    lead_rule: LeadCallbackRule | None = None
    lead: LeadFacts | None = None


def missed_call(record: CallRecord, call_id: int | None) -> MissedCall | None:
    """A finished incoming call as the callback rules see it (None: the caller talked to
    somebody, or it is not an incoming call). Lost in a transfer: the caller left while the
    target of a transfer rang (a `transfer` step with no `transfer_done` after it)."""
    if record.direction != "incoming" or not record.caller:
        return None
    kinds = [step.kind for step in record.steps]
    last_transfer = max((i for i, k in enumerate(kinds) if k == "transfer"), default=-1)
    in_transfer = last_transfer >= 0 and "transfer_done" not in kinds[last_transfer:]
    if record.status != "missed" and not in_transfer:
        return None
    return MissedCall(
        account_id=record.account_id,
        call_id=call_id,
        caller=record.caller,
        ended_at=record.ended_at or record.started_at,
        wait_seconds=record.wait_seconds,
        number_id=record.number_id,
        scenario_id=record.scenario_id,
        in_transfer=in_transfer,
    )
