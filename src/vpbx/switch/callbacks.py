"""The node's callback scheduler (CB-1..3) and CallAPI's calls (API-1): an asyncio task in the
switch process that claims due tasks from the database (`CallbackTasks`, implemented by
`vpbx.services.callbacks.SqlCallbackTasks`), places one call per attempt through the
`Originator`, and records how it went. Missed calls reach it from the runner (`missed`).

Nothing is kept only in memory: a task is a row, claimed under a lease. At start the leases of
this node's previous run are released (it died mid-attempt), so a task due while the PBX was
down runs once when it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from vpbx.domain.callback_plan import DueTask, MissedCall, missed_call
from vpbx.domain.switch_records import CallRecord
from vpbx.scenario.callback_calls import NotPlaced, plan_of
from vpbx.scenario.originate import Outcome
from vpbx.scenario.record_by_phone import RECORD, recording_plan
from vpbx.scenario.snapshot import ConfigSnapshot
from vpbx.switch.originated import Originator, Placed
from vpbx.switch.snapshots import SnapshotCache

__all__ = ["CallbackScheduler", "CallbackTasks"]

log = logging.getLogger("vpbx.switch.callbacks")

#: how often the database is asked for due tasks at most (tasks made by the API process, by
#: another node, or due later)
POLL = 1.0
#: how long a claimed attempt may run before another node may take the task again
LEASE = 900.0
#: attempts a node runs at once (each rule's own `max_concurrent` applies within)
CONCURRENCY = 20
#: seconds between the retries of recording an attempt's result (then a last try)
FINISH_RETRIES = (0.05, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


class CallbackTasks(Protocol):
    async def missed(
        self, missed: MissedCall, config: ConfigSnapshot, now: dt.datetime
    ) -> int | None: ...

    async def claim(
        self, node: str, now: dt.datetime, limit: int, lease: float
    ) -> list[DueTask]: ...

    async def finish(
        self,
        task: DueTask,
        talked: bool,
        result: str,
        call_id: int | None,
        config: ConfigSnapshot | None,
        now: dt.datetime,
        *,
        final: bool = False,
    ) -> None: ...

    async def release(self, node: str, now: dt.datetime) -> int: ...

    async def renew(
        self, node: str, ids: Sequence[int], now: dt.datetime, lease: float
    ) -> None: ...

    async def expire(self, now: dt.datetime) -> int: ...

    async def next_due(self, now: dt.datetime) -> dt.datetime | None: ...


class CallbackScheduler:
    def __init__(
        self,
        tasks: CallbackTasks,
        originator: Originator,
        snapshots: SnapshotCache,
        clock: Callable[[], dt.datetime],
        node: str,
        *,
        poll: float = POLL,
        lease: float = LEASE,
        concurrency: int = CONCURRENCY,
    ) -> None:
        self.tasks = tasks
        self.originator = originator
        self.snapshots = snapshots
        self.clock = clock
        self.node = node
        self.poll = poll
        self.lease = lease
        self.concurrency = concurrency
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[Any]] = set()
        #: the tasks whose attempts this node is placing now (their leases are renewed)
        self._attempts: set[int] = set()
        self._renewed = 0.0
        #: attempts placed since the start (tests, health)
        self.placed = 0

    def start(self) -> None:
        if self._loop_task is None:
            self._loop_task = asyncio.ensure_future(self._forever())

    async def stop(self) -> None:
        task, self._loop_task = self._loop_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for attempt in list(self._running):
            attempt.cancel()
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    def wake(self) -> None:
        self._wake.set()

    def call_over(self, record: CallRecord, call_id: int, config: ConfigSnapshot) -> None:
        """The runner's hook: a finished call; a missed one may make a task (CB-1)."""
        missed = missed_call(record, call_id)
        if missed is not None:
            self._spawn(self._missed(missed, config))

    async def _missed(self, missed: MissedCall, config: ConfigSnapshot) -> None:
        task_id = await self.tasks.missed(missed, config, self.clock())
        if task_id is not None:
            log.info("callback task made", extra={"task": task_id, "caller": missed.caller})
            self.wake()

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._running.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("callback work failed", exc_info=task.exception())
        self.wake()

    async def _forever(self) -> None:
        try:
            released = await self.tasks.release(self.node, self.clock())
            if released:
                log.info("callback attempts of the previous run released", extra={"n": released})
        except Exception:
            log.exception("callback tasks not released")
        while True:
            try:
                await self.run_due()
            except Exception:
                log.exception("callback tasks not claimed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll)
            self._wake.clear()

    async def run_due(self) -> int:
        """Claim what is due (within this node's free slots) and place each attempt."""
        now = self.clock()
        clock = asyncio.get_running_loop().time()
        if self._attempts and clock - self._renewed >= self.lease / 3:
            self._renewed = clock
            await self.tasks.renew(self.node, sorted(self._attempts), now, self.lease)
        await self.tasks.expire(now)
        free = self.concurrency - len(self._running)
        claimed = await self.tasks.claim(self.node, now, free, self.lease)
        for task in claimed:
            self._spawn(self._attempt(task))
        return len(claimed)

    async def _attempt(self, task: DueTask) -> None:
        self._attempts.add(task.id)
        try:
            await self._place(task)
        finally:
            self._attempts.discard(task.id)

    async def _place(self, task: DueTask) -> None:
        config: ConfigSnapshot | None = None
        try:
            config, _ = await self.snapshots.get(task.account_id)
            plan = (
                recording_plan(task)  # FILE-1: a sound file recorded by phone
                if task.kind == RECORD
                else plan_of(task, config, self.clock())
            )
            if isinstance(plan, NotPlaced):
                await self._finish(task, False, plan.reason, None, config, final=plan.final)
                return
            self.placed += 1
            # a row written beforehand (CallAPI's); a callback's is its previous attempt's call
            row = task.result_call_id if task.kind != "callback" else None
            live = self.originator.place(plan, row)
            placed: Placed = await live.placed
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.exception("callback attempt failed", extra={"task": task.id})
            await self._finish(task, False, f"сбой: {error}", None, config)
            return
        talked = placed.outcome in (Outcome.TALKED, Outcome.RECORDED)
        result = f"{placed.outcome.value}: {placed.reason}"
        await self._finish(task, talked, result, placed.call_id, config)

    async def _finish(
        self,
        task: DueTask,
        talked: bool,
        result: str,
        call_id: int | None,
        config: ConfigSnapshot | None,
        *,
        final: bool = False,
    ) -> None:
        """Record the attempt, retrying while the database refuses (SQLite busy, a failover):
        a task left running would be placed again when its lease ran out, calling a client who
        already talked (the lease is renewed meanwhile: the task is still among `_attempts`)."""
        for delay in FINISH_RETRIES:
            try:
                await self.tasks.finish(
                    task, talked, result, call_id, config, self.clock(), final=final
                )
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("callback attempt not recorded, retrying", extra={"task": task.id},
                            exc_info=True)  # fmt: skip
                await asyncio.sleep(delay)
        await self.tasks.finish(task, talked, result, call_id, config, self.clock(), final=final)
