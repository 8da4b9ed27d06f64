"""The shared state of distribution behind one interface, and its in-process implementation.

What is shared between calls, operations, scenarios and (with Redis) nodes:

* lines in use per phone (ringing or talking), so no phone gets more calls than its lines;
* the end of each employee's last call (wrap-up);
* per scenario and employee: talk seconds and directed calls over the last 12 h (DST-1/2);
* per operation and phone: answered calls, for percentage distribution (GRP-2);
* per phone: talk seconds over 30 days (QUE-5 estimated wait);
* the global queues (QUE-2): one per set of phones, each waiter with a global sequence number.

Keys are strings: a phone is ``"<account>:<employee>:<phone>"``, an employee
``"<account>:<employee>"`` (the phone key minus its last part), a scope ``"<account>:<scenario>"``.

The interface is async so that a network store (Redis, `vpbx.services.shared_state_redis`) fits;
the in-process store never suspends, and `run_sync` drives it without an event loop. Reads go
through one `snapshot` per decision; every write that must be atomic is one method (`claim` checks
lines and the queue's FIFO hold and takes a line in one step).
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from vpbx.scenario.distribution.model import EmployeeTarget
from vpbx.scenario.distribution.strategies import TALK_WINDOW, WAIT_STATS_WINDOW

__all__ = [
    "ClaimMode",
    "ClaimStatus",
    "InProcessState",
    "QueueSpot",
    "SharedState",
    "Snapshot",
    "SnapshotRequest",
    "WaiterSpec",
    "employee_key",
    "employee_of",
    "phone_key",
    "run_sync",
]

T = TypeVar("T")


def employee_of(phone: str) -> str:
    """The employee key of a phone key."""
    return phone.rpartition(":")[0]


class ClaimMode(enum.StrEnum):
    """FRESH: a call in its first round; QUEUED: a waiter of a queue; DIALER: QUE-7 hold."""

    FRESH = "fresh"
    QUEUED = "queued"
    DIALER = "dialer"


class ClaimStatus(enum.StrEnum):
    OK = "ok"
    LINE_LIMIT = "line_limit"
    QUEUE_HELD = "queue_held"


def phone_key(account_id: int, employee_id: int, phone_id: str) -> str:
    return f"{account_id}:{employee_id}:{phone_id}"


def employee_key(account_id: int, employee_id: int) -> str:
    return f"{account_id}:{employee_id}"


@dataclass(frozen=True, slots=True)
class SnapshotRequest:
    """What one decision reads: the state of `targets`' phones and employees at `now`.

    `scope` (talk / directed-call windows) and `percent_scope` are None when the strategy needs
    none. A network store reads everything up front, so a decision says what it can do without:
    `lines` False (lines in use and queue holds; `claim` checks them anyway) and `wrapup` False
    (no wrap-up configured). A store may then answer 0 / False / None for those. The in-process
    store reads lazily and ignores the flags.
    """

    now: float
    account_id: int
    targets: tuple[EmployeeTarget, ...]
    scope: str | None = None
    percent_scope: str | None = None
    lines: bool = True
    wrapup: bool = True


class Snapshot(Protocol):
    """The state one decision is made on; claims re-check what matters atomically."""

    def busy(self, phone: str) -> int: ...
    def held(self, phone: str) -> bool: ...
    def last_end(self, employee: str) -> float | None: ...
    def talk(self, employee: str) -> float: ...
    def offers(self, employee: str) -> int: ...
    def percent_count(self, phone: str) -> int: ...


@dataclass(frozen=True, slots=True)
class WaiterSpec:
    """A caller joining the queue `queue_key` of `phones` (QUE-2)."""

    call_id: str
    caller: str
    queue_key: str
    phones: tuple[str, ...]
    width: int
    wrapup_seconds: float


@dataclass(frozen=True, slots=True)
class QueueSpot:
    """A waiter's place: global sequence, 1-based position in his queue, callers ahead."""

    seq: int
    position: int
    ahead: tuple[str, ...]
    average_talk: float | None


class SharedState(Protocol):
    """Counters, lines and queues shared by every distributor of an installation."""

    async def snapshot(self, request: SnapshotRequest) -> Snapshot: ...

    async def claim(
        self, call_id: str, phone: str, lines: int, mode: ClaimMode, now: float
    ) -> ClaimStatus:
        """Take one line of `phone` for `call_id` if it has a free line and is not held.

        FRESH is refused while any waiter of any queue containing the phone exists (QUE-3).
        QUEUED is refused while an earlier waiter containing the phone could still use it: he
        rings fewer lines than his width, does not ring this phone already, and the phone's
        employee is out of *his* wrap-up. DIALER checks the lines only (QUE-7).
        """
        ...

    async def release(self, call_id: str, phone: str) -> None: ...

    async def record_offer(self, scope: str, employee: str, call_id: str, now: float) -> None: ...

    async def record_talk(
        self, scope: str, phone: str, call_id: str, seconds: float, now: float
    ) -> None:
        """A conversation on `phone` ended at `now`: 12 h talk, 30 d phone stats, wrap-up."""
        ...

    async def credit_percent(self, percent_scope: str, phone: str) -> None: ...

    async def next_turn(self, key: str) -> int:
        """DST-4: the next caller number (1, 2, 3 …) of a strictly-in-turn phone set."""
        ...

    async def enqueue(self, waiter: WaiterSpec, now: float) -> QueueSpot: ...

    async def set_width(self, call_id: str, width: int) -> None: ...

    async def queue_spot(self, call_id: str, now: float) -> QueueSpot | None: ...

    async def dequeue(self, call_id: str) -> None: ...


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (the in-process store) without an event loop."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise RuntimeError("run_sync: the coroutine suspended; use an event loop for this store")


# --------------------------------------------------------------------------- in-process


class _Window:
    """Values with timestamps; those older than the span (strictly) are forgotten on read."""

    __slots__ = ("items", "total")

    def __init__(self) -> None:
        self.items: deque[tuple[float, float]] = deque()
        self.total = 0.0

    def add(self, at: float, value: float) -> None:
        self.items.append((at, value))
        self.total += value

    def read(self, now: float, span: float) -> tuple[float, int]:
        items = self.items
        horizon = now - span
        while items and items[0][0] < horizon:
            self.total -= items.popleft()[1]
        if not items:
            self.total = 0.0
        return self.total, len(items)


@dataclass(slots=True)
class _Waiter:
    spec: WaiterSpec
    seq: int
    active: set[str] = field(default_factory=set)
    width: int = 1


def _in_wrapup(waiter: _Waiter, last_end: float, now: float) -> bool:
    """Whether the phone's wrap-up still keeps it from `waiter`. No wrap-up is never "still
    in wrap-up", even when the end was written by another node a moment after `now` was read:
    otherwise a later waiter would pass an earlier one that only looked held (issue 17)."""
    wrapup = waiter.spec.wrapup_seconds
    return wrapup > 0 and last_end + wrapup > now


class InProcessState:
    """The default store: plain dicts in one process (one node)."""

    def __init__(self) -> None:
        self._busy: dict[str, int] = {}
        self._ringing: dict[str, set[str]] = {}
        self._last_end: dict[str, float] = {}
        self._talk: dict[str, _Window] = {}
        self._offers: dict[str, _Window] = {}
        self._phone_talk: dict[str, _Window] = {}
        self._percent: dict[str, dict[str, int]] = {}
        self._seq = 0
        self._turns: dict[str, int] = {}
        self._waiters: dict[str, _Waiter] = {}
        self._queues: dict[str, dict[str, _Waiter]] = {}
        self._phone_waiters: dict[str, dict[str, _Waiter]] = {}

    # reads ------------------------------------------------------------------------------

    async def snapshot(self, request: SnapshotRequest) -> Snapshot:
        return _LiveView(self, request)

    def lines_in_use(self, phone: str) -> int:
        return self._busy.get(phone, 0)

    # lines ------------------------------------------------------------------------------

    async def claim(
        self, call_id: str, phone: str, lines: int, mode: ClaimMode, now: float
    ) -> ClaimStatus:
        waiters = self._phone_waiters.get(phone)
        if waiters and mode is ClaimMode.FRESH:
            return ClaimStatus.QUEUE_HELD
        if waiters and mode is ClaimMode.QUEUED:
            last_end = self._last_end.get(employee_of(phone))
            own = self._waiters.get(call_id)
            if last_end is not None and own is not None and _in_wrapup(own, last_end, now):
                return ClaimStatus.QUEUE_HELD
            for other_id, other in waiters.items():
                if other_id == call_id:
                    break
                if (
                    len(other.active) < other.width
                    and phone not in other.active
                    and (last_end is None or not _in_wrapup(other, last_end, now))
                ):
                    return ClaimStatus.QUEUE_HELD
        busy = self._busy.get(phone, 0)
        if busy >= lines:
            return ClaimStatus.LINE_LIMIT
        self._busy[phone] = busy + 1
        self._ringing.setdefault(call_id, set()).add(phone)
        waiter = self._waiters.get(call_id)
        if waiter is not None:
            waiter.active.add(phone)
        return ClaimStatus.OK

    async def release(self, call_id: str, phone: str) -> None:
        ringing = self._ringing.get(call_id)
        if ringing is None or phone not in ringing:
            return
        ringing.discard(phone)
        if not ringing:
            del self._ringing[call_id]
        busy = self._busy[phone] - 1
        if busy:
            self._busy[phone] = busy
        else:
            del self._busy[phone]
        waiter = self._waiters.get(call_id)
        if waiter is not None:
            waiter.active.discard(phone)

    # counters ---------------------------------------------------------------------------

    async def record_offer(self, scope: str, employee: str, call_id: str, now: float) -> None:
        self._offers.setdefault(f"{scope}|{employee}", _Window()).add(now, 1.0)

    async def record_talk(
        self, scope: str, phone: str, call_id: str, seconds: float, now: float
    ) -> None:
        employee = employee_of(phone)
        self._talk.setdefault(f"{scope}|{employee}", _Window()).add(now, seconds)
        self._phone_talk.setdefault(phone, _Window()).add(now, seconds)
        self._last_end[employee] = max(now, self._last_end.get(employee, now))

    async def credit_percent(self, percent_scope: str, phone: str) -> None:
        counts = self._percent.setdefault(percent_scope, {})
        counts[phone] = counts.get(phone, 0) + 1

    async def next_turn(self, key: str) -> int:
        turn = self._turns.get(key, 0) + 1
        self._turns[key] = turn
        return turn

    # queues -----------------------------------------------------------------------------

    async def enqueue(self, waiter: WaiterSpec, now: float) -> QueueSpot:
        self._seq += 1
        entry = _Waiter(waiter, self._seq, width=waiter.width)
        entry.active.update(self._ringing.get(waiter.call_id, ()))
        self._waiters[waiter.call_id] = entry
        self._queues.setdefault(waiter.queue_key, {})[waiter.call_id] = entry
        for phone in waiter.phones:
            self._phone_waiters.setdefault(phone, {})[waiter.call_id] = entry
        spot = await self.queue_spot(waiter.call_id, now)
        assert spot is not None
        return spot

    async def set_width(self, call_id: str, width: int) -> None:
        waiter = self._waiters.get(call_id)
        if waiter is not None:
            waiter.width = width

    async def queue_spot(self, call_id: str, now: float) -> QueueSpot | None:
        waiter = self._waiters.get(call_id)
        if waiter is None:
            return None
        ahead: list[str] = []
        for other_id, other in self._queues[waiter.spec.queue_key].items():
            if other_id == call_id:
                break
            ahead.append(other.spec.caller)
        seconds = 0.0
        calls = 0
        for phone in waiter.spec.phones:
            window = self._phone_talk.get(phone)
            if window is not None:
                total, count = window.read(now, WAIT_STATS_WINDOW)
                seconds += total
                calls += count
        average = seconds / calls if calls else None
        return QueueSpot(waiter.seq, len(ahead) + 1, tuple(ahead), average)

    async def dequeue(self, call_id: str) -> None:
        waiter = self._waiters.pop(call_id, None)
        if waiter is None:
            return
        queue = self._queues[waiter.spec.queue_key]
        del queue[call_id]
        if not queue:
            del self._queues[waiter.spec.queue_key]
        for phone in waiter.spec.phones:
            waiters = self._phone_waiters[phone]
            del waiters[call_id]
            if not waiters:
                del self._phone_waiters[phone]


class _LiveView:
    """The in-process snapshot: reads the live dicts (nothing else runs meanwhile)."""

    __slots__ = ("_request", "_state")

    def __init__(self, state: InProcessState, request: SnapshotRequest) -> None:
        self._state = state
        self._request = request

    def busy(self, phone: str) -> int:
        return self._state._busy.get(phone, 0)

    def held(self, phone: str) -> bool:
        return phone in self._state._phone_waiters

    def last_end(self, employee: str) -> float | None:
        return self._state._last_end.get(employee)

    def talk(self, employee: str) -> float:
        window = self._state._talk.get(f"{self._request.scope}|{employee}")
        return window.read(self._request.now, TALK_WINDOW)[0] if window else 0.0

    def offers(self, employee: str) -> int:
        window = self._state._offers.get(f"{self._request.scope}|{employee}")
        return window.read(self._request.now, TALK_WINDOW)[1] if window else 0

    def percent_count(self, phone: str) -> int:
        counts = self._state._percent.get(self._request.percent_scope or "")
        return counts.get(phone, 0) if counts else 0
