"""Callback attempts scheduled per second (issue 15, CB-1..3): 10,000 pending callback tasks,
all due, of 100 rules (5 simultaneous each) in a fresh SQLite database, run by one node's
`CallbackScheduler` (20 attempts at a time) through the real task store (claims under leases,
the reached-otherwise check, the finish) with an originator that answers at once that the
client talked: the figure is tasks claimed, placed and marked done per second of wall time,
the switch's calls left out. `python -m vpbx.bench.callbacks` runs it alone, prints the row
and merges it into docs/benchmarks.{json,md}.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import uvloop

from vpbx.bench.core import Result
from vpbx.bench.merge import merge_rows
from vpbx.domain.actor import Actor, Role
from vpbx.domain.entities.misc import Account
from vpbx.scenario.originate import OriginatePlan, Outcome
from vpbx.services.accounts import create_account
from vpbx.services.callbacks import SqlCallbackTasks
from vpbx.services.entities import EntityService
from vpbx.services.snapshot_source import SqlSnapshotSource
from vpbx.storage import tables as t
from vpbx.storage.db import make_async_engine
from vpbx.storage.migrate import upgrade
from vpbx.switch.callbacks import CallbackScheduler
from vpbx.switch.originated import Placed
from vpbx.switch.snapshots import SnapshotCache

__all__ = ["BENCHMARKS", "bench_callbacks_scheduled"]

TASKS = 10_000
RULES = 100


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _Answered:
    """An originated call that is over at once: the client talked."""

    def __init__(self) -> None:
        self.placed: asyncio.Future[Placed] = asyncio.get_running_loop().create_future()
        self.placed.set_result(Placed("bench", None, Outcome.TALKED, "bench"))


class _Originator:
    def __init__(self) -> None:
        self.count = 0

    def place(self, plan: OriginatePlan, row_id: int | None = None) -> _Answered:
        self.count += 1
        return _Answered()


async def _prepare(url: str) -> int:
    engine = make_async_engine(url)
    try:
        now = _now()
        async with engine.begin() as conn:
            account_id = await create_account(conn, Account(name="bench"), now)
            svc = EntityService(conn, Actor(Role.ADMIN, account_id), _now)
            employee = await svc.create(
                "employees", {"last_name": "Bench", "phones": [{"kind": "sip"}]}
            )
            how = {"method": "employee", "employee_id": employee.model_dump()["id"]}
            rules = [
                (await svc.create(
                    "callback-rules", {"name": f"r{n}", "how": how, "max_concurrent": 5}
                )).model_dump()["id"]
                for n in range(RULES)
            ]  # fmt: skip
            rows: list[dict[str, Any]] = [
                {
                    "account_id": account_id,
                    "kind": "callback",
                    "rule_id": rules[n % RULES],
                    "caller": f"7916{n:07d}",
                    "status": "pending",
                    "attempts_made": 0,
                    "next_attempt_at": now,
                    "last_result": "",
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(TASKS)
            ]
            await conn.execute(sa.insert(t.callback_tasks), rows)
        return account_id
    finally:
        await engine.dispose()


async def _run(root: Path) -> float:
    url = f"sqlite:///{root / 'bench.db'}"
    await asyncio.to_thread(upgrade, url)
    await _prepare(url)
    engine = make_async_engine(url)
    originator = _Originator()
    scheduler = CallbackScheduler(
        SqlCallbackTasks(engine),
        originator,  # type: ignore[arg-type]
        SnapshotCache(SqlSnapshotSource(engine, _now)),
        _now,
        node="bench",
        poll=0.05,
    )
    done = sa.select(sa.func.count()).where(t.callback_tasks.c.status == "done")
    try:
        start = time.perf_counter()
        scheduler.start()
        while True:
            await asyncio.sleep(0.25)
            async with engine.connect() as conn:
                finished = int((await conn.execute(done)).scalar_one())
            if finished >= TASKS:
                break
            if time.perf_counter() - start > 600:
                raise RuntimeError(f"only {finished} of {TASKS} tasks done in 600 s")
        elapsed = time.perf_counter() - start
        await scheduler.stop()
        if originator.count != TASKS:
            raise RuntimeError(f"{originator.count} attempts placed for {TASKS} tasks")
        return TASKS / elapsed
    finally:
        await engine.dispose()


def bench_callbacks_scheduled() -> Result:
    with tempfile.TemporaryDirectory(prefix="vpbx-bench-callbacks-") as tmp:
        value = uvloop.run(_run(Path(tmp)))
    return Result(
        "callbacks: attempts scheduled/s, 10,000 pending tasks (SQLite, calls left out)",
        value,
        "attempts/s",
        None,
        None,
        None,
        ">= 100 attempts/s",
    )


BENCHMARKS = (bench_callbacks_scheduled,)


def callbacks_method() -> list[str]:
    return [
        "Callback attempts (python -m vpbx.bench.callbacks): 10,000 pending callback tasks, all "
        "due, of 100 rules (5 simultaneous each) in a fresh SQLite database; one node's "
        "CallbackScheduler (20 attempts at a time) claims them under leases, checks each "
        "subscriber was not reached otherwise, places the attempt through an originator that "
        "answers at once that the client talked, and marks the task done; the figure is tasks "
        "done per second of wall time (the switch's calls left out: the live tests place real "
        "ones)."
    ]


if __name__ == "__main__":
    row = bench_callbacks_scheduled()
    merge_rows([row], "callbacks:", callbacks_method(), [])
    print(json.dumps(asdict(row), ensure_ascii=False))
