"""Sign-in routes: login (throttled), refresh, logout, the user's own password change."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field

from vpbx.api.crud import ERRORS
from vpbx.api.deps import Conn, CurrentActor, Engine, bearer
from vpbx.api.errors import ErrorBody
from vpbx.api.operations import AppMetrics
from vpbx.domain.errors import Forbidden
from vpbx.services import auth
from vpbx.services.entities import Clock

# No NUL characters: PostgreSQL text cannot hold them, so the lookup of such a login failed with a
# 500 (on SQLite it was a plain 401); refused as malformed input on every backend instead.
Credential = Annotated[str, Field(max_length=1000, pattern=r"^[^\x00]*$")]


class LoginRequest(BaseModel):
    login: Credential
    password: Credential


class RefreshRequest(BaseModel):
    refresh_token: Annotated[str, Field(max_length=200)]


class PasswordChange(BaseModel):
    current_password: Credential
    new_password: Annotated[str, Field(min_length=8, max_length=200, pattern=r"^[^\x00]*$")]


class TokenOut(BaseModel):
    """`token` is the access token (kept under this name for older clients)."""

    token: str
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="seconds the access token is valid")
    access_expires_at: dt.datetime
    refresh_expires_at: dt.datetime


THROTTLED: dict[int | str, dict[str, Any]] = {
    429: {
        "model": ErrorBody,
        "description": "too many failed logins; `Retry-After` says when to try again",
    }
}


def _out(tokens: auth.SessionTokens, now: dt.datetime) -> TokenOut:
    return TokenOut(
        token=tokens.access_token,
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_in=max(0, int((tokens.access_expires_at - now).total_seconds())),
        access_expires_at=tokens.access_expires_at,
        refresh_expires_at=tokens.refresh_expires_at,
    )


def _throttle(request: Request) -> auth.LoginThrottle:
    throttle: auth.LoginThrottle = request.app.state.login_throttle
    return throttle


def _policy(request: Request) -> auth.AuthPolicy:
    policy: auth.AuthPolicy = request.app.state.auth_policy
    return policy


def _source(request: Request) -> str:
    # The peer address of the connection; behind a reverse proxy, uvicorn's --proxy-headers
    # (with --forwarded-allow-ips) makes it the client's.
    return request.client.host if request.client is not None else ""


Throttle = Annotated[auth.LoginThrottle, Depends(_throttle)]
Policy = Annotated[auth.AuthPolicy, Depends(_policy)]


def auth_router(clock: Clock) -> APIRouter:
    router = APIRouter(prefix="/auth", tags=["auth"], responses=ERRORS)

    @router.post("/login", response_model=TokenOut, responses=THROTTLED)
    async def login(
        body: LoginRequest,
        request: Request,
        engine: Engine,
        throttle: Throttle,
        policy: Policy,
        metrics: AppMetrics,
    ) -> TokenOut:
        """An access token (15 min) and a refresh token; failures are counted per login and
        per address, and past the limit even the right password answers 429."""
        now = clock()
        try:
            tokens = await auth.sign_in(
                engine, throttle, body.login, body.password, _source(request), now, policy
            )
        except auth.TooManyAttempts:
            metrics.security_event("login_throttled")
            raise
        except auth.BadCredentials:
            metrics.security_event("login_failed")
            raise
        return _out(tokens, now)

    @router.post("/refresh", response_model=TokenOut)
    async def refresh(body: RefreshRequest, engine: Engine, policy: Policy) -> TokenOut:
        """A new pair for a refresh token, once: using one twice revokes its session."""
        now = clock()
        return _out(await auth.refresh(engine, body.refresh_token, now, policy), now)

    @router.post("/logout", status_code=204)
    async def logout(
        conn: Conn,
        who: CurrentActor,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Response:
        """End the session of the bearer token (its access and refresh tokens)."""
        assert credentials is not None  # `who` required it
        await auth.logout(conn, credentials.credentials, clock())
        return Response(status_code=204)

    @router.post("/password", response_model=TokenOut, responses=THROTTLED)
    async def change_password(
        body: PasswordChange,
        who: CurrentActor,
        request: Request,
        engine: Engine,
        throttle: Throttle,
        policy: Policy,
    ) -> TokenOut:
        """Change the own password: every session of the user ends, a new one is answered."""
        if who.user_id is None:
            raise Forbidden("the operator has no password / у оператора нет пароля")
        now = clock()
        tokens = await auth.change_password(
            engine,
            throttle,
            who,
            body.current_password,
            body.new_password,
            _source(request),
            now,
            policy,
        )
        return _out(tokens, now)

    return router
