"""A benchmark module run alone replaces its own rows and method paragraph in docs/benchmarks.*
and keeps everyone else's (vpbx.bench.merge)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from vpbx.bench.core import Result
from vpbx.bench.merge import merge_rows


def row(name: str, value: float) -> Result:
    return Result(name, value, "ms", None, None, None, None)


def test_merge_replaces_own_rows_and_paragraph_only(tmp_path: Path) -> None:
    other, old, stale = row("other: x", 1), row("mine: a", 2), row("mine: renamed", 3)
    (tmp_path / "benchmarks.json").write_text(json.dumps([vars_of(r) for r in (other, old, stale)]))
    (tmp_path / "benchmarks.md").write_text(
        "# Benchmarks\n\nOther (`x`): words\n- other log\n\nMine (`m`): old words\n- old log\n\n"
        "| name | value | unit | reference | reference value | ratio | target |\n"
        "| --- | --- | --- | --- | --- | --- | --- |\n"
        "| other: x | 1 | ms | — | — | — | — |\n| mine: a | 2 | ms | — | — | — | — |\n"
        "| mine: renamed | 3 | ms | — | — | — | — |\n"
    )
    merge_rows([row("mine: a", 20)], "mine:", ["Mine (`m`): new words"], ["new log"], tmp_path)

    rows = json.loads((tmp_path / "benchmarks.json").read_text())
    assert [(r["name"], r["value"]) for r in rows] == [("other: x", 1), ("mine: a", 20)]
    md = (tmp_path / "benchmarks.md").read_text()
    assert "Other (`x`): words\n- other log\n" in md
    assert "old" not in md
    # the paragraph says when it was measured (the header's date is the last full run's)
    assert re.search(
        r"Mine \(`m`\): new words\n"
        r"- measured alone \d{4}-\d\d-\d\d \d\d:\d\d UTC\n- new log\n\n\| name \|",
        md,
    )
    assert md.endswith(
        "| other: x | 1 | ms | — | — | — | — |\n| mine: a | 20 | ms | — | — | — | — |\n"
    )


def vars_of(r: Result) -> dict[str, object]:
    return {k: getattr(r, k) for k in Result.__dataclass_fields__}
