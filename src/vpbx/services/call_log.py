"""How the switch stores a finished call (CDR-1) and its details (CDR-2), and what it adds later.

`write_call` inserts the `calls` row, its steps in order and links the recordings to it, in the
caller's transaction. Times are stored in UTC (SQLite keeps no offset, so everything written is
normalised; naive times are refused as our own misuse). Values the columns cannot hold are made
to fit rather than losing the record of a call: over-long texts are cut, NUL characters
(PostgreSQL text cannot hold them) are replaced, a step's data is made JSON-safe with `str()`.
"""

from __future__ import annotations

import datetime as dt
import enum
import itertools
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from vpbx.domain.entities.misc import CallDirection, CallStatus
from vpbx.domain.errors import NotFound
from vpbx.domain.switch_records import CallRecord, CallStart, InterruptedCall, StepRecord
from vpbx.scenario.snapshot import digits_of
from vpbx.storage import tables as t
from vpbx.storage.db import as_utc

__all__ = [
    "CallRecord",
    "CallStart",
    "InterruptedCall",
    "StepRecord",
    "add_step",
    "add_steps",
    "begin_calls",
    "close_interrupted",
    "contact_name_of",
    "finish_calls",
    "heartbeat",
    "json_safe",
    "mark_answered",
    "set_rating",
    "write_call",
    "write_calls",
]

log = logging.getLogger("vpbx.services.call_log")

#: rows per statement of the switch's batch writes. SQLAlchemy processes a statement's
#: parameters in one go on the event loop (bind processing, JSON encoding): ~500 steps of 50
#: calls held the loop 20-40 ms (VPBX_STALL_TRACE_MS). Between two statements the loop runs
#: while the database works, so each hold is bounded by what one chunk costs (~5 ms).
CHUNK_ROWS: Final = 100


async def execute_many(
    conn: AsyncConnection, statement: sa.Executable, rows: Iterable[Mapping[str, Any]]
) -> int:
    """`conn.execute(statement, rows)` in chunks of CHUNK_ROWS (same transaction); rows given
    by a generator are made a chunk at a time, each chunk written before the next is made.
    Returns how many rows were written."""
    pending = iter(rows)
    written = 0
    while chunk := list(itertools.islice(pending, CHUNK_ROWS)):
        await conn.execute(statement, chunk)
        written += len(chunk)
    return written


async def insert_ids(
    conn: AsyncConnection, table: sa.Table, rows: Sequence[Mapping[str, Any]]
) -> list[int]:
    """Insert `rows` in chunks of CHUNK_ROWS; their ids, in the order of `rows`."""
    insert = sa.insert(table).returning(table.c.id, sort_by_parameter_order=True)
    ids: list[int] = []
    for start in range(0, len(rows), CHUNK_ROWS):
        chunk = list(rows[start : start + CHUNK_ROWS])
        ids += [int(i) for i in (await conn.execute(insert, chunk)).scalars()]
    return ids


#: the column limits of `Call` and `CallStep` (the documents' max_length)
_LIMITS = {
    "caller": 100,
    "called": 100,
    "session_type": 100,
    "contact_name": 400,
    "leg": 100,
    "kind": 64,
    "text": 2000,
}


def _utc(value: dt.datetime, what: str) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be an aware datetime (got naive {value.isoformat()})")
    return value.astimezone(dt.UTC)


def _utc_or_none(value: dt.datetime | None, what: str) -> dt.datetime | None:
    return None if value is None else _utc(value, what)


def _text(value: str, name: str) -> str:
    return value.replace("\x00", "\ufffd")[: _LIMITS[name]]


def json_safe(value: Any) -> Any:
    """`value` as JSON both backends store: non-JSON values become `str()`, keys strings.

    Enums become their value, dates ISO 8601, tuples and sets lists, NaN and infinities strings;
    NUL characters are replaced (PostgreSQL cannot hold them in text).
    """
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, enum.Enum):
        return json_safe(value.value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {json_safe(str(k)): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [json_safe(v) for v in items]
    return json_safe(str(value))


def _status(value: str) -> CallStatus:
    try:
        return CallStatus(value)
    except ValueError:
        allowed = ", ".join(s.value for s in CallStatus)
        raise ValueError(f"unknown call status {value!r}; expected one of {allowed}") from None


def _step_row(call_id: int, seq: int, step: StepRecord) -> dict[str, Any]:
    return {
        "call_id": call_id,
        "seq": seq,
        "at": _utc(step.at, f"step {seq} at"),
        "leg": _text(step.leg, "leg"),
        "kind": _text(step.kind, "kind"),
        "text": _text(step.text, "text"),
        "data": json_safe(step.data),
    }


async def contact_name_of(conn: AsyncConnection, account_id: int, caller: str) -> str:
    """The full name («Фамилия Имя») of the account's contact with this phone; "" if none.

    Numbers compare as everywhere (`digits_of`: digits only, 8XXXXXXXXXX = 7XXXXXXXXXX); with
    several such contacts the oldest wins.
    """
    wanted = digits_of(caller)
    if not wanted:
        return ""
    # Stored phones are digits only; the last ten digits narrow the search in SQL on any
    # backend (the JSON as text), the exact comparison is made here.
    tail = wanted[-10:]
    query = (
        sa.select(t.contacts.c.last_name, t.contacts.c.first_name, t.contacts.c.phones)
        .where(
            t.contacts.c.account_id == account_id,
            sa.cast(t.contacts.c.phones, sa.Text).contains(tail, autoescape=True),
        )
        .order_by(t.contacts.c.id)
    )
    for row in (await conn.execute(query)).all():
        if any(digits_of(str(phone)) == wanted for phone in row.phones or ()):
            return " ".join(p for p in (row.last_name, row.first_name) if p)
    return ""


async def _account_file_ids(
    conn: AsyncConnection, account_id: int, file_ids: Iterable[int]
) -> set[int]:
    ids = set(file_ids)
    if not ids:
        return set()
    query = sa.select(t.files.c.id).where(t.files.c.account_id == account_id, t.files.c.id.in_(ids))
    return {int(i) for i in (await conn.execute(query)).scalars()}


async def write_call(conn: AsyncConnection, record: CallRecord, now: dt.datetime) -> int:
    """Store a finished call: the row, its steps (seq 1..n) and the link of its recordings.

    The contact name is looked up in the account's address book (unless the record brings it).
    Recording ids that are not files of the account are dropped (and logged): a call never
    points into another account. Returns the id of the call.
    """
    (call_id,) = await write_calls(conn, [record], now)
    return call_id


async def write_calls(
    conn: AsyncConnection,
    records: Sequence[CallRecord],
    now: dt.datetime,
    *,
    node: str | None = None,
) -> list[int]:
    """`write_call` for many calls in one go (one statement for the rows, one for all their
    steps): what the switch's writer does with every call that ended since its last commit.
    `node`: the switch that wrote them. Returns the ids in the order of `records`."""
    now = _utc(now, "now")
    rows: list[dict[str, Any]] = []
    links: list[list[int]] = []
    for record in records:
        values, recordings = await _call_row(conn, record, now)
        values["node"] = node
        values["switch_call_id"] = record.switch_call_id or None
        rows.append(values)
        links.append(recordings)
    if not rows:
        return []
    ids = await insert_ids(conn, t.calls, rows)
    steps = [
        _step_row(call_id, seq, step)
        for call_id, record in zip(ids, records, strict=True)
        for seq, step in enumerate(record.steps, 1)
    ]
    await execute_many(conn, sa.insert(t.call_steps), steps)
    for call_id, record, recordings in zip(ids, records, links, strict=True):
        if recordings:
            await conn.execute(
                sa.update(t.files)
                .where(t.files.c.account_id == record.account_id, t.files.c.id.in_(recordings))
                .values(call_id=call_id, updated_at=now)
            )
    log.info("calls stored", extra={"calls": len(ids), "steps": len(steps)})
    return ids


async def _call_row(
    conn: AsyncConnection, record: CallRecord, now: dt.datetime
) -> tuple[dict[str, Any], list[int]]:
    """The `calls` row of a record (checked) and its recordings that are files of its account."""
    recordings: list[int] = []
    if record.recording_file_ids:
        own_files = await _account_file_ids(conn, record.account_id, record.recording_file_ids)
        recordings = list(dict.fromkeys(i for i in record.recording_file_ids if i in own_files))
        if len(recordings) != len(set(record.recording_file_ids)):
            log.warning(
                "recordings of another account or missing dropped from a call",
                extra={
                    "account_id": record.account_id,
                    "dropped": sorted(set(record.recording_file_ids) - own_files),
                },
            )
    if record.rating is not None and not 1 <= record.rating <= 5:
        raise ValueError(f"rating must be 1..5, got {record.rating}")
    contact = record.contact_name
    if contact is None:
        contact = await contact_name_of(conn, record.account_id, record.caller)
    values: dict[str, Any] = {
        "account_id": record.account_id,
        "started_at": _utc(record.started_at, "started_at"),
        "answered_at": _utc_or_none(record.answered_at, "answered_at"),
        "ended_at": _utc_or_none(record.ended_at, "ended_at"),
        "direction": CallDirection(record.direction).value,
        "session_type": _text(record.session_type, "session_type"),
        "status": _status(record.status).value,
        "caller": _text(record.caller, "caller"),
        "called": _text(record.called, "called"),
        "number_id": record.number_id,
        "scenario_id": record.scenario_id,
        "employee_id": record.employee_id,
        "contact_name": _text(contact, "contact_name"),
        "wait_seconds": float(record.wait_seconds),
        "talk_seconds": float(record.talk_seconds),
        "rating": record.rating,
        "tag_ids": [],
        "recording_file_ids": recordings,
        "created_at": now,
        "updated_at": now,
    }
    return values, recordings


async def _require_call(conn: AsyncConnection, account_id: int, call_id: int) -> None:
    query = sa.select(t.calls.c.id).where(
        t.calls.c.account_id == account_id, t.calls.c.id == call_id
    )
    if (await conn.execute(query)).first() is None:
        raise NotFound("calls", call_id)


async def add_step(conn: AsyncConnection, account_id: int, call_id: int, step: StepRecord) -> None:
    """Append a step to the details of a stored call (e.g. the voicemail mail's outcome).

    Raises NotFound when the call is not one of the account's.
    """
    await _require_call(conn, account_id, call_id)
    last = (
        await conn.execute(
            sa.select(sa.func.max(t.call_steps.c.seq)).where(t.call_steps.c.call_id == call_id)
        )
    ).scalar_one()
    await conn.execute(sa.insert(t.call_steps).values(**_step_row(call_id, (last or 0) + 1, step)))


async def set_rating(
    conn: AsyncConnection,
    account_id: int,
    call_id: int,
    rating: int,
    *,
    now: dt.datetime | None = None,
) -> None:
    """RATE-1: the caller's key (1..5) on a stored call. Raises NotFound for another account's.

    `now` (aware) becomes the row's `updated_at`; the current time when not given.
    """
    if isinstance(rating, bool) or not 1 <= rating <= 5:
        raise ValueError(f"rating must be 1..5, got {rating!r}")
    await _require_call(conn, account_id, call_id)
    stamp = dt.datetime.now(dt.UTC) if now is None else _utc(now, "now")
    await conn.execute(
        sa.update(t.calls)
        .where(t.calls.c.account_id == account_id, t.calls.c.id == call_id)
        .values(rating=rating, updated_at=stamp)
    )


# -- calls in progress (a row from the start, closed if the switch dies) ------------------------


async def begin_calls(
    conn: AsyncConnection, starts: Sequence[CallStart], now: dt.datetime, *, node: str
) -> list[int]:
    """The `active` rows of calls that just arrived, written by switch `node`; their ids in
    the order of `starts`. `finish_calls` completes them."""
    now = _utc(now, "now")
    if not starts:
        return []
    rows: list[dict[str, Any]] = [
        {
            "account_id": start.account_id,
            "started_at": _utc(start.started_at, "started_at"),
            "answered_at": None,
            "ended_at": None,
            "direction": CallDirection(start.direction).value,
            "session_type": _text(start.session_type, "session_type"),
            "status": CallStatus.ACTIVE.value,
            "caller": _text(start.caller, "caller"),
            "called": _text(start.called, "called"),
            "number_id": start.number_id,
            "scenario_id": None,
            "employee_id": None,
            "contact_name": "",
            "wait_seconds": 0.0,
            "talk_seconds": 0.0,
            "rating": None,
            "tag_ids": [],
            "recording_file_ids": [],
            "node": node,
            "switch_call_id": start.switch_call_id or None,
            "created_at": now,
            "updated_at": now,
        }
        for start in starts
    ]
    return await insert_ids(conn, t.calls, rows)


async def add_steps(
    conn: AsyncConnection, items: Sequence[tuple[int, int, Sequence[StepRecord]]]
) -> int:
    """Steps of calls in progress, as they happen: (call id, seq of the first, steps).
    Returns how many rows were written.

    The rows are made a chunk at a time (a generator to `execute_many`): a beat at 100 calls/s
    carries ~1,700 steps, and making their rows in one go (~5 µs a step) held the loop 10-30 ms,
    its thousands of young dicts walked by every collection meanwhile."""
    rows = (
        _step_row(call_id, first + offset, step)
        for call_id, first, steps in items
        for offset, step in enumerate(steps)
    )
    return await execute_many(conn, sa.insert(t.call_steps), rows)


#: columns `finish_calls` leaves as they are: who owns the row, its tags, when it was made
_KEPT_ON_FINISH = frozenset({"account_id", "tag_ids", "created_at", "node"})


async def finish_calls(
    conn: AsyncConnection,
    items: Sequence[tuple[int, CallRecord, int]],
    now: dt.datetime,
) -> None:
    """Complete rows `begin_calls` wrote: (call id, the finished call, how many of its steps
    are already stored). The rest of the steps get the following seq numbers."""
    now = _utc(now, "now")
    if not items:
        return
    rows: list[dict[str, Any]] = []
    steps: list[dict[str, Any]] = []
    for call_id, record, written in items:
        values, recordings = await _call_row(conn, record, now)
        values["switch_call_id"] = record.switch_call_id or None
        row = {k: v for k, v in values.items() if k not in _KEPT_ON_FINISH}
        row["b_id"] = call_id
        rows.append(row)
        steps += [
            _step_row(call_id, seq, step)
            for seq, step in enumerate(record.steps[written:], written + 1)
        ]
        if recordings:
            await conn.execute(
                sa.update(t.files)
                .where(t.files.c.account_id == record.account_id, t.files.c.id.in_(recordings))
                .values(call_id=call_id, updated_at=now)
            )
    names = [k for k in rows[0] if k != "b_id"]
    update = (
        sa.update(t.calls)
        .where(t.calls.c.id == sa.bindparam("b_id"))
        .values({name: sa.bindparam(name) for name in names})
    )
    await execute_many(conn, update, rows)
    await execute_many(conn, sa.insert(t.call_steps), steps)
    log.info("calls completed", extra={"calls": len(rows), "steps": len(steps)})


async def mark_answered(
    conn: AsyncConnection, items: Sequence[tuple[int, dt.datetime, int | None]]
) -> None:
    """Calls in progress that were answered: (call id, when, by which employee or None). What
    a row closed as interrupted then says of the answer and the talk."""
    if not items:
        return
    update = (
        sa.update(t.calls)
        .where(t.calls.c.id == sa.bindparam("b_id"))
        .values(answered_at=sa.bindparam("b_at"), employee_id=sa.bindparam("b_employee"))
    )
    await conn.execute(
        update,
        [
            {"b_id": call_id, "b_at": _utc(at, "answered_at"), "b_employee": employee}
            for call_id, at, employee in items
        ],
    )


async def heartbeat(
    conn: AsyncConnection, node: str, now: dt.datetime, *, started: bool = False
) -> None:
    """Switch `node` is alive at `now` (`started`: it has just started)."""
    now = _utc(now, "now")
    nodes = t.switch_nodes
    values: dict[str, Any] = {"alive_at": now}
    if started:
        values["started_at"] = now
    result = await conn.execute(sa.update(nodes).where(nodes.c.node == node).values(**values))
    if result.rowcount == 0:
        await conn.execute(sa.insert(nodes).values(node=node, started_at=now, alive_at=now))


async def close_interrupted(
    conn: AsyncConnection, node: str, now: dt.datetime
) -> list[InterruptedCall]:
    """Close the rows switch `node` left `active` (it died during those calls) as `interrupted`.

    Run by the node at start-up, before it takes calls. A call ends at the last moment its
    node was known alive (the heartbeat), never before its last stored step or its start; a
    last step says so, quoting the last known state.
    """
    now = _utc(now, "now")
    c = t.calls.c
    alive = (
        await conn.execute(
            sa.select(t.switch_nodes.c.alive_at).where(t.switch_nodes.c.node == node)
        )
    ).scalar_one_or_none()
    alive_at = None if alive is None else as_utc(alive)
    query = (
        sa.select(
            c.id,
            c.account_id,
            c.started_at,
            c.answered_at,
            c.switch_call_id,
            c.caller,
            c.called,
            c.number_id,
            c.employee_id,
        )
        .where(c.status == CallStatus.ACTIVE.value, c.node == node)
        .order_by(c.id)
    )
    found: list[InterruptedCall] = []
    for row in (await conn.execute(query)).all():
        last = (
            await conn.execute(
                sa.select(t.call_steps.c.seq, t.call_steps.c.at, t.call_steps.c.text)
                .where(t.call_steps.c.call_id == row.id)
                .order_by(t.call_steps.c.seq.desc())
                .limit(1)
            )
        ).first()
        started = as_utc(row.started_at)
        candidates = [started]
        if alive_at is not None:
            candidates.append(alive_at)
        if last is not None:
            candidates.append(as_utc(last.at))
        ended = max(candidates)
        answered = None if row.answered_at is None else as_utc(row.answered_at)
        talk = (ended - answered).total_seconds() if answered is not None else 0.0
        await conn.execute(
            sa.update(t.calls)
            .where(c.id == row.id)
            .values(
                status=CallStatus.INTERRUPTED.value,
                ended_at=ended,
                wait_seconds=max(0.0, ((answered or ended) - started).total_seconds()),
                talk_seconds=round(max(0.0, talk), 3),
                updated_at=now,
            )
        )
        state = last.text if last is not None else "звонок поступил"
        text = (
            "звонок прерван: АТС остановилась аварийно"
            f" (последний признак работы {ended.strftime('%Y-%m-%d %H:%M:%S')} UTC);"
            f" последнее известное состояние: {state}"
        )
        data = {
            "alive_at": alive_at,
            "last_step": None if last is None else last.text,
            "node": node,
        }
        step = StepRecord(ended, "interrupted", text, json_safe(data))
        await conn.execute(
            sa.insert(t.call_steps).values(
                **_step_row(row.id, (last.seq if last is not None else 0) + 1, step)
            )
        )
        found.append(
            InterruptedCall(
                int(row.id),
                int(row.account_id),
                row.switch_call_id or "",
                row.caller,
                row.called,
                row.number_id,
                row.employee_id,
            )
        )
    if found:
        log.warning(
            "calls interrupted by the previous stop of the switch closed",
            extra={"node": node, "calls": len(found), "alive_at": str(alive_at)},
        )
    return found
