"""A benchmark module run alone puts its rows into docs/benchmarks.{json,md}, the others kept.

`make bench` (`python -m vpbx.bench`) writes both files whole; `python -m vpbx.bench.<module>`
replaces only its own rows (by name, and any older row under its prefix: a renamed row does not
linger) and its own method paragraph with the run's log (found by the paragraph's first words).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

from vpbx.bench.core import Result

__all__ = ["merge_rows", "run_alone", "table_row"]

DOCS = Path(__file__).resolve().parents[3] / "docs"


def table_row(r: Result) -> str:
    """A row of docs/benchmarks.md's table (as `python -m vpbx.bench` writes it)."""
    ref = r.reference or "—"
    ref_value = f"{r.reference_value:,.0f}" if r.reference_value is not None else "—"
    ratio = f"{r.ratio:.2f}" if r.ratio is not None else "—"
    return (
        f"| {r.name} | {r.value:,.0f} | {r.unit} | {ref} | {ref_value} | {ratio} "
        f"| {r.target or '—'} |"
    )


def merge_rows(
    results: Sequence[Result],
    prefix: str,
    method: Sequence[str],
    log: Sequence[str],
    docs: Path = DOCS,
) -> None:
    """Replace the rows named like `results` (or starting with `prefix`) and the paragraph that
    begins with `method[0]`'s first word group (up to its first "("), keep everything else."""
    names = {r.name for r in results}

    def ours(name: str) -> bool:
        return name in names or name.startswith(prefix)

    path = docs / "benchmarks.json"
    rows = json.loads(path.read_text()) if path.exists() else []
    kept = [row for row in rows if not ours(str(row.get("name", "")))]
    path.write_text(json.dumps([*kept, *(asdict(r) for r in results)], indent=2) + "\n")

    md = docs / "benchmarks.md"
    if not md.exists():
        return
    lines = md.read_text().splitlines()
    head = method[0].split("(", 1)[0] + "("
    start = next((i for i, line in enumerate(lines) if line.startswith(head)), None)
    if start is not None:  # the previous run's paragraph, its log and the blank line after
        end = start + 1
        while end < len(lines) and lines[end] and not lines[end].startswith("| name |"):
            end += 1
        del lines[start : end + 1 if end < len(lines) and not lines[end] else end]
    table = next(i for i, line in enumerate(lines) if line.startswith("| name |"))
    # The header's date is the last full run's: a paragraph measured alone says its own.
    when = f"measured alone {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
    lines[table:table] = [*method, f"- {when}", *(f"- {line}" for line in log), ""]
    lines = [
        line for line in lines if not (line.startswith("| ") and ours(line[2:].split(" | ", 1)[0]))
    ]
    lines += [table_row(r) for r in results]
    md.write_text("\n".join(lines) + "\n")


def run_alone(
    benchmarks: Sequence[Callable[[], Result]],
    prefix: str,
    method: Sequence[str],
    log: Callable[[], Sequence[str]],
) -> None:
    """`python -m vpbx.bench.<module>`: its rows measured, merged (`merge_rows`) and printed."""
    found = [bench() for bench in benchmarks]
    merge_rows(found, prefix, method, log())
    for row in found:
        print(row)
