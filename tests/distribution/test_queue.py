"""The global call queue (QUE-1..7) on the in-process store, fake clock."""

from __future__ import annotations

from tests.distribution.helpers import Sim, employee, of_type, phone, request, rings, staff
from vpbx.scenario.distribution import (
    Answered,
    CallEnded,
    CallerHungUp,
    CallKind,
    DetailKind,
    GiveUp,
    Held,
    Queued,
    RingEnded,
    SkipReason,
    Strategy,
    run_sync,
)

Q = {"queue": True}


def queued(step) -> Queued:
    (q,) = of_type(step, Queued)
    assert isinstance(q, Queued)
    return q


def test_one_full_round_first_then_the_queue() -> None:
    sim = Sim()
    team = staff(2, timeout=10)
    step = sim.start(request("a", team, **Q), 0.0)
    assert rings(step) == [(1, "p1")]
    assert not of_type(step, Queued)
    assert rings(sim.timer(10.0)) == [(2, "p1")]
    step = sim.timer(20.0)
    q = queued(step)
    assert (q.position, q.ahead, q.estimated_wait) == (1, (), None)
    # once queued, the caller is rung again at once, least recently tried phone first
    assert rings(step) == [(1, "p1")]


def busy_team(sim: Sim, talk: float = 60.0):
    """One employee with one line, who had one call of `talk` s and is now on another call."""
    team = staff(1)
    sim.start(request("old", team), 0.0)
    sim.handle(Answered("old", 1, "p1"), 0.0)
    sim.handle(CallEnded("old"), talk)
    sim.start(request("talking", team), 100.0)
    sim.handle(Answered("talking", 1, "p1"), 100.0)
    return team


def test_strict_fifo_callers_ahead_and_estimated_wait() -> None:
    sim = Sim()
    team = busy_team(sim)
    step_b = sim.start(request("b", team, caller="+7001", **Q), 110.0)
    skipped = [d for d in step_b.details if d.kind is DetailKind.SKIPPED]
    assert [d.text for d in skipped] == ["Все линии номера заняты"]
    qb = queued(step_b)
    assert (qb.position, qb.ahead, qb.estimated_wait) == (1, (), 60.0)
    step_c = sim.start(request("c", team, caller="+7002", **Q), 111.0)
    assert [d.text for d in step_c.details if d.kind is DetailKind.SKIPPED] == [
        "Другие абоненты находятся в очереди"
    ]
    qc = queued(step_c)
    assert (qc.position, qc.ahead, qc.estimated_wait) == (2, ("+7001",), 120.0)
    details = [d for d in step_c.details if d.kind is DetailKind.QUEUED]
    assert details[0].ahead == ("+7001",)
    # the talk ends: b, first in the queue, gets the phone; c keeps waiting
    step = sim.handle(CallEnded("talking"), 200.0)
    assert rings(step) == [(1, "p1")]
    assert sim.ringing("b") == [1]
    assert sim.ringing("c") == []
    # b does not answer: he is rung again, c still waits
    step = sim.timer(220.0)
    assert sim.ringing("b") == [1]
    assert sim.ringing("c") == []
    sim.handle(Answered("b", 1, "p1"), 225.0)
    assert sim.ringing("c") == []
    spot = run_sync(sim.distributor.queue_status("c", 225.0))
    assert spot is not None
    assert (spot.position, spot.ahead) == (1, ())
    assert rings(sim.handle(CallEnded("b"), 300.0)) == [(1, "p1")]
    assert sim.ringing("c") == [1]


def test_a_caller_leaving_the_queue_moves_the_others_up() -> None:
    sim = Sim()
    team = busy_team(sim)
    sim.start(request("b", team, **Q), 110.0)
    sim.start(request("c", team, **Q), 111.0)
    sim.handle(CallerHungUp("b"), 112.0)
    spot = run_sync(sim.distributor.queue_status("c", 112.0))
    assert spot is not None
    assert spot.position == 1
    assert rings(sim.handle(CallEnded("talking"), 200.0)) == [(1, "p1")]
    assert sim.ringing("c") == [1]


def test_the_queue_is_global_across_operations_and_scenarios() -> None:
    sim = Sim()
    team = busy_team(sim)
    qb = queued(sim.start(request("b", team, scenario_id=1, operation_key="x", **Q), 110.0))
    qc = queued(sim.start(request("c", team, scenario_id=2, operation_key="y", **Q), 111.0))
    assert qb.queue_key == qc.queue_key
    assert qc.position == 2
    # a call of a third scenario without queue: the phone is held by the queue
    step = sim.start(request("d", team, scenario_id=3), 112.0)
    (give_up,) = of_type(step, GiveUp)
    assert isinstance(give_up, GiveUp)
    assert [s.reason for s in give_up.skipped] == [SkipReason.QUEUE_HELD]


def test_different_phone_sets_queue_in_parallel() -> None:
    sim = Sim()
    x, y = (employee(1),), (employee(2),)
    for team, name in ((x, "x"), (y, "y")):
        sim.start(request(f"talk{name}", team), 0.0)
        sim.handle(Answered(f"talk{name}", team[0].employee_id, "p1"), 0.0)
    qx = queued(sim.start(request("bx", x, **Q), 1.0))
    qy = queued(sim.start(request("by", y, **Q), 2.0))
    assert qx.queue_key != qy.queue_key
    assert qx.position == qy.position == 1
    assert rings(sim.handle(CallEnded("talky"), 3.0)) == [(2, "p1")]
    assert sim.ringing("by") == [2]
    assert sim.ringing("bx") == []


def test_a_phone_in_another_queue_fails_with_the_queue_reason() -> None:
    sim = Sim()
    shared, own = employee(1), employee(2)
    sim.start(request("t", (shared,)), 0.0)
    sim.handle(Answered("t", 1, "p1"), 0.0)
    queued(sim.start(request("w", (shared,), **Q), 1.0))
    step = sim.start(request("n", (shared, own), Strategy.CUSTOM, simultaneous_lines=2, **Q), 2.0)
    assert rings(step) == [(2, "p1")]
    skipped = [(d.employee_id, d.text) for d in step.details if d.kind is DetailKind.SKIPPED]
    assert skipped == [(1, "Другие абоненты находятся в очереди")]


def test_outgoing_calls_never_queue_except_callapi_and_join_queue_transfers() -> None:
    sim = Sim()
    team = busy_team(sim)
    step = sim.start(request("out", team, kind=CallKind.OUTGOING, **Q), 110.0)
    assert of_type(step, GiveUp)
    assert not of_type(step, Queued)
    assert queued(sim.start(request("api", team, kind=CallKind.CALLAPI_SCENARIO, **Q), 111.0))
    step = sim.start(request("xfer", team, kind=CallKind.TRANSFER), 112.0)
    assert of_type(step, GiveUp)
    step = sim.start(request("xfer2", team, kind=CallKind.TRANSFER, join_queue=True), 113.0)
    assert queued(step).position == 2
    # an incoming call whose operation has the queue off gives up
    assert of_type(sim.start(request("in", team), 114.0), GiveUp)


def test_the_outbound_dialer_holds_and_rings_in_parallel() -> None:
    sim = Sim()
    team = staff(3, timeout=10)
    sim.start(request("t", team[:1]), 0.0)
    sim.handle(Answered("t", 1, "p1"), 0.0)
    step = sim.start(request("d1", team, kind=CallKind.DIALER, **Q), 1.0)
    assert sorted(rings(step)) == [(2, "p1"), (3, "p1")]  # every free phone at once
    step = sim.start(request("d2", team, kind=CallKind.DIALER, **Q), 1.0)
    assert of_type(step, Held)
    assert rings(step) == []
    # employee 2 rejects d1: the phone goes to d2 at once (no FIFO for the dialer)
    step = sim.handle(RingEnded("d1", 2, "p1"), 2.0)
    assert (2, "p1") in rings(step)
    assert sim.ringing("d2") == [2]
    # the talk on 1 ends: a held dialer call takes it
    step = sim.handle(CallEnded("t"), 3.0)
    assert rings(step) == [(1, "p1")]
    # the dialer never holds phones against ordinary calls: none free now, so line limit
    step = sim.start(request("n", team), 4.0)
    assert {s.reason for g in of_type(step, GiveUp) for s in g.skipped} == {SkipReason.LINE_LIMIT}


def test_a_dialer_call_with_the_queue_off_gives_up() -> None:
    sim = Sim()
    step = sim.start(request("d", staff(1, timeout=5), kind=CallKind.DIALER), 0.0)
    assert rings(step) == [(1, "p1")]
    assert of_type(sim.timer(5.0), GiveUp)


def test_phone_kept_for_the_first_waiter_while_he_can_use_it() -> None:
    sim = Sim()
    team = staff(2, timeout=30)
    for name in ("t1", "t2"):
        sim.start(request(name, team), 0.0)
        sim.handle(Answered(name, *rings(sim.steps[-1])[0]), 0.0)
    wide = {"simultaneous_lines": 2, **Q}
    queued(sim.start(request("a", team, Strategy.CUSTOM, **wide), 1.0))
    queued(sim.start(request("b", team, Strategy.CUSTOM, **wide), 2.0))
    sim.handle(CallEnded("t1"), 3.0)
    assert sim.ringing("a") == [1]
    assert sim.ringing("b") == []
    sim.handle(CallEnded("t2"), 4.0)
    # a may ring two lines: both phones go to him, b still waits
    assert sim.ringing("a") == [1, 2]
    assert sim.ringing("b") == []


def test_details_say_who_was_offered_and_why() -> None:
    sim = Sim()
    step = sim.start(request("a", staff(2), Strategy.IN_TURN), 0.0)
    offered = [d for d in step.details if d.kind is DetailKind.OFFERED]
    assert [(d.employee_id, d.text) for d in offered] == [
        (1, "строго по очереди: абонент 1 → сотрудник 1")
    ]
    skipped = [d for d in step.details if d.kind is DetailKind.SKIPPED]
    assert [(d.employee_id, d.text) for d in skipped] == [
        (2, "Звонок по очереди направлен другому сотруднику")
    ]
    _ = phone
