"""The durable outbox with a fake clock, on SQLite and PostgreSQL: call events put in by the call
writer's transactions (API-2), delivered in order per call and webhook, retried with exponential
backoff, given up after the configured age with the reason kept, leases of a dead node released
at its restart, two nodes never claiming the same row, and the delivery log.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from vpbx.domain.actor import Actor, Role
from vpbx.domain.entities.misc import Account
from vpbx.domain.errors import NotFound
from vpbx.domain.net_policy import parse_networks
from vpbx.domain.outbox import Attempt, OutboxKind, OutboxState, RetryPolicy
from vpbx.domain.switch_records import CallRecord, CallStart
from vpbx.services.accounts import create_account
from vpbx.services.call_writer import SqlCallWriter
from vpbx.services.deliverer import Deliverer
from vpbx.services.entities import EntityService
from vpbx.services.outbox import ClaimedRow, NewRow, SqlOutbox, webhook_deliveries
from vpbx.storage import tables as t

T0 = dt.datetime(2025, 3, 14, 9, 0, tzinfo=dt.UTC)
HOOK_URL = "https://crm.example.com/hooks/vpbx"


class FakeClock:
    def __init__(self, now: dt.datetime = T0) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@dataclass
class FakeSender:
    """Answers by URL: a list of outcomes consumed one per attempt (then the last repeats)."""

    answers: dict[str, list[Attempt]] = field(default_factory=dict)
    sent: list[tuple[str, str, dict[str, Any], int]] = field(default_factory=list)

    async def send(self, row: ClaimedRow, url: str, secret: str, attempt: int) -> Attempt:
        self.sent.append((url, row.event_type, json.loads(row.payload), attempt))
        queue = self.answers.get(url, [])
        if not queue:
            return Attempt(True, 200)
        return queue.pop(0) if len(queue) > 1 else queue[0]

    async def aclose(self) -> None:
        return None


async def account_with_hooks(engine: AsyncEngine, *hooks: dict[str, Any]) -> tuple[int, list[int]]:
    async with engine.begin() as conn:
        account_id = await create_account(conn, Account(name="Рога и копыта"), T0)
        svc = EntityService(
            conn, Actor(Role.ADMIN, account_id), lambda: T0, url_allow=parse_networks("127.0.0.0/8")
        )
        ids = [int((await svc.create("webhooks", h)).model_dump()["id"]) for h in hooks]
    return account_id, ids


def hook(url: str = HOOK_URL, events: list[str] | None = None, **more: Any) -> dict[str, Any]:
    events = events or [
        "call_started",
        "call_answered",
        "call_ended",
        "call_missed",
        "voicemail",
        "call_rated",
    ]
    return {"url": url, "events": events, "secret": "s3cret", **more}


def start(account_id: int, n: int = 1) -> CallStart:
    return CallStart(account_id, T0, "incoming", "89161234567", "74950000000", "scenario",
                     switch_call_id=f"sw-{n}")  # fmt: skip


def ended(account_id: int, n: int = 1, **changes: Any) -> CallRecord:
    values: dict[str, Any] = {
        "account_id": account_id,
        "started_at": T0,
        "direction": "incoming",
        "status": "answered",
        "caller": "89161234567",
        "called": "74950000000",
        "answered_at": T0 + dt.timedelta(seconds=5),
        "ended_at": T0 + dt.timedelta(seconds=65),
        "switch_call_id": f"sw-{n}",
        **changes,
    }
    return CallRecord(**values)


def deliverer(engine: AsyncEngine, clock: FakeClock, sender: FakeSender, **kw: Any) -> Deliverer:
    policy = kw.pop("policy", RetryPolicy(base=5, factor=2, cap=60, give_up_after=300))
    return Deliverer(SqlOutbox(engine), webhooks=sender, clock=clock, webhook_policy=policy, **kw)


async def rows(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        found = await conn.execute(sa.select(t.outbox).order_by(t.outbox.c.id))
        return [dict(r) for r in found.mappings()]


# -- events from the call writer ---------------------------------------------------------------


async def test_a_call_puts_its_events_in_order_in_the_same_transactions(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    account_id, (all_events, ended_only) = await account_with_hooks(
        engine, hook(), hook("https://other.example.com/x", ["call_ended"])
    )
    woken: list[int] = []
    writer = SqlCallWriter(engine, tmp_path, on_events=lambda: woken.append(1))
    ([call_id], _) = await writer.write_batch([start(account_id)], [], [], T0, "n1")
    answered = T0 + dt.timedelta(seconds=5)
    await writer.beat("n1", T0, [], [(call_id, answered, None)])
    await writer.beat("n1", T0, [], [(call_id, answered, 7)])  # the answer again: no new event
    record = ended(account_id, rating=5)
    await writer.write_batch([], [(call_id, record, 0)], [], T0, "n1")
    found = await rows(engine)
    mine = [r["event_type"] for r in found if r["webhook_id"] == all_events]
    assert mine == ["call_started", "call_answered", "call_rated", "call_ended"]
    assert [r["event_type"] for r in found if r["webhook_id"] == ended_only] == ["call_ended"]
    assert len(woken) == 3
    body = json.loads(found[-1]["payload"])
    assert body["type"] == "call_ended"
    assert body["call"]["id"] == call_id
    assert body["call"]["status"] == "answered"
    assert body["call"]["rating"] == 5
    assert body["account_id"] == account_id
    # one event, one id for every webhook (the receiver's idempotency key)
    ended_ids = {r["event_id"] for r in found if r["event_type"] == "call_ended"}
    assert len(ended_ids) == 1
    assert body["id"] in ended_ids
    assert {r["ordering_key"] for r in found if r["webhook_id"] == all_events} == {
        f"call:{call_id}:webhook:{all_events}"
    }


async def test_missed_voicemail_and_whole_rows_make_their_events(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    account_id, [_hook] = await account_with_hooks(engine, hook())
    writer = SqlCallWriter(engine, tmp_path)
    missed = ended(account_id, 1, status="missed", answered_at=None)
    voicemail = ended(account_id, 2, status="voicemail", answered_at=None)
    _, [first, second] = await writer.write_batch([], [], [missed, voicemail], T0, "n1")
    by_call: dict[int, list[str]] = {}
    for row in await rows(engine):
        call = json.loads(row["payload"])["call"]["id"]
        by_call.setdefault(call, []).append(row["event_type"])
    assert by_call == {
        first: ["call_started", "call_missed", "call_ended"],
        second: ["call_started", "voicemail", "call_ended"],
    }


async def test_no_webhook_no_row_and_a_disabled_one_gets_nothing(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    account_id, _ = await account_with_hooks(engine, hook(enabled=False))
    other, _ = await account_with_hooks(engine)
    writer = SqlCallWriter(engine, tmp_path)
    await writer.write_batch([start(account_id), start(other, 2)], [], [], T0, "n1")
    assert await rows(engine) == []


async def test_a_call_interrupted_by_a_crash_is_announced_ended_at_the_restart(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    account_id, _ = await account_with_hooks(engine, hook(events=["call_ended"]))
    writer = SqlCallWriter(engine, tmp_path)
    await writer.write_batch([start(account_id)], [], [], T0, "n1")
    await writer.close_interrupted("n1", T0 + dt.timedelta(minutes=1))
    [row] = await rows(engine)
    assert json.loads(row["payload"])["call"]["status"] == "interrupted"


# -- delivery ----------------------------------------------------------------------------------


async def test_events_of_a_call_wait_for_the_earlier_one_with_backoff(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    account_id, [hook_id] = await account_with_hooks(engine, hook())
    writer = SqlCallWriter(engine, tmp_path)
    await writer.write_batch([], [], [ended(account_id)], T0, "n1")
    await writer.write_batch([], [], [ended(account_id, 2, answered_at=None)], T0, "n1")
    clock = FakeClock()
    down = Attempt(False, 503, "HTTP 503: busy")
    sender = FakeSender({HOOK_URL: [down, down, Attempt(True, 200)]})
    d = deliverer(engine, clock, sender, concurrency=50)
    # the first event of each call is tried; the later ones wait behind it
    first = await d.run_once()
    assert [o.state for o in first] == [OutboxState.PENDING, OutboxState.PENDING]
    assert [s[1] for s in sender.sent] == ["call_started", "call_started"]
    assert await d.run_once() == []  # not due before the backoff
    clock.advance(5)  # base
    second = await d.run_once()
    assert [o.state for o in second] == [OutboxState.DELIVERED, OutboxState.DELIVERED]
    assert [o.attempts for o in second] == [2, 2]
    while await d.run_once():
        pass
    per_call: dict[int, list[str]] = {}
    for _url, kind, body, _n in sender.sent:
        per_call.setdefault(body["call"]["id"], []).append(kind)
    assert sorted(per_call.values()) == sorted(
        [
            ["call_started", "call_started", "call_answered", "call_ended"],
            ["call_started", "call_started", "call_ended"],
        ]
    )
    log = await _log(engine, account_id, hook_id)
    assert {d.state for d in log} == {OutboxState.DELIVERED}
    assert d_attempts(log, "call_started") == [2, 2]


def d_attempts(log: list[Any], kind: str) -> list[int]:
    return [d.attempts for d in log if d.event_type == kind]


async def _log(engine: AsyncEngine, account_id: int, hook_id: int) -> list[Any]:
    async with engine.connect() as conn:
        svc = EntityService(conn, Actor(Role.SUPERVISOR, account_id), lambda: T0)
        return await webhook_deliveries(svc, hook_id)


async def test_backoff_doubles_up_to_the_cap_and_gives_up_after_the_age(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    account_id, [hook_id] = await account_with_hooks(engine, hook(events=["call_started"]))
    await SqlCallWriter(engine, tmp_path).write_batch([start(account_id)], [], [], T0, "n1")
    clock = FakeClock()
    sender = FakeSender({HOOK_URL: [Attempt(False, 500, "HTTP 500: oops")]})
    d = deliverer(engine, clock, sender)
    waits: list[float] = []
    while True:
        [outcome] = await d.run_once()
        if outcome.state is OutboxState.GIVEN_UP:
            break
        assert outcome.retry_at is not None
        wait = (outcome.retry_at - clock()).total_seconds()
        waits.append(wait)
        clock.advance(wait - 1)
        assert await d.run_once() == []  # a second early: not yet
        clock.advance(1)
    # 5, 10, 20, 40, then the 60 s cap, until the row is 300 s old
    assert waits[:5] == [5, 10, 20, 40, 60]
    assert all(w == 60 for w in waits[4:])
    assert sum(waits) >= 300 - 60
    [entry] = await _log(engine, account_id, hook_id)
    assert entry.state is OutboxState.GIVEN_UP
    assert entry.last_status == 500
    assert entry.last_reason == "HTTP 500: oops"
    assert entry.attempts == len(waits) + 1
    assert entry.next_attempt_at is None
    assert d.given_up == 1


async def test_a_deleted_or_disabled_webhook_is_given_up_at_once(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    account_id, [gone, off] = await account_with_hooks(
        engine, hook(events=["call_started"]), hook("https://b.example.com/", ["call_started"])
    )
    await SqlCallWriter(engine, tmp_path).write_batch([start(account_id)], [], [], T0, "n1")
    async with engine.begin() as conn:
        await conn.execute(sa.delete(t.webhooks).where(t.webhooks.c.id == gone))
        await conn.execute(
            sa.update(t.webhooks).where(t.webhooks.c.id == off).values(enabled=False)
        )
    sender = FakeSender()
    outcomes = await deliverer(engine, FakeClock(), sender).run_once()
    assert [o.state for o in outcomes] == [OutboxState.GIVEN_UP, OutboxState.GIVEN_UP]
    assert "deleted" in outcomes[0].reason
    assert "disabled" in outcomes[1].reason
    assert sender.sent == []


async def test_a_node_killed_mid_delivery_sends_again_after_its_restart_once(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    account_id, _ = await account_with_hooks(engine, hook(events=["call_started"]))
    await SqlCallWriter(engine, tmp_path).write_batch([start(account_id)], [], [], T0, "n1")
    clock = FakeClock()
    outbox = SqlOutbox(engine)
    [claimed] = await outbox.claim("n1", clock(), 10, lease=120)  # then the node dies
    assert await outbox.claim("n2", clock(), 10, lease=120) == []  # leased: nobody else
    assert await outbox.release("n1", clock()) == 1  # n1 starts again
    sender = FakeSender()
    [outcome] = await deliverer(engine, clock, sender, node="n1").run_once()
    assert outcome.state is OutboxState.DELIVERED
    assert outcome.row_id == claimed.id
    assert await deliverer(engine, clock, sender, node="n1").run_once() == []
    assert len(sender.sent) == 1


async def test_an_expired_lease_is_claimed_by_another_node(engine: AsyncEngine) -> None:
    outbox = SqlOutbox(engine)
    await outbox.add([NewRow(OutboxKind.WEBHOOK, HOOK_URL, "call_started", "{}")], T0)
    assert len(await outbox.claim("n1", T0, 10, lease=30)) == 1
    assert await outbox.claim("n2", T0 + dt.timedelta(seconds=29), 10, lease=30) == []
    assert len(await outbox.claim("n2", T0 + dt.timedelta(seconds=30), 10, lease=30)) == 1


async def test_two_nodes_claiming_at_once_never_take_the_same_row(engine: AsyncEngine) -> None:
    outbox = SqlOutbox(engine)
    new = [
        NewRow(OutboxKind.WEBHOOK, HOOK_URL, "call_started", "{}", ordering_key=f"call:{i % 7}")
        for i in range(60)
    ]
    await outbox.add(new, T0)
    taken: list[int] = []
    for _ in range(10):
        batches = await asyncio.gather(
            *(outbox.claim(f"n{n}", T0, 5, lease=60) for n in range(4)), return_exceptions=True
        )
        for batch in batches:
            if isinstance(batch, BaseException):
                continue  # SQLite: a writer that found the database locked claims next time
            taken += [row.id for row in batch]
    assert len(taken) == len(set(taken))
    # one row per ordering key at a time: the 7 heads, nothing behind them
    assert len(taken) == 7


async def test_the_delivery_log_is_the_accounts_own(engine: AsyncEngine, tmp_path: Path) -> None:
    account_id, [hook_id] = await account_with_hooks(engine, hook(events=["call_started"]))
    other, _ = await account_with_hooks(engine)
    await SqlCallWriter(engine, tmp_path).write_batch([start(account_id)], [], [], T0, "n1")
    [entry] = await _log(engine, account_id, hook_id)
    assert entry.state is OutboxState.PENDING
    assert entry.attempts == 0
    assert entry.next_attempt_at == T0
    assert entry.target == HOOK_URL
    with pytest.raises(NotFound):
        await _log(engine, other, hook_id)


def test_retry_policy_rules() -> None:
    policy = RetryPolicy(base=1, factor=3, cap=100, give_up_after=1000)
    assert [policy.delay(n) for n in range(1, 7)] == [1, 3, 9, 27, 81, 100]
    assert policy.delay(10_000) == 100
    assert policy.after_failure(1, T0, T0, permanent=True).given_up
    assert policy.after_failure(3, T0, T0 + dt.timedelta(seconds=1000)).given_up
    listed = RetryPolicy(delays=(5, 30))
    assert listed.after_failure(1, T0, T0).retry_at == T0 + dt.timedelta(seconds=5)
    assert listed.after_failure(2, T0, T0).retry_at == T0 + dt.timedelta(seconds=30)
    assert listed.after_failure(3, T0, T0).given_up
    assert RetryPolicy(delays=()).after_failure(1, T0, T0).given_up
    with pytest.raises(ValueError, match="factor"):
        RetryPolicy(factor=0.5)
    with pytest.raises(ValueError, match="attempts"):
        policy.delay(0)
