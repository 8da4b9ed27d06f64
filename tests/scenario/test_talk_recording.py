"""REC-1 and TALK-2 in the call core, on a fake clock: when the talk starts the core records it
if the account, the number, the answering employee or the Forward says so; the recording stops
with the talk (the employee or the caller hangs up, the call is finished), the call is not over
before the switch says it is filed, and the file and a step (with a full disk's error) are the
call's; the employee's key toggles it."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from tests.scenario.helpers import CALLER, NOW, NUMBER
from tests.scenario.test_call_logic import OUTSIDE, Switch, account, forward, of
from vpbx.scenario import call_io as io
from vpbx.scenario.snapshot import ConfigSnapshot, digits_of

PETROVA = 2  # «Петрова Анна», a SIP phone


def recording_account(
    *,
    account_wide: bool = False,
    number: bool = False,
    employee: bool = False,
    operation: bool = False,
    targets: tuple[dict[str, Any], ...] = ({"employee_id": PETROVA},),
) -> ConfigSnapshot:
    cfg = account(forward(*targets, record=operation, exits={}))
    numbers = dict(cfg.numbers)
    if number:
        number_id, doc = numbers[digits_of(NUMBER)]
        numbers[digits_of(NUMBER)] = (number_id, doc.model_copy(update={"record_calls": True}))
    employees = dict(cfg.employees)
    if employee:
        employees[PETROVA] = dataclasses.replace(employees[PETROVA], record_calls=True)
    return dataclasses.replace(cfg, record_calls=account_wide, numbers=numbers, employees=employees)


def talking(cfg: ConfigSnapshot) -> tuple[Switch, list[io.Command]]:
    """A call answered by the first ring and connected: what `Connected` answered."""
    switch = Switch(cfg)
    out = switch.start()
    rings = of(io.RingPhone, out) + of(io.RingNumber, out)
    switch.send(io.RingAnswered(rings[0].ring))
    return switch, switch.send(io.Connected())


def steps(switch: Switch, kind: str) -> list[Any]:
    return [s for s in switch.logic.details if s.kind == kind]


@pytest.mark.parametrize(
    ("setting", "why"),
    [
        ({"account_wide": True}, "все разговоры аккаунта"),
        ({"number": True}, f"разговоры номера {NUMBER}"),
        ({"employee": True}, "разговоры сотрудника Петрова Анна"),
        ({"operation": True}, "разговоры операции «fwd»"),
    ],
)
def test_each_setting_records_the_talk_from_its_start_and_says_why(
    setting: dict[str, bool], why: str
) -> None:
    switch, out = talking(recording_account(**setting))
    assert of(io.RecordTalk, out) == [io.RecordTalk()]
    [started] = steps(switch, "talk_recording_start")
    assert why in started.text
    assert started.at == NOW


def test_nothing_is_recorded_when_nothing_says_so() -> None:
    switch, out = talking(recording_account())
    assert of(io.RecordTalk, out) == []
    switch.now += dt.timedelta(seconds=5)
    assert of(io.StopTalkRecording, switch.send(io.CalleeHungUp())) == []
    assert not steps(switch, "talk_recording_start")


def test_the_employee_hanging_up_stops_and_files_it_as_the_calls_recording() -> None:
    switch, _ = talking(recording_account(employee=True))
    switch.now += dt.timedelta(seconds=12)
    out = switch.send(io.CalleeHungUp())
    [stop] = of(io.StopTalkRecording, out)
    assert stop == io.StopTalkRecording(f"Запись разговора {CALLER}", CALLER, NUMBER, PETROVA)
    switch.send(io.TalkRecordingSaved(77, 12.0))
    [saved] = steps(switch, "talk_recording")
    assert "разговор записан (12 с): файл #77" in saved.text
    assert saved.data == {"file_id": 77, "seconds": 12.0, "error": ""}
    summary = switch.logic.summary(switch.now)
    assert (summary.status, summary.recording_file_ids) == ("answered", (77,))


def test_the_caller_leaving_keeps_the_call_until_the_recording_is_filed() -> None:
    switch, _ = talking(recording_account(account_wide=True))
    switch.now += dt.timedelta(seconds=30)
    out = switch.send(io.CallerHungUp())
    assert len(of(io.StopTalkRecording, out)) == 1
    assert of(io.HangUp, out)
    # the switch's loop ends when the logic ends: not before the file is in the file base
    assert not switch.logic.ended
    switch.now += dt.timedelta(seconds=0.2)
    switch.send(io.TalkRecordingSaved(78, 30.0))
    assert switch.logic.ended
    assert switch.logic.summary(switch.now).recording_file_ids == (78,)


def test_a_full_disk_is_in_the_details_with_what_was_kept() -> None:
    switch, _ = talking(recording_account(number=True))
    switch.send(io.CalleeHungUp())
    error = "диск заполнен (No space left on device): запись остановлена на 4 с"
    switch.send(io.TalkRecordingSaved(79, 4.0, error))
    [saved] = steps(switch, "talk_recording")
    assert saved.text.endswith(error)
    assert saved.data["error"] == error
    assert switch.logic.summary(switch.now).recording_file_ids == (79,)


def test_nothing_kept_is_said_and_no_file_is_linked() -> None:
    switch, _ = talking(recording_account(account_wide=True))
    switch.send(io.CalleeHungUp())
    switch.send(io.TalkRecordingSaved(None, 0.1))
    [saved] = steps(switch, "talk_recording")
    assert "ничего не записано" in saved.text
    assert switch.logic.summary(switch.now).recording_file_ids == ()


def test_finishing_the_call_stops_the_recording() -> None:
    # The switch hangs the call up itself (it stops, or the toll-fraud guard cuts it).
    switch, _ = talking(recording_account(account_wide=True))
    switch.now += dt.timedelta(seconds=3)
    out = switch.logic.finish(switch.now)
    assert len(of(io.StopTalkRecording, out)) == 1
    assert of(io.StopTalkRecording, switch.logic.finish(switch.now)) == []  # once


def test_a_number_that_answers_is_recorded_without_an_employee() -> None:
    cfg = recording_account(account_wide=True, targets=({"number": OUTSIDE},))
    switch, out = talking(cfg)
    assert of(io.RecordTalk, out) == [io.RecordTalk()]
    [stop] = of(io.StopTalkRecording, switch.send(io.CalleeHungUp()))
    assert stop.employee_id is None


def test_the_employees_key_toggles_the_recording() -> None:
    switch, _ = talking(recording_account())
    logic = switch.logic
    assert logic.toggle_talk_recording(switch.now) == [io.RecordTalk()]
    assert "сотрудник включил запись" in steps(switch, "talk_recording_start")[0].text
    switch.now += dt.timedelta(seconds=8)
    [stop] = logic.toggle_talk_recording(switch.now)
    assert isinstance(stop, io.StopTalkRecording)
    switch.send(io.TalkRecordingSaved(80, 8.0))
    # a second part of the same talk is a second file
    assert logic.toggle_talk_recording(switch.now) == [io.RecordTalk()]
    switch.now += dt.timedelta(seconds=2)
    assert len(of(io.StopTalkRecording, switch.send(io.CalleeHungUp()))) == 1
    switch.send(io.TalkRecordingSaved(81, 2.0))
    assert logic.summary(switch.now).recording_file_ids == (80, 81)
    # no talk, nothing to record
    assert logic.toggle_talk_recording(switch.now) == []


def test_an_automatic_recording_can_be_stopped_by_the_key_and_is_not_restarted() -> None:
    switch, _ = talking(recording_account(employee=True))
    [stop] = switch.logic.toggle_talk_recording(switch.now)
    assert isinstance(stop, io.StopTalkRecording)
    assert steps(switch, "talk_recording_stop")
    switch.send(io.TalkRecordingSaved(82, 1.0))
    assert of(io.StopTalkRecording, switch.send(io.CalleeHungUp())) == []
