"""What every benchmark returns, and how a rate is measured (best of several rounds)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class Result:
    name: str
    value: float
    unit: str
    reference: str | None
    reference_value: float | None
    ratio: float | None
    target: str | None


def rate(
    work: Callable[[], object], batch: int, rounds: int = 5, min_seconds: float = 0.2
) -> float:
    """Best operations per second over `rounds` rounds of at least `min_seconds` each."""
    best = 0.0
    for _ in range(rounds):
        done = 0
        start = time.perf_counter()
        while True:
            work()
            done += batch
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                break
        best = max(best, done / elapsed)
    return best


@contextlib.contextmanager
def work_folder(name: str) -> Iterator[Path]:
    """A temporary folder for one campaign's processes and files, removed after it; kept (and
    its path printed) when VPBX_BENCH_KEEP is set."""
    root = Path(tempfile.mkdtemp(prefix=f"vpbx-bench-{name}-"))
    try:
        yield root
    finally:
        if os.environ.get("VPBX_BENCH_KEEP"):
            print(f"[{name}] kept {root}", flush=True)
        else:
            shutil.rmtree(root, ignore_errors=True)


def sizes(variable: str, defaults: tuple[float, ...]) -> tuple[float, ...]:
    """A campaign's durations: `defaults`, or as many comma-separated numbers from the
    environment variable `variable` (shorter ones, for a quick check of the benchmark itself)."""
    custom = os.environ.get(variable, "")
    if not custom:
        return defaults
    found = tuple(float(x) for x in custom.split(","))
    if len(found) != len(defaults):
        raise ValueError(f"{variable} wants {len(defaults)} numbers: {custom!r}")
    return found


@dataclass
class CampaignLog:
    """What a campaign saw, line by line: printed as it goes (under its TAG) and kept for its
    method paragraph in docs/benchmarks.md."""

    TAG: ClassVar[str] = "bench"
    log: list[str] = field(default_factory=list)

    def say(self, text: str) -> None:
        self.log.append(text)
        print(f"[{self.TAG}] {text}", flush=True)
