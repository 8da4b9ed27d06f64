"""The calls report (CDR-1) with its CSV export, and the file base tabs (FILE-1).

These replace the generic `GET /calls` and `GET /files` lists (`resource_router(list_route=False)`)
and keep what the generic list does: paging, `sort`, any other scalar field as an equality filter,
the employee's own rows only. The filtering itself is `vpbx.services.reports`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from vpbx.api.crud import ERRORS, page_model
from vpbx.api.deps import MAX_ID, Service, engine
from vpbx.domain.entities.misc import CallStatus, FileKind
from vpbx.domain.fields import PlausibleTime
from vpbx.services import reports
from vpbx.services.catalog import BY_NAME
from vpbx.services.entities import Page
from vpbx.services.reports import CallFilter, CallTab, FileFilter

Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=MAX_ID)]
Sort = Annotated[str | None, Query(description="`field,-other` (`-` = descending)")]
IdFilter = Annotated[int | None, Query(ge=1, le=MAX_ID)]
Start = Annotated[
    PlausibleTime | None,
    Query(
        alias="from",
        description="period start (inclusive); without an offset in the account's time zone",
    ),
]
End = Annotated[
    PlausibleTime | None,
    Query(
        alias="to", description="period end (exclusive); without an offset in the account's zone"
    ),
]
Caller = Annotated[
    str | None,
    Query(max_length=100, description="digits contained in the caller or the called number"),
]

_CALL_PARAMS = frozenset(
    {
        "limit",
        "offset",
        "sort",
        "tab",
        "from",
        "to",
        "number_id",
        "employee_id",
        "caller",
        "status",
        "tag_id",
    }
)
_EXPORT_PARAMS = _CALL_PARAMS | {"columns"}
_FILE_PARAMS = frozenset(
    {"limit", "offset", "sort", "kind", "from", "to", "number_id", "employee_id", "caller"}
)
_FIELDS_NOTE = " Any other scalar field is an equality filter (`?direction=internal`)."


def _others(request: Request, known: frozenset[str]) -> dict[str, str]:
    return {k: v for k, v in request.query_params.items() if k not in known}


def _page_body(page: Page) -> dict[str, Any]:
    return {"items": page.items, "total": page.total, "limit": page.limit, "offset": page.offset}


def calls_report_router() -> APIRouter:
    """`GET /calls` (the report) and `GET /calls/export.csv`; include before the generic router."""
    router = APIRouter(prefix="/calls", tags=["calls"], responses=ERRORS)

    def call_filter(
        request: Request,
        known: frozenset[str],
        tab: CallTab,
        start: dt.datetime | None,
        end: dt.datetime | None,
        number_id: int | None,
        employee_id: int | None,
        caller: str | None,
        status: CallStatus | None,
        tag_id: int | None,
    ) -> CallFilter:
        return CallFilter(
            tab=tab,
            start=start,
            end=end,
            number_id=number_id,
            employee_id=employee_id,
            caller=caller,
            status=status,
            tag_id=tag_id,
            fields=_others(request, known),
        )

    @router.get(
        "",
        response_model=page_model(BY_NAME["calls"]),
        summary="Calls report",
        description="CDR-1 tabs: `all`, `incoming`, `outgoing` (by direction; blocked calls "
        "included), `blocked` (any direction). Newest first unless `sort` is given." + _FIELDS_NOTE,
    )
    async def list_calls(
        request: Request,
        svc: Service,
        tab: CallTab = CallTab.ALL,
        start: Start = None,
        end: End = None,
        number_id: IdFilter = None,
        employee_id: IdFilter = None,
        caller: Caller = None,
        status: CallStatus | None = None,
        tag_id: IdFilter = None,
        limit: Limit = 50,
        offset: Offset = 0,
        sort: Sort = None,
    ) -> dict[str, Any]:
        flt = call_filter(
            request, _CALL_PARAMS, tab, start, end, number_id, employee_id, caller, status, tag_id
        )
        return _page_body(await reports.call_page(svc, flt, sort, limit, offset))

    @router.get(
        "/export.csv",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/csv": {}}, "description": "the report as CSV"}},
        summary="Calls report as CSV",
        description="The filters of `GET /calls`; `columns` is a comma list of "
        f"{', '.join(reports.CSV_COLUMNS)} (default: all, in this order). UTF-8 with a BOM, "
        "`;` between fields, a header row in Russian, times in the account's time zone, "
        "durations in whole seconds.",
    )
    async def export_calls(
        request: Request,
        svc: Service,
        tab: CallTab = CallTab.ALL,
        start: Start = None,
        end: End = None,
        number_id: IdFilter = None,
        employee_id: IdFilter = None,
        caller: Caller = None,
        status: CallStatus | None = None,
        tag_id: IdFilter = None,
        sort: Sort = None,
        columns: Annotated[str | None, Query(max_length=1000)] = None,
    ) -> StreamingResponse:
        chosen = reports.parse_columns(columns)
        flt = call_filter(
            request, _EXPORT_PARAMS, tab, start, end, number_id, employee_id, caller, status, tag_id
        )
        # The API's own base (…/api/v1) as the client reached it.
        base = str(request.url.replace(query=None)).removesuffix("/calls/export.csv")

        def file_url(file_id: int) -> str:
            return f"{base}/files/{file_id}/content"

        export = await reports.call_export(svc, flt, sort, chosen, file_url)
        return StreamingResponse(
            export.stream(engine(request)),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="calls.csv"'},
        )

    return router


def files_list_router() -> APIRouter:
    """`GET /files` with the FILE-1 tab filters; include before the generic files router."""
    router = APIRouter(prefix="/files", tags=["files"], responses=ERRORS)

    @router.get(
        "",
        response_model=page_model(BY_NAME["files"]),
        summary="List files (the file base tabs)",
        description="FILE-1: `kind` chooses the tab; voicemail, recordings and sound files come "
        "newest first unless `sort` is given; the period is on `created_at`." + _FIELDS_NOTE,
    )
    async def list_files(
        request: Request,
        svc: Service,
        kind: FileKind | None = None,
        start: Start = None,
        end: End = None,
        number_id: IdFilter = None,
        employee_id: IdFilter = None,
        caller: Caller = None,
        limit: Limit = 50,
        offset: Offset = 0,
        sort: Sort = None,
    ) -> dict[str, Any]:
        flt = FileFilter(
            kind=kind,
            start=start,
            end=end,
            number_id=number_id,
            employee_id=employee_id,
            caller=caller,
            fields=_others(request, _FILE_PARAMS),
        )
        return _page_body(await reports.file_page(svc, flt, sort, limit, offset))

    return router
