"""What the tests of live calls look at: what a baresip phone heard, the calls report and call
details over the real HTTP API, and real Russian speech to say."""

from __future__ import annotations

import io
import subprocess
from typing import Any

import httpx
import numpy as np
import soundfile

from tests.peers.baresip import BaresipPhone
from tests.switch.harness import RunningPbx
from vpbx.media.audiofile import to_8k


def band_power(pcm: np.ndarray, frequency: float) -> float:
    """Share of the signal's power within ±30 Hz of `frequency`."""
    x = pcm.astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / 8000)
    total = float(spectrum.sum()) or 1.0
    return float(spectrum[np.abs(freqs - frequency) < 30].sum()) / total


def heard_by_call(device: BaresipPhone) -> list[np.ndarray]:
    """What the phone received, one array per call (baresip's decoded recordings)."""
    out = []
    for path in sorted(device.recordings.glob("dump-*-dec.wav")):
        samples, rate = soundfile.read(path, dtype="int16")
        assert rate == 8000
        out.append(samples if samples.ndim == 1 else samples[:, 0])
    return out


def heard(device: BaresipPhone) -> np.ndarray:
    """What the phone received during its last call."""
    calls = heard_by_call(device)
    assert calls, f"no recording in {device.recordings}"
    return calls[-1]


def speech(text: str) -> np.ndarray:
    """Real Russian speech from espeak-ng at 8 kHz (what a caller says, or an uploaded prompt)."""
    raw = subprocess.run(
        ["espeak-ng", "-v", "ru", "--stdout", text], capture_output=True, check=True, timeout=30
    ).stdout
    samples, rate = soundfile.read(io.BytesIO(raw), dtype="float32")
    return to_8k(samples, rate)


def api_get(pbx: RunningPbx, path: str, **params: Any) -> Any:
    """GET /api/v1`path` as the account's admin: the JSON (or the response, for CSV)."""
    response = httpx.get(
        f"http://127.0.0.1:{pbx.http_port}/api/v1{path}",
        params=params,
        headers={"Authorization": f"Bearer {pbx.admin_token()}"},
        timeout=10,
    )
    assert response.status_code == 200, (path, response.status_code, response.text)
    return response.json() if "json" in response.headers.get("content-type", "") else response


def details(pbx: RunningPbx, call_id: int) -> list[dict[str, Any]]:
    """The call details (CDR-2) of a call, in order."""
    return list(api_get(pbx, f"/calls/{call_id}/details"))
