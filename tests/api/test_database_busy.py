"""A write the database cannot take now (SQLite's one writer busy past its timeout, e.g. with a
large configuration import in another API worker) is a 503 in words, not a 500."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import httpx
import sqlalchemy as sa

from vpbx.api.app import PREFIX, create_api
from vpbx.storage.db import make_async_engine
from vpbx.storage.migrate import upgrade


async def test_a_login_while_another_writer_holds_sqlite_is_a_503(tmp_path: Path) -> None:
    path = tmp_path / "vpbx.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = make_async_engine(url)

    @sa.event.listens_for(engine.sync_engine, "connect")
    def short_busy_timeout(dbapi_connection: object, _record: object) -> None:
        # the production pragma waits 5 s; the test waits 0.1 s
        dbapi_connection.execute("PRAGMA busy_timeout=100")  # type: ignore[attr-defined]

    app = create_api(engine, lambda: dt.datetime.now(dt.UTC))
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # the other writer's long transaction
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://vpbx") as client:
            response = await client.post(
                f"{PREFIX}/auth/login", json={"login": "admin@x", "password": "wrong-password"}
            )
        assert response.status_code == 503, response.text
        assert response.json()["error_id"] == "database_busy"
        assert response.headers["retry-after"] == "1"
        assert "повторите" in response.json()["message"]
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        await engine.dispose()
