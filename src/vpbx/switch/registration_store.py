"""The registrar's bindings written to the database as they change, by group commit.

A REGISTER is answered 200 only once its binding is committed, so a binding the phone was told
about survives a `kill -9` of the switch at any moment after. To keep that off the REGISTER
path's cost, every binding change that arrives while a commit is in flight joins the next one:
a burst of N REGISTERs costs a couple of commits, not N, and each waits at most for the commit
in flight plus its own (a few ms on SQLite).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncEngine

from vpbx.services.registrations import (
    StoredBinding,
    drop_bindings,
    load_bindings,
    save_bindings,
)

log = logging.getLogger("vpbx.switch.registrations")

Clock = Callable[[], dt.datetime]


class RegistrationStore:
    def __init__(self, engine: AsyncEngine, clock: Clock, *, node: str = "") -> None:
        self.engine = engine
        self.clock = clock
        self.node = node
        self._pending: dict[int, Sequence[StoredBinding]] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._writing: asyncio.Task[None] | None = None

    async def save(self, line_id: int, bindings: Sequence[StoredBinding]) -> None:
        """Store a line's current bindings; returns once they are committed."""
        self._pending[line_id] = bindings  # a newer state of the line replaces an unwritten one
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(done)
        if self._writing is None:
            self._writing = asyncio.ensure_future(self._write())
        await done

    async def _write(self) -> None:
        try:
            while self._pending:
                lines, self._pending = self._pending, {}
                waiters, self._waiters = self._waiters, []
                try:
                    async with self.engine.begin() as conn:
                        await save_bindings(conn, lines, self.clock(), node=self.node)
                except Exception as error:
                    log.exception("registrations not stored", extra={"lines": len(lines)})
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_exception(error)
                    continue
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(None)
        finally:
            self._writing = None

    async def load(self) -> list[StoredBinding]:
        async with self.engine.begin() as conn:
            return await load_bindings(conn, self.clock())

    async def drop(self, row_ids: Sequence[int]) -> None:
        async with self.engine.begin() as conn:
            await drop_bindings(conn, row_ids)


__all__ = ["RegistrationStore"]
