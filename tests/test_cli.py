"""The `vpbx` command as a user runs it: help, seed of the demo account, config export/import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

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
