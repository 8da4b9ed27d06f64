"""API-1 «номер → сценарий» in the call core on a fake clock, with the real distribution: the
plan a CallAPI task with a scenario gets (the client first, shown the number the request chose),
and the call itself (`ClientFirstLogic`): the client answers, the scenario runs with him, and
its Forward with «Очередь» on puts him in the global FIFO queue (QUE-6's exception for CallAPI
calls started with a scenario), in his turn among incoming callers, not held as an outbound
dialing's client is (QUE-7)."""

from __future__ import annotations

import dataclasses
import datetime as dt

from tests.scenario.helpers import NOW, NUMBER, Node
from tests.scenario.test_dialer_queue_logic import account, answer, rung
from vpbx.domain.callback_plan import DueTask
from vpbx.domain.entities.routing import VirtualNumber
from vpbx.scenario import call_io as io
from vpbx.scenario.callback_calls import NotPlaced, plan_of
from vpbx.scenario.callback_scenario import ClientFirstLogic
from vpbx.scenario.originate import OriginatePlan, Outcome, Purpose, TakeEmployee
from vpbx.scenario.snapshot import ConfigSnapshot

CLIENT = "79161112233"
OTHER = "74950000002"


def office() -> ConfigSnapshot:
    """The dialer test's account (a Forward over a group of three, priority, one line at a
    time, «Очередь» on) with a second number, 2."""
    cfg = account()
    second = VirtualNumber.model_validate({"number": OTHER})
    return dataclasses.replace(cfg, numbers={**cfg.numbers, OTHER: (2, second)})


def task(number_id: int | None = 2, scenario_id: int = 1) -> DueTask:
    return DueTask(5, 1, "callapi", CLIENT, 1, result_call_id=40, number_id=number_id,
                   scenario_id=scenario_id)  # fmt: skip


def test_a_callapi_task_with_a_scenario_rings_the_client_first_showing_the_chosen_number() -> None:
    cfg = office()
    plan = plan_of(task(), cfg, NOW)
    assert isinstance(plan, OriginatePlan), plan
    assert (plan.purpose, plan.scenario_id, plan.client) == (Purpose.CALLAPI, 1, CLIENT)
    assert (plan.employee_id, plan.group_id, plan.dial, plan.number) == (None, None, None, None)
    assert (plan.caller_id, plan.number_id) == (OTHER, 2)
    assert plan.whisper_default == ""  # nobody is whispered anything
    assert "задача #5" in plan.label
    # the number was deleted since the request: the account's first one
    gone = plan_of(task(number_id=77), cfg, NOW)
    assert isinstance(gone, OriginatePlan)
    assert (gone.caller_id, gone.number_id) == (NUMBER, 1)
    # the scenario was deleted: no call, the task fails
    lost = plan_of(task(scenario_id=99), cfg, NOW)
    assert isinstance(lost, NotPlaced)
    assert lost.final
    assert "#99" in lost.reason


def callapi(node: Node, call_id: str) -> None:
    """A CallAPI «номер → сценарий» call on the node: the client is rung first and answers."""
    plan = plan_of(task(number_id=1), node.config, node.now)
    assert isinstance(plan, OriginatePlan)
    logic = ClientFirstLogic(node.config, plan, call_id=call_id, started_at=node.now)
    node.calls[call_id] = logic  # type: ignore[assignment]
    node.commands[call_id] = []
    [client] = [c for c in node.run(call_id, list(logic.start(node.now)))
                if isinstance(c, io.RingNumber)]  # fmt: skip
    assert (client.number, client.caller_id) == (CLIENT, NUMBER)
    assert not node.rings(call_id)  # nobody is rung before him
    node.later(3)
    out = node.send(call_id, io.RingAnswered(client.ring))
    assert out[0] == TakeEmployee(listen_keys=True)
    assert logic.outcome is Outcome.TALKED


def test_the_client_takes_his_place_in_the_global_fifo_queue() -> None:
    node = Node(account())
    for call_id, employee_id in (("c1", 1), ("c2", 2), ("c3", 3)):
        node.call(call_id)
        node.later(11)
        answer(node, call_id, employee_id)
    callapi(node, "api")  # every employee talks: he is queued, as an incoming caller is
    held = [c for c in node.commands["api"] if isinstance(c, io.HoldMusic)]
    assert len(held) == 1
    kinds = [s.data.get("kind") for s in node.calls["api"].details if s.kind == "distribution"]
    assert "queued" in kinds, kinds
    assert "held" not in kinds  # not the dialer's hold (QUE-7)
    assert rung(node, "api") == []
    node.call("waiting")  # an incoming caller queues after him
    # employee 2 frees up: the first in the FIFO, the CallAPI client, is rung (a dialer's
    # client would let the waiter go first)
    node.send("c2", io.CalleeHungUp())
    assert rung(node, "api") == [2]
    assert rung(node, "waiting") == []
    answer(node, "api", 2)
    logic = node.calls["api"]
    assert logic.employee_id == 2  # type: ignore[attr-defined]
    node.now += dt.timedelta(seconds=20)
    node.send("api", io.CalleeHungUp())
    assert logic.ended
    summary = logic.summary(node.now)
    assert (summary.status, summary.employee_id, summary.caller) == ("answered", 2, NUMBER)
    first = logic.details[0]
    assert (first.kind, first.data["purpose"]) == ("originate", "callapi")
    assert first.text.startswith("звонок CallAPI (задача #5: сценарий «Тест»)"), first.text
    # his talk over, employee 2 is free again: the waiter behind him is served
    assert rung(node, "waiting") == [2]
