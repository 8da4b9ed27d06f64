"""Dashboards (CDR-3): calls per hour or day, answered / missed / lost, wait, per employee.

Every figure is an SQL aggregate over the rows the calls report would list for the same tab,
period and virtual number (`reports.call_query`: the actor's account, and for the employee role
his own calls only), so the dashboard and the report agree call for call:

- answered = status `answered`, missed = status `missed` (nobody answered and the caller left
  no message: the report's «Пропущенный», what auto-callback and the `call_missed` webhook
  take), lost = `failed` + `interrupted` (the PBX lost the call: a processing failure, or the
  switch died during it); voicemail, blocked and calls still in progress are counted apart.
- wait is the report's `wait_seconds` (from the call's start to the first answer, or to its end
  when nobody answered), over the answered and the missed calls: how long callers waited for
  an employee, whether they got one or gave up. p90 interpolates like PostgreSQL's
  `percentile_cont(0.9)`, which it is there; SQLite has no percentile, so the same
  interpolation is done with window functions (rank and count per bucket).
- buckets are local hours of the account's time zone for periods up to two days, local days
  otherwise; PostgreSQL converts with `timezone(zone, started_at)`, SQLite (no zones) adds the
  zone's UTC offset, chosen per instant by a CASE over the offset changes within the period.
"""

from __future__ import annotations

import datetime as dt
import enum
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from vpbx.domain.entities.misc import CallStatus
from vpbx.domain.errors import ValidationFailed
from vpbx.services.calendar import account_zone
from vpbx.services.entities import EntityService
from vpbx.services.reports import CallFilter, CallTab, call_query, utc_bound
from vpbx.storage import tables as t

__all__ = [
    "HOURLY_UP_TO",
    "LOST",
    "MAX_DAYS",
    "WAITED",
    "Bucket",
    "BucketFigures",
    "Dashboard",
    "DashboardFilter",
    "EmployeeFigures",
    "Figures",
    "dashboard",
    "dashboard_queries",
    "offset_spans",
]

#: the longest period a dashboard covers (a leap year)
MAX_DAYS = 366
#: periods up to this long are shown by the hour, longer ones by the day
HOURLY_UP_TO = dt.timedelta(days=2)
#: the calls the wait figures are over: callers who waited for an employee
WAITED = (CallStatus.ANSWERED.value, CallStatus.MISSED.value)
#: calls the PBX lost
LOST = (CallStatus.FAILED.value, CallStatus.INTERRUPTED.value)
PERCENTILE = 0.9


class Bucket(enum.StrEnum):
    """How the period is cut for the charts."""

    HOUR = "hour"
    DAY = "day"


@dataclass(frozen=True, slots=True)
class DashboardFilter:
    """What a dashboard covers: a period (a time without an offset is in the account's zone),
    the report's tab (incoming calls by default) and optionally one virtual number."""

    start: dt.datetime
    end: dt.datetime
    number_id: int | None = None
    tab: CallTab = CallTab.INCOMING


@dataclass(frozen=True, slots=True)
class Figures:
    """Counts and waits of a set of calls (a bucket, or the whole period)."""

    total: int = 0
    answered: int = 0
    missed: int = 0
    lost: int = 0
    voicemail: int = 0
    blocked: int = 0
    active: int = 0
    #: how many calls the wait figures are over (answered + missed)
    waited: int = 0
    wait_avg: float | None = None
    wait_p90: float | None = None


@dataclass(frozen=True, slots=True)
class BucketFigures:
    """One bar of the charts: the local hour or day it starts at, in the account's zone."""

    start: dt.datetime
    figures: Figures


@dataclass(frozen=True, slots=True)
class EmployeeFigures:
    """An employee's calls of the period (those the report shows with his name)."""

    employee_id: int
    #: None when the employee was deleted since
    name: str | None
    calls: int
    answered: int
    talk_seconds: float
    #: the callers' ratings (RATE-1), 1..5; None when nobody rated
    rating_avg: float | None
    ratings: int


@dataclass(frozen=True, slots=True)
class Dashboard:
    start: dt.datetime
    end: dt.datetime
    timezone: str
    bucket: Bucket
    totals: Figures
    buckets: list[BucketFigures]
    employees: list[EmployeeFigures]


# -- the period --------------------------------------------------------------------------------


def _naive(value: dt.datetime, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    return value.astimezone(zone).replace(tzinfo=None)


def _period(
    flt: DashboardFilter, zone: zoneinfo.ZoneInfo
) -> tuple[dt.datetime, dt.datetime, Bucket]:
    """The period in UTC and its bucket; 422 on `to` when it is empty or too long."""
    low, high = utc_bound(flt.start, zone), utc_bound(flt.end, zone)
    if high <= low:
        raise ValidationFailed.one(
            "to",
            "конец периода должен быть позже его начала / the end of the period must be after "
            "its start",
            "period_order",
        )
    # Wall-clock length: "30 days" across a DST change is still 30 local days.
    length = _naive(high, zone) - _naive(low, zone)
    if length > dt.timedelta(days=MAX_DAYS):
        raise ValidationFailed.one(
            "to",
            f"период не длиннее {MAX_DAYS} дней / the period must not be longer than "
            f"{MAX_DAYS} days",
            "period_too_long",
        )
    return low, high, Bucket.HOUR if length <= HOURLY_UP_TO else Bucket.DAY


def _floor(value: dt.datetime, bucket: Bucket) -> dt.datetime:
    value = value.replace(minute=0, second=0, microsecond=0)
    return value.replace(hour=0) if bucket is Bucket.DAY else value


def _exists(local: dt.datetime, zone: zoneinfo.ZoneInfo) -> bool:
    """Whether a wall-clock time happens in the zone (not in a spring-forward gap)."""
    # through UTC: astimezone() to the zone an aware time is already in changes nothing
    return _naive(local.replace(tzinfo=zone).astimezone(dt.UTC), zone) == local


def bucket_starts(
    low: dt.datetime, high: dt.datetime, zone: zoneinfo.ZoneInfo, bucket: Bucket
) -> list[dt.datetime]:
    """Every local hour or day (wall clock, naive) that meets `[low, high)`, in order.

    A local hour repeated when clocks go back is one bucket (its calls are counted together);
    an hour skipped when they go forward is none."""
    step = dt.timedelta(hours=1) if bucket is Bucket.HOUR else dt.timedelta(days=1)
    first, last = _floor(_naive(low, zone), bucket), _naive(high, zone)
    starts: list[dt.datetime] = []
    at = first
    while at < last:
        if bucket is Bucket.DAY or _exists(at, zone):
            starts.append(at)
        at += step
    return starts


def _offset(at: int, zone: zoneinfo.ZoneInfo) -> int:
    moment = dt.datetime.fromtimestamp(at, dt.UTC).astimezone(zone)
    offset = moment.utcoffset()
    assert offset is not None
    return int(offset.total_seconds())


def offset_spans(
    zone: zoneinfo.ZoneInfo, low: dt.datetime, high: dt.datetime
) -> list[tuple[dt.datetime | None, int]]:
    """The zone's UTC offset (seconds) over `[low, high)`: `(until, offset)` pieces in order,
    each applying before `until` (UTC; None for the last). Offsets change on whole seconds,
    found exactly by bisection within the hour where the hourly samples differ."""
    spans: list[tuple[dt.datetime | None, int]] = []
    start, stop = int(low.timestamp()), int(high.timestamp()) + 1
    current = _offset(start, zone)
    at = start
    while at < stop:
        step = min(at + 3600, stop)
        if _offset(step, zone) != current:
            before, after = at, step  # before: the old offset; after: a new one
            while after - before > 1:
                middle = (before + after) // 2
                if _offset(middle, zone) == current:
                    before = middle
                else:
                    after = middle
            spans.append((dt.datetime.fromtimestamp(after, dt.UTC), current))
            current = _offset(after, zone)
            at = after
        else:
            at = step
    spans.append((None, current))
    return spans


# -- the queries -------------------------------------------------------------------------------


def _bucket_key(
    dialect: str,
    started: sa.ColumnElement[Any],
    zone: zoneinfo.ZoneInfo,
    bucket: Bucket,
    low: dt.datetime,
    high: dt.datetime,
) -> sa.ColumnElement[Any]:
    """The local hour or day a call started in: a timestamp (PostgreSQL) or its text (SQLite)."""
    if dialect == "postgresql":
        return sa.func.date_trunc(bucket.value, sa.func.timezone(zone.key, started))
    spans = offset_spans(zone, low, high)
    *changes, (_, last) = spans
    shift: sa.ColumnElement[Any] = sa.literal(f"{last:+d} seconds")
    if changes:
        shift = sa.case(
            *((started < until, f"{offset:+d} seconds") for until, offset in changes),
            else_=shift,
        )
    pattern = "%Y-%m-%d %H:00:00" if bucket is Bucket.HOUR else "%Y-%m-%d 00:00:00"
    return sa.func.strftime(pattern, started, shift)


def _figures_query(dialect: str, rows: sa.Subquery, keyed: bool) -> sa.Select[Any]:
    """Counts, average and p90 wait of `rows` (columns status, wait_seconds and, when `keyed`,
    bucket): one row per bucket, or one row for them all."""
    status, wait = rows.c.status, rows.c.wait_seconds
    waited: sa.ColumnElement[bool] = status.in_(WAITED)
    if dialect == "postgresql":
        source: sa.Subquery = rows
        p90: sa.ColumnElement[Any] = (
            sa.func.percentile_cont(PERCENTILE).within_group(wait).filter(waited)
        )
    else:
        # percentile_cont by hand: the waits of a bucket ranked from 0; p90 lies at
        # (n - 1) * 0.9, between the ranks below and above it, interpolated linearly.
        flag = sa.case((waited, 1), else_=0)
        part = [rows.c.bucket, flag] if keyed else [flag]
        source = sa.select(
            rows,
            flag.label("waited"),
            (sa.func.row_number().over(partition_by=part, order_by=wait) - 1).label("ordinal"),
            sa.func.count().over(partition_by=part).label("n"),
        ).subquery("ranked")
        s = source.c
        position = (s.n - 1) * PERCENTILE
        below = sa.cast(position, sa.Integer)
        above = sa.case((below + 1 < s.n, below + 1), else_=below)

        def at_rank(rank: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
            return sa.func.max(sa.case((sa.and_(s.waited == 1, s.ordinal == rank), s.wait_seconds)))

        fraction = sa.func.max(sa.case((s.waited == 1, position - below)))
        p90 = at_rank(below) + (at_rank(above) - at_rank(below)) * fraction
        status, wait = s.status, s.wait_seconds
        waited = s.waited == 1

    def count(*statuses: str) -> sa.ColumnElement[Any]:
        return sa.func.count().filter(status.in_(statuses))

    columns = [
        sa.func.count().label("total"),
        count(CallStatus.ANSWERED.value).label("answered"),
        count(CallStatus.MISSED.value).label("missed"),
        count(*LOST).label("lost"),
        count(CallStatus.VOICEMAIL.value).label("voicemail"),
        count(CallStatus.BLOCKED.value).label("blocked"),
        count(CallStatus.ACTIVE.value).label("active"),
        sa.func.count().filter(waited).label("waited"),
        sa.func.avg(wait).filter(waited).label("wait_avg"),
        p90.label("wait_p90"),
    ]
    if not keyed:
        return sa.select(*columns).select_from(source)
    key = source.c.bucket
    return sa.select(key.label("bucket"), *columns).group_by(key)


def _employees_query(calls: sa.Subquery, account_id: int) -> sa.Select[Any]:
    e = t.employees
    c = calls.c
    talk = sa.func.coalesce(sa.func.sum(c.talk_seconds), 0)
    return (
        sa.select(
            c.employee_id,
            e.c.last_name,
            e.c.first_name,
            sa.func.count().label("calls"),
            sa.func.count().filter(c.status == CallStatus.ANSWERED.value).label("answered"),
            talk.label("talk_seconds"),
            sa.func.avg(c.rating).label("rating_avg"),
            sa.func.count(c.rating).label("ratings"),
        )
        .select_from(
            calls.outerjoin(e, sa.and_(e.c.id == c.employee_id, e.c.account_id == account_id))
        )
        .where(c.employee_id.is_not(None))
        .group_by(c.employee_id, e.c.last_name, e.c.first_name)
        .order_by(talk.desc(), c.employee_id)
    )


@dataclass(frozen=True, slots=True)
class DashboardQueries:
    """The three statements of a dashboard (the benchmark EXPLAINs them as they run)."""

    zone: zoneinfo.ZoneInfo
    low: dt.datetime
    high: dt.datetime
    bucket: Bucket
    buckets: sa.Select[Any]
    totals: sa.Select[Any]
    employees: sa.Select[Any]

    def statements(self) -> Sequence[tuple[str, sa.Select[Any]]]:
        return (("buckets", self.buckets), ("totals", self.totals), ("employees", self.employees))


async def dashboard_queries(svc: EntityService, flt: DashboardFilter) -> DashboardQueries:
    """Check the period (422) and build the dashboard's queries for the actor."""
    zone = await account_zone(svc.conn, svc.account_id)
    low, high, bucket = _period(flt, zone)
    report = CallFilter(tab=flt.tab, start=low, end=high, number_id=flt.number_id)
    calls = (await call_query(svc, report, None)).order_by(None).subquery("calls")
    dialect = svc.conn.dialect.name
    key = _bucket_key(dialect, calls.c.started_at, zone, bucket, low, high)
    keyed = sa.select(key.label("bucket"), calls.c.status, calls.c.wait_seconds)
    plain = sa.select(calls.c.status, calls.c.wait_seconds)
    return DashboardQueries(
        zone=zone,
        low=low,
        high=high,
        bucket=bucket,
        buckets=_figures_query(dialect, keyed.subquery("keyed"), keyed=True),
        totals=_figures_query(dialect, plain.subquery("plain"), keyed=False),
        employees=_employees_query(calls, svc.account_id),
    )


# -- the answer --------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    # PostgreSQL's avg of an integer column is a Decimal
    return None if value is None else float(value)


def _figures(row: sa.RowMapping) -> Figures:
    return Figures(
        total=int(row["total"]),
        answered=int(row["answered"]),
        missed=int(row["missed"]),
        lost=int(row["lost"]),
        voicemail=int(row["voicemail"]),
        blocked=int(row["blocked"]),
        active=int(row["active"]),
        waited=int(row["waited"]),
        wait_avg=_number(row["wait_avg"]),
        wait_p90=_number(row["wait_p90"]),
    )


def _local(key: dt.datetime | str) -> dt.datetime:
    return key if isinstance(key, dt.datetime) else dt.datetime.fromisoformat(key)


def _name(last: str | None, first: str | None) -> str | None:
    if last is None:
        return None
    return " ".join(part for part in (last, first) if part)


async def dashboard(svc: EntityService, flt: DashboardFilter) -> Dashboard:
    """CDR-3 figures of the actor's calls (an employee: his own) over the period."""
    queries = await dashboard_queries(svc, flt)
    conn, zone = svc.conn, queries.zone
    found = {
        _local(row["bucket"]): _figures(row)
        for row in (await conn.execute(queries.buckets)).mappings()
    }
    totals = _figures((await conn.execute(queries.totals)).mappings().one())
    starts = bucket_starts(queries.low, queries.high, zone, queries.bucket)
    buckets = [
        BucketFigures(start.replace(tzinfo=zone), found.get(start, Figures()))
        for start in sorted({*starts, *found})
    ]
    employees = [
        EmployeeFigures(
            employee_id=int(row["employee_id"]),
            name=_name(row["last_name"], row["first_name"]),
            calls=int(row["calls"]),
            answered=int(row["answered"]),
            talk_seconds=float(row["talk_seconds"]),
            rating_avg=_number(row["rating_avg"]),
            ratings=int(row["ratings"]),
        )
        for row in (await conn.execute(queries.employees)).mappings()
    ]
    return Dashboard(
        start=queries.low,
        end=queries.high,
        timezone=zone.key,
        bucket=queries.bucket,
        totals=totals,
        buckets=buckets,
        employees=employees,
    )
