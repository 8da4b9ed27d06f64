"""REC-1 on a live call with real peers: SIPp as the trunk calls the virtual number saying tone A,
the scenario forwards to an employee whose conversations are recorded, his baresip phone
answers saying tone B. After the call the file base («Записанные разговоры») holds one stereo
recording of the talk: tone A on the left channel (the caller), tone B on the right (the
employee), linked to the call, with the caller, the virtual number and the employee the tab
filters on, and the call's details say it was recorded and why."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
import pytest
import soundfile

from tests.peers.baresip import BaresipPhone, stop_phones
from tests.peers.rtp_pcap import tone
from tests.switch.harness import NUMBER, RunningPbx, Setup, running_pbx
from tests.switch.live import Caller, kinds, start_phones, texts, tones_heard, wait_heard
from tests.switch.observe import api_get
from vpbx.media.tones import dominant_frequency
from vpbx.services.entities import EntityService

pytestmark = pytest.mark.peers

CALLER_HZ = 500.0  # tone A: what the trunk caller says
EMPLOYEE_HZ = 1300.0  # tone B: what the employee's phone says
CALLER = "79161234567"
TALK_SECONDS = 6.0


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
    return np.asarray(audio, dtype=np.int16)


def heard_tone(pcm: npt.NDArray[np.int16]) -> float:
    """The dominant frequency over the loud part of a channel (the talk, not the edges)."""
    window = 4000
    loud = [
        pcm[i : i + window]
        for i in range(0, len(pcm) - window, window)
        if float(np.sqrt(np.mean(pcm[i : i + window].astype(np.float64) ** 2))) > 300
    ]
    assert len(loud) >= 4, "less than two seconds of sound on this channel"
    return dominant_frequency(np.concatenate(loud))


def test_a_recorded_call_has_the_caller_left_and_the_employee_right(tmp_path: Path) -> None:
    employee: dict[str, Any] = {}

    async def record_the_employee(svc: EntityService, setup: Setup) -> None:
        employee.update(setup.staff[0])
        await svc.update("employees", setup.staff[0]["id"], {"record_calls": True})

    phones: list[BaresipPhone] = []
    with running_pbx(tmp_path, employees=1, customize=record_the_employee) as pbx:
        try:
            start_phones(pbx, tmp_path, (EMPLOYEE_HZ,), phones)
            call = Caller(
                tmp_path / "caller",
                pbx,
                NUMBER,
                CALLER,
                [tone(CALLER_HZ, TALK_SECONDS)],
                hangs_up=True,
            )
            call.start()
            outcome = wait_heard(pbx, call, (CALLER_HZ, EMPLOYEE_HZ))
        finally:
            stop_phones(phones)
        # the talk happened: the caller heard the employee
        assert EMPLOYEE_HZ in tones_heard(outcome.result.samples, (CALLER_HZ, EMPLOYEE_HZ))
        row, steps = outcome.row, outcome.steps
        files = api_get(pbx, "/files", kind="recording")["items"]
        assert len(files) == 1, (files, outcome.why())
        [recording] = files
        assert row["recording_file_ids"] == [recording["id"]], outcome.why()
        assert (recording["call_id"], recording["caller"], recording["called"]) == (
            row["id"],
            CALLER,
            NUMBER,
        )
        assert recording["employee_id"] == employee["id"] == row["employee_id"]
        assert recording["number_id"] == row["number_id"] is not None
        # the tab's filters find it by the employee, the number and the caller
        for params in (
            {"employee_id": employee["id"]},
            {"number_id": row["number_id"]},
            {"caller": CALLER[-7:]},
        ):
            found = api_get(pbx, "/files", kind="recording", **params)["items"]
            assert [f["id"] for f in found] == [recording["id"]], params
        audio = download(pbx, recording["id"])
    assert audio.ndim == 2
    assert audio.shape[1] == 2
    seconds = len(audio) / 8000
    assert TALK_SECONDS - 2.5 <= seconds <= TALK_SECONDS + 1.5, seconds
    assert recording["duration_seconds"] == pytest.approx(seconds, abs=0.01)
    left, right = audio[:, 0], audio[:, 1]
    assert abs(heard_tone(left) - CALLER_HZ) < 15, "the caller is on the left"
    assert abs(heard_tone(right) - EMPLOYEE_HZ) < 15, "the employee is on the right"
    assert kinds(steps).count("talk_recording_start") == 1, outcome.why()
    assert "Employee1" in texts(steps, "talk_recording_start")[0]
    [saved] = texts(steps, "talk_recording")
    assert f"файл #{recording['id']}" in saved
