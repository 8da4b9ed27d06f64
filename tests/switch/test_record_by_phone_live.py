"""FILE-1 «Записать сообщение» with a real phone: the admin asks the API to record a sound file by
calling employee 101; his baresip phone answers by itself and, from the answer, says nothing
for 9 s (the instruction and the beep come meanwhile) and then a 700 Hz tone for 3 s. The first
time he presses # (RFC 4733) a second after the tone, and hears «Сообщение сохранено» before the
PBX hangs up; the second time he hangs up instead (BYE). Each time the request reads `recorded`
with the file's id, the file is first in «Звуковые файлы» under the admin's name, its audio holds
the tone for as long as it was sent (and the silence before it, from the beep on, not the
instruction), and the call is a row of the calls report linking the file."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import pytest
import soundfile

from tests.peers.baresip import BaresipPhone
from tests.switch.harness import RunningPbx, line_phone, running_pbx
from tests.switch.live import kinds, loud
from tests.switch.observe import api_get, details, heard
from vpbx.media.tones import dominant_frequency

pytestmark = pytest.mark.peers

TONE_HZ = 700.0
SILENT = 9.0  # from the answer: the instruction (~5.5 s) and the beep are said meanwhile
TONE = 3.0
PATH = "/files/recordings-by-phone"


def source(path: Path) -> Path:
    """What the phone says from the answer: 9 s of silence, the tone 3 s, then silence (padded:
    baresip hangs up when its source ends)."""
    t = np.arange(int(8000 * TONE)) / 8000
    samples = np.concatenate(
        [
            np.zeros(int(8000 * SILENT)),
            np.sin(2 * np.pi * TONE_HZ * t) * 8000,
            np.zeros(8000 * 40),
        ]
    ).astype(np.int16)
    soundfile.write(path, samples, 8000, subtype="PCM_16")
    return path


def ask(pbx: RunningPbx, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(
        f"http://127.0.0.1:{pbx.http_port}/api/v1{PATH}",
        json=body,
        headers={"Authorization": f"Bearer {pbx.admin_token()}"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    started: dict[str, Any] = response.json()
    assert started["status"] == "pending"
    return started


def wait_state(pbx: RunningPbx, recording_id: int, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (state := api_get(pbx, f"{PATH}/{recording_id}"))["status"] in ("pending", "calling"):
        assert time.monotonic() < deadline, state
        time.sleep(0.3)
    return dict(state)


def download(pbx: RunningPbx, file_id: int) -> npt.NDArray[np.int16]:
    response = httpx.get(
        f"http://127.0.0.1:{pbx.http_port}/api/v1/files/{file_id}/content",
        params={"variant": "converted"},
        headers={"Authorization": f"Bearer {pbx.admin_token()}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    audio, rate = soundfile.read(io.BytesIO(response.content), dtype="int16")
    assert rate == 8000
    assert audio.ndim == 1  # the phone's side only
    return np.asarray(audio, dtype=np.int16)


def sounding(pcm: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
    """The 20 ms frames of `pcm` that sound (the rest is the phone's digital silence)."""
    frames = pcm[: len(pcm) // 160 * 160].reshape(-1, 160).astype(np.float64)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    return pcm[: len(pcm) // 160 * 160].reshape(-1, 160)[rms > 1000].reshape(-1)


def record(
    pbx: RunningPbx, phone: BaresipPhone, name: str, end: str
) -> tuple[dict[str, Any], float]:
    """Ask for a recording to employee 101; his phone answers and the recording is ended by
    `end` ("#" or "hangup") a second after the tone. The request's last state and the seconds
    from the answer to the end."""
    started = ask(pbx, {"name": name, "employee_id": pbx.lines[0].employee_id, "max_seconds": 60})
    phone.wait_event("CALL_ESTABLISHED", 15)  # answered by itself: the tone starts 9 s later
    answered = time.monotonic()
    assert api_get(pbx, f"{PATH}/{started['id']}")["status"] == "calling"
    time.sleep(SILENT + TONE + 1.0)
    ended = time.monotonic() - answered
    if end == "#":
        phone.command("sndcode", "#")
    else:
        phone.command("hangup")
    phone.wait_event("CALL_CLOSED", 15)
    return wait_state(pbx, started["id"]), ended


def check_file(pbx: RunningPbx, state: dict[str, Any], name: str, ended: float) -> dict[str, Any]:
    assert state["status"] == "recorded", state
    assert state["outcome"] == "recorded"
    file_id = state["file_id"]
    assert isinstance(file_id, int)
    first = api_get(pbx, "/files", kind="sound")["items"][0]  # newest first
    assert (first["id"], first["name"], first["kind"]) == (file_id, name, "sound")
    assert first["call_id"] == state["call_id"]
    audio = download(pbx, file_id)
    seconds = len(audio) / 8000
    assert first["duration_seconds"] == pytest.approx(seconds, abs=0.01)
    # the tone, for as long as it was sent, and nothing else audible
    tone = sounding(audio)
    assert len(tone) / 8000 == pytest.approx(TONE, abs=0.25), len(tone) / 8000
    assert abs(dominant_frequency(tone) - TONE_HZ) <= 15
    # from the beep (after the ~5.5 s instruction) to the end: silence, the tone, a second more
    assert TONE + 1.0 <= seconds <= ended - 4.5, (seconds, ended)
    tail = audio[-int(8000 * 0.5) :]
    assert not loud(tail)  # the second after the tone was recorded as silence
    row = api_get(pbx, f"/calls/{state['call_id']}")
    assert (row["session_type"], row["status"], row["direction"]) == (
        "Запись сообщения",
        "answered",
        "outgoing",
    )
    assert row["recording_file_ids"] == [file_id]
    assert row["employee_id"] == pbx.lines[0].employee_id
    assert row["called"] == name
    return row


def test_a_sound_file_recorded_by_phone_ended_by_hash_or_by_hanging_up(tmp_path: Path) -> None:
    with running_pbx(tmp_path, employees=1) as pbx:
        phone = line_phone(pbx, tmp_path, 0, source(tmp_path / "says.wav"))
        try:
            pbx.wait_registered(0)
            state, ended = record(pbx, phone, "Приветствие", "#")
            row = check_file(pbx, state, "Приветствие", ended)
            steps = details(pbx, row["id"])
            order = kinds(steps)
            for kind in ("employee_answered", "record_instruction", "recording", "recording_saved"):
                assert kind in order, order
            assert any("#" in s["text"] for s in steps if s["kind"] == "recording_stop"), steps
            # after # he heard «Сообщение сохранено» (speech after the beep) before the end
            after = heard(phone)
            assert loud(after[-8000 * 3 :]), "nothing said after the recording"

            state, ended = record(pbx, phone, "Меню", "hangup")
            row = check_file(pbx, state, "Меню", ended)
            stop = [s["text"] for s in details(pbx, row["id"]) if s["kind"] == "recording_stop"]
            assert len(stop) == 1, stop
            assert "трубк" in stop[0], stop
        finally:
            phone.stop()
