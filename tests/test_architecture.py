"""The rules of the house that a linter would check: sans-IO cores import no I/O and no clock,
and the layers of `.importlinter` (import-linter's contracts, also run by `make lint`)."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "vpbx"
CONTRACTS = ROOT / ".importlinter"
FORBIDDEN = {"asyncio", "socket", "selectors", "threading", "time", "uvloop", "subprocess"}
# The pure parts of media; sessions on asyncio live in other media modules.
PURE_MEDIA = {"g711", "rtp", "dtmf", "tones", "mixer", "jitter", "codecs", "kernel_rtp_rules"}


def sans_io_modules() -> list[Path]:
    found = sorted((SRC / "sip").rglob("*.py")) + sorted((SRC / "scenario").rglob("*.py"))
    found += [p for p in sorted((SRC / "media").glob("*.py")) if p.stem in PURE_MEDIA]
    found += [SRC / "domain" / "schedule.py", SRC / "domain" / "scenario_graph.py"]
    return found


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def clock_calls(path: Path) -> list[str]:
    """Calls such as datetime.now() or date.today(): a sans-IO core takes `now` as an argument."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"now", "today", "utcnow", "monotonic", "perf_counter"}
        ):
            found.append(f"line {node.lineno}: .{node.func.attr}()")
    return found


def test_the_sans_io_set_is_not_empty() -> None:
    modules = sans_io_modules()
    assert SRC / "domain" / "schedule.py" in modules
    assert any(p.parent.name == "sip" for p in modules)


@pytest.mark.parametrize("path", sans_io_modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_sans_io_core_imports_no_io(path: Path) -> None:
    assert imported_roots(path) & FORBIDDEN == set()
    assert clock_calls(path) == []


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import asyncio\nfrom time import monotonic\nimport datetime\ndatetime.datetime.now()\n"
    )
    assert imported_roots(bad) & FORBIDDEN == {"asyncio", "time"}
    assert clock_calls(bad) == ["line 4: .now()"]


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` with the project's contracts on the `vpbx` package found in `cwd`."""
    script = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(script), "--no-cache", str(CONTRACTS)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        # one violation per line, not wrapped at 80 columns
        env=os.environ | {"COLUMNS": "1000"},
    )


def test_the_import_contracts_are_kept() -> None:
    result = lint_imports(SRC.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


def test_the_contracts_see_a_violation(tmp_path: Path) -> None:
    copy = tmp_path / "vpbx"
    shutil.copytree(SRC, copy, ignore=shutil.ignore_patterns("__pycache__"))
    errors = copy / "domain" / "errors.py"
    errors.write_text(errors.read_text(encoding="utf-8") + "\nimport sqlalchemy\n")
    deps = copy / "api" / "deps.py"
    deps.write_text(deps.read_text(encoding="utf-8") + "\nimport vpbx.switch.pbx\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "vpbx.domain.errors -> sqlalchemy" in result.stdout
    assert "vpbx.api.deps -> vpbx.switch.pbx" in result.stdout
