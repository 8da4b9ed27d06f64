"""The rules of the house that a linter would check: sans-IO cores import no I/O and no clock."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "vpbx"
FORBIDDEN = {"asyncio", "socket", "selectors", "threading", "time", "uvloop", "subprocess"}
# The pure parts of media; sessions on asyncio live in other media modules.
PURE_MEDIA = {"g711", "rtp", "dtmf", "tones", "mixer", "jitter", "codecs"}


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
