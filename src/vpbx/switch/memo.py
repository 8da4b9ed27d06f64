"""Answers of the configuration kept for a while, loaded once however many calls ask at once.

A burst of calls must not each read the same rows: the first asks the database, the others
wait for its answer (single flight). An answer older than `ttl` is still given out while one
background load refreshes it, so the expiry of an entry never stalls the calls of that moment.
`clear()` (the API saved a change) drops everything at once, and a load that started before it
is not kept. A load that raises LookupError says the thing is gone: its old answer is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

V = TypeVar("V")

log = logging.getLogger("vpbx.switch.memo")


class Memo(Generic[V]):
    def __init__(
        self, ttl: float, limit: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.limit = limit
        self.clock = clock
        self._entries: dict[Hashable, tuple[float, V]] = {}
        self._loading: dict[Hashable, asyncio.Future[V]] = {}
        self._generation = 0

    def clear(self) -> None:
        self._entries.clear()
        self._loading.clear()
        self._generation += 1

    def discard(self, key: Hashable) -> None:
        self._entries.pop(key, None)
        self._loading.pop(key, None)
        self._generation += 1  # a load already under way may have read the old rows

    async def get(self, key: Hashable, load: Callable[[], Awaitable[V]]) -> V:
        entry = self._entries.get(key)
        if entry is not None:
            at, value = entry
            if self.clock() - at >= self.ttl and key not in self._loading:
                refresh = self._start(key, load)
                refresh.add_done_callback(_quiet)
            return value
        pending = self._loading.get(key) or self._start(key, load)
        return await asyncio.shield(pending)

    def _start(self, key: Hashable, load: Callable[[], Awaitable[V]]) -> asyncio.Future[V]:
        generation = self._generation
        started = self.clock()
        future = asyncio.ensure_future(load())
        self._loading[key] = future

        def done(task: asyncio.Future[V]) -> None:
            if self._loading.get(key) is task:
                del self._loading[key]
            if task.cancelled():
                return
            if task.exception() is not None:
                # Gone (a LookupError of the load): the old answer must not outlive it; any
                # other failure (the database unreachable) leaves the old answer in place.
                if isinstance(task.exception(), LookupError) and generation == self._generation:
                    self._entries.pop(key, None)
                return
            if generation == self._generation:
                if len(self._entries) >= self.limit:
                    self._entries.clear()
                self._entries[key] = (started, task.result())

        future.add_done_callback(done)
        return future


def _quiet(task: asyncio.Future[Any]) -> None:
    """A background refresh that failed leaves the old answer in place (and a log line)."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("configuration refresh failed", exc_info=task.exception())
