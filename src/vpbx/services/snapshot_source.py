"""An account's configuration snapshot and a caller's facts read from the database (SQL behind
`vpbx.switch.snapshots.SnapshotSource`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from vpbx.domain.actor import Actor, Role
from vpbx.scenario.snapshot import CallerFacts, ConfigSnapshot
from vpbx.services.entities import EntityService
from vpbx.services.scenario_config import load_caller_facts, load_snapshot

__all__ = ["SqlSnapshotSource"]


class SqlSnapshotSource:
    """Implements `vpbx.switch.snapshots.SnapshotSource`."""

    def __init__(self, engine: AsyncEngine, clock: Callable[[], dt.datetime]) -> None:
        self.engine = engine
        self.clock = clock

    async def snapshot(self, account_id: int) -> ConfigSnapshot:
        async with self.engine.connect() as conn:
            svc = EntityService(conn, Actor(Role.ADMIN, account_id), self.clock)
            return await load_snapshot(svc)

    async def facts(self, account_id: int, caller: str, now: dt.datetime) -> CallerFacts:
        async with self.engine.connect() as conn:
            svc = EntityService(conn, Actor(Role.ADMIN, account_id), self.clock)
            return await load_caller_facts(svc, caller, now)
