"""Webhook deliveries per second from the durable outbox (issue 15): 10,000 pending rows (2,500
calls × 4 events, in order per call) in a fresh SQLite database, delivered by one node's
deliverer (16 at a time, signed, through the SSRF guard with loopback allowed) to a local HTTP
receiver that answers 200 at once. The figure is rows marked delivered per second of wall time,
claims and marks included. `python -m vpbx.bench.webhooks` runs it alone, prints the row and
merges it into docs/benchmarks.{json,md} (`vpbx.bench.merge`), as the callbacks row is.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import uvloop

from vpbx.bench.core import Result
from vpbx.bench.merge import merge_rows
from vpbx.domain.actor import Actor, Role
from vpbx.domain.entities.misc import Account
from vpbx.domain.net_policy import parse_networks
from vpbx.domain.outbox import OutboxKind
from vpbx.services.accounts import create_account
from vpbx.services.deliverer import Deliverer, WebhookSender
from vpbx.services.entities import EntityService
from vpbx.services.net_guard import NetGuard
from vpbx.services.outbox import NewRow, SqlOutbox, enqueue
from vpbx.storage.db import make_async_engine
from vpbx.storage.migrate import upgrade

__all__ = ["BENCHMARKS", "bench_webhook_deliveries", "webhooks_method"]

ROWS = 10_000
EVENTS_PER_CALL = 4
LOOPBACK = parse_networks("127.0.0.0/8")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def _receiver() -> tuple[asyncio.Server, list[int]]:
    count = [0]

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                count[0] += 1
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    return server, count


async def _run(root: Path) -> float:
    url = f"sqlite:///{root / 'bench.db'}"
    await asyncio.to_thread(upgrade, url)
    engine = make_async_engine(url)
    server, received = await _receiver()
    port = server.sockets[0].getsockname()[1]
    try:
        now = _now()
        async with engine.begin() as conn:
            account_id = await create_account(conn, Account(name="bench"), now)
            svc = EntityService(conn, Actor(Role.ADMIN, account_id), _now, url_allow=LOOPBACK)
            hook = await svc.create(
                "webhooks",
                {"url": f"http://127.0.0.1:{port}/hook", "events": ["call_started"],
                 "secret": "bench-secret"},
            )  # fmt: skip
            hook_id = int(hook.model_dump()["id"])
            body = json.dumps({"id": "x", "type": "call_started", "call": {"id": 1}})
            rows = [
                NewRow(
                    OutboxKind.WEBHOOK,
                    f"http://127.0.0.1:{port}/hook",
                    "call_started",
                    body,
                    account_id=account_id,
                    webhook_id=hook_id,
                    ordering_key=f"call:{n // EVENTS_PER_CALL}:webhook:{hook_id}",
                )
                for n in range(ROWS)
            ]
            await enqueue(conn, rows, now)
        deliverer = Deliverer(
            SqlOutbox(engine),
            webhooks=WebhookSender(NetGuard(LOOPBACK), timeout=10),
            clock=_now,
            concurrency=16,
            poll=0.05,
        )
        start = time.perf_counter()
        deliverer.start()
        while deliverer.delivered < ROWS:
            await asyncio.sleep(0.02)
            if time.perf_counter() - start > 600:
                raise RuntimeError(f"only {deliverer.delivered} of {ROWS} delivered in 600 s")
        elapsed = time.perf_counter() - start
        await deliverer.stop()
        if received[0] < ROWS:
            raise RuntimeError(f"the receiver got {received[0]} of {ROWS}")
        return ROWS / elapsed
    finally:
        server.close()
        await engine.dispose()


def bench_webhook_deliveries() -> Result:
    with tempfile.TemporaryDirectory(prefix="vpbx-bench-webhooks-") as tmp:
        value = uvloop.run(_run(Path(tmp)))
    return Result(
        "webhooks: deliveries/s, 10,000 pending rows (SQLite, local receiver)",
        value,
        "deliveries/s",
        None,
        None,
        None,
        ">= 200 deliveries/s",
    )


BENCHMARKS = (bench_webhook_deliveries,)


def webhooks_method() -> list[str]:
    return [
        "Webhook deliveries (python -m vpbx.bench.webhooks): 10,000 pending outbox rows (2,500 "
        "calls × 4 events, in order per call) in a fresh SQLite database, delivered by one "
        "node's deliverer (16 at a time, each signed and passed through the SSRF guard with "
        "loopback allowed) to a local HTTP receiver that answers 200 at once; the figure is "
        "rows marked delivered per second of wall time, claims and marks included."
    ]


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    # a machine shared with other work gives a lower figure: the log says how loaded it was
    before, cpu, wall = _load(), time.process_time(), time.perf_counter()
    row = bench_webhook_deliveries()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    log = [
        f"load average before: {before}; after: {_load()}",
        f"this process had {cpu:.0f} s of CPU in {wall:.0f} s of wall time",
    ]
    merge_rows([row], "webhooks:", webhooks_method(), log)
    print(json.dumps(asdict(row), ensure_ascii=False))
