"""Login throttling (per login and per source address) and password hashing off the event loop."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from vpbx.domain.passwords import hash_password
from vpbx.services.auth import (
    AuthPolicy,
    DatabaseThrottle,
    LoginThrottle,
    MemoryThrottle,
    TooManyAttempts,
    check_password,
)
from vpbx.storage.db import make_async_engine

NOW = dt.datetime(2025, 3, 14, 9, 30, tzinfo=dt.UTC)
POLICY = AuthPolicy(window=dt.timedelta(minutes=15), per_login=3, per_source=5)


@pytest.fixture
async def engine(migrated_db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_async_engine(migrated_db_url)
    yield engine
    await engine.dispose()


@pytest.fixture(params=["memory", "database"])
async def throttle(request: pytest.FixtureRequest, engine: AsyncEngine) -> LoginThrottle:
    if request.param == "memory":
        return MemoryThrottle(POLICY)
    return DatabaseThrottle(engine, POLICY)


def at(seconds: float) -> dt.datetime:
    return NOW + dt.timedelta(seconds=seconds)


async def test_a_login_is_locked_after_its_limit_until_the_oldest_failure_expires(
    throttle: LoginThrottle,
) -> None:
    for second in (0, 60, 120):
        await throttle.begin("anna", "10.0.0.1", at(second))

    with pytest.raises(TooManyAttempts) as locked:
        await throttle.begin("anna", "10.0.0.2", at(130))

    assert locked.value.retry_after == 15 * 60 - 130
    assert locked.value.status == 429
    # Another login from the same address is not locked; anna is again once the first expires.
    await throttle.begin("boris", "10.0.0.1", at(130))
    await throttle.begin("anna", "10.0.0.1", at(15 * 60 + 1))


async def test_a_source_is_locked_after_its_own_higher_limit(throttle: LoginThrottle) -> None:
    for n in range(5):
        await throttle.begin(f"user{n}", "203.0.113.9", at(n))

    with pytest.raises(TooManyAttempts) as locked:
        await throttle.begin("someone-else", "203.0.113.9", at(10))

    assert "address" in locked.value.message
    await throttle.begin("someone-else", "203.0.113.10", at(10))


async def test_a_success_forgets_the_logins_failures(throttle: LoginThrottle) -> None:
    await throttle.begin("anna", "10.0.0.1", at(0))
    await throttle.begin("anna", "10.0.0.1", at(1))
    good = await throttle.begin("anna", "10.0.0.1", at(2))

    await throttle.succeeded(good)

    for second in (3, 4, 5):
        await throttle.begin("anna", "10.0.0.1", at(second))
    with pytest.raises(TooManyAttempts):
        await throttle.begin("anna", "10.0.0.1", at(6))


async def test_concurrent_guesses_count_before_their_passwords_are_checked(
    engine: AsyncEngine,
) -> None:
    # The attempt is recorded first: a burst cannot all pass the check while none has failed.
    throttle = DatabaseThrottle(engine, POLICY)
    results = await asyncio.gather(
        *(throttle.begin("anna", f"10.0.0.{n}", at(0)) for n in range(6)),
        return_exceptions=True,
    )
    admitted = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(admitted) == POLICY.per_login
    assert all(isinstance(r, TooManyAttempts) for r in refused), refused


async def test_password_hashing_does_not_stall_the_event_loop() -> None:
    stored = hash_password("the-password")
    gaps: list[float] = []

    async def ticker() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.002)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    started = time.perf_counter()
    results = [await check_password(f"guess-{n}", stored) for n in range(4)]
    results.append(await check_password("anything", None))  # unknown login: dummy hash
    elapsed = time.perf_counter() - started
    task.cancel()

    assert results == [False] * 5
    assert elapsed > 0.05  # the hashing did happen (scrypt, ~10-50 ms each)
    # On the loop, each scrypt would be one gap of its whole duration.
    assert max(gaps) < 0.5 * elapsed / 5 + 0.02, (max(gaps), elapsed)
