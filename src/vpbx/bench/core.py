"""What every benchmark returns, and how a rate is measured (best of several rounds)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


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
