"""QUE-7 in the call core on a fake clock, with the real distribution: a call the PBX dialled
itself (a callback that rang the client first and runs a scenario with him) is an outbound
dialing. Its Forward's queue only holds the client: every free phone rings at once (not in the
operation's order, one line at a time), again after each unanswered ring, and a held client does
not wait behind the FIFO of incoming callers, nor holds them up."""

from __future__ import annotations

import datetime as dt

from tests.scenario.helpers import MSK, NUMBER, Node, scenario
from vpbx.domain.entities.routing import VirtualNumber
from vpbx.scenario import call_io as io
from vpbx.scenario.call_logic import CallLogic
from vpbx.scenario.snapshot import ConfigSnapshot, EmployeeInfo, GroupInfo, PhoneInfo

PEOPLE = tuple(
    EmployeeInfo(i, name, str(2000 + i), ("p1",), phones=(PhoneInfo("p1", sip_line_id=10 + i),))
    for i, name in ((1, "Первый"), (2, "Второй"), (3, "Третий"))
)


def account() -> ConfigSnapshot:
    """Priority order, one line at a time, queue on, over a group of three."""
    forward = {
        "key": "fwd",
        "kind": "forward",
        "targets": [{"group_id": 10}],
        "strategy": "priority",
        "distribution": {"simultaneous_lines": 1, "ring_timeout": 10, "queue": True},
    }
    number = VirtualNumber.model_validate({"number": NUMBER, "rules": [{"scenario_id": 1}]})
    return ConfigSnapshot.build(
        tz=MSK,
        numbers=[(1, number)],
        scenarios=[(1, scenario([forward]))],
        employees=PEOPLE,
        groups=[GroupInfo(10, "Обзвон", "2100", (1, 2, 3))],
    )


def dialled(logic: CallLogic, now: dt.datetime) -> list[io.Command]:
    """The client the PBX dialled answered: the scenario runs with him (ClientFirstLogic)."""
    return logic.start_scenario(1, now, dialer=True)


def scenario_callapi(logic: CallLogic, now: dt.datetime) -> list[io.Command]:
    return logic.start_scenario(1, now)


def rung(node: Node, call_id: str) -> list[int]:
    return [r.employee_id for r in node.rings(call_id)]


def answer(node: Node, call_id: str, employee_id: int) -> None:
    ring = next(r for r in node.rings(call_id) if r.employee_id == employee_id)
    node.send(call_id, io.RingAnswered(ring.ring))
    node.send(call_id, io.Connected())


def test_a_dialer_call_rings_every_phone_at_once_not_in_the_operations_waves() -> None:
    node = Node(account())
    node.call("in", scenario_callapi)  # QUE-6: the operation's order, one line at a time
    assert rung(node, "in") == [1]
    other = Node(account())
    other.call("dial", dialled)
    assert sorted(rung(other, "dial")) == [1, 2, 3]


def test_a_held_dialer_client_rings_free_phones_continuously_outside_the_fifo() -> None:
    node = Node(account())
    # every employee talks: the next incoming caller queues, the dialled client is held
    for call_id, employee_id in (("c1", 1), ("c2", 2), ("c3", 3)):
        node.call(call_id)
        node.later(11)  # the earlier rings of the waves time out where nobody answers
        answer(node, call_id, employee_id)
    node.call("waiting")
    assert any(isinstance(c, io.HoldMusic) for c in node.commands["waiting"])
    node.call("dial", dialled)
    held = [c for c in node.commands["dial"] if isinstance(c, io.HoldMusic)]
    assert held == [io.HoldMusic(None, None, ())]  # held: no place, so no estimated wait
    steps = [s.text for s in node.calls["dial"].details if s.kind == "distribution"]
    assert "удержание" in steps
    assert "в очереди" not in " ".join(steps)  # not a waiter of the FIFO
    assert rung(node, "dial") == []
    # employee 2 hangs up: the waiter first (FIFO), and he takes the call
    node.send("c2", io.CalleeHungUp())
    assert rung(node, "waiting") == [2]
    assert rung(node, "dial") == []
    answer(node, "waiting", 2)
    # employee 3 hangs up: nobody waits for him in the FIFO; the held client's phone rings
    node.send("c3", io.CalleeHungUp())
    assert rung(node, "dial") == [3]
    # he does not answer: he is rung again, and again (continuously)
    first = node.rings("dial")[0]
    node.send("dial", io.RingFailed(first.ring, 480))
    node.later(1)
    assert rung(node, "dial") == [3, 3]
    second = node.rings("dial")[1]
    node.send("dial", io.RingAnswered(second.ring))
    assert node.calls["dial"].talker == 3
