"""CDR-3 dashboards on both backends (SQLite file and a PostgreSQL schema): a seeded set of calls
against what tests/dashboard_seeds.py computes from the seeds in Python — local hour buckets
across the UTC day boundary (the account is in UTC+5), a DST zone whose clocks go back and
forward, missed vs lost, p90 of a known list, the employee's own figures, the period's checks.
The pure pieces (offset changes, bucket starts) are tested without a database below."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tests.dashboard_seeds import Seed, by_bucket, by_employee, chosen, figures, p90
from tests.dbs import database_params, make_test_database
from vpbx.domain.actor import Actor, Role
from vpbx.domain.entities.misc import Account
from vpbx.domain.errors import ValidationFailed
from vpbx.services.accounts import create_account
from vpbx.services.call_log import write_calls
from vpbx.services.dashboards import (
    Bucket,
    Dashboard,
    DashboardFilter,
    Figures,
    bucket_starts,
    dashboard,
    offset_spans,
)
from vpbx.services.entities import EntityService
from vpbx.services.reports import CallTab
from vpbx.storage.migrate import upgrade


@pytest.fixture(scope="module", params=database_params())
def migrated_db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One database per backend for the module: each test seeds an account of its own."""
    with make_test_database(request.param, tmp_path_factory.mktemp("dashboards")) as url:
        upgrade(url)
        yield url


EKB = ZoneInfo("Asia/Yekaterinburg")  # UTC+5, no DST
NEW_YORK = ZoneInfo("America/New_York")
NOW = dt.datetime(2025, 12, 1, 12, 0, tzinfo=dt.UTC)


def ekb(day: int, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(2025, 3, day, hour, minute, second, tzinfo=EKB)


#: waits of the answered and missed calls of 12:00 on the 10th: p90 at rank 8.1 of 10
KNOWN_WAITS = (2.0, 4.0, 4.0, 5.0, 7.0, 9.0, 10.0, 12.0, 15.0, 31.0)

SEEDS: tuple[Seed, ...] = (
    Seed(ekb(9, 21, 59, 59), "answered", 4, employee="e1", talk=10),  # before the period
    Seed(ekb(9, 22, 10), "answered", 3, employee="e1", talk=60, rating=5),
    Seed(ekb(9, 23, 59, 59), "missed", 20),
    # 19:30 UTC on the 9th: the 10th in the account's zone
    Seed(ekb(10, 0, 30), "answered", 7, employee="e2", talk=125.5, rating=4),
    Seed(ekb(10, 0, 45), "voicemail", 30, employee="e1"),
    Seed(ekb(10, 9, 0), "failed", 1),
    Seed(ekb(10, 9, 10), "interrupted", 12, employee="e1", talk=40),
    Seed(ekb(10, 9, 20), "blocked"),
    Seed(ekb(10, 9, 30), "active", 6),
    *(
        Seed(
            ekb(10, 12, 5 * n),
            "missed" if n % 3 == 0 else "answered",
            wait,
            employee=None if n % 3 == 0 else ("e1" if n % 2 else "e2"),
            talk=0 if n % 3 == 0 else 30.0 + n,
            rating=None if n % 3 == 0 or n == 7 else 1 + n % 5,
        )
        for n, wait in enumerate(KNOWN_WAITS)
    ),
    Seed(ekb(10, 13, 0), "answered", 9, direction="outgoing", employee="e1", talk=30),
    Seed(ekb(10, 13, 5), "answered", 2, direction="internal", employee="e2", talk=5),
    Seed(ekb(10, 14, 0), "missed", 11, number="b"),
    Seed(ekb(10, 14, 30), "answered", 6, number="b", employee="e2", talk=20, rating=2),
    Seed(ekb(11, 0, 0), "missed", 5),  # the period's end: not in it
)
#: local times without an offset: read in the account's zone
FROM, TO = dt.datetime(2025, 3, 9, 22, 0), dt.datetime(2025, 3, 11, 0, 0)


@dataclass(frozen=True)
class Seeded:
    svc: EntityService
    numbers: dict[str, int]
    employees: dict[str, int]


async def _account(conn: AsyncConnection, zone: ZoneInfo, seeds: Sequence[Seed]) -> Seeded:
    account_id = await create_account(conn, Account(name="dash", timezone=zone.key), NOW)
    svc = EntityService(conn, Actor(Role.ADMIN, account_id), lambda: NOW)
    phone = [{"kind": "number", "number": "79160000009"}]
    employees = {
        "e1": (await svc.create("employees", {"last_name": "Петров", "first_name": "Иван",
                                              "phones": phone})).model_dump()["id"],
        "e2": (await svc.create("employees", {"last_name": "Смирнова", "phones": phone}))
        .model_dump()["id"],
    }  # fmt: skip
    numbers = {
        key: (await svc.create("numbers", {"number": f"7495{account_id:03d}{n:04d}"})).model_dump()[
            "id"
        ]
        for n, key in enumerate(("a", "b"))
    }
    await write_calls(conn, [s.record(account_id, numbers, employees) for s in seeds], NOW)
    return Seeded(svc, numbers, employees)


def _plain(found: Figures) -> dict[str, Any]:
    return {name: getattr(found, name) for name in Figures.__dataclass_fields__}


def _assert_figures(found: Figures, expected: dict[str, Any]) -> None:
    got = _plain(found)
    for name in ("wait_avg", "wait_p90"):
        assert got.pop(name) == (
            pytest.approx(expected[name], abs=1e-9) if expected[name] is not None else None
        ), name
    assert got == {k: v for k, v in expected.items() if k not in ("wait_avg", "wait_p90")}


def _buckets(found: Dashboard) -> dict[dt.datetime, Figures]:
    return {b.start.replace(tzinfo=None): b.figures for b in found.buckets}


async def test_hour_buckets_counts_waits_and_employees(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        seeded = await _account(conn, EKB, SEEDS)
        found = await dashboard(seeded.svc, DashboardFilter(FROM, TO))
    start, end = FROM.replace(tzinfo=EKB), TO.replace(tzinfo=EKB)
    seeds = chosen(SEEDS, start, end)

    assert (found.bucket, found.timezone) == (Bucket.HOUR, "Asia/Yekaterinburg")
    assert (found.start, found.end) == (start, end)
    _assert_figures(found.totals, figures(seeds))
    # every local hour of the period, in order, 26 of them; the calls where Python puts them
    buckets = _buckets(found)
    assert list(buckets) == [FROM + dt.timedelta(hours=h) for h in range(26)]
    assert [b.start.utcoffset() for b in found.buckets] == [dt.timedelta(hours=5)] * 26
    expected = by_bucket(seeds, EKB, hourly=True)
    for key, got in buckets.items():
        _assert_figures(got, expected.get(key, figures([])))
    # the call of 00:30 local (19:30 UTC the day before) is in the 10th's first hour
    assert buckets[dt.datetime(2025, 3, 10, 0, 0)].answered == 1
    # missed vs lost: one missed before midnight, failed + interrupted at 09:00
    assert (buckets[dt.datetime(2025, 3, 9, 23, 0)].missed, found.totals.lost) == (1, 2)
    assert buckets[dt.datetime(2025, 3, 10, 9, 0)].lost == 2
    # p90 of the known list of waits: 15 + 0.1 * (31 - 15)
    noon = buckets[dt.datetime(2025, 3, 10, 12, 0)]
    assert noon.waited == len(KNOWN_WAITS)
    assert noon.wait_p90 == pytest.approx(p90(KNOWN_WAITS)) == pytest.approx(16.6)
    assert noon.wait_avg == pytest.approx(sum(KNOWN_WAITS) / len(KNOWN_WAITS))

    # per employee, longest talk first, named as in the employees list
    per_employee = by_employee(seeds)
    order = sorted(per_employee, key=lambda k: -float(per_employee[k]["talk_seconds"] or 0))
    assert [e.employee_id for e in found.employees] == [seeded.employees[k] for k in order]
    names = {"e1": "Петров Иван", "e2": "Смирнова"}
    for name, row in zip(order, found.employees, strict=True):
        assert row.name == names[name]
        want = per_employee[name]
        assert (row.calls, row.answered, row.ratings) == (
            want["calls"],
            want["answered"],
            want["ratings"],
        )
        assert row.talk_seconds == pytest.approx(want["talk_seconds"])
        assert row.rating_avg == pytest.approx(want["rating_avg"])


async def test_day_buckets_number_filter_and_other_tabs(engine: AsyncEngine) -> None:
    start, end = dt.datetime(2025, 3, 1), dt.datetime(2025, 4, 1)
    async with engine.begin() as conn:
        seeded = await _account(conn, EKB, SEEDS)
        svc = seeded.svc
        month = await dashboard(svc, DashboardFilter(start, end))
        number_b = seeded.numbers["b"]
        one_number = await dashboard(svc, DashboardFilter(start, end, number_id=number_b))
        everything = await dashboard(svc, DashboardFilter(start, end, tab=CallTab.ALL))
    bounds = (start.replace(tzinfo=EKB), end.replace(tzinfo=EKB))

    assert month.bucket is Bucket.DAY
    days = _buckets(month)
    assert list(days) == [dt.datetime(2025, 3, d) for d in range(1, 32)]
    expected = by_bucket(chosen(SEEDS, *bounds), EKB, hourly=False)
    for key, got in days.items():
        _assert_figures(got, expected.get(key, figures([])))
    # local days: 19:30 UTC on the 9th is counted on the 10th
    assert days[dt.datetime(2025, 3, 9)].total == 3
    _assert_figures(one_number.totals, figures(chosen(SEEDS, *bounds, number="b")))
    _assert_figures(
        everything.totals,
        figures(chosen(SEEDS, *bounds, directions=("incoming", "outgoing", "internal"))),
    )


async def test_buckets_follow_the_clock_when_it_goes_back_and_forward(engine: AsyncEngine) -> None:
    # New York: EDT → EST at 06:00 UTC on 2 November 2025 (01:00-02:00 local happens twice),
    # EST → EDT at 07:00 UTC on 9 March 2025 (02:00-03:00 local does not happen).
    utc = dt.UTC
    back = [
        Seed(dt.datetime(2025, 11, 2, 4, 30, tzinfo=utc), "answered", 2, employee="e1"),
        Seed(dt.datetime(2025, 11, 2, 5, 30, tzinfo=utc), "missed", 4),  # 01:30 EDT
        Seed(dt.datetime(2025, 11, 2, 6, 30, tzinfo=utc), "answered", 6, employee="e2"),  # EST
        Seed(dt.datetime(2025, 11, 2, 7, 30, tzinfo=utc), "failed", 1),
    ]
    forward = [
        Seed(dt.datetime(2025, 3, 9, 6, 59, 59, tzinfo=utc), "missed", 3),  # 01:59:59 EST
        Seed(dt.datetime(2025, 3, 9, 7, 0, tzinfo=utc), "answered", 5, employee="e1"),  # 03:00
    ]
    async with engine.begin() as conn:
        svc = (await _account(conn, NEW_YORK, [*back, *forward])).svc
        autumn = await dashboard(
            svc, DashboardFilter(dt.datetime(2025, 11, 1, 22), dt.datetime(2025, 11, 2, 6))
        )
        spring = await dashboard(
            svc, DashboardFilter(dt.datetime(2025, 3, 9, 0), dt.datetime(2025, 3, 9, 6))
        )
        days = await dashboard(
            svc, DashboardFilter(dt.datetime(2025, 11, 1), dt.datetime(2025, 11, 4))
        )

    hours = _buckets(autumn)
    # 22:00 … 05:00: eight wall-clock hours over nine real ones, 01:00 once with both calls
    assert list(hours) == [dt.datetime(2025, 11, 1, 22) + dt.timedelta(hours=h) for h in range(8)]
    expected = by_bucket(back, NEW_YORK, hourly=True)
    for key, got in hours.items():
        _assert_figures(got, expected.get(key, figures([])))
    assert (
        hours[dt.datetime(2025, 11, 2, 1)].missed,
        hours[dt.datetime(2025, 11, 2, 1)].answered,
    ) == (1, 1)
    spring_hours = _buckets(spring)
    assert dt.datetime(2025, 3, 9, 2) not in spring_hours
    assert spring_hours[dt.datetime(2025, 3, 9, 1)].missed == 1
    assert spring_hours[dt.datetime(2025, 3, 9, 3)].answered == 1
    # the offsets of the buckets: -4 h before the change, -5 h after
    offsets = {b.start.replace(tzinfo=None): b.start.utcoffset() for b in days.buckets}
    assert offsets[dt.datetime(2025, 11, 1)] == dt.timedelta(hours=-4)
    assert offsets[dt.datetime(2025, 11, 3)] == dt.timedelta(hours=-5)
    assert _buckets(days)[dt.datetime(2025, 11, 2)].total == 4


async def test_an_employee_gets_his_own_figures(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        seeded = await _account(conn, EKB, SEEDS)
        account_id, e1 = seeded.svc.account_id, seeded.employees["e1"]
        his = EntityService(conn, Actor(Role.EMPLOYEE, account_id, 5, e1), lambda: NOW)
        found = await dashboard(his, DashboardFilter(FROM, TO))
        nobody = EntityService(conn, Actor(Role.EMPLOYEE, account_id, 6, None), lambda: NOW)
        empty = await dashboard(nobody, DashboardFilter(FROM, TO))
    seeds = chosen(SEEDS, FROM.replace(tzinfo=EKB), TO.replace(tzinfo=EKB), employee="e1")
    _assert_figures(found.totals, figures(seeds))
    assert [e.employee_id for e in found.employees] == [e1]
    assert found.employees[0].calls == len(seeds)
    _assert_figures(empty.totals, figures([]))
    assert empty.employees == []


async def test_a_period_without_calls_is_empty_not_an_error(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        svc = (await _account(conn, EKB, SEEDS)).svc
        found = await dashboard(
            svc, DashboardFilter(dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 2))
        )
    assert found.totals == Figures()
    assert [b.figures for b in found.buckets] == [Figures()] * 24
    assert found.employees == []


#: (start, end, error_id) of periods refused on `to`
BAD_PERIODS = (
    (dt.datetime(2025, 3, 10), dt.datetime(2025, 3, 10), "period_order"),
    (dt.datetime(2025, 3, 10), dt.datetime(2025, 3, 9), "period_order"),
    (dt.datetime(2025, 1, 1), dt.datetime(2026, 1, 3), "period_too_long"),
    # with offsets: an end after the start as written, before it in UTC
    (
        dt.datetime(2025, 3, 10, 10, tzinfo=dt.timezone(dt.timedelta(hours=-3))),
        dt.datetime(2025, 3, 10, 12, tzinfo=dt.timezone(dt.timedelta(hours=5))),
        "period_order",
    ),
)


async def test_a_bad_period_is_refused_on_to(engine: AsyncEngine) -> None:
    refused: list[tuple[str, str, str]] = []
    async with engine.begin() as conn:
        svc = (await _account(conn, EKB, [])).svc
        for start, end, _ in BAD_PERIODS:
            with pytest.raises(ValidationFailed) as error:
                await dashboard(svc, DashboardFilter(start, end))
            (violation,) = error.value.violations
            refused.append((violation.field, violation.error_id, violation.rule))
        # 366 days (a leap year's worth) is allowed, by the day
        longest = await dashboard(
            svc, DashboardFilter(dt.datetime(2024, 1, 1), dt.datetime(2025, 1, 1))
        )
    assert [(field, error_id) for field, error_id, _ in refused] == [
        ("to", error_id) for _, _, error_id in BAD_PERIODS
    ]
    assert all(" / " in rule for _, _, rule in refused)  # Russian / English
    assert longest.bucket is Bucket.DAY
    assert len(longest.buckets) == 366


# -- without a database ------------------------------------------------------------------------


def test_offset_spans_find_the_changes_to_the_second() -> None:
    low = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    high = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert offset_spans(NEW_YORK, low, high) == [
        (dt.datetime(2025, 3, 9, 7, 0, tzinfo=dt.UTC), -5 * 3600),
        (dt.datetime(2025, 11, 2, 6, 0, tzinfo=dt.UTC), -4 * 3600),
        (None, -5 * 3600),
    ]
    assert offset_spans(EKB, low, high) == [(None, 5 * 3600)]
    # a change at the period's very end still counts for the instants before it only
    end = dt.datetime(2025, 3, 9, 7, 0, tzinfo=dt.UTC)
    spans = offset_spans(NEW_YORK, end - dt.timedelta(hours=3), end)
    assert spans[0][1] == -5 * 3600


def test_bucket_starts_skip_the_missing_hour_and_keep_one_repeated_hour() -> None:
    utc = dt.UTC
    spring = bucket_starts(
        dt.datetime(2025, 3, 9, 5, tzinfo=utc), dt.datetime(2025, 3, 9, 9, tzinfo=utc),
        NEW_YORK, Bucket.HOUR,
    )  # fmt: skip
    assert spring == [dt.datetime(2025, 3, 9, h) for h in (0, 1, 3, 4)]
    autumn = bucket_starts(
        dt.datetime(2025, 11, 2, 4, tzinfo=utc), dt.datetime(2025, 11, 2, 8, tzinfo=utc),
        NEW_YORK, Bucket.HOUR,
    )  # fmt: skip
    assert autumn == [dt.datetime(2025, 11, 2, h) for h in (0, 1, 2)]
    # a period starting mid-hour starts its first bucket at the hour; days at midnight
    assert bucket_starts(
        dt.datetime(2025, 3, 10, 4, 30, tzinfo=utc), dt.datetime(2025, 3, 12, 1, tzinfo=utc),
        EKB, Bucket.DAY,
    ) == [dt.datetime(2025, 3, d) for d in (10, 11, 12)]  # fmt: skip
