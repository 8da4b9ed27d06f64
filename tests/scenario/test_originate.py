"""The originator (`OriginateLogic`) on a fake clock: employee first (through the real
distribution), the whisper, then the client with the chosen caller ID; and the pure callback
decisions of `vpbx.domain.callback_plan` (rules in order, attempts in the schedule)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.scenario.helpers import NOW, config
from vpbx.domain.callback_plan import (
    MissedCall,
    attempt_due,
    first_rule,
    missed_call,
    next_active,
    same_subscriber,
)
from vpbx.domain.entities.callback import CallbackRule
from vpbx.domain.switch_records import CallRecord, StepRecord
from vpbx.scenario import call_io as io
from vpbx.scenario import distribution as dist
from vpbx.scenario.call_logic import route_step
from vpbx.scenario.distribution import Distributor, InProcessState, run_sync
from vpbx.scenario.originate import (
    CallerIdChosen,
    ChooseCallerId,
    OriginateLogic,
    OriginatePlan,
    Outcome,
    TakeEmployee,
    WhisperDone,
    WhisperToEmployee,
)
from vpbx.scenario.snapshot import ConfigSnapshot, EmployeeInfo, GroupInfo, PhoneInfo

CLIENT = "79161112233"
SHOWN = "74950000009"
PEOPLE = (
    EmployeeInfo(1, "Иванов Иван", "101", ("p1",), phones=(PhoneInfo("p1", sip_line_id=11),)),
    EmployeeInfo(2, "Петрова Анна", "102", ("p1",), phones=(PhoneInfo("p1", sip_line_id=12),)),
)


def account() -> ConfigSnapshot:
    group = GroupInfo(1, "Все", None, (1, 2), simultaneous_lines=2)
    return dataclasses.replace(
        config([]), employees={e.id: e for e in PEOPLE}, groups={group.id: group}
    )


class Driver:
    """The switch's part by hand: every phone reachable, the distribution real. `logic`: a core
    of another kind (or account) than the plan's `OriginateLogic` on `account()`."""

    def __init__(self, plan: OriginatePlan, logic: Any = None) -> None:
        self.logic = logic or OriginateLogic(account(), plan, call_id="o1", started_at=NOW)
        self.distributor = Distributor(InProcessState())
        self.now = NOW

    def run(self, commands: list[Any]) -> list[Any]:
        done: list[Any] = []
        for command in commands:
            done.append(command)
            posix = self.now.timestamp()
            match command:
                case io.FindPhones(employee_ids=ids):
                    found = frozenset(
                        (e, p.id) for e in ids for p in self.logic.config.employees[e].phones
                    )
                    done += self.send(io.PhonesFound(found))
                case io.Distribute(request=request):
                    done += self.route(run_sync(self.distributor.start(request, posix)))
                case io.TellDistribution(event=event):
                    done += self.route(run_sync(self.distributor.handle(event, posix)))
        return done

    def route(self, step: dist.Step) -> list[Any]:
        out: list[Any] = []
        for _call_id, event in route_step(step):
            out += self.send(event)
        return out

    def send(self, event: Any) -> list[Any]:
        return self.run(self.logic.handle(event, self.now))

    def later(self, seconds: float) -> list[Any]:
        self.now += dt.timedelta(seconds=seconds)
        return self.route(run_sync(self.distributor.handle_timer(self.now.timestamp())))


def of(kind: type[Any], commands: list[Any]) -> list[Any]:
    return [c for c in commands if isinstance(c, kind)]


def test_employee_first_then_whisper_then_the_client_with_the_chosen_number() -> None:
    driver = Driver(OriginatePlan(1, CLIENT, employee_id=1))
    out = driver.run(driver.logic.start(driver.now))
    [ring] = of(io.RingPhone, out)
    assert ring.employee_id == 1
    assert ring.caller_id == CLIENT  # the employee's phone shows whom he will talk to
    assert not of(io.RingNumber, out)  # CB-2: the client is not dialled before the answer
    out = driver.send(io.RingAnswered(ring.ring))
    assert of(WhisperToEmployee, out) == [WhisperToEmployee("автоперезвон")]
    assert not of(io.RingNumber, out)
    out = driver.send(WhisperDone())
    assert out == [ChooseCallerId(1, CLIENT)]
    out = driver.send(CallerIdChosen(SHOWN, trunk_id=3, number_id=9))
    [client] = of(io.RingNumber, out)
    assert isinstance(out[0], TakeEmployee)
    assert (client.number, client.caller_id, client.trunk_id) == (CLIENT, SHOWN, 3)
    out = driver.send(io.RingAnswered(client.ring))
    assert out == [io.ConnectCallee(client.ring)]
    driver.send(io.Connected())
    driver.now += dt.timedelta(seconds=12)
    out = driver.send(io.CalleeHungUp())
    assert io.HangUp() in out
    assert driver.logic.outcome is Outcome.TALKED
    summary = driver.logic.summary(driver.now)
    assert (summary.status, summary.employee_id, summary.talk_seconds) == ("answered", 1, 12.0)
    kinds = [s.kind for s in driver.logic.details]
    assert kinds.index("whisper") < kinds.index("client_ring") < kinds.index("connected")


def test_the_rule_s_number_is_shown_without_asking_the_cid_rules_and_a_refusal_ends_it() -> None:
    driver = Driver(OriginatePlan(1, CLIENT, employee_id=2, caller_id=SHOWN, whisper_text="Сайт"))
    [ring] = of(io.RingPhone, driver.run(driver.logic.start(driver.now)))
    assert of(WhisperToEmployee, driver.send(io.RingAnswered(ring.ring))) == [
        WhisperToEmployee("Сайт")
    ]
    [client] = of(io.RingNumber, driver.send(WhisperDone()))
    assert client.caller_id == SHOWN
    out = driver.send(io.RingRefused(client.ring, "нет исходящего транка"))
    assert io.HangUp() in out
    assert driver.logic.outcome is Outcome.REFUSED
    assert driver.logic.summary(driver.now).status == "failed"


def test_a_denied_caller_id_or_an_employee_who_never_answers() -> None:
    driver = Driver(OriginatePlan(1, CLIENT, employee_id=1))
    [ring] = of(io.RingPhone, driver.run(driver.logic.start(driver.now)))
    driver.send(io.RingAnswered(ring.ring))
    driver.send(WhisperDone())
    out = driver.send(CallerIdChosen(refusal="номер запрещён правилом"))
    assert io.HangUp() in out
    assert not of(io.RingNumber, out)
    assert driver.logic.outcome is Outcome.REFUSED

    quiet = Driver(OriginatePlan(1, CLIENT, employee_id=1))
    quiet.run(quiet.logic.start(quiet.now))
    out = quiet.later(60)  # the distribution's ring timer, then it gives up
    out += quiet.later(60)
    assert io.HangUp() in out
    assert quiet.logic.outcome is Outcome.EMPLOYEE_NO_ANSWER
    assert quiet.logic.summary(quiet.now).status == "missed"


def test_a_group_rings_through_the_distribution_and_the_employee_leaving_early_ends_it() -> None:
    driver = Driver(OriginatePlan(1, CLIENT, group_id=1))
    out = driver.run(driver.logic.start(driver.now))
    assert of(io.Distribute, out)
    rings = of(io.RingPhone, out)
    assert rings
    driver.send(io.RingAnswered(rings[0].ring))
    out = driver.send(io.CalleeHungUp())  # before the take, his leg is the answered one
    assert io.HangUp() in out
    assert driver.logic.outcome is Outcome.EMPLOYEE_LEFT
    assert not driver.logic.in_distribution


def talked(logic: OriginateLogic) -> tuple[Driver, list[Any]]:
    """`logic` rings employee 1, he answers, the client answers: what the connection asked."""
    driver = Driver(logic.plan, logic)
    [ring] = of(io.RingPhone, driver.run(logic.start(driver.now)))
    driver.send(io.RingAnswered(ring.ring))
    driver.send(WhisperDone())
    [client] = of(io.RingNumber, driver.send(CallerIdChosen(SHOWN)))
    driver.send(io.RingAnswered(client.ring))
    return driver, driver.send(io.Connected())


def test_a_talk_is_recorded_when_the_account_or_the_employee_records_talks() -> None:
    """REC-1 for calls the PBX places: recorded from the connection (not the whisper), filed
    when the call is finished, the file on the report row; nothing when nobody asks."""
    plan = OriginatePlan(1, CLIENT, employee_id=1)
    everything = dataclasses.replace(account(), record_calls=True)
    driver, out = talked(OriginateLogic(everything, plan, call_id="o1", started_at=NOW))
    assert out == [io.RecordTalk(caller_connected=True)]
    driver.now += dt.timedelta(seconds=5)
    assert io.HangUp() in driver.send(io.CalleeHungUp())
    stop = of(io.StopTalkRecording, driver.logic.finish(driver.now))
    assert stop == [io.StopTalkRecording(f"Запись разговора {CLIENT}", CLIENT, SHOWN, 1)]
    driver.send(io.TalkRecordingSaved(77, 5.0))
    assert driver.logic.summary(driver.now).recording_file_ids == (77,)
    steps = {s.kind: s.text for s in driver.logic.details}
    assert steps["talk_recording_start"] == "запись разговора: записываются все разговоры аккаунта"
    assert "файл #77" in steps["talk_recording"]

    people = dict(account().employees)
    people[1] = dataclasses.replace(people[1], record_calls=True)
    his = dataclasses.replace(account(), employees=people)
    _driver, out = talked(OriginateLogic(his, plan, call_id="o2", started_at=NOW))
    assert out == [io.RecordTalk(caller_connected=True)]

    quiet, out = talked(OriginateLogic(account(), plan, call_id="o3", started_at=NOW))
    assert out == []
    assert not of(io.StopTalkRecording, quiet.logic.finish(quiet.now))
    assert quiet.logic.summary(quiet.now).recording_file_ids == ()


# -- the callback decisions ------------------------------------------------------------------------


def rule(**fields: Any) -> CallbackRule:
    base: dict[str, Any] = {"name": "r", "how": {"method": "employee", "employee_id": 1}}
    return CallbackRule.model_validate({**base, **fields})


MISSED = MissedCall(1, 10, CLIENT, NOW, wait_seconds=20, number_id=5, scenario_id=7)


def test_rules_by_position_place_wait_enable_and_schedule() -> None:
    always: Any = lambda _rule: True  # noqa: E731
    rules = [
        (1, rule(position=3)),
        (2, rule(position=1, place="number", number_id=6)),  # another number
        (3, rule(position=2, min_wait_seconds=30)),  # waited 20 s only
        (4, rule(position=0, enabled=False)),
        (5, rule(position=4, place="scenario", scenario_id=7)),
    ]
    assert first_rule(rules, MISSED, always) == (1, rules[0][1])
    assert first_rule(rules[3:], MISSED, always) == (5, rules[4][1])
    assert first_rule(rules, MISSED, lambda r: r.position != 3) == (5, rules[4][1])
    lost = dataclasses.replace(MISSED, in_transfer=True, wait_seconds=0)
    assert first_rule([(9, rule(place="transfer"))], lost, always) is not None
    assert first_rule([(9, rule(place="transfer"))], MISSED, always) is None


def test_a_missed_call_or_one_lost_in_a_transfer_and_not_an_answered_one() -> None:
    record = CallRecord(1, NOW, "incoming", "missed", CLIENT, "7495", ended_at=NOW)
    assert missed_call(record, 4) == MissedCall(1, 4, CLIENT, NOW, 0.0)
    answered = dataclasses.replace(record, status="answered")
    assert missed_call(answered, 4) is None
    steps = (StepRecord(NOW, "transfer", "перевод"),)
    assert missed_call(dataclasses.replace(answered, steps=steps), 4) is not None
    done = (*steps, StepRecord(NOW, "transfer_done", "переведен"))
    assert missed_call(dataclasses.replace(answered, steps=done), 4) is None
    assert missed_call(dataclasses.replace(record, direction="outgoing"), 4) is None


def working_hours(at: dt.datetime) -> bool:
    local = at.astimezone(NOW.tzinfo)
    return local.weekday() < 5 and 9 <= local.hour < 18


@given(
    intervals=st.lists(st.integers(0, 3 * 24 * 3600), min_size=1, max_size=5),
    made=st.integers(0, 6),
    offset=st.integers(0, 7 * 24 * 3600),
)
def test_attempts_fall_in_the_schedule_after_their_interval_and_stop_after_the_last(
    intervals: list[int], made: int, offset: int
) -> None:
    since = NOW + dt.timedelta(seconds=offset)
    due = attempt_due(intervals, made, since, working_hours)
    if made >= len(intervals):
        assert due is None
        return
    assert due is not None
    earliest = since + dt.timedelta(seconds=intervals[made])
    assert due >= earliest
    assert working_hours(due)
    assert due - earliest < dt.timedelta(days=4)  # the next working minute, not later


def test_next_active_and_subscribers() -> None:
    friday_night = dt.datetime(2025, 3, 14, 22, 0, tzinfo=NOW.tzinfo)
    monday = next_active(friday_night, working_hours)
    assert monday == dt.datetime(2025, 3, 17, 9, 0, tzinfo=NOW.tzinfo)
    assert next_active(NOW, lambda _at: False, dt.timedelta(hours=1)) is None
    assert same_subscriber("89161112233", "+7 916 111-22-33")
    assert not same_subscriber("79161112233", "79161112234")
    assert not same_subscriber("", "")
