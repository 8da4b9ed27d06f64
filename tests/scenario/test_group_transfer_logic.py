"""A transfer to a group's extension goes through the group's distribution (TALK-5, GRP-1/2):
its strategy and simultaneous lines decide who rings, a member who does not answer passes the
call on to the next, the one who takes the caller is busy for the distribution until his talk
ends, and a transfer nobody takes lets the group go and returns the caller to the employee."""

from __future__ import annotations

import dataclasses

from tests.scenario.test_call_logic import of
from tests.scenario.test_transfer_logic import keys, office, talking
from vpbx.scenario import call_io as io
from vpbx.scenario import distribution as dist
from vpbx.scenario.snapshot import ConfigSnapshot, EmployeeInfo, GroupInfo, PhoneInfo

SUPPORT = GroupInfo(20, "Поддержка", "300", (4, 5), simultaneous_lines=1)
DIST_ID = "c1/transfer1"


def with_group() -> ConfigSnapshot:
    cfg = office()
    members = {
        4: EmployeeInfo(4, "Орлов", "104", ("p1",), phones=(PhoneInfo("p1", sip_line_id=14),)),
        5: EmployeeInfo(5, "Волкова", "105", ("p1",), phones=(PhoneInfo("p1", sip_line_id=15),)),
    }
    return dataclasses.replace(
        cfg,
        employees={**cfg.employees, **members},
        groups={**cfg.groups, SUPPORT.id: SUPPORT},
        extensions={
            **cfg.extensions,
            "104": ("employee", 4),
            "105": ("employee", 5),
            "300": ("group", SUPPORT.id),
        },
    )


def test_the_groups_distribution_rings_one_member_at_a_time_and_counts_the_talk() -> None:
    switch, _ = talking(with_group())
    out = keys(switch, "#300#")
    [request] = [c.request for c in of(io.Distribute, out)]
    assert (request.call_id, request.kind) == (DIST_ID, dist.CallKind.TRANSFER)
    assert [t.employee_id for t in request.targets] == [4, 5]
    [first] = of(io.RingPhone, out)  # one simultaneous line: one member at a time
    assert (first.employee_id, first.transfer) == (4, True)
    out = switch.send(io.RingFailed(first.ring, 486))  # busy: the next member
    assert next(c.event for c in of(io.TellDistribution, out)) == dist.RingEnded(
        DIST_ID, 4, "p1", dist.RingResult.BUSY
    )
    [second] = of(io.RingPhone, out)
    assert second.employee_id == 5
    out = switch.send(io.RingAnswered(second.ring))
    assert dist.Answered(DIST_ID, 5, "p1") in [c.event for c in of(io.TellDistribution, out)]
    assert of(io.ConsultTarget, out)
    out = switch.send(io.CalleeHungUp())  # the first employee hands the caller over
    assert of(io.CompleteTransfer, out) == [io.CompleteTransfer(second.ring)]
    # the first employee is free in his own distribution; the member's talk counts in the group's
    assert [c.event for c in of(io.TellDistribution, out)] == [dist.CallEnded("c1")]
    assert switch.logic.talker == 5
    out = switch.send(io.CalleeHungUp())  # the member ends the talk
    assert [c.event for c in of(io.TellDistribution, out)] == [dist.CallEnded(DIST_ID)]


def test_a_group_nobody_answers_returns_the_caller_to_the_employee() -> None:
    switch, _ = talking(with_group())
    out = keys(switch, "#300#")
    for _ in range(2):
        [ring] = of(io.RingPhone, out)
        out = switch.send(io.RingFailed(ring.ring, 480))
    assert of(io.ReturnToEmployee, out)
    assert switch.logic.transfer is None
    assert switch.logic.talker == 1
    assert "в группе никто не ответил" in switch.logic.details[-1].text
    # the distribution gave up by itself: it is not told again
    assert not [c for c in of(io.TellDistribution, out) if c.event.call_id == DIST_ID][1:]


def test_the_caller_leaving_while_the_group_rings_lets_the_group_go() -> None:
    switch, _ = talking(with_group())
    [ring] = of(io.RingPhone, keys(switch, "#300#"))
    out = switch.send(io.CallerHungUp())
    events = [c.event for c in of(io.TellDistribution, out)]
    assert dist.CallerHungUp(DIST_ID) in events
    assert switch.logic.engine.ended
    assert ring.ring not in switch.logic.rings


def test_cancelling_during_the_consultation_frees_the_member_who_answered() -> None:
    switch, _ = talking(with_group())
    [ring] = of(io.RingPhone, keys(switch, "#300#"))
    switch.send(io.RingAnswered(ring.ring))
    out = keys(switch, "*")
    assert of(io.ReturnToEmployee, out)
    assert [c.event for c in of(io.TellDistribution, out)] == [dist.CallEnded(DIST_ID)]
    assert switch.logic.talker == 1
