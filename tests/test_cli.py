"""The `vpbx` command as a user runs it: help, seed of the demo account, config export/import."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import soundfile
import yaml

from tests.peers.ports import free_port

VPBX = [sys.executable, "-m", "vpbx"]


def run(
    args: list[str], data_dir: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"VPBX_DATA_DIR": str(data_dir), "VPBX_LOG_LEVEL": "WARNING"}
    env.pop("VPBX_DATABASE_URL", None)
    return subprocess.run(
        VPBX + args, env=env, input=stdin, capture_output=True, text=True, timeout=120, check=False
    )


def test_help_lists_the_commands(tmp_path: Path) -> None:
    result = run(["--help"], tmp_path)
    assert result.returncode == 0
    for command in ("run", "migrate", "seed", "operator-token", "config"):
        assert command in result.stdout


def test_seed_creates_the_demo_once_and_config_round_trips(tmp_path: Path) -> None:
    first = run(["seed"], tmp_path)
    assert first.returncode == 0, first.stderr
    assert "admin@demo" in first.stdout
    assert "74950000001" in first.stdout
    assert first.stdout.count("login ") == 2  # two SIP lines with their logins
    again = run(["seed"], tmp_path)
    assert "nothing seeded" in again.stdout

    exported = run(["config", "export", "--account", "1"], tmp_path)
    assert exported.returncode == 0, exported.stderr
    document = yaml.safe_load(exported.stdout)
    assert [e["extension"] for e in document["employees"]] == ["101", "102"]
    assert document["numbers"][0]["number"] == "74950000001"
    assert len(document["numbers"][0]["rules"]) == 2

    imported = run(["config", "import", "--account", "1", "-"], tmp_path, stdin=exported.stdout)
    assert imported.returncode == 0, imported.stderr
    assert run(["config", "export", "--account", "1"], tmp_path).stdout == exported.stdout


def test_import_of_an_invalid_document_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    assert run(["seed"], tmp_path).returncode == 0
    before = run(["config", "export", "--account", "1"], tmp_path).stdout
    document = yaml.safe_load(before)
    document["employees"][0]["extension"] = "8812"
    result = run(
        ["config", "import", "--account", "1", "-"], tmp_path, stdin=yaml.safe_dump(document)
    )
    assert result.returncode == 2
    assert "employees.0.extension" in result.stderr
    assert "88" in result.stderr
    assert run(["config", "export", "--account", "1"], tmp_path).stdout == before


def test_import_dry_run_then_rollback_to_the_previous_version(tmp_path: Path) -> None:
    """Issue 11: a dry run prints the diff and writes nothing; an import keeps the previous
    configuration, which `vpbx config rollback` restores."""
    assert run(["seed"], tmp_path).returncode == 0
    before = run(["config", "export", "--account", "1"], tmp_path).stdout
    document = yaml.safe_load(before)
    document["employees"][0]["last_name"] = "Переименов"
    del document["scenarios"]  # omitted: kept as it is
    changed = yaml.safe_dump(document, allow_unicode=True)
    dry = run(["config", "import", "--account", "1", "--dry-run", "-"], tmp_path, stdin=changed)
    assert dry.returncode == 0, dry.stderr
    assert "dry run" in dry.stdout
    assert "employees: 0 created, 1 changed, 0 deleted" in dry.stdout
    assert "scenarios: kept as it is" in dry.stdout
    assert run(["config", "export", "--account", "1"], tmp_path).stdout == before

    applied = run(["config", "import", "--account", "1", "-"], tmp_path, stdin=changed)
    assert applied.returncode == 0, applied.stderr
    after = run(["config", "export", "--account", "1"], tmp_path).stdout
    assert "Переименов" in after
    assert yaml.safe_load(after)["scenarios"] == yaml.safe_load(before)["scenarios"]
    versions = run(["config", "versions", "--account", "1"], tmp_path)
    assert len(versions.stdout.splitlines()) == 1
    back = run(["config", "rollback", "--account", "1"], tmp_path)
    assert back.returncode == 0, back.stderr
    assert run(["config", "export", "--account", "1"], tmp_path).stdout == before


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_run_serves_the_api_with_the_demo_account(tmp_path: Path) -> None:
    port = free_port()
    env = os.environ | {
        "VPBX_DATA_DIR": str(tmp_path),
        "VPBX_HTTP_PORT": str(port),
        "VPBX_SIP_PORT": str(free_port()),
        "VPBX_METRICS_PORT": str(free_port()),
        "VPBX_SIP_TLS_PORT": str(free_port()),
        "VPBX_LOG_LEVEL": "WARNING",
    }
    env.pop("VPBX_DATABASE_URL", None)
    server = subprocess.Popen(
        [*VPBX, "run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    base = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"{base}/health", timeout=1)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "vpbx run did not serve within 60 s"
                time.sleep(0.2)
        assert health.json()["status"] == "ok"
        # SIP and RTP in one process, the API in another (its uvicorn workers), both children of
        # `vpbx run`: nothing the API does runs on the loop of the calls.
        report = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).json()
        assert report["status"] == "ok"
        assert report["switch"]["pid"] != report["api"]["pid"]
        assert server.pid not in (report["switch"]["pid"], report["api"]["pid"])
        assert _parent(report["switch"]["pid"]) == server.pid
        assert _parent(_parent(report["api"]["pid"])) == server.pid
        # FILE-1: the system messages were generated at start, input_timeout is 1 s of silence.
        system = tmp_path / "system" / "default"
        names = {p.stem for p in system.glob("*.wav")}
        assert {"input_timeout", "voicemail_greeting", "rate_prompt", "queue_message"} <= names
        silence, rate = soundfile.read(system / "input_timeout.wav", dtype="int16")
        assert rate == 8000
        assert len(silence) == 8000
        assert not silence.any()
        rating, _ = soundfile.read(system / "rate_prompt.wav", dtype="int16")
        assert np.abs(rating).max() > 1000  # real speech
        login = httpx.post(
            f"{base}/auth/login", json={"login": "admin@demo", "password": "demo-admin-2026"}
        )
        assert login.status_code == 200
        headers = {"Authorization": f"Bearer {login.json()['token']}"}
        employees = httpx.get(f"{base}/employees", headers=headers).json()
        assert sorted(e["extension"] for e in employees["items"]) == ["101", "102"]
        lines = httpx.get(f"{base}/sip-lines", headers=headers).json()["items"]
        assert len(lines) == 2
        assert all(len(line["login"]) == 7 for line in lines)
    finally:
        server.terminate()
        out, _err = server.communicate(timeout=30)
    for line in lines:
        assert line["login"] in out  # printed for the user to type into a phone
