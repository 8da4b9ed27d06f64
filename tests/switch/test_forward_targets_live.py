"""Proof on live calls of what the new call core (`vpbx.scenario.call_logic`, driven by
`vpbx.switch.runner`) does with the targets of a Forward and what follows it:

* an employee's phone and an outside number ring together; the number (SIPp as the provider)
  answers, the phone is cancelled, the provider is shown the virtual number (XFR-2);
* an employee's SIP URI phone is rung directly (XFR-3) while the account has the option, and
  refused, with the reason in the details, once the option is switched off;
* an employee's number phone the trunk refuses (503) takes the Forward's no_answer exit;
* a phone that answers and hangs up at once ends the call cleanly, and rings again next time;
* voicemail after a Forward to one employee belongs to him (ACC-2: he sees it, another not);
* a CRM answering garbage takes the interactive operation's fallback exit, saying why.

One PBX serves the module with one virtual number per case. Three employees have SIP lines
(baresip phones that answer only when told); SIPp is the trunk calling in, the provider on the
outbound trunk, and the SIP URI phone; a real HTTP server is the CRM. The calls of the cases
run at once in two rounds (the provider's port serves one case at a time); the tests then check
what each caller heard, what the peers got, the calls report and the call details."""

from __future__ import annotations

import socket
import time
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
    wait_heard,
)
from vpbx.domain.net_policy import parse_networks
from vpbx.services.entities import EntityService
from vpbx.storage import tables as t

PHONE_HZ = (700.0, 900.0, 1300.0)  # what the baresip phones of lines 0, 1, 2 say
NOBODY_HZ = 450.0  # the info message of every Forward's no_answer exit
PROVIDER_HZ = 1200.0  # what the provider says when it answers a number
URI_HZ = 1500.0  # what the SIP URI phone (SIPp) says
CODED_HZ = 1650.0  # the CRM's code 5 (never expected)
FALLBACK_HZ = 1750.0  # the interactive operation's fallback exit
GREETING_HZ = 300.0  # the voicemail's prompt (its beep is 1000 Hz: no other tone is)
VOICE_HZ = 500.0  # what a caller says
EVERY_TONE = (
    *PHONE_HZ,
    NOBODY_HZ,
    PROVIDER_HZ,
    URI_HZ,
    CODED_HZ,
    FALLBACK_HZ,
    GREETING_HZ,
    VOICE_HZ,
)

NUMBERS = {
    "both": "74951114401",
    "uri": "74951114402",
    "refused": "74951114403",
    "hangup": "74951114404",
    "voicemail": "74951114405",
    "crm": "74951114406",
}
OUTSIDE = "79161234568"  # the outside number of the Forward «both»
MOBILE = "79161234569"  # the number phone of the employee «Мобильный»
URI_USER = "2001"  # the SIP URI phone is 2001@127.0.0.1:<port> (no "user", no "_")
NOT_JSON = "74950004601"  # the CRM answers this caller an HTML page
WRONG_FIELDS = "74950004602"  # the CRM answers this caller JSON without an instruction
VM_PASSWORD = "vm-pass-4405"


# -- the CRM -------------------------------------------------------------------------------------


class Crm(CrmServer):
    """Interactive processing answered with garbage: 200 with an HTML page for the caller
    NOT_JSON, 200 with a JSON object of unknown fields for anybody else."""

    def answer(self, query: dict[str, str]) -> Reply:
        if query.get("numa") == NOT_JSON:
            return Reply(b"<html><body>500 garbage</body></html>", "text/html")
        return Reply.of_json({"result": "ok", "code": 5, "phone": "101"})


# -- the configuration ---------------------------------------------------------------------------


@dataclass
class Ids:
    """What `configure` made that the tests look up."""

    uri_employee: int = 0
    mobile: int = 0
    vm_login: str = ""
    other_login: str = ""


def configure(workdir: Path, crm: Crm, uri_port: int, ids: Ids) -> Any:
    async def customize(base: EntityService, setup: Setup) -> None:
        svc = EntityService(
            base.conn, base.actor, base.clock, url_allow=parse_networks("127.0.0.1/32")
        )
        # XFR-3 is an account option: on before the SIP URI phone can be saved
        await svc.conn.execute(
            sa.update(t.accounts)
            .where(t.accounts.c.id == setup.account_id)
            .values(sip_uri_transfer=True)
        )
        nobody = await sound(svc, workdir, "nobody", NOBODY_HZ, 1.5)
        coded = await sound(svc, workdir, "coded", CODED_HZ, 1.5)
        fallback = await sound(svc, workdir, "fallback", FALLBACK_HZ, 1.5)
        greeting = await sound(svc, workdir, "greeting", GREETING_HZ, 1.0)
        staff = setup.staff
        for employee in staff:  # a phone nobody answers gives up after 5 s
            phone = {**employee["phones"][0], "ring_timeout": 5}
            await svc.update("employees", employee["id"], {"phones": [phone]})
        uri = await svc.create(
            "employees",
            {
                "last_name": "Адрес",
                "extension": "110",
                "phones": [
                    {
                        "kind": "sip_uri",
                        "sip_uri": f"{URI_USER}@127.0.0.1:{uri_port}",
                        "ring_timeout": 5,
                    }
                ],
            },
        )
        ids.uri_employee = int(uri.model_dump()["id"])
        mobile = await svc.create(
            "employees",
            {
                "last_name": "Мобильный",
                "extension": "111",
                "phones": [{"kind": "number", "number": MOBILE, "ring_timeout": 5}],
            },
        )
        ids.mobile = int(mobile.model_dump()["id"])
        # ACC-2: cabinet users of role employee, linked to the employees of lines 1 and 0
        for login, employee in (("vmowner", staff[1]), ("vmother", staff[0])):
            user = {
                "login": login,
                "password": VM_PASSWORD,
                "role": "employee",
                "employee_id": employee["id"],
            }
            await svc.create("users", user)
        ids.vm_login, ids.other_login = "vmowner", "vmother"

        async def scenario(key: str, *operations: dict[str, Any]) -> None:
            doc = {"name": key, "entry": operations[0]["key"], "operations": list(operations)}
            created = await svc.create("scenarios", doc)
            rules = [{"scenario_id": created.model_dump()["id"]}]
            await svc.create("numbers", {"number": NUMBERS[key], "rules": rules})

        def forward(*targets: dict[str, Any], no_answer: str = "nobody") -> dict[str, Any]:
            return {
                "key": "fwd",
                "kind": "forward",
                "targets": list(targets),
                "exits": {"no_answer": no_answer},
            }

        said = {"key": "nobody", "kind": "info", "file_ids": [nobody]}
        await scenario("both", forward({"employee_id": staff[0]["id"]}, {"number": OUTSIDE}), said)
        await scenario("uri", forward({"employee_id": ids.uri_employee}), said)
        await scenario("refused", forward({"employee_id": ids.mobile}), said)
        await scenario("hangup", forward({"employee_id": staff[2]["id"]}), said)
        await scenario(
            "voicemail",
            forward({"employee_id": staff[1]["id"]}, no_answer="vm"),
            {"key": "vm", "kind": "voicemail", "prompt_file_id": greeting, "max_seconds": 5},
        )
        await scenario(
            "crm",
            {
                "key": "ivx",
                "kind": "interactive",
                "url": crm.url,
                "params": ["cdr_id", "numa", "numb"],
                "timeout": 3,
                "codes": [{"code": 5, "target": "coded"}],
                "exits": {"fallback": "fallback"},
            },
            {"key": "coded", "kind": "info", "file_ids": [coded]},
            {"key": "fallback", "kind": "info", "file_ids": [fallback]},
        )

    return customize


# -- the office ----------------------------------------------------------------------------------


@dataclass
class Office(OfficeBase):
    uri_port: int
    crm: Crm
    ids: Ids

    def caller(
        self, name: str, number: str, caller: str, segments: list[Segment], *, hangs_up: bool
    ) -> Caller:
        return self.dial(name, NUMBERS[number], caller, segments, hangs_up=hangs_up)

    def sipp(
        self, name: str, scenario: str, ip: str, port: int, hz: float, *extra: str
    ) -> SippServer:
        """SIPp waiting for one call on ip:port (the provider, or the SIP URI phone); it says
        `hz` once it answers."""
        return sipp_peer(self.workdir / name, scenario, ip, port, hz, 3.0, extra=extra)

    def login(self, login: str) -> str:
        response = httpx.post(
            f"http://127.0.0.1:{self.pbx.http_port}/api/v1/auth/login",
            json={"login": login, "password": VM_PASSWORD},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return str(response.json()["token"])

    def api(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> Any:
        response = httpx.request(
            method,
            f"http://127.0.0.1:{self.pbx.http_port}/api/v1{path}",
            headers={"Authorization": f"Bearer {token or self.pbx.admin_token()}"},
            timeout=10,
            **kwargs,
        )
        assert response.status_code == 200, (method, path, response.status_code, response.text)
        return response.json()


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:
    workdir = tmp_path_factory.mktemp("forward_targets")
    provider_port, uri_port = free_port(), free_port()
    crm = Crm().start()
    ids = Ids()
    phones: list[BaresipPhone] = []
    watch: PhoneWatch | None = None
    try:
        with running_pbx(
            workdir,
            employees=3,
            trunk={"port": provider_port},
            customize=configure(workdir, crm, uri_port, ids),
            settings={"http_allow_networks": "127.0.0.1/32"},
        ) as pbx:
            # the phones answer only when a case tells them
            start_phones(pbx, workdir, PHONE_HZ, phones, manual=range(len(PHONE_HZ)))
            watch = PhoneWatch(phones)
            yield Office(pbx, phones, watch, workdir, provider_port, uri_port, crm, ids)
    finally:
        if watch is not None:
            watch.close()
        stop_phones(phones)
        crm.stop()


# -- the calls -----------------------------------------------------------------------------------


def heard(office: Office, call: Caller) -> Heard:
    return wait_heard(office.pbx, call, EVERY_TONE)


@dataclass
class Both:
    call: Heard
    provider: SippResult
    rang: Seen
    closed: Seen


def call_both(office: Office) -> Both:
    """The employee of line 0 (never answers) and OUTSIDE ring together; the provider rings
    1.5 s, then answers."""
    since = office.watch.mark()
    with office.sipp(
        "provider_both",
        "provider_answers_late.xml",
        TRUNK_IP,
        office.provider_port,
        PROVIDER_HZ,
        "-d",
        "1500",
    ) as provider:
        call = office.caller("both", "both", "74950004101", [tone(VOICE_HZ, 5.0)], hangs_up=True)
        rang = office.watch.event(0, "CALL_INCOMING", since)
        closed = office.watch.event(0, "CALL_CLOSED", since)
        outcome = heard(office, call)
        return Both(outcome, provider.finish(timeout=20), rang, closed)


@dataclass
class Uri:
    call: Heard
    phone: SippResult


def call_uri(office: Office) -> Uri:
    port = office.uri_port
    with office.sipp("uri_phone", "provider_answers.xml", "127.0.0.1", port, URI_HZ) as phone:
        call = office.caller("uri", "uri", "74950004201", [tone(VOICE_HZ, 5.0)], hangs_up=True)
        outcome = heard(office, call)
        return Uri(outcome, phone.finish(timeout=20))


@dataclass
class UriOff:
    call: Heard
    datagrams: list[bytes]


def call_uri_off(office: Office) -> UriOff:
    """The account's SIP URI option switched off through the API (which tells the switch);
    a UDP socket on the SIP URI phone's port notes whatever is sent to it."""
    account = office.api("GET", "/account")
    account.pop("id")
    changed = office.api("PUT", "/account", json={**account, "sip_uri_transfer": False})
    assert changed["sip_uri_transfer"] is False, changed
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as phone:
        phone.bind(("127.0.0.1", office.uri_port))
        call = office.caller("uri_off", "uri", "74950004202", [silence(6.0)], hangs_up=False)
        datagrams = note_datagrams(phone, call)
        return UriOff(heard(office, call), datagrams)


@dataclass
class Refused:
    call: Heard
    provider: SippResult


def call_refused(office: Office) -> Refused:
    with office.sipp(
        "provider_refuses",
        "provider_refuses.xml",
        TRUNK_IP,
        office.provider_port,
        PROVIDER_HZ,
    ) as provider:
        call = office.caller("refused", "refused", "74950004301", [silence(6.0)], hangs_up=False)
        outcome = heard(office, call)
        return Refused(outcome, provider.finish(timeout=20))


@dataclass
class HangUp:
    first: Heard
    second: Heard
    established: Seen
    closed: Seen


def call_hangup_twice(office: Office) -> HangUp:
    """Line 2 answers the first call and hangs up at once; it answers the second call and
    talks 2 s before hanging up."""
    phone, watch = office.phones[2], office.watch
    since = watch.mark()
    first = office.caller("hangup1", "hangup", "74950004401", [silence(8.0)], hangs_up=False)
    watch.event(2, "CALL_INCOMING", since)
    phone.command("accept")
    established = watch.event(2, "CALL_ESTABLISHED", since)
    phone.command("hangup")
    closed = watch.event(2, "CALL_CLOSED", since)
    one = heard(office, first)
    since = watch.mark()
    second = office.caller("hangup2", "hangup", "74950004402", [silence(8.0)], hangs_up=False)
    watch.event(2, "CALL_INCOMING", since)
    phone.command("accept")
    watch.event(2, "CALL_ESTABLISHED", since)
    time.sleep(2.0)
    phone.command("hangup")
    watch.event(2, "CALL_CLOSED", since)
    return HangUp(one, heard(office, second), established, closed)


@dataclass
class Voicemail:
    call: Heard
    rang: Seen
    closed: Seen
    files: list[dict[str, Any]]
    owner_sees: list[int]
    other_sees: list[int]


def call_voicemail(office: Office) -> Voicemail:
    """Line 1 rings 5 s unanswered; the caller talks into the voicemail until it hangs up."""
    since = office.watch.mark()
    call = office.caller(
        "voicemail", "voicemail", "74950004501", [tone(VOICE_HZ, 14.0)], hangs_up=False
    )
    rang = office.watch.event(1, "CALL_INCOMING", since)
    closed = office.watch.event(1, "CALL_CLOSED", since, timeout=12)
    outcome = heard(office, call)
    files = office.api("GET", "/files", params={"kind": "voicemail"})["items"]

    def seen_by(login: str) -> list[int]:
        page = office.api("GET", "/files", office.login(login), params={"kind": "voicemail"})
        return [int(item["id"]) for item in page["items"]]

    owner, other = seen_by(office.ids.vm_login), seen_by(office.ids.other_login)
    return Voicemail(outcome, rang, closed, files, owner, other)


def call_crm(office: Office) -> tuple[Heard, Heard]:
    calls = [
        office.caller(f"crm{caller}", "crm", caller, [silence(6.0)], hangs_up=False)
        for caller in (NOT_JSON, WRONG_FIELDS)
    ]
    return heard(office, calls[0]), heard(office, calls[1])


@dataclass
class Calls:
    """Every case's outcome (a failing case fails its own test only)."""

    refused: Future[Refused]
    uri: Future[Uri]
    hangup: Future[HangUp]
    voicemail: Future[Voicemail]
    crm: Future[tuple[Heard, Heard]]
    both: Future[Both]
    uri_off: Future[UriOff]


@pytest.fixture(scope="module")
def calls(office: Office) -> Calls:
    """Round 1 at once: the refusing provider, the SIP URI phone, the phone hanging up, the
    voicemail, the CRM. Round 2 at once, after round 1: the answering provider (the provider's
    port is free again), and the SIP URI phone with the option switched off."""
    with ThreadPoolExecutor(max_workers=5) as pool:

        def run(work: Callable[[Office], Any]) -> Future[Any]:
            return pool.submit(work, office)

        refused, uri, hangup = run(call_refused), run(call_uri), run(call_hangup_twice)
        voicemail, crm = run(call_voicemail), run(call_crm)
        wait([refused, uri, hangup, voicemail, crm])
        both, uri_off = run(call_both), run(call_uri_off)
        wait([both, uri_off])
    return Calls(refused, uri, hangup, voicemail, crm, both, uri_off)


def kind_texts(steps: list[dict[str, Any]], kind: str) -> str:
    return " | ".join(texts(steps, kind))


# -- 1. an employee and an outside number at once (XFR-2) ----------------------------------------


def test_an_employee_and_an_outside_number_ring_together_the_number_answers(
    calls: Calls,
) -> None:
    both = calls.both.result()
    call = both.call
    messages = both.provider.messages()
    assert both.provider.returncode == 0, both.provider.stdout[-2000:] + messages[-3000:]
    assert f"INVITE sip:{OUTSIDE}@{TRUNK_IP}" in messages, messages[-3000:]
    # the phone rang while the provider was still ringing (1.5 s), and was cancelled after
    assert both.closed.at - both.rang.at >= 1.0, (both.rang, both.closed)
    assert PROVIDER_HZ in call.tones, call.why()
    assert PHONE_HZ[0] not in call.tones, call.why()
    assert call.row["status"] == "answered", call.why()
    assert any(OUTSIDE in text for text in texts(call.steps, "answered")), call.why()


def test_the_details_do_not_say_the_caller_hung_up_when_the_outside_number_answered(
    calls: Calls,
) -> None:
    call = calls.both.result().call
    steps = call.steps
    left = next(i for i, s in enumerate(steps) if s["kind"] == "caller_hangup")
    hung_up = [
        i
        for i, s in enumerate(steps)
        if s["kind"] == "distribution" and s["data"]["kind"] == "hung_up"
    ]
    assert all(i > left for i in hung_up), call.why()
    # instead they say the phones stopped ringing because the number took the call
    elsewhere = [
        i
        for i, s in enumerate(steps)
        if s["kind"] == "distribution" and s["data"]["kind"] == "answered_elsewhere"
    ]
    assert len(elsewhere) == 1, call.why()
    assert elsewhere[0] < left, call.why()


def test_the_outside_number_is_shown_the_virtual_number_not_the_callers(calls: Calls) -> None:
    """XFR-2: the provider's INVITE presents the virtual number called."""
    invite = calls.both.result().provider.messages().split("INVITE sip:", 1)[1]
    from_line = next(line for line in invite.splitlines() if line.startswith("From:"))
    assert NUMBERS["both"] in from_line, from_line
    assert "74950004101" not in from_line, from_line


# -- 2. XFR-3: a SIP URI phone ------------------------------------------------------------------


def test_a_sip_uri_phone_is_rung_directly_while_the_account_has_the_option(
    office: Office, calls: Calls
) -> None:
    uri = calls.uri.result()
    call = uri.call
    messages = uri.phone.messages()
    assert uri.phone.returncode == 0, uri.phone.stdout[-2000:] + messages[-3000:]
    assert f"INVITE sip:{URI_USER}@127.0.0.1:{office.uri_port}" in messages, messages[-3000:]
    assert URI_HZ in call.tones, call.why()
    assert call.row["status"] == "answered", call.why()
    assert call.row["employee_id"] == office.ids.uri_employee, call.why()


def test_a_sip_uri_phone_is_refused_once_the_option_is_off_saying_why(calls: Calls) -> None:
    off = calls.uri_off.result()
    call = off.call
    assert off.datagrams == [], off.datagrams[:1]
    assert call.tones == {NOBODY_HZ}, call.why()
    assert call.row["status"] == "missed", call.why()
    refused = kind_texts(call.steps, "ring_refused")
    assert f"{URI_USER}@127.0.0.1" in refused, call.why()
    assert "SIP URI не подключён на аккаунте (XFR-3)" in refused, call.why()
    assert "никто не ответил" in kind_texts(call.steps, "dial_failed"), call.why()


# -- 3. a number phone the trunk refuses ----------------------------------------------------------


def test_a_number_phone_the_trunk_refuses_takes_the_no_answer_exit(
    office: Office, calls: Calls
) -> None:
    refused = calls.refused.result()
    call = refused.call
    messages = refused.provider.messages()
    assert refused.provider.returncode == 0, refused.provider.stdout[-2000:] + messages[-3000:]
    assert f"INVITE sip:{MOBILE}@{TRUNK_IP}" in messages, messages[-3000:]
    assert "SIP/2.0 503" in messages, messages[-3000:]
    assert call.tones == {NOBODY_HZ}, call.why()
    assert call.row["status"] == "missed", call.why()
    ring = [
        s
        for s in call.steps
        if s["kind"] == "distribution"
        and s["data"]["kind"] == "ring_ended"
        and s["data"]["employee_id"] == office.ids.mobile
    ]
    assert [s["text"].rsplit(": ", 1)[-1] for s in ring] == ["ошибка"], call.why()
    # the trunk's own answer is in the details too
    failed = [s for s in call.steps if s["kind"] == "ring_failed"]
    assert [s["data"]["status"] for s in failed] == [503], call.why()
    assert "никто не ответил" in kind_texts(call.steps, "dial_failed"), call.why()
    assert any("после переадресации" in s["text"] for s in call.steps), call.why()
    # the next call through the same trunk (case 1, after this one) is answered
    after = calls.both.result().call
    assert after.row["started_at"] > call.row["started_at"]
    assert after.row["status"] == "answered", after.why()


# -- 4. a phone that answers and hangs up at once ------------------------------------------------


def test_a_phone_answering_and_hanging_up_at_once_ends_the_call_cleanly(
    office: Office, calls: Calls
) -> None:
    outcome = calls.hangup.result()
    first, second = outcome.first, outcome.second
    # SIPp's scenario ends only with vpbx's BYE (checked by `heard`): the caller was hung up
    assert first.row["status"] == "answered", first.why()
    assert first.row["employee_id"] == office.employee(2), first.why()
    assert "разговор завершен" in kind_texts(first.steps, "talk_ended"), first.why()
    assert NOBODY_HZ not in first.tones, first.why()
    # the phone is free again: the next call rings it and they talk
    assert second.row["status"] == "answered", second.why()
    assert second.row["employee_id"] == office.employee(2), second.why()
    assert PHONE_HZ[2] in second.tones, second.why()
    assert texts(second.steps, "talk_ended"), second.why()


# -- 5. voicemail after a Forward to one employee (ACC-2) ---------------------------------------


def test_voicemail_after_a_forward_to_one_employee_is_his(office: Office, calls: Calls) -> None:
    vm = calls.voicemail.result()
    call = vm.call
    assert 4.0 <= vm.closed.at - vm.rang.at <= 7.5, (vm.rang, vm.closed)
    assert call.row["status"] == "voicemail", call.why()
    assert GREETING_HZ in call.tones, call.why()
    assert PHONE_HZ[1] not in call.tones, call.why()
    mine = [f for f in vm.files if f.get("caller") == "74950004501"]
    assert len(mine) == 1, vm.files
    assert mine[0]["employee_id"] == office.employee(1), mine
    assert call.row["recording_file_ids"] == [mine[0]["id"]], call.why()
    assert mine[0]["id"] in vm.owner_sees, vm.owner_sees
    assert mine[0]["id"] not in vm.other_sees, vm.other_sees


# -- 6. a CRM answering garbage ------------------------------------------------------------------


def test_a_crm_answering_garbage_takes_the_fallback_exit_saying_why(
    office: Office, calls: Calls
) -> None:
    not_json, wrong = calls.crm.result()
    asked = sorted(r.get("numa", "") for r in office.crm.requests)
    assert asked == [NOT_JSON, WRONG_FIELDS], office.crm.requests
    for call, why in ((not_json, "ответ CRM — не JSON"), (wrong, "в ответе CRM нет инструкции")):
        assert call.tones == {FALLBACK_HZ}, call.why()
        failed = kind_texts(call.steps, "ivx")
        assert why in failed, call.why()
        assert "запасной выход" in failed, call.why()
        assert call.row["status"] == "missed", call.why()
