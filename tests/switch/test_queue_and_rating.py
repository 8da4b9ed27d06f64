"""The call queue (QUE-1..5) and the rating after a talk (RATE-1) on live calls: SIPp as the
trunk callers, a baresip phone as the employee; the audio each peer heard and the stored call
report (GET /api/v1/calls, /calls/{id}/details) are both checked."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa

from tests.peers.baresip import BaresipPhone
from tests.peers.rtp_pcap import Segment, digit, silence, tone
from tests.peers.sipp import SCENARIOS
from tests.peers.trunk_caller import TrunkCaller, TrunkCallResult
from tests.switch.harness import (
    NUMBER,
    TRUNK_IP,
    RunningPbx,
    Setup,
    line_phone,
    running_pbx,
    tone_file,
)
from tests.switch.observe import api_get, details, heard_by_call
from vpbx.media.audiofile import read_wav
from vpbx.media.system_messages import TEXTS, SystemMessage
from vpbx.media.tones import dominant_frequency, normalized_xcorr_peak
from vpbx.media.tts import Tts
from vpbx.services.entities import EntityService
from vpbx.storage import tables as t

Pcm = npt.NDArray[np.int16]

EMPLOYEE_HZ = 1000.0
QUEUE_MESSAGE_HZ = 700.0
DEFAULT_CALLER = "74957654321"  # what trunk_caller_waits.xml puts in From


class CallerAs(TrunkCaller):
    """A trunk caller waiting for vpbx's BYE, with its own number in From (the stock scenario
    always says 74957654321): the scenario is written into its workdir at start."""

    def __init__(self, workdir: Path, sip_port: int, caller: str, segments: list[Segment]) -> None:
        super().__init__(workdir, sip_port, NUMBER, segments, hangs_up=False, ip=TRUNK_IP)
        self.caller = caller

    @property
    def scenario(self) -> Path:
        text = (SCENARIOS / "trunk_caller_waits.xml").read_text(encoding="iso-8859-1")
        path = self.workdir / "trunk_caller_as.xml"
        path.write_text(text.replace(DEFAULT_CALLER, self.caller), encoding="iso-8859-1")
        return path


# -- audio ------------------------------------------------------------------------------------


def windows(pcm: Pcm, seconds: float = 0.5) -> Iterator[Pcm]:
    size = int(8000 * seconds)
    for start in range(0, len(pcm) - size + 1, size // 2):
        yield pcm[start : start + size]


def loud(pcm: Pcm) -> bool:
    return float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2))) > 200


def first_tone(pcm: Pcm, frequency: float, seconds: float = 0.5) -> int | None:
    """The index of the first window of `seconds` (half-overlapping) whose dominant frequency
    is `frequency` ± 15 Hz, or None."""
    for index, window in enumerate(windows(pcm, seconds)):
        if loud(window) and abs(dominant_frequency(window) - frequency) <= 15:
            return index
    return None


def has_tone(pcm: Pcm, frequency: float, seconds: float = 0.5) -> bool:
    return first_tone(pcm, frequency, seconds) is not None


# -- the API ------------------------------------------------------------------------------------


def call_rows(pbx: RunningPbx, count: int, timeout: float = 6) -> list[dict[str, Any]]:
    """The calls report once it holds `count` rows of finished calls (written in the
    background; a call in progress has its row too, «Идёт», from its start)."""
    deadline = time.monotonic() + timeout
    while True:
        page = api_get(pbx, "/calls?limit=100")
        done = [row for row in page["items"] if row["status"] != "active"]
        if len(done) >= count:
            assert len(done) == count, page
            return done
        assert time.monotonic() < deadline, f"calls report still has {page['total']} rows"
        time.sleep(0.2)


def describe(steps: list[dict[str, Any]]) -> str:
    return "\n".join(f"{s['at']} {s['kind']}: {s['text']} {s['data']}" for s in steps)


def talk(phone: BaresipPhone, seconds: float) -> None:
    """The phone answers (auto) the next call, talks `seconds` and hangs up."""
    phone.wait_event("CALL_ESTABLISHED", timeout=15)
    time.sleep(seconds)
    phone.command("hangup")
    phone.wait_event("CALL_CLOSED", timeout=10)


# -- QUE-1..5 -----------------------------------------------------------------------------------

CALLERS = {"A": ("74950000001", 400.0), "B": ("74950000002", 500.0), "C": ("74950000003", 600.0)}


def test_queue_serves_callers_in_order_with_the_queue_message(tmp_path: Path) -> None:
    """One employee, three callers 1 s apart: A talks, B and C wait and hear the queue message
    (a 700 Hz file of the file base); each talk ended by the employee gives the phone to the
    earliest waiter; C's details say his place and who was ahead."""
    message = tmp_path / "queue.8k.wav"
    tone_file(message, QUEUE_MESSAGE_HZ, seconds=2.0)

    async def customize(svc: EntityService, setup: Setup) -> None:
        file = (await svc.create("files", {"name": "Очередь", "kind": "sound"})).model_dump()
        await svc.conn.execute(
            sa.update(t.files)
            .where(t.files.c.id == file["id"])
            .values(original_path=str(message), converted_path=str(message))
        )
        await svc.replace(
            "scenarios",
            setup.scenario_id,
            {
                "name": "Forward",
                "entry": "fwd",
                "operations": [
                    {
                        "key": "fwd",
                        "kind": "forward",
                        "targets": [{"group_id": setup.group_id}],
                        "distribution": {"queue": True},
                        "queue_message_file_id": file["id"],
                    }
                ],
            },
        )

    results: dict[str, TrunkCallResult] = {}
    with running_pbx(tmp_path, employees=1, customize=customize) as pbx:
        employee_id = pbx.lines[0].employee_id
        phone = line_phone(pbx, tmp_path, 0, tone_file(tmp_path / "employee.wav", EMPLOYEE_HZ))
        callers = {
            name: CallerAs(tmp_path / f"trunk{name}", pbx.sip_port, number, [tone(hz, 25.0)])
            for name, (number, hz) in CALLERS.items()
        }
        try:
            pbx.wait_registered(0)
            for index, caller in enumerate(callers.values()):
                if index:
                    time.sleep(1.0)
                caller.start()
            for _ in callers:  # A, then B, then C: each talk is ended by the employee
                talk(phone, 3.0)
            for name, caller in callers.items():
                results[name] = caller.wait(timeout=15)
        finally:
            for caller in callers.values():
                caller.stop()
            phone.stop()
        for result in results.values():
            result.assert_ok()
        rows = {row["caller"]: row for row in call_rows(pbx, 3)}
        steps = {name: details(pbx, rows[number]["id"]) for name, (number, _) in CALLERS.items()}

    # (a) served in arrival order, each by the employee
    ordered = [rows[number] for number, _ in CALLERS.values()]
    for row in ordered:
        assert row["status"] == "answered", row
        assert row["employee_id"] == employee_id, row
    answered = [dt.datetime.fromisoformat(row["answered_at"]) for row in ordered]
    assert answered[0] < answered[1] < answered[2], answered
    talks = heard_by_call(phone)
    assert len(talks) == 3, [len(x) for x in talks]
    heard = [dominant_frequency(x[4000:]) for x in talks]
    for got, (_, hz) in zip(heard, CALLERS.values(), strict=True):
        assert abs(got - hz) < 15, heard

    # (b) the waiters heard the queue message, A did not; everyone heard the employee
    assert not has_tone(results["A"].samples, QUEUE_MESSAGE_HZ), "A heard the queue message"
    for name, result in results.items():
        assert has_tone(result.samples, EMPLOYEE_HZ), f"{name} did not hear the employee"
    for name in ("B", "C"):
        queue_message = first_tone(results[name].samples, QUEUE_MESSAGE_HZ)
        assert queue_message is not None, f"{name} did not hear the queue message"
        assert queue_message < (first_tone(results[name].samples, EMPLOYEE_HZ) or 0), name

    # (c) QUE-4: the place in the queue and who was ahead
    def queued(name: str) -> dict[str, Any]:
        found = [
            s
            for s in steps[name]
            if s["kind"] == "distribution" and s["data"].get("kind") == "queued"
        ]
        assert len(found) == 1, describe(steps[name])
        return found[0]

    assert not [s for s in steps["A"] if s["data"].get("kind") == "queued"], describe(steps["A"])
    b, c = queued("B"), queued("C")
    assert "место в очереди 1" in b["text"], b
    assert not b["data"].get("ahead"), b
    assert "место в очереди 2" in c["text"], c
    assert c["data"]["ahead"] == [CALLERS["B"][0]], c
    assert CALLERS["B"][0] in c["text"], c


# -- RATE-1 -------------------------------------------------------------------------------------


def rating_customize(enabled: bool = True) -> Any:
    async def customize(svc: EntityService, setup: Setup) -> None:
        await svc.replace(
            "scenarios",
            setup.scenario_id,
            {
                "name": "Forward",
                "entry": "fwd",
                "operations": [
                    {
                        "key": "fwd",
                        "kind": "forward",
                        "targets": [{"group_id": setup.group_id}],
                        "rate_after_call": enabled,
                    }
                ],
            },
        )

    return customize


def rated_call(
    tmp_path: Path, segments: list[Segment]
) -> tuple[TrunkCallResult, float, dict[str, Any], list[dict[str, Any]], Pcm]:
    """A caller saying `segments` talks with the employee, who hangs up after 2 s. Returns what
    the caller heard, the seconds from the employee's hang-up until SIPp exited, the report row,
    its details and the rating prompt vpbx spoke."""
    with running_pbx(tmp_path, employees=1, customize=rating_customize()) as pbx:
        phone = line_phone(pbx, tmp_path, 0, tone_file(tmp_path / "employee.wav", EMPLOYEE_HZ))
        caller = TrunkCaller(
            tmp_path / "trunk", pbx.sip_port, NUMBER, segments, hangs_up=False, ip=TRUNK_IP
        )
        try:
            pbx.wait_registered(0)
            caller.start()
            phone.wait_event("CALL_ESTABLISHED", timeout=15)
            time.sleep(2.0)
            phone.command("hangup")
            hung_up = time.monotonic()
            phone.wait_event("CALL_CLOSED", timeout=10)
            result = caller.wait(timeout=20)
            after_hangup = time.monotonic() - hung_up
        finally:
            caller.stop()
            phone.stop()
        result.assert_ok()
        [row] = call_rows(pbx, 1)
        steps = details(pbx, row["id"])
    text = TEXTS[SystemMessage.RATE_PROMPT]
    spoken = Tts(tmp_path / "tts").cached_path(text)  # what vpbx synthesised and played
    assert spoken.is_file(), f"the rating prompt was not synthesised: {spoken}"
    return result, after_hangup, row, steps, read_wav(spoken)


def after_the_talk(pcm: Pcm) -> Pcm:
    """What the caller heard after the employee's tone stopped."""
    size = 2000
    last = -1
    for index in range(0, len(pcm) - size + 1, size):
        chunk = pcm[index : index + size]
        if loud(chunk) and abs(dominant_frequency(chunk) - EMPLOYEE_HZ) < 15:
            last = index
    assert last >= 0, "the caller never heard the employee"
    return pcm[last + size :]


def test_the_caller_rates_the_employee_after_the_talk(tmp_path: Path) -> None:
    """RATE-1: the employee hangs up, the caller hears «оцените работу оператора» and presses
    4: the report row has rating 4, the details say so, and vpbx hangs up."""
    segments: list[Segment] = [tone(500.0, 2.5), silence(5.5), digit("4"), silence(1.0)]
    result, after_hangup, row, steps, prompt = rated_call(tmp_path, segments)
    assert row["status"] == "answered", row
    assert row["rating"] == 4, row
    rating = [s for s in steps if s["kind"] == "rating"]
    assert any("оценка оператора: 4" in s["text"] for s in rating), describe(steps)
    # The caller heard the employee, then the prompt (speech, not the employee's tone).
    tail = after_the_talk(result.samples)
    assert len(tail) > 8000 * 2, len(tail)
    assert loud(tail)
    score = normalized_xcorr_peak(tail, prompt)
    assert score >= 0.6, score
    assert after_hangup < 10, after_hangup  # hung up on the key, not on the 10 s timeout


def test_a_key_that_is_not_a_rating_stores_nothing(tmp_path: Path) -> None:
    """RATE-1, negative: "9" is not 1..5; nothing more comes: no rating, and the call ends
    cleanly at the rating timeout."""
    segments: list[Segment] = [tone(500.0, 2.5), silence(5.5), digit("9"), silence(1.0)]
    result, after_hangup, row, steps, _ = rated_call(tmp_path, segments)
    assert row["status"] == "answered", row
    assert row["rating"] is None, row
    texts = [s["text"] for s in steps if s["kind"] == "rating"]
    assert any("клавиша 9" in text for text in texts), describe(steps)
    assert any("оценка не поставлена" in text for text in texts), describe(steps)
    assert loud(after_the_talk(result.samples)), "the caller did not hear the rating prompt"
    assert after_hangup < 13, after_hangup
