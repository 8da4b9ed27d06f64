"""The durable outbox in the database (API-2 webhooks, SCN-VM voicemail mails): rows are put in
by the transaction that makes them (a call's row and its webhook events commit together), and
claimed, marked and retried by the deliverer (`vpbx.services.deliverer`).

Claiming is safe with several switch nodes. One statement leases due rows to a node
(`lease_until`, `lease_owner`): on PostgreSQL the rows are picked `FOR UPDATE SKIP LOCKED`, so two
nodes claiming at once take different rows without waiting for each other; SQLite has one writer
at a time, so the statement alone is atomic. The delivery itself runs outside any transaction (a
slow receiver never holds a lock a call needs); a node that dies mid-delivery leaves a lease that
expires, and the row is claimed again: delivery is at least once, and the receiver drops a repeat
by its event id (the same on every attempt).

Order: a row whose `ordering_key` has an earlier row still pending is not due, so the events of
one call reach one webhook one after another, each after the previous one was delivered (or given
up). Rows without a key are not ordered.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from vpbx.domain.outbox import OutboxKind, OutboxState
from vpbx.services.entities import EntityService
from vpbx.storage import tables as t
from vpbx.storage.db import as_utc

__all__ = [
    "ClaimedRow",
    "Delivery",
    "NewRow",
    "Outcome",
    "SqlOutbox",
    "enqueue",
    "new_event_id",
    "webhook_deliveries",
]

#: the longest `last_reason` kept (a receiver's error page must not fill the table)
MAX_REASON = 1000


def new_event_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class NewRow:
    """A row to put in the outbox."""

    kind: OutboxKind
    target: str
    event_type: str
    payload: str
    account_id: int | None = None
    webhook_id: int | None = None
    event_id: str = ""
    ordering_key: str | None = None
    #: not before (default: at once)
    not_before: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class ClaimedRow:
    """A row leased to this node for one attempt."""

    id: int
    kind: OutboxKind
    account_id: int | None
    webhook_id: int | None
    target: str
    event_type: str
    event_id: str
    payload: str
    #: attempts made before this one
    attempts: int
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an attempt left: the row's new state (`retry_at` for a row still pending)."""

    row_id: int
    state: OutboxState
    attempts: int
    status: int | None
    reason: str
    retry_at: dt.datetime | None


async def enqueue(conn: AsyncConnection, rows: Sequence[NewRow], now: dt.datetime) -> list[int]:
    """Put rows in the outbox in the caller's transaction; their ids, in order."""
    if not rows:
        return []
    now = as_utc(now)
    values = [
        {
            "kind": row.kind.value,
            "account_id": row.account_id,
            "webhook_id": row.webhook_id,
            "target": row.target,
            "event_type": row.event_type,
            "event_id": row.event_id or new_event_id(),
            "ordering_key": row.ordering_key,
            "payload": row.payload,
            "state": OutboxState.PENDING.value,
            "attempts": 0,
            "next_attempt_at": as_utc(row.not_before) if row.not_before is not None else now,
            "last_status": None,
            "last_reason": "",
            "lease_until": None,
            "lease_owner": None,
            "created_at": now,
            "updated_at": now,
        }
        for row in rows
    ]
    insert = sa.insert(t.outbox).returning(t.outbox.c.id, sort_by_parameter_order=True)
    return [int(i) for i in (await conn.execute(insert, values)).scalars()]


#: an earlier pending row of the same ordering key: built once, as an alias of a table is a
#: web of reference cycles (each poll's own copy was the switch's only cyclic garbage, and
#: what made its young-generation collections long)
_EARLIER = t.outbox.alias("earlier")
_BLOCKED = (
    sa.select(_EARLIER.c.id)
    .where(
        _EARLIER.c.ordering_key == t.outbox.c.ordering_key,
        _EARLIER.c.state == OutboxState.PENDING.value,
        _EARLIER.c.id < t.outbox.c.id,
    )
    .exists()
)


def _ready(now: dt.datetime) -> sa.ColumnElement[bool]:
    """Pending, not leased to a live claim, and first of its ordering key."""
    o = t.outbox
    return sa.and_(
        o.c.state == OutboxState.PENDING.value,
        sa.or_(o.c.lease_until.is_(None), o.c.lease_until <= now),
        sa.or_(o.c.ordering_key.is_(None), ~_BLOCKED),
    )


class SqlOutbox:
    """The outbox's rows as the deliverer sees them (each method one short transaction)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def add(self, rows: Sequence[NewRow], now: dt.datetime) -> list[int]:
        async with self.engine.begin() as conn:
            return await enqueue(conn, rows, now)

    async def claim(
        self, node: str, now: dt.datetime, limit: int, lease: float
    ) -> list[ClaimedRow]:
        """Lease up to `limit` due rows to `node` until `now + lease`; the oldest due first."""
        if limit <= 0:
            return []
        now = as_utc(now)
        o = t.outbox
        due = (
            sa.select(o.c.id)
            .where(o.c.next_attempt_at <= now, _ready(now))
            .order_by(o.c.next_attempt_at, o.c.id)
            .limit(limit)
        )
        if self.engine.dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True, of=o)
        claim = (
            sa.update(o)
            .where(o.c.id.in_(due.scalar_subquery()))
            .values(lease_until=now + dt.timedelta(seconds=lease), lease_owner=node, updated_at=now)
            .returning(
                o.c.id,
                o.c.kind,
                o.c.account_id,
                o.c.webhook_id,
                o.c.target,
                o.c.event_type,
                o.c.event_id,
                o.c.payload,
                o.c.attempts,
                o.c.created_at,
            )
        )
        async with self.engine.begin() as conn:
            rows = (await conn.execute(claim)).all()
        claimed = [
            ClaimedRow(
                int(r.id),
                OutboxKind(r.kind),
                r.account_id,
                r.webhook_id,
                r.target,
                r.event_type,
                r.event_id,
                r.payload,
                int(r.attempts),
                as_utc(r.created_at),
            )
            for r in rows
        ]
        claimed.sort(key=lambda row: row.id)
        return claimed

    async def finish(self, outcomes: Sequence[Outcome], now: dt.datetime) -> None:
        """Record attempts' outcomes (one transaction for all); the leases are released."""
        if not outcomes:
            return
        now = as_utc(now)
        o = t.outbox
        update = (
            sa.update(o)
            .where(o.c.id == sa.bindparam("b_id"))
            .values(
                state=sa.bindparam("b_state"),
                attempts=sa.bindparam("b_attempts"),
                last_status=sa.bindparam("b_status"),
                last_reason=sa.bindparam("b_reason"),
                next_attempt_at=sa.func.coalesce(
                    sa.bindparam("b_next", type_=sa.DateTime(timezone=True)), o.c.next_attempt_at
                ),
                lease_until=None,
                lease_owner=None,
                updated_at=now,
            )
        )
        params = [
            {
                "b_id": outcome.row_id,
                "b_state": outcome.state.value,
                "b_attempts": outcome.attempts,
                "b_status": outcome.status,
                "b_reason": outcome.reason[:MAX_REASON],
                "b_next": as_utc(outcome.retry_at) if outcome.retry_at is not None else None,
            }
            for outcome in outcomes
        ]
        async with self.engine.begin() as conn:
            await conn.execute(update, params)

    async def release(self, node: str, now: dt.datetime) -> int:
        """At a node's start: the leases its previous run held (it died mid-delivery) end now,
        so those rows are tried again at once rather than when the lease would have expired."""
        o = t.outbox
        update = (
            sa.update(o)
            .where(o.c.lease_owner == node, o.c.state == OutboxState.PENDING.value)
            .values(lease_until=None, lease_owner=None, updated_at=as_utc(now))
        )
        async with self.engine.begin() as conn:
            return int((await conn.execute(update)).rowcount or 0)

    async def next_due(self, now: dt.datetime) -> dt.datetime | None:
        """When the earliest row that could be claimed is due (None: nothing pending)."""
        now = as_utc(now)
        o = t.outbox
        query = sa.select(sa.func.min(o.c.next_attempt_at)).where(_ready(now))
        async with self.engine.connect() as conn:
            found = (await conn.execute(query)).scalar_one_or_none()
        return None if found is None else as_utc(found)

    async def webhooks(self, ids: Sequence[int]) -> dict[int, tuple[str, str, bool]]:
        """The current URL, secret and `enabled` of webhooks (a deleted one is absent)."""
        if not ids:
            return {}
        w = t.webhooks
        query = sa.select(w.c.id, w.c.url, w.c.secret, w.c.enabled).where(w.c.id.in_(set(ids)))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {int(r.id): (r.url, r.secret or "", bool(r.enabled)) for r in rows}

    async def states(self) -> dict[str, int]:
        """How many rows are in each state (health, tests)."""
        o = t.outbox
        query = sa.select(o.c.state, sa.func.count()).group_by(o.c.state)
        async with self.engine.connect() as conn:
            return {str(state): int(n) for state, n in (await conn.execute(query)).all()}


# -- the delivery log (GET /webhooks/{id}/deliveries) --------------------------------------------


class Delivery(BaseModel):
    """One request of a webhook: an event as delivered, still being tried, or given up."""

    id: int
    event_id: str
    event_type: str
    target: str
    state: OutboxState
    attempts: int
    last_status: int | None
    last_reason: str
    next_attempt_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


async def webhook_deliveries(
    svc: EntityService, webhook_id: int, *, limit: int = 100, state: OutboxState | None = None
) -> list[Delivery]:
    """The latest requests of one of the account's webhooks, newest first (404 for another
    account's webhook, 403 for a role that may not read webhooks)."""
    await svc.get("webhooks", webhook_id)  # the account's, and readable by this role
    o = t.outbox
    query = (
        sa.select(o)
        .where(
            o.c.webhook_id == webhook_id,
            o.c.account_id == svc.account_id,
            o.c.kind == OutboxKind.WEBHOOK.value,
        )
        .order_by(o.c.id.desc())
        .limit(limit)
    )
    if state is not None:
        query = query.where(o.c.state == state.value)
    rows = (await svc.conn.execute(query)).mappings().all()
    return [_delivery(row) for row in rows]


def _delivery(row: Any) -> Delivery:
    state = OutboxState(row["state"])
    return Delivery(
        id=int(row["id"]),
        event_id=row["event_id"],
        event_type=row["event_type"],
        target=row["target"],
        state=state,
        attempts=int(row["attempts"]),
        last_status=row["last_status"],
        last_reason=row["last_reason"],
        next_attempt_at=(as_utc(row["next_attempt_at"]) if state is OutboxState.PENDING else None),
        created_at=as_utc(row["created_at"]),
        updated_at=as_utc(row["updated_at"]),
    )
