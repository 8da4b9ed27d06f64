"""Live calls through the scenario engine, end to end with real peers: SIPp as the trunk (it says
tones, speech and RFC 4733 keys, and what it hears is captured), baresip phones as employees.
Every test checks what the peers heard and what the calls report and call details stored."""

from __future__ import annotations

import email
import io
import threading
import time
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
import soundfile
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.peers.baresip import BaresipPhone, stop_phones
from tests.peers.ports import free_port
from tests.peers.rtp_pcap import digit, samples, silence, tone
from tests.peers.sipp import run_sipp
from tests.peers.trunk_caller import TrunkCaller
from tests.switch.harness import (
    NUMBER,
    TRUNK_IP,
    RunningPbx,
    Setup,
    line_phone,
    running_pbx,
    tone_file,
)
from tests.switch.observe import api_get, details, heard, speech
from vpbx.media.tones import dominant_frequency, normalized_xcorr_peak
from vpbx.services.entities import EntityService

CALLER = "74957654321"  # what the trunk caller's From says


# -- helpers ---------------------------------------------------------------------------------


def wait_calls(pbx: RunningPbx, count: int, timeout: float = 10, **params: Any) -> list[Any]:
    """The calls report rows of finished calls once `count` of them are written (the writer
    works in batches; a call in progress has its row too, «Идёт», from its start)."""
    deadline = time.monotonic() + timeout
    while True:
        found: list[Any] = api_get(pbx, "/calls", **params)["items"]
        items = [row for row in found if row["status"] != "active"]
        if len(items) >= count:
            return items
        assert time.monotonic() < deadline, f"only {len(items)} calls written: {items}"
        time.sleep(0.2)


@pytest.fixture
def phones() -> Iterator[list[BaresipPhone]]:
    started: list[BaresipPhone] = []
    yield started
    stop_phones(started)


def phone(
    pbx: RunningPbx,
    tmp_path: Path,
    started: list[BaresipPhone],
    index: int,
    frequency: float,
    answermode: str = "auto",
) -> BaresipPhone:
    source = tone_file(tmp_path / f"tone{index}.wav", frequency)
    device = line_phone(pbx, tmp_path, index, source, answermode=answermode)
    started.append(device)
    pbx.wait_registered(index)
    return device


def scenario(setup: Setup, entry: str, *operations: dict[str, Any]) -> dict[str, Any]:
    return {"name": "Test", "entry": entry, "operations": list(operations)}


# -- 1. menu → group of three rung at once → phone 2 answers -------------------------------------


def test_menu_key_2_rings_the_group_at_once_and_employee_2_talks_with_the_caller(
    tmp_path: Path, phones: list[BaresipPhone]
) -> None:
    async def menu_to_group(svc: EntityService, setup: Setup) -> None:
        await svc.replace(
            "scenarios",
            setup.scenario_id,
            scenario(
                setup,
                "menu",
                {
                    "key": "menu",
                    "kind": "menu",
                    "prompt_text": "Нажмите два, чтобы связаться с отделом продаж",
                    "timeout": 10,
                    "exits": {"2": "sales"},
                },
                {
                    "key": "sales",
                    "kind": "forward",
                    "targets": [{"group_id": setup.group_id}],
                    "strategy": "custom",
                    "distribution": {"simultaneous_lines": 3},
                },
            ),
        )

    with running_pbx(tmp_path, employees=3, customize=menu_to_group) as pbx:
        devices = [
            phone(pbx, tmp_path, phones, index, freq, answermode="manual")
            for index, freq in enumerate((700.0, 1000.0, 1300.0))
        ]
        caller = TrunkCaller(
            tmp_path / "trunk",
            pbx.sip_port,
            NUMBER,
            [silence(1.5), digit("2"), tone(500, 12.0)],
            hold=13.0,
            timeout=40,
        ).start()
        try:
            for device in devices:  # all three ring at once
                device.wait_event("CALL_INCOMING", timeout=20)
            devices[1].command("accept")
            devices[1].wait_event("CALL_ESTABLISHED")
            for other in (devices[0], devices[2]):  # CANCELled when employee 2 answered
                other.wait_event("CALL_CLOSED", timeout=10)
            result = caller.wait()
        finally:
            caller.stop()
        result.assert_ok()
        devices[1].wait_event("CALL_CLOSED", timeout=10)
        assert result.digits == []
        # the caller heard employee 2 at the end of the call; employee 2 heard the caller
        assert abs(dominant_frequency(result.samples[-3 * 8000 :]) - 1000) < 15
        assert abs(dominant_frequency(heard(devices[1])[8000:]) - 500) < 15

        employee_2 = pbx.lines[1].employee_id
        (row,) = wait_calls(pbx, 1)
        assert row["status"] == "answered"
        assert row["direction"] == "incoming"
        assert row["employee_id"] == employee_2
        assert row["caller"] == CALLER
        assert row["called"] == NUMBER
        assert row["talk_seconds"] > 5
        steps = details(pbx, row["id"])
        kinds = [s["kind"] for s in steps]
        for kind in ("arrived", "rule", "scenario", "operation", "play", "digit", "exit", "dial"):
            assert kind in kinds, (kind, kinds)
        assert kinds[-1] == "hangup"
        offered = {
            s["data"]["employee_id"]
            for s in steps
            if s["kind"] == "distribution" and s["data"]["kind"] == "offered"
        }
        assert offered == {line.employee_id for line in pbx.lines}
        answered = [s for s in steps if s["kind"] == "answered"]
        assert [s["data"]["employee_id"] for s in answered] == [employee_2]
        assert any(s["kind"] == "caller_hangup" for s in steps)
        times = [s["at"] for s in steps]
        assert times == sorted(times)


# -- 2. nobody answers → voicemail → mailed with the WAV ----------------------------------------


class Inbox:
    """A real SMTP server's handler: keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.arrived = threading.Event()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content
        assert isinstance(content, bytes)
        self.messages.append(email.message_from_bytes(content))
        self.arrived.set()
        return "250 OK"


def test_nobody_answers_the_caller_leaves_a_voicemail_and_it_is_mailed_as_a_wav(
    tmp_path: Path, phones: list[BaresipPhone]
) -> None:
    inbox = Inbox()
    smtp_port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()

    async def forward_then_voicemail(svc: EntityService, setup: Setup) -> None:
        await svc.replace(
            "scenarios",
            setup.scenario_id,
            scenario(
                setup,
                "fwd",
                {
                    "key": "fwd",
                    "kind": "forward",
                    "targets": [{"group_id": setup.group_id}],
                    "strategy": "custom",
                    "distribution": {"ring_timeout": 5},
                    "exits": {"no_answer": "vm"},
                },
                {
                    "key": "vm",
                    "kind": "voicemail",
                    "emails": ["boss@example.com"],
                    "max_seconds": 30,
                },
            ),
        )

    said = speech("Перезвоните мне, пожалуйста, по поводу заказа")
    settings = {"smtp_host": "127.0.0.1", "smtp_port": smtp_port, "smtp_retry_delays": "1"}
    try:
        with running_pbx(
            tmp_path, employees=1, customize=forward_then_voicemail, settings=settings
        ) as pbx:
            device = phone(pbx, tmp_path, phones, 0, 1000.0, answermode="manual")
            # the pcap starts at the answer (the greeting): speak after greeting and beep
            result = TrunkCaller(
                tmp_path / "trunk",
                pbx.sip_port,
                NUMBER,
                [silence(6.0), samples(said), silence(1.0)],
                timeout=40,
            ).run()
            result.assert_ok()
            device.wait_event("CALL_INCOMING", timeout=5)
            device.wait_event("CALL_CLOSED", timeout=10)  # rung 5 s, then cancelled
            assert inbox.arrived.wait(15), "no voicemail mail arrived"
            (row,) = wait_calls(pbx, 1)
            assert row["status"] == "voicemail"
            assert len(row["recording_file_ids"]) == 1
            files = api_get(pbx, "/files", kind="voicemail")["items"]
            assert [f["id"] for f in files] == row["recording_file_ids"]
            assert files[0]["caller"] == CALLER
            steps = details(pbx, row["id"])
            kinds = [s["kind"] for s in steps]
            for kind in ("dial_failed", "voicemail", "mail"):
                assert kind in kinds, (kind, kinds)
    finally:
        controller.stop()

    (mail,) = inbox.messages
    assert mail["To"] == "boss@example.com"
    assert CALLER in mail["Subject"]
    attachments = [part for part in mail.walk() if part.get_content_type() == "audio/wav"]
    assert len(attachments) == 1
    payload = attachments[0].get_payload(decode=True)
    assert isinstance(payload, bytes)
    recorded, rate = soundfile.read(io.BytesIO(payload), dtype="int16")
    assert rate == 8000
    # what the caller said is in the mailed recording (after G.711 both ways)
    assert normalized_xcorr_peak(recorded, said) > 0.8


# -- 3. a blacklisted caller is refused and listed as blocked ------------------------------------


def test_a_blacklisted_caller_is_rejected_and_listed_in_the_blocked_tab(tmp_path: Path) -> None:
    async def blacklist(svc: EntityService, setup: Setup) -> None:
        await svc.create("blacklist", {"number": CALLER, "comment": "спам"})

    with running_pbx(tmp_path, employees=1, customize=blacklist) as pbx:
        result = run_sipp(
            "trunk_refused.xml",
            f"127.0.0.1:{pbx.sip_port}",
            tmp_path / "sipp",
            extra=["-s", NUMBER, "-i", TRUNK_IP, "-mi", TRUNK_IP],
            timeout=15,
        )
        assert result.returncode == 0, result.stdout[-2000:] + result.errors()
        (row,) = wait_calls(pbx, 1, status="blocked")
        assert row["caller"] == CALLER
        assert row["answered_at"] is None
        steps = details(pbx, row["id"])
        assert any(s["kind"] == "blocked" and CALLER in s["text"] for s in steps)
        assert wait_calls(pbx, 1)[0]["id"] == row["id"]


# -- 5. internal calls and pickup ---------------------------------------------------------------


def test_an_employee_calls_another_by_extension_and_the_report_shows_an_internal_call(
    tmp_path: Path, phones: list[BaresipPhone]
) -> None:
    with running_pbx(tmp_path, employees=2) as pbx:
        caller = phone(pbx, tmp_path, phones, 0, 600.0)
        callee = phone(pbx, tmp_path, phones, 1, 1400.0)
        caller.command("dial", f"sip:{pbx.lines[1].extension}@127.0.0.1:{pbx.sip_port}")
        callee.wait_event("CALL_ESTABLISHED", timeout=20)
        caller.wait_event("CALL_ESTABLISHED", timeout=20)
        time.sleep(3)
        caller.command("hangup")
        callee.wait_event("CALL_CLOSED")
        caller.wait_event("CALL_CLOSED")
        assert abs(dominant_frequency(heard(callee)[4000:]) - 600) < 15
        assert abs(dominant_frequency(heard(caller)[4000:]) - 1400) < 15
        (row,) = wait_calls(pbx, 1)
        assert row["direction"] == "internal"
        assert row["status"] == "answered"
        assert row["called"] == pbx.lines[1].extension
        assert row["employee_id"] == pbx.lines[1].employee_id
        assert row["talk_seconds"] >= 2


def test_88_and_the_extension_picks_up_a_call_ringing_there(
    tmp_path: Path, phones: list[BaresipPhone]
) -> None:
    async def ring_employee_2(svc: EntityService, setup: Setup) -> None:
        await svc.create(
            "contacts", {"last_name": "Петров", "first_name": "Иван", "phones": [CALLER]}
        )
        await svc.replace(
            "scenarios",
            setup.scenario_id,
            scenario(
                setup,
                "fwd",
                {
                    "key": "fwd",
                    "kind": "forward",
                    "targets": [{"employee_id": setup.staff[1]["id"]}],
                },
            ),
        )

    with running_pbx(tmp_path, employees=2, customize=ring_employee_2) as pbx:
        picker = phone(pbx, tmp_path, phones, 0, 800.0)
        ringing = phone(pbx, tmp_path, phones, 1, 1400.0, answermode="manual")
        caller = TrunkCaller(
            tmp_path / "trunk", pbx.sip_port, NUMBER, [tone(500, 6.0)], hold=6.0, timeout=40
        ).start()
        try:
            ringing.wait_event("CALL_INCOMING", timeout=20)
            picker.command("dial", f"sip:88{pbx.lines[1].extension}@127.0.0.1:{pbx.sip_port}")
            picker.wait_event("CALL_ESTABLISHED", timeout=10)
            ringing.wait_event("CALL_CLOSED", timeout=10)  # no longer ringing there
            result = caller.wait()
        finally:
            caller.stop()
        result.assert_ok()
        picker.wait_event("CALL_CLOSED", timeout=10)
        assert abs(dominant_frequency(result.samples[-3 * 8000 :]) - 800) < 15
        assert abs(dominant_frequency(heard(picker)[4000:]) - 500) < 15
        (row,) = wait_calls(pbx, 1)
        assert row["status"] == "answered"
        assert row["employee_id"] == pbx.lines[0].employee_id
        assert row["contact_name"] == "Петров Иван"  # CDR-1: the caller's contact
        steps = details(pbx, row["id"])
        answered = [s for s in steps if s["kind"] == "answered"]
        assert [s["data"]["employee_id"] for s in answered] == [pbx.lines[0].employee_id]
