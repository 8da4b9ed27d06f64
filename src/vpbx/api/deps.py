"""FastAPI dependencies: a transaction per request and the acting cabinet user (from app.state)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, Header, HTTPException, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from vpbx.domain.actor import Actor, Role
from vpbx.domain.errors import NotFound
from vpbx.domain.passwords import token_digest
from vpbx.services.entities import Clock, EntityService
from vpbx.storage import tables as t
from vpbx.storage.db import utc_aware

bearer = HTTPBearer(auto_error=False, description="a token from POST /api/v1/auth/login")

#: Ids are BIGINT columns: a larger number is refused here (422) instead of overflowing in the
#: database driver (500).
MAX_ID = 2**63 - 1
EntityId = Annotated[int, Path(ge=1, le=MAX_ID)]


async def connection(request: Request) -> AsyncIterator[AsyncConnection]:
    """One transaction per request: committed on success, rolled back on any error."""
    engine: AsyncEngine = request.app.state.engine
    async with engine.begin() as conn:
        yield conn


# scope="function": commit (or roll back) before the response is sent. With the default
# ("request") the transaction ended after the client already had its answer, so a client could
# see 201 for a write that was not yet visible (or never committed) to its next request.
Conn = Annotated[AsyncConnection, Depends(connection, scope="function")]


def clock(request: Request) -> Clock:
    result: Clock = request.app.state.clock
    return result


async def actor(
    conn: Conn,
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    x_account_id: Annotated[
        int | None, Header(ge=1, le=MAX_ID, description="operator only: the account to act in")
    ] = None,
) -> Actor:
    if credentials is None:
        raise HTTPException(
            401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"}
        )
    # The same clock that stamped the token's expiry at login (the API's injected clock): a
    # wall clock here expired every token an API with another clock issued.
    now = clock(request)()
    query = (
        sa.select(
            t.api_tokens.c.operator,
            t.api_tokens.c.expires_at,
            t.users.c.id,
            t.users.c.account_id,
            t.users.c.role,
            t.users.c.employee_id,
        )
        .select_from(t.api_tokens.outerjoin(t.users, t.users.c.id == t.api_tokens.c.user_id))
        .where(
            t.api_tokens.c.token_hash == token_digest(credentials.credentials),
            # A refresh token is not a bearer: it only buys a new pair at /auth/refresh.
            t.api_tokens.c.kind == "access",
        )
    )
    row = (await conn.execute(query)).first()
    if row is None or (row.expires_at is not None and utc_aware(row.expires_at) < now):
        raise HTTPException(
            401, "the token is unknown or expired", headers={"WWW-Authenticate": "Bearer"}
        )
    if row.operator:
        if x_account_id is not None:
            # Acting in an account that does not exist would read nothing and fail every write
            # on the account foreign key (a 500); it is a 404 of the account instead.
            query = sa.select(t.accounts.c.id).where(t.accounts.c.id == x_account_id)
            if (await conn.execute(query)).first() is None:
                raise NotFound("accounts", x_account_id)
        return Actor(Role.OPERATOR, x_account_id)
    return Actor(Role(row.role), row.account_id, user_id=row.id, employee_id=row.employee_id)


CurrentActor = Annotated[Actor, Depends(actor)]


def service(conn: Conn, who: CurrentActor, request: Request) -> EntityService:
    return EntityService(
        conn, who, request.app.state.clock, url_allow=request.app.state.allow_networks
    )


Service = Annotated[EntityService, Depends(service)]
