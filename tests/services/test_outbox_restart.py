"""`kill -9` of a node with webhooks in flight and pending (issue 15: nothing lost, nothing done
twice), on SQLite and PostgreSQL: the node (a real process, `tests.services.outbox_node`) has 5
requests in flight to a receiver that holds them unanswered and 15 more waiting when it is killed
with SIGKILL; started again, it delivers every one of the 20 events, each answered once (the 5
cut off are sent again with the same event id and never marked delivered before their 2xx).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.paths import ROOT
from tests.peers.ports import free_port
from tests.services.test_outbox import account_with_hooks, hook, start
from tests.services.test_webhook_delivery import SECRET, utc_now, wait_until
from tests.services.webhook_receiver import Receiver
from vpbx.services.call_writer import SqlCallWriter
from vpbx.storage import tables as t

EVENTS = 20
IN_FLIGHT = 5


@contextmanager
def node(url: str) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.services.outbox_node", url, "node-a"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


async def test_rows_in_flight_and_pending_at_kill_9_are_delivered_once_after_restart(
    engine: AsyncEngine, migrated_db_url: str, tmp_path: Path
) -> None:
    receiver = Receiver(SECRET, mode="hold", port=free_port())
    await receiver.start()
    try:
        account_id, _ = await account_with_hooks(
            engine, hook(receiver.url, ["call_started"], secret=SECRET)
        )
        writer = SqlCallWriter(engine, tmp_path)
        starts = [start(account_id, n) for n in range(EVENTS)]
        await writer.write_batch(starts, [], [], utc_now(), "")
        with node(migrated_db_url) as first:
            await wait_until(lambda: len(receiver.got_held) == IN_FLIGHT, 20, "5 in flight")
            await asyncio.sleep(0.5)
            assert len(receiver.got_held) == IN_FLIGHT  # at most 5 at once
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        held = {body["id"] for body in receiver.got_held}
        async with engine.connect() as conn:
            states = (await conn.execute(sa.select(t.outbox.c.state))).scalars().all()
        assert states == ["pending"] * EVENTS  # nothing marked before its 2xx
        receiver.mode = "ok"
        with node(migrated_db_url):
            await wait_until(lambda: len(receiver.got) >= EVENTS, 30, "every event")
            await asyncio.sleep(1.0)  # nothing more comes
        ids = [r.body["id"] for r in receiver.got]
        assert len(ids) == EVENTS
        assert len(set(ids)) == EVENTS  # each answered once
        assert held <= set(ids)  # the ones cut off were sent again, same id
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.select(t.outbox.c.state, t.outbox.c.attempts))).all()
        assert {(r.state, r.attempts) for r in rows} == {("delivered", 1)}
    finally:
        await receiver.stop()
