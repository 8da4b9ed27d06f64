"""SCH-3: one year of the Russian production calendar as the days that differ from Mon-Fri.

The source is the ``holidays`` package (the same one ``ProductionCalendar`` asks whether a day
works): its public holidays, the days off moved there by the government's decrees, and the
weekend days those decrees make working. Shortened pre-holiday days (Labour Code art. 95, one
hour less) are not in the package; they are derived here by the rule the published calendars of
2024-2026 follow: a working day whose next day is a public holiday, and a working weekend day
whose following run of days off contains a public holiday (2024-12-28, 2025-11-01). A day off
moved next to a holiday does not shorten the day before it (2025-05-07, 2025-12-30 are full).

Years outside ``known_years()`` (before the package's first, or after the last year with a
decree) are refused: their moved days are not known yet.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Final

import holidays
from holidays.countries.russia import Russia, RussiaStaticHolidays

from vpbx.domain.errors import ValidationFailed

__all__ = ["CalendarDay", "DayKind", "known_years", "year_days"]

_DAY: Final = dt.timedelta(days=1)
_SATURDAY: Final = 6
# The labels the package gives moved and observed days off ("Выходной (перенесено с …)",
# "… (выходной)"): how they are told apart from the public holidays themselves.
_MOVED_PREFIX: Final = str(RussiaStaticHolidays.substituted_label).split("%s", 1)[0]
_OBSERVED_SUFFIX: Final = str(Russia.observed_label).split("%s", 1)[1]


class DayKind(enum.StrEnum):
    """What a listed day is."""

    HOLIDAY = "holiday"  # a public holiday (art. 112), not worked
    DAY_OFF = "day_off"  # a day off moved from a holiday or a weekend by decree
    WORKING_WEEKEND = "working_weekend"  # a Saturday or Sunday worked by decree
    SHORTENED = "shortened"  # a Mon-Fri working day one hour shorter before a holiday (art. 95)


@dataclass(frozen=True, slots=True)
class CalendarDay:
    """One day of the year that is not an ordinary Mon-Fri working day or weekend day."""

    date: dt.date
    kind: DayKind
    name_ru: str | None = None  # the holiday's name (holidays and days off only)
    name_en: str | None = None
    shortened: bool = False  # one hour shorter (a SHORTENED day, or a shortened working weekend)

    @property
    def working(self) -> bool:
        return self.kind in (DayKind.WORKING_WEEKEND, DayKind.SHORTENED)


def known_years() -> range:
    """The years whose holidays and moved days the installed calendar knows."""
    return range(Russia.start_year, max(RussiaStaticHolidays.special_public_holidays) + 1)


def year_days(year: int) -> tuple[CalendarDay, ...]:
    """Every notable day of `year`, by date; ValidationFailed (field ``year``) if not known."""
    known = known_years()
    if year not in known:
        raise ValidationFailed.one(
            "year",
            f"the production calendar is known for {known.start}..{known.stop - 1} "
            f"(производственный календарь известен на {known.start}–{known.stop - 1} годы)",
            "calendar_year_unknown",
        )
    # The next year too: 31 December is shortened before 1 January.
    ru = holidays.country_holidays("RU", years=(year, year + 1), language="ru")
    en = holidays.country_holidays("RU", years=year, language="en_US")
    working_weekends = set(ru.weekend_workdays)

    def public(day: dt.date) -> bool:
        names = ru.get_list(day)
        return any(not _moved(name) for name in names)

    def working(day: dt.date) -> bool:
        if day in ru:
            return False
        return day.isoweekday() < _SATURDAY or day in working_weekends

    def shortened(day: dt.date) -> bool:
        if public(day + _DAY):
            return True
        if day not in working_weekends:
            return False
        after = day + _DAY
        while not working(after):
            if public(after):
                return True
            after += _DAY
        return False

    days: list[CalendarDay] = []
    current, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    while current <= end:
        if current in ru:
            kind = DayKind.HOLIDAY if public(current) else DayKind.DAY_OFF
            days.append(
                CalendarDay(current, kind, "; ".join(ru.get_list(current)), en.get(current))
            )
        elif current in working_weekends:
            days.append(CalendarDay(current, DayKind.WORKING_WEEKEND, shortened=shortened(current)))
        elif working(current) and shortened(current):
            days.append(CalendarDay(current, DayKind.SHORTENED, shortened=True))
        current += _DAY
    return tuple(days)


def _moved(name: str) -> bool:
    return name.startswith(_MOVED_PREFIX) or name.endswith(_OBSERVED_SUFFIX)
