"""The strategy math of DST-1..6: presets, ring width over time, orders, percentages."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from vpbx.domain.entities.scenarios import Distribution, Strategy
from vpbx.scenario.distribution.model import Settings

__all__ = [
    "TALK_WINDOW",
    "WAIT_STATS_WINDOW",
    "equalize",
    "in_turn_index",
    "least_first",
    "percentage_order",
    "resolve_settings",
    "width_at",
]

#: DST-1/DST-2: talk time and directed calls are counted over the last 12 hours (inclusive).
TALK_WINDOW = 12 * 3600.0
#: QUE-5: the estimated wait uses the average talk time on the phones over the last 30 days.
WAIT_STATS_WINDOW = 30 * 86400.0

T = TypeVar("T")


def resolve_settings(
    strategy: Strategy, distribution: Distribution, group_simultaneous_lines: int | None = None
) -> Settings:
    """The effective knobs of a Forward operation.

    * PRIORITY and IN_TURN ring one line at a time, each phone for its own ring timeout.
    * FASTEST starts with `initial_lines` (5) and adds one every `add_line_every` (5) seconds.
    * SUPPORT, SALES and CUSTOM ring `simultaneous_lines` of the operation, else those of the
      (first) group, else 1; CUSTOM's `ring_timeout` overrides the phones' own timeouts.
    * Queue and wrap-up come from the operation for every strategy; percentages only for CUSTOM.
    """
    lines = distribution.simultaneous_lines or group_simultaneous_lines or 1
    width = {
        Strategy.PRIORITY: 1,
        Strategy.IN_TURN: 1,
        Strategy.FASTEST: distribution.initial_lines,
    }.get(strategy, lines)
    custom = strategy is Strategy.CUSTOM
    timeout = distribution.ring_timeout if custom else None
    return Settings(
        strategy=strategy,
        simultaneous_lines=width,
        ring_timeout=float(timeout) if timeout is not None else None,
        percentage=custom and distribution.percentage,
        queue=distribution.queue,
        wrapup_seconds=float(distribution.wrapup_seconds),
        initial_lines=distribution.initial_lines,
        add_line_every=float(distribution.add_line_every),
    )


def width_at(settings: Settings, elapsed: float) -> int:
    """How many lines may ring at once `elapsed` seconds after the call reached the operation.

    FASTEST: `initial_lines` + one per whole `add_line_every` elapsed (5, 6, 7 … at 0, 5, 10 s).
    """
    if settings.strategy is Strategy.FASTEST:
        steps = int(max(elapsed, 0.0) // settings.add_line_every)
        return settings.initial_lines + steps
    return settings.simultaneous_lines


def next_width_change(settings: Settings, started: float, now: float) -> float | None:
    """When the width grows next (FASTEST only)."""
    if settings.strategy is not Strategy.FASTEST:
        return None
    steps = int(max(now - started, 0.0) // settings.add_line_every) + 1
    return started + steps * settings.add_line_every


def least_first(items: Sequence[T], metric: Callable[[T], float]) -> list[T]:
    """DST-1/DST-2: least talk time / fewest directed calls first; ties keep configured order."""
    return sorted(items, key=metric)  # sorted() is stable


def percentage_order(
    items: Sequence[T], percent: Callable[[T], float], count: Callable[[T], int]
) -> list[T]:
    """GRP-2 percentages: the phone furthest below its share goes first.

    Deficit = share × (calls so far + 1) − calls of the phone; the largest deficit wins, ties
    keep the configured order. Phones with 0 % are left out by the caller. A call counts for the
    phone it is directed to first; with every phone free this is a smooth weighted round robin
    (each count stays within about one call of its share), and a phone skipped while busy is
    preferred afterwards until it has caught up.
    """
    total_percent = sum(percent(i) for i in items) or 1.0
    total = sum(count(i) for i in items) + 1

    def key(item: T) -> float:
        return -(percent(item) / total_percent * total - count(item))

    return sorted(items, key=key)


def in_turn_index(turn: int, employees: int) -> int:
    """DST-4: caller number `turn` (1-based) goes to employee number `turn` (wrapping round)."""
    return (turn - 1) % employees


def equalize(count: int) -> list[float]:
    """«Уравнять проценты»: equal percents with two decimals that add up to exactly 100."""
    if count <= 0:
        return []
    cents = 10000
    base, extra = divmod(cents, count)
    return [(base + (1 if i < extra else 0)) / 100 for i in range(count)]
