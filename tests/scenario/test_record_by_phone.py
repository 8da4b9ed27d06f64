"""FILE-1 «Записать сообщение» on a fake clock (`RecordByPhoneLogic`): the employee's phones ring
through the real distribution (or an outside number rings), the answer takes his leg and
listens to his keys, the instruction is said, a beep and the recording follow, `#`, a hang-up or
the longest length ends it, the recording is filed as a sound file under the admin's name and
«Сообщение сохранено» is said; not answered, busy, refused, left early or nothing said ends it
with the reason and no file. Also the plan a `record` task places."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.scenario.test_originate import PEOPLE, Driver, of
from vpbx.domain.callback_plan import DueTask
from vpbx.domain.entities.misc import FileKind
from vpbx.scenario import actions as act
from vpbx.scenario import call_io as io
from vpbx.scenario.originate import OriginatePlan, Outcome, Purpose, TakeEmployee
from vpbx.scenario.record_by_phone import (
    INSTRUCTION,
    NOTHING,
    SAVED,
    RecordByPhoneLogic,
    Stage,
    recording_plan,
)

NAME = "Приветствие"
OUTSIDE = "79161234567"


def plan(**fields: Any) -> OriginatePlan:
    base: dict[str, Any] = {
        "purpose": Purpose.RECORD,
        "employee_id": 1,
        "called": NAME,
        "record_name": NAME,
        "record_seconds": 60,
    }
    return OriginatePlan(1, "", **{**base, **fields})


class RecordDriver(Driver):
    """The originator's test driver, with the recording core."""

    def __init__(self, the_plan: OriginatePlan) -> None:
        super().__init__(the_plan)
        self.logic = RecordByPhoneLogic(
            self.logic.config, the_plan, call_id="o1", started_at=self.now
        )

    @property
    def record(self) -> RecordByPhoneLogic:
        assert isinstance(self.logic, RecordByPhoneLogic)
        return self.logic

    def answered(self) -> list[Any]:
        """Start, and the employee's (only) phone answers: what the core asked then."""
        [ring] = of(io.RingPhone, self.run(self.logic.start(self.now)))
        self.later(2)
        return self.send(io.RingAnswered(ring.ring))

    def recording(self) -> io.StartRecording:
        """Answered, and the instruction played: the recording starts."""
        self.answered()
        self.now += dt.timedelta(seconds=6)
        [start] = of(io.StartRecording, self.send(io.PlaybackDone()))
        return start

    def timer(self) -> list[Any]:
        due = self.logic.next_timer()
        assert due is not None
        self.now = max(self.now, due)
        return self.send(io.TimerFired())


def said(commands: list[Any]) -> list[str]:
    return [c.play.text for c in of(io.PlayToCaller, commands)]


def test_answered_instruction_beep_record_until_hash_then_saved() -> None:
    driver = RecordDriver(plan())
    out = driver.answered()
    # his leg is the call's own side from now on, his keys listened to; nobody else rings
    take = of(TakeEmployee, out)
    assert take == [TakeEmployee(listen_keys=True)]
    assert said(out) == [INSTRUCTION]
    assert not of(io.RingNumber, out)
    assert driver.logic.answer_so_far() == (driver.now, 1)
    assert driver.logic.next_timer() is None  # no recording yet: no deadline
    # keys during the instruction do nothing
    assert driver.send(io.Digit("#")) == []
    driver.now += dt.timedelta(seconds=6)
    out = driver.send(io.PlaybackDone())
    assert out == [io.StartRecording(60, beep=True)]
    assert driver.logic.next_timer() == driver.now + dt.timedelta(seconds=60)
    assert driver.send(io.Digit("5")) == []  # only # ends it
    driver.now += dt.timedelta(seconds=7)
    out = driver.send(io.Digit("#"))
    assert out == [io.StopRecording(NAME, "101", "", 1, kind=FileKind.SOUND)]
    assert driver.record.stage is Stage.SAVING
    assert not driver.logic.ended
    out = driver.send(io.RecordingSaved(42, 7.0))
    assert said(out) == [SAVED]
    assert io.HangUp() not in out
    out = driver.send(io.PlaybackDone())
    assert io.HangUp() in out
    assert driver.logic.ended
    assert driver.logic.outcome is Outcome.RECORDED
    assert driver.record.file_id == 42
    summary = driver.logic.summary(driver.now)
    assert summary.status == "answered"
    assert summary.employee_id == 1
    assert summary.recording_file_ids == (42,)  # the report row links the sound file
    assert summary.caller == "101"
    assert summary.wait_seconds == 2.0
    assert summary.talk_seconds == 13.0
    kinds = [s.kind for s in driver.logic.details]
    for kind in ("originate", "employee_answered", "record_instruction", "recording"):
        assert kind in kinds
    assert kinds.index("recording") < kinds.index("recording_stop") < kinds.index("recording_saved")
    assert not driver.logic.in_distribution  # the employee is free again


def test_hanging_up_ends_the_recording_and_the_file_is_kept() -> None:
    driver = RecordDriver(plan())
    driver.recording()
    driver.now += dt.timedelta(seconds=4)
    out = driver.send(io.CallerHungUp())
    assert out == [io.StopRecording(NAME, "101", "", 1, kind=FileKind.SOUND)]
    assert not driver.logic.ended  # the file is still being filed
    out = driver.send(io.RecordingSaved(7, 4.0))
    assert not said(out)  # nobody left to tell
    assert driver.logic.ended
    assert driver.logic.outcome is Outcome.RECORDED
    assert driver.logic.summary(driver.now).recording_file_ids == (7,)


def test_the_longest_length_ends_the_recording() -> None:
    driver = RecordDriver(plan(record_seconds=30))
    start = driver.recording()
    assert start.max_seconds == 30
    assert driver.send(io.TimerFired()) == []  # not due yet
    out = driver.timer()
    assert of(io.StopRecording, out)
    assert "30 с" in driver.logic.details[-1].text
    driver.send(io.RecordingSaved(9, 30.0))
    driver.send(io.PlaybackDone())
    assert driver.logic.outcome is Outcome.RECORDED


def test_nothing_said_is_a_failure_without_a_file() -> None:
    driver = RecordDriver(plan())
    driver.recording()
    driver.send(io.Digit("#"))
    out = driver.send(io.RecordingSaved(None, 0.2))
    assert said(out) == [NOTHING]
    out = driver.send(io.PlaybackDone())
    assert io.HangUp() in out
    assert driver.logic.outcome is Outcome.NOTHING_RECORDED
    assert driver.logic.reason == "ничего не записано"
    assert driver.logic.summary(driver.now).recording_file_ids == ()


def test_hanging_up_during_the_instruction_or_after_saving() -> None:
    early = RecordDriver(plan())
    early.answered()
    out = early.send(io.CallerHungUp())
    assert io.HangUp() in out
    assert not of(io.StopRecording, out)
    assert early.logic.outcome is Outcome.EMPLOYEE_LEFT
    assert "до записи" in early.logic.reason
    assert early.logic.ended

    late = RecordDriver(plan())
    late.recording()
    late.send(io.Digit("#"))
    late.send(io.RecordingSaved(5, 3.0))
    out = late.send(io.CallerHungUp())  # during «Сообщение сохранено»
    assert io.HangUp() in out
    assert late.logic.outcome is Outcome.RECORDED


def test_not_answered_or_busy_fails_with_the_reason() -> None:
    quiet = RecordDriver(plan())
    quiet.run(quiet.logic.start(quiet.now))
    out = quiet.later(60) + quiet.later(60)
    assert io.HangUp() in out
    assert quiet.logic.outcome is Outcome.EMPLOYEE_NO_ANSWER
    assert quiet.logic.summary(quiet.now).status == "missed"
    assert quiet.record.file_id is None

    busy = RecordDriver(plan())
    [ring] = of(io.RingPhone, busy.run(busy.logic.start(busy.now)))
    out = busy.send(io.RingFailed(ring.ring, 486))
    out += busy.later(60)
    assert io.HangUp() in out
    assert busy.logic.outcome is Outcome.EMPLOYEE_NO_ANSWER
    assert busy.logic.ended


def test_an_outside_number_rings_through_the_trunk_and_records() -> None:
    driver = RecordDriver(plan(employee_id=None, number=OUTSIDE))
    out = driver.run(driver.logic.start(driver.now))
    [ring] = of(io.RingNumber, out)
    assert ring.number == OUTSIDE
    assert not of(io.RingPhone, out)
    out = driver.send(io.RingAnswered(ring.ring))
    assert said(out) == [INSTRUCTION]
    driver.send(io.PlaybackDone())
    out = driver.send(io.Digit("#"))
    assert out == [io.StopRecording(NAME, OUTSIDE, "", None, kind=FileKind.SOUND)]

    refused = RecordDriver(plan(employee_id=None, number=OUTSIDE))
    [ring] = of(io.RingNumber, refused.run(refused.logic.start(refused.now)))
    out = refused.send(io.RingRefused(ring.ring, "международные звонки запрещены", "toll_fraud"))
    assert io.HangUp() in out
    assert refused.logic.outcome is Outcome.EMPLOYEE_NO_ANSWER
    assert "запрещены" in refused.logic.reason


def test_the_switch_failing_while_filing_ends_the_call() -> None:
    driver = RecordDriver(plan())
    driver.recording()
    driver.send(io.Digit("#"))
    out = driver.logic.fail(driver.now, "OSError")
    assert io.HangUp() in out
    assert driver.logic.ended
    assert driver.logic.outcome is Outcome.FAILED


def test_the_plan_of_a_record_task() -> None:
    task = DueTask(
        5, 1, "record", "", 1, employee_id=1, result_call_id=9, record_name=NAME, record_seconds=45
    )
    got = recording_plan(task)
    assert (got.purpose, got.employee_id, got.number) == (Purpose.RECORD, 1, None)
    assert (got.record_name, got.record_seconds, got.called) == (NAME, 45, NAME)
    outside = recording_plan(DueTask(6, 1, "record", OUTSIDE, 1, record_name="x" * 200))
    assert (outside.employee_id, outside.number) == (None, OUTSIDE)
    assert len(outside.called) == 100  # a report row's `called` holds 100 characters
    driver = RecordDriver(got)
    driver.run(driver.logic.start(driver.now))
    assert (
        driver.logic.details[0].text
        == f"запись сообщения «{NAME}»: вызов сотрудник {PEOPLE[0].name}"
    )


def test_the_instruction_is_a_tts_prompt() -> None:
    driver = RecordDriver(plan())
    [play] = of(io.PlayToCaller, driver.answered())
    assert play.play == act.Play(text=INSTRUCTION)
