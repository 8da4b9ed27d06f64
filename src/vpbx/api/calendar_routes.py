"""`GET /calendar/{year}` (SCH-3): the Russian production calendar of one year, read-only.

The installation's national calendar, the same for every account (an account's own corrections
are the `calendar-overrides` resource; the PBX applies them first). The cabinet's month preview
of a schedule shows holidays and moved days with it.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel

from vpbx.api.crud import ERRORS
from vpbx.api.deps import CurrentActor
from vpbx.domain.production_year import known_years, year_days

__all__ = ["calendar_router"]


class CalendarDayOut(BaseModel):
    date: dt.date
    #: holiday (art. 112), day_off (moved by decree), working_weekend (a Saturday or Sunday
    #: worked by decree), shortened (a Mon-Fri working day one hour shorter, art. 95)
    kind: Literal["holiday", "day_off", "working_weekend", "shortened"]
    #: whether the day is worked
    working: bool
    #: one hour shorter: every "shortened" day and a shortened working weekend
    shortened: bool
    #: the holiday's name, of holidays and days off
    name_ru: str | None = None
    name_en: str | None = None


class CalendarYear(BaseModel):
    year: int
    country: Literal["RU"] = "RU"
    #: the years this calendar knows (outside: 422)
    first_year: int
    last_year: int
    #: every day that is not an ordinary Mon-Fri working day or weekend day, by date
    days: list[CalendarDayOut]


def calendar_router() -> APIRouter:
    router = APIRouter(tags=["calendar"], responses=ERRORS)

    @router.get(
        "/calendar/{year}",
        response_model=CalendarYear,
        summary="The Russian production calendar of a year",
    )
    async def production_year(
        year: Annotated[int, Path(ge=1, le=9999)], who: CurrentActor
    ) -> CalendarYear:
        """Holidays, days off moved by decree, working weekends and shortened days (SCH-3).

        422 (field `year`, error_id `calendar_year_unknown`) for a year the calendar does not
        know yet (its moved days are decreed the year before)."""
        del who  # any signed-in user: the national calendar is the same for every account
        known = known_years()
        days = [
            CalendarDayOut(
                date=day.date,
                kind=day.kind.value,
                working=day.working,
                shortened=day.shortened,
                name_ru=day.name_ru,
                name_en=day.name_en,
            )
            for day in year_days(year)
        ]
        return CalendarYear(year=year, first_year=known.start, last_year=known.stop - 1, days=days)

    return router
