"""The call core's side of the phone's own attended transfer (REFER with Replaces, RFC 3891 /
RFC 5589 §7) on a fake clock: the consulted target's leg is taken over as a transfer ring and
takes the caller at once, like the blind REFER's target; a dialog the switch did not find
(481) or cannot hand over is told to the phone and the talk goes on as it was."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.scenario.test_call_logic import Switch, kinds, of
from tests.scenario.test_transfer_logic import keys, office, play, talking
from vpbx.scenario import call_io as io
from vpbx.scenario import distribution as dist

ASKED = io.ReplacesAsked("y-call", employee_id=2)
MISSING = io.ReplacesAsked(status=481, reason="Call/Transaction Does Not Exist")


def test_the_consulted_target_takes_the_caller_at_once() -> None:
    switch, _ = talking()
    switch.now += dt.timedelta(seconds=4)
    out = switch.send(ASKED)
    assert out[0] == io.HoldCaller()  # the caller waits while the leg changes calls
    [take] = of(io.TakeConsultation, out)
    assert take.consultation == "y-call"
    assert not of(io.RingPhone, out)  # nothing rings: the target is on the line already
    out = switch.send(io.RingAnswered(take.ring))
    # the phone hears 200 before the switch lets its leg go
    assert out.index(io.NotifyTransfer(200, "OK")) < out.index(io.CompleteTransfer(take.ring))
    assert [c.event for c in of(io.TellDistribution, out)] == [dist.CallEnded("c1")]
    assert switch.logic.talker == 2
    assert switch.logic.transfer is None
    transfer = next(s for s in switch.logic.details if s.kind == "transfer")
    assert transfer.data["mode"] == "replaces"
    assert transfer.data["target"] == "102"
    assert transfer.data["by"] == 1
    assert "REFER с Replaces" in transfer.text
    done = next(s for s in switch.logic.details if s.kind == "transfer_done")
    assert done.data["employee_id"] == 2
    # the talk goes on with the target, and ends when he hangs up
    switch.now += dt.timedelta(seconds=6)
    switch.send(io.CalleeHungUp())
    assert switch.logic.engine.ended
    summary = switch.logic.summary(switch.now)
    assert (summary.status, summary.employee_id, summary.talk_seconds) == ("answered", 1, 10.0)


def test_a_dialog_the_switch_did_not_find_is_notified_481_and_the_talk_goes_on() -> None:
    switch, ring = talking()
    out = switch.send(MISSING)
    assert out == [io.NotifyTransfer(481, "Call/Transaction Does Not Exist")]
    assert switch.logic.transfer is None
    assert switch.logic.talking
    assert switch.logic.answered_ring == ring
    step = switch.logic.details[-1]
    assert (step.kind, step.data["mode"]) == ("transfer_failed", "replaces")
    assert step.data["status"] == 481
    # the employee can still transfer afterwards
    assert of(io.TakeConsultation, switch.send(ASKED))


def test_a_leg_gone_before_it_was_taken_returns_the_caller_to_the_employee() -> None:
    switch, _ = talking()
    [take] = of(io.TakeConsultation, switch.send(ASKED))
    out = switch.send(io.RingFailed(take.ring, 481))
    [notify] = of(io.NotifyTransfer, out)
    assert notify.status == 481
    assert of(io.ReturnToEmployee, out)
    assert switch.logic.talker == 1
    assert switch.logic.talking
    assert "консультационного разговора уже нет" in switch.logic.details[-1].text


def test_a_replaces_while_another_transfer_runs_or_before_the_talk_is_refused() -> None:
    switch, _ = talking()
    keys(switch, "#")  # the employee dials a # transfer
    assert switch.send(ASKED) == [io.NotifyTransfer(491, "Request Pending")]
    early = Switch(office())
    early.start()
    assert early.send(ASKED) == [io.NotifyTransfer(403, "Forbidden")]


def test_the_phone_hanging_up_as_its_transfer_is_done_changes_nothing() -> None:
    switch, _ = talking()
    [take] = of(io.TakeConsultation, switch.send(ASKED))
    out = switch.send(io.CalleeHungUp())  # its BYE crossed our NOTIFY
    assert not of(io.ReturnToEmployee, out)
    assert not switch.logic.engine.ended
    out = switch.send(io.RingAnswered(take.ring))
    assert of(io.CompleteTransfer, out)
    assert "перевод без консультации" not in " ".join(s.text for s in switch.logic.details)
    assert kinds(switch).count("transfer_done") == 1


EVENTS: list[Any] = [
    ASKED,
    MISSING,
    io.TransferAsked("102"),
    io.EmployeeDigit("#"),
    io.EmployeeDigit("*"),
    io.CalleeHungUp(),
    io.TargetHungUp(),
    "answer",
    "fail",
    "later",
]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(EVENTS), max_size=12))
def test_any_order_of_replaces_refers_answers_and_hang_ups_ends_cleanly(
    events: list[Any],
) -> None:
    switch = play(events, fail_status=481)
    switch.send(io.CallerHungUp())
    switch.run(switch.logic.finish(switch.now))
    assert switch.logic.engine.ended
    summary = switch.logic.summary(switch.now)
    assert summary.status == "answered"
    # every REFER the phone sent got exactly one final NOTIFY, at most
    finals = [c for c in switch.commands if isinstance(c, io.NotifyTransfer) and c.status >= 200]
    asked = sum(1 for e in events if isinstance(e, io.ReplacesAsked | io.TransferAsked))
    assert len(finals) <= asked
