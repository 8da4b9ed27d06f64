"""Webhooks to a real HTTP receiver that fails (API-2), on SQLite and PostgreSQL.

A receiver that answers 500, redirects, is slow, or is not there at all is retried with backoff
and given up after the configured age with the reason kept; a loopback URL is refused unless the
installation allows it. The events of a call arriving signed and in order across 10 s of the
receiver being down are shown on a real call through the switch:
tests/switch/test_webhooks_live.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.peers.ports import free_port
from tests.services.test_outbox import FakeClock, account_with_hooks, hook, start
from tests.services.webhook_receiver import Receiver
from vpbx.domain.actor import Actor, Role
from vpbx.domain.net_policy import parse_networks
from vpbx.domain.outbox import OutboxState, RetryPolicy
from vpbx.services.call_writer import SqlCallWriter
from vpbx.services.deliverer import Deliverer, WebhookSender
from vpbx.services.entities import EntityService
from vpbx.services.net_guard import NetGuard
from vpbx.services.outbox import Delivery, SqlOutbox, webhook_deliveries

SECRET = "whsec_test"
LOOPBACK = parse_networks("127.0.0.0/8")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver(SECRET, port=free_port())
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.stop()


async def wait_until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def log_of(engine: AsyncEngine, account_id: int, hook_id: int) -> list[Delivery]:
    async with engine.connect() as conn:
        svc = EntityService(conn, Actor(Role.ADMIN, account_id), utc_now)
        return await webhook_deliveries(svc, hook_id)


@pytest.mark.parametrize("mode", ["500", "redirect", "slow", "down", "refused"])
async def test_a_failing_receiver_is_retried_with_backoff_then_given_up_with_the_reason(
    engine: AsyncEngine, receiver: Receiver, tmp_path: Path, mode: str
) -> None:
    url = receiver.url
    if mode == "down":
        await receiver.stop()
    elif mode != "refused":
        receiver.mode = mode
        receiver.slow_seconds = 3.0
    account_id, [hook_id] = await account_with_hooks(
        engine, hook(url, ["call_started"], secret=SECRET)
    )
    await SqlCallWriter(engine, tmp_path).write_batch([start(account_id)], [], [], utc_now(), "")
    clock = FakeClock(utc_now())
    allow = () if mode == "refused" else LOOPBACK
    deliverer = Deliverer(
        SqlOutbox(engine),
        webhooks=WebhookSender(NetGuard(allow), timeout=0.5),
        clock=clock,
        webhook_policy=RetryPolicy(base=10, factor=2, cap=40, give_up_after=100),
    )
    waits = []
    try:
        while True:
            [outcome] = await deliverer.run_once()
            if outcome.state is OutboxState.GIVEN_UP:
                break
            assert outcome.retry_at is not None
            waits.append((outcome.retry_at - clock()).total_seconds())
            clock.advance(waits[-1])
    finally:
        await deliverer.stop()
    assert waits == [10, 20, 40, 40]  # the row is 110 s old at the fifth failure: given up
    [entry] = await log_of(engine, account_id, hook_id)
    assert entry.state is OutboxState.GIVEN_UP
    assert entry.attempts == 5
    expected = {
        "500": (500, "HTTP 500: fail"),
        "redirect": (302, "redirect to 'http://127.0.0.1:1/elsewhere' not followed"),
        "slow": (None, "no answer within 0.5 s"),
        "down": (None, "ConnectError"),
        "refused": (None, "a loopback address: refused"),
    }[mode]
    assert entry.last_status == expected[0]
    assert expected[1] in entry.last_reason, entry.last_reason
    assert receiver.got == []
