"""Each account's configuration as the scenario engine reads it, cached between calls.

Loading a snapshot reads every configuration table of the account; a burst of calls must not do
that for each call. A snapshot is reused (refreshed in the background every `ttl` seconds) until
the API says the account's configuration changed (`invalidate`), so a saved change reaches the
next call (GRP-3).

The switch holds no SQL: snapshots and caller facts come from a `SnapshotSource` (the database
one is `vpbx.services.snapshot_source.SqlSnapshotSource`, wired in `vpbx.app`).
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from vpbx.domain.entities.scenarios import (
    RegionDistribution,
    SegmentDistribution,
    VisitDistribution,
)
from vpbx.domain.schedule import is_active
from vpbx.scenario.snapshot import CallerFacts, ConfigSnapshot
from vpbx.switch.memo import Memo

#: how long a loaded configuration is reused without the API saying it changed
SNAPSHOT_TTL = 5.0
#: operations that read the caller's history (visits, segments) or numbering-plan region
FACT_OPERATIONS = (VisitDistribution, SegmentDistribution, RegionDistribution)


class SnapshotSource(Protocol):
    """Where an account's configuration and a caller's history are read from (uncached)."""

    async def snapshot(self, account_id: int) -> ConfigSnapshot: ...

    async def facts(self, account_id: int, caller: str, now: dt.datetime) -> CallerFacts: ...


class SnapshotCache:
    """Each account's `ConfigSnapshot`: loaded once for concurrent calls, refreshed in the
    background after `ttl` seconds, dropped at once by `invalidate`."""

    def __init__(self, source: SnapshotSource, ttl: float = SNAPSHOT_TTL) -> None:
        self.source = source
        self._memo: Memo[tuple[ConfigSnapshot, bool]] = Memo(ttl)

    def invalidate(self, account_id: int) -> None:
        self._memo.discard(account_id)

    async def get(self, account_id: int) -> tuple[ConfigSnapshot, bool]:
        """The snapshot, and whether its scenarios need the caller's history (visits...)."""
        return await self._memo.get(account_id, lambda: self._load(account_id))

    async def _load(self, account_id: int) -> tuple[ConfigSnapshot, bool]:
        snapshot = await self.source.snapshot(account_id)
        needs_facts = any(
            isinstance(op, FACT_OPERATIONS)
            for scenario in snapshot.scenarios.values()
            for op in scenario.operations
        )
        return snapshot, needs_facts

    async def facts(self, account_id: int, caller: str, now: dt.datetime) -> CallerFacts:
        return await self.source.facts(account_id, caller, now)

    async def in_schedule(self, account_id: int, schedule_id: int | None, at: dt.datetime) -> bool:
        """Whether the account's schedule `schedule_id` is active at `at` (None: always)."""
        if schedule_id is None:
            return True
        config, _ = await self.get(account_id)
        return schedule_active(config, schedule_id, at)


def schedule_active(config: ConfigSnapshot, schedule_id: int | None, at: dt.datetime) -> bool:
    """Whether a schedule of the account is active at `at` (EMP-4: none, or one not found, is
    around the clock)."""
    if schedule_id is None or schedule_id not in config.schedules:
        return True
    _name, spec = config.schedules[schedule_id]
    return is_active(spec, at, config.tz, config.calendar)
