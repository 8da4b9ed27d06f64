"""Each account's configuration as the scenario engine reads it, cached between calls.

Loading a snapshot reads every configuration table of the account; a burst of calls must not do
that for each call. A snapshot is reused (refreshed in the background every `ttl` seconds) until
the API says the account's configuration changed (`invalidate`), so a saved change reaches the
next call (GRP-3).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from vpbx.domain.actor import Actor, Role
from vpbx.domain.entities.scenarios import (
    RegionDistribution,
    SegmentDistribution,
    VisitDistribution,
)
from vpbx.scenario.snapshot import CallerFacts, ConfigSnapshot
from vpbx.services.entities import EntityService
from vpbx.services.scenario_config import load_caller_facts, load_snapshot
from vpbx.switch.memo import Memo

Clock = Callable[[], dt.datetime]

#: how long a loaded configuration is reused without the API saying it changed
SNAPSHOT_TTL = 5.0
#: operations that read the caller's history (visits, segments) or numbering-plan region
FACT_OPERATIONS = (VisitDistribution, SegmentDistribution, RegionDistribution)


class SnapshotCache:
    """Each account's `ConfigSnapshot`: loaded once for concurrent calls, refreshed in the
    background after `ttl` seconds, dropped at once by `invalidate`."""

    def __init__(self, engine: AsyncEngine, clock: Clock, ttl: float = SNAPSHOT_TTL) -> None:
        self.engine = engine
        self.clock = clock
        self._memo: Memo[tuple[ConfigSnapshot, bool]] = Memo(ttl)

    def invalidate(self, account_id: int) -> None:
        self._memo.discard(account_id)

    async def get(self, account_id: int) -> tuple[ConfigSnapshot, bool]:
        """The snapshot, and whether its scenarios need the caller's history (visits...)."""
        return await self._memo.get(account_id, lambda: self._load(account_id))

    async def _load(self, account_id: int) -> tuple[ConfigSnapshot, bool]:
        async with self.engine.connect() as conn:
            svc = EntityService(conn, Actor(Role.ADMIN, account_id), self.clock)
            snapshot = await load_snapshot(svc)
        needs_facts = any(
            isinstance(op, FACT_OPERATIONS)
            for scenario in snapshot.scenarios.values()
            for op in scenario.operations
        )
        return snapshot, needs_facts

    async def facts(self, account_id: int, caller: str, now: dt.datetime) -> CallerFacts:
        async with self.engine.connect() as conn:
            svc = EntityService(conn, Actor(Role.ADMIN, account_id), self.clock)
            return await load_caller_facts(svc, caller, now)
