"""The switch's call store on both databases: a burst of ended calls is written in batches, and a
record the writer refuses fails alone — the calls around it are still written."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.dbs import database_fixture
from vpbx.domain.entities.misc import Account
from vpbx.scenario.call_logic import ring_result
from vpbx.services.accounts import create_account
from vpbx.services.call_log import CHUNK_ROWS, CallRecord, StepRecord
from vpbx.services.call_writer import SqlCallWriter
from vpbx.storage import tables as t
from vpbx.storage.db import make_async_engine
from vpbx.switch.call_store import CallStore

migrated_db_url = database_fixture(migrated=True, name="migrated_db_url")
NOW = dt.datetime(2026, 11, 26, 9, 0, tzinfo=dt.UTC)
BURST = 2 * CHUNK_ROWS + 50  # more than one statement's worth of rows


def record(account_id: int, n: int, *, naive: bool = False) -> CallRecord:
    started = NOW.replace(tzinfo=None) if naive else NOW + dt.timedelta(seconds=n)
    return CallRecord(
        account_id=account_id,
        started_at=started,
        direction="incoming",
        status="missed",
        caller=f"7916000{n:04d}",
        called="74951112233",
        steps=(StepRecord(NOW, "arrived", f"звонок {n}"),),
    )


async def test_a_burst_is_written_and_a_refused_record_fails_alone(
    migrated_db_url: str, tmp_path: Path
) -> None:
    engine = make_async_engine(migrated_db_url)
    try:
        async with engine.begin() as conn:
            account_id = await create_account(conn, Account(name="A"), NOW)
        store = CallStore(SqlCallWriter(engine, tmp_path / "files"), lambda: NOW)
        store.start()
        good = [store.save(record(account_id, n)) for n in range(BURST)]
        bad = store.save(record(account_id, 99, naive=True))  # naive time: refused
        results = await asyncio.gather(*good, bad, return_exceptions=True)
        await store.stop()
        ids, refused = results[:-1], results[-1]
        assert isinstance(refused, Exception)
        assert all(isinstance(i, int) for i in ids)
        assert len(set(ids)) == BURST
        async with engine.connect() as conn:
            rows = dict((await conn.execute(sa.select(t.calls.c.id, t.calls.c.caller))).all())
            steps = dict(
                (await conn.execute(sa.select(t.call_steps.c.call_id, t.call_steps.c.text))).all()
            )
        # each caller got the id of its own row, and its own steps (across the writer's
        # chunks of CHUNK_ROWS rows a statement)
        assert [rows[i] for i in ids] == [f"7916000{n:04d}" for n in range(BURST)]
        assert [steps[i] for i in ids] == [f"звонок {n}" for n in range(BURST)]
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("status", "result"),
    [
        (486, "busy"),
        (600, "busy"),
        (603, "rejected"),
        (480, "no_answer"),
        (408, "no_answer"),
        (487, "no_answer"),
        (488, "failed"),
        (503, "failed"),
    ],
)
def test_a_legs_final_status_is_counted_as_the_distribution_expects(
    status: int, result: str
) -> None:
    assert ring_result(status).value == result


async def test_calls_ending_while_another_process_holds_the_sqlite_lock_are_written_after(
    tmp_path: Path,
) -> None:
    """A large configuration import in the API process holds SQLite's write lock for longer
    than the switch's busy timeout: the calls that end meanwhile keep their rows (the batch is
    tried again), instead of failing with "database is locked"."""
    import sqlite3

    from vpbx.storage.migrate import upgrade

    path = tmp_path / "vpbx.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = make_async_engine(url)

    @sa.event.listens_for(engine.sync_engine, "connect")
    def short_busy_timeout(dbapi_connection: object, _record: object) -> None:
        # the production pragma waits 5 s; the test waits 0.1 s per attempt
        dbapi_connection.execute("PRAGMA busy_timeout=100")  # type: ignore[attr-defined]

    try:
        async with engine.begin() as conn:
            account_id = await create_account(conn, Account(name="A"), NOW)
        store = CallStore(SqlCallWriter(engine, tmp_path / "files"), lambda: NOW)
        store.start()
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # the other process's long write transaction
        saved = asyncio.gather(*(store.save(record(account_id, n)) for n in range(5)))
        await asyncio.sleep(1.5)  # several attempts fail while the lock is held
        assert not saved.done()
        blocker.execute("ROLLBACK")
        blocker.close()
        ids = await asyncio.wait_for(saved, 10)
        await store.stop()
        assert len(set(ids)) == 5
        async with engine.connect() as conn:
            callers = set((await conn.execute(sa.select(t.calls.c.caller))).scalars())
        assert callers == {f"7916000{n:04d}" for n in range(5)}
    finally:
        await engine.dispose()
