"""Fake-clock tests per strategy (DST-1..6) and the skips of DST-7."""

from __future__ import annotations

import pytest

from tests.distribution.helpers import Sim, employee, of_type, phone, request, rings, staff
from vpbx.domain.entities.scenarios import Distribution
from vpbx.scenario.distribution import (
    Answered,
    CallEnded,
    CallerHungUp,
    Cancel,
    DetailKind,
    GiveUp,
    Ring,
    RingEnded,
    RingResult,
    Skip,
    SkipReason,
    Strategy,
    equalize,
    resolve_settings,
    width_at,
)

H12 = 12 * 3600.0


def test_fastest_rings_5_6_7_lines_at_0_5_10_seconds() -> None:
    sim = Sim()
    sim.start(request("c1", staff(12, timeout=60), Strategy.FASTEST), now=0.0)
    assert sim.ringing("c1") == [1, 2, 3, 4, 5]
    assert sim.distributor.next_timer() == 5.0
    sim.timer(4.999)
    assert len(sim.ringing("c1")) == 5
    step = sim.timer(5.0)
    assert rings(step) == [(6, "p1")]
    assert sim.ringing("c1") == [1, 2, 3, 4, 5, 6]
    assert sim.distributor.next_timer() == 10.0
    sim.timer(10.0)
    assert sim.ringing("c1") == [1, 2, 3, 4, 5, 6, 7]
    sim.timer(15.0)
    assert len(sim.ringing("c1")) == 8


def test_fastest_width_formula() -> None:
    settings = resolve_settings(Strategy.FASTEST, Distribution())
    assert [width_at(settings, t) for t in (0, 4.9, 5, 9.9, 10, 25)] == [5, 5, 6, 6, 7, 10]


def test_strictly_in_turn_maps_caller_k_to_employee_k() -> None:
    sim = Sim()
    team = staff(3)
    for k in range(1, 7):
        step = sim.start(request(f"c{k}", team, Strategy.IN_TURN), now=float(k))
        expected = (k - 1) % 3 + 1
        assert rings(step) == [(expected, "p1")]
        skipped = {d.employee_id for d in step.details if d.kind is DetailKind.SKIPPED}
        assert skipped == {1, 2, 3} - {expected}
        # only him: once his phone fails, nobody else is rung
        step = sim.handle(RingEnded(f"c{k}", expected, "p1", RingResult.NO_ANSWER), float(k))
        (give_up,) = of_type(step, GiveUp)
        assert isinstance(give_up, GiveUp)
        assert rings(step) == []


def test_in_turn_counts_only_employees_who_take_calls() -> None:
    sim = Sim()
    team = (employee(1), employee(2, calls_enabled=False), employee(3))
    assert rings(sim.start(request("a", team, Strategy.IN_TURN), 0)) == [(1, "p1")]
    assert rings(sim.start(request("b", team, Strategy.IN_TURN), 0)) == [(3, "p1")]


def talk(sim: Sim, call: str, targets: tuple, strategy: Strategy, start: float, seconds: float):
    step = sim.start(request(call, targets, strategy), start)
    first = rings(step)[0]
    sim.handle(Answered(call, *first), start)
    sim.handle(CallEnded(call), start + seconds)
    return first


def test_support_prefers_least_talk_and_forgets_after_12h_plus_1s() -> None:
    sim = Sim()
    team = staff(2)
    assert talk(sim, "a", team, Strategy.SUPPORT, 0.0, 100.0) == (1, "p1")  # ends at t=100
    assert talk(sim, "b", team, Strategy.SUPPORT, 200.0, 50.0) == (2, "p1")  # 1 has 100 s
    # 1: 100 s, 2: 50 s → employee 2 again
    assert rings(sim.start(request("c", team, Strategy.SUPPORT), 300.0))[0] == (2, "p1")
    sim.handle(RingEnded("c", 2, "p1"), 300.0)
    sim.handle(RingEnded("c", 1, "p1"), 300.0)
    # at exactly 12 h after its end, employee 1's call still counts; 1 s later it is forgotten
    # (employee 2's talk ended at 250, still counted)
    assert rings(sim.start(request("d", team, Strategy.SUPPORT), 100.0 + H12))[0] == (2, "p1")
    sim.handle(RingEnded("d", 2, "p1"), 100.0 + H12)
    sim.handle(RingEnded("d", 1, "p1"), 100.0 + H12)
    assert rings(sim.start(request("e", team, Strategy.SUPPORT), 101.0 + H12))[0] == (1, "p1")


def test_support_counts_talk_within_this_scenario_only() -> None:
    sim = Sim()
    team = staff(2)
    sim.start(request("a", team, Strategy.SUPPORT, scenario_id=7), 0)
    sim.handle(Answered("a", 1, "p1"), 0)
    sim.handle(CallEnded("a"), 500)
    assert rings(sim.start(request("b", team, Strategy.SUPPORT, scenario_id=8), 600))[0] == (
        1,
        "p1",
    )
    assert rings(sim.start(request("c", team, Strategy.SUPPORT, scenario_id=7), 600))[0] == (
        2,
        "p1",
    )


def test_sales_counts_directed_calls_including_unsuccessful() -> None:
    sim = Sim()
    team = staff(3)
    # call a: rung on 1, no answer → rung on 2, no answer → 3 answers
    step = sim.start(request("a", team, Strategy.SALES), 0.0)
    assert rings(step) == [(1, "p1")]
    sim.handle(RingEnded("a", 1, "p1", RingResult.REJECTED), 1)
    sim.handle(RingEnded("a", 2, "p1", RingResult.BUSY), 2)
    sim.handle(Answered("a", 3, "p1"), 3)
    sim.handle(CallEnded("a"), 4)
    # each of them got one directed call; the order stays the configured one
    assert rings(sim.start(request("b", team, Strategy.SALES), 10.0)) == [(1, "p1")]
    sim.handle(Answered("b", 1, "p1"), 11)
    sim.handle(CallEnded("b"), 20)
    # now 1 has two; 2 and 3 one each → 2 first
    assert rings(sim.start(request("c", team, Strategy.SALES), 30.0)) == [(2, "p1")]
    sim.handle(RingEnded("c", 2, "p1"), 30)
    sim.handle(RingEnded("c", 3, "p1"), 30)
    sim.handle(RingEnded("c", 1, "p1"), 30)
    # 1: 3 offers (t=0, 10, 30), 2: 2 (t=1, 30), 3: 2 (t=2, 30); exactly 12 h after t=0 the
    # offer to 1 still counts → 2 first
    step = sim.start(request("d", team, Strategy.SALES), H12)
    assert rings(step) == [(2, "p1")]
    sim.handle(CallerHungUp("d"), H12)
    # 12 h + 1 s after t=0 it is forgotten: 1: 2 (10, 30); 2: 3 (1, 30, H12); 3: 2 → 1 first
    assert rings(sim.start(request("e", team, Strategy.SALES), H12 + 1.0)) == [(1, "p1")]


def test_priority_moves_on_after_each_ring_timeout() -> None:
    sim = Sim()
    team = (
        employee(1, phone(timeout=10)),
        employee(2, phone(timeout=20)),
        employee(3, phone(timeout=15)),
    )
    assert rings(sim.start(request("c", team, Strategy.PRIORITY), 0.0)) == [(1, "p1")]
    assert sim.distributor.next_timer() == 10.0
    step = sim.timer(10.0)
    assert [a for a in step.actions if isinstance(a, Cancel)] == [Cancel("c", 1, "p1", "timeout")]
    assert rings(step) == [(2, "p1")]
    assert sim.distributor.next_timer() == 30.0
    assert rings(sim.timer(30.0)) == [(3, "p1")]
    assert sim.distributor.next_timer() == 45.0
    step = sim.timer(45.0)
    assert of_type(step, GiveUp) == [GiveUp("c", ())]


def test_employee_phones_in_order_with_their_own_timeouts() -> None:
    sim = Sim()
    boss = employee(1, phone("sip", timeout=10), phone("mob", timeout=25))
    team = (boss, employee(2))
    step = sim.start(request("c", team, Strategy.CUSTOM, simultaneous_lines=2), 0.0)
    # two lines: employee 1's first phone and employee 2; never two phones of one employee
    assert rings(step) == [(1, "sip"), (2, "p1")]
    step = sim.timer(10.0)
    assert rings(step) == [(1, "mob")]
    assert sim.distributor.next_timer() == 20.0  # employee 2's phone (20 s)
    sim.timer(20.0)
    assert sim.distributor.next_timer() == 35.0
    assert of_type(sim.timer(35.0), GiveUp)


def test_custom_ring_timeout_overrides_the_phones() -> None:
    sim = Sim()
    step = sim.start(request("c", staff(2, timeout=40), Strategy.CUSTOM, ring_timeout=7.0), 0.0)
    assert [a.timeout for a in step.actions if isinstance(a, Ring)] == [7.0]
    assert sim.distributor.next_timer() == 7.0


def test_wrapup_holds_an_employee_for_exactly_n_seconds() -> None:
    sim = Sim()
    team = staff(1)
    kw = {"wrapup_seconds": 30.0}
    sim.start(request("a", team, Strategy.CUSTOM, **kw), 0.0)
    sim.handle(Answered("a", 1, "p1"), 1.0)
    sim.handle(CallEnded("a"), 100.0)
    for t in (100.0, 115.0, 129.999):
        step = sim.start(request(f"b{t}", team, Strategy.CUSTOM, **kw), t)
        assert rings(step) == []
        assert of_type(step, GiveUp) == [GiveUp(f"b{t}", (Skip(1, "p1", SkipReason.WRAP_UP),))]
    assert rings(sim.start(request("c", team, Strategy.CUSTOM, **kw), 130.0)) == [(1, "p1")]


def test_wrapup_ends_with_a_timer_for_a_queued_caller() -> None:
    sim = Sim()
    team = staff(1)
    kw = {"wrapup_seconds": 30.0, "queue": True}
    sim.start(request("a", team, Strategy.CUSTOM, **kw), 0.0)
    sim.handle(Answered("a", 1, "p1"), 1.0)
    sim.handle(CallEnded("a"), 100.0)
    step = sim.start(request("b", team, Strategy.CUSTOM, **kw), 110.0)
    assert rings(step) == []
    assert sim.distributor.next_timer() == 130.0
    assert rings(sim.timer(130.0)) == [(1, "p1")]


def test_skips_with_reasons() -> None:
    sim = Sim()
    busy = employee(7, phone(lines=1))
    sim.start(request("other", (busy,), Strategy.PRIORITY), 0.0)
    team = (
        employee(1, calls_enabled=False),
        employee(2, in_schedule=False),
        employee(3, group_active=False),
        employee(4, phone("sip", available=False)),
        busy,
        employee(5, phone("a", lines=2)),
    )
    step = sim.start(request("c", team, Strategy.PRIORITY), 1.0)
    assert rings(step) == [(5, "a")]
    reasons = [
        (d.employee_id, d.phone_id, d.text) for d in step.details if d.kind is DetailKind.SKIPPED
    ]
    assert reasons == [
        (1, None, "Статус звонков выключен"),
        (2, None, "Вне графика активности сотрудника"),
        (3, None, "Вне графика активности группы"),
        (4, "sip", "Номер недоступен в группе"),
        (7, "p1", "Все линии номера заняты"),
    ]
    step = sim.handle(RingEnded("c", 5, "a", RingResult.BUSY), 2.0)
    (give_up,) = of_type(step, GiveUp)
    assert isinstance(give_up, GiveUp)
    assert {s.reason for s in give_up.skipped} == {
        SkipReason.CALLS_OFF,
        SkipReason.OUTSIDE_SCHEDULE,
        SkipReason.GROUP_SCHEDULE,
        SkipReason.UNAVAILABLE,
        SkipReason.LINE_LIMIT,
    }


def test_a_multi_line_phone_takes_several_calls() -> None:
    sim = Sim()
    team = (employee(1, phone(lines=2)),)
    assert rings(sim.start(request("a", team), 0)) == [(1, "p1")]
    assert rings(sim.start(request("b", team), 0)) == [(1, "p1")]
    step = sim.start(request("c", team), 0)
    assert of_type(step, GiveUp) == [GiveUp("c", (Skip(1, "p1", SkipReason.LINE_LIMIT),))]


def test_percentages_follow_shares_and_skip_zero() -> None:
    sim = Sim()
    team = (
        employee(1, phone(percent=50.0)),
        employee(2, phone(percent=30.0)),
        employee(3, phone(percent=20.0)),
        employee(4, phone(percent=0.0)),
    )
    got = {1: 0, 2: 0, 3: 0}
    for n in range(100):
        step = sim.start(request(f"c{n}", team, Strategy.CUSTOM, percentage=True), float(n))
        (first,) = rings(step)
        sim.handle(Answered(f"c{n}", *first), float(n))
        sim.handle(CallEnded(f"c{n}"), float(n))
        got[first[0]] += 1
    assert got == {1: 50, 2: 30, 3: 20}
    assert any(d.text == "Процент звонков на номер равен 0" for d in sim.steps[0].details)


@pytest.mark.parametrize("count", [1, 3, 6, 7, 9])
def test_equalize_sums_to_100(count: int) -> None:
    shares = equalize(count)
    assert len(shares) == count
    assert round(sum(shares), 2) == 100.0
    assert max(shares) - min(shares) <= 0.011


def test_resolve_settings_presets() -> None:
    d = Distribution(
        simultaneous_lines=3, ring_timeout=9, percentage=True, queue=True, wrapup_seconds=4
    )
    assert resolve_settings(Strategy.PRIORITY, d).simultaneous_lines == 1
    assert resolve_settings(Strategy.SUPPORT, Distribution(), 4).simultaneous_lines == 4
    custom = resolve_settings(Strategy.CUSTOM, d)
    assert (custom.simultaneous_lines, custom.ring_timeout, custom.percentage) == (3, 9.0, True)
    assert resolve_settings(Strategy.SALES, d).percentage is False
    assert resolve_settings(Strategy.SALES, d).queue is True


def test_a_busy_phone_catches_up_on_its_percentage() -> None:
    sim = Sim()
    team = (employee(1, phone(percent=50.0)), employee(2, phone(percent=50.0)))
    pct = {"percentage": True}
    sim.start(request("t", team[:1], Strategy.CUSTOM, **pct), 0.0)
    sim.handle(Answered("t", 1, "p1"), 0.0)  # employee 1 talks: the next calls go to 2
    firsts = []
    for n in range(6):
        (first,) = rings(sim.start(request(f"a{n}", team, Strategy.CUSTOM, **pct), 1.0 + n))
        firsts.append(first[0])
        sim.handle(CallerHungUp(f"a{n}"), 1.0 + n)
    sim.handle(CallEnded("t"), 10.0)
    for n in range(8):
        (first,) = rings(sim.start(request(f"b{n}", team, Strategy.CUSTOM, **pct), 11.0 + n))
        firsts.append(first[0])
        sim.handle(CallerHungUp(f"b{n}"), 11.0 + n)
    # 1 had 1 call (t), 2 had 6; then 1 goes first until caught up (ties: configured order)
    assert firsts == [2] * 6 + [1] * 6 + [2, 1]
