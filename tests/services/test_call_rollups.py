"""The dashboards' daily rollups (vpbx.storage.call_rollups) against the calls themselves, on both
backends: for random calls over six weeks (DST changes, zones half and quarter hours off UTC, a
period starting within a day, "now" within the calls, a time zone changed after the rollups
were made), written in two goes with ratings, status changes and deletions between reads, the
dashboard read through the rollups equals the one read from the calls alone — counts exactly,
averages to the last bits of a double, p90 exactly when the waits are whole seconds and
within a histogram bin otherwise. Also: the migration rolls up the calls it finds, and the
triggers that keep the rollups right exist at head; p90 from the bins, without a database."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.dashboard_seeds import Seed, p90
from tests.dbs import database_params, make_test_database
from vpbx.domain.actor import Actor, Role
from vpbx.domain.entities.misc import Account
from vpbx.services.accounts import create_account
from vpbx.services.call_log import set_rating, write_calls
from vpbx.services.dashboards import Dashboard, DashboardFilter, Figures, bins_p90, dashboard
from vpbx.services.entities import EntityService
from vpbx.services.reports import CallTab
from vpbx.storage import tables as t
from vpbx.storage.db import make_async_engine, make_sync_engine
from vpbx.storage.migrate import upgrade


@pytest.fixture(scope="module", params=database_params())
def migrated_db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One database per backend for the module: each example seeds an account of its own."""
    with make_test_database(request.param, tmp_path_factory.mktemp("rollups")) as url:
        upgrade(url)
        yield url


ZONES = (
    "Europe/Moscow",
    "America/New_York",  # clocks forward on 9 March 2025
    "Asia/Kolkata",  # UTC+5:30: local days start within a UTC hour
    "Asia/Kathmandu",  # UTC+5:45
    "Australia/Lord_Howe",  # +11 → +10:30 on 6 April 2025
    "UTC",
)
START = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
DAYS = 42
#: the clock of the reads from the calls alone: before every call, so no day has ended
LONG_AGO = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
STATUSES = ("answered", "missed", "voicemail", "blocked", "failed", "interrupted", "active")

whole_seconds = st.integers(0, 120).map(float)
any_seconds = st.floats(0, 400, allow_nan=False, allow_infinity=False)


@st.composite
def seeds(draw: st.DrawFn, waits: st.SearchStrategy[float]) -> Seed:
    minute = draw(st.integers(0, DAYS * 24 * 60 - 1))
    status = draw(st.sampled_from(STATUSES))
    employee = draw(st.sampled_from(("e1", "e2", None)))
    return Seed(
        started=START + dt.timedelta(minutes=minute, seconds=draw(st.integers(0, 59))),
        status=status,
        wait=draw(waits),
        direction=draw(st.sampled_from(("incoming", "incoming", "outgoing", "internal"))),
        number=draw(st.sampled_from(("a", "b", None))),
        employee=employee,
        talk=draw(st.floats(0, 900, allow_nan=False)) if employee else 0.0,
        rating=draw(st.none() | st.integers(1, 5)) if status == "answered" else None,
    )


@dataclass(frozen=True)
class Case:
    zone: str
    first: list[Seed]
    #: the local day the period starts on (0 = 1 March), the hour it starts at, its length
    days: int
    tab: CallTab
    second: list[Seed] = field(default_factory=list)
    day: int = 0
    hour: int = 0
    number: str | None = None
    #: "now", counted from START (days may be after it: they have not ended)
    now_hours: int = 24 * 400
    #: the account's zone after the first read, when it changes
    new_zone: str | None = None
    #: every wait a whole number of seconds
    whole: bool = True


@st.composite
def cases(draw: st.DrawFn) -> Case:
    whole = draw(st.booleans())
    waits = whole_seconds if whole else any_seconds
    return Case(
        zone=draw(st.sampled_from(ZONES)),
        first=draw(st.lists(seeds(waits), min_size=1, max_size=40)),
        second=draw(st.lists(seeds(waits), max_size=25)),
        day=draw(st.integers(0, 20)),
        hour=draw(st.sampled_from((0, 0, 7))),
        days=draw(st.integers(3, 30)),
        tab=draw(st.sampled_from(list(CallTab))),
        number=draw(st.sampled_from(("a", "b", None))),
        now_hours=draw(st.sampled_from((24 * 400, 24 * 400, 24 * 12 + 5, 24 * 25 + 20))),
        new_zone=draw(st.none() | st.sampled_from(ZONES)),
        whole=whole,
    )


def _assert_same(rolled: Figures, raw: Figures, whole: bool) -> None:
    for name in ("total", "answered", "missed", "lost", "voicemail", "blocked", "active", "waited"):
        assert getattr(rolled, name) == getattr(raw, name), name
    if raw.wait_avg is None:
        assert rolled.wait_avg is None
    else:
        assert rolled.wait_avg == pytest.approx(raw.wait_avg, rel=1e-12, abs=1e-9)
    if raw.wait_p90 is None:
        assert rolled.wait_p90 is None
        return
    assert rolled.wait_p90 is not None
    # whole seconds: each bin holds one value, p90 is exact; otherwise within a bin (≤ 1 s)
    bound = 1e-9 if whole else 1.0 + 1e-9
    assert abs(rolled.wait_p90 - raw.wait_p90) <= bound, (rolled.wait_p90, raw.wait_p90)


def _assert_dashboards(rolled: Dashboard, raw: Dashboard, whole: bool) -> None:
    assert (rolled.start, rolled.end, rolled.bucket) == (raw.start, raw.end, raw.bucket)
    assert [b.start for b in rolled.buckets] == [b.start for b in raw.buckets]
    _assert_same(rolled.totals, raw.totals, whole)
    for ours, theirs in zip(rolled.buckets, raw.buckets, strict=True):
        _assert_same(ours.figures, theirs.figures, whole)
    mine = {e.employee_id: e for e in rolled.employees}
    assert set(mine) == {e.employee_id for e in raw.employees}
    for theirs in raw.employees:
        ours = mine[theirs.employee_id]
        assert (ours.name, ours.calls, ours.answered, ours.ratings) == (
            theirs.name,
            theirs.calls,
            theirs.answered,
            theirs.ratings,
        )
        assert ours.talk_seconds == pytest.approx(theirs.talk_seconds, rel=1e-12, abs=1e-9)
        assert ours.rating_avg == theirs.rating_avg


async def _account(
    conn: Any, zone: str, now: dt.datetime
) -> tuple[int, dict[str, int], dict[str, int]]:
    account_id = await create_account(conn, Account(name="rollups", timezone=zone), now)
    svc = EntityService(conn, Actor(Role.ADMIN, account_id), lambda: now)
    phone = [{"kind": "number", "number": "79160000009"}]
    employees = {
        key: (await svc.create("employees", {"last_name": key, "phones": phone})).model_dump()["id"]
        for key in ("e1", "e2")
    }
    numbers = {
        key: (await svc.create("numbers", {"number": f"7495{account_id:03d}{n:04d}"})).model_dump()[
            "id"
        ]
        for n, key in enumerate(("a", "b"))
    }
    return account_id, numbers, employees


async def _both(
    conn: Any, account_id: int, flt: DashboardFilter, now: dt.datetime
) -> tuple[Dashboard, Dashboard]:
    """The dashboard through the rollups (the clock at `now`) and from the calls alone."""
    rolled = await dashboard(EntityService(conn, Actor(Role.ADMIN, account_id), lambda: now), flt)
    raw = await dashboard(EntityService(conn, Actor(Role.ADMIN, account_id), lambda: LONG_AGO), flt)
    return rolled, raw


async def _run(url: str, case: Case) -> tuple[Dashboard, Dashboard, Dashboard, Dashboard]:
    now = START + dt.timedelta(hours=case.now_hours)
    engine = make_async_engine(url)
    try:
        async with engine.begin() as conn:
            account_id, numbers, employees = await _account(conn, case.zone, now)
            await write_calls(
                conn, [s.record(account_id, numbers, employees) for s in case.first], now
            )
        start = dt.datetime(2025, 3, 1 + case.day, case.hour)
        flt = DashboardFilter(
            start,
            dt.datetime(2025, 3, 1 + case.day) + dt.timedelta(days=case.days),
            number_id=numbers[case.number] if case.number else None,
            tab=case.tab,
        )
        async with engine.begin() as conn:
            before = await _both(conn, account_id, flt, now)
        async with engine.begin() as conn:
            # what happens to calls later: more of them, a rating, a status, a deletion, a zone
            ids = await write_calls(
                conn, [s.record(account_id, numbers, employees) for s in case.second], now
            )
            c = t.calls.c
            oldest = sa.select(c.id).where(c.account_id == account_id).order_by(c.started_at)
            first_id = (await conn.execute(oldest.limit(1))).scalar_one()
            await set_rating(conn, account_id, first_id, 4, now=now)
            await conn.execute(
                sa.update(t.calls)
                .where(c.id == first_id)
                .values(status="missed", wait_seconds=c.wait_seconds + 1)
            )
            if ids:
                await conn.execute(sa.delete(t.calls).where(c.id == ids[-1]))
            if case.new_zone is not None:
                await conn.execute(
                    sa.update(t.accounts)
                    .where(t.accounts.c.id == account_id)
                    .values(timezone=case.new_zone)
                )
        async with engine.begin() as conn:
            after = await _both(conn, account_id, flt, now)
        return (*before, *after)
    finally:
        await engine.dispose()


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=cases())
def test_the_rollups_give_the_figures_of_the_calls(migrated_db_url: str, case: Case) -> None:
    rolled, raw, rolled_after, raw_after = asyncio.run(_run(migrated_db_url, case))
    _assert_dashboards(rolled, raw, case.whole)
    _assert_dashboards(rolled_after, raw_after, case.whole)
    assert rolled_after.timezone == (case.new_zone or case.zone)


def test_whole_ended_days_are_read_from_the_rollups(migrated_db_url: str) -> None:
    # The figures of ended days come from the rollups: a rollup row changed by hand shows.
    first = [Seed(START + dt.timedelta(days=d, hours=9), "answered", 5.0) for d in range(10)]
    case = Case("Asia/Kolkata", first, days=10, tab=CallTab.INCOMING)
    rolled, raw, _, _ = asyncio.run(_run(migrated_db_url, case))
    assert rolled.totals.total == raw.totals.total == 10
    r = t.call_rollups

    async def changed_by_hand() -> tuple[list[tuple[dt.date, int]], Dashboard]:
        engine = make_async_engine(migrated_db_url)
        try:
            async with engine.begin() as conn:
                account_id = (await conn.execute(sa.select(sa.func.max(t.accounts.c.id)))).one()[0]
                rows = (
                    await conn.execute(
                        sa.select(r.c.day, r.c.calls).where(r.c.account_id == account_id)
                    )
                ).all()
                await conn.execute(
                    sa.update(r).where(r.c.account_id == account_id).values(calls=r.c.calls + 1)
                )
                svc = EntityService(
                    conn, Actor(Role.ADMIN, account_id), lambda: LONG_AGO.replace(year=2026)
                )
                found = await dashboard(
                    svc, DashboardFilter(dt.datetime(2025, 3, 1), dt.datetime(2025, 3, 11))
                )
            return [(row[0], row[1]) for row in rows], found
        finally:
            await engine.dispose()

    rows, found = asyncio.run(changed_by_hand())
    # one row a day (one status, one direction), on the local day the call was made (09:00 UTC
    # is 14:30 in Kolkata)
    assert sorted(rows) == [(dt.date(2025, 3, 1 + d), 1) for d in range(10)]
    # nothing marked those days: the figures are the rollups', not recounted from the calls
    assert found.totals.total == 2 * 10


def _triggers(url: str) -> set[str]:
    engine = make_sync_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                query = "SELECT tgname FROM pg_trigger WHERE tgrelid = 'calls'::regclass"
            else:
                query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
            return {row[0] for row in conn.exec_driver_sql(query)}
    finally:
        engine.dispose()


def test_the_triggers_that_mark_changed_calls_exist_at_head(migrated_db_url: str) -> None:
    # a migration that rebuilds `calls` on SQLite (batch mode) drops them: it must make them again
    assert {"calls_rollup_insert", "calls_rollup_update", "calls_rollup_delete"} <= _triggers(
        migrated_db_url
    )


@pytest.mark.parametrize("kind", [p.values[0] for p in database_params()])
def test_the_migration_rolls_up_the_calls_it_finds(kind: str, tmp_path: Path) -> None:
    with make_test_database(kind, tmp_path) as url:
        upgrade(url, "0013")
        now = dt.datetime.now(dt.UTC)
        old = [
            Seed(now - dt.timedelta(days=d, hours=h), status, float(d + h), employee="e1")
            for d, h, status in ((3, 1, "answered"), (3, 2, "missed"), (9, 0, "answered"))
        ]
        today = [Seed(now, "answered", 2.0)]

        async def seed() -> int:
            engine = make_async_engine(url)
            try:
                async with engine.begin() as conn:
                    account_id, numbers, employees = await _account(conn, "Europe/Moscow", now)
                    records = [s.record(account_id, numbers, employees) for s in old + today]
                    await write_calls(conn, records, now)
                return account_id
            finally:
                await engine.dispose()

        account_id = asyncio.run(seed())
        upgrade(url)
        engine = make_sync_engine(url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                rolled = conn.execute(
                    sa.select(sa.func.sum(t.call_rollups.c.calls)).where(
                        t.call_rollups.c.account_id == account_id
                    )
                ).scalar_one()
                zone = conn.execute(sa.select(t.call_rollup_zones.c.zone)).scalar_one()
                marked = conn.execute(sa.select(sa.func.count()).select_from(t.call_rollup_marks))
                marks = marked.scalar_one()
        finally:
            engine.dispose()
        # the ended days' calls rolled up, today's marked for when today ends
        assert (rolled, zone, marks) == (len(old), "Europe/Moscow", 1)
        assert {"calls_rollup_insert", "calls_rollup_update"} <= _triggers(url)


def test_an_account_deleted_with_its_calls_takes_its_rollups(migrated_db_url: str) -> None:
    case = Case(
        "Europe/Moscow",
        [Seed(START + dt.timedelta(days=d), "missed", 3.0) for d in range(3)],
        days=10,
        tab=CallTab.ALL,
        second=[Seed(START + dt.timedelta(days=5), "answered", 1.0, employee="e1")],
    )
    asyncio.run(_run(migrated_db_url, case))
    engine = make_sync_engine(migrated_db_url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            account_id = conn.execute(sa.select(sa.func.max(t.accounts.c.id))).scalar_one()
            # the calls go by the cascade, their triggers run while the account is going
            conn.execute(sa.delete(t.accounts).where(t.accounts.c.id == account_id))
        with engine.connect() as conn:
            left = {
                table.name: conn.execute(
                    sa.select(sa.func.count())
                    .select_from(table)
                    .where(table.c.account_id == account_id)
                ).scalar_one()
                for table in (
                    t.calls,
                    t.call_rollups,
                    t.call_employee_rollups,
                    t.call_wait_rollups,
                    t.call_rollup_zones,
                )
            }
    finally:
        engine.dispose()
    assert left == dict.fromkeys(left, 0)


# -- p90 from the bins, without a database ------------------------------------------------------


def _bins(waits: list[float]) -> tuple[list[tuple[int, int, float, float]], int]:
    """What the wait bins query sends for these waits: every bin with the waits before it
    (vpbx.storage.call_rollups.wait_bin's bins, made here in Python)."""
    groups: dict[int, list[float]] = {}
    for wait in waits:
        key = int(wait * 10) if wait < 10 else int(wait) + 90
        groups.setdefault(key, []).append(wait)
    found, before = [], 0
    for key in sorted(groups):
        values = groups[key]
        found.append((before, len(values), min(values), max(values)))
        before += len(values)
    return found, len(waits)


@given(st.lists(whole_seconds, min_size=1, max_size=200))
def test_p90_from_bins_of_whole_seconds_is_percentile_cont(waits: list[float]) -> None:
    assert bins_p90(*_bins(waits)) == pytest.approx(p90(sorted(waits)), abs=1e-9)


@given(st.lists(any_seconds, min_size=1, max_size=200))
def test_p90_from_bins_is_within_a_bin(waits: list[float]) -> None:
    exact = p90(sorted(waits))
    assert exact is not None
    found = bins_p90(*_bins(waits))
    assert found is not None
    width = 0.1 if exact < 10 else 1.0
    assert abs(found - exact) <= width + 1e-9


def test_p90_reads_a_bin_between_its_least_and_greatest_wait() -> None:
    # 10 waits: p90 at rank 8.1; ranks 8 and 9 are the last of a bin of 3 (40.2, 40.5, 40.9)
    # and the one wait of the next: exact although the bin holds several
    waits = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 40.2, 40.5, 40.9, 60.0]
    assert bins_p90(*_bins(waits)) == pytest.approx(40.9 + 0.1 * (60.0 - 40.9))
    assert bins_p90([], 0) is None
