"""The audit log: who changed what in an account's configuration, when, before and after.

Entries are written by the domain services in the transaction of the change (a change rolled
back leaves no entry, an entry never describes a change that did not happen). Secrets are masked
in the before/after documents; a reveal of a secret is itself an entry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection

from vpbx.domain.actor import Actor, Role
from vpbx.domain.errors import Forbidden
from vpbx.storage import tables as t
from vpbx.storage.db import utc_aware

#: what a secret looks like in every answer and in the log
MASK = "••••"

#: secret fields per resource: masked wherever they are shown
SECRET_FIELDS: Mapping[str, tuple[str, ...]] = {
    "sip-lines": ("password",),
    "trunks": ("password",),
    "webhooks": ("secret",),
    "users": ("password", "password_hash"),
}
#: resources whose secrets an admin may reveal (users' passwords are hashes: no)
REVEALABLE = frozenset({"sip-lines", "trunks", "webhooks"})


def masked(resource: str, values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A copy of `values` with the secrets of `resource` replaced by the mask (empty stays)."""
    if values is None:
        return None
    out = dict(values)
    for name in SECRET_FIELDS.get(resource, ()):
        if out.get(name):
            out[name] = MASK
    return out


def document_values(resource: str, doc: BaseModel | None) -> dict[str, Any] | None:
    return None if doc is None else masked(resource, doc.model_dump(mode="json"))


async def record(
    conn: AsyncConnection,
    actor: Actor,
    now: dt.datetime,
    resource: str,
    entity_id: int | None,
    operation: str,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    *,
    login: str | None = None,
) -> None:
    """One entry, in the caller's transaction; `before`/`after` must already be masked.

    `login` names who acted when no cabinet user did (a talk option pressed on a phone,
    `vpbx.services.talk_records`); otherwise it is the user's login."""
    if login is None:
        login = await _login_of(conn, actor)
    await conn.execute(
        sa.insert(t.audit_log).values(
            account_id=actor.account_id,
            at=now,
            actor_role=actor.role.value,
            user_id=actor.user_id,
            user_login=login,
            resource=resource,
            entity_id=entity_id,
            operation=operation,
            before=dict(before) if before is not None else None,
            after=dict(after) if after is not None else None,
        )
    )


async def _login_of(conn: AsyncConnection, actor: Actor) -> str:
    if actor.user_id is not None:
        query = sa.select(t.users.c.login).where(t.users.c.id == actor.user_id)
        return (await conn.execute(query)).scalar_one_or_none() or ""
    return "(operator)" if actor.role is Role.OPERATOR else ""


@dataclass(frozen=True, slots=True)
class AuditPage:
    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int


async def read(
    conn: AsyncConnection,
    actor: Actor,
    *,
    resource: str | None = None,
    entity_id: int | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> AuditPage:
    """The account's entries, newest first (admins and the operator only); `since` and `until`
    bound `at` (naive bounds are UTC)."""
    if actor.role not in (Role.ADMIN, Role.OPERATOR) or actor.account_id is None:
        raise Forbidden("only an admin reads the audit log")
    a = t.audit_log
    query = sa.select(a).where(a.c.account_id == actor.account_id)
    if resource is not None:
        query = query.where(a.c.resource == resource)
    if entity_id is not None:
        query = query.where(a.c.entity_id == entity_id)
    # A naive bound is taken as UTC, as stored times are.
    if since is not None:
        query = query.where(a.c.at >= utc_aware(since))
    if until is not None:
        query = query.where(a.c.at < utc_aware(until))
    total = (
        await conn.execute(sa.select(sa.func.count()).select_from(query.subquery()))
    ).scalar_one()
    rows = (
        (
            await conn.execute(
                query.order_by(a.c.at.desc(), a.c.id.desc()).limit(limit).offset(offset)
            )
        )
        .mappings()
        .all()
    )
    items = [
        {name: row[name] for name in row if name != "account_id"} | {"at": utc_aware(row["at"])}
        for row in rows
    ]
    return AuditPage(items, int(total), limit, offset)
