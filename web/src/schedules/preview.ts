/**
 * SCH-1..4: which days of a month a schedule is active, and its intervals on each — the rules of
 * the domain's `vpbx.domain.schedule` (`_day_intervals`, `in_period`), computed in the browser.
 *
 * The production calendar (SCH-3), as the PBX decides a working day: the account's own
 * corrections (`/calendar-overrides`) first, then the national calendar of the year
 * (`GET /calendar/{year}`: holidays, moved days off, working weekends, shortened days), and for a
 * year it does not know (422) Monday to Friday — the screen then says so.
 */
import type { Schemas } from '../api/client';

export type ScheduleDoc = Schemas['Schedule'];
export type Interval = Schemas['TimeInterval'];
export type NationalDay = Schemas['CalendarDayOut'];
/** The national calendar's notable days by date (YYYY-MM-DD); empty: not known. */
export type NationalCalendar = ReadonlyMap<string, NationalDay>;

export interface PreviewDay {
  date: string; // YYYY-MM-DD
  day: number;
  weekday: number; // ISO 1..7
  working: boolean; // by the calendar used for the preview
  overridden: boolean;
  /** the national calendar's entry of the day: a holiday, a moved day, a shortened day */
  national: NationalDay | null;
  intervals: Interval[];
}

function iso(year: number, month: number, day: number): string {
  return `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}

function isoWeekday(date: Date): number {
  const day = date.getUTCDay();
  return day === 0 ? 7 : day;
}

function daysBetween(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000);
}

function weekdayIntervals(spec: ScheduleDoc, weekday: number): Interval[] {
  return spec.weekly.find((item) => item.weekday === weekday)?.intervals ?? [];
}

/** The intervals of one day (empty: inactive), as the domain decides them. */
export function dayIntervals(spec: ScheduleDoc, date: string, working: (date: string) => boolean): Interval[] {
  if ((spec.active_from != null && date < spec.active_from) || (spec.active_to != null && date > spec.active_to)) return [];
  const useCalendar = spec.use_production_calendar;
  const day = Number(date.slice(8, 10));
  if (spec.kind === 'dates') {
    if (spec.dates == null || !spec.dates.days.includes(day) || (useCalendar && !working(date))) return [];
    return spec.dates.intervals;
  }
  if (spec.kind === 'cycle') {
    const cycle = spec.cycle;
    if (cycle == null) return [];
    const index = daysBetween(cycle.start_date, date);
    const on = index >= 0 && index % (cycle.on_days + cycle.off_days) < cycle.on_days;
    if (!on || (useCalendar && !working(date))) return [];
    return cycle.intervals;
  }
  const weekday = isoWeekday(new Date(`${date}T00:00:00Z`));
  if (!useCalendar) return weekdayIntervals(spec, weekday);
  if (!working(date)) return [];
  if (weekday < 6) return weekdayIntervals(spec, weekday);
  // a transferred working Saturday/Sunday works like the first weekday that has intervals
  for (const workday of [1, 2, 3, 4, 5]) {
    const intervals = weekdayIntervals(spec, workday);
    if (intervals.length > 0) return intervals;
  }
  return [];
}

/** The national calendar's days of a year's answer, by date. */
export function nationalCalendar(days: readonly NationalDay[]): NationalCalendar {
  return new Map(days.map((day) => [day.date, day] as const));
}

/** Every day of `month` (1..12) of `year` with its intervals. */
export function monthPreview(
  spec: ScheduleDoc,
  year: number,
  month: number,
  overrides: ReadonlyMap<string, boolean>,
  national: NationalCalendar = new Map(),
): PreviewDay[] {
  const count = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const working = (date: string): boolean => {
    const override = overrides.get(date);
    if (override !== undefined) return override;
    const listed = national.get(date);
    if (listed !== undefined) return listed.working;
    return isoWeekday(new Date(`${date}T00:00:00Z`)) < 6;
  };
  return Array.from({ length: count }, (_, index) => {
    const date = iso(year, month, index + 1);
    return {
      date,
      day: index + 1,
      weekday: isoWeekday(new Date(`${date}T00:00:00Z`)),
      working: working(date),
      overridden: overrides.has(date),
      national: national.get(date) ?? null,
      intervals: dayIntervals(spec, date, working),
    };
  });
}

/** "09:00:00" → "09:00" */
export function hhmm(value: string): string {
  return value.slice(0, 5);
}
