"""FMC lines (FMC-1) in the call core on a fake clock: an FMC phone is rung at its SIM's mobile
number showing the caller (in a Forward, a group, a transfer, a callback), a blocked line or one
whose service is off is not rung (the details say why), and its channel count limits the calls
that ring it, with the real distribution."""

from __future__ import annotations

import dataclasses
from typing import Any

from tests.scenario.helpers import CALLER, MSK, NOW, NUMBER, Node, scenario
from tests.scenario.test_originate import CLIENT, Driver, of
from vpbx.domain.entities.routing import VirtualNumber
from vpbx.scenario import call_io as io
from vpbx.scenario.originate import OriginateLogic, OriginatePlan, Outcome
from vpbx.scenario.snapshot import (
    ConfigSnapshot,
    EmployeeInfo,
    FileInfo,
    FmcLineInfo,
    GroupInfo,
    PhoneInfo,
)

SIM = "79160005511"
SIP = PhoneInfo("s1", "sip", sip_line_id=11)
FMC = PhoneInfo("f1", "fmc", fmc_line_id=7)
NOBODY = {"key": "nobody", "kind": "info", "file_ids": [100]}


def account(line: FmcLineInfo, *, group: bool = False, employee: int = 1) -> ConfigSnapshot:
    """An employee with an FMC phone (and a SIP phone of a colleague in the group)."""
    target = {"group_id": 10} if group else {"employee_id": employee}
    forward = {
        "key": "fwd",
        "kind": "forward",
        "targets": [target],
        "exits": {"no_answer": "nobody"},
    }
    number = VirtualNumber.model_validate({"number": NUMBER, "rules": [{"scenario_id": 1}]})
    return ConfigSnapshot.build(
        tz=MSK,
        numbers=[(1, number)],
        scenarios=[(1, scenario([forward, NOBODY]))],
        employees=[
            EmployeeInfo(1, "Мобильный", "2001", ("f1",), phones=(FMC,)),
            EmployeeInfo(2, "Сипов", "2002", ("s1",), phones=(SIP,)),
        ],
        groups=[GroupInfo(10, "Продажи", "2100", (1, 2), simultaneous_lines=2)],
        files=[FileInfo(100, "nobody.wav", duration=2)],
        fmc_lines=[line],
    )


def line(**changes: Any) -> FmcLineInfo:
    usable = FmcLineInfo(7, SIM, employee_id=1, blocked=False, channels=1)
    return dataclasses.replace(usable, **changes)


def test_an_fmc_phone_rings_its_sim_number_showing_the_caller_with_its_channels_as_lines() -> None:
    node = Node(account(line(channels=2)))
    node.call("c1")
    [ring] = node.rings("c1")
    assert ring.phone.kind == "fmc"
    assert ring.phone.number == SIM  # the switch rings the SIM through the trunk
    assert ring.caller_id == CALLER  # XFR-2: an FMC line sees the caller's number
    assert ring.phone.lines == 2  # FMC-1: the line's channels are the phone's lines


def test_a_blocked_fmc_line_is_not_rung_and_the_details_say_why() -> None:
    node = Node(account(line(blocked=True)))
    node.call("c1")
    logic = node.calls["c1"]
    assert node.rings("c1") == []
    refused = [s for s in logic.details if s.kind == "ring_refused"]
    assert [s.text for s in refused] == [f"FMC-линия {SIM} заблокирована"]
    # nobody else to ring: the forward's no_answer exit plays its message
    assert "dial_failed" in [s.kind for s in logic.details]
    assert any(isinstance(c, io.PlayToCaller) for c in node.commands["c1"])


def test_an_fmc_line_whose_service_is_off_is_not_rung_but_keeps_its_settings() -> None:
    cfg = account(line(service_enabled=False, channels=2))
    node = Node(cfg)
    node.call("c1")
    assert node.rings("c1") == []
    texts = [s.text for s in node.calls["c1"].details if s.kind == "ring_refused"]
    assert texts == [f"FMC-линия {SIM}: услуга FMC отключена"]
    assert cfg.fmc_lines[7].channels == 2  # the settings stay
    # in a group the colleague's SIP phone still rings
    group = Node(account(line(service_enabled=False), group=True))
    group.call("c1")
    assert [r.phone.id for r in group.rings("c1")] == ["s1"]


def test_a_third_concurrent_call_does_not_ring_a_two_channel_fmc_line() -> None:
    node = Node(account(line(channels=2)))
    for call_id in ("c1", "c2", "c3"):
        node.call(call_id)
    assert [len(node.rings(c)) for c in ("c1", "c2", "c3")] == [1, 1, 0]
    # the first call ends: its channel is free again for the next call
    first = node.rings("c1")[0]
    node.send("c1", io.RingFailed(first.ring, 486))
    node.call("c4")
    assert len(node.rings("c4")) == 1
    # a one-channel line takes a single call
    single = Node(account(line(channels=1)))
    single.call("c1")
    single.call("c2")
    assert [len(single.rings(c)) for c in ("c1", "c2")] == [1, 0]


def test_the_snapshot_finds_the_line_by_its_number_and_its_employee() -> None:
    cfg = account(line())
    assert cfg.fmc_by_number[SIM] == 7
    owner = cfg.fmc_owner(7)
    assert owner is not None
    assert (owner[0].id, owner[1].id) == (1, "f1")
    assert cfg.fmc_owner(8) is None
    assert cfg.fmc_refusal(SIP) is None
    orphan = dataclasses.replace(FMC, fmc_line_id=99)
    assert cfg.fmc_refusal(orphan) == "телефон f1: FMC-линии нет в настройках"


def transfer_to_the_sim(cfg: ConfigSnapshot) -> Node:
    """The SIP colleague (2002) answers and transfers the caller to 2001 (# + extension)."""
    node = Node(cfg)
    node.call("c1")
    [ring] = node.rings("c1")
    node.send("c1", io.RingAnswered(ring.ring))
    node.send("c1", io.Connected())
    for digit in "#2001#":
        node.send("c1", io.EmployeeDigit(digit))
    return node


def test_a_transfer_rings_the_fmc_line_unless_it_is_blocked() -> None:
    node = transfer_to_the_sim(account(line(), employee=2))
    [_, ring] = node.rings("c1")
    assert (ring.employee_id, ring.phone.number, ring.transfer) == (1, SIM, True)
    assert ring.caller_id == NUMBER  # XFR-1: the account's default, as for a SIP line
    blocked = transfer_to_the_sim(account(line(blocked=True), employee=2))
    assert len(blocked.rings("c1")) == 1  # only the colleague's own ring
    texts = [s.text for s in blocked.calls["c1"].details if s.kind == "ring_refused"]
    assert texts == [f"FMC-линия {SIM} заблокирована"]


def test_a_callback_rings_the_fmc_line_showing_the_client_unless_it_is_blocked() -> None:
    plan = OriginatePlan(1, CLIENT, employee_id=1)
    usable = OriginateLogic(account(line()), plan, call_id="o1", started_at=NOW)
    driver = Driver(plan, usable)
    [ring] = of(io.RingPhone, driver.run(usable.start(NOW)))
    assert (ring.phone.number, ring.caller_id) == (SIM, CLIENT)  # who he will talk to
    off = OriginateLogic(account(line(service_enabled=False)), plan, call_id="o2", started_at=NOW)
    driver = Driver(plan, off)
    assert not of(io.RingPhone, driver.run(off.start(NOW)))
    refused = [s.text for s in off.details if s.kind == "ring_refused"]
    assert refused == [f"FMC-линия {SIM}: услуга FMC отключена"]
    assert off.outcome is Outcome.EMPLOYEE_NO_ANSWER
