"""Proof on live calls of transfers by the employee in the talk (TALK-5, XFR-1/2, issue 13):

* the employee's phone transfers the trunk caller with its own transfer button (baresip's
  `transfer`: SIP REFER, RFC 3515): the second employee answers, the caller and he hear each
  other, the first phone is let go (NOTIFY 200 → baresip closes the call);
* a REFER to an extension nobody has: the phone is told 404 (NOTIFY) and the talk goes on;
* `#` + extension by RFC 4733 from the employee (baresip's `sndcode`): the caller hears hold
  music, the employee talks to the target first (attended), hangs up, the caller and the
  target talk;
* `#` + extension of a phone that does not answer: the caller is back with the employee;
* `#` + extension and the employee hangs up at once (blind): the target answers later and
  takes the caller;
* `#` + an outside number: the provider on the outbound trunk gets the call from the virtual
  number (XFR-2), and the caller talks to it;
* `#` + a group's extension goes through the group's distribution: one member at a time in
  its order, so the member who does not answer rings first and the next one after his ring
  timeout takes the caller;
* the transfer button to a SIP URI of another PBX (XFR-3, the account's option on): SIPp there
  gets the call straight from vpbx showing the caller's own number, and the caller talks to it;
* a talk option key calls the employee's trainer (TALK-3, TRN-1): he whispers, the employee
  hears him, the caller does not; the trainer's key 3 makes it a three-way conference (barge);
* a talk option key saves the caller into the blacklist (TALK-7, BLK-1): his next call is
  refused;
* after the caller hangs up, the employee is kept on the line for the tag prompt and tags the
  call with a key (SCN-TAG, TAG-1): the report row carries the tag.

One PBX serves the module; three employees have SIP lines (baresip phones: lines 0 and 1
answer at once, line 2 never); SIPp is the trunk calling in and the provider. The report row
and the call details show each transfer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from tests.peers.baresip import BaresipPhone, stop_phones
from tests.peers.ports import free_port
from tests.peers.rtp_pcap import tone
from tests.peers.sipp import SCENARIOS, run_sipp
from tests.switch.harness import TRUNK_IP, Setup, running_pbx
from tests.switch.live import (
    STOCK_CALLER,
    Caller,
    OfficeBase,
    PhoneWatch,
    describe,
    finished_rows,
    kinds,
    loud,
    row_and_steps,
    sipp_peer,
    start_phones,
    tones_heard,
    wait_heard,
    windows,
)
from tests.switch.observe import api_get, band_power, heard_by_call
from vpbx.media.tones import HOLD_TUNE, dominant_frequency
from vpbx.services.entities import EntityService
from vpbx.storage import tables as t

pytestmark = pytest.mark.peers

PHONE_HZ = (700.0, 900.0, 1300.0)  # what the baresip phones of lines 0, 1, 2 say
VOICE_HZ = 500.0  # what the caller says
PROVIDER_HZ = 1200.0  # what the provider says when it answers
EVERY_TONE = (*PHONE_HZ, VOICE_HZ, PROVIDER_HZ)
NUMBERS = {
    "refer": "74951115501",
    "attended": "74951115502",
    "unanswered": "74951115503",
    "outside": "74951115504",
    "trainer": "74951115506",
    "blacklist": "74951115507",
    "refer_unknown": "74951115508",
    "tagging": "74951115509",
    "barge": "74951115510",
    "blind": "74951115511",
    "sip_uri": "74951115512",
    "group": "74951115513",
}
#: the group transferred to: line 2's employee (never answers) first, then line 1's
GROUP_EXTENSION = "300"
#: the other PBX a SIP URI transfer goes to (XFR-3)
PARTNER_IP = "127.0.0.9"
TAG_KEY = "7"
TRAINER_KEY = "8"
BLACKLIST_KEY = "5"
OUTSIDE = "79161115505"


def configure(ids: dict[str, int]) -> Any:
    async def customize(svc: EntityService, setup: Setup) -> None:
        staff = setup.staff
        # XFR-3: the account has the (paid) SIP URI option
        await svc.conn.execute(
            sa.update(t.accounts)
            .where(t.accounts.c.id == setup.account_id)
            .values(sip_uri_transfer=True)
        )
        for employee in staff:  # a phone nobody answers gives up after 5 s
            phone = {**employee["phones"][0], "ring_timeout": 5}
            await svc.update("employees", employee["id"], {"phones": [phone]})
        # one line at a time, in this order: the member who never answers rings first
        await svc.create(
            "groups",
            {
                "name": "Поддержка",
                "extension": GROUP_EXTENSION,
                "member_ids": [staff[2]["id"], staff[1]["id"]],
                "simultaneous_lines": 1,
            },
        )
        # line 0's employee has line 2's as his trainer (joining only when called, TALK-3)
        await svc.update("employees", staff[0]["id"], {"trainer_id": staff[2]["id"]})
        await svc.create("talk-options", {"key": TRAINER_KEY, "action": "call_trainer"})
        await svc.create(
            "talk-options",
            {"key": BLACKLIST_KEY, "action": "save_caller_id", "to_blacklist": True},
        )
        tag = await svc.create("tags", {"name": "Горячий лид"})
        ids["tag"] = int(tag.model_dump()["id"])
        await svc.create("talk-options", {"key": TAG_KEY, "action": "tag", "tag_id": ids["tag"]})
        for key, number in NUMBERS.items():
            forward = {
                "key": "fwd",
                "kind": "forward",
                "targets": [{"employee_id": staff[0]["id"]}],
                "tag_after_call": key == "tagging",
            }
            doc = {"name": key, "entry": "fwd", "operations": [forward]}
            created = await svc.create("scenarios", doc)
            rules = [{"scenario_id": created.model_dump()["id"]}]
            await svc.create("numbers", {"number": number, "rules": rules})

    return customize


@dataclass
class Office(OfficeBase):
    ids: dict[str, int]

    def extension(self, line: int) -> str:
        return self.pbx.lines[line].extension

    def call(self, name: str, caller: str, seconds: float) -> Caller:
        """The trunk caller says VOICE_HZ for `seconds`, then hangs up."""
        return self.dial(name, NUMBERS[name], caller, [tone(VOICE_HZ, seconds)], hangs_up=True)

    def answered(self, line: int, since: int) -> None:
        self.watch.event(line, "CALL_ESTABLISHED", since)

    def with_trainer(self, name: str, caller: str, seconds: float, since: int) -> Caller:
        """A call to line 0's employee whose talk-option key brings in his trainer (line 2's
        phone, answered when it rings)."""
        call = self.call(name, caller, seconds)
        self.answered(0, since)
        time.sleep(1.0)
        self.phones[0].command("sndcode", TRAINER_KEY)
        self.watch.event(2, "CALL_INCOMING", since)
        self.phones[2].command("accept")
        self.answered(2, since)
        return call


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:
    workdir = tmp_path_factory.mktemp("transfer")
    provider_port = free_port()
    phones: list[BaresipPhone] = []
    watch: PhoneWatch | None = None
    ids: dict[str, int] = {}
    try:
        with running_pbx(
            workdir, employees=3, trunk={"port": provider_port}, customize=configure(ids)
        ) as pbx:
            start_phones(pbx, workdir, PHONE_HZ, phones, manual={2})
            watch = PhoneWatch(phones)
            yield Office(pbx, phones, watch, workdir, provider_port, ids)
    finally:
        if watch is not None:
            watch.close()
        stop_phones(phones)


def hold_music_windows(pcm: np.ndarray) -> int:
    """Half-second windows whose loudest tone is a note of the built-in hold tune."""
    notes = {hz for hz, _ in HOLD_TUNE if hz > 0}
    count = 0
    for window in windows(pcm):
        if not loud(window):
            continue
        found = dominant_frequency(window)
        if any(abs(found - hz) <= 15 for hz in notes):
            count += 1
    return count


def tones_of(pcm: np.ndarray) -> set[float]:
    return tones_heard(pcm, EVERY_TONE)


def last_heard(phone: BaresipPhone) -> np.ndarray:
    """What the phone received during its last call (its decoded recording)."""
    return heard_by_call(phone)[-1]


def test_refer_from_the_employees_phone_hands_the_caller_to_the_second_employee(
    office: Office,
) -> None:
    since = office.watch.mark()
    call = office.call("refer", "74950005501", 12.0)
    office.answered(0, since)
    time.sleep(2.5)
    target = f"sip:{office.extension(1)}@127.0.0.1:{office.pbx.sip_port}"
    office.phones[0].command("transfer", target)
    office.answered(1, since)
    closed = office.watch.event(0, "CALL_CLOSED", since, timeout=10)
    heard = wait_heard(office.pbx, call, EVERY_TONE)
    assert {PHONE_HZ[0], PHONE_HZ[1]} <= heard.tones, heard.why()
    assert PHONE_HZ[2] not in heard.tones, heard.why()
    # the target heard the caller
    assert VOICE_HZ in tones_of(last_heard(office.phones[1])), heard.why()
    # the first phone was let go as soon as the target answered, well before the caller left
    assert closed.at < office.watch.event(1, "CALL_CLOSED", since, timeout=20).at
    steps = kinds(heard.steps)
    assert "transfer" in steps, heard.why()
    assert "transfer_done" in steps, heard.why()
    transfer = next(s for s in heard.steps if s["kind"] == "transfer")
    assert transfer["data"]["mode"] == "refer", heard.why()
    assert heard.row["status"] == "answered", heard.why()


def test_refer_to_an_unknown_extension_is_notified_404_and_the_pbx_keeps_the_talk(
    office: Office,
) -> None:
    """baresip 1.0 hangs up itself when told its transfer failed: the proof that vpbx kept the
    talk is that the employee, not vpbx, ended it (and the phone got the 404)."""
    since = office.watch.mark()
    call = office.dial(
        "refer_unknown",
        NUMBERS["refer_unknown"],
        "74950005508",
        [tone(VOICE_HZ, 20.0)],
        hangs_up=False,
    )
    office.answered(0, since)
    time.sleep(1.5)
    office.phones[0].command("transfer", f"sip:555@127.0.0.1:{office.pbx.sip_port}")
    office.watch.event(0, "TRANSFER_FAILED", since, timeout=10)
    assert "transfer failed: 404" in office.phones[0].log(), office.phones[0].log()[-2000:]
    heard = wait_heard(office.pbx, call, EVERY_TONE)
    assert PHONE_HZ[0] in heard.tones, heard.why()
    steps = kinds(heard.steps)
    assert steps.index("transfer") < steps.index("transfer_failed"), heard.why()
    ended = next(s for s in heard.steps if s["kind"] == "talk_ended")
    assert ended["data"]["by"] == "employee", heard.why()
    assert heard.row["status"] == "answered", heard.why()


def test_hash_and_extension_holds_the_caller_consults_and_hands_over(office: Office) -> None:
    since = office.watch.mark()
    call = office.call("attended", "74950005502", 16.0)
    office.answered(0, since)
    time.sleep(2.0)
    office.phones[0].command("sndcode", f"#{office.extension(1)}#")
    office.answered(1, since)
    time.sleep(3.0)  # the employee and the target talk; the caller hears hold music
    office.phones[0].command("hangup")
    heard = wait_heard(office.pbx, call, EVERY_TONE)
    assert {PHONE_HZ[0], PHONE_HZ[1]} <= heard.tones, heard.why()
    assert hold_music_windows(heard.result.samples) >= 3, heard.why()
    # the consultation: the first employee heard the target
    assert PHONE_HZ[1] in tones_of(last_heard(office.phones[0])), heard.why()
    steps = kinds(heard.steps)
    for kind in ("transfer", "transfer_answered", "transfer_done"):
        assert kind in steps, heard.why()


def test_a_target_that_does_not_answer_returns_the_caller_to_the_employee(
    office: Office,
) -> None:
    since = office.watch.mark()
    call = office.call("unanswered", "74950005503", 14.0)
    office.answered(0, since)
    time.sleep(1.5)
    office.phones[0].command("sndcode", f"#{office.extension(2)}#")
    office.watch.event(2, "CALL_INCOMING", since)
    heard = wait_heard(office.pbx, call, EVERY_TONE)
    samples = heard.result.samples
    assert PHONE_HZ[0] in heard.tones, heard.why()
    assert hold_music_windows(samples) >= 3, heard.why()
    # the employee again at the end: his tone in the last seconds the caller heard
    tail = samples[-3 * 8000 :]
    assert PHONE_HZ[0] in tones_of(tail), heard.why()
    assert "transfer_failed" in kinds(heard.steps), heard.why()


def test_hash_and_an_outside_number_leaves_through_the_trunk_as_the_virtual_number(
    office: Office,
) -> None:
    since = office.watch.mark()
    with sipp_peer(
        office.workdir / "provider_outside",
        "provider_answers.xml",
        TRUNK_IP,
        office.provider_port,
        PROVIDER_HZ,
        8.0,
    ) as provider:
        call = office.call("outside", "74950005504", 14.0)
        office.answered(0, since)
        time.sleep(1.5)
        office.phones[0].command("sndcode", f"#{OUTSIDE}#")
        time.sleep(2.0)
        office.phones[0].command("hangup")
        heard = wait_heard(office.pbx, call, EVERY_TONE)
        result = provider.finish(timeout=20)
    assert PROVIDER_HZ in heard.tones, heard.why()
    invite = result.messages().split("INVITE sip:", 1)[1]
    from_line = next(line for line in invite.splitlines() if line.startswith("From:"))
    assert f"sip:{NUMBERS['outside']}@" in from_line, from_line  # XFR-2: never the caller
    assert "transfer_done" in kinds(heard.steps), heard.why()


def test_a_key_calls_the_trainer_who_whispers_to_the_employee_only(office: Office) -> None:
    since = office.watch.mark()
    call = office.with_trainer("trainer", "74950005506", 12.0, since)
    heard = wait_heard(office.pbx, call, EVERY_TONE)
    time.sleep(1.0)  # the phones write their recordings as the call closes
    assert PHONE_HZ[0] in heard.tones, heard.why()
    assert PHONE_HZ[2] not in heard.tones, heard.why()  # the caller never hears a whisper
    assert any("тренер" in s["text"] for s in heard.steps), heard.why()
    # the last 2 s, the trainer certainly in: the employee hears the caller and the trainer
    # mixed, the trainer both of them
    to_employee = last_heard(office.phones[0])[-2 * 8000 :]
    to_trainer = last_heard(office.phones[2])[-2 * 8000 :]
    assert band_power(to_employee, VOICE_HZ) > 0.2, heard.why()
    assert band_power(to_employee, PHONE_HZ[2]) > 0.2, heard.why()
    assert band_power(to_trainer, VOICE_HZ) > 0.2, heard.why()
    assert band_power(to_trainer, PHONE_HZ[0]) > 0.2, heard.why()
    # and the caller's last 2 s carry the employee, not a trace of the trainer
    to_caller = heard.result.samples[-2 * 8000 :]
    assert band_power(to_caller, PHONE_HZ[0]) > 0.5, heard.why()
    assert band_power(to_caller, PHONE_HZ[2]) < 0.01, heard.why()


def test_a_key_blacklists_the_caller_and_his_next_call_is_refused(office: Office) -> None:
    caller = "74950005507"
    since = office.watch.mark()
    call = office.call("blacklist", caller, 6.0)
    office.answered(0, since)
    time.sleep(1.5)
    office.phones[0].command("sndcode", BLACKLIST_KEY)
    heard = wait_heard(office.pbx, call, EVERY_TONE)
    assert any("черный список" in s["text"] for s in heard.steps), heard.why()
    # the number is in the blacklist (the API shows it) and the next call is refused, 403
    listed = api_get(office.pbx, "/blacklist")
    assert caller in {entry["number"] for entry in listed["items"]}, listed
    workdir = office.workdir / "blacklisted_again"
    workdir.mkdir()
    stock = (SCENARIOS / "trunk_refused.xml").read_text(encoding="iso-8859-1")
    scenario = workdir / "refused_as.xml"
    scenario.write_text(stock.replace(STOCK_CALLER, caller), encoding="iso-8859-1")
    result = run_sipp(
        scenario,
        f"127.0.0.1:{office.pbx.sip_port}",
        workdir / "sipp",
        extra=["-s", NUMBERS["blacklist"], "-i", TRUNK_IP, "-mi", TRUNK_IP],
        timeout=15,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.errors()
    blocked = finished_rows(office.pbx, 1, caller=caller, status="blocked")
    assert blocked, heard.why()


def test_the_employee_tags_the_call_after_the_caller_hangs_up(office: Office) -> None:
    caller = "74950005509"
    since = office.watch.mark()
    call = office.call("tagging", caller, 4.0)
    office.answered(0, since)
    result = call.wait()  # the caller has hung up
    result.assert_ok()
    assert PHONE_HZ[0] in tones_of(result.samples)
    time.sleep(1.0)
    # the employee is still on the line (hearing the tag prompt): his phone has not closed
    closed = [e for e in office.watch.seen[since:] if e.phone == 0 and e.kind == "CALL_CLOSED"]
    assert closed == []
    office.phones[0].command("sndcode", TAG_KEY)
    office.watch.event(0, "CALL_CLOSED", since, timeout=10)  # tagged: vpbx hangs him up
    row, steps = row_and_steps(office.pbx, caller=caller)
    assert row["tag_ids"] == [office.ids["tag"]], (row, describe(steps))
    assert "сотрудник поставил тег после разговора" in [s["text"] for s in steps]
    # the tag is what the report filters by
    tagged = api_get(office.pbx, "/calls", tag_id=office.ids["tag"])
    assert [r["caller"] for r in tagged["items"]] == [caller], tagged


def test_the_trainer_barges_in_with_his_key_and_the_caller_hears_him(office: Office) -> None:
    since = office.watch.mark()
    call = office.with_trainer("barge", "74950005510", 10.0, since)
    time.sleep(1.0)
    office.phones[2].command("sndcode", "3")  # barge: a three-way conference
    heard = wait_heard(office.pbx, call, EVERY_TONE)
    assert any(s["kind"] == "trainer" and s["data"]["mode"] == "barge" for s in heard.steps), (
        heard.why()
    )
    # the last 2 s: the caller hears the employee and the trainer, each hears the two others
    to_caller = heard.result.samples[-2 * 8000 :]
    assert band_power(to_caller, PHONE_HZ[0]) > 0.2, heard.why()
    assert band_power(to_caller, PHONE_HZ[2]) > 0.2, heard.why()
    time.sleep(1.0)
    to_employee = last_heard(office.phones[0])[-2 * 8000 :]
    assert band_power(to_employee, PHONE_HZ[2]) > 0.2, heard.why()
    assert band_power(to_employee, VOICE_HZ) > 0.2, heard.why()


def test_hash_and_extension_then_hanging_up_at_once_is_a_blind_transfer(office: Office) -> None:
    since = office.watch.mark()
    call = office.call("blind", "74950005511", 12.0)
    office.answered(0, since)
    time.sleep(1.5)
    office.phones[0].command("sndcode", f"#{office.extension(2)}#")
    office.watch.event(2, "CALL_INCOMING", since)
    office.phones[0].command("hangup")  # before the target answers
    office.watch.event(0, "CALL_CLOSED", since)
    time.sleep(1.5)  # the caller waits on hold music, the target still rings
    office.phones[2].command("accept")
    office.answered(2, since)
    heard = wait_heard(office.pbx, call, EVERY_TONE)
    assert {PHONE_HZ[0], PHONE_HZ[2]} <= heard.tones, heard.why()
    assert hold_music_windows(heard.result.samples) >= 3, heard.why()
    steps = kinds(heard.steps)
    assert "transfer_done" in steps, heard.why()
    assert "transfer_answered" not in steps, heard.why()  # no consultation: blind
    texts = [s["text"] for s in heard.steps]
    assert "сотрудник положил трубку: перевод без консультации" in texts, heard.why()


def test_refer_to_a_sip_uri_of_another_pbx_shows_it_the_callers_number(office: Office) -> None:
    since = office.watch.mark()
    partner_port = free_port()
    with sipp_peer(
        office.workdir / "partner_pbx",
        "provider_answers.xml",
        PARTNER_IP,
        partner_port,
        PROVIDER_HZ,
        8.0,
    ) as partner:
        call = office.call("sip_uri", "74950005512", 12.0)
        office.answered(0, since)
        time.sleep(1.5)
        office.phones[0].command("transfer", f"sip:7001@{PARTNER_IP}:{partner_port}")
        office.watch.event(0, "CALL_CLOSED", since, timeout=10)  # let go once it answered
        heard = wait_heard(office.pbx, call, EVERY_TONE)
        result = partner.finish(timeout=20)
    assert PROVIDER_HZ in heard.tones, heard.why()
    invite = result.messages().split("INVITE sip:", 1)[1]
    assert invite.startswith(f"7001@{PARTNER_IP}:{partner_port}"), invite[:200]
    from_line = next(line for line in invite.splitlines() if line.startswith("From:"))
    # XFR-2/3: not a PSTN leg, so the caller's own number is shown
    assert "sip:74950005512@" in from_line, from_line
    done = next(s for s in heard.steps if s["kind"] == "transfer_done")
    assert f"SIP URI 7001@{PARTNER_IP}:{partner_port}" in done["text"], heard.why()


def test_hash_and_a_groups_extension_rings_its_members_through_the_distribution(
    office: Office,
) -> None:
    since = office.watch.mark()
    call = office.call("group", "74950005513", 16.0)
    office.answered(0, since)
    time.sleep(1.5)
    office.phones[0].command("sndcode", f"#{GROUP_EXTENSION}#")
    first = office.watch.event(2, "CALL_INCOMING", since)  # the group's first member
    # line 1 answers at once: one line at a time, so only after the first one's ring timeout
    second = office.watch.event(1, "CALL_ESTABLISHED", since, timeout=20)
    assert second.at - first.at >= 4.0, (first, second)
    time.sleep(1.5)  # the employee and the member talk; the caller waits on hold
    office.phones[0].command("hangup")
    heard = wait_heard(office.pbx, call, EVERY_TONE)
    assert PHONE_HZ[1] in heard.tones, heard.why()  # the caller talked to the member at last
    assert VOICE_HZ in tones_of(last_heard(office.phones[1])), heard.why()
    done = next(s for s in heard.steps if s["kind"] == "transfer_done")
    assert done["data"]["employee_id"] == office.pbx.lines[1].employee_id, heard.why()
    # the distribution's own steps for the group are in the details
    assert "distribution" in kinds(heard.steps), heard.why()
