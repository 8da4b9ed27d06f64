"""Proof on live calls of how a call finds its way, through what the account configured:

* GRP-3: two numbers whose scenarios forward to one group; the group's members are changed
  through the REST API between two calls, and the very next call of either number rings the
  new member, not the old one (a PATCH of the members alone drops the removed member's rows);
* NUM-1: an analytics number forwards to its one outside number through the outbound trunk,
  which is shown the virtual number (XFR-2), and the caller talks to the provider;
* NUM-4: a PBX number whose only rule does not match now plays the system message (the
  account's own file) and hangs up, saying so in the details;
* IVX-2: a real HTTP CRM answers 200 with JSON that forwards the call, with a message for the
  caller: to an outside number (the provider answers), and to an employee by his extension
  with a message for him too (an extension the CRM names rings the employee, never the trunk);
* DST-7: a forward to a group skips the member whose call status is off and the one outside
  his schedule, saying why, and rings the third.

One PBX serves the module with one virtual number per case. Six employees have SIP lines
(baresip phones, each saying its own tone); SIPp is the trunk calling in and the provider on
the outbound trunk; a real `http.server` is the CRM. The cases run at once; the GRP-3 calls
follow one another (the group's change between them). The tests then check what each caller
heard, which phones rang, the calls report and the call details."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.peers.baresip import BaresipPhone, stop_phones
from tests.peers.ports import free_port
from tests.peers.rtp_pcap import Segment, silence, tone
from tests.peers.sipp import SippResult, SippServer
from tests.switch.crm_server import CrmServer, Reply
from tests.switch.harness import TRUNK_IP, Setup, running_pbx
from tests.switch.live import (
    Caller,
    Heard,
    OfficeBase,
    PhoneWatch,
    Seen,
    note_datagrams,
    sipp_peer,
    sound,
    start_phones,
    texts,
    tones_heard,
    wait_heard,
)
from tests.switch.observe import heard_by_call
from vpbx.domain.net_policy import parse_networks
from vpbx.services.entities import EntityService
from vpbx.storage import tables as t

# What the baresip phones of lines 0..5 say. Lines 0 and 1: the GRP-3 group (A, then B);
# line 2: the employee the CRM names; lines 3, 4, 5: the DST-7 group (off, outside, rung).
PHONE_HZ = (700.0, 900.0, 1100.0, 1300.0, 1500.0, 1700.0)
A, B, CRM_LINE, OFF, OUTSIDE_HOURS, ON_DUTY = range(6)
PROVIDER_HZ = 2000.0  # what the provider says when it answers
NO_ROUTE_HZ = 450.0  # the account's own system message no_route
NOBODY_HZ = 550.0  # the info message after a Forward nobody answered
CRM_MESSAGE_HZ = 2300.0  # the CRM's message_name, played to the caller
OPERATOR_HZ = 2600.0  # the CRM's operator_media, played to the employee
FALLBACK_HZ = 2450.0  # the interactive operation's fallback exit
VOICE_HZ = 350.0  # what a caller says
EVERY_TONE = (
    *PHONE_HZ,
    PROVIDER_HZ,
    NO_ROUTE_HZ,
    NOBODY_HZ,
    CRM_MESSAGE_HZ,
    OPERATOR_HZ,
    FALLBACK_HZ,
    VOICE_HZ,
)

NUMBERS = {
    "group_one": "74951115501",
    "group_two": "74951115502",
    "analytics": "74951115503",
    "no_rule": "74951115504",
    "crm": "74951115505",
    "skips": "74951115506",
    "crm_outside": "74951115507",
}
OUTSIDE = "79161234570"  # the analytics number's forward_to
CRM_OUTSIDE = "79161234571"  # the outside number the CRM names to CRM_OUTSIDE_CALLER
CRM_CALLER = "74950005501"  # the CRM names an employee's extension to this caller
CRM_OUTSIDE_CALLER = "74950005502"
CRM_MESSAGE, OPERATOR_MESSAGE = "crm_hello", "op_hint"  # names in the file base


# -- the CRM -------------------------------------------------------------------------------------


@dataclass
class Crm(CrmServer):
    """Interactive processing answered as IVX-2 says: forward CRM_CALLER to the employee whose
    extension is `extension`, with a message for the caller and one for the employee; forward
    CRM_OUTSIDE_CALLER to CRM_OUTSIDE with a message for the caller."""

    extension: str = ""

    def answer(self, query: dict[str, str]) -> Reply:
        if query.get("numa", "") == CRM_OUTSIDE_CALLER:
            return Reply.of_json({"phones": [CRM_OUTSIDE], "message_name": CRM_MESSAGE})
        return Reply.of_json(
            {
                "phones": [self.extension],
                "message_name": CRM_MESSAGE,
                "operator_media": OPERATOR_MESSAGE,
            }
        )


# -- the configuration ---------------------------------------------------------------------------


@dataclass
class Ids:
    """What `configure` made that the tests look up."""

    group: int = 0
    reserve: int = 0
    crm_trunk_port: int = 0


def configure(workdir: Path, crm: Crm, ids: Ids) -> Any:
    async def customize(base: EntityService, setup: Setup) -> None:
        svc = EntityService(
            base.conn, base.actor, base.clock, url_allow=parse_networks("127.0.0.1/32")
        )
        staff = setup.staff
        nobody = await sound(svc, workdir, "nobody", NOBODY_HZ, 1.5)
        fallback = await sound(svc, workdir, "fallback", FALLBACK_HZ, 1.5)
        await sound(svc, workdir, CRM_MESSAGE, CRM_MESSAGE_HZ, 1.5)
        await sound(svc, workdir, OPERATOR_MESSAGE, OPERATOR_HZ, 1.5)
        # FILE-1: the account's own no_route system message, a marker tone
        no_route = await sound(svc, workdir, "Нет правила", NO_ROUTE_HZ, 2.0)
        await svc.conn.execute(
            sa.update(t.files)
            .where(t.files.c.id == no_route)
            .values(kind="system", system_name="no_route")
        )
        every_day = [
            {"weekday": d, "intervals": [{"start": "00:00", "end": "00:00"}]} for d in range(1, 8)
        ]
        closed = await svc.create(
            "schedules", {"name": "Закрыто", "weekly": every_day, "active_to": "2000-01-01"}
        )
        closed_id = closed.model_dump()["id"]
        # DST-7: one member with calls off, one outside his schedule
        await svc.update("employees", staff[OFF]["id"], {"calls_enabled": False})
        await svc.update("employees", staff[OUTSIDE_HOURS]["id"], {"schedule_id": closed_id})
        # a trunk of its own for the CRM's number: should the CRM's phones ever go out as outside
        # numbers, they reach a socket of the test, not the provider of the analytics case
        ids.crm_trunk_port = free_port()
        crm_trunk = await svc.create(
            "trunks", {"name": "CRM provider", "host": "127.0.0.3", "port": ids.crm_trunk_port}
        )
        crm.extension = str(staff[CRM_LINE]["extension"])

        async def scenario(key: str, *operations: dict[str, Any], **number: Any) -> None:
            doc = {"name": key, "entry": operations[0]["key"], "operations": list(operations)}
            created = await svc.create("scenarios", doc)
            rules = [{"scenario_id": created.model_dump()["id"]}]
            await svc.create("numbers", {"number": NUMBERS[key], "rules": rules, **number})

        def to_group(group_id: int) -> dict[str, Any]:
            return {
                "key": "fwd",
                "kind": "forward",
                "targets": [{"group_id": group_id}],
                "exits": {"no_answer": "nobody"},
            }

        said = {"key": "nobody", "kind": "info", "file_ids": [nobody]}
        # GRP-3: one group, two numbers with their own scenarios forwarding to it
        duty = await svc.create("groups", {"name": "Дежурные", "member_ids": [staff[A]["id"]]})
        ids.group = int(duty.model_dump()["id"])
        await scenario("group_one", to_group(ids.group), said)
        await scenario("group_two", to_group(ids.group), said)
        # DST-7
        members = [staff[i]["id"] for i in (OFF, OUTSIDE_HOURS, ON_DUTY)]
        shift = await svc.create("groups", {"name": "Смена", "member_ids": members})
        await scenario("skips", to_group(int(shift.model_dump()["id"])), said)
        # the group whose members the API changes without saying the distribution table
        both = [staff[A]["id"], staff[B]["id"]]
        reserve = await svc.create("groups", {"name": "Резерв", "member_ids": both})
        ids.reserve = int(reserve.model_dump()["id"])
        # IVX-2
        ivx = {
            "key": "ivx",
            "kind": "interactive",
            "url": crm.url,
            "params": ["cdr_id", "numa", "numb"],
            "timeout": 3,
            "exits": {"fallback": "fallback"},
        }
        said_fallback = {"key": "fallback", "kind": "info", "file_ids": [fallback]}
        await scenario("crm", ivx, said_fallback, trunk_id=crm_trunk.model_dump()["id"])
        await scenario("crm_outside", ivx, said_fallback)
        # NUM-1: an analytics number
        await svc.create(
            "numbers",
            {"number": NUMBERS["analytics"], "kind": "analytics", "forward_to": OUTSIDE},
        )
        # NUM-4: a PBX number whose only rule never matches
        closed_scenario = await svc.create(
            "scenarios", {"name": "closed", "entry": "nobody", "operations": [said]}
        )
        rule = {
            "name": "днем",
            "schedule_id": closed_id,
            "scenario_id": closed_scenario.model_dump()["id"],
        }
        await svc.create("numbers", {"number": NUMBERS["no_rule"], "rules": [rule]})

    return customize


# -- the office ----------------------------------------------------------------------------------


@dataclass
class Office(OfficeBase):
    crm: Crm
    ids: Ids

    def caller(
        self, name: str, number: str, caller: str, segments: list[Segment], *, hangs_up: bool
    ) -> Caller:
        return self.dial(name, NUMBERS[number], caller, segments, hangs_up=hangs_up)

    def provider(self) -> SippServer:
        """SIPp as the provider on the outbound trunk, waiting for two calls (the analytics
        number's and the CRM's); it says PROVIDER_HZ once it answers."""
        workdir, port = self.workdir / "provider", self.provider_port
        return sipp_peer(workdir, "provider_answers.xml", TRUNK_IP, port, PROVIDER_HZ, 3.0, calls=2)

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(
            method,
            f"http://127.0.0.1:{self.pbx.http_port}/api/v1{path}",
            headers={"Authorization": f"Bearer {self.pbx.admin_token()}"},
            timeout=10,
            **kwargs,
        )


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:
    workdir = tmp_path_factory.mktemp("routing_rules")
    provider_port = free_port()
    crm = Crm().start()
    ids = Ids()
    phones: list[BaresipPhone] = []
    watch: PhoneWatch | None = None
    try:
        with running_pbx(
            workdir,
            employees=len(PHONE_HZ),
            trunk={"port": provider_port},
            customize=configure(workdir, crm, ids),
            settings={"http_allow_networks": "127.0.0.1/32"},
        ) as pbx:
            # the skipped members must never answer: they would only be seen to ring
            start_phones(pbx, workdir, PHONE_HZ, phones, manual=(OFF, OUTSIDE_HOURS))
            watch = PhoneWatch(phones)
            yield Office(pbx, phones, watch, workdir, provider_port, crm, ids)
    finally:
        if watch is not None:
            watch.close()
        stop_phones(phones)
        crm.stop()


# -- the calls -----------------------------------------------------------------------------------


def heard(office: Office, call: Caller, *, clean: bool = True) -> Heard:
    return wait_heard(office.pbx, call, EVERY_TONE, clean=clean)


def events(watch: PhoneWatch, since: int) -> list[Seen]:
    """The phone events after position `since` that say a phone was rung: a phone that answers
    by itself reports its call established, one that does not its call incoming."""
    return [s for s in watch.seen[since:] if s.kind in ("CALL_INCOMING", "CALL_ESTABLISHED")]


def talk(seconds: float) -> list[Segment]:
    return [tone(VOICE_HZ, seconds)]


@dataclass
class GroupChange:
    before: Heard
    change: httpx.Response
    other_number: Heard
    same_number: Heard
    rang: dict[str, list[Seen]]


def call_group_change(office: Office) -> GroupChange:
    """A call to the first number (A answers), the group changed to B only through the API,
    then a call to the second number and one more to the first (B answers each)."""
    watch = office.watch
    rang: dict[str, list[Seen]] = {}

    def one(name: str, number: str, caller: str) -> Heard:
        since = watch.mark()
        call = office.caller(name, number, caller, talk(3.0), hangs_up=True)
        outcome = heard(office, call)
        rang[name] = [s for s in events(watch, since) if s.phone in (A, B)]
        return outcome

    before = one("group_before", "group_one", "74950005101")
    # the distribution table is sent empty (rebuilt from the members): without it the change
    # is refused, see test_removing_a_member_through_the_api_needs_nothing_but_the_new_members
    change = office.api(
        "PATCH",
        f"/groups/{office.ids.group}",
        json={"member_ids": [office.employee(B)], "distribution": []},
    )
    other = one("group_other", "group_two", "74950005102")
    same = one("group_same", "group_one", "74950005103")
    return GroupChange(before, change, other, same, rang)


def call_analytics(office: Office) -> Heard:
    call = office.caller("analytics", "analytics", "74950005201", talk(4.0), hangs_up=True)
    return heard(office, call)


def call_crm_outside(office: Office) -> Heard:
    """The CRM forwards to an outside number, which the provider answers."""
    call = office.caller("crm_outside", "crm_outside", CRM_OUTSIDE_CALLER, talk(6.0), hangs_up=True)
    return heard(office, call)


def call_no_rule(office: Office) -> Heard:
    call = office.caller("no_rule", "no_rule", "74950005301", [silence(5.0)], hangs_up=False)
    return heard(office, call)


@dataclass
class CrmForward:
    call: Heard
    rang: list[Seen]
    employee_heard: list[set[float]]
    datagrams: list[bytes]


def call_crm(office: Office) -> CrmForward:
    """The CRM forwards to the employee of line 2; a UDP socket at the CRM number's trunk
    notes whatever is sent there instead."""
    since = office.watch.mark()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as trunk:
        trunk.bind(("127.0.0.3", office.ids.crm_trunk_port))
        call = office.caller("crm", "crm", CRM_CALLER, talk(7.0), hangs_up=True)
        datagrams = note_datagrams(trunk, call)
        outcome = heard(office, call, clean=False)
    rang = [s for s in events(office.watch, since) if s.phone == CRM_LINE]
    tones = [tones_heard(pcm, EVERY_TONE) for pcm in heard_by_call(office.phones[CRM_LINE])]
    return CrmForward(outcome, rang, tones, datagrams)


@dataclass
class Skips:
    call: Heard
    rang: list[Seen]


def call_skips(office: Office) -> Skips:
    since = office.watch.mark()
    call = office.caller("skips", "skips", "74950005601", talk(4.0), hangs_up=True)
    outcome = heard(office, call)
    rang = [s for s in events(office.watch, since) if s.phone in (OFF, OUTSIDE_HOURS, ON_DUTY)]
    return Skips(outcome, rang)


@dataclass
class Calls:
    """Every case's outcome (a failing case fails its own test only)."""

    group: Future[GroupChange]
    analytics: Future[Heard]
    no_rule: Future[Heard]
    crm: Future[CrmForward]
    crm_outside: Future[Heard]
    skips: Future[Skips]
    provider: SippResult

    def invite(self, number: str) -> str:
        """The provider's log of the INVITE it got for `number`."""
        for message in self.provider.messages().split("-" * 40):
            if f"INVITE sip:{number}@" in message:
                return message
        raise AssertionError(f"no INVITE for {number}: {self.provider.messages()[-3000:]}")


@pytest.fixture(scope="module")
def calls(office: Office) -> Calls:
    """Every case at once (each on its own number and phones)."""
    with office.provider() as provider, ThreadPoolExecutor(max_workers=6) as pool:

        def run(work: Callable[[Office], Any]) -> Future[Any]:
            return pool.submit(work, office)

        group, analytics, no_rule = run(call_group_change), run(call_analytics), run(call_no_rule)
        crm, crm_outside, skips = run(call_crm), run(call_crm_outside), run(call_skips)
        wait([group, analytics, no_rule, crm, crm_outside, skips])
        finished = provider.finish(timeout=20)
        return Calls(group, analytics, no_rule, crm, crm_outside, skips, finished)


def answered_by(call: Heard) -> list[int]:
    return [s["data"]["employee_id"] for s in call.steps if s["kind"] == "answered"]


def distribution(call: Heard, kind: str) -> list[dict[str, Any]]:
    return [s for s in call.steps if s["kind"] == "distribution" and s["data"]["kind"] == kind]


# -- 1. GRP-3 ----------------------------------------------------------------------------------


def test_a_change_to_a_group_takes_effect_at_once_in_every_scenario_using_it(
    office: Office, calls: Calls
) -> None:
    group = calls.group.result()
    a, b = office.employee(A), office.employee(B)
    assert group.change.status_code == 200, group.change.text
    assert group.change.json()["member_ids"] == [b], group.change.text
    # before the change: the first number's scenario rings A, who talks
    before = group.before
    assert [s.phone for s in group.rang["group_before"]] == [A], group.rang
    assert PHONE_HZ[A] in before.tones, before.why()
    assert before.row["status"] == "answered", before.why()
    assert before.row["employee_id"] == a, before.why()
    assert answered_by(before) == [a], before.why()
    # after it: the other number's scenario and the first one's both ring B only
    for name, call in (("group_other", group.other_number), ("group_same", group.same_number)):
        assert [s.phone for s in group.rang[name]] == [B], (name, group.rang)
        assert PHONE_HZ[B] in call.tones, call.why()
        assert PHONE_HZ[A] not in call.tones, call.why()
        assert call.row["status"] == "answered", call.why()
        assert call.row["employee_id"] == b, call.why()
        assert answered_by(call) == [b], call.why()
        offered = [s["data"]["employee_id"] for s in distribution(call, "offered")]
        assert a not in offered, call.why()
    assert group.other_number.row["called"] == NUMBERS["group_two"]
    assert group.same_number.row["called"] == NUMBERS["group_one"]


def test_removing_a_member_through_the_api_needs_nothing_but_the_new_members(
    office: Office,
) -> None:
    """The table follows the members (as it does when an employee leaves, GRP-2): saying the
    new members is enough to change a group."""
    b = office.employee(B)
    changed = office.api("PATCH", f"/groups/{office.ids.reserve}", json={"member_ids": [b]})
    assert changed.status_code == 200, changed.text
    group = changed.json()
    assert group["member_ids"] == [b], group
    assert [row["employee_id"] for row in group["distribution"]] == [b], group


# -- 2. NUM-1: an analytics number -------------------------------------------------------------


def from_line(invite: str) -> str:
    return next(line for line in invite.splitlines() if line.startswith("From:"))


def test_an_analytics_number_forwards_to_its_outside_number_showing_the_virtual_number(
    calls: Calls,
) -> None:
    call, provider = calls.analytics.result(), calls.provider
    assert provider.returncode == 0, provider.stdout[-2000:] + provider.messages()[-3000:]
    invite = calls.invite(OUTSIDE)
    assert f"INVITE sip:{OUTSIDE}@{TRUNK_IP}" in invite, invite
    # XFR-2: the provider is shown the virtual number, never the caller's
    assert NUMBERS["analytics"] in from_line(invite), invite
    assert "74950005201" not in from_line(invite), invite
    # the caller talks to the provider
    assert call.tones == {PROVIDER_HZ}, call.why()
    assert call.row["status"] == "answered", call.why()
    assert call.row["employee_id"] is None, call.why()
    rule = " | ".join(texts(call.steps, "rule"))
    assert f"номер аналитики: переадресация на {OUTSIDE}" in rule, call.why()
    assert "scenario" not in [s["kind"] for s in call.steps], call.why()
    assert any(OUTSIDE in text for text in texts(call.steps, "answered")), call.why()


# -- 3. NUM-4: no rule matches -----------------------------------------------------------------


def test_a_number_whose_only_rule_does_not_match_says_the_system_message_and_hangs_up(
    calls: Calls,
) -> None:
    call = calls.no_rule.result()
    # SIPp's scenario ends only with vpbx's BYE (checked by `heard`): the caller was hung up
    assert call.tones == {NO_ROUTE_HZ}, call.why()
    assert call.row["status"] == "missed", call.why()
    assert call.row["employee_id"] is None, call.why()
    skipped = " | ".join(texts(call.steps, "rule_skipped"))
    assert "правило 1 'днем' не подошло" in skipped, call.why()
    assert "вне графика 'Закрыто'" in skipped, call.why()
    no_route = texts(call.steps, "no_route")
    assert no_route == ["ни одно правило не подошло: системное сообщение no_route и отбой"], (
        call.why()
    )
    played = " | ".join(texts(call.steps, "play"))
    assert "(no_route, файл аккаунта 'Нет правила')" in played, call.why()
    assert "звонок завершен: нет правила" in " | ".join(texts(call.steps, "hangup")), call.why()
    assert "scenario" not in [s["kind"] for s in call.steps], call.why()


# -- 4. IVX-2: the CRM forwards to an employee ---------------------------------------------------


def test_a_crm_forwarding_to_an_employee_rings_his_phone_with_both_messages(
    office: Office, calls: Calls
) -> None:
    crm = calls.crm.result()
    call = crm.call
    asked = [r for r in office.crm.requests if r.get("numa") == CRM_CALLER]
    assert len(asked) == 1, office.crm.requests
    assert asked[0]["numb"] == NUMBERS["crm"], asked
    instruction = [s for s in call.steps if s["kind"] == "ivx"]
    assert [s["text"] for s in instruction] == ["CRM: инструкция получена"], call.why()
    assert instruction[0]["data"]["phones"] == [office.crm.extension], call.why()
    # nothing went out through the trunk
    assert crm.datagrams == [], crm.datagrams[:1]
    # the caller hung up after talking (SIPp fails when vpbx hangs up first)
    assert call.result.sipp.returncode == 0, call.why()
    # the caller hears the CRM's message, then the employee
    assert CRM_MESSAGE_HZ in call.tones, call.why()
    assert PHONE_HZ[CRM_LINE] in call.tones, call.why()
    assert FALLBACK_HZ not in call.tones, call.why()
    assert [s.phone for s in crm.rang] == [CRM_LINE], crm.rang
    # the employee hears the CRM's message for him (operator_media) before the caller
    assert crm.employee_heard, crm.employee_heard
    assert OPERATOR_HZ in crm.employee_heard[-1], crm.employee_heard
    assert call.row["status"] == "answered", call.why()
    assert call.row["employee_id"] == office.employee(CRM_LINE), call.why()
    assert answered_by(call) == [office.employee(CRM_LINE)], call.why()


def test_a_crm_forwarding_to_an_outside_number_plays_its_message_then_connects_it(
    office: Office, calls: Calls
) -> None:
    call = calls.crm_outside.result()
    asked = [r for r in office.crm.requests if r.get("numa") == CRM_OUTSIDE_CALLER]
    assert len(asked) == 1, office.crm.requests
    assert asked[0]["numb"] == NUMBERS["crm_outside"], asked
    instruction = [s for s in call.steps if s["kind"] == "ivx"]
    assert [s["text"] for s in instruction] == ["CRM: инструкция получена"], call.why()
    assert instruction[0]["data"]["phones"] == [CRM_OUTSIDE], call.why()
    assert any("'crm_hello'" in text for text in texts(call.steps, "play")), call.why()
    # the caller hears the CRM's message, then the outside number the CRM named
    assert call.tones == {CRM_MESSAGE_HZ, PROVIDER_HZ}, call.why()
    message = next(i for i, s in enumerate(call.steps) if s["kind"] == "play")
    dial = next(i for i, s in enumerate(call.steps) if s["kind"] == "dial")
    assert message < dial, call.why()
    invite = calls.invite(CRM_OUTSIDE)
    assert NUMBERS["crm_outside"] in from_line(invite), invite  # XFR-2
    assert CRM_OUTSIDE_CALLER not in from_line(invite), invite
    assert call.row["status"] == "answered", call.why()
    assert any(CRM_OUTSIDE in text for text in texts(call.steps, "answered")), call.why()


# -- 5. DST-7: members who must not be rung ------------------------------------------------------


def test_a_group_forward_skips_the_member_with_calls_off_and_the_one_outside_his_schedule(
    office: Office, calls: Calls
) -> None:
    skips = calls.skips.result()
    call = skips.call
    off, outside, on_duty = (office.employee(i) for i in (OFF, OUTSIDE_HOURS, ON_DUTY))
    # only the third member's phone rang; he answered and the caller heard him
    assert [s.phone for s in skips.rang] == [ON_DUTY], skips.rang
    assert PHONE_HZ[ON_DUTY] in call.tones, call.why()
    assert call.tones.isdisjoint({PHONE_HZ[OFF], PHONE_HZ[OUTSIDE_HOURS]}), call.why()
    assert call.row["status"] == "answered", call.why()
    assert call.row["employee_id"] == on_duty, call.why()
    # the details say who was skipped and why
    skipped = {s["data"]["employee_id"]: s["text"] for s in distribution(call, "skipped")}
    assert set(skipped) == {off, outside}, call.why()
    assert skipped[off].endswith(": Статус звонков выключен"), call.why()
    assert skipped[outside].endswith(": Вне графика активности сотрудника"), call.why()
    assert "Employee4" in skipped[off], call.why()
    assert "Employee5" in skipped[outside], call.why()
    offered = [s["data"]["employee_id"] for s in distribution(call, "offered")]
    assert offered == [on_duty], call.why()
    assert answered_by(call) == [on_duty], call.why()
