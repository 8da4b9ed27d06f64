"""Whom a callback rings by the missed call's details (CB-1 methods `tried` and `last_phase`), and
the call an attempt places (`plan_of`, the whisper with call data, a lead's rule and whisper), on a
fake clock: the missed calls are made by the real call core and distribution
(`tests.scenario.test_call_logic.Switch`), their details read as the task store reads them."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.scenario.helpers import CALLER, NOW
from tests.scenario.test_call_logic import Switch, account, forward, of
from tests.scenario.test_originate import Driver
from tests.scenario.test_transfer_logic import keys, talking
from vpbx.domain.callback_plan import DueTask, LeadFacts, MissedFacts, first_lead_rule, site_host
from vpbx.domain.entities.callback import CallbackRule, LeadCallbackRule, LeadSource, Whisper
from vpbx.domain.entities.routing import VirtualNumber
from vpbx.domain.switch_records import StepRecord
from vpbx.scenario import call_io as io
from vpbx.scenario.callback_calls import (
    NotPlaced,
    call_data_phrase,
    lead_data_phrase,
    plan_of,
    spoken_number,
)
from vpbx.scenario.callback_targets import (
    NOBODY_TRIED,
    Callees,
    last_phase_callees,
    tried_callees,
)
from vpbx.scenario.originate import OriginatePlan, WhisperToEmployee
from vpbx.scenario.snapshot import ConfigSnapshot, EmployeeInfo, GroupInfo, PhoneInfo

LINES = 2


PEOPLE = (
    EmployeeInfo(1, "Иванов Иван", "101", ("p1", "p2"),
                 phones=(PhoneInfo("p1", sip_line_id=11), PhoneInfo("p2", sip_line_id=13))),
    EmployeeInfo(2, "Петрова Анна", "102", ("p1",), phones=(PhoneInfo("p1", sip_line_id=12),)),
)  # fmt: skip


def office(*ops: dict[str, Any]) -> ConfigSnapshot:
    """Employees 1 (SIP phones p1, p2) and 2 (p1), group 10 of both ringing 2 lines at once."""
    group = GroupInfo(10, "Отдел продаж", "200", (1, 2), simultaneous_lines=LINES)
    return dataclasses.replace(
        account(*ops), employees={e.id: e for e in PEOPLE}, groups={10: group}
    )


def records(switch: Switch) -> tuple[StepRecord, ...]:
    """The call's details as the task store reads them back (`call_steps`)."""
    return tuple(StepRecord(s.at, s.kind, s.text, dict(s.data)) for s in switch.logic.details)


def missed_in_group() -> tuple[ConfigSnapshot, tuple[StepRecord, ...]]:
    """A caller rings group 10 (support: two lines at once, an employee's phones one after
    another); employee 1's first phone rejects, his second is rung; the caller gives up."""
    switch = Switch(office(forward({"group_id": 10}, strategy="support")))
    first = of(io.RingPhone, switch.start())
    assert [(r.employee_id, r.phone.id) for r in first] == [(1, "p1"), (2, "p1")]
    out = switch.send(io.RingFailed(first[0].ring, 486))
    assert [(r.employee_id, r.phone.id) for r in of(io.RingPhone, out)] == [(1, "p2")]
    switch.now += dt.timedelta(seconds=8)
    switch.send(io.CallerHungUp())
    assert switch.logic.summary(switch.now).status == "missed"
    return switch.logic.config, records(switch)


def test_tried_starts_with_one_number_and_adds_one_per_failed_attempt_up_to_the_lines() -> None:
    config, steps = missed_in_group()
    assert tried_callees(steps, 1, config) == Callees(((1, "p1"),))
    assert tried_callees(steps, 2, config) == Callees(((1, "p1"), (2, "p1")))
    # three numbers were tried, the group rings two lines at once: never more
    assert tried_callees(steps, 3, config) == Callees(((1, "p1"), (2, "p1")))
    assert tried_callees(steps, 5, config) == tried_callees(steps, 3, config)


def test_tried_without_a_group_grows_to_every_number_tried() -> None:
    switch = Switch(office(forward({"employee_id": 2}, {"employee_id": 1}, strategy="custom",
                                   distribution={"simultaneous_lines": 3})))  # fmt: skip
    [second, first] = of(io.RingPhone, switch.start())
    switch.send(io.RingFailed(first.ring, 486))  # employee 1's second phone is rung then
    switch.now += dt.timedelta(seconds=4)
    switch.send(io.CallerHungUp())
    steps = records(switch)
    assert (second.employee_id, first.employee_id) == (2, 1)
    assert tried_callees(steps, 5, switch.logic.config).phones == ((2, "p1"), (1, "p1"), (1, "p2"))


def test_nobody_tried_the_caller_left_before_any_dial() -> None:
    switch = Switch(office({"key": "hello", "kind": "info", "file_ids": [100]}))
    switch.start()
    switch.send(io.CallerHungUp())
    steps = records(switch)
    assert tried_callees(steps, 1, switch.logic.config) == Callees(why=NOBODY_TRIED)
    assert last_phase_callees(steps, switch.logic.config) == Callees(why=NOBODY_TRIED)
    assert tried_callees((), 2, switch.logic.config).why == "Вызовы сотрудникам не найдены"


def test_last_phase_is_the_last_dial_rung_all_at_once() -> None:
    switch = Switch(
        office(
            forward({"employee_id": 2}, exits={"no_answer": "second"}),
            {**forward({"employee_id": 1}, strategy="support"), "key": "second"},
        )
    )
    [ring] = of(io.RingPhone, switch.start())
    assert ring.employee_id == 2
    out = switch.send(io.RingFailed(ring.ring, 480))  # the first forward fails: the second
    assert {r.employee_id for r in of(io.RingPhone, out)} == {1}
    switch.now += dt.timedelta(seconds=5)
    switch.send(io.CallerHungUp())
    steps = records(switch)
    assert last_phase_callees(steps, switch.logic.config) == Callees(((1, "p1"),))
    # «tried» knows both phases (no group: no limit of lines)
    assert tried_callees(steps, 9, switch.logic.config).phones == ((2, "p1"), (1, "p1"))


def test_last_phase_of_a_call_lost_in_transfer_rings_the_transferrer_then_the_target() -> None:
    switch, _ring = talking()  # employee 1 answered on his SIP phone p1
    [target] = of(io.RingPhone, keys(switch, "#102#"))
    assert target.employee_id == 2
    switch.now += dt.timedelta(seconds=6)
    switch.send(io.CallerHungUp())  # lost while the target rang
    steps = records(switch)
    callees = last_phase_callees(steps, switch.logic.config)
    assert callees == Callees(((1, "p1"), (2, "p1")), in_turn=True)


@given(
    offered=st.lists(
        st.tuples(st.integers(1, 4), st.sampled_from(["p1", "p2", "p3"])), max_size=12
    ),
    lines=st.integers(1, 6),
    attempt=st.integers(1, 5),
)
def test_tried_is_a_growing_prefix_of_the_numbers_in_the_order_first_rung(
    offered: list[tuple[int, str]], lines: int, attempt: int
) -> None:
    config = dataclasses.replace(
        office(), groups={10: GroupInfo(10, "G", None, (1, 2, 3, 4), simultaneous_lines=lines)}
    )
    steps = (
        StepRecord(NOW, "dial", "переадресация", {"operation": "f", "group_ids": [10]}),
        *(
            StepRecord(NOW, "distribution", "", {"kind": "offered", "employee_id": e,
                                                 "phone_id": p})
            for e, p in offered
        ),
    )  # fmt: skip
    unique = list(dict.fromkeys(offered))
    now, then = tried_callees(steps, attempt, config), tried_callees(steps, attempt + 1, config)
    if not unique:
        assert now.why == then.why == NOBODY_TRIED
        return
    assert len(now.phones) == min(attempt, lines, len(unique))
    assert list(now.phones) == unique[: len(now.phones)]
    assert then.phones[: len(now.phones)] == now.phones
    assert len(then.phones) - len(now.phones) in (0, 1)


# -- the call an attempt places ------------------------------------------------------------------


def rule(method: str, **whisper: Any) -> CallbackRule:
    return CallbackRule.model_validate(
        {"name": "Пропущенные", "how": {"method": method}, "whisper": whisper}
    )


def task(rule_: CallbackRule, steps: tuple[StepRecord, ...], attempt: int = 1) -> DueTask:
    missed = MissedFacts(7, CALLER, "74950000001", NOW - dt.timedelta(minutes=3), 35.0, steps=steps)
    return DueTask(1, 1, "callback", CALLER, attempt, rule_id=3, rule=rule_, missed=missed)


def test_plan_of_a_tried_rule_rings_the_numbers_tried_and_a_last_phase_rule_its_phones() -> None:
    config, steps = missed_in_group()
    plan = plan_of(task(rule("tried"), steps, attempt=2), config, NOW)
    assert isinstance(plan, OriginatePlan)
    assert (plan.phones, plan.in_turn) == (((1, "p1"), (2, "p1")), False)
    assert plan.employee_id is plan.group_id is plan.number is None
    plan = plan_of(task(rule("last_phase"), steps), config, NOW)
    assert isinstance(plan, OriginatePlan)
    assert plan.phones == ((1, "p1"), (2, "p1"), (1, "p2"))
    # nobody tried: the task fails at once, no attempt left for later
    assert plan_of(task(rule("tried"), ()), config, NOW) == NotPlaced(NOBODY_TRIED, final=True)


def test_the_originator_rings_only_the_numbers_of_the_plan_all_at_once_or_in_turn() -> None:
    both = OriginatePlan(1, "79161112233", phones=((2, "p1"), (1, "p1")))
    driver = Driver(both)
    rings = of(io.RingPhone, driver.run(driver.logic.start(driver.now)))
    assert sorted((r.employee_id, r.phone.id) for r in rings) == [(1, "p1"), (2, "p1")]
    assert "сотрудники Петрова Анна, Иванов Иван" in driver.logic.details[0].text
    out = driver.send(io.RingAnswered(rings[0].ring))
    assert of(io.StopRing, out) == [io.StopRing(rings[1].ring)]
    assert of(WhisperToEmployee, out)

    in_turn = Driver(OriginatePlan(1, "79161112233", phones=((1, "p1"), (2, "p1")), in_turn=True))
    [first] = of(io.RingPhone, in_turn.run(in_turn.logic.start(in_turn.now)))
    assert (first.employee_id, first.phone.id) == (1, "p1")
    [second] = of(io.RingPhone, in_turn.send(io.RingFailed(first.ring, 486)))
    assert second.employee_id == 2  # the transferrer did not answer: the target


# -- the whisper with call data -------------------------------------------------------------------


def numbered(name: str = "") -> ConfigSnapshot:
    number = VirtualNumber.model_validate({"number": "74950000001", "name": name})
    return dataclasses.replace(office(), numbers={number.number: (5, number)})


def test_call_data_says_who_called_which_number_when_and_how_long_he_waited() -> None:
    missed = MissedFacts(7, "79161234567", "74950000001", NOW - dt.timedelta(minutes=3), 95.4,
                         number_id=5, contact_name="Иванов Иван")  # fmt: skip
    said = call_data_phrase(missed, numbered("Реклама"), NOW)
    assert said == (
        "Пропущенный звонок с номера 916 123 45 67, Иванов Иван, на номер Реклама в 09:57, "
        "ожидание 1 минута 35 секунд."
    )
    yesterday = dataclasses.replace(missed, started_at=NOW - dt.timedelta(days=1),
                                    contact_name="", wait_seconds=2)  # fmt: skip
    assert call_data_phrase(yesterday, numbered(), NOW) == (
        "Пропущенный звонок с номера 916 123 45 67, на номер 495 000 00 01 11 марта в 10:00, "
        "ожидание 2 секунды."
    )


def test_the_whisper_with_call_data_follows_the_rules_text_or_the_default_word() -> None:
    config, steps = missed_in_group()
    plain = plan_of(task(rule("tried", call_data=True), steps), config, NOW)
    assert isinstance(plain, OriginatePlan)
    assert plain.whisper_text.startswith("автоперезвон. Пропущенный звонок с номера 916 123 45 67")
    assert plain.whisper_text.endswith("ожидание 35 секунд.")
    text = plan_of(task(rule("tried", call_data=True, text="Перезвон"), steps), config, NOW)
    assert isinstance(text, OriginatePlan)
    assert text.whisper_text.startswith("Перезвон. Пропущенный звонок")
    filed = plan_of(task(rule("tried", call_data=True, file_id=100), steps), config, NOW)
    assert isinstance(filed, OriginatePlan)
    assert (filed.whisper_file_id, filed.whisper_text[:18]) == (100, "Пропущенный звонок")
    without = plan_of(task(rule("tried", text="Перезвон"), steps), config, NOW)
    assert isinstance(without, OriginatePlan)
    assert without.whisper_text == "Перезвон"


def test_numbers_are_said_in_groups() -> None:
    assert spoken_number("+7 (916) 123-45-67") == "916 123 45 67"
    assert spoken_number("89161234567") == "916 123 45 67"
    assert spoken_number("101") == "101"
    assert spoken_number("4420794601") == "442 079 46 01"
    assert spoken_number("442079460") == "4 42 07 94 60"
    assert spoken_number("анонимный") == "анонимный"


# -- web leads (CB-4) -----------------------------------------------------------------------------


def lead_rule(name: str, position: int, **fields: Any) -> LeadCallbackRule:
    return LeadCallbackRule.model_validate(
        {"name": name, "position": position, "how": {"method": "employee", "employee_id": 1},
         **fields}
    )  # fmt: skip


LEAD = LeadFacts(5, "79161234567", LeadSource.CUSTOM, NOW - dt.timedelta(minutes=2), "Пётр",
                 "example.ru", "после обеда")  # fmt: skip


def test_the_first_lead_rule_by_position_whose_source_and_schedule_match() -> None:
    rules = [
        (1, lead_rule("все", 9)),
        (2, lead_rule("реклама", 1, source="ad_platform")),
        (3, lead_rule("сайт", 2, source="site", site="https://www.Example.RU/")),
        (4, lead_rule("сегмент", 0, source="segment", segment_id=7)),
        (5, lead_rule("выключено", 0, enabled=False)),
    ]

    def chosen(lead: LeadFacts, active: bool = True, segment: int | None = None) -> str | None:
        found = first_lead_rule(rules, lead, lambda _r: active, lambda s: s == segment)
        return found[1].name if found else None

    assert chosen(LEAD) == "сайт"
    assert chosen(LEAD, segment=7) == "сегмент"
    assert chosen(dataclasses.replace(LEAD, site="shop.example.ru")) == "все"
    assert chosen(dataclasses.replace(LEAD, source=LeadSource.AD_PLATFORM, site="")) == "реклама"
    assert chosen(LEAD, active=False) is None
    assert site_host("http://WWW.example.ru/form?x=1") == "example.ru"
    assert site_host("example.ru") == "example.ru"


def test_a_leads_callback_says_the_lead_and_never_uses_the_missed_call_methods() -> None:
    config = numbered()
    rule = lead_rule("Заявки", 0)
    task = DueTask(2, 1, "lead", LEAD.phone, 1, lead_rule=rule, lead=LEAD)
    plan = plan_of(task, config, NOW)
    assert isinstance(plan, OriginatePlan)
    assert (plan.employee_id, plan.whisper_text) == (1, "Автоперезвон по заявкам")
    assert plan.label == "правило «Заявки», заявка #5"
    with_data = rule.model_copy(update={"whisper": Whisper(call_data=True)})
    plan = plan_of(dataclasses.replace(task, lead_rule=with_data), config, NOW)
    assert isinstance(plan, OriginatePlan)
    assert plan.whisper_text == (
        "Автоперезвон по заявкам. Заявка с сайта example.ru, Пётр, комментарий: после обеда, "
        "номер 916 123 45 67, в 09:58."
    )
    bare = dataclasses.replace(
        LEAD, site="", name="", comment="", arrived_at=NOW - dt.timedelta(days=2)
    )
    assert lead_data_phrase(bare, config, NOW) == "Заявка, номер 916 123 45 67, 10 марта в 10:00."
    tried = lead_rule("Тем, кому пытались", 0, how={"method": "tried"})
    assert plan_of(dataclasses.replace(task, lead_rule=tried), config, NOW) == NotPlaced(
        "способ перезвона «tried» не применим к заявкам", final=True
    )
