"""Database engines: SQLite (WAL) by default, PostgreSQL by URL (VPBX_DATABASE_URL)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine


def async_url(url: str) -> str:
    """The async driver form of a database URL (aiosqlite / psycopg 3)."""
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def sync_url(url: str) -> str:
    """The synchronous driver form of a database URL (for Alembic and the CLI)."""
    if url.startswith("sqlite+aiosqlite:///"):
        return "sqlite:///" + url.removeprefix("sqlite+aiosqlite:///")
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the API read while the switch writes call records; foreign keys are off by
    # default in SQLite and the schema relies on ON DELETE CASCADE for memberships.
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL syncs at checkpoints, not at every commit: a commit survives the
    # process being killed (what "nothing lost on restart" promises, tested with kill -9), and
    # only a power cut may undo the last ones. FULL made every REGISTER's 200 wait for an fsync
    # (p99 300 ms at 150 REGISTER/s on a busy disk). docs/decisions.md.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def make_async_engine(url: str, **kwargs: Any) -> AsyncEngine:
    engine = create_async_engine(async_url(url), **kwargs)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


async def ping(conn: AsyncConnection) -> None:
    """A round trip to the database (health checks): raises if it does not answer."""
    await conn.execute(sa.text("SELECT 1"))


def make_sync_engine(url: str, **kwargs: Any) -> sa.Engine:
    engine = sa.create_engine(sync_url(url), **kwargs)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def utc_aware(value: dt.datetime) -> dt.datetime:
    """A stored timestamp as an aware UTC datetime.

    SQLite returns naive datetimes for timezone-aware columns; they were stored in UTC.
    """
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    """`value` in UTC: a naive one is taken as stored UTC (SQLite), an aware one converted (what
    is written and compared stays in one zone on both backends)."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
