"""FMC lines (FMC-1/2) on live calls, SIPp as the operator's trunk on both sides: calling in and
taking the legs the PBX sends out.

* a group whose member's phone is an FMC line rings the SIM's mobile number through the trunk,
  showing the caller's number (XFR-2 allows it to FMC lines), and the two hear each other;
* a blocked FMC line is not rung (nothing reaches the trunk) and the details say why;
* the SIM calling an outside number through the trunk is the employee's outgoing call: it
  leaves with the line's caller ID and is reported «Исходящий с FMC»; the SIM dialling an
  extension reaches that employee's phone (baresip);
* a 2-channel line in two calls: a third call from it is refused busy (486); a blocked line
  cannot call out (403, a blocked row whose details say why).

One PBX serves the module; the provider's port takes one case at a time."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.peers.baresip import BaresipPhone, stop_phones
from tests.peers.ports import free_port, free_range
from tests.peers.rtp_capture import RtpCapture
from tests.peers.rtp_pcap import tone
from tests.peers.sipp import SCENARIOS, run_sipp
from tests.switch.harness import TRUNK_IP, RunningPbx, Setup, running_pbx
from tests.switch.live import (
    STOCK_CALLER,
    Caller,
    finished_rows,
    note_datagrams,
    row_and_steps,
    sipp_peer,
    sound,
    start_phones,
    texts,
    tones_heard,
)
from tests.switch.observe import details
from vpbx.domain.actor import Actor, Role
from vpbx.media.tones import dominant_frequency
from vpbx.services.entities import EntityService
from vpbx.switch.pbx import FMC_SESSION

pytestmark = pytest.mark.peers

SIM = "79160007701"  # the 2-channel FMC line of «Мобильный»
BLOCKED_SIM = "79160007702"  # an FMC line as the operator added it: blocked
FMC_CID = "74951117700"  # the virtual number SIM's outgoing calls show
NUMBERS = {"group": "74951117710", "blocked": "74951117720"}
OUTSIDE = "79035550101"
CALLER = "74950007001"
PHONE_HZ = 700.0  # the baresip phone of the SIP employee (extension 2101)
NOBODY_HZ = 450.0  # the Forwards' no_answer exit
PROVIDER_HZ = 1200.0  # what the SIM (the provider's leg) says
VOICE_HZ = 500.0  # what the trunk caller says
EVERY_TONE = (PHONE_HZ, NOBODY_HZ, PROVIDER_HZ, VOICE_HZ)


@dataclass
class Ids:
    mobile: int = 0
    blocked: int = 0


def configure(workdir: Path, ids: Ids) -> Any:
    async def customize(svc: EntityService, setup: Setup) -> None:
        operator = EntityService(svc.conn, Actor(Role.OPERATOR, setup.account_id), svc.clock)
        # EMP-2: with FMC lines in the account every extension is 2XXX or 2XXXX
        await svc.update("employees", setup.staff[0]["id"], {"extension": "2101"})
        cid = (await svc.create("numbers", {"number": FMC_CID})).model_dump()["id"]
        # FMC-1: the operator adds the lines (blocked); the account's admin unblocks one
        line = {"number": SIM, "channels": 2, "caller_id_number_id": cid}
        sim = (await operator.create("fmc-lines", line)).model_dump()["id"]
        blocked = (await operator.create("fmc-lines", {"number": BLOCKED_SIM})).model_dump()["id"]
        await svc.update("fmc-lines", sim, {"blocked": False})
        for name, extension, line_id in (
            ("Мобильный", "2001", sim),
            ("Заблокированный", "2002", blocked),
        ):
            phone = {"kind": "fmc", "fmc_line_id": line_id, "ring_timeout": 10}
            doc = {"last_name": name, "extension": extension, "phones": [phone]}
            employee = (await svc.create("employees", doc)).model_dump()["id"]
            await svc.update("fmc-lines", line_id, {"employee_id": employee})
            setattr(ids, "mobile" if line_id == sim else "blocked", employee)
        group = await svc.create("groups", {"name": "Мобильные", "member_ids": [ids.mobile]})
        # 3 s: a second of it must be heard even when a stall of the loaded CI box skips frames
        nobody = await sound(svc, workdir, "nobody", NOBODY_HZ, 3.0)
        said = {"key": "nobody", "kind": "info", "file_ids": [nobody]}
        for key, target in (
            ("group", {"group_id": group.model_dump()["id"]}),
            ("blocked", {"employee_id": ids.blocked}),
        ):
            forward = {
                "key": "fwd",
                "kind": "forward",
                "targets": [target],
                "exits": {"no_answer": "nobody"},
            }
            doc = {"name": key, "entry": "fwd", "operations": [forward, said]}
            created = (await svc.create("scenarios", doc)).model_dump()["id"]
            await svc.create(
                "numbers", {"number": NUMBERS[key], "rules": [{"scenario_id": created}]}
            )

    return customize


@dataclass
class Office:
    pbx: RunningPbx
    workdir: Path
    provider_port: int
    ids: Ids

    def caller(self, name: str, number: str, caller: str, seconds: float, **kw: Any) -> Caller:
        call = Caller(
            self.workdir / name, self.pbx, number, caller, [tone(VOICE_HZ, seconds)], **kw
        )
        call.start()
        return call

    def provider(self, name: str, *, calls: int = 1, media_port: int | None = None) -> Any:
        return sipp_peer(
            self.workdir / f"provider_{name}",
            "provider_answers.xml",
            TRUNK_IP,
            self.provider_port,
            PROVIDER_HZ,
            6.0,
            calls=calls,
            media_port=media_port,
        )


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:
    workdir = tmp_path_factory.mktemp("fmc")
    provider_port = free_port()
    ids = Ids()
    phones: list[BaresipPhone] = []
    try:
        with running_pbx(
            workdir, employees=1, trunk={"port": provider_port}, customize=configure(workdir, ids)
        ) as pbx:
            start_phones(pbx, workdir, (PHONE_HZ,), phones)
            yield Office(pbx, workdir, provider_port, ids)
    finally:
        stop_phones(phones)


def invites(messages: str) -> list[tuple[str, str]]:
    """(called, From user) of each INVITE the provider received."""
    found = re.findall(r"^INVITE sip:(\d+)@.*?^From:[^\n]*?sip:(\+?\d+)@", messages, re.M | re.S)
    return [(called, caller) for called, caller in found]


def test_a_group_rings_the_fmc_sim_through_the_trunk_showing_the_caller(office: Office) -> None:
    media_port = free_range(4)
    capture = RtpCapture(office.workdir / "sim_heard.pcap", media_port, host=TRUNK_IP).start()
    try:
        with office.provider("sim", media_port=media_port) as provider:
            call = office.caller("group", NUMBERS["group"], CALLER, 4.0, hangs_up=True)
            result = call.wait()
            sim = provider.finish(timeout=20)
        time.sleep(1.0)  # tcpdump hands packets over in blocks
    finally:
        capture.stop()
    result.assert_ok()
    assert sim.returncode == 0, sim.stdout[-2000:] + sim.errors()
    # the SIM was rung at its mobile number, shown the caller's own number
    assert invites(sim.messages()) == [(SIM, CALLER)]
    # they heard each other: the caller the SIM's tone, the SIM the caller's voice
    assert PROVIDER_HZ in tones_heard(result.samples, EVERY_TONE), sorted(
        tones_heard(result.samples, EVERY_TONE)
    )
    heard_by_sim = capture.received().samples
    assert len(heard_by_sim) > 8000 * 2
    assert abs(dominant_frequency(heard_by_sim[4000:]) - VOICE_HZ) < 15
    # FMC-2: an incoming call to the FMC line is an ordinary call of the virtual number
    row, _steps = row_and_steps(office.pbx, caller=CALLER, called=NUMBERS["group"])
    assert (row["status"], row["direction"]) == ("answered", "incoming")
    assert row["employee_id"] == office.ids.mobile
    assert row["session_type"] != FMC_SESSION


def test_a_blocked_fmc_line_is_not_rung_and_the_details_say_why(office: Office) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as trunk:
        trunk.bind((TRUNK_IP, office.provider_port))
        call = office.caller("blocked", NUMBERS["blocked"], CALLER, 1.0)
        reached = note_datagrams(trunk, call)
        result = call.wait()
    result.assert_ok()
    assert reached == []  # no INVITE went to the trunk
    assert NOBODY_HZ in tones_heard(result.samples, EVERY_TONE)
    _row, steps = row_and_steps(office.pbx, caller=CALLER, called=NUMBERS["blocked"])
    assert texts(steps, "ring_refused") == [f"FMC-линия {BLOCKED_SIM} заблокирована"]


def test_the_sim_calling_out_shows_the_line_caller_id_and_is_reported_fmc(office: Office) -> None:
    with office.provider("outgoing") as provider:
        call = office.caller("outgoing", OUTSIDE, SIM, 3.0, hangs_up=True)
        result = call.wait()
        sent = provider.finish(timeout=20)
    result.assert_ok()
    assert sent.returncode == 0, sent.stdout[-2000:] + sent.errors()
    assert invites(sent.messages()) == [(OUTSIDE, FMC_CID)]
    assert PROVIDER_HZ in tones_heard(result.samples, EVERY_TONE)
    [row] = finished_rows(office.pbx, 1, called=OUTSIDE)
    assert (row["direction"], row["session_type"]) == ("outgoing", FMC_SESSION)
    assert (row["status"], row["employee_id"]) == ("answered", office.ids.mobile)
    assert row["caller"] == "2001"  # the employee's extension, as for his SIP line


def test_the_sim_dialling_an_extension_reaches_that_employee(office: Office) -> None:
    call = office.caller("internal", "2101", SIM, 3.0, hangs_up=True)
    result = call.wait()
    result.assert_ok()
    assert PHONE_HZ in tones_heard(result.samples, EVERY_TONE)
    [row] = finished_rows(office.pbx, 1, called="2101")
    assert (row["direction"], row["session_type"]) == ("internal", FMC_SESSION)
    assert row["employee_id"] == office.pbx.lines[0].employee_id


def test_a_third_call_of_a_two_channel_line_is_refused_busy(office: Office) -> None:
    with office.provider("two", calls=2) as provider:
        calls = [office.caller(f"channel{n}", OUTSIDE, SIM, 6.0, hangs_up=True) for n in (1, 2)]
        wait_answered(office.pbx, 2)
        third = refused_call(office, "channel3", SIM, 486)
        results = [c.wait() for c in calls]
        sent = provider.finish(timeout=20)
    assert third.returncode == 0, third.stdout[-2000:] + third.errors()
    assert "Busy Here" in third.messages()
    for result in results:
        result.assert_ok()
    assert sent.returncode == 0, sent.stdout[-2000:] + sent.errors()
    assert len(invites(sent.messages())) == 2  # the third never reached the trunk


def refused_call(office: Office, name: str, sim: str, status: int) -> Any:
    """A call from `sim` to OUTSIDE that must get `status` (SIPp sends no media)."""
    text = (SCENARIOS / "trunk_caller_busy.xml").read_text(encoding="iso-8859-1")
    scenario = office.workdir / f"{name}.xml"
    text = text.replace(STOCK_CALLER, sim).replace('response="486"', f'response="{status}"')
    scenario.write_text(text, encoding="iso-8859-1")
    return run_sipp(
        scenario,
        f"127.0.0.1:{office.pbx.sip_port}",
        office.workdir / name,
        extra=["-s", OUTSIDE, "-i", TRUNK_IP, "-mp", str(free_range(3))],
        timeout=15,
    )


def test_a_blocked_sim_cannot_call_out_and_the_report_says_why(office: Office) -> None:
    refused = refused_call(office, "blocked_out", BLOCKED_SIM, 403)
    assert refused.returncode == 0, refused.stdout[-2000:] + refused.errors()
    [row] = finished_rows(office.pbx, 1, called=OUTSIDE, status="blocked")
    assert (row["session_type"], row["employee_id"]) == (FMC_SESSION, office.ids.blocked)
    steps = details(office.pbx, row["id"])
    assert texts(steps, "fmc") == [f"FMC-линия {BLOCKED_SIM} заблокирована"]


def wait_answered(pbx: RunningPbx, count: int, timeout: float = 15) -> None:
    """Until `count` calls placed from an FMC line are answered."""
    assert pbx.application is not None
    switch = pbx.application.pbx

    async def answered() -> int:
        await asyncio.sleep(0)
        calls = switch.calls.values()
        return sum(1 for c in calls if c.session_type == FMC_SESSION and c.answered_at)

    deadline = time.monotonic() + timeout
    while pbx.run(answered()) < count:
        assert time.monotonic() < deadline, "the FMC calls were not answered"
        time.sleep(0.1)
