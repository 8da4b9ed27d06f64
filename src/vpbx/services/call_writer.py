"""The calls report as the switch's call store writes it (SQL behind
`vpbx.switch.call_store.CallWriter`): one transaction per batch of calls starting and ending,
the node's heartbeat with the details of calls in progress, rows a dead node left active,
recordings into the file base. The webhook events of the calls (API-2) go into the outbox in the
same transactions (`vpbx.services.webhook_events`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from vpbx.domain.entities.misc import FileKind, WebhookEvent
from vpbx.services.call_log import (
    CallRecord,
    CallStart,
    InterruptedCall,
    StepRecord,
    add_step,
    add_steps,
    begin_calls,
    close_interrupted,
    finish_calls,
    heartbeat,
    mark_answered,
    write_calls,
)
from vpbx.services.file_store import adopt_partial_recording, save_recording
from vpbx.services.webhook_events import (
    CallEvent,
    answered_before,
    end_events,
    enqueue_call_events,
    hooked_accounts,
)
from vpbx.storage import tables as t

__all__ = ["SqlCallWriter"]


class SqlCallWriter:
    """Implements `vpbx.switch.call_store.CallWriter` on the calls tables and the file base."""

    def __init__(
        self,
        engine: AsyncEngine,
        files_dir: Path,
        on_events: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.files_dir = files_dir
        #: told after a commit that put webhook events in the outbox (wakes the deliverer)
        self.on_events = on_events

    def _events_made(self, made: int) -> None:
        if made and self.on_events is not None:
            self.on_events()

    async def write_batch(
        self,
        starts: Sequence[CallStart],
        updates: Sequence[tuple[int, CallRecord, int]],
        inserts: Sequence[CallRecord],
        now: dt.datetime,
        node: str,
    ) -> tuple[list[int], list[int]]:
        """One transaction: the start rows (their ids), the ends of calls with a row (call id,
        record, steps already written), the whole rows of the others (their ids)."""
        async with self.engine.begin() as conn:
            hooked = await hooked_accounts(
                conn,
                [s.account_id for s in starts]
                + [r.account_id for _, r, _ in updates]
                + [r.account_id for r in inserts],
            )
            announced = await answered_before(
                conn, [i for i, r, _ in updates if r.account_id in hooked]
            )
            ids = await begin_calls(conn, list(starts), now, node=node)
            await finish_calls(conn, list(updates), now)
            inserted = await write_calls(conn, list(inserts), now, node=node)
            events: list[CallEvent] = []
            if hooked:
                for start, call_id in zip(starts, ids, strict=True):
                    events.append(CallEvent(start.account_id, call_id, WebhookEvent.CALL_STARTED))
                for call_id, record, _ in updates:
                    events += end_events(
                        record.account_id, call_id, record, answered_before=call_id in announced
                    )
                for record, call_id in zip(inserts, inserted, strict=True):
                    events.append(CallEvent(record.account_id, call_id, WebhookEvent.CALL_STARTED))
                    events += end_events(record.account_id, call_id, record, answered_before=False)
            made = await enqueue_call_events(
                conn, [e for e in events if e.account_id in hooked], now
            )
        self._events_made(made)
        return list(ids), list(inserted)

    async def beat(
        self,
        node: str,
        now: dt.datetime,
        progress: Sequence[tuple[int, int, Sequence[StepRecord]]],
        answers: Sequence[tuple[int, dt.datetime, int | None]],
        *,
        started: bool = False,
    ) -> None:
        async with self.engine.begin() as conn:
            await heartbeat(conn, node, now, started=started)
            await add_steps(conn, list(progress))
            announced = await answered_before(conn, [call_id for call_id, _, _ in answers])
            await mark_answered(conn, list(answers))
            made = await enqueue_call_events(
                conn, await _answered_events(conn, answers, announced), now
            )
        self._events_made(made)

    async def close_interrupted(self, node: str, now: dt.datetime) -> list[InterruptedCall]:
        async with self.engine.begin() as conn:
            found = await close_interrupted(conn, node, now)
            made = await enqueue_call_events(
                conn,
                [CallEvent(c.account_id, c.call_id, WebhookEvent.CALL_ENDED) for c in found],
                now,
            )
        self._events_made(made)
        return found

    async def adopt_partial(
        self,
        call: InterruptedCall,
        wav: Path,
        now: dt.datetime,
        min_seconds: float,
        kind: FileKind = FileKind.VOICEMAIL,
    ) -> None:
        async with self.engine.begin() as conn:
            await adopt_partial_recording(
                conn,
                self.files_dir,
                call,
                wav,
                kind,
                now=now,
                min_seconds=min_seconds,
            )

    async def add_step(self, account_id: int, call_id: int, step: StepRecord) -> None:
        async with self.engine.begin() as conn:
            await add_step(conn, account_id, call_id, step)

    async def save_file(
        self,
        account_id: int,
        kind: FileKind,
        wav: Path,
        *,
        name: str,
        caller: str,
        called: str,
        employee_id: int | None,
        number_id: int | None,
        now: dt.datetime,
        call_id: int | None = None,
    ) -> tuple[int, Path]:
        async with self.engine.begin() as conn:
            file_id = await save_recording(
                conn,
                self.files_dir,
                account_id,
                kind,
                wav,
                name=name,
                caller=caller,
                called=called,
                employee_id=employee_id,
                number_id=number_id,
                now=now,
                call_id=call_id,
            )
            path = (
                await conn.execute(
                    sa.select(t.files.c.converted_path).where(t.files.c.id == file_id)
                )
            ).scalar_one()
        return file_id, Path(path)

    def busy(self, error: Exception) -> bool:
        """SQLite's "database is locked": nothing was committed and it can be tried again."""
        if not isinstance(error, sa.exc.OperationalError):
            return False
        text = str(error.orig if error.orig is not None else error).lower()
        return "database is locked" in text or "database is busy" in text


async def _answered_events(
    conn: AsyncConnection,
    answers: Sequence[tuple[int, dt.datetime, int | None]],
    announced: set[int],
) -> list[CallEvent]:
    """`call_answered` of the calls in progress answered for the first time."""
    fresh = [call_id for call_id, _, _ in answers if call_id not in announced]
    if not fresh:
        return []
    query = sa.select(t.calls.c.id, t.calls.c.account_id).where(t.calls.c.id.in_(fresh))
    owners = {int(i): int(a) for i, a in (await conn.execute(query)).all()}
    return [
        CallEvent(owners[call_id], call_id, WebhookEvent.CALL_ANSWERED)
        for call_id in fresh
        if call_id in owners
    ]
