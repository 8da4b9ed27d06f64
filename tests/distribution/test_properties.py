"""Hypothesis properties under random arrivals, answers, rejections, hang-ups and time.

* no phone is ever offered more calls than its lines;
* each queue is served strictly FIFO: a waiter is offered a phone only when every earlier waiter
  of a queue containing that phone is already ringing it or rings as many lines as he may, and a
  call in its first round is never offered a phone somebody waits for (QUE-3);
* no caller waits while a free, eligible phone of his queue exists;
* QUE-4: the place and the callers ahead match the queue;
* percentages converge within ±3 points over 10,000 simulated calls;
* the FIFO properties hold with two distributors (two nodes) sharing one Redis.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.distribution.conftest import open_redis_state
from tests.distribution.helpers import ACCOUNT, employee, phone, request
from vpbx.scenario.distribution import (
    Answered,
    CallEnded,
    CallerHungUp,
    Cancel,
    Distributor,
    EmployeeTarget,
    GiveUp,
    InProcessState,
    Queued,
    Ring,
    RingEnded,
    RingResult,
    Step,
    Strategy,
    run_sync,
)

EMPLOYEES = {
    1: employee(1, phone("a", lines=1, timeout=10)),
    2: employee(2, phone("a", lines=2, timeout=15)),
    3: employee(3, phone("a", lines=1, timeout=10), phone("b", lines=1, timeout=5)),
    4: employee(4, phone("a", lines=1, timeout=20)),
    5: employee(5, phone("a", lines=2, timeout=10)),
}
GROUPS = ((1, 2, 3), (3, 4), (5,), (1, 4))  # overlapping phone sets → parallel queues
STRATEGIES = (
    (Strategy.PRIORITY, 1),
    (Strategy.CUSTOM, 2),
    (Strategy.SUPPORT, 1),
    (Strategy.SALES, 2),
)
LINES = {
    f"{ACCOUNT}:{e.employee_id}:{p.phone_id}": p.lines for e in EMPLOYEES.values() for p in e.phones
}

arrive = st.tuples(
    st.just("arrive"),
    st.integers(0, len(GROUPS) - 1),
    st.integers(0, len(STRATEGIES) - 1),
    st.sampled_from([True, True, True, False]),
    st.integers(0, 1),
)
answer = st.tuples(st.just("answer"), st.integers(0, 50))
fail = st.tuples(st.just("fail"), st.integers(0, 50), st.sampled_from(list(RingResult)))
end = st.tuples(st.just("end"), st.integers(0, 50))
hangup = st.tuples(st.just("hangup"), st.integers(0, 50))
tick = st.tuples(st.just("tick"), st.floats(0.5, 25.0))
operations = st.lists(
    st.one_of(arrive, arrive, arrive, answer, fail, fail, end, end, hangup, tick, tick),
    min_size=30,
    max_size=80,
)


def key(employee_id: int, phone_id: str) -> str:
    return f"{ACCOUNT}:{employee_id}:{phone_id}"


@dataclass
class Waiter:
    call: str
    caller: str
    queue_key: str
    phones: frozenset[str]
    width: int


@dataclass
class Model:
    """What the switch would see, rebuilt from the actions; checks the properties."""

    rings: dict[str, set[str]] = field(default_factory=dict)
    connected: dict[str, str] = field(default_factory=dict)
    waiters: list[Waiter] = field(default_factory=list)
    calls: dict[str, tuple[int, frozenset[str], int, str]] = field(default_factory=dict)
    fifo_checks: int = 0

    def used(self, phone_key: str) -> int:
        ringing = sum(phone_key in r for r in self.rings.values())
        return ringing + sum(p == phone_key for p in self.connected.values())

    def waiter(self, call: str) -> Waiter | None:
        return next((w for w in self.waiters if w.call == call), None)

    def leave(self, call: str) -> None:
        self.waiters = [w for w in self.waiters if w.call != call]

    def apply(self, step: Step) -> None:
        for action in step.actions:
            match action:
                case Ring():
                    self.on_ring(action.call_id, key(action.employee_id, action.phone_id))
                case Cancel():
                    self.rings[action.call_id].discard(key(action.employee_id, action.phone_id))
                case Queued():
                    _, phones, width, caller = self.calls[action.call_id]
                    same = [w for w in self.waiters if w.queue_key == action.queue_key]
                    assert action.position == len(same) + 1
                    assert action.ahead == tuple(w.caller for w in same)
                    self.waiters.append(
                        Waiter(action.call_id, caller, action.queue_key, phones, width)
                    )
                case GiveUp():
                    assert not self.rings.get(action.call_id)
                    self.forget(action.call_id)

    def on_ring(self, call: str, phone_key: str) -> None:
        assert self.used(phone_key) < LINES[phone_key], f"{phone_key} over its lines"
        me = self.waiter(call)
        if me is None:
            # a first round: nobody may be waiting for this phone
            assert not any(phone_key in w.phones for w in self.waiters), "queue jumped"
        else:
            for earlier in self.waiters:
                if earlier.call == call:
                    break
                if phone_key in earlier.phones:
                    self.fifo_checks += 1
                    theirs = self.rings.get(earlier.call, set())
                    assert phone_key in theirs or len(theirs) >= earlier.width, (
                        f"{call} got {phone_key} before {earlier.call}"
                    )
        self.rings.setdefault(call, set()).add(phone_key)

    def forget(self, call: str) -> None:
        self.rings.pop(call, None)
        self.connected.pop(call, None)
        self.calls.pop(call, None)
        self.leave(call)

    def check_nobody_waits_for_a_free_phone(self) -> None:
        for w in self.waiters:
            mine = self.rings.get(w.call, set())
            if len(mine) >= w.width:
                continue
            for phone_key in w.phones:
                assert phone_key in mine or self.used(phone_key) >= LINES[phone_key], (
                    f"{w.call} waits while {phone_key} is free"
                )


async def simulate(nodes: list[Distributor], ops: list[tuple[object, ...]]) -> Model:
    model = Model()
    now = 1_750_000_000.0
    owner: dict[str, Distributor] = {}

    async def settle(n: int = 0) -> None:
        # the nodes poll in a varying order: a later waiter's node may well look first
        order = nodes if n % 2 == 0 else nodes[::-1]
        for _ in range(20):
            busy = False
            for node in order:
                step = await node.poll(now)
                model.apply(step)
                busy = busy or bool(step.actions)
            if not busy:
                return
        raise AssertionError("the nodes do not settle")

    async def send(event: object, call: str) -> None:
        step = await owner[call].handle(event, now)  # type: ignore[arg-type]
        model.apply(step)

    def ringing_pairs() -> list[tuple[str, str]]:
        return sorted((c, p) for c, ps in model.rings.items() for p in ps)

    for n, op in enumerate(ops):
        match op:
            case ("arrive", group, strategy_index, queue, node_index):
                strategy, width = STRATEGIES[strategy_index]  # type: ignore[index]
                call = f"c{n}"
                targets: tuple[EmployeeTarget, ...] = tuple(
                    EMPLOYEES[e]
                    for e in GROUPS[group]  # type: ignore[index]
                )
                phones = frozenset(
                    key(e.employee_id, p.phone_id) for e in targets for p in e.phones
                )
                model.calls[call] = (n, phones, width, f"+7{n}")
                node = nodes[node_index % len(nodes)]  # type: ignore[operator]
                owner[call] = node
                req = request(
                    call,
                    targets,
                    strategy,
                    caller=f"+7{n}",
                    queue=bool(queue),
                    simultaneous_lines=width,
                )
                model.apply(await node.start(req, now))
            case ("answer", index):
                pairs = ringing_pairs()
                if pairs:
                    call, phone_key = pairs[index % len(pairs)]  # type: ignore[operator]
                    model.rings[call].discard(phone_key)
                    model.connected[call] = phone_key
                    model.leave(call)
                    _, employee_id, phone_id = phone_key.split(":")
                    await send(Answered(call, int(employee_id), phone_id), call)
            case ("fail", index, result):
                pairs = ringing_pairs()
                if pairs:
                    call, phone_key = pairs[index % len(pairs)]  # type: ignore[operator]
                    model.rings[call].discard(phone_key)
                    _, employee_id, phone_id = phone_key.split(":")
                    await send(RingEnded(call, int(employee_id), phone_id, result), call)  # type: ignore[arg-type]
            case ("end", index):
                talking = sorted(model.connected)
                if talking:
                    call = talking[index % len(talking)]  # type: ignore[operator]
                    model.forget(call)
                    await send(CallEnded(call), call)
            case ("hangup", index):
                waiting = sorted(c for c in model.calls if c not in model.connected)
                if waiting:
                    call = waiting[index % len(waiting)]  # type: ignore[operator]
                    model.leave(call)
                    await send(CallerHungUp(call), call)
                    model.forget(call)
            case ("tick", seconds):
                until = now + float(seconds)  # type: ignore[arg-type]
                while True:
                    due = [(t, i) for i, d in enumerate(nodes) if (t := d.next_timer()) is not None]
                    due = [(t, i) for t, i in due if t <= until]
                    if not due:
                        break
                    now, index = min(due)
                    model.apply(await nodes[index].handle_timer(now))
                now = until
        await settle(n)
        model.check_nobody_waits_for_a_free_phone()
    # everybody leaves: no line may stay taken
    for call in sorted(model.calls):
        if call in model.connected:
            model.forget(call)
            await send(CallEnded(call), call)
        else:
            model.leave(call)
            await send(CallerHungUp(call), call)
            model.forget(call)
    await settle()
    for node in nodes:
        assert node.calls() == ()
    return model


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations)
def test_lines_fifo_and_no_idle_waiter_in_process(ops: list[tuple[object, ...]]) -> None:
    state = InProcessState()
    run_sync(simulate([Distributor(state)], ops))
    assert state._busy == {}
    assert state._phone_waiters == {}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations)
def test_fifo_with_two_distributors_sharing_one_redis(ops: list[tuple[object, ...]]) -> None:
    async def run() -> None:
        state = await open_redis_state()
        try:
            nodes = [Distributor(state, poll_interval=1.0), Distributor(state, poll_interval=1.0)]
            await simulate(nodes, ops)
            assert await state.client.hlen(f"{state.prefix}busy") == 0  # type: ignore[misc]
            assert await state.client.hlen(f"{state.prefix}held") == 0  # type: ignore[misc]
        finally:
            await state.clear()
            await state.aclose()

    asyncio.run(run())


def test_two_nodes_really_interleave_on_redis() -> None:
    """A fixed run where the waiter of node 0 is ahead of the waiter of node 1."""
    ops: list[tuple[object, ...]] = [
        ("arrive", 2, 0, False, 0),  # c0 on employee 5 (2 lines)
        ("answer", 0),
        ("arrive", 2, 0, False, 1),  # c2: second line
        ("answer", 0),
        ("arrive", 2, 0, True, 0),  # c4 queued on node 0
        ("arrive", 2, 0, True, 1),  # c5 queued on node 1
        ("end", 1),  # node 1 frees a line: c4 (node 0) must get it, not c5 (node 1)
        ("tick", 12.0),
        ("end", 0),
    ]

    async def run() -> Model:
        state = await open_redis_state()
        try:
            nodes = [Distributor(state), Distributor(state)]
            return await simulate(nodes, ops)
        finally:
            await state.clear()
            await state.aclose()

    model = asyncio.run(run())
    assert model.fifo_checks > 0


# --------------------------------------------------------------------------- percentages


@settings(max_examples=4, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(
    percents=st.lists(st.integers(1, 100), min_size=2, max_size=5),
    answer_odds=st.lists(st.floats(0.3, 1.0), min_size=5, max_size=5),
    seed=st.integers(0, 2**32 - 1),
)
def test_percentages_converge_within_3_points_over_10000_calls(
    percents: list[int], answer_odds: list[float], seed: int
) -> None:
    rng = random.Random(seed)
    team = tuple(
        employee(i + 1, phone("a", lines=1, percent=float(p))) for i, p in enumerate(percents)
    )
    d = Distributor()
    # every phone is free when a call comes (a busy phone cannot take its share: see
    # test_strategies.test_a_busy_phone_catches_up_on_its_percentage); answers, rejections
    # and hang-ups are random
    directed = [0] * len(team)
    now = 0.0
    for n in range(10_000):
        now += 1.0
        call = f"c{n}"
        req = request(call, team, Strategy.CUSTOM, percentage=True, simultaneous_lines=1)
        step = run_sync(d.start(req, now))
        first = True
        while True:
            ring = next((a for a in step.actions if isinstance(a, Ring)), None)
            if ring is None:
                break
            if first:
                directed[ring.employee_id - 1] += 1
                first = False
            if rng.random() < 0.1:  # the caller hangs up while it rings
                run_sync(d.handle(CallerHungUp(call), now))
                break
            if rng.random() < answer_odds[ring.employee_id - 1]:
                run_sync(d.handle(Answered(call, ring.employee_id, ring.phone_id), now))
                run_sync(d.handle(CallEnded(call), now + rng.random()))
                break
            event = RingEnded(call, ring.employee_id, ring.phone_id, RingResult.NO_ANSWER)
            step = run_sync(d.handle(event, now))
    answered = directed
    total = sum(answered)
    assert total == 10_000
    for count, percent in zip(answered, percents, strict=True):
        share = 100.0 * count / total
        target = 100.0 * percent / sum(percents)
        assert abs(share - target) <= 3.0, (share, target, answered, percents)
