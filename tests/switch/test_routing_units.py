"""Pure pieces of the switch's routing, without peers: the outbound trunk a call leaves through
(the virtual number's `trunk_id`), the shared `Pbx.outbound_target`, schedules (EMP-4), the
caller of a line's call and the report row naming extensions."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any, cast

from vpbx.domain.directory import TrunkInfo
from vpbx.domain.entities.misc import Schedule
from vpbx.domain.entities.people import Employee
from vpbx.domain.entities.routing import VirtualNumber
from vpbx.domain.entities.scenarios import Scenario
from vpbx.domain.toll_fraud import Refusal, Rule
from vpbx.scenario.snapshot import ConfigSnapshot, EmployeeInfo, GroupInfo, PhoneInfo
from vpbx.services.scenario_config import _employee
from vpbx.sip.message import Request
from vpbx.sip.parser import parse_message
from vpbx.switch.b2bua import B2BCall, Contact, Target
from vpbx.switch.directory import Directory, LineInfo
from vpbx.switch.pbx import Pbx, _caller_of, _employees_of_extension, _forwarded_phones, _sip_phones
from vpbx.switch.plain_calls import plain_call_record, plain_call_start
from vpbx.switch.snapshots import schedule_active
from vpbx.switch.toll_guard import Lease

NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)  # a Monday, 12:30 in Moscow


def trunk(trunk_id: int, account_id: int = 1, *, outbound: bool = True) -> TrunkInfo:
    return TrunkInfo(
        account_id, trunk_id, f"t{trunk_id}", f"10.0.0.{trunk_id}", 5060, "udp", (),
        "user", "pw", False, outbound,
    )  # fmt: skip


class FakeSource:
    def __init__(self, trunks: list[TrunkInfo]) -> None:
        self._trunks = trunks

    async def trunks(self) -> list[TrunkInfo]:
        return self._trunks


def directory(*trunks: TrunkInfo) -> Directory:
    return Directory(cast(Any, FakeSource(list(trunks))))


async def test_the_numbers_trunk_is_taken_else_the_accounts_first_outbound() -> None:
    found = directory(trunk(1, outbound=False), trunk(2), trunk(3), trunk(4, account_id=2))
    assert (await found.outbound_trunk(1)).trunk_id == 2  # type: ignore[union-attr]
    assert (await found.outbound_trunk(1, 3)).trunk_id == 3  # type: ignore[union-attr]
    # another account's trunk, or one not outbound, is never taken
    assert (await found.outbound_trunk(1, 4)).trunk_id == 2  # type: ignore[union-attr]
    assert (await found.outbound_trunk(1, 1)).trunk_id == 2  # type: ignore[union-attr]
    assert await found.outbound_trunk(3) is None


class FakeGuard:
    def __init__(self, refuse: Refusal | None = None) -> None:
        self.refuse = refuse
        self.asked: list[tuple[int, str, str, str, str]] = []

    async def admit(
        self, account_id: int, call_id: str, dialled: str, *, line: str = "", source: str = "line"
    ) -> Lease | Refusal:
        self.asked.append((account_id, call_id, dialled, line, source))
        return self.refuse or Lease(f"{call_id}/1", account_id)


class Configs:
    def __init__(self, config: ConfigSnapshot) -> None:
        self.config = config

    async def get(self, account_id: int) -> tuple[ConfigSnapshot, bool]:
        return self.config, False


def pbx(found: Directory, guard: FakeGuard | None) -> Pbx:
    none = cast(Any, None)
    switch = Pbx(
        none, found, none, Contact("127.0.0.1", 5060), none, Configs(ConfigSnapshot.build())
    )
    switch.toll_guard = cast(Any, guard)
    return switch


async def test_outbound_target_goes_through_the_chosen_trunk_with_the_guards_lease() -> None:
    guard = FakeGuard()
    switch = pbx(directory(trunk(2), trunk(3)), guard)
    target = await switch.outbound_target(
        1, "74997654321", call_id="c1", caller_id="74951112233", employee_id=7,
        source="forward", trunk_id=3,
    )  # fmt: skip
    assert isinstance(target, Target)
    assert target.peer.host == "10.0.0.3"
    assert target.uri.user == "74997654321"
    assert target.caller_id == "74951112233"
    assert target.employee_id == 7
    assert target.credentials == ("user", "pw")
    assert target.lease == "c1/1"
    assert guard.asked == [(1, "c1", "74997654321", "", "forward")]


async def test_outbound_target_refused_by_the_guard_or_without_a_trunk() -> None:
    refusal = Refusal(Rule.DESTINATION, "74997654321", "запрещён", "Forbidden")
    switch = pbx(directory(trunk(2)), FakeGuard(refusal))
    got = await switch.outbound_target(
        1, "74997654321", call_id="c", caller_id="x", employee_id=None, source="line"
    )
    assert got is refusal
    guard = FakeGuard()
    nothing = await pbx(directory(), guard).outbound_target(
        1, "74997654321", call_id="c", caller_id="x", employee_id=None, source="line"
    )
    assert nothing is None
    assert guard.asked == []  # no lease taken for a call that cannot leave


def test_a_schedule_is_judged_in_the_accounts_zone_and_none_is_around_the_clock() -> None:
    office = Schedule.model_validate(
        {
            "name": "office",
            "weekly": [{"weekday": 1, "intervals": [{"start": "09:00", "end": "18:00"}]}],
        }
    )
    config = ConfigSnapshot.build(tz="Europe/Moscow", schedules=[(5, office)])
    assert schedule_active(config, None, NOW)
    assert schedule_active(config, 99, NOW)  # a schedule not found does not lock anyone out
    assert schedule_active(config, 5, NOW)
    assert not schedule_active(config, 5, NOW.replace(hour=17))  # 20:00 in Moscow
    assert not schedule_active(config, 5, NOW + dt.timedelta(days=1))  # Tuesday


LINE = LineInfo(1, 11, "sip1001", "pw", "in_out", None)


DESK = PhoneInfo("desk", "sip", lines=2, ring_timeout=15.0, sip_line_id=11)


IVANOV = EmployeeInfo(
    7, "Иванов", "101", ("p1", "desk"), phones=(PhoneInfo("p1", "number", number="7916"), DESK)
)


def employee(**extra: Any) -> EmployeeInfo:
    return replace(IVANOV, **extra)


def test_the_caller_of_a_line_is_his_extension_and_his_phone() -> None:
    caller = _caller_of(employee(schedule_id=5), LINE)
    assert caller.extension == "101"
    assert caller.employee_id == 7
    assert caller.schedule_id == 5
    assert caller.phone is not None
    assert (caller.phone.phone_id, caller.phone.lines, caller.phone.line_id) == ("desk", 2, 11)
    assert caller.phone.ring_timeout == 15.0
    assert _caller_of(None, LINE).extension == "sip1001"  # a line nobody has
    assert _caller_of(employee(extension=None), LINE).extension == "sip1001"


def test_phones_without_an_id_are_keyed_by_position_and_call_status_off_rings_nothing() -> None:
    doc = Employee.model_validate(
        {
            "last_name": "Иванов",
            "phones": [
                {"kind": "number", "number": "79161234567"},
                {"kind": "sip", "sip_line_id": 11},
            ],
            "trainer_id": 3,
            "auto_call_trainer": True,
        }
    )
    no_id = _employee(7, doc)
    assert (no_id.trainer_id, no_id.auto_call_trainer) == (3, True)  # TRN-1 reads these
    (phone,) = _sip_phones([no_id])
    assert (phone.phone_id, phone.lines, phone.ring_timeout) == ("2", 1, 20.0)
    assert _sip_phones([employee(calls_enabled=False)]) == []


def test_an_extension_is_an_employee_or_the_members_of_a_group_in_their_order() -> None:
    other = employee(id=8, extension="102", phones=(PhoneInfo("1", sip_line_id=12),))
    third = employee(id=9, extension=None, phones=(PhoneInfo("1", sip_line_id=13),))
    group = GroupInfo(4, "Sales", "200", (9, 8, 99))  # 99: not an employee (any more)
    config = ConfigSnapshot.build(employees=[employee(), other, third], groups=[group])
    assert [e.id for e in _employees_of_extension(config, "101")] == [7]
    assert [e.id for e in _employees_of_extension(config, "200")] == [9, 8]
    assert _employees_of_extension(config, "300") == []


def test_without_call_logic_a_number_rings_the_first_forward_of_its_first_enabled_rule() -> None:
    other = employee(id=8, extension="102", phones=(PhoneInfo("1", sip_line_id=12),))
    group = GroupInfo(4, "Sales", "200", (8, 7))
    forward = Scenario.model_validate(
        {
            "name": "Forward",
            "entry": "fwd",
            "operations": [
                {"key": "fwd", "kind": "forward", "targets": [{"employee_id": 8}, {"group_id": 4}]}
            ],
        }
    )
    number = VirtualNumber.model_validate(
        {
            "number": "74951112233",
            "rules": [{"scenario_id": 99, "enabled": False}, {"scenario_id": 5}],
        }
    )
    config = ConfigSnapshot.build(
        numbers=[(1, number)],
        scenarios=[(5, forward)],
        employees=[employee(), other],
        groups=[group],
    )
    phones = _forwarded_phones(config, "74951112233")
    assert [(p.employee_id, p.line_id) for p in phones] == [(8, 12), (7, 11)]  # 8 once
    assert _forwarded_phones(config, "74950000000") == []


def invite_from(login: str) -> Request:
    raw = (
        f"INVITE sip:102@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n"
        f"From: <sip:{login}@127.0.0.1>;tag=a\r\nTo: <sip:102@127.0.0.1>\r\nCall-ID: c1\r\n"
        "CSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    message = parse_message(raw)
    assert isinstance(message, Request)
    return message


def test_the_report_row_of_an_internal_call_names_extensions_not_line_logins() -> None:
    none = cast(Any, None)
    call = B2BCall(
        none, Contact("127.0.0.1", 5060), invite_from("sip1001"), none, none,
        lambda _c: None, lambda _c: None, none, 1, clock=lambda: NOW, started_at=NOW,
    )  # fmt: skip
    call.direction, call.called = "internal", "102"
    call.caller_extension, call.caller_employee_id = "101", 7
    assert plain_call_start(call).caller == "101"
    row = plain_call_record(call)
    assert (row.caller, row.called, row.status) == ("101", "102", "missed")
    assert row.ended_at == NOW  # dated by the call's clock
    assert "с 101 на 102" in row.steps[0].text
