"""SCH-3: a year of the production calendar as the published calendars of 2024-2026 list it."""

from __future__ import annotations

import datetime as dt

import pytest

from vpbx.domain.errors import ValidationFailed
from vpbx.domain.production_year import DayKind, known_years, year_days
from vpbx.domain.schedule import ProductionCalendar


def _of(year: int, kind: DayKind) -> list[str]:
    return [day.date.isoformat() for day in year_days(year) if day.kind is kind]


def test_2025_as_decreed() -> None:
    assert _of(2025, DayKind.DAY_OFF) == [
        "2025-05-02", "2025-05-08", "2025-06-13", "2025-11-03", "2025-12-31",
    ]  # fmt: skip
    assert _of(2025, DayKind.WORKING_WEEKEND) == ["2025-11-01"]
    # 7 March, 30 April, 11 June and 1 November are one hour shorter; 7 May and 30 December
    # (before a moved day off) and 21 February (before a weekend) are not
    assert [d.date.isoformat() for d in year_days(2025) if d.shortened] == [
        "2025-03-07", "2025-04-30", "2025-06-11", "2025-11-01",
    ]  # fmt: skip
    holidays = _of(2025, DayKind.HOLIDAY)
    assert holidays[:8] == [f"2025-01-0{d}" for d in range(1, 9)]
    assert "2025-02-23" in holidays  # a Sunday: still the holiday itself
    victory = next(d for d in year_days(2025) if d.date == dt.date(2025, 5, 9))
    assert (victory.name_ru, victory.name_en) == ("День Победы", "Victory Day")


def test_2024_shortened_days_include_working_saturdays_before_holidays() -> None:
    assert [d.date.isoformat() for d in year_days(2024) if d.shortened] == [
        "2024-02-22", "2024-03-07", "2024-04-27", "2024-05-08", "2024-06-11",
        "2024-11-02", "2024-12-28",
    ]  # fmt: skip


def test_observed_days_off_are_days_off_not_holidays() -> None:
    # 8 March 2026 is a Sunday, 9 May a Saturday: Monday off
    assert "2026-03-09" in _of(2026, DayKind.DAY_OFF)
    assert "2026-05-11" in _of(2026, DayKind.DAY_OFF)
    assert "2026-03-08" in _of(2026, DayKind.HOLIDAY)


def test_the_list_agrees_with_the_pbxs_own_working_days() -> None:
    calendar = ProductionCalendar()
    for day in year_days(2026):
        assert calendar.is_working_day(day.date) is day.working, day


@pytest.mark.parametrize("year", [known_years().start - 1, known_years().stop, 9999])
def test_a_year_not_known_is_refused_naming_the_field(year: int) -> None:
    with pytest.raises(ValidationFailed) as refused:
        year_days(year)
    (violation,) = refused.value.violations
    assert violation.field == "year"
    assert violation.error_id == "calendar_year_unknown"
    assert str(known_years().stop - 1) in violation.rule
