"""The call core's side of the employee's talk on a fake clock: transfers by `#` + number and by
REFER (TALK-5), back to the employee when the target fails, blind when the employee leaves,
and the talk options (TALK-1..7) as the commands they answer."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.scenario.helpers import CALLER, NUMBER
from tests.scenario.test_call_logic import OUTSIDE, Switch, account, forward, kinds, of
from vpbx.domain.entities.routing import TalkAction, TalkOption
from vpbx.scenario import call_io as io
from vpbx.scenario import distribution as dist
from vpbx.scenario.snapshot import ConfigSnapshot


def office(*options: TalkOption, transfer_caller_id: str = "virtual_number") -> ConfigSnapshot:
    cfg = account(forward({"employee_id": 1, "phone_id": "p1"}))
    return dataclasses.replace(
        cfg,
        talk_options={o.key: o for o in options},
        transfer_caller_id=transfer_caller_id,
    )


def talking(cfg: ConfigSnapshot | None = None) -> tuple[Switch, int]:
    """A caller talking to employee 1 (extension 101); the ring that answered."""
    switch = Switch(cfg or office())
    [ring] = of(io.RingPhone, switch.start())
    out = switch.send(io.RingAnswered(ring.ring))
    assert of(io.ConnectCallee, out)
    switch.send(io.Connected())
    return switch, ring.ring


def keys(switch: Switch, digits: str) -> list[io.Command]:
    out: list[io.Command] = []
    for digit in digits:
        out += switch.send(io.EmployeeDigit(digit))
    return out


def test_hash_and_an_extension_holds_the_caller_then_consults_and_hands_over() -> None:
    switch, first = talking()
    out = keys(switch, "#")
    assert of(io.HoldCaller, out) == [io.HoldCaller()]
    out = keys(switch, "102#")
    [ring] = of(io.RingPhone, out)
    assert (ring.employee_id, ring.transfer) == (2, True)
    assert ring.caller_id == NUMBER  # XFR-1: the account shows the virtual number by default
    out = switch.send(io.RingAnswered(ring.ring))
    assert of(io.ConsultTarget, out) == [io.ConsultTarget(ring.ring)]
    assert not of(io.CompleteTransfer, out)  # attended: the employee talks to him first
    switch.now += dt.timedelta(seconds=5)
    out = switch.send(io.CalleeHungUp())  # the employee hangs up: the target takes the caller
    assert of(io.CompleteTransfer, out) == [io.CompleteTransfer(ring.ring)]
    assert [c.event for c in of(io.TellDistribution, out)] == [dist.CallEnded("c1")]
    assert switch.logic.talker == 2
    assert not switch.logic.engine.ended  # the talk goes on, with the target
    switch.now += dt.timedelta(seconds=10)
    switch.send(io.CalleeHungUp())  # now the target hangs up: the talk is over
    assert switch.logic.engine.ended
    assert [k for k in kinds(switch) if k.startswith("transfer")] == [
        "transfer",
        "transfer_answered",
        "transfer_done",
    ]
    summary = switch.logic.summary(switch.now)
    assert (summary.status, summary.employee_id) == ("answered", 1)
    assert summary.talk_seconds == 15.0
    assert first != ring.ring


def test_the_account_may_show_the_target_the_callers_number() -> None:
    switch, _ = talking(office(transfer_caller_id="caller"))
    [ring] = of(io.RingPhone, keys(switch, "#102#"))
    assert ring.caller_id == CALLER


def test_the_number_ends_after_a_pause_without_the_closing_hash() -> None:
    switch, _ = talking()
    assert not of(io.FindPhones, keys(switch, "#102"))
    out = switch.later(5)
    assert of(io.RingPhone, out)


def test_a_target_that_does_not_answer_returns_the_caller_to_the_employee() -> None:
    switch, _ = talking()
    [ring] = of(io.RingPhone, keys(switch, "#102#"))
    out = switch.send(io.RingFailed(ring.ring, 480))
    assert of(io.ReturnToEmployee, out) == [io.ReturnToEmployee()]
    assert of(io.ToneToEmployee, out) == [io.ToneToEmployee(ok=False)]
    assert switch.logic.transfer is None
    assert switch.logic.talker == 1
    assert switch.logic.talking
    assert "не удался" in switch.logic.details[-1].text
    # the talk with the first employee goes on, and a second transfer works
    [again] = of(io.RingPhone, keys(switch, "#102#"))
    assert again.ring != ring.ring


def test_an_unknown_extension_is_refused_at_once_and_the_talk_goes_on() -> None:
    switch, _ = talking()
    out = keys(switch, "#555#")
    assert not of(io.RingPhone, out)
    assert of(io.ReturnToEmployee, out)
    assert "нет такого добавочного" in switch.logic.details[-1].text


def test_the_employee_hanging_up_before_the_answer_makes_it_blind() -> None:
    switch, _ = talking()
    [ring] = of(io.RingPhone, keys(switch, "#102#"))
    out = switch.send(io.CalleeHungUp())
    assert not switch.logic.engine.ended  # no talk_ended: the caller waits for the target
    assert [c.event for c in of(io.TellDistribution, out)] == [dist.CallEnded("c1")]
    out = switch.send(io.RingAnswered(ring.ring))
    assert of(io.CompleteTransfer, out) == [io.CompleteTransfer(ring.ring)]
    assert not of(io.ConsultTarget, out)


def test_a_blind_transfer_that_fails_rings_the_first_employee_back() -> None:
    switch, _ = talking()
    [ring] = of(io.RingPhone, keys(switch, "#102#"))
    switch.send(io.CalleeHungUp())
    out = switch.send(io.RingFailed(ring.ring, 486))
    backs = of(io.RingPhone, out)  # all his phones: the SIP line and the mobile
    assert {(b.employee_id, b.phone.id, b.transfer) for b in backs} == {
        (1, "p1", True),
        (1, "p2", True),
    }
    back = backs[0]
    out = switch.send(io.RingAnswered(back.ring))
    assert of(io.CompleteTransfer, out) == [io.CompleteTransfer(back.ring)]
    assert "вернулся к сотруднику" in switch.logic.details[-1].text
    # and if he does not answer either, the talk is over and the scenario goes on
    switch2, _ = talking()
    [ring2] = of(io.RingPhone, keys(switch2, "#102#"))
    switch2.send(io.CalleeHungUp())
    out = []
    for back2 in of(io.RingPhone, switch2.send(io.RingFailed(ring2.ring, 486))):
        out = switch2.send(io.RingFailed(back2.ring, 480))
    assert of(io.ReturnToEmployee, out)
    assert switch2.logic.engine.ended


def test_refer_is_done_when_the_target_answers_and_says_so_to_the_phone() -> None:
    switch, _ = talking()
    out = switch.send(io.TransferAsked("102"))
    assert of(io.HoldCaller, out)
    [ring] = of(io.RingPhone, out)
    out = switch.send(io.RingAnswered(ring.ring))
    assert out.index(io.NotifyTransfer(200, "OK")) < out.index(io.CompleteTransfer(ring.ring))


def test_refer_to_an_unknown_extension_notifies_404_and_the_talk_goes_on() -> None:
    switch, _ = talking()
    out = switch.send(io.TransferAsked("555"))
    [notify] = of(io.NotifyTransfer, out)
    assert notify.status == 404
    assert of(io.ReturnToEmployee, out)
    # a second REFER while one is under way is refused, not started twice
    switch.send(io.TransferAsked("102"))
    assert of(io.NotifyTransfer, switch.send(io.TransferAsked("102"))) == [
        io.NotifyTransfer(491, "Request Pending")
    ]


def test_a_transfer_to_an_outside_number_goes_through_the_trunk_as_the_virtual_number() -> None:
    switch, _ = talking()
    [ring] = of(io.RingNumber, keys(switch, f"#{OUTSIDE}#"))
    assert (ring.number, ring.caller_id, ring.transfer) == (OUTSIDE, NUMBER, True)


def test_star_takes_the_employee_back_to_the_caller_during_a_consultation() -> None:
    switch, _ = talking()
    [ring] = of(io.RingPhone, keys(switch, "#102#"))
    switch.send(io.RingAnswered(ring.ring))
    out = keys(switch, "*")
    assert of(io.ReturnToEmployee, out)
    assert switch.logic.transfer is None


def test_the_target_hanging_up_during_the_consultation_returns_the_caller() -> None:
    switch, _ = talking()
    [ring] = of(io.RingPhone, keys(switch, "#102#"))
    switch.send(io.RingAnswered(ring.ring))
    out = switch.send(io.TargetHungUp())
    assert of(io.ReturnToEmployee, out)
    assert switch.logic.talker == 1


def test_the_caller_hanging_up_during_a_transfer_ends_the_call() -> None:
    switch, _ = talking()
    [ring] = of(io.RingPhone, keys(switch, "#102#"))
    switch.send(io.RingAnswered(ring.ring))
    out = switch.send(io.CallerHungUp())
    assert of(io.HangUp, out)
    assert switch.logic.engine.ended


def test_talk_options_answer_their_commands_and_leave_a_step() -> None:
    options = (
        TalkOption(key="5", action=TalkAction.SAVE_CALLER_ID, to_blacklist=True),
        TalkOption(key="6", action=TalkAction.ASSIGN_MANAGER),
        TalkOption(key="7", action=TalkAction.TAG, tag_id=4),
        TalkOption(key="8", action=TalkAction.CALL_TRAINER),
    )
    switch, _ = talking(office(*options))
    out = keys(switch, "5")
    assert of(io.SaveCaller, out) == [io.SaveCaller(CALLER, None, True)]
    assert of(io.ToneToEmployee, out) == [io.ToneToEmployee()]
    assert "черный список" in switch.logic.details[-1].text
    assert of(io.AssignManager, keys(switch, "6")) == [io.AssignManager(1, CALLER)]
    assert of(io.TagCall, keys(switch, "7")) == [io.TagCall(4)]
    # employee 1 has no trainer: refused, said to him
    out = keys(switch, "8")
    assert not of(io.CallTrainer, out)
    assert of(io.ToneToEmployee, out) == [io.ToneToEmployee(ok=False)]
    # a key bound to nothing does nothing
    assert keys(switch, "9") == []


def test_keys_before_the_talk_are_not_talk_options() -> None:
    switch = Switch(
        office(TalkOption(key="5", action=TalkAction.SAVE_CALLER_ID, to_blacklist=True))
    )
    switch.start()
    assert keys(switch, "5#") == []


EVENTS: list[Any] = [
    io.EmployeeDigit("#"),
    io.EmployeeDigit("1"),
    io.EmployeeDigit("0"),
    io.EmployeeDigit("2"),
    io.EmployeeDigit("*"),
    io.TransferAsked("102"),
    io.TransferAsked("555"),
    io.TargetHungUp(),
    io.CalleeHungUp(),
    "answer",
    "fail",
    "later",
]


def play(events: list[Any], fail_status: int = 480) -> Switch:
    """A talk, then `events`: core events, or "answer"/"fail" (the last ring the core asked
    for, including a taken consultation) and "later" (5 s pass)."""
    switch, _ = talking()
    for event in events:
        rings = [
            c.ring
            for c in switch.commands
            if isinstance(c, io.RingPhone | io.RingNumber | io.TakeConsultation)
        ]
        match event:
            case "answer" if rings:
                switch.send(io.RingAnswered(rings[-1]))
            case "fail" if rings:
                switch.send(io.RingFailed(rings[-1], fail_status))
            case "later":
                switch.later(5)
            case str():
                pass
            case _:
                switch.send(event)
    return switch


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(EVENTS), max_size=14))
def test_any_order_of_keys_refers_answers_and_hang_ups_ends_cleanly(events: list[Any]) -> None:
    switch = play(events)
    out = switch.send(io.CallerHungUp())
    out += switch.run(switch.logic.finish(switch.now))
    assert switch.logic.engine.ended
    assert switch.logic.transfer is None or of(io.HangUp, switch.commands)
    summary = switch.logic.summary(switch.now)
    assert summary.status == "answered"
    assert summary.talk_seconds >= 0


def test_a_hold_and_its_resume_are_in_the_details() -> None:
    switch, _ = talking()
    assert switch.send(io.HoldChanged("callee", True)) == []
    switch.send(io.HoldChanged("callee", False))
    steps = [(s.kind, s.text) for s in switch.logic.details[-2:]]
    assert steps == [
        ("hold", "сотрудник поставил звонок на удержание"),
        ("resume", "сотрудник снял удержание"),
    ]


def tagging_office() -> ConfigSnapshot:
    cfg = account(forward({"employee_id": 1, "phone_id": "p1"}, tag_after_call=True))
    tag = TalkOption(key="7", action=TalkAction.TAG, tag_id=4)
    return dataclasses.replace(cfg, talk_options={"7": tag})


def test_after_the_caller_leaves_the_employee_is_kept_to_tag_the_call() -> None:
    switch = Switch(tagging_office())
    [ring] = of(io.RingPhone, switch.start())
    out = switch.send(io.RingAnswered(ring.ring))
    assert of(io.KeepEmployee, out)  # the switch must not hang him up with the caller
    switch.send(io.Connected())
    out = switch.send(io.CallerHungUp())
    assert of(io.PromptEmployee, out)
    assert not of(io.HangUp, out)
    assert switch.logic.tagging
    assert not switch.logic.ended
    assert of(io.ToneToEmployee, keys(switch, "3")) == [io.ToneToEmployee(ok=False)]  # no tag
    out = keys(switch, "7")
    assert of(io.TagCall, out) == [io.TagCall(4)]
    assert of(io.HangUp, out) == [io.HangUp()]
    assert switch.logic.ended


def test_an_employee_who_tags_nothing_is_hung_up_after_ten_seconds() -> None:
    switch = Switch(tagging_office())
    [ring] = of(io.RingPhone, switch.start())
    switch.send(io.RingAnswered(ring.ring))
    switch.send(io.Connected())
    switch.send(io.CallerHungUp())
    assert switch.later(9) == []
    out = switch.later(2)
    assert of(io.HangUp, out)
    assert not of(io.TagCall, switch.commands)
    assert switch.logic.details[-1].text == "тег не поставлен: время вышло"


def test_without_tagging_the_caller_leaving_hangs_everything_up() -> None:
    switch, _ = talking()
    assert not of(io.KeepEmployee, switch.commands)
    assert of(io.HangUp, switch.send(io.CallerHungUp()))


def test_the_trainers_keys_choose_listen_whisper_or_barge() -> None:
    switch, _ = talking()
    assert switch.send(io.TrainerDigit("3")) == [io.TrainerMode("barge")]
    assert switch.send(io.TrainerDigit("1")) == [io.TrainerMode("listen")]
    assert switch.send(io.TrainerDigit("2")) == [io.TrainerMode("whisper")]
    assert switch.send(io.TrainerDigit("9")) == []
    assert [s.data["mode"] for s in switch.logic.details if s.kind == "trainer"] == [
        "barge",
        "listen",
        "whisper",
    ]


def test_talk_option_run_scenario_lets_the_employee_go_and_starts_the_scenario() -> None:
    cfg = office(TalkOption(key="4", action=TalkAction.RUN_SCENARIO, scenario_id=1))
    switch, _ = talking(cfg)
    out = keys(switch, "4")
    assert out[0] == io.ReleaseEmployee()
    assert [c.event for c in of(io.TellDistribution, out)] == [dist.CallEnded("c1")]
    assert "отправил абонента в сценарий" in " ".join(s.text for s in switch.logic.details)
    assert of(io.FindPhones, out)  # the scenario (a forward) runs again for the caller


def test_the_recorder_key_starts_and_stops_a_recording_of_the_talk() -> None:
    switch, _ = talking(office(TalkOption(key="2", action=TalkAction.RECORDER)))
    out = keys(switch, "2")
    assert of(io.RecordTalk, out) == [io.RecordTalk()]
    assert of(io.ToneToEmployee, out) == [io.ToneToEmployee()]
    out = keys(switch, "2")
    assert len(of(io.StopTalkRecording, out)) == 1
    assert not of(io.RecordTalk, out)
