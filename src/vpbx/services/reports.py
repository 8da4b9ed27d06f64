"""The calls report (CDR-1, BLK-2, TAG-1) and the file base tabs (FILE-1): filters, pages, CSV.

The queries are scoped like every read of the entity service: the actor's account, and for the
employee role only the rows of his own employee id. Tabs: «Все» every call; «Входящие» and
«Исходящие» by direction — blocked calls stay in them (the manual shows them greyed there);
«Заблокированные» the blocked calls whatever the direction. Internal calls are in «Все» only.

Periods are half-open, `start <= t < end`; a time without an offset is in the account's time
zone. Stored times are UTC (SQLite keeps no offset), so bounds are converted before comparing.
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import io
import math
import zoneinfo
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from vpbx.domain.actor import Role
from vpbx.domain.entities.misc import CallStatus, CallStep, FileKind
from vpbx.domain.errors import Forbidden, ValidationFailed
from vpbx.services.catalog import BY_NAME, Resource
from vpbx.services.entities import EntityService, Page
from vpbx.storage import tables as t
from vpbx.storage.db import utc_aware

__all__ = [
    "CSV_COLUMNS",
    "CallExport",
    "CallFilter",
    "CallTab",
    "FileFilter",
    "call_export",
    "call_page",
    "call_query",
    "call_steps",
    "count_of",
    "file_page",
    "parse_columns",
    "utc_bound",
]


class CallTab(enum.StrEnum):
    """CDR-1 tabs of the calls report."""

    ALL = "all"
    INCOMING = "incoming"
    OUTGOING = "outgoing"
    BLOCKED = "blocked"


@dataclass(frozen=True, slots=True)
class CallFilter:
    """What the calls report shows; `fields` are other scalar columns compared for equality."""

    tab: CallTab = CallTab.ALL
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    number_id: int | None = None
    employee_id: int | None = None
    caller: str | None = None
    status: CallStatus | None = None
    tag_id: int | None = None
    fields: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FileFilter:
    """What a file base tab shows (the period is on `created_at`)."""

    kind: FileKind | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    number_id: int | None = None
    employee_id: int | None = None
    caller: str | None = None
    fields: Mapping[str, str] = field(default_factory=dict)


#: CSV columns (the `columns` parameter) and their headers, in the default order
CSV_COLUMNS: Mapping[str, str] = {
    "started_at": "Дата и время",
    "direction": "Направление",
    "status": "Статус",
    "caller": "Кто звонил",
    "called": "Куда звонил",
    "contact_name": "ФИО контакта",
    "employee": "Сотрудник",
    "number": "Виртуальный номер",
    "scenario": "Сценарий",
    "wait_seconds": "Ожидание, с",
    "talk_seconds": "Разговор, с",
    "rating": "Оценка",
    "tags": "Теги",
    "recording": "Запись разговора",
}
DIRECTION_LABELS: Mapping[str, str] = {
    "incoming": "Входящий",
    "outgoing": "Исходящий",
    "internal": "Внутренний",
}
STATUS_LABELS: Mapping[str, str] = {
    "answered": "Отвеченный",
    "missed": "Пропущенный",
    "voicemail": "Голосовая почта",
    "blocked": "Заблокированный",
    "failed": "Ошибка",
    "active": "Идёт",
    "interrupted": "Прерван",
}
#: file base tabs listed newest first unless another order is asked for
_NEWEST_FIRST_KINDS = frozenset({FileKind.VOICEMAIL, FileKind.RECORDING, FileKind.SOUND})
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


# -- scoping and generic filters ---------------------------------------------------------------


def _scoped(svc: EntityService, res: Resource) -> sa.Select[Any]:
    """The actor's rows of a resource (as `EntityService` reads them)."""
    if svc.actor.role not in res.readable_by:
        raise Forbidden(f"role {svc.actor.role.value} may not read {res.name}")
    query = sa.select(res.table).where(res.table.c.account_id == svc.account_id)
    if svc.actor.role is Role.EMPLOYEE and res.own_rows_column is not None:
        own = res.table.c[res.own_rows_column]
        employee = svc.actor.employee_id
        query = query.where(own == employee if employee is not None else sa.false())
    return query


def _column(res: Resource, name: str, what: str) -> sa.Column[Any]:
    allowed = {
        c.name
        for c in res.table.columns
        if c.name not in ("account_id", *res.hidden) and not isinstance(c.type, sa.JSON)
    }
    if name not in allowed:
        raise ValidationFailed.one(
            what, f"cannot {what} {res.name} by {name!r}; allowed: {', '.join(sorted(allowed))}"
        )
    return res.table.c[name]


def _value(column: sa.Column[Any], name: str, raw: str) -> Any:
    """A query-string value as the column's type (422 naming the field when it is not one)."""
    kind = column.type
    try:
        if isinstance(kind, sa.Boolean):
            flags = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
            return flags[raw.lower()]
        if isinstance(kind, sa.Integer):
            value = int(raw)
            if not -(2**63) <= value < 2**63:
                raise ValueError(raw)
            return value
        if isinstance(kind, sa.Float):
            return float(raw)
        if isinstance(kind, sa.DateTime):
            return dt.datetime.fromisoformat(raw)
        if isinstance(kind, sa.Date):
            return dt.date.fromisoformat(raw)
    except (ValueError, KeyError):
        raise ValidationFailed.one(name, f"filter value {raw!r} is not a valid {kind}") from None
    return raw


def _equal(query: sa.Select[Any], res: Resource, fields: Mapping[str, str]) -> sa.Select[Any]:
    for name, raw in fields.items():
        column = _column(res, name, "filter")
        query = query.where(column == _value(column, name, raw))
    return query


def _order(
    res: Resource, sort: str | None, default: Sequence[sa.ColumnElement[Any]]
) -> list[sa.ColumnElement[Any]]:
    if not sort:
        return list(default)
    order: list[sa.ColumnElement[Any]] = []
    for part in sort.split(","):
        column = _column(res, part.strip().lstrip("-+"), "sort")
        order.append(column.desc() if part.strip().startswith("-") else column.asc())
    order.append(res.table.c.id.asc())
    return order


async def _zone(conn: AsyncConnection, account_id: int) -> zoneinfo.ZoneInfo:
    query = sa.select(t.accounts.c.timezone).where(t.accounts.c.id == account_id)
    name = (await conn.execute(query)).scalar_one_or_none()
    return zoneinfo.ZoneInfo(name or "Europe/Moscow")


def utc_bound(value: dt.datetime, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """A period bound in UTC: a time without an offset is read in the account's `zone`."""
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(dt.UTC)


async def _period(
    svc: EntityService,
    column: sa.Column[Any],
    start: dt.datetime | None,
    end: dt.datetime | None,
) -> list[sa.ColumnElement[bool]]:
    if start is None and end is None:
        return []
    zone = await _zone(svc.conn, svc.account_id)
    found: list[sa.ColumnElement[bool]] = []
    low = utc_bound(start, zone) if start is not None else None
    high = utc_bound(end, zone) if end is not None else None
    if low is not None and high is not None and high <= low:
        raise ValidationFailed.one("to", "the end of the period must be after its start")
    if low is not None:
        found.append(column >= low)
    if high is not None:
        found.append(column < high)
    return found


def _number_contains(raw: str, *columns: sa.Column[Any]) -> sa.ColumnElement[bool]:
    digits = "".join(ch for ch in raw if ch.isdigit())
    if not digits:
        raise ValidationFailed.one("caller", f"{raw!r} has no digits: give a number or part of it")
    return sa.or_(*(c.contains(digits) for c in columns))


def _json_list_has(dialect: str, column: sa.Column[Any], value: int) -> sa.ColumnElement[bool]:
    """The JSON list in `column` contains `value` (an id)."""
    if dialect == "postgresql":
        return sa.cast(column, JSONB).contains([value])
    items = sa.func.json_each(column).table_valued("value")
    return sa.exists(sa.select(sa.literal(1)).select_from(items).where(items.c.value == value))


def _out(res: Resource, row: sa.RowMapping) -> BaseModel:
    values = {name: row[name] for name in res.doc.model_fields if name in row}
    values["id"] = row["id"]
    for name in res.readonly:
        values[name] = row[name]
    for name, value in values.items():
        if isinstance(value, dt.datetime):
            values[name] = utc_aware(value)
    return res.out.model_validate(values)


def count_of(query: sa.Select[Any]) -> sa.Select[tuple[int]]:
    """How many rows `query` gives, counted without its ORDER BY: a sorted subquery is not
    flattened, so PostgreSQL would read and sort every matching row (2 s for 600,000 calls);
    unsorted, it counts an index (an index-only scan once vacuumed)."""
    return sa.select(sa.func.count()).select_from(query.order_by(None).subquery())


async def _page(
    svc: EntityService, res: Resource, query: sa.Select[Any], limit: int, offset: int
) -> Page:
    total = (await svc.conn.execute(count_of(query))).scalar_one()
    rows = (await svc.conn.execute(query.limit(limit).offset(offset))).mappings().all()
    return Page([_out(res, r) for r in rows], int(total), limit, offset)


# -- calls -------------------------------------------------------------------------------------


async def call_query(svc: EntityService, flt: CallFilter, sort: str | None) -> sa.Select[Any]:
    """The actor's calls matching `flt`, ordered (default: newest first)."""
    res = BY_NAME["calls"]
    c = t.calls.c
    query = _equal(_scoped(svc, res), res, flt.fields)
    match flt.tab:
        case CallTab.INCOMING:
            query = query.where(c.direction == "incoming")
        case CallTab.OUTGOING:
            query = query.where(c.direction == "outgoing")
        case CallTab.BLOCKED:
            query = query.where(c.status == CallStatus.BLOCKED.value)
        case CallTab.ALL:
            pass
    query = query.where(*await _period(svc, c.started_at, flt.start, flt.end))
    if flt.number_id is not None:
        query = query.where(c.number_id == flt.number_id)
    if flt.employee_id is not None:
        query = query.where(c.employee_id == flt.employee_id)
    if flt.status is not None:
        query = query.where(c.status == flt.status.value)
    if flt.caller is not None:
        query = query.where(_number_contains(flt.caller, c.caller, c.called))
    if flt.tag_id is not None:
        query = query.where(_json_list_has(svc.conn.dialect.name, c.tag_ids, flt.tag_id))
    return query.order_by(*_order(res, sort, (c.started_at.desc(), c.id.desc())))


async def call_page(
    svc: EntityService, flt: CallFilter, sort: str | None, limit: int, offset: int
) -> Page:
    """One page of the calls report."""
    return await _page(svc, BY_NAME["calls"], await call_query(svc, flt, sort), limit, offset)


# -- files -------------------------------------------------------------------------------------


async def file_page(
    svc: EntityService, flt: FileFilter, sort: str | None, limit: int, offset: int
) -> Page:
    """One page of a file base tab; voicemail, recordings and sound files newest first."""
    res = BY_NAME["files"]
    c = t.files.c
    query = _equal(_scoped(svc, res), res, flt.fields)
    if flt.kind is not None:
        query = query.where(c.kind == flt.kind.value)
    query = query.where(*await _period(svc, c.created_at, flt.start, flt.end))
    if flt.number_id is not None:
        query = query.where(c.number_id == flt.number_id)
    if flt.employee_id is not None:
        query = query.where(c.employee_id == flt.employee_id)
    if flt.caller is not None:
        query = query.where(_number_contains(flt.caller, c.caller, c.called))
    newest = flt.kind in _NEWEST_FIRST_KINDS
    default = (c.created_at.desc(), c.id.desc()) if newest else (c.id.asc(),)
    return await _page(svc, res, query.order_by(*_order(res, sort, default)), limit, offset)


# -- CSV export --------------------------------------------------------------------------------


def parse_columns(raw: str | None) -> tuple[str, ...]:
    """The `columns` parameter (comma list) as CSV column names; all of them when empty."""
    if raw is None or not raw.strip():
        return tuple(CSV_COLUMNS)
    names = [part.strip() for part in raw.split(",") if part.strip()]
    unknown = [n for n in names if n not in CSV_COLUMNS]
    if unknown or not names:
        raise ValidationFailed.one(
            "columns",
            f"unknown column(s) {', '.join(unknown) or repr(raw)}; "
            f"allowed: {', '.join(CSV_COLUMNS)}",
        )
    return tuple(dict.fromkeys(names))


async def _names(
    conn: AsyncConnection, table: sa.Table, account_id: int, *cols: str
) -> dict[int, str]:
    query = sa.select(table.c.id, *(table.c[name] for name in cols)).where(
        table.c.account_id == account_id
    )
    return {
        int(row[0]): " ".join(str(v) for v in row[1:] if v) for row in (await conn.execute(query))
    }


def _seconds(value: float | None) -> str:
    # Whole seconds: a decimal point would be read as a date by Excel in a Russian locale.
    return str(math.floor((value or 0.0) + 0.5))


@dataclass(frozen=True, slots=True)
class CallExport:
    """A prepared CSV export: the query, the chosen columns and the names to show for ids."""

    query: sa.Select[Any]
    columns: tuple[str, ...]
    zone: zoneinfo.ZoneInfo
    employees: Mapping[int, str]
    numbers: Mapping[int, str]
    scenarios: Mapping[int, str]
    tags: Mapping[int, str]
    file_url: Callable[[int], str]
    delimiter: str = ";"
    chunk_rows: int = 500

    def header(self) -> list[str]:
        return [CSV_COLUMNS[name] for name in self.columns]

    def cells(self, row: sa.RowMapping) -> list[str]:
        return [self._cell(name, row) for name in self.columns]

    def _cell(self, name: str, row: sa.RowMapping) -> str:
        match name:
            case "started_at":
                return utc_aware(row["started_at"]).astimezone(self.zone).strftime(_TIME_FORMAT)
            case "direction":
                return DIRECTION_LABELS.get(row["direction"], str(row["direction"]))
            case "status":
                return STATUS_LABELS.get(row["status"], str(row["status"]))
            case "employee":
                return self._label(self.employees, row["employee_id"])
            case "number":
                return self._label(self.numbers, row["number_id"])
            case "scenario":
                return self._label(self.scenarios, row["scenario_id"])
            case "wait_seconds" | "talk_seconds":
                return _seconds(row[name])
            case "rating":
                return "" if row["rating"] is None else str(row["rating"])
            case "tags":
                return ", ".join(self._label(self.tags, i) for i in row["tag_ids"] or [])
            case "recording":
                recordings = row["recording_file_ids"] or []
                return self.file_url(int(recordings[0])) if recordings else ""
            case _:
                return "" if row[name] is None else str(row[name])

    @staticmethod
    def _label(names: Mapping[int, str], entity_id: int | None) -> str:
        if entity_id is None:
            return ""
        return names.get(int(entity_id), f"#{entity_id}")

    def _lines(self, rows: Sequence[Sequence[str]]) -> str:
        out = io.StringIO()
        csv.writer(out, delimiter=self.delimiter).writerows(rows)
        return out.getvalue()

    async def stream(self, engine: AsyncEngine) -> AsyncIterator[bytes]:
        """The CSV in UTF-8 with a BOM (for Excel), read in chunks on a connection of its own."""
        yield ("\ufeff" + self._lines([self.header()])).encode()
        async with engine.connect() as conn:
            result = await conn.stream(self.query.execution_options(yield_per=self.chunk_rows))
            async for rows in result.mappings().partitions(self.chunk_rows):
                yield self._lines([self.cells(r) for r in rows]).encode()


async def call_export(
    svc: EntityService,
    flt: CallFilter,
    sort: str | None,
    columns: tuple[str, ...],
    file_url: Callable[[int], str],
) -> CallExport:
    """Prepare the CSV of the calls report; the errors of the filters are raised here."""
    conn, account_id = svc.conn, svc.account_id
    query = await call_query(svc, flt, sort)
    return CallExport(
        query=query,
        columns=columns,
        zone=await _zone(conn, account_id),
        employees=await _names(conn, t.employees, account_id, "last_name", "first_name"),
        numbers=await _names(conn, t.numbers, account_id, "number"),
        scenarios=await _names(conn, t.scenarios, account_id, "name"),
        tags=await _names(conn, t.tags, account_id, "name"),
        file_url=file_url,
    )


async def call_steps(svc: EntityService, call_id: int) -> list[dict[str, Any]]:
    """CDR-2: every step of a call the actor may read, in order (times in UTC)."""
    await svc.get("calls", call_id)
    query = (
        sa.select(t.call_steps)
        .where(t.call_steps.c.call_id == call_id)
        .order_by(t.call_steps.c.seq, t.call_steps.c.id)
    )
    rows = (await svc.conn.execute(query)).mappings().all()
    return [
        {name: row[name] for name in CallStep.model_fields} | {"at": utc_aware(row["at"])}
        for row in rows
    ]
