"""The distribution's request built from a Dial: table order, switched-off rows, schedules."""

from __future__ import annotations

import datetime as dt

from vpbx.domain.schedule import ScheduleSpec
from vpbx.scenario.actions import Dial, DialTarget
from vpbx.scenario.distribution import Strategy
from vpbx.scenario.forwarding import forward_request
from vpbx.scenario.snapshot import ConfigSnapshot, EmployeeInfo, GroupInfo, GroupRow, PhoneInfo

MONDAY_10 = dt.datetime(2025, 11, 10, 7, 0, tzinfo=dt.UTC)  # 10:00 in Moscow
NIGHTS = ScheduleSpec.model_validate(
    {
        "weekly": [
            {"weekday": d, "intervals": [{"start": "20:00", "end": "23:00"}]} for d in range(1, 8)
        ]
    }
)


def config() -> ConfigSnapshot:
    ivanov = EmployeeInfo(
        1,
        "Иванов",
        "101",
        ("a1", "a2"),
        phones=(PhoneInfo("a1", "sip", 2, 15.0), PhoneInfo("a2", "number", 1, 30.0)),
    )
    petrova = EmployeeInfo(2, "Петрова", "102", ("b1",), phones=(PhoneInfo("b1"),), schedule_id=7)
    sidorov = EmployeeInfo(
        3, "Сидоров", "103", ("c1",), phones=(PhoneInfo("c1"),), calls_enabled=False
    )
    sales = GroupInfo(
        10,
        "Продажи",
        "200",
        (1, 2, 3),
        simultaneous_lines=2,
        rows=(
            GroupRow(2, "b1", 50.0),
            GroupRow(1, "a2", 25.0, enabled=False),
            GroupRow(3, "c1", 0.0),
            GroupRow(1, "a1", 25.0),
        ),
    )
    return ConfigSnapshot.build(
        employees=[ivanov, petrova, sidorov], groups=[sales], schedules=[(7, NIGHTS)]
    )


def test_a_group_follows_its_distribution_table() -> None:
    dial = Dial(
        targets=(DialTarget(group_id=10),), operation="fwd", scenario_id=5, strategy="support"
    )
    request = forward_request(
        dial, config(), call_id="c", account_id=1, caller="79161234567", now=MONDAY_10
    )
    assert [t.employee_id for t in request.targets] == [2, 1, 3]
    ivanov = request.targets[1]
    assert [(p.phone_id, p.available, p.percent) for p in ivanov.phones] == [
        ("a2", False, 25.0),  # a switched-off row: «Номер недоступен в группе»
        ("a1", True, 25.0),
    ]
    assert ivanov.phones[1].lines == 2
    assert ivanov.phones[1].ring_timeout == 15.0
    assert request.targets[0].in_schedule is False  # Петрова works nights only
    assert request.targets[2].calls_enabled is False
    assert request.settings.strategy is Strategy.SUPPORT
    assert request.settings.simultaneous_lines == 2  # the group's, the operation named none
    assert request.scenario_id == 5


def test_an_employee_target_rings_his_phones_in_his_order_or_the_one_named() -> None:
    whole = Dial(targets=(DialTarget(employee_id=1),), operation="pm")
    one = Dial(targets=(DialTarget(employee_id=1, phone_id="a2"),), operation="pm")
    cfg = config()
    both = forward_request(whole, cfg, call_id="c", account_id=1, caller="7", now=MONDAY_10)
    single = forward_request(one, cfg, call_id="c", account_id=1, caller="7", now=MONDAY_10)
    assert [p.phone_id for p in both.targets[0].phones] == ["a1", "a2"]
    assert [p.phone_id for p in single.targets[0].phones] == ["a2"]


def test_reachability_comes_from_the_caller() -> None:
    dial = Dial(targets=(DialTarget(employee_id=1),), operation="fwd")
    request = forward_request(
        dial,
        config(),
        call_id="c",
        account_id=1,
        caller="7",
        now=MONDAY_10,
        reachable=lambda _employee, phone: phone.kind != "sip",  # e.g. a SIP line not registered
    )
    assert [(p.phone_id, p.available) for p in request.targets[0].phones] == [
        ("a1", False),
        ("a2", True),
    ]
