"""Cabinet sign-in: throttled logins, sessions of expiring access and rotated refresh tokens.

A login opens a session (one row of `auth_sessions`) holding a short-lived access token (the
bearer of every request) and a refresh token, which may be exchanged once for a new pair. A
refresh token presented a second time means it was copied: the whole session is revoked. Logout
revokes the session; a password change revokes every session of the user.

Password hashing (scrypt, ~50 ms of CPU) runs in a worker thread, never on the event loop, and
an unknown login is checked against a dummy hash so that it answers as slowly as a known one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from vpbx.domain.actor import Actor, Role
from vpbx.domain.errors import DomainError, NotFound
from vpbx.domain.passwords import hash_password, new_token, token_digest, verify_password
from vpbx.services import audit
from vpbx.storage import tables as t
from vpbx.storage.db import utc_aware

#: Token kinds that open something by themselves (an access token; a link to one file's audio,
#: `vpbx.services.file_links`): ended with their session. Refresh tokens stay to spot reuse.
_BEARERS = ("access", "file_link")


class BadCredentials(DomainError):
    error_id = "bad_credentials"
    status = 401

    def __init__(self, message: str = "неверный логин или пароль / wrong login or password"):
        super().__init__(message)


class BadRefreshToken(DomainError):
    error_id = "bad_refresh_token"
    status = 401

    def __init__(self, message: str) -> None:
        super().__init__(message)


class TooManyAttempts(DomainError):
    """Too many failed logins for this login or from this address (HTTP 429, Retry-After)."""

    error_id = "too_many_attempts"
    status = 429

    def __init__(self, retry_after: int, what: str) -> None:
        super().__init__(
            f"слишком много неудачных попыток входа ({what}), повторите через {retry_after} с / "
            f"too many failed logins ({what}), retry in {retry_after} s"
        )
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class AuthPolicy:
    """Lifetimes of tokens and the limits of failed logins (counted over `window`)."""

    access_ttl: dt.timedelta = dt.timedelta(minutes=15)
    refresh_ttl: dt.timedelta = dt.timedelta(days=30)
    window: dt.timedelta = dt.timedelta(minutes=15)
    #: failures of one login (known or not) before it is locked for the rest of the window
    per_login: int = 10
    #: failures from one source address (an office NAT has many users: higher)
    per_source: int = 100


@dataclass(frozen=True, slots=True)
class Attempt:
    """A login attempt admitted by the throttle; it counts as a failure until it succeeds."""

    login: str
    source: str
    key: object = field(compare=False)


class LoginThrottle(Protocol):
    """Counts failed logins per login and per source address over a sliding window."""

    async def begin(self, login: str, source: str, now: dt.datetime) -> Attempt:
        """Admit an attempt (counted as failed until `succeeded`) or raise TooManyAttempts."""
        ...

    async def succeeded(self, attempt: Attempt) -> None:
        """The attempt succeeded: it and the login's earlier failures no longer count."""
        ...


def _retry_after(
    times: list[dt.datetime], limit: int, window: dt.timedelta, now: dt.datetime
) -> int:
    """Seconds until fewer than `limit` of `times` (ascending, all within the window) remain."""
    # The attempts expire oldest first; the count drops below the limit when this one expires.
    expires = times[len(times) - limit] + window
    return max(1, int((expires - now).total_seconds() + 0.999))


class DatabaseThrottle:
    """The throttle kept in the database: every API worker process sees the same failures.

    Each call is its own short transaction (a failed login's request rolls back, its count must
    not). An attempt is recorded *before* the password is checked, so that concurrent guesses
    count at once instead of all passing the check while none has failed yet.
    """

    def __init__(self, engine: AsyncEngine, policy: AuthPolicy | None = None) -> None:
        self.engine = engine
        self.policy = policy or AuthPolicy()

    async def begin(self, login: str, source: str, now: dt.datetime) -> Attempt:
        p = self.policy
        since = now - p.window
        a = t.login_attempts
        async with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Concurrent guesses at one login count one after another (SQLite serialises
                # writers anyway: the purge below takes its write lock first).
                await conn.execute(
                    sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                    {"key": f"vpbx-login:{login}"},
                )
            await conn.execute(sa.delete(a).where(a.c.at < since))
            for column, value, limit, what in (
                (a.c.login, login, p.per_login, "login"),
                (a.c.source, source, p.per_source, "address"),
            ):
                query = sa.select(a.c.at).where(column == value, a.c.at >= since).order_by(a.c.at)
                times = [utc_aware(x) for x in (await conn.execute(query)).scalars().all()]
                if len(times) >= limit:
                    raise TooManyAttempts(_retry_after(times, limit, p.window, now), what)
            inserted = await conn.execute(
                sa.insert(a).values(login=login, source=source, at=now).returning(a.c.id)
            )
            return Attempt(login, source, int(inserted.scalar_one()))

    async def succeeded(self, attempt: Attempt) -> None:
        a = t.login_attempts
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.delete(a).where(sa.or_(a.c.id == attempt.key, a.c.login == attempt.login))
            )


class MemoryThrottle:
    """The same rules in this process's memory (one process, or tests); Redis may come later."""

    def __init__(self, policy: AuthPolicy | None = None) -> None:
        self.policy = policy or AuthPolicy()
        self._by_login: dict[str, deque[tuple[dt.datetime, int]]] = {}
        self._by_source: dict[str, deque[tuple[dt.datetime, int]]] = {}
        self._serial = 0

    def _live(
        self, table: dict[str, deque[tuple[dt.datetime, int]]], key: str, since: dt.datetime
    ) -> deque[tuple[dt.datetime, int]]:
        entries = table.setdefault(key, deque())
        while entries and entries[0][0] < since:
            entries.popleft()
        return entries

    async def begin(self, login: str, source: str, now: dt.datetime) -> Attempt:
        p = self.policy
        since = now - p.window
        by_login = self._live(self._by_login, login, since)
        by_source = self._live(self._by_source, source, since)
        for entries, limit, what in (
            (by_login, p.per_login, "login"),
            (by_source, p.per_source, "address"),
        ):
            if len(entries) >= limit:
                times = [at for at, _ in entries]
                raise TooManyAttempts(_retry_after(times, limit, p.window, now), what)
        self._serial += 1
        by_login.append((now, self._serial))
        by_source.append((now, self._serial))
        return Attempt(login, source, self._serial)

    async def succeeded(self, attempt: Attempt) -> None:
        self._by_login.pop(attempt.login, None)
        entries = self._by_source.get(attempt.source)
        if entries is not None:
            kept = [e for e in entries if e[1] != attempt.key]
            self._by_source[attempt.source] = deque(kept)


@functools.cache
def _dummy_hash() -> str:
    """A hash of nothing anyone knows, with the same cost as real ones (computed once)."""
    return hash_password(new_token())


async def check_password(password: str, stored: str | None) -> bool:
    """scrypt in a worker thread; without a stored hash, the same work against a dummy one."""
    if stored is None:
        stored = await asyncio.to_thread(_dummy_hash)
        await asyncio.to_thread(verify_password, password, stored)
        return False
    return await asyncio.to_thread(verify_password, password, stored)


async def hash_in_thread(password: str) -> str:
    return await asyncio.to_thread(hash_password, password)


@dataclass(frozen=True, slots=True)
class SessionTokens:
    """What a login or a refresh answers."""

    access_token: str
    refresh_token: str
    access_expires_at: dt.datetime
    refresh_expires_at: dt.datetime
    session_id: int


async def open_session(
    conn: AsyncConnection, user_id: int, now: dt.datetime, policy: AuthPolicy, source: str = ""
) -> SessionTokens:
    expires = now + policy.refresh_ttl
    # Expired tokens of the user go here rather than in a job of their own; so do his sessions
    # that ended a refresh lifetime ago (nothing can use or reuse their tokens any more).
    await conn.execute(
        sa.delete(t.api_tokens).where(
            t.api_tokens.c.user_id == user_id,
            t.api_tokens.c.kind == "access",
            t.api_tokens.c.expires_at < now,
        )
    )
    await conn.execute(
        sa.delete(t.auth_sessions).where(
            t.auth_sessions.c.user_id == user_id,
            t.auth_sessions.c.expires_at < now - policy.refresh_ttl,
        )
    )
    result = await conn.execute(
        sa.insert(t.auth_sessions)
        .values(user_id=user_id, source=source, created_at=now, expires_at=expires)
        .returning(t.auth_sessions.c.id)
    )
    session_id = int(result.scalar_one())
    return await _token_pair(conn, user_id, session_id, now, policy, expires)


async def _token_pair(
    conn: AsyncConnection,
    user_id: int,
    session_id: int,
    now: dt.datetime,
    policy: AuthPolicy,
    session_expires: dt.datetime,
) -> SessionTokens:
    access, refresh = new_token(), new_token()
    access_expires = min(now + policy.access_ttl, session_expires)
    common = {"user_id": user_id, "session_id": session_id, "operator": False, "created_at": now}
    await conn.execute(
        sa.insert(t.api_tokens),
        [
            common
            | {
                "token_hash": token_digest(access),
                "kind": "access",
                "label": "login",
                "expires_at": access_expires,
            },
            common
            | {
                "token_hash": token_digest(refresh),
                "kind": "refresh",
                "label": "login",
                "expires_at": session_expires,
            },
        ],
    )
    return SessionTokens(access, refresh, access_expires, session_expires, session_id)


async def sign_in(
    engine: AsyncEngine,
    throttle: LoginThrottle,
    login_name: str,
    password: str,
    source: str,
    now: dt.datetime,
    policy: AuthPolicy,
) -> SessionTokens:
    """Throttled login; wrong login and wrong password look and take the same."""
    attempt = await throttle.begin(login_name, source, now)
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(t.users.c.id, t.users.c.password_hash).where(
                    t.users.c.login == login_name
                )
            )
        ).first()
    if not await check_password(password, row.password_hash if row is not None else None):
        raise BadCredentials()
    assert row is not None
    await throttle.succeeded(attempt)
    async with engine.begin() as conn:
        return await open_session(conn, int(row.id), now, policy, source)


async def refresh(
    engine: AsyncEngine, refresh_token: str, now: dt.datetime, policy: AuthPolicy
) -> SessionTokens:
    """A new pair for a refresh token, once; a second use revokes the session (it was copied)."""
    tok, ses = t.api_tokens, t.auth_sessions
    refused: str | None = None
    async with engine.begin() as conn:
        query = (
            sa.select(
                tok.c.id,
                tok.c.user_id,
                tok.c.session_id,
                ses.c.expires_at,
                ses.c.revoked_at,
            )
            .select_from(tok.join(ses, ses.c.id == tok.c.session_id))
            .where(tok.c.token_hash == token_digest(refresh_token), tok.c.kind == "refresh")
        )
        row = (await conn.execute(query)).first()
        if row is None:
            refused = "unknown"
        elif row.revoked_at is not None or utc_aware(row.expires_at) <= now:
            refused = "revoked or expired"
        else:
            # Atomic: of two concurrent uses of one token, one wins and the other is a reuse.
            used = await conn.execute(
                sa.update(tok)
                .where(tok.c.id == row.id, tok.c.used_at.is_(None))
                .values(used_at=now)
            )
            if used.rowcount != 1:
                await revoke_session(conn, int(row.session_id), now, "refresh token reused")
                refused = "already used: the session is revoked"
            else:
                # The old access token goes: one live pair per session.
                await conn.execute(
                    sa.delete(tok).where(tok.c.session_id == row.session_id, tok.c.kind == "access")
                )
                return await _token_pair(
                    conn,
                    int(row.user_id),
                    int(row.session_id),
                    now,
                    policy,
                    utc_aware(row.expires_at),
                )
    raise BadRefreshToken(
        f"токен обновления недействителен ({refused}) / the refresh token is not valid ({refused})"
    )


async def revoke_session(
    conn: AsyncConnection, session_id: int, now: dt.datetime, why: str
) -> None:
    """No token of the session works any more; its refresh tokens stay to recognise reuse."""
    await conn.execute(
        sa.update(t.auth_sessions)
        .where(t.auth_sessions.c.id == session_id, t.auth_sessions.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_why=why)
    )
    await conn.execute(
        sa.delete(t.api_tokens).where(
            t.api_tokens.c.session_id == session_id, t.api_tokens.c.kind.in_(_BEARERS)
        )
    )


async def logout(conn: AsyncConnection, access_token: str, now: dt.datetime) -> None:
    """Revoke the session of a token (a token without a session is deleted alone)."""
    row = (
        await conn.execute(
            sa.select(t.api_tokens.c.id, t.api_tokens.c.session_id).where(
                t.api_tokens.c.token_hash == token_digest(access_token)
            )
        )
    ).first()
    if row is None:
        return
    if row.session_id is not None:
        await revoke_session(conn, int(row.session_id), now, "logout")
    else:
        await conn.execute(sa.delete(t.api_tokens).where(t.api_tokens.c.id == row.id))


async def revoke_user(conn: AsyncConnection, user_id: int, now: dt.datetime, why: str) -> None:
    """Every session and token of a user stops working (his password changed)."""
    await conn.execute(
        sa.update(t.auth_sessions)
        .where(t.auth_sessions.c.user_id == user_id, t.auth_sessions.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_why=why)
    )
    await conn.execute(
        sa.delete(t.api_tokens).where(
            t.api_tokens.c.user_id == user_id, t.api_tokens.c.kind.in_(_BEARERS)
        )
    )
    # Tokens issued outside a session (directly, for tools) have no session to revoke.
    await conn.execute(
        sa.delete(t.api_tokens).where(
            t.api_tokens.c.user_id == user_id, t.api_tokens.c.session_id.is_(None)
        )
    )


async def change_password(
    engine: AsyncEngine,
    throttle: LoginThrottle,
    actor: Actor,
    current: str,
    new: str,
    source: str,
    now: dt.datetime,
    policy: AuthPolicy,
) -> SessionTokens:
    """The user's own password change: every session ends, the caller gets a fresh one.

    The current password is checked through the throttle: a stolen access token must not become
    a way to guess the password without limit.
    """
    user_id = actor.user_id
    if user_id is None:
        raise BadCredentials()
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(t.users.c.login, t.users.c.password_hash).where(t.users.c.id == user_id)
            )
        ).first()
    if row is None:
        raise BadCredentials()
    attempt = await throttle.begin(str(row.login), source, now)
    if not await check_password(current, row.password_hash):
        raise BadCredentials("неверный текущий пароль / the current password is wrong")
    await throttle.succeeded(attempt)
    hashed = await hash_in_thread(new)
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(t.users)
            .where(t.users.c.id == user_id)
            .values(password_hash=hashed, updated_at=now)
        )
        await revoke_user(conn, user_id, now, "password changed")
        await audit.record(conn, actor, now, "users", user_id, "password")
        return await open_session(conn, user_id, now, policy, source)


async def bearer_actor(
    conn: AsyncConnection, token: str, now: dt.datetime, x_account_id: int | None = None
) -> Actor | None:
    """Who presents this access token at `now` (None: unknown, expired or not an access token).

    The operator acts in the account `x_account_id` names (None: no account chosen); an account
    that does not exist is a 404 of the account. Other users act in their own account.
    """
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
            t.api_tokens.c.token_hash == token_digest(token),
            # A refresh token is not a bearer: it only buys a new pair at /auth/refresh.
            t.api_tokens.c.kind == "access",
        )
    )
    row = (await conn.execute(query)).first()
    if row is None or (row.expires_at is not None and utc_aware(row.expires_at) < now):
        return None
    if row.operator:
        if x_account_id is not None:
            # Acting in an account that does not exist would read nothing and fail every write
            # on the account foreign key (a 500); it is a 404 of the account instead.
            query = sa.select(t.accounts.c.id).where(t.accounts.c.id == x_account_id)
            if (await conn.execute(query)).first() is None:
                raise NotFound("accounts", x_account_id)
        return Actor(Role.OPERATOR, x_account_id)
    return Actor(Role(row.role), row.account_id, user_id=row.id, employee_id=row.employee_id)
