"""The registrar's bindings written to the database as they change, by group commit.

A REGISTER is answered 200 only once its binding is committed, so a binding the phone was told
about survives a `kill -9` of the switch at any moment after. To keep that off the REGISTER
path's cost, every binding change that arrives while a commit is in flight joins the next one:
a burst of N REGISTERs costs a couple of commits, not N, and each waits at most for the commit
in flight plus its own (a few ms on SQLite). Under a steady stream a commit also waits `gather`
(10 ms) for more to join it when the previous one ended less than that ago; an idle store
commits at once (3 ms held 1,250 REGISTER/s on one core, 10 ms 1,500: docs/decisions.md).

The switch holds no SQL: the storage is a `BindingStorage` (the database one is
`vpbx.services.registrations.SqlBindingStorage`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from vpbx.domain.switch_records import StoredBinding

log = logging.getLogger("vpbx.switch.registrations")

Clock = Callable[[], dt.datetime]
#: told when a submitted change is committed (None) or could not be (the error)
Done = Callable[[BaseException | None], None]


class BindingStorage(Protocol):
    """Where bindings are kept across restarts (each call one transaction)."""

    async def save(
        self, lines: Mapping[int, Sequence[StoredBinding]], now: dt.datetime, node: str
    ) -> None: ...

    async def load(self, now: dt.datetime) -> list[StoredBinding]:
        """Every unexpired binding (the expired ones are dropped)."""
        ...

    async def drop(self, row_ids: Sequence[int]) -> None: ...


#: seconds a commit waits for more changes when the last one ended less than this ago
GATHER = 0.010


class RegistrationStore:
    def __init__(
        self, storage: BindingStorage, clock: Clock, *, node: str = "", gather: float = GATHER
    ) -> None:
        self.storage = storage
        self.clock = clock
        self.node = node
        #: under load (a commit ended less than `gather` s ago) a commit waits `gather` s for
        #: more changes to join it (see `_write`); an idle store commits at once
        self.gather = gather
        self._pending: dict[int, Sequence[StoredBinding]] = {}
        self._waiters: list[Done] = []
        self._writing: asyncio.Task[None] | None = None
        self._ended = float("-inf")  # the loop time the last commit ended

    async def save(self, line_id: int, bindings: Sequence[StoredBinding]) -> None:
        """Store a line's current bindings; returns once they are committed."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def settle(error: BaseException | None) -> None:
            if done.done():
                return
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)

        self.submit(line_id, bindings, settle)
        await done

    def submit(self, line_id: int, bindings: Sequence[StoredBinding], done: Done) -> None:
        """`save` for a caller that does not await: `done` is called once the bindings are
        committed (with None) or failed to be (with the error)."""
        self._pending[line_id] = bindings  # a newer state of the line replaces an unwritten one
        self._waiters.append(done)
        if self._writing is None:
            self._writing = asyncio.ensure_future(self._write())

    async def _write(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            if loop.time() - self._ended < self.gather:
                # REGISTERs in quick succession: with only those that came during the commit
                # in flight, most commits held one or two lines, and a commit's fixed cost
                # (~0.3 ms of CPU, mostly hops to the driver's thread) was a fifth of a
                # REGISTER's. Waiting a few ms lets more join; an idle store does not wait.
                await asyncio.sleep(self.gather)
            while self._pending:
                lines, self._pending = self._pending, {}
                waiters, self._waiters = self._waiters, []
                try:
                    await self.storage.save(lines, self.clock(), self.node)
                except Exception as error:
                    self._ended = loop.time()
                    log.exception("registrations not stored", extra={"lines": len(lines)})
                    _tell(waiters, error)
                    continue
                self._ended = loop.time()
                _tell(waiters, None)
        finally:
            self._writing = None

    async def load(self) -> list[StoredBinding]:
        return await self.storage.load(self.clock())

    async def drop(self, row_ids: Sequence[int]) -> None:
        await self.storage.drop(row_ids)


def _tell(waiters: list[Done], error: BaseException | None) -> None:
    for done in waiters:
        try:
            done(error)
        except Exception:  # one waiter's failure must not keep the others unanswered
            log.exception("a registration's commit callback failed")


__all__ = ["GATHER", "BindingStorage", "Done", "RegistrationStore"]
