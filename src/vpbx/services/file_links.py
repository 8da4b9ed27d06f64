"""Short-lived links to the audio of one file (FILE-1), for a browser's `<audio>` and downloads.

A browser's media element streams with HTTP range requests of its own and cannot add the
`Authorization` header the API wants. The cabinet therefore asks, with its bearer token, for a
link to one file's audio (`POST /files/{id}/link`): a random token valid for `LINK_TTL`, good
for that file and that variant only, read only, and never a bearer of anything else.

The link is a row of `api_tokens` of kind `file_link`, owned by the same user and session as the
access token that asked for it: logging out, a reused refresh token or a password change ends it
with the session. What is stored is the digest of the token *with* its account, file and variant,
so a link presented for another file (or variant) matches no row. Who presents it acts as the
user who asked for it, with his role as it is now: the file is read again through the entity
service (an employee, his own files only).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from vpbx.domain.actor import Actor, Role
from vpbx.domain.passwords import new_token, token_digest
from vpbx.storage import tables as t
from vpbx.storage.db import utc_aware

__all__ = ["KIND", "LINK_TTL", "FileLink", "issue_file_link", "link_actor"]

#: the `api_tokens.kind` of a link (an access token is "access", never accepted for a link)
KIND: Final = "file_link"
#: long enough to listen to a long recording with pauses; the cabinet asks again when it lapses
LINK_TTL: Final = dt.timedelta(minutes=10)
_MAX_LINK: Final = 200


@dataclass(frozen=True, slots=True)
class FileLink:
    token: str
    expires_at: dt.datetime


def _digest(link: str, file_id: int, variant: str) -> str:
    return token_digest(f"{link}|{file_id}|{variant}")


async def issue_file_link(
    conn: AsyncConnection,
    access_token: str,
    actor: Actor,
    file_id: int,
    variant: str,
    now: dt.datetime,
    ttl: dt.timedelta = LINK_TTL,
) -> FileLink:
    """A link to `file_id`'s `variant` for whoever holds `access_token` (checked by the caller:
    the actor may read the file). Expired links of the same owner are deleted here."""
    tok = t.api_tokens
    owner = (
        await conn.execute(
            sa.select(tok.c.user_id, tok.c.operator, tok.c.session_id).where(
                tok.c.token_hash == token_digest(access_token), tok.c.kind == "access"
            )
        )
    ).one()
    mine = tok.c.operator.is_(True) if owner.operator else tok.c.user_id == owner.user_id
    await conn.execute(sa.delete(tok).where(mine, tok.c.kind == KIND, tok.c.expires_at < now))
    # The account is part of the link (an operator's actor has it from X-Account-Id, which a
    # media element does not send) and of the digest, so it cannot be changed either.
    link = f"{actor.account_id}.{new_token()}"
    expires = now + ttl
    await conn.execute(
        sa.insert(tok).values(
            user_id=owner.user_id,
            operator=owner.operator,
            session_id=owner.session_id,
            token_hash=_digest(link, file_id, variant),
            label=f"file {file_id} {variant}",
            created_at=now,
            expires_at=expires,
            kind=KIND,
        )
    )
    return FileLink(link, expires)


async def link_actor(
    conn: AsyncConnection, link: str, file_id: int, variant: str, now: dt.datetime
) -> Actor | None:
    """Who presents `link` for this file and variant at `now` (None: unknown, expired, another
    file's or variant's)."""
    account, dot, _ = link.partition(".")
    if not dot or not account.isdigit() or len(link) > _MAX_LINK:
        return None
    tok, users = t.api_tokens, t.users
    query = (
        sa.select(
            tok.c.operator,
            tok.c.expires_at,
            users.c.id,
            users.c.account_id,
            users.c.role,
            users.c.employee_id,
        )
        .select_from(tok.outerjoin(users, users.c.id == tok.c.user_id))
        .where(tok.c.token_hash == _digest(link, file_id, variant), tok.c.kind == KIND)
    )
    row = (await conn.execute(query)).first()
    if row is None or row.expires_at is None or utc_aware(row.expires_at) < now:
        return None
    if row.operator:
        return Actor(Role.OPERATOR, int(account))
    if row.account_id != int(account):
        return None
    return Actor(Role(row.role), row.account_id, user_id=row.id, employee_id=row.employee_id)
