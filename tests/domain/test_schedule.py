"""Schedules (SCH-1..5): pure is_active against weekly, dates and cycle rules."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from vpbx.domain.schedule import (
    DEFAULT_TIMEZONE,
    Cycle,
    MonthDates,
    ProductionCalendar,
    ScheduleSpec,
    TimeInterval,
    WeeklyDay,
    default_working_day,
    is_active,
)

MSK = ZoneInfo(DEFAULT_TIMEZONE)
VLADIVOSTOK = ZoneInfo("Asia/Vladivostok")
UTC = dt.UTC


def at(day: str, clock: str, tz: ZoneInfo = MSK) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time.fromisoformat(clock), tz)


def interval(start: str, end: str) -> TimeInterval:
    return TimeInterval(start=dt.time.fromisoformat(start), end=dt.time.fromisoformat(end))


def office(**extra: Any) -> ScheduleSpec:
    """Mon-Fri 09:00-18:00."""
    days = [WeeklyDay(weekday=d, intervals=(interval("09:00", "18:00"),)) for d in range(1, 6)]
    return ScheduleSpec(kind="weekly", weekly=tuple(days), **extra)


@pytest.fixture(scope="module")
def calendar() -> ProductionCalendar:
    return ProductionCalendar({})


# --- production calendar (SCH-3) -------------------------------------------------------------


def test_transferred_saturday_is_a_working_day(calendar: ProductionCalendar) -> None:
    assert calendar.is_working_day(dt.date(2025, 11, 1))
    assert not default_working_day(dt.date(2025, 11, 1))


@pytest.mark.parametrize("day", ["2025-11-03", "2025-11-04", "2026-01-09"])
def test_holidays_and_bridge_days_are_off(calendar: ProductionCalendar, day: str) -> None:
    assert not calendar.is_working_day(dt.date.fromisoformat(day))


def test_office_active_on_transferred_saturday_with_calendar(calendar: ProductionCalendar) -> None:
    spec = office(use_production_calendar=True)
    assert is_active(spec, at("2025-11-01", "10:00"), MSK, calendar)
    assert not is_active(spec, at("2025-11-01", "18:00"), MSK, calendar)


def test_transferred_saturday_inactive_without_calendar_flag(calendar: ProductionCalendar) -> None:
    assert not is_active(office(), at("2025-11-01", "10:00"), MSK, calendar)


def test_transferred_day_uses_first_configured_weekday() -> None:
    spec = ScheduleSpec(
        weekly=(
            WeeklyDay(weekday=2, intervals=(interval("11:00", "12:00"),)),
            WeeklyDay(weekday=4, intervals=(interval("15:00", "16:00"),)),
        ),
        use_production_calendar=True,
    )
    cal = ProductionCalendar({dt.date(2025, 11, 8): True})
    assert is_active(spec, at("2025-11-08", "11:30"), MSK, cal)
    assert not is_active(spec, at("2025-11-08", "15:30"), MSK, cal)


@pytest.mark.parametrize("day", ["2025-11-03", "2025-11-04", "2026-01-09"])
def test_office_inactive_on_holidays_with_calendar(calendar: ProductionCalendar, day: str) -> None:
    assert not is_active(office(use_production_calendar=True), at(day, "10:00"), MSK, calendar)


@pytest.mark.parametrize("day", ["2025-11-03", "2025-11-04", "2026-01-09"])
def test_office_active_on_holidays_without_flag(calendar: ProductionCalendar, day: str) -> None:
    assert is_active(office(), at(day, "10:00"), MSK, calendar)


def test_weekend_intervals_ignored_when_calendar_says_off(calendar: ProductionCalendar) -> None:
    spec = ScheduleSpec(
        weekly=(WeeklyDay(weekday=6, intervals=(interval("10:00", "14:00"),)),),
        use_production_calendar=True,
    )
    assert not is_active(spec, at("2025-11-08", "11:00"), MSK, calendar)
    without_flag = spec.model_copy(update={"use_production_calendar": False})
    assert is_active(without_flag, at("2025-11-08", "11:00"), MSK, calendar)


def test_overrides_win_over_package() -> None:
    cal = ProductionCalendar({dt.date(2025, 11, 3): True, dt.date(2025, 11, 5): False})
    spec = office(use_production_calendar=True)
    assert cal.is_working_day(dt.date(2025, 11, 3))
    assert not cal.is_working_day(dt.date(2025, 11, 5))
    assert is_active(spec, at("2025-11-03", "10:00"), MSK, cal)
    assert not is_active(spec, at("2025-11-05", "10:00"), MSK, cal)
    # Untouched dates still come from the package.
    assert not cal.is_working_day(dt.date(2025, 11, 4))


def test_overrides_are_copied() -> None:
    overrides = {dt.date(2025, 11, 3): True}
    cal = ProductionCalendar(overrides)
    overrides[dt.date(2025, 11, 3)] = False
    assert cal.is_working_day(dt.date(2025, 11, 3))


def test_calendar_flag_without_calendar_falls_back_to_mon_fri() -> None:
    spec = office(use_production_calendar=True)
    assert is_active(spec, at("2025-11-03", "10:00"), MSK)
    assert not is_active(spec, at("2025-11-01", "10:00"), MSK)


# --- weekly with breaks (SCH-1) --------------------------------------------------------------


@pytest.mark.parametrize(
    ("clock", "expected"),
    [
        ("08:59:59", False),
        ("09:00", True),
        ("12:59", True),
        ("13:00", False),
        ("13:59", False),
        ("14:00", True),
        ("17:59:59.999999", True),
        ("18:00", False),
    ],
)
def test_weekday_with_lunch_break(clock: str, expected: bool) -> None:
    spec = ScheduleSpec(
        weekly=(
            WeeklyDay(
                weekday=3, intervals=(interval("09:00", "13:00"), interval("14:00", "18:00"))
            ),
        )
    )
    assert is_active(spec, at("2025-11-05", clock), MSK) is expected  # a Wednesday


def test_unconfigured_weekday_is_inactive() -> None:
    assert not is_active(office(), at("2025-11-08", "10:00"), MSK)  # Saturday


def test_midnight_end_and_whole_day() -> None:
    spec = ScheduleSpec(
        weekly=(
            WeeklyDay(weekday=6, intervals=(interval("00:00", "00:00"),)),
            WeeklyDay(weekday=7, intervals=(interval("20:00", "00:00"),)),
        )
    )
    assert is_active(spec, at("2025-11-08", "00:00"), MSK)
    assert is_active(spec, at("2025-11-08", "23:59:59.999999"), MSK)
    assert is_active(spec, at("2025-11-09", "23:59:59"), MSK)
    assert not is_active(spec, at("2025-11-09", "19:59:59"), MSK)
    assert not is_active(spec, at("2025-11-10", "00:00"), MSK)  # Monday


# --- dates and cycles (SCH-2) ----------------------------------------------------------------


def test_dates_of_month() -> None:
    spec = ScheduleSpec(
        kind="dates", dates=MonthDates(days=(1, 15, 31), intervals=(interval("10:00", "12:00"),))
    )
    assert is_active(spec, at("2025-11-15", "10:00"), MSK)
    assert is_active(spec, at("2025-10-31", "11:59"), MSK)
    assert not is_active(spec, at("2025-11-16", "10:00"), MSK)
    assert not is_active(spec, at("2025-11-15", "12:00"), MSK)


def test_dates_with_calendar_require_working_day(calendar: ProductionCalendar) -> None:
    spec = ScheduleSpec(
        kind="dates",
        dates=MonthDates(days=(3, 5), intervals=(interval("10:00", "12:00"),)),
        use_production_calendar=True,
    )
    assert not is_active(spec, at("2025-11-03", "10:00"), MSK, calendar)
    assert is_active(spec, at("2025-11-05", "10:00"), MSK, calendar)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        ("2025-10-28", False),  # before start_date
        ("2025-10-29", True),
        ("2025-10-30", True),
        ("2025-10-31", False),
        ("2025-11-01", False),
        ("2025-11-02", True),
        ("2025-11-03", True),
        ("2025-11-04", False),
    ],
)
def test_two_on_two_off_cycle_across_month_boundary(day: str, expected: bool) -> None:
    spec = ScheduleSpec(
        kind="cycle",
        cycle=Cycle(
            on_days=2,
            off_days=2,
            start_date=dt.date(2025, 10, 29),
            intervals=(interval("08:00", "20:00"),),
        ),
    )
    assert is_active(spec, at(day, "10:00"), MSK) is expected
    assert not is_active(spec, at(day, "20:00"), MSK)


def test_cycle_with_calendar_requires_working_day(calendar: ProductionCalendar) -> None:
    spec = ScheduleSpec(
        kind="cycle",
        cycle=Cycle(
            on_days=2,
            off_days=2,
            start_date=dt.date(2025, 10, 29),
            intervals=(interval("08:00", "20:00"),),
        ),
        use_production_calendar=True,
    )
    assert is_active(spec, at("2025-10-29", "10:00"), MSK, calendar)
    assert not is_active(spec, at("2025-11-03", "10:00"), MSK, calendar)  # holiday


def test_week_on_week_off_cycle() -> None:
    spec = ScheduleSpec(
        kind="cycle",
        cycle=Cycle(
            on_days=7,
            off_days=7,
            start_date=dt.date(2025, 11, 3),
            intervals=(interval("00:00", "00:00"),),
        ),
    )
    assert is_active(spec, at("2025-11-09", "23:00"), MSK)
    assert not is_active(spec, at("2025-11-10", "01:00"), MSK)
    assert is_active(spec, at("2025-11-17", "01:00"), MSK)


# --- activity period (SCH-4) -----------------------------------------------------------------


def test_activity_period_closed() -> None:
    spec = office(active_from=dt.date(2025, 11, 5), active_to=dt.date(2025, 11, 6))
    assert not is_active(spec, at("2025-11-04", "10:00"), MSK)
    assert is_active(spec, at("2025-11-05", "10:00"), MSK)
    assert is_active(spec, at("2025-11-06", "17:59"), MSK)
    assert not is_active(spec, at("2025-11-07", "10:00"), MSK)


def test_activity_period_open_end() -> None:
    spec = office(active_from=dt.date(2025, 11, 5))
    assert not is_active(spec, at("2025-11-04", "10:00"), MSK)
    assert is_active(spec, at("2035-11-05", "10:00"), MSK)


def test_activity_period_open_start() -> None:
    spec = office(active_to=dt.date(2025, 11, 5))
    assert is_active(spec, at("2015-11-05", "10:00"), MSK)
    assert not is_active(spec, at("2025-11-06", "10:00"), MSK)


def test_activity_period_uses_local_date() -> None:
    spec = ScheduleSpec(
        weekly=(WeeklyDay(weekday=4, intervals=(interval("00:00", "00:00"),)),),
        active_from=dt.date(2025, 11, 6),
    )
    # 22:30 UTC on Wednesday is already Thursday in Moscow.
    assert is_active(spec, dt.datetime(2025, 11, 5, 22, 30, tzinfo=UTC), MSK)


# --- time zones (SCH-5) ----------------------------------------------------------------------


def test_same_instant_differs_by_account_zone() -> None:
    instant = dt.datetime(2025, 11, 5, 9, 0, tzinfo=UTC)  # 12:00 in Moscow, 19:00 in Vladivostok
    assert is_active(office(), instant, MSK)
    assert not is_active(office(), instant, VLADIVOSTOK)


def test_wall_clock_across_dst_change() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    spec = ScheduleSpec(weekly=(WeeklyDay(weekday=1, intervals=(interval("09:00", "10:00"),)),))
    # 09:30 Berlin wall clock is 08:30 UTC in winter and 07:30 UTC in summer.
    assert is_active(spec, dt.datetime(2025, 3, 24, 8, 30, tzinfo=UTC), berlin)
    assert is_active(spec, dt.datetime(2025, 3, 31, 7, 30, tzinfo=UTC), berlin)
    assert not is_active(spec, dt.datetime(2025, 3, 31, 8, 30, tzinfo=UTC), berlin)


def test_naive_instant_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        is_active(office(), dt.datetime(2025, 11, 5, 10, 0), MSK)


# --- validation ------------------------------------------------------------------------------


def test_overlapping_intervals_rejected() -> None:
    with pytest.raises(ValidationError, match="must not overlap"):
        ScheduleSpec.model_validate(
            {
                "weekly": [
                    {
                        "weekday": 1,
                        "intervals": [
                            {"start": "09:00", "end": "13:00"},
                            {"start": "12:00", "end": "18:00"},
                        ],
                    }
                ]
            }
        )


def test_overlap_with_midnight_end_rejected() -> None:
    with pytest.raises(ValidationError, match="must not overlap"):
        MonthDates(days=(1,), intervals=(interval("20:00", "00:00"), interval("22:00", "23:00")))


def test_touching_intervals_allowed() -> None:
    day = WeeklyDay(weekday=1, intervals=(interval("13:00", "18:00"), interval("09:00", "13:00")))
    assert len(day.intervals) == 2


@pytest.mark.parametrize(("start", "end"), [("18:00", "09:00"), ("09:00", "09:00")])
def test_end_before_start_rejected(start: str, end: str) -> None:
    with pytest.raises(ValidationError, match="interval end must be after its start"):
        TimeInterval.model_validate({"start": start, "end": end})


def test_cycle_kind_requires_cycle() -> None:
    with pytest.raises(ValidationError, match='cycle is required when kind is "cycle"'):
        ScheduleSpec(kind="cycle")


def test_dates_kind_requires_dates() -> None:
    with pytest.raises(ValidationError, match='dates is required when kind is "dates"'):
        ScheduleSpec(kind="dates")


def test_active_from_after_active_to_rejected() -> None:
    with pytest.raises(ValidationError, match="active_from must not be after active_to"):
        office(active_from=dt.date(2025, 11, 6), active_to=dt.date(2025, 11, 5))


def test_duplicate_weekday_rejected() -> None:
    with pytest.raises(ValidationError, match="weekday 1 must appear at most once"):
        ScheduleSpec(weekly=(WeeklyDay(weekday=1), WeeklyDay(weekday=1)))


@pytest.mark.parametrize(
    "payload",
    [
        {"weekly": [{"weekday": 0, "intervals": []}]},
        {"weekly": [{"weekday": 8, "intervals": []}]},
        {"kind": "dates", "dates": {"days": [32], "intervals": []}},
        {"kind": "cycle", "cycle": {"on_days": 0, "off_days": 1, "start_date": "2025-01-01"}},
        {"kind": "cycle", "cycle": {"on_days": 1, "off_days": -1, "start_date": "2025-01-01"}},
        {"kind": "monthly"},
        {"unknown": 1},
    ],
)
def test_out_of_range_fields_rejected(payload: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ScheduleSpec.model_validate(payload)


def test_models_are_frozen() -> None:
    spec = office()
    with pytest.raises(ValidationError):
        spec.kind = "dates"  # type: ignore[misc]


def test_json_form_is_plain() -> None:
    spec = ScheduleSpec(
        kind="cycle",
        cycle=Cycle(
            on_days=2,
            off_days=2,
            start_date=dt.date(2025, 10, 29),
            intervals=(interval("09:00", "18:30:15"),),
        ),
        active_from=dt.date(2025, 11, 1),
    )
    data = spec.model_dump(mode="json")
    assert data["cycle"] == {
        "on_days": 2,
        "off_days": 2,
        "start_date": "2025-10-29",
        "intervals": [{"start": "09:00:00", "end": "18:30:15"}],
    }
    assert data["weekly"] == []
    assert data["active_from"] == "2025-11-01"
    assert ScheduleSpec.model_validate_json(spec.model_dump_json()) == spec
    assert hash(ScheduleSpec.model_validate(data)) == hash(spec)


# --- properties ------------------------------------------------------------------------------

# Moscow has had a fixed offset since 2014, so aware arithmetic there is plain wall-clock shifting.
_instants = st.datetimes(
    min_value=dt.datetime(2015, 1, 1), max_value=dt.datetime(2060, 1, 1), timezones=st.just(MSK)
)


@st.composite
def _day_intervals(draw: st.DrawFn) -> tuple[TimeInterval, ...]:
    """1..3 disjoint intervals whose first one starts after 00:00 (minutes 1..1440)."""
    count = 2 * draw(st.integers(1, 3))
    bounds = sorted(
        draw(st.lists(st.integers(1, 1440), min_size=count, max_size=count, unique=True))
    )

    def clock(minute: int) -> dt.time:
        return dt.time(0) if minute == 1440 else dt.time(minute // 60, minute % 60)

    pairs = zip(bounds[::2], bounds[1::2], strict=True)
    return tuple(TimeInterval(start=clock(a), end=clock(b)) for a, b in pairs)


_weekly_specs = st.lists(
    st.builds(WeeklyDay, weekday=st.integers(1, 7), intervals=_day_intervals()),
    max_size=7,
    unique_by=lambda day: day.weekday,
).map(lambda days: ScheduleSpec(weekly=tuple(days)))


@given(spec=_weekly_specs, instant=_instants, weeks=st.integers(-200, 200))
def test_weekly_invariant_under_whole_week_shift(
    spec: ScheduleSpec, instant: dt.datetime, weeks: int
) -> None:
    shifted = instant + dt.timedelta(weeks=weeks)
    assert is_active(spec, instant, MSK) == is_active(spec, shifted, MSK)


@given(intervals=_day_intervals(), data=st.data())
def test_inside_interval_active_and_just_before_first_start_inactive(
    intervals: tuple[TimeInterval, ...], data: st.DataObject
) -> None:
    spec = ScheduleSpec(
        weekly=tuple(WeeklyDay(weekday=d, intervals=intervals) for d in range(1, 8))
    )
    day = data.draw(st.dates(dt.date(2015, 1, 1), dt.date(2060, 1, 1)), label="day")
    midnight = dt.datetime.combine(day, dt.time(0), MSK)

    chosen = data.draw(st.sampled_from(intervals), label="interval")
    start = dt.datetime.combine(day, chosen.start, MSK)
    length = chosen.end_offset - (start - midnight)
    offset = data.draw(st.integers(0, length // dt.timedelta(microseconds=1) - 1), label="offset")
    assert is_active(spec, start + dt.timedelta(microseconds=offset), MSK)

    first = min(intervals, key=lambda item: item.start)
    just_before = dt.datetime.combine(day, first.start, MSK) - dt.timedelta(microseconds=1)
    assert not is_active(spec, just_before, MSK)


@given(
    on=st.integers(1, 10),
    off=st.integers(0, 10),
    start=st.dates(dt.date(2015, 1, 1), dt.date(2040, 1, 1)),
    index=st.integers(0, 5000),
    periods=st.integers(1, 50),
)
def test_cycle_is_periodic(on: int, off: int, start: dt.date, index: int, periods: int) -> None:
    cycle = Cycle(on_days=on, off_days=off, start_date=start)
    day = start + dt.timedelta(days=index)
    later = day + dt.timedelta(days=periods * (on + off))
    assert cycle.is_on(day) == cycle.is_on(later) == (index % (on + off) < on)
    assert not cycle.is_on(start - dt.timedelta(days=1 + index))
