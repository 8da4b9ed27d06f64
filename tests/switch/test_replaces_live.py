"""Proof on live calls of the phone's own attended transfer (REFER with Replaces, RFC 3891 /
RFC 5589 §7; issue 13, must-show point 2):

* employee A's phone is linphone's console client (`linphonec`, a softphone we did not write):
  it answers the trunk caller, holds him (pause: re-INVITE a=sendonly), calls employee C's
  extension through vpbx (C is a baresip phone; it answers), then transfers the caller to that
  call (`transfer 1 --to-call 2`: REFER in the first dialog, Refer-To with Replaces naming the
  second): vpbx connects the caller to C's leg (C hears the caller and the caller C), A's two
  calls end, A is told the transfer succeeded, and the report row shows the transfer;
* a phone REFERs with a Replaces that names no dialog: it is told NOTIFY 481 and the talk goes
  on. No softphone sends that on purpose: this phone is SIPp (employee D's line).

The trunk caller is SIPp with an RTP capture (as in `test_transfer_live.py`)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote

import pytest

from tests.peers.baresip import BaresipPhone, stop_phones
from tests.peers.linphone import LinphonePhone
from tests.peers.ports import free_port, free_range
from tests.peers.rtp_pcap import tone, write_rtp_pcap
from tests.peers.sipp import SippResult, SippServer
from tests.switch.harness import Setup, line_phone, running_pbx, tone_file
from tests.switch.live import (
    OfficeBase,
    PhoneWatch,
    finished_rows,
    kinds,
    tones_heard,
    wait_heard,
)
from tests.switch.observe import details, heard_by_call
from tests.switch.test_call_faults import sipp_report, start_sipp_on
from tests.switch.test_transfer_live import hold_music_windows
from vpbx.services.entities import EntityService

pytestmark = pytest.mark.peers

PHONE_A_HZ = 1100.0  # what A's phone (linphonec) says
PHONE_C_HZ = 900.0  # what C's phone (baresip) says
PHONE_D_HZ = 1300.0  # what D's phone (SIPp) says
VOICE_HZ = 500.0  # what the caller says
EVERY_TONE = (PHONE_A_HZ, PHONE_C_HZ, PHONE_D_HZ, VOICE_HZ)
NUMBERS = {"attended": "74951116601", "unknown": "74951116602"}
A, C, D = 0, 1, 2  # the lines (and employees) of the phones


async def configure(svc: EntityService, setup: Setup) -> None:
    """The attended-transfer number forwards to A, the other one to D."""
    for (key, number), line in zip(NUMBERS.items(), (A, D), strict=True):
        forward = {
            "key": "fwd",
            "kind": "forward",
            "targets": [{"employee_id": setup.staff[line]["id"]}],
        }
        created = await svc.create(
            "scenarios", {"name": key, "entry": "fwd", "operations": [forward]}
        )
        await svc.create(
            "numbers", {"number": number, "rules": [{"scenario_id": created.model_dump()["id"]}]}
        )


@dataclass
class Office(OfficeBase):
    #: A's phone (linphonec); `phones` holds C's baresip only (the watch's phone 0)
    phone_a: LinphonePhone
    #: D's SIP line is registered from this port; the SIPp phone of a case listens there
    d_port: int

    def phone_d(self, name: str, scenario: str) -> SippServer:
        """D's phone running `scenario` (it says PHONE_D_HZ once it answers)."""
        workdir = self.workdir / f"{name}_phone_d"
        workdir.mkdir()
        write_rtp_pcap(workdir / "phone.pcap", [tone(PHONE_D_HZ, 30.0)])
        line = self.pbx.lines[D]
        extra = ["-s", line.login, "-au", line.login, "-ap", line.password]
        extra += ["-key", "pbx", f"127.0.0.1:{self.pbx.sip_port}"]
        extra += ["-mi", "127.0.0.1", "-mp", str(free_range(4))]
        return start_sipp_on(scenario, workdir, self.d_port, target=None, extra=extra)


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:
    workdir = tmp_path_factory.mktemp("replaces")
    phones: list[BaresipPhone] = []
    phone_a: LinphonePhone | None = None
    watch: PhoneWatch | None = None
    try:
        with running_pbx(workdir, employees=3, customize=configure) as pbx:
            line = pbx.lines[A]
            phone_a = LinphonePhone(
                workdir / "phone_a",
                line.login,
                line.password,
                pbx.sip_port,
                tone_file(workdir / "a.wav", PHONE_A_HZ),
            )
            phone_a.start()
            phones.append(line_phone(pbx, workdir, C, tone_file(workdir / "c.wav", PHONE_C_HZ)))
            d_port = free_port()
            line = pbx.lines[D]
            registered = start_sipp_on(
                "line_register.xml",
                workdir / "register_d",
                d_port,
                target=f"127.0.0.1:{pbx.sip_port}",
                extra=["-s", line.login, "-au", line.login, "-ap", line.password],
            ).finish(timeout=20)
            assert registered.returncode == 0, sipp_report(registered)
            for index in (A, C, D):
                pbx.wait_registered(index, timeout=30)
            watch = PhoneWatch(phones)
            yield Office(pbx, phones, watch, workdir, 0, phone_a, d_port)
    finally:
        if watch is not None:
            watch.close()
        if phone_a is not None:
            phone_a.stop()
        stop_phones(phones)


def sipfrags(result: SippResult) -> list[str]:
    """The message/sipfrag status lines of the NOTIFYs the phone received, in order."""
    found = []
    for block in re.split(r"\n-{20,}[^\n]*\n", result.messages()):
        if re.search(r"^NOTIFY sip:", block, re.MULTILINE):
            found += re.findall(r"^SIP/2\.0 \d{3}[^\r\n]*", block, re.MULTILINE)
    return found


def header(message: str, name: str) -> str:
    found = re.search(rf"^{name}:\s*(.*?)\s*$", message, re.MULTILINE | re.IGNORECASE)
    assert found, f"no {name} in\n{message}"
    return found.group(1)


def test_the_phones_attended_transfer_hands_the_caller_to_the_consulted_employee(
    office: Office,
) -> None:
    a, c = office.phone_a, office.pbx.lines[C]
    since = office.watch.mark()
    a_heard_caller = a.record_to("caller.wav")
    ring = a.mark()
    call = office.dial(
        "attended", NUMBERS["attended"], "74950006601", [tone(VOICE_HZ, 16.0)], hangs_up=True
    )
    first = a.incoming(ring)
    a.answer(first)
    time.sleep(3.0)  # A and the caller talk
    a.hold(first)
    a_heard_c = a.record_to("c.wav")
    second = a.call(f"sip:{c.extension}@127.0.0.1:{office.pbx.sip_port}")
    office.watch.event(0, "CALL_ESTABLISHED", since, timeout=20)  # C took the consultation
    time.sleep(3.0)  # A and C talk
    asked = a.transfer_attended(first, second)
    # linphonec says so on vpbx's NOTIFY 200 (RFC 3515 §2.4.5), then both its calls end
    a.wait_for(r"of call \d+ has been transfered", asked, timeout=20)
    a.wait_ended(first, asked)
    a.wait_ended(second, asked)
    heard = wait_heard(office.pbx, call, EVERY_TONE)
    office.watch.event(0, "CALL_CLOSED", since, timeout=20)
    assert a.active_calls() == "No active call.", a.output()
    # A's REFER went in the caller's dialog and its Replaces named the consultation (RFC 3891)
    sent = a.sip_messages("sent")
    invites = [m for m in sent if m.startswith(f"INVITE sip:{c.extension}@")]
    assert invites, a.output()
    consultation = invites[-1]  # the first one was challenged (407)
    [refer] = [m for m in sent if m.startswith("REFER ")]
    refer_to = header(refer, "Refer-To")
    assert refer_to.startswith(f"<sip:{c.extension}@127.0.0.1?Replaces="), refer
    replaces = unquote(refer_to.split("?Replaces=", 1)[1].rstrip(">")).split(";")
    assert replaces[0] == header(consultation, "Call-ID"), (replaces, consultation)
    assert {p.split("=")[0] for p in replaces[1:]} == {"from-tag", "to-tag"}, replaces
    received = a.sip_messages("received")
    [notify_200] = [m for m in received if m.startswith("NOTIFY ") and "SIP/2.0 200" in m]
    assert header(notify_200, "Call-ID") == header(refer, "Call-ID"), notify_200
    # vpbx hung up the consultation itself (the transferred call's BYEs may cross: linphonec
    # hangs up on the NOTIFY 200 as vpbx does)
    byes = [header(m, "Call-ID") for m in received if m.startswith("BYE ")]
    assert header(consultation, "Call-ID") in byes, byes
    # A heard the caller, then C; the caller heard A, the hold music, then C; C heard A, then
    # the caller
    assert tones_heard(a.recorded(a_heard_caller), EVERY_TONE) == {VOICE_HZ}
    assert tones_heard(a.recorded(a_heard_c), EVERY_TONE) == {PHONE_C_HZ}
    assert {PHONE_A_HZ, PHONE_C_HZ} <= heard.tones, heard.why()
    assert hold_music_windows(heard.result.samples) >= 2, heard.why()
    tail = heard.result.samples[-3 * 8000 :]
    assert tones_heard(tail, EVERY_TONE) == {PHONE_C_HZ}, heard.why()
    time.sleep(1.0)  # baresip writes its recording as the call closes
    assert tones_heard(heard_by_call(office.phones[0])[-1], EVERY_TONE) == {
        PHONE_A_HZ,
        VOICE_HZ,
    }, heard.why()
    # the report: the transfer in the call's details, C the employee who took it
    steps = kinds(heard.steps)
    assert steps.index("hold") < steps.index("transfer") < steps.index("transfer_done"), heard.why()
    transfer = next(s for s in heard.steps if s["kind"] == "transfer")
    assert transfer["data"]["mode"] == "replaces", heard.why()
    assert transfer["data"]["target"] == c.extension, heard.why()
    done = next(s for s in heard.steps if s["kind"] == "transfer_done")
    assert done["data"]["employee_id"] == office.employee(C), heard.why()
    assert heard.row["status"] == "answered", heard.why()
    # and A's consultation call is an internal call whose row says where its callee went
    [internal] = finished_rows(office.pbx, 1, direction="internal")
    assert internal["employee_id"] == office.employee(C), internal
    assert "transfer" in kinds(details(office.pbx, internal["id"])), internal


def test_a_replaces_naming_no_dialog_is_notified_481_and_the_talk_goes_on(
    office: Office,
) -> None:
    with office.phone_d("unknown", "phone_refer_unknown_replaces.xml") as phone_d:
        call = office.dial(
            "unknown", NUMBERS["unknown"], "74950006602", [tone(VOICE_HZ, 9.0)], hangs_up=True
        )
        d = phone_d.finish(timeout=30)
        heard = wait_heard(office.pbx, call, EVERY_TONE)
    # the scenario itself checks the second NOTIFY is 481 and waits for vpbx's BYE, sent when
    # the caller hung up: the talk was not cut
    assert d.returncode == 0, sipp_report(d)
    assert sipfrags(d) == ["SIP/2.0 100 Trying", "SIP/2.0 481 Call/Transaction Does Not Exist"]
    # the caller heard D until the end: the REFER (2 s in) changed nothing
    tail = heard.result.samples[-3 * 8000 :]
    assert tones_heard(tail, EVERY_TONE) == {PHONE_D_HZ}, heard.why()
    failed = [s for s in heard.steps if s["kind"] == "transfer_failed"]
    assert [s["data"]["status"] for s in failed] == [481], heard.why()
    assert "transfer_done" not in kinds(heard.steps), heard.why()
    assert heard.row["status"] == "answered", heard.why()
    assert heard.row["employee_id"] == office.employee(D), heard.why()
