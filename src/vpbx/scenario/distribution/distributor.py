"""The distributor: one per node; owns the calls it was given, shares lines and queues via a store.

A call goes through one full round of ringing (QUE-1): employees in the order of the strategy,
`width` of them ringing at once, each employee's phones one after another for their own ring
timeouts, ineligible phones skipped with a reason (DST-7). If nobody answered, the call joins the
global queue of its phones when it may (QUE-6), is held and rung in parallel when it is an outbound
dialer call (QUE-7), or gives up. Waiters are served in queue order (QUE-3): a free phone goes to
the earliest waiter of any queue containing it who can still use it.

All time comes in as `now` (POSIX seconds, the same clock on every node). Ring timeouts are the
distributor's own timers: `next_timer()` says when to call `handle_timer(now)`.
"""

from __future__ import annotations

import enum
import hashlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from vpbx.scenario.distribution.model import (
    Action,
    Answered,
    CallEnded,
    CallerHungUp,
    CallKind,
    Cancel,
    Detail,
    DetailKind,
    EmployeeTarget,
    Event,
    ForwardRequest,
    GiveUp,
    Held,
    PhoneTarget,
    Queued,
    Ring,
    RingEnded,
    RingResult,
    Skip,
    SkipReason,
    Step,
    Strategy,
)
from vpbx.scenario.distribution.state import (
    ClaimMode,
    ClaimStatus,
    InProcessState,
    QueueSpot,
    SharedState,
    Snapshot,
    SnapshotRequest,
    WaiterSpec,
    employee_key,
    phone_key,
)
from vpbx.scenario.distribution.strategies import (
    in_turn_index,
    least_first,
    next_width_change,
    percentage_order,
    width_at,
)

__all__ = ["Distributor", "Phase", "may_queue", "queue_key_of"]

_NEVER = float("-inf")
#: a pickup always takes the picking phone's line, however many calls it has
PICKUP_LINES = 1_000_000


class Phase(enum.Enum):
    ROUND = "round"
    QUEUED = "queued"
    HELD = "held"
    CONNECTED = "connected"


def may_queue(request: ForwardRequest) -> bool:
    """QUE-6: incoming and CallAPI-with-scenario calls queue when the operation's queue is on;
    a transfer queues when the target employee has «Вставать в очередь»; other outgoing calls
    never do. Outbound-dialer calls are only held (QUE-7, see `Phase.HELD`)."""
    match request.kind:
        case CallKind.INCOMING | CallKind.CALLAPI_SCENARIO:
            return request.settings.queue
        case CallKind.TRANSFER:
            return request.join_queue
        case _:
            return False


def queue_key_of(account_id: int, phones: tuple[str, ...]) -> str:
    """QUE-2: the queue of a set of phones, whatever operation or scenario rings them."""
    digest = hashlib.blake2b("\n".join(sorted(phones)).encode(), digest_size=8).hexdigest()
    return f"{account_id}:{digest}"


@dataclass(slots=True)
class _Chain:
    """One employee's phones (or one phone, with percentages), rung one after another."""

    employee: EmployeeTarget
    phones: tuple[PhoneTarget, ...]
    index: int = 0


@dataclass(slots=True)
class _Ring:
    employee: EmployeeTarget
    phone: PhoneTarget
    key: str
    deadline: float
    chain: _Chain | None


@dataclass(slots=True)
class _Call:
    request: ForwardRequest
    started: float
    targets: tuple[EmployeeTarget, ...]
    mode: ClaimMode
    phase: Phase = Phase.ROUND
    order: Iterator[_Chain] | None = None
    resume: deque[_Chain] = field(default_factory=deque)
    active: dict[str, _Ring] = field(default_factory=dict)
    skipped: dict[tuple[int, str | None], Skip] = field(default_factory=dict)
    offered: set[int] = field(default_factory=set)
    answered: _Ring | None = None
    answered_at: float = 0.0
    queue_key: str | None = None
    seq: int = 0
    width: int = 0
    last_try: dict[str, float] = field(default_factory=dict)
    wake: float | None = None
    turn_text: str = ""
    clock: float = 0.0


class _Out:
    __slots__ = ("actions", "details")

    def __init__(self) -> None:
        self.actions: list[Action] = []
        self.details: list[Detail] = []

    def step(self) -> Step:
        return Step(tuple(self.actions), tuple(self.details))


class Distributor:
    """Distribution of the calls of one node over a `SharedState` (in-process by default).

    `poll_interval`: with several nodes, how often queued calls of this node look for phones
    freed by other nodes (the timer asks to be woken that often while a call here waits).
    """

    def __init__(self, state: SharedState | None = None, *, poll_interval: float | None = None):
        self.state: SharedState = state if state is not None else InProcessState()
        self.poll_interval = poll_interval
        self._calls: dict[str, _Call] = {}
        self._waiting: dict[str, _Call] = {}  # queued or held, served by `_dispatch`
        self._last_poll = _NEVER

    # ------------------------------------------------------------------ public surface

    def calls(self) -> tuple[str, ...]:
        return tuple(self._calls)

    def phase(self, call_id: str) -> Phase | None:
        call = self._calls.get(call_id)
        return call.phase if call else None

    def ringing(self, call_id: str) -> tuple[tuple[int, str], ...]:
        """(employee id, phone id) of every phone ringing for the call now."""
        call = self._calls.get(call_id)
        if call is None:
            return ()
        return tuple((r.employee.employee_id, r.phone.phone_id) for r in call.active.values())

    async def start(self, request: ForwardRequest, now: float) -> Step:
        """A call reaches a Forward operation: begin its round of ringing."""
        if request.call_id in self._calls:
            raise ValueError(f"call {request.call_id} is already being distributed")
        mode = ClaimMode.DIALER if request.kind is CallKind.DIALER else ClaimMode.FRESH
        call = _Call(request, now, request.targets, mode, clock=now)
        self._calls[request.call_id] = call
        out = _Out()
        if request.settings.strategy is Strategy.IN_TURN:
            await self._assign_turn(call, now, out)
        snap = await self._snapshot(call, now)
        call.order = self._plan(call, snap, now, out)
        await self._fill_round(call, snap, now, out)
        await self._dispatch(now, out)
        return out.step()

    async def handle(self, event: Event, now: float) -> Step:
        """An event from the switch about one of this node's calls."""
        out = _Out()
        call = self._calls.get(event.call_id)
        if call is None:
            return out.step()
        match event:
            case Answered():
                await self._answered(call, event, now, out)
            case RingEnded():
                ring = call.active.get(phone_key(call.request.account_id, *_ids(event)))
                if ring is not None:
                    await self._ring_over(call, ring, event.result, now, out)
            case CallEnded():
                await self._ended(call, now, out)
            case CallerHungUp(answered_elsewhere=elsewhere):
                await self._hung_up(call, now, out, elsewhere)
        await self._dispatch(now, out)
        return out.step()

    def next_timer(self) -> float | None:
        """When `handle_timer` must run next (ring timeouts, growing width, wrap-up, polling)."""
        wakes: list[float] = []
        waiting = False
        connected = Phase.CONNECTED
        # runs after every event of every call: a talking call (most of them) costs two checks
        for call in self._calls.values():
            if call.active:
                wakes.extend([ring.deadline for ring in call.active.values()])
            if call.phase is connected:
                continue
            grow = self._next_growth(call)
            if grow is not None:
                wakes.append(grow)
            if call.wake is not None:
                wakes.append(call.wake)
            waiting = waiting or call.phase in (Phase.QUEUED, Phase.HELD)
        if waiting and self.poll_interval is not None:
            wakes.append(max(self._last_poll, 0.0) + self.poll_interval)
        return min(wakes) if wakes else None

    async def handle_timer(self, now: float) -> Step:
        """Ring timeouts, the growth of FASTEST, wrap-up ends; then serve the queues."""
        out = _Out()
        for call in list(self._calls.values()):
            expired = [ring for ring in call.active.values() if ring.deadline <= now]
            for ring in sorted(expired, key=lambda r: r.deadline):
                if call.request.call_id not in self._calls or ring.key not in call.active:
                    continue
                out.actions.append(
                    Cancel(
                        call.request.call_id,
                        ring.employee.employee_id,
                        ring.phone.phone_id,
                        "timeout",
                    )
                )
                await self._ring_over(call, ring, RingResult.NO_ANSWER, now, out)
            if call.wake is not None and call.wake <= now:
                call.wake = None
            if call.phase is Phase.ROUND and call.request.call_id in self._calls:
                await self._fill_round(call, await self._snapshot(call, now), now, out)
        await self._dispatch(now, out)
        return out.step()

    async def poll(self, now: float) -> Step:
        """Serve this node's waiters now (phones may have been freed by another node)."""
        out = _Out()
        await self._dispatch(now, out)
        return out.step()

    async def queue_status(self, call_id: str, now: float) -> QueueSpot | None:
        """QUE-4/QUE-5 for a waiting call: position, callers ahead, average talk time."""
        return await self.state.queue_spot(call_id, now)

    # ------------------------------------------------------------------ the round

    async def _snapshot(self, call: _Call, now: float, *, lines: bool = False) -> Snapshot:
        """The round reads no lines (`claim` checks them); waiters read them to find free ones."""
        settings = call.request.settings
        strategy = settings.strategy
        scoped = strategy in (Strategy.SUPPORT, Strategy.SALES)
        return await self.state.snapshot(
            SnapshotRequest(
                now,
                call.request.account_id,
                call.targets,
                scope=self._scope(call) if scoped else None,
                percent_scope=self._percent_scope(call) if settings.percentage else None,
                lines=lines,
                wrapup=settings.wrapup_seconds > 0,
            )
        )

    @staticmethod
    def _scope(call: _Call) -> str:
        return f"{call.request.account_id}:{call.request.scenario_id}"

    @staticmethod
    def _percent_scope(call: _Call) -> str:
        r = call.request
        return f"{r.account_id}:{r.scenario_id}:{r.operation_key}"

    async def _assign_turn(self, call: _Call, now: float, out: _Out) -> None:
        """DST-4: caller k → employee k (among those who take calls now), and only him."""
        present = [e for e in call.targets if self._employee_reason(e) is None]
        if not present:
            return
        account = call.request.account_id
        every = tuple(
            phone_key(account, e.employee_id, p.phone_id) for e in call.targets for p in e.phones
        )
        turn = await self.state.next_turn(queue_key_of(account, every))
        chosen = present[in_turn_index(turn, len(present))]
        for employee in call.targets:
            if employee is not chosen and self._employee_reason(employee) is None:
                self._skip(call, employee, None, SkipReason.NOT_IN_TURN, now, out)
        call.targets = (chosen,)
        call.turn_text = f"строго по очереди: абонент {turn} → сотрудник {chosen.employee_id}"

    def _plan(self, call: _Call, snap: Snapshot, now: float, out: _Out) -> Iterator[_Chain]:
        """The round's order of chains; made lazily, so a large group costs what is rung."""
        settings = call.request.settings
        account = call.request.account_id
        targets = call.targets
        if settings.percentage:
            singles: list[tuple[EmployeeTarget, PhoneTarget]] = []
            for employee in targets:
                for phone in employee.phones:
                    if phone.percent > 0:
                        singles.append((employee, phone))
                    else:
                        self._skip(
                            call, employee, phone.phone_id, SkipReason.ZERO_PERCENT, now, out
                        )
            ordered = percentage_order(
                singles,
                lambda item: item[1].percent,
                lambda item: snap.percent_count(
                    phone_key(account, item[0].employee_id, item[1].phone_id)
                ),
            )
            return (_Chain(employee, (phone,)) for employee, phone in ordered)
        if settings.strategy is Strategy.SUPPORT:
            targets = tuple(
                least_first(targets, lambda e: snap.talk(employee_key(account, e.employee_id)))
            )
        elif settings.strategy is Strategy.SALES:
            targets = tuple(
                least_first(targets, lambda e: snap.offers(employee_key(account, e.employee_id)))
            )
        return (_Chain(employee, employee.phones) for employee in targets)

    @staticmethod
    def _employee_reason(employee: EmployeeTarget) -> SkipReason | None:
        if not employee.calls_enabled:
            return SkipReason.CALLS_OFF
        if not employee.in_schedule:
            return SkipReason.OUTSIDE_SCHEDULE
        if not employee.group_active:
            return SkipReason.GROUP_SCHEDULE
        return None

    def _wrapup_until(self, call: _Call, snap: Snapshot, employee: EmployeeTarget) -> float | None:
        wrapup = call.request.settings.wrapup_seconds
        if wrapup <= 0:
            return None
        last = snap.last_end(employee_key(call.request.account_id, employee.employee_id))
        return None if last is None else last + wrapup

    def _width(self, call: _Call, now: float) -> int:
        if call.mode is ClaimMode.DIALER:
            return sum(len(e.phones) for e in call.targets)
        return width_at(call.request.settings, now - call.started)

    def _next_growth(self, call: _Call) -> float | None:
        """FASTEST: when one more line may ring (only while more phones remain)."""
        if call.mode is ClaimMode.DIALER or call.width >= sum(len(e.phones) for e in call.targets):
            return None
        return next_width_change(call.request.settings, call.started, call.clock)

    def _next_chain(self, call: _Call) -> _Chain | None:
        if call.resume:
            return call.resume.popleft()
        if call.order is None:
            return None
        chain = next(call.order, None)
        if chain is None:
            call.order = None
        return chain

    async def _fill_round(self, call: _Call, snap: Snapshot, now: float, out: _Out) -> None:
        call.clock = now
        width = self._width(call, now)
        call.width = width
        while len(call.active) < width:
            chain = self._next_chain(call)
            if chain is None:
                break
            await self._advance(call, chain, snap, now, out)
        if not call.active and not call.resume and call.order is None:
            await self._round_over(call, now, out)

    async def _advance(
        self, call: _Call, chain: _Chain, snap: Snapshot, now: float, out: _Out
    ) -> None:
        """Ring the chain's next eligible phone, skipping (with reasons) those that cannot."""
        employee = chain.employee
        if chain.index == 0:
            reason = self._employee_reason(employee)
            if reason is not None:
                self._skip(call, employee, None, reason, now, out)
                return
        account = call.request.account_id
        while chain.index < len(chain.phones):
            phone = chain.phones[chain.index]
            chain.index += 1
            key = phone_key(account, employee.employee_id, phone.phone_id)
            if key in call.active:
                continue
            reason = self._phone_reason(call, snap, employee, phone, key, now)
            if reason is None:
                status = await self.state.claim(
                    call.request.call_id, key, phone.lines, call.mode, now
                )
                if status is ClaimStatus.OK:
                    await self._ring(call, employee, phone, key, chain, now, out)
                    return
                reason = (
                    SkipReason.LINE_LIMIT
                    if status is ClaimStatus.LINE_LIMIT
                    else SkipReason.QUEUE_HELD
                )
            self._skip(call, employee, phone.phone_id, reason, now, out)
            if reason is SkipReason.WRAP_UP:
                return

    def _phone_reason(
        self,
        call: _Call,
        snap: Snapshot,
        employee: EmployeeTarget,
        phone: PhoneTarget,
        key: str,
        now: float,
    ) -> SkipReason | None:
        if not phone.available:
            return SkipReason.UNAVAILABLE
        until = self._wrapup_until(call, snap, employee)
        if until is not None and now < until:
            call.wake = until if call.wake is None else min(call.wake, until)
            return SkipReason.WRAP_UP
        if call.mode is ClaimMode.FRESH and snap.held(key):
            return SkipReason.QUEUE_HELD
        if snap.busy(key) >= phone.lines:
            return SkipReason.LINE_LIMIT
        return None

    async def _ring(
        self,
        call: _Call,
        employee: EmployeeTarget,
        phone: PhoneTarget,
        key: str,
        chain: _Chain | None,
        now: float,
        out: _Out,
    ) -> None:
        timeout = call.request.settings.ring_timeout or phone.ring_timeout
        call.active[key] = _Ring(employee, phone, key, now + timeout, chain)
        call.last_try[key] = now
        call_id = call.request.call_id
        out.actions.append(Ring(call_id, employee.employee_id, phone.phone_id, timeout))
        out.details.append(
            Detail(
                now,
                call_id,
                DetailKind.OFFERED,
                employee.employee_id,
                phone.phone_id,
                call.turn_text or _STRATEGY_TEXT[call.request.settings.strategy],
            )
        )
        if call.request.settings.percentage and not call.offered:
            # GRP-2: a call counts for the phone it is directed to first
            await self.state.credit_percent(self._percent_scope(call), key)
        if employee.employee_id not in call.offered:
            call.offered.add(employee.employee_id)
            await self.state.record_offer(
                self._scope(call),
                employee_key(call.request.account_id, employee.employee_id),
                call_id,
                now,
            )

    def _skip(
        self,
        call: _Call,
        employee: EmployeeTarget,
        phone_id: str | None,
        reason: SkipReason,
        now: float,
        out: _Out,
    ) -> None:
        skip = Skip(employee.employee_id, phone_id, reason)
        call.skipped[(employee.employee_id, phone_id)] = skip
        if call.phase is Phase.ROUND:
            out.details.append(
                Detail(
                    now,
                    call.request.call_id,
                    DetailKind.SKIPPED,
                    employee.employee_id,
                    phone_id,
                    reason.text,
                )
            )

    async def _round_over(self, call: _Call, now: float, out: _Out) -> None:
        """QUE-1: the full round found nobody; queue, hold or give up."""
        request = call.request
        call_id = request.call_id
        if request.kind is CallKind.DIALER and request.settings.queue:
            call.phase = Phase.HELD
            self._waiting[call_id] = call
            out.actions.append(Held(call_id))
            out.details.append(Detail(now, call_id, DetailKind.HELD))
            return
        if may_queue(request):
            account = request.account_id
            phones = tuple(
                phone_key(account, e.employee_id, p.phone_id)
                for e in call.targets
                for p in e.phones
            )
            call.queue_key = queue_key_of(account, phones)
            call.width = self._width(call, now)
            spot = await self.state.enqueue(
                WaiterSpec(
                    call_id,
                    request.caller,
                    call.queue_key,
                    phones,
                    call.width,
                    request.settings.wrapup_seconds,
                ),
                now,
            )
            call.seq = spot.seq
            call.phase = Phase.QUEUED
            self._waiting[call_id] = call
            wait = spot.average_talk * spot.position if spot.average_talk is not None else None
            out.actions.append(Queued(call_id, call.queue_key, spot.position, spot.ahead, wait))
            out.details.append(
                Detail(
                    now,
                    call_id,
                    DetailKind.QUEUED,
                    text=f"место в очереди {spot.position}",
                    ahead=spot.ahead,
                )
            )
            return
        del self._calls[call_id]
        out.actions.append(GiveUp(call_id, tuple(call.skipped.values())))
        out.details.append(Detail(now, call_id, DetailKind.GAVE_UP))

    # ------------------------------------------------------------------ events

    async def _ring_over(
        self, call: _Call, ring: _Ring, result: RingResult, now: float, out: _Out
    ) -> None:
        del call.active[ring.key]
        await self.state.release(call.request.call_id, ring.key)
        out.details.append(
            Detail(
                now,
                call.request.call_id,
                DetailKind.RING_ENDED,
                ring.employee.employee_id,
                ring.phone.phone_id,
                result.value,
            )
        )
        if call.phase is Phase.ROUND:
            chain = ring.chain
            if chain is not None and chain.index < len(chain.phones):
                call.resume.appendleft(chain)
            await self._fill_round(call, await self._snapshot(call, now), now, out)

    async def _answered(self, call: _Call, event: Answered, now: float, out: _Out) -> None:
        key = phone_key(call.request.account_id, event.employee_id, event.phone_id)
        ring = call.active.pop(key, None)
        if ring is None or call.phase is Phase.CONNECTED:
            return
        call_id = call.request.call_id
        for other in list(call.active.values()):
            out.actions.append(
                Cancel(
                    call_id, other.employee.employee_id, other.phone.phone_id, "answered_elsewhere"
                )
            )
            await self.state.release(call_id, other.key)
        call.active.clear()
        call.resume.clear()
        call.order = None
        call.wake = None
        if call.phase is Phase.QUEUED:
            await self.state.dequeue(call_id)
        self._waiting.pop(call_id, None)
        call.phase = Phase.CONNECTED
        if event.picked_by is not None:
            ring = await self._picked_up(call, ring, event.picked_by, now)
        call.answered = ring
        call.answered_at = now
        out.details.append(
            Detail(
                now,
                call_id,
                DetailKind.ANSWERED,
                ring.employee.employee_id,
                ring.phone.phone_id,
            )
        )

    async def _picked_up(self, call: _Call, ring: _Ring, by: tuple[int, str], now: float) -> _Ring:
        """EMP-5: the rung phone's line is free again, the picking phone's is taken (always:
        its employee chose to take the call), and the talk will be his."""
        call_id = call.request.call_id
        await self.state.release(call_id, ring.key)
        key = phone_key(call.request.account_id, *by)
        await self.state.claim(call_id, key, PICKUP_LINES, ClaimMode.DIALER, now)
        employee = EmployeeTarget(by[0], (PhoneTarget(by[1]),))
        return _Ring(employee, employee.phones[0], key, now, None)

    async def _ended(self, call: _Call, now: float, out: _Out) -> None:
        ring = call.answered
        if ring is None:
            await self._hung_up(call, now, out)
            return
        call_id = call.request.call_id
        del self._calls[call_id]
        await self.state.release(call_id, ring.key)
        talk = max(now - call.answered_at, 0.0)
        await self.state.record_talk(self._scope(call), ring.key, call_id, talk, now)
        out.details.append(
            Detail(
                now,
                call_id,
                DetailKind.ENDED,
                ring.employee.employee_id,
                ring.phone.phone_id,
                f"разговор {talk:.0f} с",
            )
        )

    async def _hung_up(
        self, call: _Call, now: float, out: _Out, answered_elsewhere: bool = False
    ) -> None:
        call_id = call.request.call_id
        del self._calls[call_id]
        self._waiting.pop(call_id, None)
        reason = "answered_elsewhere" if answered_elsewhere else "caller_hung_up"
        for ring in call.active.values():
            out.actions.append(
                Cancel(call_id, ring.employee.employee_id, ring.phone.phone_id, reason)
            )
            await self.state.release(call_id, ring.key)
        call.active.clear()
        if call.phase is Phase.QUEUED:
            await self.state.dequeue(call_id)
        kind = DetailKind.ANSWERED_ELSEWHERE if answered_elsewhere else DetailKind.HUNG_UP
        out.details.append(Detail(now, call_id, kind))

    # ------------------------------------------------------------------ queues

    async def _dispatch(self, now: float, out: _Out) -> None:
        """Serve this node's waiters in queue order; held dialer calls after them."""
        self._last_poll = now
        if not self._waiting:
            return
        waiting = sorted(self._waiting.values(), key=lambda c: (c.phase is Phase.HELD, c.seq))
        for call in waiting:
            if call.wake is not None and call.wake <= now:
                call.wake = None
            await self._fill_waiting(call, now, out)

    async def _fill_waiting(self, call: _Call, now: float, out: _Out) -> None:
        call.clock = now
        width = self._width(call, now)
        if width != call.width and call.phase is Phase.QUEUED:
            await self.state.set_width(call.request.call_id, width)
        call.width = width
        if len(call.active) >= width:
            return
        snap = await self._snapshot(call, now, lines=True)
        account = call.request.account_id
        free: list[tuple[EmployeeTarget, PhoneTarget, str]] = []
        for employee in call.targets:
            if self._employee_reason(employee) is not None:
                continue
            until = self._wrapup_until(call, snap, employee)
            if until is not None and now < until:
                call.wake = until if call.wake is None else min(call.wake, until)
                continue
            for phone in employee.phones:
                if not phone.available or (call.request.settings.percentage and not phone.percent):
                    continue
                key = phone_key(account, employee.employee_id, phone.phone_id)
                if key not in call.active and snap.busy(key) < phone.lines:
                    free.append((employee, phone, key))
        if not free:
            return
        ranked = self._rank(call, snap, free)
        ranked.sort(key=lambda item: call.last_try.get(item[2], _NEVER))
        mode = ClaimMode.DIALER if call.phase is Phase.HELD else ClaimMode.QUEUED
        for employee, phone, key in ranked:
            if len(call.active) >= width:
                break
            status = await self.state.claim(call.request.call_id, key, phone.lines, mode, now)
            if status is ClaimStatus.OK:
                await self._ring(call, employee, phone, key, None, now, out)

    def _rank(
        self,
        call: _Call,
        snap: Snapshot,
        free: list[tuple[EmployeeTarget, PhoneTarget, str]],
    ) -> list[tuple[EmployeeTarget, PhoneTarget, str]]:
        settings = call.request.settings
        account = call.request.account_id
        if settings.percentage:
            return percentage_order(
                free, lambda i: i[1].percent, lambda i: snap.percent_count(i[2])
            )
        if settings.strategy is Strategy.SUPPORT:
            return least_first(free, lambda i: snap.talk(employee_key(account, i[0].employee_id)))
        if settings.strategy is Strategy.SALES:
            return least_first(free, lambda i: snap.offers(employee_key(account, i[0].employee_id)))
        return list(free)


def _ids(event: RingEnded) -> tuple[int, str]:
    return event.employee_id, event.phone_id


_STRATEGY_TEXT = {
    Strategy.SUPPORT: "как в отдел поддержки: меньше всего разговоров за 12 ч",
    Strategy.SALES: "как в отдел продаж: меньше всего направленных звонков за 12 ч",
    Strategy.PRIORITY: "по приоритету",
    Strategy.IN_TURN: "строго по очереди",
    Strategy.FASTEST: "чтобы быстрее ответить",
    Strategy.CUSTOM: "свои настройки",
}
