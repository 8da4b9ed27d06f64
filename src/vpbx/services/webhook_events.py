"""Call events for the account's webhooks (API-2), put in the outbox by the transaction that
writes the call's row (`vpbx.services.call_writer`): a call's row and its events commit together
or not at all, so no event is lost and none announces a call the report does not have.

Events of one call, in the order they are made: `call_started` (its row is written), then
`call_answered` (the first answer), then at its end `call_missed` or `voicemail` (by the call's
status), `call_rated` (RATE-1, when the caller rated the talk) and `call_ended` last. A call cut
off by a crash of its switch gets its `call_ended` (status `interrupted`) when the switch comes
back. Each event goes to every enabled webhook of the account that lists its type, one outbox row
per webhook, ordered per call and webhook.

The body (docs/api.md): `{"id", "type", "occurred_at", "account_id", "call": {…}}` where `id` is
the event's id (the same for every webhook and every attempt: the receiver's idempotency key)
and `call` is the call's report row as stored when the event was made.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from vpbx.domain.entities.misc import CallStatus, WebhookEvent
from vpbx.domain.outbox import OutboxKind
from vpbx.domain.switch_records import CallRecord
from vpbx.services.outbox import NewRow, enqueue, new_event_id
from vpbx.storage import tables as t
from vpbx.storage.db import as_utc

__all__ = [
    "CallEvent",
    "answered_before",
    "end_events",
    "enqueue_call_events",
    "hooked_accounts",
]

#: the columns of a call an event carries
_CALL_COLUMNS = (
    "id",
    "switch_call_id",
    "direction",
    "session_type",
    "status",
    "caller",
    "called",
    "contact_name",
    "number_id",
    "scenario_id",
    "employee_id",
    "started_at",
    "answered_at",
    "ended_at",
    "wait_seconds",
    "talk_seconds",
    "rating",
    "recording_file_ids",
    "tag_ids",
)

#: when each event happened, by the call's columns (the first that is set)
_WHEN = {
    WebhookEvent.CALL_STARTED: ("started_at",),
    WebhookEvent.CALL_ANSWERED: ("answered_at", "started_at"),
}


@dataclass(frozen=True, slots=True)
class CallEvent:
    account_id: int
    call_id: int
    type: WebhookEvent


def end_events(
    account_id: int, call_id: int, record: CallRecord, *, answered_before: bool
) -> list[CallEvent]:
    """The events of a call's end, in order (`answered_before`: its answer was announced)."""
    kinds: list[WebhookEvent] = []
    if record.answered_at is not None and not answered_before:
        kinds.append(WebhookEvent.CALL_ANSWERED)
    if record.status == CallStatus.MISSED.value:
        kinds.append(WebhookEvent.CALL_MISSED)
    elif record.status == CallStatus.VOICEMAIL.value:
        kinds.append(WebhookEvent.VOICEMAIL)
    if record.rating is not None:
        kinds.append(WebhookEvent.CALL_RATED)
    kinds.append(WebhookEvent.CALL_ENDED)
    return [CallEvent(account_id, call_id, kind) for kind in kinds]


async def hooked_accounts(conn: AsyncConnection, account_ids: Iterable[int]) -> set[int]:
    """Which of the accounts have an enabled webhook (the others cost no more query)."""
    ids = set(account_ids)
    if not ids:
        return set()
    w = t.webhooks
    query = (
        sa.select(w.c.account_id).where(w.c.account_id.in_(ids), w.c.enabled.is_(True)).distinct()
    )
    return {int(i) for i in (await conn.execute(query)).scalars()}


async def answered_before(conn: AsyncConnection, call_ids: Sequence[int]) -> set[int]:
    """Which of the calls' rows already say they were answered (their answer was announced)."""
    if not call_ids:
        return set()
    c = t.calls.c
    query = sa.select(c.id).where(c.id.in_(set(call_ids)), c.answered_at.is_not(None))
    return {int(i) for i in (await conn.execute(query)).scalars()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return as_utc(value).isoformat()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


async def enqueue_call_events(
    conn: AsyncConnection, events: Sequence[CallEvent], now: dt.datetime
) -> int:
    """Put `events` (in order) in the outbox for the webhooks that want them, in the caller's
    transaction (after the calls' rows were written). Returns how many rows were made."""
    accounts = {e.account_id for e in events}
    if not events or not accounts:
        return 0
    w = t.webhooks
    hooks = (
        await conn.execute(
            sa.select(w.c.id, w.c.account_id, w.c.url, w.c.events)
            .where(w.c.account_id.in_(accounts), w.c.enabled.is_(True))
            .order_by(w.c.id)
        )
    ).all()
    if not hooks:
        return 0
    wanted = [e for e in events if any(h.account_id == e.account_id for h in hooks)]
    c = t.calls.c
    rows = (
        await conn.execute(
            sa.select(c.account_id, *(c[name] for name in _CALL_COLUMNS)).where(
                c.id.in_({e.call_id for e in wanted})
            )
        )
    ).mappings()
    calls = {int(row["id"]): row for row in rows}
    made: list[NewRow] = []
    for event in wanted:
        row = calls.get(event.call_id)
        if row is None or int(row["account_id"]) != event.account_id:
            continue
        call = {name: _jsonable(row[name]) for name in _CALL_COLUMNS}
        when = next(
            (call[n] for n in _WHEN.get(event.type, ("ended_at",)) if call.get(n)),
            as_utc(now).isoformat(),
        )
        event_id = new_event_id()
        body = json.dumps(
            {
                "id": event_id,
                "type": event.type.value,
                "occurred_at": when,
                "account_id": event.account_id,
                "call": call,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )
        for hook in hooks:
            if hook.account_id != event.account_id or event.type.value not in (hook.events or ()):
                continue
            made.append(
                NewRow(
                    OutboxKind.WEBHOOK,
                    hook.url,
                    event.type.value,
                    body,
                    account_id=event.account_id,
                    webhook_id=int(hook.id),
                    event_id=event_id,
                    ordering_key=f"call:{event.call_id}:webhook:{hook.id}",
                )
            )
    await enqueue(conn, made, now)
    return len(made)
