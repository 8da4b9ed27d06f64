"""`GET /dashboards` (CDR-3): the figures of the cabinet's «Аналитика» page for a period.

The figures are `vpbx.services.dashboards`'s SQL aggregates over the calls the report lists with
the same tab, period and virtual number; an employee gets those of his own calls.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from vpbx.api.crud import ERRORS
from vpbx.api.deps import MAX_ID, Service
from vpbx.domain.fields import PlausibleTime
from vpbx.services import dashboards
from vpbx.services.dashboards import MAX_DAYS, DashboardFilter
from vpbx.services.reports import CallTab

__all__ = ["dashboards_router"]


class DashboardFigures(BaseModel):
    """Counts by the report's statuses, and the wait of the answered and missed calls."""

    total: int = Field(description="every call of the set, whatever its status")
    answered: int = Field(description="status `answered` («Отвеченный»)")
    missed: int = Field(
        description="status `missed` («Пропущенный»: nobody answered, no message left)"
    )
    lost: int = Field(
        description="statuses `failed` and `interrupted` («Ошибка», «Прерван»): lost by the PBX"
    )
    voicemail: int = Field(description="status `voicemail` («Голосовая почта»)")
    blocked: int = Field(description="status `blocked` («Заблокированный»)")
    active: int = Field(description="status `active` («Идёт»): still in progress")
    waited: int = Field(description="answered + missed: the calls the wait figures are over")
    wait_avg: float | None = Field(
        description="average `wait_seconds` of the answered and missed calls; null without any"
    )
    wait_p90: float | None = Field(
        description="their 90th percentile (linear interpolation, as percentile_cont)"
    )


class DashboardBucket(BaseModel):
    start: dt.datetime = Field(
        description="the local hour or day the bucket starts at, with the account's UTC offset"
    )
    figures: DashboardFigures


class DashboardEmployee(BaseModel):
    employee_id: int
    name: str | None = Field(description="last and first name; null when he was deleted since")
    calls: int = Field(description="calls of the period with his name (answered, voicemail…)")
    answered: int
    talk_seconds: float = Field(description="his talk time over the period, seconds")
    rating_avg: float | None = Field(description="the callers' average rating (1..5)")
    ratings: int = Field(description="how many of his calls were rated")


class DashboardOut(BaseModel):
    start: dt.datetime = Field(description="the period's start, UTC")
    end: dt.datetime = Field(description="the period's end (exclusive), UTC")
    timezone: str = Field(description="the account's time zone the buckets are in")
    bucket: Literal["hour", "day"] = Field(
        description="`hour` for periods up to 2 days, otherwise `day`"
    )
    totals: DashboardFigures
    buckets: list[DashboardBucket] = Field(description="every hour or day of the period, in order")
    employees: list[DashboardEmployee] = Field(description="by talk time, longest first")


Start = Annotated[
    PlausibleTime,
    Query(
        alias="from",
        description="period start (inclusive); without an offset in the account's time zone "
        "(`2026-03-10T00:00`)",
    ),
]
End = Annotated[
    PlausibleTime,
    Query(
        alias="to", description="period end (exclusive); without an offset in the account's zone"
    ),
]


def dashboards_router() -> APIRouter:
    router = APIRouter(tags=["calls"], responses=ERRORS)

    @router.get(
        "/dashboards",
        response_model=DashboardOut,
        summary="Dashboards: calls per hour or day, answered / missed / lost, wait, per employee",
        description="CDR-3 over `from <= started_at < to` (at most "
        f"{MAX_DAYS} days; 422 on `to` when it is not after `from` or the period is longer), "
        "the calls of the report's `tab` (default `incoming`) and optionally one virtual "
        "number. Buckets are local hours (periods up to 2 days) or days of the account's time "
        "zone. An employee gets the figures of his own calls.",
    )
    async def get_dashboard(
        svc: Service,
        start: Start,
        end: End,
        number_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
        tab: CallTab = CallTab.INCOMING,
    ) -> DashboardOut:
        flt = DashboardFilter(start=start, end=end, number_id=number_id, tab=tab)
        found = await dashboards.dashboard(svc, flt)
        return DashboardOut.model_validate(found, from_attributes=True)

    return router
