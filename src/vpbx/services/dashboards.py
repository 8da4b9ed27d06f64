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

Periods by the day read the daily rollups (`vpbx.storage.call_rollups`) for the whole local
days that have ended, rebuilt first where calls changed since, and the calls themselves for
the rest (today, a partial first or last day): the counts and sums are the same to the call;
p90 then comes from the rollups' wait histograms (bins of 0.1 s below 10 s, 1 s above, with
each bin's least and greatest wait), exact when the two waits it lies between are alone or
equal in their bins, otherwise within a bin's width. An employee's own dashboard reads his
calls directly (the index on his calls makes that cheap). See docs/decisions.md.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from vpbx.domain.actor import Role
from vpbx.domain.entities.misc import CallStatus
from vpbx.domain.errors import ValidationFailed
from vpbx.services.calendar import account_zone
from vpbx.services.entities import EntityService
from vpbx.services.reports import CallFilter, CallTab, call_query, utc_bound
from vpbx.storage import call_rollups as rollups
from vpbx.storage import tables as t
from vpbx.storage.call_rollups import WAITED, day_start, local_key, offset_spans

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
    "bins_p90",
    "dashboard",
    "dashboard_queries",
    "offset_spans",
    "refresh_rollups",
]

log = logging.getLogger("vpbx.services.dashboards")

#: the longest period a dashboard covers (a leap year)
MAX_DAYS = 366
#: periods up to this long are shown by the hour, longer ones by the day
HOURLY_UP_TO = dt.timedelta(days=2)
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


# -- the queries -------------------------------------------------------------------------------


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


def _employees_query(rows: sa.Subquery, account_id: int, *where: Any) -> sa.Select[Any]:
    """Per employee: `rows` are calls or rollup rows (columns employee_id, status, calls,
    talk_sum, rating_sum, ratings; a call is a row of one)."""
    e = t.employees
    c = rows.c
    talk = sa.func.coalesce(sa.func.sum(c.talk_sum), 0)
    calls = sa.func.sum(c.calls)
    return (
        sa.select(
            c.employee_id,
            e.c.last_name,
            e.c.first_name,
            calls.label("calls"),
            sa.func.coalesce(calls.filter(c.status == CallStatus.ANSWERED.value), 0).label(
                "answered"
            ),
            talk.label("talk_seconds"),
            sa.func.coalesce(sa.func.sum(c.rating_sum), 0).label("rating_sum"),
            sa.func.coalesce(sa.func.sum(c.ratings), 0).label("ratings"),
        )
        .select_from(
            rows.outerjoin(e, sa.and_(e.c.id == c.employee_id, e.c.account_id == account_id))
        )
        .where(c.employee_id.is_not(None), *where)
        .group_by(c.employee_id, e.c.last_name, e.c.first_name)
        .order_by(talk.desc(), c.employee_id)
    )


def _as_rollup_rows(calls: sa.Subquery) -> sa.Subquery:
    """Calls in the shape of rollup rows, each a row of one call."""
    c = calls.c
    return sa.select(
        c.employee_id,
        c.status,
        sa.literal(1).label("calls"),
        c.talk_seconds.label("talk_sum"),
        sa.func.coalesce(c.rating, 0).label("rating_sum"),
        sa.case((c.rating.is_not(None), 1), else_=0).label("ratings"),
    ).subquery("one_call_rows")


def _full_days(
    low: dt.datetime, high: dt.datetime, zone: zoneinfo.ZoneInfo, now: dt.datetime
) -> tuple[dt.date, dt.date] | None:
    """The local days `[first, end)` of the period that it covers whole and that have ended
    (the rollups hold those); None when there are none."""
    first = _naive(low, zone).date()
    if day_start(first, zone) < low:  # the period starts within its first day
        first += dt.timedelta(days=1)
    end = min(_naive(high, zone).date(), now.astimezone(zone).date())
    return (first, end) if first < end else None


def _rest(
    low: dt.datetime, high: dt.datetime, days: tuple[dt.date, dt.date], zone: zoneinfo.ZoneInfo
) -> list[tuple[dt.datetime, dt.datetime]]:
    """The UTC spans of the period outside the rolled-up days: read from the calls."""
    spans = [(low, day_start(days[0], zone)), (day_start(days[1], zone), high)]
    return [(a, b) for a, b in spans if a < b]


def _tab(flt: DashboardFilter, c: Any, waits: bool = False) -> list[sa.ColumnElement[bool]]:
    """The tab's and the number's conditions on rollup rows."""
    where: list[sa.ColumnElement[bool]] = []
    match flt.tab:
        case CallTab.INCOMING:
            where.append(c.direction == "incoming")
        case CallTab.OUTGOING:
            where.append(c.direction == "outgoing")
        case CallTab.BLOCKED:
            # blocked calls waited for nobody: no wait rows
            where.append(sa.false() if waits else c.status == CallStatus.BLOCKED.value)
        case CallTab.ALL:
            pass
    if flt.number_id is not None:
        where.append(c.number_id == flt.number_id)
    return where


def _p90_bins(w: Any, where: list[sa.ColumnElement[bool]]) -> sa.Select[Any]:
    """The wait bins p90 lies in, of each day (`day`) and of the whole period (`day` null):
    each bin with how many waits of its day come before it (`before`) and the day's count
    (`n`). Only the bins around the rank (n - 1) * 0.9 are sent (a rank on either side too,
    so that rounding here and in Python cannot miss one): a year is 366 × ~100 bins."""
    binned = (
        sa.select(
            w.day,
            w.bin,
            # an integer, not PostgreSQL's numeric sum of bigints: the windows sum it again
            sa.cast(sa.func.sum(w.calls), sa.Integer).label("calls"),
            sa.func.min(w.wait_min).label("wait_min"),
            sa.func.max(w.wait_max).label("wait_max"),
        )
        .where(*where)
        .group_by(w.day, w.bin)
        .cte("binned")
    )
    b = binned.c
    whole = sa.select(
        b.bin,
        sa.cast(sa.func.sum(b.calls), sa.Integer).label("calls"),
        sa.func.min(b.wait_min).label("wait_min"),
        sa.func.max(b.wait_max).label("wait_max"),
    ).group_by(b.bin)

    def ranked(rows: Any, day: sa.ColumnElement[Any] | None) -> sa.Select[Any]:
        total = sa.func.sum(rows.calls)
        return sa.select(
            (day if day is not None else sa.cast(sa.null(), sa.Date)).label("day"),
            rows.bin,
            rows.calls,
            rows.wait_min,
            rows.wait_max,
            (total.over(partition_by=day, order_by=rows.bin, rows=(None, 0)) - rows.calls).label(
                "before"
            ),
            total.over(partition_by=day).label("n"),
        )

    both = sa.union_all(ranked(b, b.day), ranked(whole.subquery("whole").c, None)).subquery()
    r = both.c
    # in floating point: PostgreSQL would compare 33,000 numerics for a year
    position = sa.cast(r.n - 1, sa.Float) * PERCENTILE
    return sa.select(both).where(r.before <= position + 2, r.before + r.calls > position - 1)


def _rolled_queries(
    dialect: str,
    account_id: int,
    zone: zoneinfo.ZoneInfo,
    flt: DashboardFilter,
    days: tuple[dt.date, dt.date],
    rest: list[tuple[dt.datetime, dt.datetime]],
) -> tuple[sa.Select[Any], sa.Select[Any], sa.Select[Any]]:
    """Buckets, wait bins and employees from the rollups of `days` and the calls of `rest`."""

    def live(per_employee: bool = False) -> sa.Select[Any]:
        return rollups.stats_select(dialect, account_id, zone, rest, per_employee=per_employee)

    parts: tuple[tuple[sa.Table, Callable[[], sa.Select[Any]]], ...] = (
        (t.call_rollups, live),
        (t.call_employee_rollups, lambda: live(per_employee=True)),
        (t.call_wait_rollups, lambda: rollups.waits_select(dialect, account_id, zone, rest)),
    )
    sources: list[sa.Subquery] = []
    for table, made in parts:
        names = [col.name for col in table.c if col.name != "account_id"]
        rolled = sa.select(*(table.c[name] for name in names)).where(
            table.c.account_id == account_id, table.c.day >= days[0], table.c.day < days[1]
        )
        # the calls outside the rolled-up days, in the same shape
        union = sa.union_all(rolled, made()) if rest else rolled
        sources.append(union.subquery(table.name))
    stats, per_employee, waits = sources
    s, w = stats.c, waits.c

    def calls(*statuses: str) -> sa.ColumnElement[Any]:
        return sa.func.coalesce(sa.func.sum(s.calls).filter(s.status.in_(statuses)), 0)

    where = _tab(flt, s)
    buckets = (
        sa.select(
            s.day.label("bucket"),
            sa.func.sum(s.calls).label("total"),
            calls(CallStatus.ANSWERED.value).label("answered"),
            calls(CallStatus.MISSED.value).label("missed"),
            calls(*LOST).label("lost"),
            calls(CallStatus.VOICEMAIL.value).label("voicemail"),
            calls(CallStatus.BLOCKED.value).label("blocked"),
            calls(CallStatus.ACTIVE.value).label("active"),
            calls(*WAITED).label("waited"),
            sa.func.sum(s.wait_sum).filter(s.status.in_(WAITED)).label("wait_sum"),
        )
        .where(*where)
        .group_by(s.day)
    )
    bins = _p90_bins(w, _tab(flt, w, waits=True))
    employees = _employees_query(per_employee, account_id, *_tab(flt, per_employee.c))
    return buckets, bins, employees


@dataclass(frozen=True, slots=True)
class DashboardQueries:
    """The statements of a dashboard (the benchmark EXPLAINs them as they run): buckets,
    totals and employees from the calls, or, when whole ended days are rolled up, buckets,
    wait bins and employees from the rollups of `days` and the calls of the rest."""

    zone: zoneinfo.ZoneInfo
    low: dt.datetime
    high: dt.datetime
    bucket: Bucket
    named: tuple[tuple[str, sa.Select[Any]], ...]
    #: the rolled-up local days `[first, end)`; None: everything from the calls
    days: tuple[dt.date, dt.date] | None = None

    def statements(self) -> Sequence[tuple[str, sa.Select[Any]]]:
        return self.named


async def dashboard_queries(svc: EntityService, flt: DashboardFilter) -> DashboardQueries:
    """Check the period (422) and build the dashboard's queries for the actor."""
    zone = await account_zone(svc.conn, svc.account_id)
    low, high, bucket = _period(flt, zone)
    dialect = svc.conn.dialect.name
    days = None
    if bucket is Bucket.DAY and svc.actor.role is not Role.EMPLOYEE:
        days = _full_days(low, high, zone, svc.clock())
    if days is not None:
        rest = _rest(low, high, days, zone)
        buckets, bins, employees = _rolled_queries(dialect, svc.account_id, zone, flt, days, rest)
        named = (("buckets", buckets), ("wait bins", bins), ("employees", employees))
        return DashboardQueries(zone, low, high, bucket, named, days)
    report = CallFilter(tab=flt.tab, start=low, end=high, number_id=flt.number_id)
    calls = (await call_query(svc, report, None)).order_by(None).subquery("calls")
    key = local_key(dialect, calls.c.started_at, zone, bucket is Bucket.HOUR, low, high)
    keyed = sa.select(key.label("bucket"), calls.c.status, calls.c.wait_seconds)
    plain = sa.select(calls.c.status, calls.c.wait_seconds)
    named = (
        ("buckets", _figures_query(dialect, keyed.subquery("keyed"), keyed=True)),
        ("totals", _figures_query(dialect, plain.subquery("plain"), keyed=False)),
        ("employees", _employees_query(_as_rollup_rows(calls), svc.account_id)),
    )
    return DashboardQueries(zone, low, high, bucket, named)


# -- keeping the rollups right -------------------------------------------------------------------


async def refresh_rollups(
    conn: AsyncConnection, account_id: int, zone: zoneinfo.ZoneInfo, now: dt.datetime
) -> None:
    """Roll up again the ended local days of the account whose calls changed since (the hours
    the triggers marked), or all of them when its time zone is not the one they were cut in.
    Run in the reader's transaction before it reads them; on PostgreSQL one refresh of an
    account at a time (a transaction lock), on SQLite the database's write lock does that."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        await conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtext('call_rollups'), :account)"),
            {"account": account_id},
        )
    today = now.astimezone(zone).date()
    zones = t.call_rollup_zones
    cut_in = (
        await conn.execute(sa.select(zones.c.zone).where(zones.c.account_id == account_id))
    ).scalar_one_or_none()
    if cut_in != zone.key:
        first = (await conn.execute(rollups.first_call(account_id))).scalar_one()
        for statement in rollups.rebuild_account_statements(
            dialect, account_id, zone, first, today
        ):
            await conn.execute(statement)
        log.info("call rollups rebuilt", extra={"account_id": account_id, "zone": zone.key})
        return
    marks = t.call_rollup_marks
    # an hour that also holds the first moments of today waits until today has ended
    done = day_start(today, zone) - dt.timedelta(hours=1)
    hours = (
        await conn.execute(
            sa.delete(marks)
            .where(marks.c.account_id == account_id, marks.c.hour <= done)
            .returning(marks.c.hour)
        )
    ).scalars()
    days: set[dt.date] = set()
    for hour in hours:
        hour = hour.replace(tzinfo=dt.UTC) if hour.tzinfo is None else hour
        days.add(_naive(hour, zone).date())
        days.add(_naive(hour + dt.timedelta(hours=1) - dt.timedelta(microseconds=1), zone).date())
    if not days:
        return
    ranges: list[tuple[dt.datetime, dt.datetime]] = []
    for day in sorted(days):
        low, high = day_start(day, zone), day_start(day + dt.timedelta(days=1), zone)
        if ranges and ranges[-1][1] == low:  # the next day: one span
            ranges[-1] = (ranges[-1][0], high)
        else:
            ranges.append((low, high))
    for statement in rollups.rebuild_statements(dialect, account_id, zone, sorted(days), ranges):
        await conn.execute(statement)
    log.info("call rollups refreshed", extra={"account_id": account_id, "days": len(days)})


# -- the answer --------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    # PostgreSQL's avg of an integer column is a Decimal
    return None if value is None else float(value)


def _figures(row: Mapping[Any, Any], wait_avg: float | None, wait_p90: float | None) -> Figures:
    return Figures(
        total=int(row["total"]),
        answered=int(row["answered"]),
        missed=int(row["missed"]),
        lost=int(row["lost"]),
        voicemail=int(row["voicemail"]),
        blocked=int(row["blocked"]),
        active=int(row["active"]),
        waited=int(row["waited"]),
        wait_avg=wait_avg,
        wait_p90=wait_p90,
    )


def _raw_figures(row: sa.RowMapping) -> Figures:
    return _figures(row, _number(row["wait_avg"]), _number(row["wait_p90"]))


def bins_p90(bins: Sequence[tuple[int, int, float, float]], n: int) -> float | None:
    """percentile_cont(0.9) of `n` waits from the bins around its rank: (waits before the
    bin, waits in it, the least, the greatest). The waits of a bin are taken as spread evenly
    from its least to its greatest, so a rank is exact at a bin's ends and in a bin of equal
    waits, and within the bin otherwise."""
    if n == 0:
        return None

    def at(rank: int) -> float:
        for before, calls, least, most in bins:
            if before <= rank < before + calls:
                k = rank - before
                return least if calls == 1 else least + (most - least) * k / (calls - 1)
        raise AssertionError(f"rank {rank} of {n} is in none of the bins sent")

    position = (n - 1) * PERCENTILE
    below = int(position)
    low, high = at(below), at(min(below + 1, n - 1))
    return low + (high - low) * (position - below)


def _rolled_figures(row: Mapping[Any, Any], p90: float | None) -> Figures:
    waited = int(row["waited"])
    return _figures(row, float(row["wait_sum"]) / waited if waited else None, p90)


def _local(key: dt.datetime | dt.date | str) -> dt.datetime:
    if isinstance(key, dt.datetime):
        return key
    if isinstance(key, dt.date):
        return dt.datetime.combine(key, dt.time())
    return dt.datetime.fromisoformat(key)


def _name(last: str | None, first: str | None) -> str | None:
    if last is None:
        return None
    return " ".join(part for part in (last, first) if part)


async def _rolled_up(
    conn: AsyncConnection, queries: DashboardQueries
) -> tuple[dict[dt.datetime, Figures], Figures]:
    """The buckets and the totals from the rollup statements."""
    named = dict(queries.named)
    bins: dict[dt.datetime | None, list[tuple[int, int, float, float]]] = {}
    counts: dict[dt.datetime | None, int] = {}
    for row in (await conn.execute(named["wait bins"])).mappings():
        day = None if row["day"] is None else _local(row["day"])
        found = (int(row["before"]), int(row["calls"]), row["wait_min"], row["wait_max"])
        bins.setdefault(day, []).append(found)
        counts[day] = int(row["n"])
    p90 = {day: bins_p90(found, counts[day]) for day, found in bins.items()}
    rows = (await conn.execute(named["buckets"])).mappings().all()
    days = {
        _local(row["bucket"]): _rolled_figures(row, p90.get(_local(row["bucket"]))) for row in rows
    }
    names = ("total", "answered", "missed", "lost", "voicemail", "blocked", "active", "waited")
    sums: dict[str, Any] = {name: sum(int(row[name]) for row in rows) for name in names}
    sums["wait_sum"] = sum(float(row["wait_sum"] or 0.0) for row in rows)
    return days, _rolled_figures(sums, p90.get(None))


async def dashboard(svc: EntityService, flt: DashboardFilter) -> Dashboard:
    """CDR-3 figures of the actor's calls (an employee: his own) over the period."""
    queries = await dashboard_queries(svc, flt)
    conn, zone = svc.conn, queries.zone
    named = dict(queries.named)
    if queries.days is not None:
        await refresh_rollups(conn, svc.account_id, zone, svc.clock())
        found, totals = await _rolled_up(conn, queries)
    else:
        found = {
            _local(row["bucket"]): _raw_figures(row)
            for row in (await conn.execute(named["buckets"])).mappings()
        }
        totals = _raw_figures((await conn.execute(named["totals"])).mappings().one())
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
            rating_avg=int(row["rating_sum"]) / int(row["ratings"]) if row["ratings"] else None,
            ratings=int(row["ratings"]),
        )
        for row in (await conn.execute(named["employees"])).mappings()
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
