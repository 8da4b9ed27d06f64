"""Webhooks to a real HTTP receiver (API-2, issue 15 must-show 4), on SQLite and PostgreSQL.

A call written through the switch's own call store (`CallStore` + `SqlCallWriter`, the database
real) reaches a loopback receiver that checks every signature with the recipe of docs/api.md: its
events arrive in order, the later ones after the receiver was down for 10 s. A receiver that
answers 500, redirects, is slow, or is not there at all is retried with backoff and given up after
the configured age with the reason kept; a loopback URL is refused unless the installation allows
it.
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
from vpbx.domain.switch_records import CallRecord, CallStart
from vpbx.services.call_writer import SqlCallWriter
from vpbx.services.deliverer import Deliverer, WebhookSender
from vpbx.services.entities import EntityService
from vpbx.services.net_guard import NetGuard
from vpbx.services.outbox import Delivery, SqlOutbox, webhook_deliveries
from vpbx.switch.call_store import CallStore

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


async def test_the_events_of_a_call_arrive_signed_and_in_order_across_10_s_down(
    engine: AsyncEngine, receiver: Receiver, tmp_path: Path
) -> None:
    account_id, [hook_id] = await account_with_hooks(engine, hook(receiver.url, secret=SECRET))
    deliverer = Deliverer(
        SqlOutbox(engine),
        webhooks=WebhookSender(NetGuard(LOOPBACK), timeout=2.0),
        clock=utc_now,
        webhook_policy=RetryPolicy(base=0.5, factor=2, cap=2, give_up_after=600),
        poll=0.5,
    )
    writer = SqlCallWriter(engine, tmp_path, on_events=deliverer.wake)
    store = CallStore(writer, utc_now, linger=0.01, node="n1", heartbeat_every=0.1)
    answer: list[tuple[dt.datetime, int | None]] = []
    store.start()
    deliverer.start()
    try:
        began = utc_now()
        ticket = store.begin(
            CallStart(
                account_id,
                began,
                "incoming",
                "89161234567",
                "74950000000",
                "scenario",
                switch_call_id="live-1",
            ),
            answer=lambda: answer[0] if answer else None,
        )
        await wait_until(lambda: len(receiver.got) == 1, 10, "call_started")
        await receiver.stop()  # the CRM goes down
        answered = utc_now()
        answer.append((answered, None))
        await asyncio.sleep(0.5)  # a heartbeat writes the answer: call_answered waits
        record = CallRecord(
            account_id, began, "incoming", "answered", "89161234567", "74950000000",
            answered_at=answered, ended_at=utc_now(), rating=4, switch_call_id="live-1",
        )  # fmt: skip
        call_id = await store.save(record, ticket)
        await asyncio.sleep(10)
        log = await log_of(engine, account_id, hook_id)
        waiting = [d for d in log if d.state is OutboxState.PENDING]
        # the first waiting event was tried again and again; the others wait behind it
        assert [d.event_type for d in reversed(waiting)] == [
            "call_answered",
            "call_rated",
            "call_ended",
        ]
        assert waiting[-1].attempts >= 3, waiting[-1]
        assert "ConnectError" in waiting[-1].last_reason, waiting[-1]
        assert waiting[-1].last_status is None
        assert {d.attempts for d in waiting[:-1]} == {0}
        await receiver.start()  # back, on the same port
        await wait_until(lambda: len(receiver.got) == 4, 15, "the rest of the events")
    finally:
        await deliverer.stop()
        await store.stop()
    assert receiver.events() == [
        (call_id, "call_started"),
        (call_id, "call_answered"),
        (call_id, "call_rated"),
        (call_id, "call_ended"),
    ]
    assert all(r.signed for r in receiver.got)
    ids = [r.headers["x-vpbx-event-id"] for r in receiver.got]
    assert len(set(ids)) == 4
    assert ids == [r.body["id"] for r in receiver.got]
    assert receiver.got[1].headers["x-vpbx-attempt"] != "1"
    assert receiver.got[-1].body["call"]["rating"] == 4
    log = await log_of(engine, account_id, hook_id)
    assert {d.state for d in log} == {OutboxState.DELIVERED}


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
