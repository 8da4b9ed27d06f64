"""Callbacks through a scenario (CB-1/CB-2 «Сценарий ВАТС», and «по настройке рекламной кампании»:
the rules of the number the call came to) on a fake clock: the plan an attempt gets (employee
first when the scenario's first operation rings employees, the client first otherwise), and the
client-first call itself with the real call core and distribution: the client answers, the
scenario runs with him (a message, then a forward whose employee answers and talks to him)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from tests.scenario.helpers import MSK, NOW, NUMBER, config, scenario
from tests.scenario.test_call_logic import PEOPLE, of
from tests.scenario.test_callback_targets import LEAD, lead_rule
from tests.scenario.test_originate import Driver
from vpbx.domain.callback_plan import DueTask, MissedFacts
from vpbx.domain.entities.callback import CallbackRule
from vpbx.domain.entities.routing import VirtualNumber
from vpbx.scenario import call_io as io
from vpbx.scenario.callback_calls import NotPlaced, plan_of
from vpbx.scenario.callback_scenario import ClientFirstLogic
from vpbx.scenario.originate import (
    ChooseCallerId,
    OriginateLogic,
    OriginatePlan,
    Outcome,
    TakeEmployee,
    WhisperDone,
    WhisperToEmployee,
)
from vpbx.scenario.snapshot import ConfigSnapshot

CLIENT = "79161112233"
ANALYTICS = "74950000077"

MENU = {"key": "menu", "kind": "menu", "prompt_file_id": 103, "exits": {"1": "fwd"}}
MESSAGE = {"key": "hello", "kind": "info", "file_ids": [100], "exits": {"next": "fwd"}}
FORWARD = {"key": "fwd", "kind": "forward", "targets": [{"employee_id": 2}],
           "operator_message_text": "клиент из рекламы"}  # fmt: skip


def office() -> ConfigSnapshot:
    """Scenario 1 (the number's): a forward to employee 2; 2: a message, then that forward;
    3: a forward to an outside number; 4: a forward to group 10 of employees 1 and 2; number 1
    ruled to scenario 1 in working hours and to 2 otherwise; number 9 an analytics number."""
    analytics = VirtualNumber.model_validate({"number": ANALYTICS, "kind": "analytics",
                                              "forward_to": "79035550000"})  # fmt: skip
    base = config(
        [FORWARD],
        rules=[{"scenario_id": 1, "schedule_id": 5}, {"scenario_id": 2}],
        scenarios=[
            (2, scenario([MESSAGE, FORWARD], name="Сначала сообщение")),
            (
                3,
                scenario(
                    [{"key": "out", "kind": "forward", "targets": [{"number": "79035550000"}]}],
                    name="Наружу",
                ),
            ),
            (
                4,
                scenario(
                    [
                        {
                            "key": "grp",
                            "kind": "forward",
                            "targets": [{"group_id": 10}],
                            "strategy": "support",
                        }
                    ],
                    name="Группа",
                ),
            ),
            (6, scenario([MENU, FORWARD], name="Меню")),
        ],
        numbers=[(9, analytics)],
    )
    return dataclasses.replace(base, employees={e.id: e for e in PEOPLE})


def rule(how: dict[str, Any], **fields: Any) -> CallbackRule:
    return CallbackRule.model_validate({"name": "Сценарий", "how": how, **fields})


def task(rule_: CallbackRule, number_id: int | None = 1) -> DueTask:
    missed = MissedFacts(7, CLIENT, NUMBER, NOW - dt.timedelta(minutes=1), 20.0,
                         number_id=number_id)  # fmt: skip
    return DueTask(1, 1, "callback", CLIENT, 1, rule_id=3, rule=rule_, missed=missed)


def planned(rule_: CallbackRule, now: dt.datetime = NOW, **kw: Any) -> OriginatePlan:
    plan = plan_of(task(rule_, **kw), office(), now)
    assert isinstance(plan, OriginatePlan), plan
    return plan


def test_a_scenario_that_rings_employees_first_rings_them_first_without_the_rules_whisper() -> None:
    plan = planned(rule({"method": "scenario", "scenario_id": 1}, whisper={"text": "перезвон"}))
    assert plan.scenario_id is None  # employee first, as the other methods
    assert plan.dial is not None
    assert [(t.employee_id, t.group_id) for t in plan.dial.targets] == [(2, None)]
    # CB-4: no rule whisper through a scenario; the forward's own message to the employee
    assert (plan.whisper_text, plan.whisper_default) == ("клиент из рекламы", "")
    assert plan.caller_id == ""  # the employee's line chooses what the client sees
    assert "сценарий «Тест»" in plan.label
    group = planned(rule({"method": "scenario", "scenario_id": 4}))
    assert group.dial is not None
    assert [t.group_id for t in group.dial.targets] == [10]
    assert group.dial.strategy == "support"
    outside = planned(rule({"method": "scenario", "scenario_id": 3}))
    assert (outside.dial, outside.number) == (None, "79035550000")


def test_a_scenario_that_needs_the_caller_rings_the_client_first() -> None:
    for scenario_id in (2, 6):  # a message, a menu
        plan = planned(rule({"method": "scenario", "scenario_id": scenario_id}))
        assert plan.scenario_id == scenario_id
        assert plan.dial is None
        # he is shown the number he called (and the scenario runs as on it)
        assert (plan.caller_id, plan.number_id) == (NUMBER, 1)
    # a rule of place «number» shows its own number
    nine = planned(rule({"method": "scenario", "scenario_id": 2}, place="number", number_id=9))
    assert (nine.caller_id, nine.number_id) == (ANALYTICS, 9)
    # a scenario that no longer exists: the task fails at once
    gone = plan_of(task(rule({"method": "scenario", "scenario_id": 99})), office(), NOW)
    assert isinstance(gone, NotPlaced)
    assert gone.final
    assert "сценария #99 нет" in gone.reason


def test_campaign_means_the_rules_of_the_number_the_call_came_to() -> None:
    campaign = rule({"method": "campaign"})
    # in working hours the number's first rule: scenario 1, a forward: employee first
    at_work = planned(campaign)
    assert at_work.dial is not None
    assert at_work.scenario_id is None
    # at night its second rule: scenario 2, a message first: the client first
    night = planned(campaign, now=dt.datetime(2025, 3, 12, 22, 0, tzinfo=MSK))
    assert night.scenario_id == 2
    # an analytics number: its forwarding number answers first, with the rule's whisper
    analytics = planned(campaign, number_id=9)
    assert (analytics.number, analytics.caller_id) == ("79035550000", ANALYTICS)
    assert analytics.whisper_default == "автоперезвон"
    # no number (the row is gone): nothing to choose by, the task fails
    lost = plan_of(task(campaign, number_id=None), office(), NOW)
    assert isinstance(lost, NotPlaced)
    assert lost.final
    # a lead has no number either
    by_campaign = lead_rule("Заявки", 0, how={"method": "campaign"})
    lead = DueTask(2, 1, "lead", LEAD.phone, 1, lead_rule=by_campaign, lead=LEAD)
    assert isinstance(plan_of(lead, office(), NOW), NotPlaced)


def client_first(plan: OriginatePlan, cfg: ConfigSnapshot | None = None) -> Driver:
    logic = ClientFirstLogic(cfg or office(), plan, call_id="cb1", started_at=NOW)
    return Driver(plan, logic)


def test_the_client_answers_first_then_the_scenario_runs_with_him() -> None:
    plan = planned(rule({"method": "scenario", "scenario_id": 2}))
    peers = client_first(plan)
    [client] = of(io.RingNumber, peers.run(peers.logic.start(peers.now)))
    assert (client.number, client.caller_id) == (CLIENT, NUMBER)  # nobody before him
    peers.now += dt.timedelta(seconds=4)
    out = peers.send(io.RingAnswered(client.ring))
    assert out[0] == TakeEmployee(listen_keys=True)  # his leg is the call's, his keys heard
    [message] = of(io.PlayToCaller, out)
    assert message.play.file_ids == (100,)
    assert not of(io.RingPhone, out)
    assert peers.logic.outcome is Outcome.TALKED  # reached: the callback is done
    out = peers.send(io.PlaybackDone())  # the message is over: the forward
    [ring] = of(io.RingPhone, out)
    assert ring.employee_id == 2
    assert ring.caller_id == CLIENT  # the employee sees whom he will talk to
    out = peers.send(io.RingAnswered(ring.ring))
    assert of(io.ConnectCallee, out)
    peers.send(io.Connected())
    peers.now += dt.timedelta(seconds=30)
    peers.send(io.CalleeHungUp())
    assert peers.logic.ended
    summary = peers.logic.summary(peers.now)
    assert (summary.status, summary.employee_id, summary.caller) == ("answered", 2, NUMBER)
    assert summary.answered_at == NOW + dt.timedelta(seconds=4)
    assert summary.wait_seconds == 4.0
    assert summary.talk_seconds == 30.0
    assert peers.logic.employee_id == 2
    kinds = [s.kind for s in peers.logic.details]
    assert kinds[0] == "originate"
    assert "сначала абонент 79161112233, затем сценарий с ним" in peers.logic.details[0].text
    assert kinds.index("employee_answered") < kinds.index("scenario") < kinds.index("play")
    assert "whisper" not in kinds  # the client is whispered nothing


def test_a_client_who_does_not_answer_fails_the_attempt() -> None:
    peers = client_first(planned(rule({"method": "scenario", "scenario_id": 6})))
    [client] = of(io.RingNumber, peers.run(peers.logic.start(peers.now)))
    out = peers.send(io.RingFailed(client.ring, 486))
    assert io.HangUp() in out
    assert peers.logic.ended
    assert peers.logic.outcome is Outcome.CLIENT_NO_ANSWER
    assert peers.logic.summary(peers.now).status == "missed"


def test_employee_first_through_a_scenarios_forward_rings_as_it_does_and_whispers_nothing() -> None:
    plan = planned(rule({"method": "scenario", "scenario_id": 4}))
    peers = Driver(plan, OriginateLogic(office(), plan, call_id="cb2", started_at=NOW))
    [ring] = of(
        io.RingPhone, peers.run(peers.logic.start(peers.now))
    )  # group 10, support: one line at a time
    assert ring.employee_id in (1, 2)
    out = peers.send(io.RingAnswered(ring.ring))
    [whisper] = of(WhisperToEmployee, out)
    assert (whisper.text, whisper.file_id) == ("", None)  # nothing said: straight to the client
    said = [step.text for step in peers.logic.details if step.kind == "whisper"]
    assert said == ["подсказка сотруднику: нет (через сценарий)"]
    assert of(ChooseCallerId, peers.send(WhisperDone()))


def test_a_client_first_callback_is_held_as_an_outbound_dialing() -> None:
    """QUE-7: the PBX dialled the client first on its own: where the forward's queue is on he
    is held (no place in the FIFO) and the free phones are rung again and again."""
    queued = {**FORWARD, "distribution": {"queue": True}}
    cfg = dataclasses.replace(
        office(), scenarios={**office().scenarios, 7: scenario([MESSAGE, queued], name="Очередь")}
    )
    plan = plan_of(task(rule({"method": "scenario", "scenario_id": 7})), cfg, NOW)
    assert isinstance(plan, OriginatePlan)
    peers = client_first(plan, cfg)
    [client] = of(io.RingNumber, peers.run(peers.logic.start(peers.now)))
    peers.send(io.RingAnswered(client.ring))
    [ring] = of(io.RingPhone, peers.send(io.PlaybackDone()))
    out = peers.send(io.RingFailed(ring.ring, 486))  # the only employee is busy: round over
    kinds = [s.data.get("kind") for s in peers.logic.details if s.kind == "distribution"]
    assert kinds == ["offered", "ring_ended", "held", "offered"], kinds
    assert "queued" not in kinds
    assert of(io.HoldMusic, out)  # he hears the queue's music while the phone rings again
    assert len(of(io.RingPhone, out)) == 1
    assert not peers.logic.ended
