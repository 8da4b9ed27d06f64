"""What the health checks ask of the database: that it answers, and what it is."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from vpbx.storage.db import ping

__all__ = ["database_name"]


async def database_name(conn: AsyncConnection) -> str:
    """A round trip to the database (raises if it does not answer); its dialect's name."""
    await ping(conn)
    return conn.engine.dialect.name
