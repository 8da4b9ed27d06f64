"""Calls the PBX places itself, on real peers (issue 15: CB-1..3, API-1).

One office: employee 101 on a baresip phone that answers only when told (it says 440 Hz), a
virtual number whose forward to him has the queue on (QUE-1, the queue message a 1000 Hz sound
file of the file base, then hold music), the provider's trunk at 127.0.0.2 where SIPp answers
the PBX's outgoing calls saying 700 Hz while tcpdump records what reaches its media port, and
a callback rule «calls lost in that scenario after at least 3 s of waiting → employee 101,
whisper = a phrase said by TTS, attempts 3 s after the miss and 12 s after a failed attempt».
The account records every talk (REC-1): the talks the PBX places are recorded too, in stereo
as incoming ones are (the client left, the employee right).

* The employee talks to somebody else; a trunk caller rings the number, waits in the queue
  (he hears the queue message) and hangs up there (a missed call lost in the scenario): the
  PBX calls the employee back, he hears the whisper phrase (found in what his baresip
  received by correlation with the phrase synthesised by the test), then the client is
  dialled through the trunk showing the line's number, and the two hear each other; the talk
  is recorded.
* A second call lost in the queue: the employee rejects the first attempt; the caller calls
  again and talks to him; the second attempt is not made (the task is cancelled when it falls
  due, nothing reaches the provider's address: no INVITE for the client).
* CallAPI: `POST /calls` → the employee answers → the provider gets the INVITE for the number
  with the caller ID chosen for his line → they hear each other → `GET /calls/{id}` shows it
  answered, its recording linked.
* CallAPI «номер → сценарий»: `POST /calls` with the number's scenario while the employee
  talks to somebody else → the provider gets the INVITE for the client showing that number →
  the scenario's forward queues him (he hears the queue message) → the employee ends his talk,
  is rung and answers → they hear each other; the row is CallAPI, answered, by the employee;
  the account's webhook has the call's started, answered and ended events queued in order.
* «Тем, кому пытались дозвониться» (a second office: 101 and 102 in a group ringing two lines
  at once, 103 outside it): the caller gives up while 101 and 102 ring; attempt 1 rings one of
  them only, he rejects; attempt 2 rings both, the other answers and talks to the client;
  103 never rings; each attempt has its own report row.
* «Сценарий ВАТС» whose first operation is a message (the same office, a call lost on its
  second number): the client is dialled first, shown that number, hears the message (900 Hz),
  then the scenario's forward (by priority, one line at a time, queue on) rings 101 and 102 at
  once, as an outbound dialing does (QUE-7); 101 talks to him.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import sqlalchemy as sa

from tests.peers.baresip import BaresipPhone, stop_phones
from tests.peers.ports import free_port, free_range
from tests.peers.rtp_capture import RtpCapture
from tests.peers.rtp_pcap import tone, write_rtp_pcap
from tests.peers.sipp import SCENARIOS, SippResult, SippServer, sipp_args
from tests.switch.harness import (
    NUMBER,
    TRUNK_IP,
    RunningPbx,
    Setup,
    line_phone,
    running_pbx,
    tone_file,
)
from tests.switch.live import (
    Caller,
    describe,
    row_and_steps,
    sound,
    texts,
    tones_heard,
    wait_bound,
    windows,
)
from tests.switch.observe import api_get, heard
from tests.switch.test_talk_recording_live import download, heard_tone
from vpbx.media.audiofile import read_wav
from vpbx.media.tones import dominant_frequency
from vpbx.media.tts import Tts
from vpbx.services.entities import EntityService
from vpbx.storage import tables as t
from vpbx.storage.db import make_sync_engine

pytestmark = pytest.mark.peers

EMPLOYEE_HZ, PROVIDER_HZ, QUEUE_HZ, MESSAGE_HZ = 440.0, 700.0, 1000.0, 900.0
SECOND_NUMBER = "74951112244"
#: what the employee hears before the client is dialled (CB-2: a text said by TTS)
WHISPER = "Перезвоните клиенту, он ждал в очереди"
#: the rule skips callers who waited less (CB-1); the queued caller waits longer
MIN_WAIT = 3
#: the first attempt falls due this long after the miss: the employee has ended the talk that
#: kept him busy by then
FIRST_ATTEMPT = 3
SECOND_ATTEMPT = 12
BUSY_CALLER = "74957000900"  # the client the employee talks to while the caller waits


@dataclass
class Office:
    pbx: RunningPbx
    phone: BaresipPhone
    workdir: Path
    provider_port: int


class MissedCaller(Caller):
    """A trunk caller that gives up `hold` seconds after the phone starts ringing."""

    @property
    def scenario(self) -> Path:
        text = (SCENARIOS / "trunk_caller_cancels.xml").read_text(encoding="iso-8859-1")
        path = self.workdir / "caller_cancels.xml"
        path.write_text(text.replace("74957654321", self.caller), encoding="iso-8859-1")
        return path


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:
    workdir = tmp_path_factory.mktemp("callbacks")
    provider_port = free_port()

    async def rule(svc: EntityService, setup: Setup) -> None:
        # REC-1: the account records every talk, the ones the PBX places too
        accounts = t.accounts
        await svc.conn.execute(
            sa.update(accounts).where(accounts.c.id == setup.account_id).values(record_calls=True)
        )
        queue_message = await sound(svc, workdir, "queue", QUEUE_HZ, 1.5)
        forward = {
            "key": "fwd",
            "kind": "forward",
            "targets": [{"group_id": setup.group_id}],
            "distribution": {"queue": True},
            "queue_message_file_id": queue_message,
        }
        await svc.update("scenarios", setup.scenario_id, {"operations": [forward]})
        await svc.create(
            "callback-rules",
            {
                "name": "Потерянные в очереди",
                "place": "scenario",
                "scenario_id": setup.scenario_id,
                "min_wait_seconds": MIN_WAIT,
                "how": {"method": "employee", "employee_id": setup.staff[0]["id"]},
                "whisper": {"text": WHISPER},
                "attempt_intervals": [FIRST_ATTEMPT, SECOND_ATTEMPT],
            },
        )

    with running_pbx(workdir, trunk={"port": provider_port}, customize=rule) as pbx:
        source = tone_file(workdir / "employee.wav", EMPLOYEE_HZ)
        phone = line_phone(pbx, workdir, 0, source, answermode="manual")
        try:
            pbx.wait_registered(0)
            yield Office(pbx, phone, workdir, provider_port)
        finally:
            phone.stop()


# -- the provider ---------------------------------------------------------------------------------


@dataclass
class Provider:
    sipp: SippServer
    capture: RtpCapture

    def finish(self, timeout: float = 30) -> tuple[SippResult, np.ndarray]:
        try:
            result = self.sipp.finish(timeout)
            time.sleep(1.2)  # tcpdump hands packets over in blocks
        finally:
            self.capture.stop()
        return result, self.capture.received().samples

    def stop(self) -> None:
        self.sipp.__exit__()
        self.capture.stop()

    def wait_invite(self, timeout: float) -> None:
        """Until the PBX's INVITE for the client reached the provider (SIPp's message trace)."""
        deadline = time.monotonic() + timeout
        while "INVITE sip:" not in "".join(
            p.read_text(errors="replace") for p in self.sipp.workdir.glob("*_messages.log")
        ):
            assert time.monotonic() < deadline, "the provider got no INVITE"
            time.sleep(0.1)


def answering_provider(workdir: Path, port: int, seconds: float = 8.0) -> Provider:
    """SIPp on the trunk's address answering one call, saying PROVIDER_HZ; what reaches its
    media port is captured."""
    workdir.mkdir()
    write_rtp_pcap(workdir / "provider.pcap", [tone(PROVIDER_HZ, seconds)])
    media = free_range(4)
    capture = RtpCapture(workdir / "received.pcap", media, host=TRUNK_IP)
    capture.start()
    args = sipp_args(
        "provider_answers.xml",
        None,
        calls=1,
        rate=10,
        transport="u1",
        timeout=40,
        extra=["-mi", TRUNK_IP, "-mp", str(media)],
        port=port,
        ip=TRUNK_IP,
    )
    process = subprocess.Popen(
        args, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    provider = Provider(SippServer(process, workdir, TRUNK_IP, port), capture)
    try:
        wait_bound(TRUNK_IP, port)
    except BaseException:
        provider.stop()
        raise
    return provider


def invites(result: SippResult) -> list[tuple[str, str]]:
    """(called, caller ID in From) of each INVITE the provider received."""
    found = re.findall(
        r"^INVITE sip:(\d+)@.*?^From:[^\n]*?sip:(\+?\d+)@", result.messages(), re.M | re.S
    )
    return [(called, caller) for called, caller in found]


# -- what the employee does and hears --------------------------------------------------------------


def answer(phone: BaresipPhone, timeout: float = 15) -> None:
    phone.wait_event("CALL_INCOMING", timeout)
    phone.command("accept")
    phone.wait_event("CALL_ESTABLISHED", 10)


def answer_any(phone: BaresipPhone) -> list[str]:
    """The rings the phone reported since the last look; each is answered."""
    rings = [kind for kind in events(phone) if kind == "CALL_INCOMING"]
    if rings:
        phone.command("accept")
    return rings


def first_window(pcm: np.ndarray, hz: float) -> int | None:
    """Index of the first 0.5 s window whose dominant frequency is `hz`."""
    for index, window in enumerate(windows(pcm)):
        if abs(dominant_frequency(window) - hz) <= 15:
            return index
    return None


def task_rows(pbx: RunningPbx, caller: str) -> list[Any]:
    engine = make_sync_engine(pbx.database_url)
    try:
        with engine.connect() as conn:
            c = t.callback_tasks.c
            query = sa.select(t.callback_tasks).where(c.caller == caller).order_by(c.id)
            return list(conn.execute(query).mappings())
    finally:
        engine.dispose()


def wait_task(pbx: RunningPbx, caller: str, status: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        rows = task_rows(pbx, caller)
        if rows and rows[-1]["status"] == status:
            return dict(rows[-1])
        assert time.monotonic() < deadline, f"task of {caller} not {status}: {rows}"
        time.sleep(0.3)


def miss_in_queue(office: Office, caller: str) -> None:
    """The employee talks to BUSY_CALLER; meanwhile `caller` rings the number, is queued (his
    call answered: he hears the queue message, then hold music), waits 4 s and hangs up; then
    the employee ends his talk. The missed call's report row says it was queued."""
    busy = Caller(
        office.workdir / f"busy-{caller}", office.pbx, NUMBER, BUSY_CALLER, [tone(600.0, 20.0)]
    )
    busy.start()
    try:
        answer(office.phone)
        call = Caller(
            office.workdir / f"missed-{caller}", office.pbx, NUMBER, caller,
            [tone(300.0, 0.5)], hangs_up=True, hold=MIN_WAIT + 1.0,
        )  # fmt: skip
        call.start()
        queued = call.wait()
        queued.assert_ok()
        assert "CALL_INCOMING" not in events(office.phone)  # busy: not rung, queued
        office.phone.command("hangup")
        office.phone.wait_event("CALL_CLOSED", 10)
        busy.wait().assert_ok()
    finally:
        busy.stop()
    assert QUEUE_HZ in tones_heard(queued.samples, [QUEUE_HZ]), "no queue message heard"
    row, steps = row_and_steps(office.pbx, caller=caller, called=NUMBER)
    assert row["status"] == "missed", row
    assert [s for s in steps if s["data"].get("kind") == "queued"], describe(steps)


def phrase_at(pcm: np.ndarray, phrase: np.ndarray) -> tuple[float, int]:
    """Where `phrase` is in `pcm`: the best normalised cross-correlation of the phrase with
    each stretch of `pcm` as long as it (so other sounds around it do not lower the score),
    and the sample where that stretch starts."""
    x = pcm.astype(np.float64)
    y = phrase.astype(np.float64) - phrase.mean()
    size = 1 << (len(x) + len(y)).bit_length()
    corr = np.fft.irfft(np.fft.rfft(x, size) * np.conj(np.fft.rfft(y, size)), size)
    lags = len(x) - len(y) + 1
    assert lags > 0, "shorter than the phrase"
    energy = np.concatenate([[0.0], np.cumsum(x * x)])
    local = energy[len(y) : len(y) + lags] - energy[:lags]
    scores = corr[:lags] / np.sqrt(np.maximum(local, 1.0) * float(np.dot(y, y)))
    best = int(np.argmax(scores))
    return float(scores[best]), best


class Watch:
    """Every datagram reaching a UDP address (the provider's, where nothing may go), on a
    thread until closed."""

    def __init__(self, ip: str, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((ip, port))
        self.sock.settimeout(0.1)
        self.got: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                self.got.append(self.sock.recv(65536))

    def close(self) -> list[bytes]:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()
        return self.got


def assert_recorded(pbx: RunningPbx, row: dict[str, Any], client: str) -> None:
    """REC-1: the talk of the call `row` is in «Записанные разговоры», in stereo as an
    incoming call's: the client (its caller) on the left, the employee on the right."""
    [file_id] = row["recording_file_ids"]
    [recording] = [f for f in api_get(pbx, "/files", kind="recording")["items"]
                   if f["id"] == file_id]  # fmt: skip
    assert (recording["call_id"], recording["caller"], recording["called"]) == (
        row["id"], client, NUMBER,
    )  # fmt: skip
    assert recording["employee_id"] == pbx.lines[0].employee_id
    audio = download(pbx, file_id)
    assert audio.shape[1] == 2
    assert abs(heard_tone(audio[:, 0]) - PROVIDER_HZ) < 15, "the client is on the left"
    assert abs(heard_tone(audio[:, 1]) - EMPLOYEE_HZ) < 15, "the employee is on the right"


def ended_row(pbx: RunningPbx, call_id: int, timeout: float = 10) -> dict[str, Any]:
    """`GET /calls/{id}` once the call is no longer active."""
    deadline = time.monotonic() + timeout
    while (row := api_get(pbx, f"/calls/{call_id}"))["status"] == "active":
        assert time.monotonic() < deadline, row
        time.sleep(0.3)
    return dict(row)


def callback_rows(pbx: RunningPbx, client: str) -> list[dict[str, Any]]:
    items = api_get(pbx, "/calls", limit=200)["items"]
    return [r for r in items if r["session_type"] == "Автоперезвон" and r["called"] == client]


# -- the cases -----------------------------------------------------------------------------------


def test_a_call_lost_in_the_queue_is_called_back_employee_first_with_the_whisper(
    office: Office,
) -> None:
    client = "74957000001"
    provider = answering_provider(office.workdir / "provider-1", office.provider_port)
    try:
        miss_in_queue(office, client)
        answer(office.phone)  # the callback rings the employee FIRST_ATTEMPT s after the miss
        provider.wait_invite(20)  # after the whisper, the client is dialled; he answers
        time.sleep(3.0)  # they talk
        office.phone.command("hangup")
        office.phone.wait_event("CALL_CLOSED", 10)
        result, provider_heard = provider.finish()
    finally:
        provider.stop()
    assert result.returncode == 0, result.stdout[-2000:] + result.errors()
    assert invites(result) == [(client, NUMBER)]  # the line's number shown to the client
    employee_heard = heard(office.phone)
    assert PROVIDER_HZ in tones_heard(employee_heard, [PROVIDER_HZ])
    client_at = first_window(employee_heard, PROVIDER_HZ)
    assert client_at is not None
    # the whisper phrase, before the client: what the test's own espeak-ng says for the text
    phrase = read_wav(asyncio.run(Tts(office.workdir / "test-tts").synthesize(WHISPER)))
    # windows start every 0.25 s; half a second of silence in front, in case the phone's
    # recording began a frame after the whisper did
    before_client = np.concatenate(
        [np.zeros(4000, np.int16), employee_heard[: client_at * 2000 + 4000]]
    )
    score, _start = phrase_at(before_client, phrase)
    assert score >= 0.7, score
    other = read_wav(asyncio.run(Tts(office.workdir / "test-tts").synthesize("Автоперезвон")))
    assert phrase_at(before_client, other)[0] < 0.5  # not any speech: this phrase
    assert EMPLOYEE_HZ in tones_heard(provider_heard, [EMPLOYEE_HZ])
    task = wait_task(office.pbx, client, "done", 10)
    assert task["attempts_made"] == 1
    deadline = time.monotonic() + 10
    while not (rows := [r for r in callback_rows(office.pbx, client) if r["status"] != "active"]):
        assert time.monotonic() < deadline
        time.sleep(0.3)
    (row,) = rows
    assert row["status"] == "answered", row
    assert row["employee_id"] == office.pbx.lines[0].employee_id
    assert task["result_call_id"] == row["id"]
    steps = api_get(office.pbx, f"/calls/{row['id']}/details")
    kinds = [s["kind"] for s in steps]
    assert kinds.index("employee_answered") < kinds.index("whisper") < kinds.index("client_ring")
    assert WHISPER in texts(steps, "whisper")[0], describe(steps)
    assert_recorded(office.pbx, row, client)


def test_the_second_attempt_is_skipped_when_the_caller_called_back_and_talked(
    office: Office,
) -> None:
    client = "74957000002"
    watch = Watch(TRUNK_IP, office.provider_port)  # the client's side: nothing may come
    try:
        miss_in_queue(office, client)
        office.phone.wait_event("CALL_INCOMING", 10)  # the first attempt: the employee rejects
        office.phone.command("hangup")
        office.phone.wait_event("CALL_CLOSED", 10)
        task = wait_task(office.pbx, client, "pending", 10)
        assert task["attempts_made"] == 1, task
        # the caller calls again and talks to the employee
        again = Caller(
            office.workdir / "again", office.pbx, NUMBER, client, [tone(500.0, 3.0)],
            hangs_up=True,
        )  # fmt: skip
        again.start()
        answer(office.phone)
        again.wait().assert_ok()
        office.phone.wait_event("CALL_CLOSED", 10)
        # the second attempt falls due and is cancelled, not made; were it made, the employee
        # would answer it, and the client would be dialled
        rung: list[str] = []
        deadline = time.monotonic() + SECOND_ATTEMPT + 10
        while (task := task_rows(office.pbx, client)[-1])["status"] != "cancelled":
            rung += answer_any(office.phone)
            assert time.monotonic() < deadline, task
            time.sleep(0.3)
        time.sleep(1.0)
        rung += answer_any(office.phone)
    finally:
        got = watch.close()
    assert "поговорил" in task["last_result"], task
    assert task["attempts_made"] == 2  # claimed once more, found reached, cancelled
    assert not rung, rung
    assert not [d for d in got if d.startswith(b"INVITE")], got  # the client was never dialled
    assert not [r for r in callback_rows(office.pbx, client) if r["status"] == "answered"]


def test_callapi_click_to_call_employee_then_number(office: Office) -> None:
    client = "74957000003"
    pbx = office.pbx
    provider = answering_provider(office.workdir / "provider-3", office.provider_port)
    try:
        response = httpx.post(
            f"http://127.0.0.1:{pbx.http_port}/api/v1/calls",
            json={"extension": pbx.lines[0].extension, "number": client},
            headers={"Authorization": f"Bearer {pbx.admin_token()}"},
            timeout=10,
        )
        assert response.status_code == 202, response.text
        call_id = response.json()["id"]
        assert api_get(pbx, f"/calls/{call_id}")["status"] == "active"
        answer(office.phone)
        time.sleep(6.0)
        assert api_get(pbx, f"/calls/{call_id}")["answered_at"] is not None
        office.phone.command("hangup")
        office.phone.wait_event("CALL_CLOSED", 10)
        result, provider_heard = provider.finish()
    finally:
        provider.stop()
    assert result.returncode == 0, result.stdout[-2000:] + result.errors()
    assert invites(result) == [(client, NUMBER)]
    assert PROVIDER_HZ in tones_heard(heard(office.phone), [PROVIDER_HZ])
    assert EMPLOYEE_HZ in tones_heard(provider_heard, [EMPLOYEE_HZ])
    row = ended_row(pbx, call_id)
    assert row["status"] == "answered", row
    assert row["session_type"] == "CallAPI"
    assert row["employee_id"] == pbx.lines[0].employee_id
    assert row["talk_seconds"] > 1
    steps = api_get(pbx, f"/calls/{call_id}/details")
    assert [s for s in steps if s["kind"] == "client_ring"], steps
    assert "записываются все разговоры аккаунта" in texts(steps, "talk_recording_start")[0]
    assert_recorded(pbx, row, client)


def test_callapi_number_then_scenario_queues_the_client_then_connects_the_employee(
    office: Office,
) -> None:
    """API-1 «номер → сценарий»: the client is dialled first (the number the scenario serves
    shown); once he answers the scenario runs with him: its forward finds the employee busy and,
    «Очередь» on, queues him (QUE-6's exception: he hears the queue message); the employee ends
    his talk, is rung, answers, and the two hear each other."""
    client = "74957000004"
    pbx = office.pbx
    [number] = [n for n in api_get(pbx, "/numbers")["items"] if n["number"] == NUMBER]
    scenario_id = number["rules"][0]["scenario_id"]
    auth = {"Authorization": f"Bearer {pbx.admin_token()}"}
    # API-2: the CRM's webhook gets this call's events as any call's (what is queued for it is
    # checked; delivery itself is test_webhooks_live's)
    hook = httpx.post(
        f"http://127.0.0.1:{pbx.http_port}/api/v1/webhooks",
        json={"url": "https://crm.example.com/hook", "events": ["call_started", "call_answered",
              "call_ended"], "secret": "s"},
        headers=auth,
        timeout=10,
    )  # fmt: skip
    assert hook.status_code == 201, hook.text
    provider = answering_provider(office.workdir / "provider-4", office.provider_port, 30.0)
    busy = Caller(office.workdir / "busy-api", pbx, NUMBER, BUSY_CALLER, [tone(600.0, 30.0)])
    try:
        busy.start()
        answer(office.phone)  # the employee talks to somebody else
        response = httpx.post(
            f"http://127.0.0.1:{pbx.http_port}/api/v1/calls",
            json={"scenario_id": scenario_id, "number": client},
            headers=auth,
            timeout=10,
        )
        assert response.status_code == 202, response.text
        started = response.json()
        assert (started["employee_id"], started["scenario_id"]) == (None, scenario_id)
        call_id = started["id"]
        provider.wait_invite(10)  # the client first; he answers and is queued
        time.sleep(4.0)  # he hears the queue message
        assert "CALL_INCOMING" not in events(office.phone)  # busy: not rung, he waits
        office.phone.command("hangup")  # the employee ends his talk: the queue rings him
        office.phone.wait_event("CALL_CLOSED", 10)
        busy.wait().assert_ok()
        answer(office.phone)
        time.sleep(3.0)  # they talk
        office.phone.command("hangup")
        office.phone.wait_event("CALL_CLOSED", 10)
        result, provider_heard = provider.finish()
    finally:
        busy.stop()
        provider.stop()
    assert result.returncode == 0, result.stdout[-2000:] + result.errors()
    assert invites(result) == [(client, NUMBER)]  # the number whose rules lead to the scenario
    assert PROVIDER_HZ in tones_heard(heard(office.phone), [PROVIDER_HZ])
    queue_at = first_window(provider_heard, QUEUE_HZ)
    employee_at = first_window(provider_heard, EMPLOYEE_HZ)
    assert queue_at is not None, "the client heard no queue message"
    assert employee_at is not None, "the client did not hear the employee"
    assert queue_at < employee_at
    row = ended_row(pbx, call_id)
    assert (row["status"], row["session_type"], row["direction"]) == (
        "answered", "CallAPI", "outgoing",
    )  # fmt: skip
    assert (row["called"], row["caller"]) == (client, NUMBER)
    assert row["employee_id"] == pbx.lines[0].employee_id
    assert row["scenario_id"] == scenario_id
    steps = api_get(pbx, f"/calls/{call_id}/details")
    kinds = [s["kind"] for s in steps]
    assert kinds.index("originate") < kinds.index("scenario") < kinds.index("dial"), kinds
    queued = [s for s in steps if s["data"].get("kind") == "queued"]
    assert queued, describe(steps)  # in the global queue, not the dialer's hold
    assert not [s for s in steps if s["data"].get("kind") == "held"], describe(steps)
    assert "звонок CallAPI" in steps[0]["text"], steps[0]
    task = wait_task(pbx, client, "done", 10)
    assert task["result_call_id"] == call_id
    engine = make_sync_engine(pbx.database_url)
    try:
        with engine.connect() as conn:
            o = t.outbox.c
            query = (
                sa.select(o.event_type)
                .where(o.ordering_key == f"call:{call_id}:webhook:{hook.json()['id']}")
                .order_by(o.id)
            )
            events_sent = list(conn.execute(query).scalars())
    finally:
        engine.dispose()
    assert events_sent == ["call_started", "call_answered", "call_ended"]


# -- «тем, кому пытались дозвониться» (CB-1 method `tried`) ---------------------------------------


@dataclass
class Trio:
    """Employees 101 and 102 in the group «Pair» the number forwards to (two lines at once),
    103 outside it; all three on manual baresip phones; the rule calls back `tried`."""

    pbx: RunningPbx
    phones: list[BaresipPhone]
    workdir: Path
    provider_port: int


@pytest.fixture(scope="module")
def trio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trio]:
    workdir = tmp_path_factory.mktemp("tried")
    provider_port = free_port()

    async def tried_rule(svc: EntityService, setup: Setup) -> None:
        first, second, _outside = setup.staff
        pair = await svc.create(
            "groups",
            {"name": "Pair", "member_ids": [first["id"], second["id"]], "simultaneous_lines": 2},
        )
        forward = {"key": "fwd", "kind": "forward", "strategy": "support",
                   "targets": [{"group_id": pair.model_dump()["id"]}]}  # fmt: skip
        await svc.update("scenarios", setup.scenario_id, {"operations": [forward]})
        await svc.create(
            "callback-rules",
            {
                "name": "Тем, кому пытались дозвониться",
                "position": 1,
                "how": {"method": "tried"},
                "attempt_intervals": [1, 1],
            },
        )
        # CB-2's exception: calls lost on the second number are called back through a
        # scenario that first says a message (the client is rung first), then rings 101 and
        # 102 by priority with the queue on: as an outbound dialing (QUE-7), both at once
        second_number = await svc.create(
            "numbers", {"number": SECOND_NUMBER, "rules": [{"scenario_id": setup.scenario_id}]}
        )
        message = await sound(svc, workdir, "message", MESSAGE_HZ, 1.5)
        talk = await svc.create(
            "scenarios",
            {"name": "Сообщение, затем 101", "entry": "msg", "operations": [
                {"key": "msg", "kind": "info", "file_ids": [message], "exits": {"next": "fwd"}},
                {"key": "fwd", "kind": "forward", "distribution": {"queue": True},
                 "targets": [{"employee_id": first["id"]}, {"employee_id": second["id"]}]},
            ]},
        )  # fmt: skip
        await svc.create(
            "callback-rules",
            {
                "name": "Через сценарий",
                "position": 0,
                "place": "number",
                "number_id": second_number.model_dump()["id"],
                "how": {"method": "scenario", "scenario_id": talk.model_dump()["id"]},
                "attempt_intervals": [1],
            },
        )

    with running_pbx(
        workdir, employees=3, trunk={"port": provider_port}, customize=tried_rule
    ) as pbx:
        source = tone_file(workdir / "employee.wav", EMPLOYEE_HZ)
        phones = [line_phone(pbx, workdir, i, source, answermode="manual") for i in range(3)]
        try:
            for index in range(3):
                pbx.wait_registered(index)
            yield Trio(pbx, phones, workdir, provider_port)
        finally:
            stop_phones(phones)


def events(phone: BaresipPhone) -> list[str]:
    """The event types the phone reported since the last look."""
    seen = []
    while not phone.events.empty():
        seen.append(str(phone.events.get_nowait().get("type")))
    return seen


def ringing(phones: list[BaresipPhone], timeout: float) -> tuple[int, list[list[str]]]:
    """The first of `phones` to ring (its index) and what each reported meanwhile."""
    seen: list[list[str]] = [[] for _ in phones]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for index, phone in enumerate(phones):
            seen[index] += events(phone)
            if "CALL_INCOMING" in seen[index]:
                return index, seen
        time.sleep(0.05)
    raise AssertionError(f"no phone rang within {timeout} s: {seen}")


def test_tried_calls_back_one_number_then_one_more_never_those_not_tried(trio: Trio) -> None:
    client = "74957000011"
    pbx, phones = trio.pbx, trio.phones
    provider = answering_provider(trio.workdir / "provider", trio.provider_port)
    try:
        call = MissedCaller(
            trio.workdir / "missed", pbx, NUMBER, client, [tone(300.0, 0.5)], hold=2.0
        )
        call.start()
        for phone in phones[:2]:  # the group rings both of its lines at once
            phone.wait_event("CALL_INCOMING", 10)
        call.wait().assert_ok()
        for phone in phones[:2]:
            phone.wait_event("CALL_CLOSED", 10)
        # attempt 1, about 1 s later: one number of the two tried
        first, seen = ringing(phones, 10)
        assert first in (0, 1), seen
        other = 1 - first
        time.sleep(0.5)
        assert "CALL_INCOMING" not in events(phones[other]) + seen[other]
        phones[first].command("hangup")  # he rejects: the attempt fails
        phones[first].wait_event("CALL_CLOSED", 10)
        # attempt 2, 1 s after the failure: both numbers tried; the other one answers
        answer(phones[other])
        provider.wait_invite(15)  # after the whisper, the client is dialled; he answers
        time.sleep(2.5)  # they talk
        phones[other].command("hangup")
        phones[other].wait_event("CALL_CLOSED", 10)
        result, _provider_heard = provider.finish()
    finally:
        provider.stop()
    assert result.returncode == 0, result.stdout[-2000:] + result.errors()
    assert invites(result) == [(client, NUMBER)]
    assert PROVIDER_HZ in tones_heard(heard(phones[other]), [PROVIDER_HZ])
    assert "CALL_INCOMING" in events(phones[first])  # rung in attempt 2 as well, then let go
    assert "CALL_INCOMING" not in events(phones[2])  # 103 was never tried: never rung
    task = wait_task(pbx, client, "done", 10)
    assert task["attempts_made"] == 2
    deadline = time.monotonic() + 10
    while len(rows := [r for r in callback_rows(pbx, client) if r["status"] != "active"]) < 2:
        assert time.monotonic() < deadline, rows
        time.sleep(0.3)
    answered = next(r for r in rows if r["status"] == "answered")
    assert answered["employee_id"] == pbx.lines[other].employee_id
    failed = next(r for r in rows if r["status"] != "answered")
    assert failed["employee_id"] is None  # attempt 1: nobody answered
    assert task["result_call_id"] == answered["id"]
    steps = api_get(pbx, f"/calls/{answered['id']}/details")
    offered = {s["data"]["employee_id"] for s in steps if s["data"].get("kind") == "offered"}
    assert offered == {pbx.lines[0].employee_id, pbx.lines[1].employee_id}, steps


def test_a_scenario_that_speaks_first_rings_the_client_first_then_runs_with_him(
    trio: Trio,
) -> None:
    client = "74957000012"
    pbx, phones = trio.pbx, trio.phones
    provider = answering_provider(trio.workdir / "provider-scenario", trio.provider_port)
    try:
        call = MissedCaller(
            trio.workdir / "missed-scenario", pbx, SECOND_NUMBER, client, [tone(300.0, 0.5)],
            hold=2.0,
        )  # fmt: skip
        call.start()
        for phone in phones[:2]:
            phone.wait_event("CALL_INCOMING", 10)
        call.wait().assert_ok()
        for phone in phones[:2]:
            phone.wait_event("CALL_CLOSED", 10)
        # the client is dialled first (no phone rings before him), hears the message, then
        # the scenario's forward rings 101 and 102 together (QUE-7), 101 answers
        provider.wait_invite(10)
        assert not any("CALL_INCOMING" in events(phone) for phone in phones)
        phones[1].wait_event("CALL_INCOMING", 10)
        answer(phones[0], 10)
        phones[1].wait_event("CALL_CLOSED", 10)  # the other ring stops
        time.sleep(2.5)  # they talk
        phones[0].command("hangup")
        phones[0].wait_event("CALL_CLOSED", 10)
        result, provider_heard = provider.finish()
    finally:
        provider.stop()
    assert result.returncode == 0, result.stdout[-2000:] + result.errors()
    assert invites(result) == [(client, SECOND_NUMBER)]  # shown the number he had called
    assert PROVIDER_HZ in tones_heard(heard(phones[0]), [PROVIDER_HZ])
    message_at = first_window(provider_heard, MESSAGE_HZ)
    employee_at = first_window(provider_heard, EMPLOYEE_HZ)
    assert message_at is not None
    assert employee_at is not None
    assert message_at < employee_at  # the scenario's message, then the employee
    assert "CALL_INCOMING" not in events(phones[2])
    task = wait_task(pbx, client, "done", 10)
    assert task["attempts_made"] == 1
    deadline = time.monotonic() + 10
    while not (rows := [r for r in callback_rows(pbx, client) if r["status"] != "active"]):
        assert time.monotonic() < deadline
        time.sleep(0.3)
    (row,) = rows
    assert (row["status"], row["employee_id"]) == ("answered", pbx.lines[0].employee_id)
    steps = api_get(pbx, f"/calls/{row['id']}/details")
    kinds = [s["kind"] for s in steps]
    assert kinds.index("originate") < kinds.index("scenario") < kinds.index("dial"), kinds
    offered = [s["data"]["employee_id"] for s in steps if s["data"].get("kind") == "offered"]
    assert offered[-2:] == [pbx.lines[0].employee_id, pbx.lines[1].employee_id], describe(steps)
