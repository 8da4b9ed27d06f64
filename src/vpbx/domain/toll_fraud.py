"""The toll-fraud guard's decisions, pure: may this account place one more outgoing call to this
number now, and which calls in progress have used up the account's minutes.

Every leg the PBX sends out through a trunk (an employee dialling out, a forward to an
employee's mobile, a scenario forwarding to a number) asks `admit` first and holds a *lease*
until the leg ends, however it ends (`release`). Three rules, in this order:

1. destination: the number, normalised to E.164 digits, must match an allowed prefix and no
   longer (or equal) blocked prefix;
2. simultaneous: fewer leases of the account than `max_simultaneous_calls`;
3. minutes: the account's outgoing talk in the last hour below `max_minutes_per_hour`.

Talk is charged as it happens, not when a call ends: a call in progress counts from its answer
up to `now`, so one very long call cannot escape the cap. `over_limit(now)` names the talking
leases of every account whose hour is used up (the switch hangs them up) and `next_check(now)`
says when that could first happen (a lower bound: talk only grows as fast as the calls talking,
and old talk only leaves the window), so the switch wakes once, not every second.

Time is POSIX seconds passed in (`now`); nothing here reads a clock or touches asyncio.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from vpbx.domain.entities.toll_fraud import TollFraudPolicy

#: the sliding window of the minutes cap
HOUR = 3600.0
#: talk this close to the cap counts as reaching it: float sums of the window must not leave a
#: call talking because it is a rounding error short of the cap
EPSILON = 1e-3


class Rule(enum.StrEnum):
    """Which rule refused a call (the security event's `rule`)."""

    DESTINATION = "destination"
    BLOCKED_PREFIX = "blocked_prefix"
    SIMULTANEOUS = "simultaneous_calls"
    MINUTES = "minutes_per_hour"


@dataclass(frozen=True, slots=True)
class Refusal:
    """An outgoing call the guard refused: the rule, the number as judged, and why in words."""

    rule: Rule
    #: the destination in E.164 digits (what the prefixes were compared with)
    number: str
    #: for the calls report and the cabinet: «исходящий вызов запрещён: …»
    text: str
    #: the SIP reason phrase of the 403 to the phone (ASCII: phones show it as it comes)
    reason: str


def normalize(dialled: str) -> str:
    """The E.164 digits (no "+") of what an employee dialled or a scenario names.

    Russian dialling: ``8`` + 10 digits is a domestic number (+7), ``810`` starts an
    international one, and so do ``00`` and ``+``; ten digits starting with 3, 4, 8 or 9 are a
    Russian number without its prefix. Anything else is taken as E.164 already (``7495…``,
    ``1202…``, as employees' phones are stored), so a format we do not know is judged as the
    international number it most likely is, never waved through as domestic.
    """
    digits = dialled.strip()
    if digits.startswith("+"):
        return digits[1:]
    if digits.startswith("00"):
        return digits[2:]
    if digits.startswith("810"):
        return digits[3:]
    if len(digits) == 11 and digits.startswith("8"):
        return "7" + digits[1:]
    if len(digits) == 10 and digits[0] in "3489":
        return "7" + digits
    return digits


def _longest(number: str, prefixes: list[str]) -> int:
    """The length of the longest prefix of `number` in `prefixes` (0: none)."""
    return max((len(p) for p in prefixes if number.startswith(p)), default=0)


def destination_refusal(policy: TollFraudPolicy, dialled: str) -> Refusal | None:
    """Rule 1: the longest matching prefix decides; a blocked one wins a tie."""
    number = normalize(dialled)
    allowed = _longest(number, policy.allowed_prefixes)
    blocked = _longest(number, policy.blocked_prefixes)
    if blocked and blocked >= allowed:
        return Refusal(
            Rule.BLOCKED_PREFIX,
            number,
            f"исходящий вызов запрещён: направление +{number[:blocked]} заблокировано "
            "(платные номера)",
            "Forbidden: outgoing call to a blocked destination",
        )
    if not allowed:
        return Refusal(
            Rule.DESTINATION,
            number,
            f"исходящий вызов запрещён: направление +{number} не разрешено "
            "(международные и другие направления выключены в защите от мошенничества)",
            "Forbidden: outgoing call to this destination not allowed",
        )
    return None


def simultaneous_refusal(number: str, active: int, policy: TollFraudPolicy) -> Refusal:
    """Rule 2 refused `number`: `active` outgoing calls of the account already."""
    return Refusal(
        Rule.SIMULTANEOUS,
        number,
        "исходящий вызов запрещён: одновременных исходящих вызовов уже "
        f"{active} из {policy.max_simultaneous_calls} разрешённых",
        "Forbidden: too many simultaneous outgoing calls",
    )


def minutes_refusal(number: str, policy: TollFraudPolicy) -> Refusal:
    """Rule 3 refused `number`: the account's outgoing minutes of the last hour are used up."""
    return Refusal(
        Rule.MINUTES,
        number,
        "исходящий вызов запрещён: за последний час исчерпан лимит "
        f"{policy.max_minutes_per_hour} мин исходящих разговоров",
        "Forbidden: outgoing minutes per hour used up",
    )


@dataclass(slots=True)
class _Lease:
    account_id: int
    #: when the leg was answered: talk is charged from then on
    talking_since: float | None = None


@dataclass(slots=True)
class _Account:
    leases: set[str] = field(default_factory=set)
    #: finished talk: (answered, ended), in the order they ended
    talk: deque[tuple[float, float]] = field(default_factory=deque)
    #: the cap in seconds as of the latest admission (what `over_limit` enforces)
    cap_seconds: float = 600 * 60.0


def _overlap(start: float, end: float, now: float) -> float:
    """Seconds of [start, end] inside the window (now - HOUR, now]."""
    return max(0.0, min(end, now) - max(start, now - HOUR))


class OutgoingLedger:
    """The in-process store of the guard's counters: leases and talk per account."""

    def __init__(self) -> None:
        self._leases: dict[str, _Lease] = {}
        self._accounts: dict[int, _Account] = {}

    def _account(self, account_id: int) -> _Account:
        return self._accounts.setdefault(account_id, _Account())

    def active(self, account_id: int) -> int:
        """Outgoing legs of the account holding a lease (ringing or talking)."""
        found = self._accounts.get(account_id)
        return len(found.leases) if found is not None else 0

    def used_seconds(self, account_id: int, now: float) -> float:
        """Outgoing talk of the account in the last hour, calls in progress up to `now`."""
        found = self._accounts.get(account_id)
        if found is None:
            return 0.0
        while found.talk and found.talk[0][1] <= now - HOUR:
            found.talk.popleft()  # ended before the window: forgotten for good
        used = sum(_overlap(start, end, now) for start, end in found.talk)
        for lease_id in found.leases:
            since = self._leases[lease_id].talking_since
            if since is not None:
                used += _overlap(since, now, now)
        return used

    def admit(
        self, account_id: int, lease_id: str, policy: TollFraudPolicy, dialled: str, now: float
    ) -> Refusal | None:
        """Rules 1–3; None = allowed, and the lease is held until `release`."""
        refusal = destination_refusal(policy, dialled)
        if refusal is not None:
            return refusal
        number = normalize(dialled)
        account = self._account(account_id)
        account.cap_seconds = policy.max_minutes_per_hour * 60.0
        if len(account.leases) >= policy.max_simultaneous_calls:
            return simultaneous_refusal(number, len(account.leases), policy)
        used = self.used_seconds(account_id, now)
        if used >= account.cap_seconds:
            return minutes_refusal(number, policy)
        if lease_id in self._leases:
            raise ValueError(f"lease {lease_id!r} is already held")
        self._leases[lease_id] = _Lease(account_id)
        account.leases.add(lease_id)
        return None

    def answered(self, lease_id: str, now: float) -> None:
        """The leg was answered: its talk is charged from `now` (a second answer changes
        nothing; an unknown lease is ignored: it was released already)."""
        lease = self._leases.get(lease_id)
        if lease is not None and lease.talking_since is None:
            lease.talking_since = now

    def release(self, lease_id: str, now: float) -> None:
        """The leg ended (any way): its lease is free, its talk stays in the window.
        Releasing twice is harmless: every path that ends a leg may call this."""
        lease = self._leases.pop(lease_id, None)
        if lease is None:
            return
        account = self._account(lease.account_id)
        account.leases.discard(lease_id)
        if lease.talking_since is not None and now > lease.talking_since:
            account.talk.append((lease.talking_since, now))

    def over_limit(self, now: float) -> list[str]:
        """The talking leases of accounts whose hour is used up: to be hung up."""
        found: list[str] = []
        for account_id, account in self._accounts.items():
            talking = [
                lease_id
                for lease_id in sorted(account.leases)
                if self._leases[lease_id].talking_since is not None
            ]
            if talking and self.used_seconds(account_id, now) + EPSILON >= account.cap_seconds:
                found += talking
        return found

    def next_check(self, now: float) -> float | None:
        """The earliest time `over_limit` could name a lease (None: no call is talking).

        Talk grows by at most the number of calls talking per second, so the cap cannot be
        reached before `now + (cap - used) / talking`; waking then and asking again is never
        late, and usually exact."""
        earliest: float | None = None
        for account_id, account in self._accounts.items():
            talking = sum(
                1 for lease_id in account.leases if self._leases[lease_id].talking_since is not None
            )
            if not talking:
                continue
            left = account.cap_seconds - self.used_seconds(account_id, now)
            when = now if left <= EPSILON else now + left / talking
            earliest = when if earliest is None else min(earliest, when)
        return earliest


class OutgoingCounters(Protocol):
    """Where the guard keeps its counters: `InProcessCounters` on one node (a shared store,
    e.g. Redis, when several switch nodes share the accounts' limits)."""

    async def admit(
        self, account_id: int, lease_id: str, policy: TollFraudPolicy, dialled: str, now: float
    ) -> Refusal | None: ...

    async def answered(self, lease_id: str, now: float) -> None: ...

    async def release(self, lease_id: str, now: float) -> None: ...

    async def over_limit(self, now: float) -> list[str]: ...

    async def next_check(self, now: float) -> float | None: ...

    async def active(self, account_id: int) -> int: ...


class InProcessCounters:
    """`OutgoingCounters` in this process's memory (the default, one switch node)."""

    def __init__(self) -> None:
        self.ledger = OutgoingLedger()

    async def admit(
        self, account_id: int, lease_id: str, policy: TollFraudPolicy, dialled: str, now: float
    ) -> Refusal | None:
        return self.ledger.admit(account_id, lease_id, policy, dialled, now)

    async def answered(self, lease_id: str, now: float) -> None:
        self.ledger.answered(lease_id, now)

    async def release(self, lease_id: str, now: float) -> None:
        self.ledger.release(lease_id, now)

    async def over_limit(self, now: float) -> list[str]:
        return self.ledger.over_limit(now)

    async def next_check(self, now: float) -> float | None:
        return self.ledger.next_check(now)

    async def active(self, account_id: int) -> int:
        return self.ledger.active(account_id)


__all__ = [
    "EPSILON",
    "HOUR",
    "InProcessCounters",
    "OutgoingCounters",
    "OutgoingLedger",
    "Refusal",
    "Rule",
    "destination_refusal",
    "minutes_refusal",
    "normalize",
    "simultaneous_refusal",
]
