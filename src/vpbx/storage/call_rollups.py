"""Daily rollups of the calls for the dashboards (CDR-3): the SQL that makes them, both backends.

A year of a busy account is 600,000 calls; aggregating them on every dashboard request took
1.6 s. So each local day of an account (its time zone's calendar day) is summed once into
`call_rollups` (counts and sums of waits, talk and ratings per direction, status and number),
`call_employee_rollups` (the same per employee too, for the employees' figures) and
`call_wait_rollups` (a histogram of the waits of the answered and missed calls, for the 90th
percentile, which cannot be summed). The dashboard service reads the rollups for
whole days that have ended and the calls themselves for the rest (today, a period's partial
first or last day): see `vpbx.services.dashboards` and docs/decisions.md.

Keeping them right: a trigger on `calls` (INSERT, UPDATE, DELETE; every writer, in the writer's
transaction) marks the UTC hour of each row it touches in `call_rollup_marks`; before reading,
the service rebuilds the ended local days those hours fall in from the calls, in the
reader's transaction, and drops the marks. `call_rollup_zones` records the zone an account's rollups
were cut in: when the account's zone changes, all of them are rebuilt. The rows of a day are
made by the same SELECT that aggregates the calls read directly, so both agree call for call.

Local days in SQL: PostgreSQL converts with `timezone(zone, started_at)`; SQLite has no zones,
so the zone's UTC offset over the span is found here with zoneinfo (`offset_spans`) and added
per instant by a CASE over the offset changes.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from vpbx.storage import tables as t

__all__ = [
    "SQLITE_TRIGGERS",
    "WAITED",
    "day_start",
    "first_call",
    "local_key",
    "mark_hour",
    "mark_statement",
    "offset_spans",
    "postgres_triggers",
    "rebuild_account_statements",
    "rebuild_statements",
    "stats_select",
    "wait_bin",
    "waits_select",
]

#: the statuses whose waits the wait figures are over: callers who waited for an employee
WAITED = ("answered", "missed")
#: waits shorter than this are binned by 0.1 s, longer ones by the second
FINE_BINS_UP_TO = 10


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


def local_key(
    dialect: str,
    started: sa.ColumnElement[Any],
    zone: zoneinfo.ZoneInfo,
    hourly: bool,
    low: dt.datetime,
    high: dt.datetime,
) -> sa.ColumnElement[Any]:
    """The local hour or day an instant of `[low, high)` falls in: a timestamp (PostgreSQL) or
    its text `YYYY-MM-DD HH:00:00` (SQLite)."""
    if dialect == "postgresql":
        return sa.func.date_trunc("hour" if hourly else "day", sa.func.timezone(zone.key, started))
    *changes, (_, last) = offset_spans(zone, low, high)
    shift: sa.ColumnElement[Any] = sa.literal(f"{last:+d} seconds")
    if changes:
        shift = sa.case(
            *((started < until, f"{offset:+d} seconds") for until, offset in changes),
            else_=shift,
        )
    pattern = "%Y-%m-%d %H:00:00" if hourly else "%Y-%m-%d 00:00:00"
    return sa.func.strftime(pattern, started, shift)


def _local_day(
    dialect: str, zone: zoneinfo.ZoneInfo, low: dt.datetime, high: dt.datetime
) -> sa.ColumnElement[dt.date]:
    """The local date a call of `[low, high)` started on, typed as the rollups' `day`."""
    key = local_key(dialect, t.calls.c.started_at, zone, False, low, high)
    if dialect == "postgresql":
        return sa.cast(key, sa.Date)
    # 'YYYY-MM-DD', as SQLAlchemy stores a date in SQLite
    return sa.type_coerce(sa.func.substr(key, 1, 10), sa.Date)


def wait_bin(dialect: str, wait: sa.ColumnElement[Any]) -> sa.ColumnElement[int]:
    """The histogram bin of a wait: 0.1 s wide below `FINE_BINS_UP_TO` seconds (bins 0-99),
    1 s wide above (bin 100 is [10 s, 11 s)). Waits are never negative, so SQLite's truncating
    CAST is a floor there; PostgreSQL's CAST rounds, hence floor()."""

    def floor(value: sa.ColumnElement[Any]) -> sa.ColumnElement[int]:
        if dialect == "postgresql":
            return sa.cast(sa.func.floor(value), sa.Integer)
        return sa.cast(value, sa.Integer)

    fine = FINE_BINS_UP_TO * 10
    return sa.case(
        (wait < FINE_BINS_UP_TO, floor(wait * 10)),
        else_=floor(wait) + (fine - FINE_BINS_UP_TO),
    )


def _in_ranges(
    account_id: int, ranges: Sequence[tuple[dt.datetime, dt.datetime]]
) -> sa.ColumnElement[bool]:
    c = t.calls.c
    return sa.and_(
        c.account_id == account_id,
        sa.or_(*(sa.and_(c.started_at >= low, c.started_at < high) for low, high in ranges)),
    )


def _span(ranges: Sequence[tuple[dt.datetime, dt.datetime]]) -> tuple[dt.datetime, dt.datetime]:
    return min(low for low, _ in ranges), max(high for _, high in ranges)


def stats_select(
    dialect: str,
    account_id: int,
    zone: zoneinfo.ZoneInfo,
    ranges: Sequence[tuple[dt.datetime, dt.datetime]],
    *,
    per_employee: bool = False,
) -> sa.Select[Any]:
    """`call_rollups` rows (without the account) of the account's calls started within the UTC
    `ranges`, by local day: what the table holds for ended days, computed from the calls.
    `per_employee`: `call_employee_rollups` rows (the calls that name an employee)."""
    c = t.calls.c
    day = _local_day(dialect, zone, *_span(ranges)).label("day")
    keys = [day, c.direction, c.status, c.number_id, *([c.employee_id] if per_employee else [])]
    query = sa.select(
        *keys,
        sa.func.count().label("calls"),
        sa.func.sum(c.wait_seconds).label("wait_sum"),
        sa.func.sum(c.talk_seconds).label("talk_sum"),
        sa.func.coalesce(sa.func.sum(c.rating), 0).label("rating_sum"),
        sa.func.count(c.rating).label("ratings"),
    ).where(_in_ranges(account_id, ranges))
    if per_employee:
        query = query.where(c.employee_id.is_not(None))
    return query.group_by(*keys)


def waits_select(
    dialect: str,
    account_id: int,
    zone: zoneinfo.ZoneInfo,
    ranges: Sequence[tuple[dt.datetime, dt.datetime]],
) -> sa.Select[Any]:
    """`call_wait_rollups` rows (without the account): the answered and missed calls of the
    `ranges` by local day, direction, number and wait bin, with the bin's least and greatest
    wait."""
    c = t.calls.c
    day = _local_day(dialect, zone, *_span(ranges)).label("day")
    bin_ = wait_bin(dialect, c.wait_seconds).label("bin")
    return (
        sa.select(
            day,
            c.direction,
            c.number_id,
            bin_,
            sa.func.count().label("calls"),
            sa.func.min(c.wait_seconds).label("wait_min"),
            sa.func.max(c.wait_seconds).label("wait_max"),
        )
        .where(_in_ranges(account_id, ranges), c.status.in_(WAITED))
        .group_by(day, c.direction, c.number_id, bin_)
    )


def rebuild_statements(
    dialect: str,
    account_id: int,
    zone: zoneinfo.ZoneInfo,
    days: Sequence[dt.date] | None,
    ranges: Sequence[tuple[dt.datetime, dt.datetime]],
) -> list[sa.Executable]:
    """Replace the account's rollups of `days` (None: all of them) by those of its calls
    started within `ranges` (the UTC spans of those days)."""
    statements: list[sa.Executable] = []
    for table in (t.call_rollups, t.call_employee_rollups, t.call_wait_rollups):
        delete = sa.delete(table).where(table.c.account_id == account_id)
        if days is not None:
            delete = delete.where(table.c.day.in_(sorted(days)))
        statements.append(delete)
    if not ranges:
        return statements
    for table, select in (
        (t.call_rollups, stats_select(dialect, account_id, zone, ranges)),
        (
            t.call_employee_rollups,
            stats_select(dialect, account_id, zone, ranges, per_employee=True),
        ),
        (t.call_wait_rollups, waits_select(dialect, account_id, zone, ranges)),
    ):
        rows = select.subquery()
        columns = [sa.literal(account_id, sa.BigInteger).label("account_id"), *rows.c]
        statements.append(
            sa.insert(table).from_select(
                ["account_id", *(col.name for col in rows.c)], sa.select(*columns)
            )
        )
    return statements


def day_start(day: dt.date, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """When a local day starts, in UTC (a midnight that the clocks skip: when they jump)."""
    return dt.datetime.combine(day, dt.time()).replace(tzinfo=zone).astimezone(dt.UTC)


def mark_hour(dialect: str, started: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """The UTC hour of an instant as the triggers write it into `call_rollup_marks`."""
    if dialect == "postgresql":
        hour = sa.func.date_trunc("hour", sa.func.timezone("UTC", started))
        return sa.func.timezone("UTC", hour)
    return sa.func.strftime("%Y-%m-%d %H:00:00.000000", started)


def mark_statement(dialect: str, account_id: int, since: dt.datetime) -> sa.Executable:
    """Mark the hours of the account's calls started at or after `since` (those of days not
    rolled up yet, which will be once they end), as the triggers would have."""
    c = t.calls.c
    hour = mark_hour(dialect, c.started_at)
    marked = sa.select(t.call_rollup_marks.c.hour).where(
        t.call_rollup_marks.c.account_id == account_id, t.call_rollup_marks.c.hour == hour
    )
    rows = (
        sa.select(c.account_id, hour)
        .where(c.account_id == account_id, c.started_at >= since, ~sa.exists(marked))
        .distinct()
    )
    return sa.insert(t.call_rollup_marks).from_select(["account_id", "hour"], rows)


def first_call(account_id: int) -> sa.Select[tuple[dt.datetime | None]]:
    """When the account's first call started (None without any)."""
    c = t.calls.c
    return sa.select(sa.func.min(c.started_at)).where(c.account_id == account_id)


def rebuild_account_statements(
    dialect: str,
    account_id: int,
    zone: zoneinfo.ZoneInfo,
    first: dt.datetime | None,
    today: dt.date,
) -> list[sa.Executable]:
    """All the account's rollups made again in `zone`: every local day before `today` from its
    first call (`first`, None without any), the marks of the days before dropped, those of
    today's calls made (they are rolled up once today ends), and the zone recorded."""
    today_start = day_start(today, zone)
    if first is not None:  # SQLite hands times back without their (UTC) offset
        first = first.replace(tzinfo=dt.UTC) if first.tzinfo is None else first
    ranges = [(first, today_start)] if first is not None and first < today_start else []
    marks = t.call_rollup_marks.c
    zones = t.call_rollup_zones
    return [
        *rebuild_statements(dialect, account_id, zone, None, ranges),
        # an hour that also holds the first moments of today stays marked
        sa.delete(t.call_rollup_marks).where(
            marks.account_id == account_id, marks.hour <= today_start - dt.timedelta(hours=1)
        ),
        mark_statement(dialect, account_id, today_start),
        sa.delete(zones).where(zones.c.account_id == account_id),
        sa.insert(zones).values(account_id=account_id, zone=zone.key),
    ]


# -- the triggers that mark the hours to roll up again -------------------------------------------

#: SQLite: a row trigger per event; the hour as SQLAlchemy stores a DateTime there. It names
#: no other table: SQLite checks a trigger's tables when a migration rebuilds one (batch mode
#: renames a copy), so a deleted account's calls leave their marks (nothing reads them).
#: Rebuilding `calls` itself drops its triggers: tests/services/test_call_rollups.py checks
#: that they exist at head.
_SQLITE_MARK = """
  INSERT OR IGNORE INTO call_rollup_marks (account_id, hour)
  VALUES ({row}.account_id, strftime('%Y-%m-%d %H:00:00.000000', {row}.started_at));"""
SQLITE_TRIGGERS: dict[str, str] = {
    "calls_rollup_insert": "CREATE TRIGGER calls_rollup_insert AFTER INSERT ON calls BEGIN"
    + _SQLITE_MARK.format(row="NEW")
    + "\nEND",
    "calls_rollup_update": "CREATE TRIGGER calls_rollup_update AFTER UPDATE ON calls BEGIN"
    + _SQLITE_MARK.format(row="OLD")
    + _SQLITE_MARK.format(row="NEW")
    + "\nEND",
    "calls_rollup_delete": "CREATE TRIGGER calls_rollup_delete AFTER DELETE ON calls BEGIN"
    + _SQLITE_MARK.format(row="OLD")
    + "\nEND",
}

#: PostgreSQL: statement triggers with transition tables, so a bulk write marks each hour once;
#: a call of an account being deleted marks nothing (the EXISTS), the rollups go with it
_PG_MARK = """
    INSERT INTO call_rollup_marks (account_id, hour)
    SELECT DISTINCT r.account_id,
      date_trunc('hour', r.started_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
    FROM {rows} AS r
    WHERE EXISTS (SELECT 1 FROM accounts AS a WHERE a.id = r.account_id)
    ON CONFLICT DO NOTHING;"""
_PG_FUNCTION = (
    "CREATE FUNCTION calls_rollup_mark() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
    "  IF TG_OP <> 'DELETE' THEN"
    + _PG_MARK.format(rows="new_rows")
    + "\n  END IF;\n  IF TG_OP <> 'INSERT' THEN"
    + _PG_MARK.format(rows="old_rows")
    + "\n  END IF;\n  RETURN NULL;\nEND\n$$"
)


def postgres_triggers() -> list[str]:
    """The function and the three statement triggers (transition tables take one event each)."""
    referencing = {
        "INSERT": "NEW TABLE AS new_rows",
        "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        "DELETE": "OLD TABLE AS old_rows",
    }
    return [
        _PG_FUNCTION,
        *(
            f"CREATE TRIGGER calls_rollup_{event.lower()} AFTER {event} ON calls "
            f"REFERENCING {names} FOR EACH STATEMENT EXECUTE FUNCTION calls_rollup_mark()"
            for event, names in referencing.items()
        ),
    ]
