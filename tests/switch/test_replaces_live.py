"""Proof on live calls of the phone's own attended transfer (REFER with Replaces, RFC 3891 /
RFC 5589 §7; issue 13, must-show point 2):

* employee A's phone (SIPp on A's SIP line: baresip 1.0 has no attended transfer) answers the
  trunk caller, holds him (re-INVITE a=sendonly), dials employee B's extension through vpbx
  (B is a baresip phone; it answers), then REFERs the caller with Replaces naming that call:
  vpbx answers 202, connects the caller to B's leg (B hears the caller and the caller B), lets
  A's two calls go with BYE, tells A NOTIFY 200, and the report row shows the transfer;
* A REFERs with a Replaces that names no dialog: A is told NOTIFY 481 and the talk goes on.

The trunk caller is SIPp with an RTP capture (as in `test_transfer_live.py`)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest

from tests.peers.baresip import BaresipPhone, stop_phones
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

PHONE_A_HZ = 1100.0  # what A's phone (SIPp) says
PHONE_B_HZ = 900.0  # what B's phone (baresip) says
VOICE_HZ = 500.0  # what the caller says
EVERY_TONE = (PHONE_A_HZ, PHONE_B_HZ, VOICE_HZ)
NUMBERS = {"attended": "74951116601", "unknown": "74951116602"}


async def configure(svc: EntityService, setup: Setup) -> None:
    """Each number forwards to A (line 0's employee)."""
    for key, number in NUMBERS.items():
        forward = {
            "key": "fwd",
            "kind": "forward",
            "targets": [{"employee_id": setup.staff[0]["id"]}],
        }
        created = await svc.create(
            "scenarios", {"name": key, "entry": "fwd", "operations": [forward]}
        )
        await svc.create(
            "numbers", {"number": number, "rules": [{"scenario_id": created.model_dump()["id"]}]}
        )


@dataclass
class Office(OfficeBase):
    #: A's SIP line is registered from this port; each case's SIPp phone listens there
    a_port: int

    def phone_a(self, name: str, scenario: str) -> SippServer:
        """A's phone running `scenario` (it says PHONE_A_HZ once it answers)."""
        workdir = self.workdir / f"{name}_phone_a"
        workdir.mkdir()
        write_rtp_pcap(workdir / "phone.pcap", [tone(PHONE_A_HZ, 30.0)])
        line = self.pbx.lines[0]
        extra = ["-s", line.login, "-au", line.login, "-ap", line.password]
        target, pbx = self.pbx.lines[1].extension, f"127.0.0.1:{self.pbx.sip_port}"
        # no remote address of its own (it waits for a call): the digest-uri is the target's
        extra += ["-key", "ext", target, "-key", "pbx", pbx, "-auth_uri", f"{target}@{pbx}"]
        extra += ["-mi", "127.0.0.1", "-mp", str(free_range(4))]
        return start_sipp_on(scenario, workdir, self.a_port, target=None, extra=extra)


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:
    workdir = tmp_path_factory.mktemp("replaces")
    phones: list[BaresipPhone] = []
    watch: PhoneWatch | None = None
    try:
        with running_pbx(workdir, employees=2, customize=configure) as pbx:
            phones.append(line_phone(pbx, workdir, 1, tone_file(workdir / "b.wav", PHONE_B_HZ)))
            a_port = free_port()
            line = pbx.lines[0]
            registered = start_sipp_on(
                "line_register.xml",
                workdir / "register_a",
                a_port,
                target=f"127.0.0.1:{pbx.sip_port}",
                extra=["-s", line.login, "-au", line.login, "-ap", line.password],
            ).finish(timeout=20)
            assert registered.returncode == 0, sipp_report(registered)
            pbx.wait_registered(0)
            pbx.wait_registered(1)
            watch = PhoneWatch(phones)
            yield Office(pbx, phones, watch, workdir, 0, a_port)
    finally:
        if watch is not None:
            watch.close()
        stop_phones(phones)


def sipfrags(result: SippResult) -> list[str]:
    """The message/sipfrag status lines of the NOTIFYs the phone received, in order."""
    found = []
    for block in re.split(r"\n-{20,}[^\n]*\n", result.messages()):
        if re.search(r"^NOTIFY sip:", block, re.MULTILINE):
            found += re.findall(r"^SIP/2\.0 \d{3}[^\r\n]*", block, re.MULTILINE)
    return found


def byes_received(result: SippResult) -> set[str]:
    """The Call-IDs of the BYEs the phone received (one per call vpbx hung up)."""
    ids = set()
    for block in re.split(r"\n-{20,}[^\n]*\n", result.messages()):
        if re.search(r"^BYE sip:", block, re.MULTILINE):
            ids |= set(re.findall(r"^Call-ID:\s*(\S+)", block, re.MULTILINE | re.IGNORECASE))
    return ids


def last_heard(phone: BaresipPhone) -> np.ndarray:
    return heard_by_call(phone)[-1]


def test_the_phones_attended_transfer_hands_the_caller_to_the_consulted_employee(
    office: Office,
) -> None:
    since = office.watch.mark()
    with office.phone_a("attended", "phone_attended_transfer.xml") as phone_a:
        call = office.dial(
            "attended", NUMBERS["attended"], "74950006601", [tone(VOICE_HZ, 14.0)], hangs_up=True
        )
        office.watch.event(0, "CALL_ESTABLISHED", since, timeout=20)  # B took the consultation
        a = phone_a.finish(timeout=30)
        heard = wait_heard(office.pbx, call, EVERY_TONE)
    office.watch.event(0, "CALL_CLOSED", since, timeout=20)
    assert a.returncode == 0, sipp_report(a)
    # A's phone: told 100 then 200 (RFC 3515), and both its calls hung up by vpbx
    assert sipfrags(a)[-1] == "SIP/2.0 200 OK", sipp_report(a)
    byes = byes_received(a)
    assert len(byes) == 2, sipp_report(a)
    assert any(b.startswith("c2///") for b in byes), byes
    # the caller heard A, the hold music, then B; B heard the caller
    assert {PHONE_A_HZ, PHONE_B_HZ} <= heard.tones, heard.why()
    assert hold_music_windows(heard.result.samples) >= 2, heard.why()
    tail = heard.result.samples[-3 * 8000 :]
    assert tones_heard(tail, EVERY_TONE) == {PHONE_B_HZ}, heard.why()
    time.sleep(1.0)  # baresip writes its recording as the call closes
    assert VOICE_HZ in tones_heard(last_heard(office.phones[0]), EVERY_TONE), heard.why()
    # the report: the transfer in the call's details, B the employee who took it
    steps = kinds(heard.steps)
    assert steps.index("transfer") < steps.index("transfer_done"), heard.why()
    transfer = next(s for s in heard.steps if s["kind"] == "transfer")
    assert transfer["data"]["mode"] == "replaces", heard.why()
    assert transfer["data"]["target"] == office.pbx.lines[1].extension, heard.why()
    done = next(s for s in heard.steps if s["kind"] == "transfer_done")
    assert done["data"]["employee_id"] == office.employee(1), heard.why()
    assert heard.row["status"] == "answered", heard.why()
    assert "hold" in steps, heard.why()  # A's re-INVITE a=sendonly
    # and A's consultation call is an internal call whose row says where its callee went
    [internal] = finished_rows(office.pbx, 1, direction="internal")
    assert internal["employee_id"] == office.employee(1), internal
    assert "transfer" in kinds(details(office.pbx, internal["id"])), internal


def test_a_replaces_naming_no_dialog_is_notified_481_and_the_talk_goes_on(
    office: Office,
) -> None:
    with office.phone_a("unknown", "phone_refer_unknown_replaces.xml") as phone_a:
        call = office.dial(
            "unknown", NUMBERS["unknown"], "74950006602", [tone(VOICE_HZ, 9.0)], hangs_up=True
        )
        a = phone_a.finish(timeout=30)
        heard = wait_heard(office.pbx, call, EVERY_TONE)
    # the scenario itself checks the second NOTIFY is 481 and waits for vpbx's BYE, sent when
    # the caller hung up: the talk was not cut
    assert a.returncode == 0, sipp_report(a)
    assert sipfrags(a) == ["SIP/2.0 100 Trying", "SIP/2.0 481 Call/Transaction Does Not Exist"]
    # the caller heard A until the end: the REFER (2 s in) changed nothing
    tail = heard.result.samples[-3 * 8000 :]
    assert tones_heard(tail, EVERY_TONE) == {PHONE_A_HZ}, heard.why()
    failed = [s for s in heard.steps if s["kind"] == "transfer_failed"]
    assert [s["data"]["status"] for s in failed] == [481], heard.why()
    assert "transfer_done" not in kinds(heard.steps), heard.why()
    assert heard.row["status"] == "answered", heard.why()
    assert heard.row["employee_id"] == office.employee(0), heard.why()
