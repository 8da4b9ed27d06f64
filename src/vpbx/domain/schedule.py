"""Activity schedules (SCH-1..5): a pure ``is_active`` check of an instant against a schedule.

Decisions:

* Pure: the instant is passed in and must be timezone-aware; it is converted to the account's
  zone and only the local wall-clock date and time are evaluated, so DST transitions and
  historical offset changes need no special handling (SCH-5, default zone ``Europe/Moscow``).
* Intervals are half-open ``[start, end)``; ``end == 00:00`` means "until midnight", so
  ``00:00-00:00`` is the whole day. An interval never crosses midnight: a night shift is two
  intervals on two days. Intervals of one day may touch but must not overlap.
* The activity period ``active_from..active_to`` is inclusive and is checked on the local date.
* Production calendar (``use_production_calendar``): admin overrides win, then the ``holidays``
  package (RU by default, which knows holidays and transferred working days). When the flag is
  set but no calendar is passed, ``default_working_day`` (Mon-Fri) is used instead.
* Weekly kind with the calendar flag: a day the calendar says is off is inactive, even if the
  weekday has intervals (so Saturday intervals only apply without the flag). A working day that
  falls on Saturday or Sunday (a transferred working day) uses the intervals of the first weekday
  among Monday..Friday, in that order, that has intervals; without any, it is inactive.
* Dates and cycle kinds with the calendar flag additionally require a working day.
* Cycle: the day index is counted from ``start_date``; days before it are inactive.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Annotated, Final, Literal, Self
from zoneinfo import ZoneInfo

import holidays
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

__all__ = [
    "DEFAULT_TIMEZONE",
    "Cycle",
    "MonthDates",
    "ProductionCalendar",
    "ScheduleSpec",
    "TimeInterval",
    "WeeklyDay",
    "default_working_day",
    "is_active",
]

DEFAULT_TIMEZONE: Final = "Europe/Moscow"

_MIDNIGHT: Final = dt.time(0)
_DAY: Final = dt.timedelta(days=1)
_WORKWEEK: Final = (1, 2, 3, 4, 5)
_SATURDAY: Final = 6


#: A local time of day. Described by a pattern, not JSON Schema's `format: time`: that is RFC
#: 3339's full-time, which requires a zone offset these times must not carry (the account's zone
#: applies), so the served document contradicted every answer.
WallClock = Annotated[
    dt.time,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$",
            "description": "local wall-clock time HH:MM[:SS] (no zone)",
        }
    ),
]


def _offset(value: dt.time) -> dt.timedelta:
    return dt.timedelta(
        hours=value.hour, minutes=value.minute, seconds=value.second, microseconds=value.microsecond
    )


class TimeInterval(BaseModel):
    """Half-open ``[start, end)`` within one local day; ``end == 00:00`` means midnight."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: WallClock
    end: WallClock

    @field_validator("start", "end")
    @classmethod
    def _wall_clock_only(cls, value: dt.time) -> dt.time:
        # The zone belongs to the account, not to the interval; an aware time would also make
        # comparison with the naive local time raise at evaluation.
        if value.tzinfo is not None:
            raise ValueError("interval times must not carry a time zone")
        return value

    @model_validator(mode="after")
    def _end_after_start(self) -> Self:
        if self.end != _MIDNIGHT and self.end <= self.start:
            raise ValueError("interval end must be after its start (or 00:00 for midnight)")
        return self

    @property
    def end_offset(self) -> dt.timedelta:
        """End as time since local midnight; midnight is a full day."""
        return _DAY if self.end == _MIDNIGHT else _offset(self.end)

    def contains(self, value: dt.time) -> bool:
        return self.start <= value and (self.end == _MIDNIGHT or value < self.end)


Intervals = tuple[TimeInterval, ...]


def _check_no_overlap(intervals: Intervals) -> Intervals:
    ordered = sorted(intervals, key=lambda item: item.start)
    for before, after in itertools.pairwise(ordered):
        if _offset(after.start) < before.end_offset:
            raise ValueError(
                "intervals of one day must not overlap: "
                f"{before.start:%H:%M:%S}-{before.end:%H:%M:%S} and "
                f"{after.start:%H:%M:%S}-{after.end:%H:%M:%S}"
            )
    return intervals


def _in_any(intervals: Iterable[TimeInterval], value: dt.time) -> bool:
    return any(interval.contains(value) for interval in intervals)


class WeeklyDay(BaseModel):
    """Intervals of one ISO weekday (1 = Monday .. 7 = Sunday)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weekday: Annotated[int, Field(ge=1, le=7)]
    intervals: Intervals = ()

    @field_validator("intervals")
    @classmethod
    def _intervals_disjoint(cls, value: Intervals) -> Intervals:
        return _check_no_overlap(value)


class MonthDates(BaseModel):
    """Days of the month (1..31) that share the same intervals."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    days: tuple[Annotated[int, Field(ge=1, le=31)], ...]
    intervals: Intervals = ()

    @field_validator("intervals")
    @classmethod
    def _intervals_disjoint(cls, value: Intervals) -> Intervals:
        return _check_no_overlap(value)


class Cycle(BaseModel):
    """``on_days`` active days then ``off_days`` inactive ones, repeating from ``start_date``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    on_days: Annotated[int, Field(ge=1)]
    off_days: Annotated[int, Field(ge=0)]
    start_date: dt.date
    intervals: Intervals = ()

    @field_validator("intervals")
    @classmethod
    def _intervals_disjoint(cls, value: Intervals) -> Intervals:
        return _check_no_overlap(value)

    def is_on(self, day: dt.date) -> bool:
        index = (day - self.start_date).days
        return index >= 0 and index % (self.on_days + self.off_days) < self.on_days


class ScheduleSpec(BaseModel):
    """One schedule: a kind with its rule, the calendar flag and an optional activity period."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["weekly", "dates", "cycle"] = "weekly"
    weekly: tuple[WeeklyDay, ...] = ()
    dates: MonthDates | None = None
    cycle: Cycle | None = None
    use_production_calendar: bool = False
    active_from: dt.date | None = None
    active_to: dt.date | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.kind == "dates" and self.dates is None:
            raise ValueError('dates is required when kind is "dates"')
        if self.kind == "cycle" and self.cycle is None:
            raise ValueError('cycle is required when kind is "cycle"')
        if (
            self.active_from is not None
            and self.active_to is not None
            and self.active_from > self.active_to
        ):
            raise ValueError("active_from must not be after active_to")
        seen: set[int] = set()
        for day in self.weekly:
            if day.weekday in seen:
                raise ValueError(f"weekly: weekday {day.weekday} must appear at most once")
            seen.add(day.weekday)
        return self

    def weekday_intervals(self, weekday: int) -> Intervals:
        for day in self.weekly:
            if day.weekday == weekday:
                return day.intervals
        return ()

    def in_period(self, day: dt.date) -> bool:
        if self.active_from is not None and day < self.active_from:
            return False
        return self.active_to is None or day <= self.active_to


def default_working_day(day: dt.date) -> bool:
    """Monday..Friday: the working week when no production calendar is available."""
    return day.isoweekday() < _SATURDAY


class ProductionCalendar:
    """Working days by admin overrides first, then the ``holidays`` package's country calendar."""

    def __init__(
        self, overrides: Mapping[dt.date, bool] | None = None, country: str = "RU"
    ) -> None:
        # Copied so a caller mutating its mapping cannot change answers already relied upon.
        self._overrides: Mapping[dt.date, bool] = MappingProxyType(dict(overrides or {}))
        self._country = country
        self._by_year: dict[int, holidays.HolidayBase] = {}

    @property
    def country(self) -> str:
        return self._country

    @property
    def overrides(self) -> Mapping[dt.date, bool]:
        return self._overrides

    def is_working_day(self, day: dt.date) -> bool:
        override = self._overrides.get(day)
        if override is not None:
            return override
        return bool(self._year(day.year).is_working_day(day))

    def _year(self, year: int) -> holidays.HolidayBase:
        # Building a country calendar is costly and a year's calendar never changes in-process.
        calendar = self._by_year.get(year)
        if calendar is None:
            calendar = holidays.country_holidays(self._country, years=year)
            self._by_year[year] = calendar
        return calendar


def _day_intervals(
    spec: ScheduleSpec, day: dt.date, calendar: ProductionCalendar | None
) -> Intervals:
    working = calendar.is_working_day if calendar is not None else default_working_day
    use_calendar = spec.use_production_calendar

    if spec.kind == "dates":
        assert spec.dates is not None  # guaranteed by ScheduleSpec validation
        if day.day not in spec.dates.days or (use_calendar and not working(day)):
            return ()
        return spec.dates.intervals

    if spec.kind == "cycle":
        assert spec.cycle is not None  # guaranteed by ScheduleSpec validation
        if not spec.cycle.is_on(day) or (use_calendar and not working(day)):
            return ()
        return spec.cycle.intervals

    weekday = day.isoweekday()
    if not use_calendar:
        return spec.weekday_intervals(weekday)
    if not working(day):
        return ()
    if weekday < _SATURDAY:
        return spec.weekday_intervals(weekday)
    # A transferred working weekend day works "like a weekday"; take the first configured one.
    for workday in _WORKWEEK:
        intervals = spec.weekday_intervals(workday)
        if intervals:
            return intervals
    return ()


def is_active(
    spec: ScheduleSpec,
    instant: dt.datetime,
    tz: ZoneInfo,
    calendar: ProductionCalendar | None = None,
) -> bool:
    """Whether ``spec`` is active at ``instant`` evaluated in the account's zone ``tz``."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("instant must be timezone-aware")
    local = instant.astimezone(tz)
    day = local.date()
    if not spec.in_period(day):
        return False
    return _in_any(_day_intervals(spec, day, calendar), local.time())
