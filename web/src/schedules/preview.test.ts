import { dayIntervals, monthPreview, type ScheduleDoc } from './preview';

const NINE_SIX = [{ start: '09:00', end: '18:00' }];
const base: ScheduleDoc = {
  name: 'Будни',
  kind: 'weekly',
  weekly: [1, 2, 3, 4, 5].map((weekday) => ({ weekday, intervals: NINE_SIX })),
  use_production_calendar: false,
  dates: null,
  cycle: null,
  active_from: null,
  active_to: null,
};
const active = (spec: ScheduleDoc, year: number, month: number, overrides = new Map<string, boolean>()) =>
  monthPreview(spec, year, month, overrides)
    .filter((day) => day.intervals.length > 0)
    .map((day) => day.day);

describe('month preview (SCH-1..4)', () => {
  it('shows the weekdays with intervals, breaks kept', () => {
    const withBreak = {
      ...base,
      weekly: [{ weekday: 1, intervals: [{ start: '09:00', end: '13:00' }, { start: '14:00', end: '18:00' }] }],
    };
    // March 2027 starts on a Monday
    expect(active(withBreak, 2027, 3)).toEqual([1, 8, 15, 22, 29]);
    expect(monthPreview(withBreak, 2027, 3, new Map())[0]?.intervals).toHaveLength(2);
  });

  it('applies calendar corrections only with the production-calendar flag; a working Saturday works like Monday', () => {
    const overrides = new Map([
      ['2027-03-08', false], // a holiday on Monday
      ['2027-03-13', true], // a transferred working Saturday
    ]);
    expect(active(base, 2027, 3, overrides)).toContain(8);
    const calendar = { ...base, use_production_calendar: true };
    const days = active(calendar, 2027, 3, overrides);
    expect(days).not.toContain(8);
    expect(days).toContain(13);
    expect(dayIntervals(calendar, '2027-03-13', (date) => overrides.get(date) ?? true)).toEqual(NINE_SIX);
  });

  it('counts cycles from their start and dates of the month, within the activity period', () => {
    const cycle = { ...base, kind: 'cycle' as const, cycle: { on_days: 2, off_days: 2, start_date: '2027-03-03', intervals: NINE_SIX } };
    expect(active(cycle, 2027, 3).slice(0, 6)).toEqual([3, 4, 7, 8, 11, 12]);
    const dates = { ...base, kind: 'dates' as const, dates: { days: [1, 15, 31], intervals: NINE_SIX } };
    expect(active(dates, 2027, 4)).toEqual([1, 15]);
    expect(active({ ...base, active_from: '2027-03-10', active_to: '2027-03-12' }, 2027, 3)).toEqual([10, 11, 12]);
  });
});
