"""FastAPI dependencies: a transaction per request and the acting cabinet user (from app.state)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from vpbx.domain.actor import Actor
from vpbx.services import auth
from vpbx.services.entities import Clock, EntityService

bearer = HTTPBearer(auto_error=False, description="a token from POST /api/v1/auth/login")

#: Ids are BIGINT columns: a larger number is refused here (422) instead of overflowing in the
#: database driver (500).
MAX_ID = 2**63 - 1
EntityId = Annotated[int, Path(ge=1, le=MAX_ID)]


def engine(request: Request) -> AsyncEngine:
    result: AsyncEngine = request.app.state.engine
    return result


#: The database engine, for services that open their own transactions (sign-in, the export).
Engine = Annotated[AsyncEngine, Depends(engine)]


async def connection(request: Request) -> AsyncIterator[AsyncConnection]:
    """One transaction per request: committed on success, rolled back on any error."""
    async with engine(request).begin() as conn:
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
    who = await auth.bearer_actor(conn, credentials.credentials, now, x_account_id)
    if who is None:
        raise HTTPException(
            401, "the token is unknown or expired", headers={"WWW-Authenticate": "Bearer"}
        )
    return who


CurrentActor = Annotated[Actor, Depends(actor)]


def service(conn: Conn, who: CurrentActor, request: Request) -> EntityService:
    return EntityService(
        conn, who, request.app.state.clock, url_allow=request.app.state.allow_networks
    )


Service = Annotated[EntityService, Depends(service)]
