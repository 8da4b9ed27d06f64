"""Proof on live calls (issue 12) of how calls are distributed: the ORDER in which the
employees' baresip phones ring for each strategy (DST-1..5), the custom knobs (DST-6: lines at
once, ring timeout, percentages, wrap-up), one queue shared by two scenarios (QUE-2), and an
employee's phone that is a PSTN number, rung through the outbound trunk (EMP-3), shown the
virtual number (XFR-2).

One PBX serves the module: three employees with SIP lines (phones 0, 1, 2 in the group «All»,
in that order; they never answer by themselves: the test accepts or rejects each ring and records
when which phone rang), and a virtual number per strategy. SIPp is the trunk calling in, and
SIPp is the provider taking the call to the number phone. The calls report and the call details
are checked for every call."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.peers.baresip import BaresipPhone, stop_phones
from tests.peers.ports import free_port
from tests.peers.rtp_pcap import silence, tone
from tests.peers.sipp import SippResult
from tests.peers.trunk_caller import TrunkCallResult
from tests.switch.harness import TRUNK_IP, Setup, running_pbx
from tests.switch.live import (
    Caller,
    OfficeBase,
    PhoneWatch,
    Seen,
    describe,
    finished_rows,
    row_and_steps,
    sipp_peer,
    sound,
    start_phones,
    tones_heard,
)
from tests.switch.observe import details
from vpbx.services.entities import EntityService

PHONE_HZ = (700.0, 1000.0, 1300.0)
NO_ANSWER_HZ = 450.0  # the info message after a forward nobody took
QUEUE_HZ = 600.0  # the queue message
PROVIDER_HZ = 1200.0  # what the provider says on the number phone
MOBILE = "79161234567"  # the number phone of the employee «Мобильный»

NUMBERS = {
    "wrapup": "74951113301",
    "priority": "74951113302",
    "in_turn": "74951113303",
    "support": "74951113304",
    "sales": "74951113305",
    "fastest": "74951113306",
    "custom": "74951113307",
    "percent": "74951113308",
    "queue_a": "74951113309",
    "queue_b": "74951113310",
    "mobile": "74951113311",
}


# -- the configuration -----------------------------------------------------------------------------


def configure(workdir: Path, ids: dict[str, int]) -> Any:
    async def customize(svc: EntityService, setup: Setup) -> None:
        nobody = await sound(svc, workdir, "nobody", NO_ANSWER_HZ, 2.0)
        queue_message = await sound(svc, workdir, "queue", QUEUE_HZ, 2.0)
        staff = setup.staff
        phone_ids = [employee["phones"][0]["id"] for employee in staff]
        pair = await svc.create(
            "groups",
            {
                "name": "Проценты",
                "member_ids": [staff[0]["id"], staff[1]["id"]],
                "distribution": [
                    {"employee_id": staff[0]["id"], "phone_id": phone_ids[0], "percent": 75},
                    {"employee_id": staff[1]["id"], "phone_id": phone_ids[1], "percent": 25},
                ],
            },
        )
        solo = await svc.create("groups", {"name": "Один", "member_ids": [staff[2]["id"]]})
        mobile = await svc.create(
            "employees",
            {
                "last_name": "Мобильный",
                "extension": "109",
                "phones": [{"kind": "number", "number": MOBILE, "ring_timeout": 10}],
            },
        )
        ids["mobile"] = int(mobile.model_dump()["id"])

        async def forward(key: str, target: dict[str, Any], **settings: Any) -> None:
            scenario = await svc.create(
                "scenarios",
                {
                    "name": key,
                    "entry": "fwd",
                    "operations": [
                        {
                            "key": "fwd",
                            "kind": "forward",
                            "targets": [target],
                            "exits": {"no_answer": "nobody"},
                            **settings,
                        },
                        {"key": "nobody", "kind": "info", "file_ids": [nobody]},
                    ],
                },
            )
            rules = [{"scenario_id": scenario.model_dump()["id"]}]
            await svc.create("numbers", {"number": NUMBERS[key], "rules": rules})

        everyone = {"group_id": setup.group_id}
        await forward(
            "wrapup",
            everyone,
            strategy="custom",
            distribution={"simultaneous_lines": 1, "wrapup_seconds": 60},
        )
        for strategy in ("priority", "in_turn", "support", "sales"):
            await forward(strategy, everyone, strategy=strategy)
        await forward(
            "fastest",
            everyone,
            strategy="fastest",
            distribution={"initial_lines": 1, "add_line_every": 2},
        )
        await forward(
            "custom",
            everyone,
            strategy="custom",
            distribution={"simultaneous_lines": 2, "ring_timeout": 5},
        )
        await forward(
            "percent",
            {"group_id": pair.model_dump()["id"]},
            strategy="custom",
            distribution={"simultaneous_lines": 1, "percentage": True},
        )
        for key in ("queue_a", "queue_b"):
            await forward(
                key,
                {"group_id": solo.model_dump()["id"]},
                distribution={"queue": True},
                queue_message_file_id=queue_message,
            )
        await forward("mobile", {"employee_id": ids["mobile"]})

    return customize


@dataclass
class Office(OfficeBase):
    ids: dict[str, int]

    def caller(self, name: str, number: str, caller: str, *, seconds: float = 20) -> Caller:
        return self.dial(name, NUMBERS[number], caller, [silence(seconds)])

    def reject(self, ring: Seen) -> None:
        self.phones[ring.phone].command("hangup")

    def talk(self, ring: Seen, since: int, seconds: float = 1.0) -> None:
        """The ringing phone answers, talks `seconds` and hangs up."""
        phone = self.phones[ring.phone]
        phone.command("accept")
        self.watch.event(ring.phone, "CALL_ESTABLISHED", since, timeout=10)
        time.sleep(seconds)
        phone.command("hangup")
        self.watch.event(ring.phone, "CALL_CLOSED", since, timeout=10)


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:
    workdir = tmp_path_factory.mktemp("distribution")
    provider_port = free_port()
    ids: dict[str, int] = {}
    phones: list[BaresipPhone] = []
    watch: PhoneWatch | None = None
    try:
        with running_pbx(
            workdir,
            employees=3,
            trunk={"port": provider_port},
            customize=configure(workdir, ids),
        ) as pbx:
            # the phones answer only when a test tells them
            start_phones(pbx, workdir, PHONE_HZ, phones, manual=range(len(PHONE_HZ)))
            watch = PhoneWatch(phones)
            yield Office(pbx, phones, watch, workdir, provider_port, ids)
    finally:
        if watch is not None:
            watch.close()
        stop_phones(phones)


def ring_order(rings: list[Seen]) -> list[int]:
    return [ring.phone for ring in rings]


def offered(steps: list[dict[str, Any]]) -> list[int]:
    return [
        s["data"]["employee_id"]
        for s in steps
        if s["kind"] == "distribution" and s["data"]["kind"] == "offered"
    ]


def skipped(steps: list[dict[str, Any]], employee_id: int) -> list[str]:
    return [
        s["text"]
        for s in steps
        if s["kind"] == "distribution"
        and s["data"]["kind"] == "skipped"
        and s["data"]["employee_id"] == employee_id
    ]


def heard(result: TrunkCallResult) -> set[float]:
    return tones_heard(result.samples, (*PHONE_HZ, NO_ANSWER_HZ, QUEUE_HZ, PROVIDER_HZ))


def nobody_answers(office: Office, caller: Caller, since: int, count: int) -> list[Seen]:
    """Reject the next `count` rings as they come; the caller then hears «nobody»."""
    rings = []
    for _ in range(count):
        ring, since = office.watch.next_ring(since)
        rings.append(ring)
        office.reject(ring)
    result = caller.wait()
    result.assert_ok()
    assert heard(result) == {NO_ANSWER_HZ}, sorted(heard(result))
    return rings


# -- DST-6 wrap-up (first: no employee has talked before it) -------------------------------------


def test_wrapup_no_call_to_an_employee_for_n_seconds_after_his_talk(office: Office) -> None:
    since = office.watch.mark()
    first = office.caller("wrapup1", "wrapup", "74950001001")
    ring, _after = office.watch.next_ring(since)
    assert ring.phone == 0
    office.talk(ring, since)
    result = first.wait()
    result.assert_ok()
    assert PHONE_HZ[0] in heard(result), sorted(heard(result))

    since = office.watch.mark()
    second = office.caller("wrapup2", "wrapup", "74950001002")
    ring, _ = office.watch.next_ring(since)
    assert ring.phone == 1, "employee 1 was rung in his wrap-up"
    office.talk(ring, since)
    second.wait().assert_ok()
    assert ring_order(office.watch.rings(since)) == [1]

    row, steps = row_and_steps(office.pbx, caller="74950001002")
    assert row["employee_id"] == office.employee(1), describe(steps)
    reasons = skipped(steps, office.employee(0))
    assert any("После разговора звонить не ранее" in r for r in reasons), describe(steps)


# -- DST-3 -----------------------------------------------------------------------------------------


def test_priority_rings_one_phone_after_another_in_the_groups_order(office: Office) -> None:
    since = office.watch.mark()
    caller = office.caller("priority", "priority", "74950001101")
    rings = []
    position = since
    for _ in range(2):
        ring, position = office.watch.next_ring(position)
        rings.append(ring)
        office.reject(ring)
        office.watch.event(ring.phone, "CALL_CLOSED", since)
    last, _ = office.watch.next_ring(position)
    rings.append(last)
    office.talk(last, since)
    result = caller.wait()
    result.assert_ok()
    assert ring_order(rings) == [0, 1, 2]
    assert ring_order(office.watch.rings(since)) == [0, 1, 2]  # one at a time, nobody twice
    assert PHONE_HZ[2] in heard(result), sorted(heard(result))
    row, steps = row_and_steps(office.pbx, caller="74950001101")
    assert row["status"] == "answered"
    assert row["employee_id"] == office.employee(2)
    assert offered(steps) == [office.employee(i) for i in range(3)], describe(steps)


# -- DST-4 -----------------------------------------------------------------------------------------


def test_strictly_in_turn_caller_1_rings_employee_1_only_caller_2_employee_2_only(
    office: Office,
) -> None:
    for turn, caller_number in enumerate(("74950001201", "74950001202")):
        since = office.watch.mark()
        caller = office.caller(f"in_turn{turn}", "in_turn", caller_number)
        (ring,) = nobody_answers(office, caller, since, 1)
        assert ring.phone == turn
        assert ring_order(office.watch.rings(since)) == [turn], "another employee was rung"
        row, steps = row_and_steps(office.pbx, caller=caller_number)
        assert row["status"] == "missed"
        assert offered(steps) == [office.employee(turn)], describe(steps)
        others = [i for i in range(3) if i != turn]
        for other in others:
            reasons = skipped(steps, office.employee(other))
            assert any("направлен другому сотруднику" in r for r in reasons), describe(steps)


# -- DST-1 -----------------------------------------------------------------------------------------


def test_support_rings_the_least_talk_time_first(office: Office) -> None:
    since = office.watch.mark()
    first = office.caller("support1", "support", "74950001301")
    ring, _ = office.watch.next_ring(since)
    assert ring.phone == 0  # nobody has talked in this scenario: the group's order
    office.talk(ring, since, seconds=1.5)
    first.wait().assert_ok()
    finished_rows(office.pbx, 1, caller="74950001301")

    since = office.watch.mark()
    second = office.caller("support2", "support", "74950001302")
    rings = nobody_answers(office, second, since, 3)
    # employee 0 talked 1.5 s in this scenario: he goes last
    assert ring_order(rings) == [1, 2, 0]
    _, steps = row_and_steps(office.pbx, caller="74950001302")
    assert offered(steps) == [office.employee(i) for i in (1, 2, 0)], describe(steps)


# -- DST-2 -----------------------------------------------------------------------------------------


def test_sales_rings_the_fewest_directed_calls_first_unanswered_ones_included(
    office: Office,
) -> None:
    since = office.watch.mark()
    first = office.caller("sales1", "sales", "74950001401")
    ring, position = office.watch.next_ring(since)
    assert ring.phone == 0
    office.reject(ring)  # a call directed to employee 0 although he did not take it
    ring, _ = office.watch.next_ring(position)
    assert ring.phone == 1
    office.talk(ring, since)
    first.wait().assert_ok()
    finished_rows(office.pbx, 1, caller="74950001401")

    since = office.watch.mark()
    second = office.caller("sales2", "sales", "74950001402")
    rings = nobody_answers(office, second, since, 3)
    # employees 0 and 1 had a call each, employee 2 none (talk time would put 0 before 2)
    assert ring_order(rings) == [2, 0, 1]
    _, steps = row_and_steps(office.pbx, caller="74950001402")
    assert offered(steps) == [office.employee(i) for i in (2, 0, 1)], describe(steps)


# -- DST-5 -----------------------------------------------------------------------------------------


def test_fastest_answer_adds_a_line_every_n_seconds(office: Office) -> None:
    """Fastest answer with 1 line at first and one more every 2 s (the manual's 5 and 5 are
    these two knobs): phone 0 at once, phone 1 two seconds later, phone 2 two more."""
    since = office.watch.mark()
    caller = office.caller("fastest", "fastest", "74950001501")
    rings = []
    position = since
    for _ in range(3):
        ring, position = office.watch.next_ring(position)
        rings.append(ring)
    office.talk(rings[2], since)
    result = caller.wait()
    result.assert_ok()
    assert ring_order(rings) == [0, 1, 2]
    gaps = [round(b.at - a.at, 2) for a, b in itertools.pairwise(rings)]
    assert all(1.5 <= gap <= 3.2 for gap in gaps), gaps
    for phone in (0, 1):  # still ringing until phone 2 answered: then cancelled
        closed = office.watch.event(phone, "CALL_CLOSED", since)
        assert closed.at >= rings[2].at
    row, steps = row_and_steps(office.pbx, caller="74950001501")
    assert row["employee_id"] == office.employee(2), describe(steps)
    assert PHONE_HZ[2] in heard(result)


# -- DST-6 lines at once and ring timeout ----------------------------------------------------------


def test_custom_two_lines_at_once_and_its_own_ring_timeout(office: Office) -> None:
    """Two lines at once: phones 0 and 1 ring together; phone 0 refuses, phone 2 takes its
    line; nobody answers and both are cancelled after the operation's 5 s (the phones' own
    timeout is 20 s)."""
    since = office.watch.mark()
    caller = office.caller("custom", "custom", "74950001601")
    first, position = office.watch.next_ring(since)
    second, position = office.watch.next_ring(position)
    assert {first.phone, second.phone} == {0, 1}
    assert second.at - first.at < 1.0
    office.reject(first if first.phone == 0 else second)
    third, _ = office.watch.next_ring(position)
    assert third.phone == 2
    ring_1 = first if first.phone == 1 else second
    closed_1 = office.watch.event(1, "CALL_CLOSED", since, timeout=12)
    closed_2 = office.watch.event(2, "CALL_CLOSED", since, timeout=12)
    assert 4.0 <= closed_1.at - ring_1.at <= 7.5, closed_1.at - ring_1.at
    assert 4.0 <= closed_2.at - third.at <= 7.5, closed_2.at - third.at
    result = caller.wait()
    result.assert_ok()
    assert heard(result) == {NO_ANSWER_HZ}
    row, steps = row_and_steps(office.pbx, caller="74950001601")
    assert row["status"] == "missed"
    assert sorted(offered(steps)) == sorted(office.employee(i) for i in range(3))


# -- DST-6 percentages -----------------------------------------------------------------------------


def test_percentages_75_25_direct_calls_by_share(office: Office) -> None:
    """Phone 0 has 75 %, phone 1 25 %: the first rung of three calls are 0, 0, 1 (each call
    counts for the phone it was directed to first; round robin would give 0, 1, 0)."""
    firsts = []
    for index in range(3):
        since = office.watch.mark()
        caller = office.caller(f"percent{index}", "percent", f"7495000170{index}")
        rings = nobody_answers(office, caller, since, 2)
        firsts.append(rings[0].phone)
        assert sorted(ring_order(rings)) == [0, 1]
    assert firsts == [0, 0, 1]
    row, steps = row_and_steps(office.pbx, caller="74950001702")
    assert offered(steps) == [office.employee(1), office.employee(0)], describe(steps)
    assert row["status"] == "missed"


# -- QUE-2 -----------------------------------------------------------------------------------------


def test_one_queue_for_the_phones_across_two_scenarios(office: Office) -> None:
    """Employee 2 alone in the group of two scenarios (two numbers): A (number a) talks with
    him; B (number b) and then C (number a) wait in ONE queue: C has B ahead of him, and B is
    served first although he came through the other scenario."""
    since = office.watch.mark()
    a = office.caller("queue_a", "queue_a", "74950001801", seconds=30)
    ring_a, _position = office.watch.next_ring(since)
    assert ring_a.phone == 2
    office.phones[2].command("accept")
    office.watch.event(2, "CALL_ESTABLISHED", since, timeout=10)
    b = office.caller("queue_b", "queue_b", "74950001802", seconds=30)
    time.sleep(1.5)
    c = office.caller("queue_c", "queue_a", "74950001803", seconds=30)
    time.sleep(3.0)  # both hear the queue message
    established = office.watch.mark()
    office.phones[2].command("hangup")  # A's talk ends
    served = []
    for _ in range(2):
        ring, established = office.watch.next_ring(established)
        assert ring.phone == 2
        served.append(ring)
        office.talk(ring, established)
    results = [call.wait() for call in (a, b, c)]
    for result in results:
        result.assert_ok()
    assert ring_order(office.watch.rings(since)) == [2, 2, 2]
    rows = {
        caller: row_and_steps(office.pbx, caller=caller)
        for caller in ("74950001801", "74950001802", "74950001803")
    }
    answered = [rows[c][0]["answered_at"] for c in ("74950001801", "74950001802", "74950001803")]
    assert all(answered), rows
    assert answered == sorted(answered), answered  # A, then B (other scenario), then C
    for caller in ("74950001802", "74950001803"):
        row, steps = rows[caller]
        assert row["employee_id"] == office.employee(2), describe(steps)
    queued_c = [
        s
        for s in rows["74950001803"][1]
        if s["kind"] == "distribution" and s["data"]["kind"] == "queued"
    ]
    assert len(queued_c) == 1, describe(rows["74950001803"][1])
    assert queued_c[0]["data"]["ahead"] == ["74950001802"], queued_c
    assert QUEUE_HZ in heard(results[1])
    assert QUEUE_HZ in heard(results[2])
    assert QUEUE_HZ not in heard(results[0])


# -- EMP-3 -----------------------------------------------------------------------------------------


@dataclass
class MobileCall:
    caller: TrunkCallResult
    provider: SippResult
    row: dict[str, Any]
    steps: list[dict[str, Any]]


@pytest.fixture(scope="module")
def mobile_call(office: Office) -> MobileCall:
    """A call forwarded to the employee whose phone is a mobile number: vpbx calls it through
    the outbound trunk (SIPp as the provider, on the trunk's port), which answers."""
    workdir, port = office.workdir / "provider", office.provider_port
    with sipp_peer(workdir, "provider_answers.xml", TRUNK_IP, port, PROVIDER_HZ, 6.0) as provider:
        caller = office.dial(
            "mobile", NUMBERS["mobile"], "74950001901", [tone(500.0, 5.0)], hangs_up=True
        )
        heard_by_caller = caller.wait()
        provider_result = provider.finish(timeout=20)
    row, steps = row_and_steps(office.pbx, caller="74950001901")
    return MobileCall(heard_by_caller, provider_result, row, steps)


def test_an_employees_number_phone_is_rung_through_the_outbound_trunk(
    office: Office, mobile_call: MobileCall
) -> None:
    call = mobile_call
    call.caller.assert_ok()
    messages = call.provider.messages()
    assert call.provider.returncode == 0, call.provider.stdout[-2000:] + messages[-3000:]
    assert f"INVITE sip:{MOBILE}@{TRUNK_IP}" in messages, messages[-3000:]
    assert PROVIDER_HZ in heard(call.caller), sorted(heard(call.caller))
    assert call.row["status"] == "answered", describe(call.steps)
    assert call.row["employee_id"] == office.ids["mobile"], describe(call.steps)
    assert offered(call.steps) == [office.ids["mobile"]], describe(call.steps)
    assert details(office.pbx, call.row["id"]) == call.steps


def test_the_number_phone_is_shown_the_virtual_number_not_the_callers(
    mobile_call: MobileCall,
) -> None:
    """XFR-2/XFR-5: a leg towards a PSTN number presents the virtual number called."""
    invite = mobile_call.provider.messages().split("INVITE sip:", 1)[1]
    from_line = next(line for line in invite.splitlines() if line.startswith("From:"))
    assert NUMBERS["mobile"] in from_line, from_line
    assert "74950001901" not in from_line, from_line
