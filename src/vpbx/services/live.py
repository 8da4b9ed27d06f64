"""CDR-4: what the live view needs from the database, read once when a viewer connects.

The live calls and the employees' ringing/talking states come from the switch's feed; the
account's employees (their names) and which of them has a registered SIP line are read here,
once per connection of the live view, never polled. The view's link (`POST /live/link`) is a
file link (`vpbx.services.file_links`) of a variant no file has, so it opens the live view of
its account only, for as long as a file link lives, and ends with the session.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from vpbx.domain.actor import Actor
from vpbx.services.file_links import FileLink, issue_file_link, link_actor
from vpbx.storage import tables as t
from vpbx.storage.db import as_utc

__all__ = ["LINK_TTL", "StaffMember", "issue_live_link", "live_link_actor", "staff"]

#: the file id and variant of a live-view link: no file has them
_FILE, _VARIANT = 0, "live"
#: only needed to open the stream; a reconnect asks for a new one
LINK_TTL: Final = dt.timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class StaffMember:
    employee_id: int
    name: str
    registered: bool


async def issue_live_link(
    conn: AsyncConnection, access_token: str, actor: Actor, now: dt.datetime
) -> FileLink:
    return await issue_file_link(conn, access_token, actor, _FILE, _VARIANT, now, LINK_TTL)


async def live_link_actor(conn: AsyncConnection, link: str, now: dt.datetime) -> Actor | None:
    return await link_actor(conn, link, _FILE, _VARIANT, now)


async def staff(
    conn: AsyncConnection, account_id: int, now: dt.datetime, employee_id: int | None = None
) -> list[StaffMember]:
    """The account's employees (only `employee_id` when given), each with whether one of his
    SIP lines has an unexpired binding (the registrar stores each before its 200)."""
    emp, regs, lines = t.employees, t.sip_registrations, t.sip_lines
    registered = set(
        (
            await conn.execute(
                sa.select(regs.c.sip_line_id)
                .join(lines, lines.c.id == regs.c.sip_line_id)
                .where(lines.c.account_id == account_id, regs.c.expires_at > as_utc(now))
                .distinct()
            )
        ).scalars()
    )
    query = sa.select(emp.c.id, emp.c.last_name, emp.c.first_name, emp.c.phones).where(
        emp.c.account_id == account_id
    )
    if employee_id is not None:
        query = query.where(emp.c.id == employee_id)
    return [
        StaffMember(
            employee_id=int(row.id),
            name=" ".join(p for p in (row.last_name, row.first_name) if p),
            registered=any(p.get("sip_line_id") in registered for p in row.phones or ()),
        )
        for row in (await conn.execute(query.order_by(emp.c.last_name, emp.c.id))).all()
    ]
