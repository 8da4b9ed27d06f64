"""A switch node's deliverer alone, as a process the restart test can kill with SIGKILL:
`python -m tests.services.outbox_node <database url> <node>` delivers the outbox's rows (loopback
allowed, 5 at a time) until killed."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys

import uvloop

from vpbx.domain.net_policy import parse_networks
from vpbx.services.deliverer import Deliverer, WebhookSender
from vpbx.services.net_guard import NetGuard
from vpbx.services.outbox import SqlOutbox
from vpbx.storage.db import make_async_engine


async def main(url: str, node: str) -> None:
    engine = make_async_engine(url)
    deliverer = Deliverer(
        SqlOutbox(engine),
        webhooks=WebhookSender(NetGuard(parse_networks("127.0.0.0/8")), timeout=60),
        node=node,
        clock=lambda: dt.datetime.now(dt.UTC),
        concurrency=5,
        poll=0.2,
    )
    deliverer.start()
    print("started", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    uvloop.run(main(sys.argv[1], sys.argv[2]))
