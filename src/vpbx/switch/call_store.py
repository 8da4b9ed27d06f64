"""Writes what calls leave behind: report rows with their details, recordings, late steps.

A call's row is written when the call arrives (status `active`, `begin`), its details as they
happen (every `HEARTBEAT` seconds), and completed when it ends (`save`), so a crash of the
switch never loses a call: at the next start the writer first closes the rows the dead
process left `active` as `interrupted` (`recover`), dated by the node's heartbeat, and files
the partial voicemail and conversation recordings those calls were making.

Rows are written by one background task in batches (one transaction for every call that
started or ended meanwhile), so a burst of short calls costs a few commits rather than one
each, and a slow database never holds up a call's media.

The switch holds no SQL: the writing itself is a `CallWriter` (the database one is
`vpbx.services.call_writer.SqlCallWriter`, wired in `vpbx.app`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import enum
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from vpbx.domain.entities.misc import FileKind
from vpbx.domain.switch_records import CallRecord, CallStart, InterruptedCall, StepRecord

log = logging.getLogger("vpbx.switch.calls")

Clock = Callable[[], dt.datetime]
BATCH = 200
#: how long the writer waits for more calls starting or ending before it commits
LINGER = 0.25
#: seconds between two heartbeats of the node (also when the details of calls in progress
#: are written): the precision of the end time of a call cut off by a crash
HEARTBEAT = 1.0
#: the work file of a voicemail being recorded; `recover` files what a crash left of it
VOICEMAIL_WORK_FILE = "{call}-voicemail.wav"
#: the work file of a conversation being recorded (REC-1, TALK-2); `recover` files it too
TALK_WORK_FILE = "{call}-talk.wav"
#: a partial recording shorter than this is "nothing recorded" (as for a finished one)
MIN_PARTIAL_SECONDS = 0.5
#: seconds before a batch the database was too busy to take is tried again
BUSY_RETRY = 0.5


class CallWriter(Protocol):
    """Where the call store writes (each method one transaction)."""

    async def write_batch(
        self,
        starts: Sequence[CallStart],
        updates: Sequence[tuple[int, CallRecord, int]],
        inserts: Sequence[CallRecord],
        now: dt.datetime,
        node: str,
    ) -> tuple[list[int], list[int]]:
        """Start rows (their ids), ends of calls with a row (id, record, steps written), whole
        rows of the others (their ids)."""
        ...

    async def beat(
        self,
        node: str,
        now: dt.datetime,
        progress: Sequence[tuple[int, int, Sequence[StepRecord]]],
        answers: Sequence[tuple[int, dt.datetime, int | None]],
        *,
        started: bool = False,
    ) -> None: ...

    async def close_interrupted(self, node: str, now: dt.datetime) -> list[InterruptedCall]: ...

    async def adopt_partial(
        self,
        call: InterruptedCall,
        wav: Path,
        now: dt.datetime,
        min_seconds: float,
        kind: FileKind = FileKind.VOICEMAIL,
    ) -> None: ...

    async def add_step(self, account_id: int, call_id: int, step: StepRecord) -> None: ...

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
    ) -> tuple[int, Path]: ...

    def busy(self, error: Exception) -> bool:
        """The write failed because the database was busy: nothing committed, try again."""
        ...


def raise_into(future: asyncio.Future[int]) -> None:
    """Hand the exception being handled to whoever waits for the call's id (and log it)."""
    error = sys.exc_info()[1]
    log.exception("call not written")
    if not future.done() and error is not None:
        future.set_exception(error)


class TicketState(enum.Enum):
    QUEUED = "queued"  # the start row waits for the writer
    WRITING = "writing"  # the start row is in the transaction being committed
    WRITTEN = "written"  # the row exists: the end updates it
    SKIPPED = "skipped"  # no start row (the call ended first, or the write failed)


@dataclass(eq=False, slots=True)
class CallTicket:
    """A call's row from its start to its end: what `CallStore.begin` hands the call."""

    start: CallStart
    #: the steps of the call's details from the given index on (written as they happen)
    details: Callable[[int], Sequence[StepRecord]] | None = None
    #: when the call was answered and by which employee (None: not yet), written with the steps
    answer: Callable[[], tuple[dt.datetime, int | None] | None] | None = None
    state: TicketState = TicketState.QUEUED
    call_id: int | None = None
    steps_written: int = 0
    answer_written: tuple[dt.datetime, int | None] | None = None


def work_file(work_dir: Path, switch_call_id: str) -> Path:
    """Where a call's voicemail is recorded before it is filed (the name `recover` looks for)."""
    return work_dir / VOICEMAIL_WORK_FILE.format(call=switch_call_id)


def talk_work_file(work_dir: Path, switch_call_id: str) -> Path:
    """Where a call's conversation is recorded before it is filed (`recover` looks for it)."""
    return work_dir / TALK_WORK_FILE.format(call=switch_call_id)


#: what a crash may leave of a call's recordings, and the file base tab each goes to
_PARTIAL_KINDS = ((work_file, FileKind.VOICEMAIL), (talk_work_file, FileKind.RECORDING))


class CallStore:
    def __init__(
        self,
        writer: CallWriter,
        clock: Clock,
        linger: float = LINGER,
        *,
        node: str = "",
        work_dir: Path | None = None,
        heartbeat_every: float = HEARTBEAT,
    ) -> None:
        self.writer = writer
        self.linger = linger
        self.clock = clock
        self.node = node
        self.work_dir = work_dir
        self.heartbeat_every = heartbeat_every
        self._pending: list[tuple[CallRecord, CallTicket | None, asyncio.Future[int]]] = []
        self._starts: list[CallTicket] = []
        self._open: set[CallTicket] = set()
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._recovered = False

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
        for _record, ticket, _future in self._pending:
            if ticket is not None and ticket.state is TicketState.WRITING:
                ticket.state = TicketState.SKIPPED  # no transaction is in flight any more
        while self._pending or self._starts:
            await self._write_batch()

    # -- what calls hand in ----------------------------------------------------------------------

    def begin(
        self,
        start: CallStart,
        details: Callable[[int], Sequence[StepRecord]] | None = None,
        answer: Callable[[], tuple[dt.datetime, int | None] | None] | None = None,
        *,
        row_id: int | None = None,
    ) -> CallTicket:
        """A call arrived: its `active` row is written with the next batch; `details` and
        `answer` are read every heartbeat while it lasts. `row_id`: the row was written
        already (by the API that asked for the call, CallAPI) and is completed like the others."""
        ticket = CallTicket(start, details, answer)
        if row_id is not None:
            ticket.state, ticket.call_id = TicketState.WRITTEN, row_id
        else:
            self._starts.append(ticket)
        self._open.add(ticket)
        self._wake.set()
        return ticket

    async def save(self, record: CallRecord, ticket: CallTicket | None = None) -> int:
        """The id of the call's report row, once written (completing `ticket`'s row)."""
        if ticket is not None:
            self._open.discard(ticket)
            # read only by heartbeats of open calls; they are closures over the call, which
            # holds its ticket: let go, the ended call is freed at once (no cycle left)
            ticket.details = ticket.answer = None
            if ticket.state is TicketState.QUEUED:
                ticket.state = TicketState.SKIPPED  # ended before its start row: one insert
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((record, ticket, future))
        self._wake.set()
        if self._writer is None:
            await self._write_batch()
        return await future

    # -- the writer ------------------------------------------------------------------------------

    async def _write_forever(self) -> None:
        if not self._recovered:
            await self._recover_logged()
        await self._beat(started=True)
        loop = asyncio.get_running_loop()  # the loop's clock times the waits, so it times these
        next_beat = loop.time() + self.heartbeat_every
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, next_beat - loop.time()))
            if self._wake.is_set():
                # Let the calls starting and ending around now join this commit: one
                # transaction a quarter of a second rather than one per call.
                await asyncio.sleep(self.linger)
                self._wake.clear()
                while self._pending or self._starts:
                    await self._write_batch()
            if loop.time() >= next_beat:
                await self._beat()
                next_beat = loop.time() + self.heartbeat_every

    async def _write_batch(self) -> None:
        starts = [tk for tk in self._starts[:BATCH] if tk.state is TicketState.QUEUED]
        self._starts = self._starts[BATCH:]
        # A call whose start row is in another transaction still being committed (only without
        # the writer task) waits for the next batch.
        ready = [item for item in self._pending if _ready(item[1])]
        batch = ready[:BATCH]
        chosen = {id(item) for item in batch}
        self._pending = [item for item in self._pending if id(item) not in chosen]
        if not starts and not batch:
            return
        for ticket in starts:
            ticket.state = TicketState.WRITING
        now = self.clock()
        updates = [
            (tk.call_id, record, tk.steps_written)
            for record, tk, _ in batch
            if tk is not None and tk.call_id is not None
        ]
        inserts = [record for record, tk, _ in batch if tk is None or tk.call_id is None]
        try:
            ids, inserted = await self.writer.write_batch(
                [tk.start for tk in starts], updates, inserts, now, self.node
            )
        except BaseException as error:
            if (
                isinstance(error, Exception)
                and self._writer is not None
                and self.writer.busy(error)
            ):
                await self._retry_later(starts, batch, error)
                return
            # Whether the start rows were committed is unknown: the end of those calls inserts
            # a full row (a committed start row would be closed as interrupted at a restart).
            for ticket in starts:
                ticket.state = TicketState.SKIPPED
            if not isinstance(error, Exception):
                raise
            if starts:
                log.exception("start rows of calls not written", extra={"calls": len(starts)})
            if len(batch) == 1:
                raise_into(batch[0][2])
                return
            # one bad record must not lose the others: each on its own
            log.warning("a batch of calls failed; writing them one by one")
            for record, held, future in batch:
                await self._write_one(record, held, future)
            return
        for ticket, new_id in zip(starts, ids, strict=True):
            ticket.call_id = new_id
            ticket.state = TicketState.WRITTEN
        fresh = iter(inserted)
        for _record, held, future in batch:
            known = held.call_id if held is not None else None
            call_id = known if known is not None else next(fresh)
            if not future.done():
                future.set_result(call_id)

    async def _retry_later(
        self,
        starts: list[CallTicket],
        batch: list[tuple[CallRecord, CallTicket | None, asyncio.Future[int]]],
        error: Exception,
    ) -> None:
        """The database was busy (SQLite's write lock held past its busy timeout, e.g. by a
        large configuration import in the API process): nothing was committed, so the batch
        goes back to the front of the queue and is tried again, instead of its calls losing
        their rows."""
        for ticket in starts:
            # a call that ended meanwhile inserts its whole row with its end
            ended = ticket not in self._open
            ticket.state = TicketState.SKIPPED if ended else TicketState.QUEUED
        self._starts = [tk for tk in starts if tk.state is TicketState.QUEUED] + self._starts
        self._pending = batch + self._pending
        log.warning(
            "database busy; calls written on the next attempt",
            extra={"starts": len(starts), "ends": len(batch), "error": str(error)[:200]},
        )
        await asyncio.sleep(BUSY_RETRY)

    async def _write_one(
        self, record: CallRecord, ticket: CallTicket | None, future: asyncio.Future[int]
    ) -> None:
        try:
            if ticket is not None and ticket.call_id is not None:
                item = (ticket.call_id, record, ticket.steps_written)
                await self.writer.write_batch([], [item], [], self.clock(), self.node)
                call_id = ticket.call_id
            else:
                _, (call_id,) = await self.writer.write_batch(
                    [], [], [record], self.clock(), self.node
                )
        except Exception:
            raise_into(future)
            return
        if not future.done():
            future.set_result(call_id)

    async def _beat(self, *, started: bool = False) -> None:
        """The node is alive; the details of calls in progress so far are written."""
        progress: list[tuple[CallTicket, Sequence[StepRecord]]] = []
        answers: list[tuple[CallTicket, tuple[dt.datetime, int | None]]] = []
        for ticket in self._open:
            if ticket.state is not TicketState.WRITTEN:
                continue
            if ticket.details is not None:
                steps = ticket.details(ticket.steps_written)
                if steps:
                    progress.append((ticket, steps))
            answer = ticket.answer() if ticket.answer is not None else None
            if answer is not None and answer != ticket.answer_written:
                answers.append((ticket, answer))
        try:
            await self.writer.beat(
                self.node,
                self.clock(),
                [
                    (tk.call_id, tk.steps_written + 1, steps)
                    for tk, steps in progress
                    if tk.call_id is not None
                ],
                [(tk.call_id, at, who) for tk, (at, who) in answers if tk.call_id is not None],
                started=started,
            )
        except Exception:
            log.exception("heartbeat not written")
            return
        for ticket, steps in progress:
            ticket.steps_written += len(steps)
        for ticket, answer in answers:
            ticket.answer_written = answer

    # -- after a crash ---------------------------------------------------------------------------

    async def recover(self) -> list[InterruptedCall]:
        """Close the calls this node left `active` when it died (`interrupted`), and file the
        partial voicemail and conversation recordings they were making. Run once, before the
        node takes calls."""
        self._recovered = True
        now = self.clock()
        interrupted = await self.writer.close_interrupted(self.node, now)
        if self.work_dir is not None:
            for call in interrupted:
                if not call.switch_call_id:
                    continue
                for where, kind in _PARTIAL_KINDS:
                    wav = where(self.work_dir, call.switch_call_id)
                    if not wav.is_file():
                        continue
                    try:
                        await self.writer.adopt_partial(call, wav, now, MIN_PARTIAL_SECONDS, kind)
                    except Exception:
                        log.exception(
                            "partial recording not filed",
                            extra={"call_id": call.call_id, "path": str(wav)},
                        )
        return interrupted

    async def _recover_logged(self) -> None:
        try:
            await self.recover()
        except Exception:
            log.exception("calls interrupted by the previous stop not closed")

    # -- files and late steps --------------------------------------------------------------------

    async def add_step(self, account_id: int, call_id: int, step: StepRecord) -> None:
        await self.writer.add_step(account_id, call_id, step)

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
        call_id: int | None = None,
    ) -> tuple[int, Path]:
        """A recording into the file base (FILE-1): its id and where its audio now lives.
        `call_id`: the call's report row, when it is written already (the file is linked to it
        at once; otherwise the call's row links it when the call ends)."""
        return await self.writer.save_file(
            account_id,
            kind,
            wav,
            name=name,
            caller=caller,
            called=called,
            employee_id=employee_id,
            number_id=number_id,
            now=self.clock(),
            call_id=call_id,
        )


def _ready(ticket: CallTicket | None) -> bool:
    return ticket is None or ticket.state is not TicketState.WRITING


__all__ = [
    "CallStore",
    "CallTicket",
    "CallWriter",
    "TicketState",
    "talk_work_file",
    "work_file",
]
