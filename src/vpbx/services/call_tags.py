"""Tags on calls (TAG-1): a call's `tag_ids` as the API replaces them and as a talk option adds
one (TALK-4); the calls report filters by them (`vpbx.services.reports`).

A call's row exists from its start (status `active`) and `finish_calls` keeps its `tag_ids`, so a
tag put during the talk survives the end of the call. Every id on a call is a tag of the call's
account, never twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncConnection

from vpbx.domain.entities.base import Document, TagRef
from vpbx.domain.errors import NotFound, ValidationFailed, Violation
from vpbx.services.entities import EntityService
from vpbx.storage import tables as t
from vpbx.storage.db import as_utc

__all__ = [
    "MAX_CALL_TAGS",
    "SWITCH_CALL_WINDOW",
    "CallTags",
    "add_call_tag",
    "call_tags",
    "find_call",
    "replace_call_tags",
]

#: tags one call may carry: a body of a million ids must not become a million-row IN query
MAX_CALL_TAGS = 100
#: how far back a call is looked up by the switch's own id (indexed with the account): a talk
#: option or the after-talk tagging comes during the call or right after it
SWITCH_CALL_WINDOW = dt.timedelta(hours=48)


class CallTags(Document):
    """The tags of one call (`PUT`/`GET /calls/{id}/tags`)."""

    tag_ids: Annotated[list[TagRef], Field(max_length=MAX_CALL_TAGS)] = []


async def own_tag_ids(conn: AsyncConnection, account_id: int, ids: Sequence[int]) -> set[int]:
    """Which of `ids` are tags of the account."""
    if not ids:
        return set()
    query = sa.select(t.tags.c.id).where(t.tags.c.account_id == account_id, t.tags.c.id.in_(ids))
    return {int(i) for i in (await conn.execute(query)).scalars()}


async def _row(conn: AsyncConnection, account_id: int, call_id: int) -> list[int] | None:
    """The call's tags, its row locked until the transaction ends (PostgreSQL; SQLite has one
    writer anyway), so two writers of the same call's list never lose each other's tag."""
    query = (
        sa.select(t.calls.c.tag_ids)
        .where(t.calls.c.account_id == account_id, t.calls.c.id == call_id)
        .with_for_update()
    )
    row = (await conn.execute(query)).first()
    if row is None:
        return None
    return [int(i) for i in row.tag_ids or []]


async def _store(
    conn: AsyncConnection, account_id: int, call_id: int, tag_ids: list[int], now: dt.datetime
) -> None:
    await conn.execute(
        sa.update(t.calls)
        .where(t.calls.c.account_id == account_id, t.calls.c.id == call_id)
        .values(tag_ids=tag_ids, updated_at=as_utc(now))
    )


async def call_tags(svc: EntityService, call_id: int) -> list[int]:
    """The call's tags as the actor may read them (an employee: his own calls only; 404 else)."""
    call: Any = await svc.get("calls", call_id)
    return list(call.tag_ids)


async def replace_call_tags(svc: EntityService, call_id: int, tag_ids: Sequence[int]) -> list[int]:
    """Replace the call's tags (the API). 404 for a call not of the account; 422 naming
    `tag_ids.N` for an id that is no tag of the account. An id the call already carries is
    kept even if its tag was deleted since, so a list read with GET can be sent back with one
    more; repeated ids are stored once."""
    svc.require_write("calls")
    current = await _row(svc.conn, svc.account_id, call_id)
    if current is None:
        raise NotFound("calls", call_id)
    wanted = list(dict.fromkeys(tag_ids))
    known = await own_tag_ids(svc.conn, svc.account_id, wanted) | set(current)
    unknown = [
        Violation(
            f"tag_ids.{index}",
            f"must reference an existing tags entry of this account (no id {tag_id})",
            "unknown_reference",
        )
        for index, tag_id in enumerate(tag_ids)
        if tag_id not in known
    ]
    if unknown:
        raise ValidationFailed(unknown)
    await _store(svc.conn, svc.account_id, call_id, wanted, svc.clock())
    return wanted


async def find_call(
    conn: AsyncConnection, account_id: int, switch_call_id: str, now: dt.datetime
) -> int | None:
    """The report row of the call the switch knows as `switch_call_id` (the newest one, should
    an id come back), among the account's calls started since `now - SWITCH_CALL_WINDOW`."""
    if not switch_call_id:
        return None
    c = t.calls.c
    query = (
        sa.select(c.id)
        .where(
            c.account_id == account_id,
            # UTC as stored: SQLite compares the text of the timestamps
            c.started_at >= as_utc(now - SWITCH_CALL_WINDOW),
            c.switch_call_id == switch_call_id,
        )
        .order_by(c.id.desc())
        .limit(1)
    )
    found = (await conn.execute(query)).scalar_one_or_none()
    return None if found is None else int(found)


async def add_call_tag(
    conn: AsyncConnection, account_id: int, call_id: int, tag_id: int, now: dt.datetime
) -> bool:
    """Put one tag of the account on the call (nothing when it is there already). False when
    the call or the tag is not the account's."""
    if tag_id not in await own_tag_ids(conn, account_id, [tag_id]):
        return False
    current = await _row(conn, account_id, call_id)
    if current is None:
        return False
    if tag_id not in current:
        await _store(conn, account_id, call_id, [*current, tag_id], now)
    return True
