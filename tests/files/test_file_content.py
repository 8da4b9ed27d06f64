"""FILE-2 over HTTP on a running vpbx: an upload is converted once to 8 kHz mono and both
versions download; non-audio and oversized uploads are refused with a clear message."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
import soundfile

from tests.switch.harness import RunningPbx, running_pbx


@pytest.fixture(scope="module")
def pbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPbx]:
    with running_pbx(tmp_path_factory.mktemp("files")) as running:
        yield running


def client(pbx: RunningPbx) -> httpx.Client:
    return httpx.Client(
        base_url=f"http://127.0.0.1:{pbx.http_port}/api/v1",
        headers={"Authorization": f"Bearer {pbx.admin_token()}"},
        timeout=60,
    )


def new_file(http: httpx.Client, name: str) -> int:
    response = http.post("/files", json={"name": name, "kind": "sound"})
    assert response.status_code == 201, response.text
    file_id: int = response.json()["id"]
    return file_id


def test_upload_is_converted_once_and_both_versions_download(pbx: RunningPbx) -> None:
    rate = 44100
    t = np.arange(rate * 2) / rate
    tone = np.sin(2 * np.pi * 440 * t) * 0.5
    buffer = io.BytesIO()
    soundfile.write(buffer, np.stack([tone, tone], axis=1), rate, format="WAV", subtype="PCM_16")
    original = buffer.getvalue()
    with client(pbx) as http:
        file_id = new_file(http, "Приветствие")
        response = http.put(
            f"/files/{file_id}/content", content=original, headers={"Content-Type": "audio/wav"}
        )
        assert response.status_code == 200, response.text
        assert response.json()["duration_seconds"] == pytest.approx(2.0, abs=0.01)
        assert response.json()["size_bytes"] == len(original)
        assert http.get(f"/files/{file_id}/content").content == original
        converted = http.get(f"/files/{file_id}/content", params={"variant": "converted"})
        assert converted.status_code == 200
        samples, converted_rate = soundfile.read(io.BytesIO(converted.content), dtype="int16")
        assert converted_rate == 8000
        assert samples.ndim == 1
        assert len(samples) == pytest.approx(16000, abs=10)


def test_not_audio_is_refused_and_nothing_is_kept(pbx: RunningPbx) -> None:
    with client(pbx) as http:
        file_id = new_file(http, "Не звук")
        response = http.put(
            f"/files/{file_id}/content",
            content=b"hello, this is text" * 100,
            headers={"Content-Type": "text/plain"},
        )
        assert response.status_code == 422
        body = response.json()
        assert body["errors"][0]["error_id"] == "audio.not_audio"
        assert "/" in body["message"]  # Russian / English
        assert http.get(f"/files/{file_id}/content").status_code == 422
        assert http.get(f"/files/{file_id}").json()["size_bytes"] == 0


def test_an_upload_over_50_mb_is_refused_while_it_arrives(pbx: RunningPbx) -> None:
    def body() -> Iterator[bytes]:
        chunk = b"\0" * (1024 * 1024)
        for _ in range(52):
            yield chunk

    with client(pbx) as http:
        file_id = new_file(http, "Огромный")
        response = http.put(
            f"/files/{file_id}/content", content=body(), headers={"Content-Type": "audio/wav"}
        )
        assert response.status_code == 413
        assert response.json()["error_id"] == "audio.too_large"
        assert http.get(f"/files/{file_id}").json()["size_bytes"] == 0


def test_content_of_an_unknown_file_is_404(pbx: RunningPbx) -> None:
    with client(pbx) as http:
        assert http.put("/files/999999/content", content=b"x").status_code == 404
