"""Writes what calls leave behind: report rows with their details, recordings, late steps.

Rows are written by one background task in batches (one transaction for every call that ended
meanwhile), so a burst of short calls costs a few commits rather than one each, and a slow
database never holds up a call's media.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import sys
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from vpbx.domain.entities.misc import FileKind
from vpbx.services.call_log import CallRecord, StepRecord, add_step, write_call, write_calls
from vpbx.services.file_store import save_recording
from vpbx.storage import tables as t

log = logging.getLogger("vpbx.switch.calls")

Clock = Callable[[], dt.datetime]
BATCH = 200
#: how long the writer waits for more ended calls before it commits
LINGER = 0.25


def raise_into(future: asyncio.Future[int]) -> None:
    """Hand the exception being handled to whoever waits for the call's id (and log it)."""
    error = sys.exc_info()[1]
    log.exception("call not written")
    if not future.done() and error is not None:
        future.set_exception(error)


class CallStore:
    def __init__(
        self, engine: AsyncEngine, files_dir: Path, clock: Clock, linger: float = LINGER
    ) -> None:
        self.engine = engine
        self.linger = linger
        self.files_dir = files_dir
        self.clock = clock
        self._pending: list[tuple[CallRecord, asyncio.Future[int]]] = []
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._writer is None:
            self._writer = asyncio.ensure_future(self._write_forever())

    async def stop(self) -> None:
        """Write what is pending, then stop."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        while self._pending:
            await self._write_batch()

    async def save(self, record: CallRecord) -> int:
        """The id of the call's report row, once written."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((record, future))
        self._wake.set()
        if self._writer is None:
            await self._write_batch()
        return await future

    async def _write_forever(self) -> None:
        while True:
            await self._wake.wait()
            # Let the calls ending around now join this commit: one transaction a quarter of a
            # second rather than one per call when calls end one by one.
            await asyncio.sleep(self.linger)
            self._wake.clear()
            while self._pending:
                await self._write_batch()

    async def _write_batch(self) -> None:
        batch, self._pending = self._pending[:BATCH], self._pending[BATCH:]
        if not batch:
            return
        try:
            async with self.engine.begin() as conn:
                ids = await write_calls(conn, [record for record, _ in batch], self.clock())
        except Exception:
            if len(batch) == 1:
                raise_into(batch[0][1])
                return
            # one bad record must not lose the others: each on its own
            log.warning("a batch of calls failed; writing them one by one")
            for record, future in batch:
                await self._write_one(record, future)
            return
        for (_, future), call_id in zip(batch, ids, strict=True):
            if not future.done():
                future.set_result(call_id)

    async def _write_one(self, record: CallRecord, future: asyncio.Future[int]) -> None:
        try:
            async with self.engine.begin() as conn:
                call_id = await write_call(conn, record, self.clock())
        except Exception:
            raise_into(future)
            return
        if not future.done():
            future.set_result(call_id)

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
    ) -> tuple[int, Path]:
        """A recording into the file base (FILE-1): its id and where its audio now lives."""
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
                now=self.clock(),
            )
            path = (
                await conn.execute(
                    sa.select(t.files.c.converted_path).where(t.files.c.id == file_id)
                )
            ).scalar_one()
        return file_id, Path(path)
