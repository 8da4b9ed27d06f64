import { screen, waitFor } from '@testing-library/react';
import { saveSession } from '../auth/session';
import { setLanguage } from '../i18n';
import { fakeServer, json, renderAt } from '../test/render';
import { MonthPreview } from './MonthPreview';
import { monthPreview, nationalCalendar, type NationalDay, type ScheduleDoc } from './preview';

const NINE_SIX = [{ start: '09:00', end: '18:00' }];
const weekdays: ScheduleDoc = {
  name: 'Будни',
  kind: 'weekly',
  weekly: [1, 2, 3, 4, 5].map((weekday) => ({ weekday, intervals: NINE_SIX })),
  use_production_calendar: true,
  dates: null,
  cycle: null,
  active_from: null,
  active_to: null,
};
const day = (date: string, kind: NationalDay['kind'], extra: Partial<NationalDay> = {}): NationalDay => ({
  date,
  kind,
  working: kind === 'working_weekend' || kind === 'shortened',
  shortened: kind === 'shortened',
  name_ru: null,
  name_en: null,
  ...extra,
});
// May 2026 as GET /calendar/2026 lists it (the part the test needs)
const MAY_2026 = [
  day('2026-05-01', 'holiday', { name_ru: 'Праздник Весны и Труда', name_en: 'Holiday of Spring and Labor' }),
  day('2026-05-08', 'shortened'),
  day('2026-05-09', 'holiday', { name_ru: 'День Победы', name_en: 'Victory Day' }),
  day('2026-05-11', 'day_off', { name_ru: 'День Победы (выходной)', name_en: 'Victory Day (observed)' }),
];
const NOT_KNOWN = {
  error_id: 'validation_failed',
  message: 'year: the production calendar is known for 1991..2027',
  errors: [{ field: 'year', rule: 'the production calendar is known for 1991..2027', error_id: 'calendar_year_unknown' }],
  usages: [],
};

function server(overrides: { date: string; working: boolean }[] = []) {
  return fakeServer({
    'GET /api/v1/calendar-overrides': () =>
      json({ items: overrides.map((item, index) => ({ id: index + 1, ...item })), total: overrides.length, limit: 1000, offset: 0 }),
    'GET /api/v1/calendar/2026': () => json({ year: 2026, country: 'RU', first_year: 1991, last_year: 2027, days: MAY_2026 }),
    'GET /api/v1/calendar/2030': () => json(NOT_KNOWN, 422),
  });
}

const cell = (n: number) => screen.getByTestId(`day-${n}`);

beforeEach(async () => {
  saveSession({ accessToken: 'a', refreshToken: 'r', login: 'admin', accountId: null });
  await setLanguage('ru');
});

describe('month preview with the production calendar (SCH-3)', () => {
  it('shows national holidays and moved days off as days off when the schedule follows the calendar', async () => {
    const seen = server();
    renderAt(<MonthPreview spec={weekdays} today={new Date(2026, 4, 15)} />);
    await waitFor(() => expect(cell(1)).toHaveAttribute('data-active', 'no'));
    expect(cell(1)).toHaveAttribute('data-calendar', 'holiday');
    expect(cell(1)).toHaveAccessibleName(/Праздник Весны и Труда/);
    expect(cell(11)).toHaveAttribute('data-active', 'no'); // Monday, the moved day off of 9 May
    expect(cell(8)).toHaveAttribute('data-active', 'yes'); // shortened, still worked
    expect(cell(8)).toHaveAccessibleName(/сокращённый день/);
    expect(cell(12)).toHaveAttribute('data-active', 'yes');
    expect(screen.getByText('Активных дней: 19')).toBeInTheDocument();
    expect(seen.some((request) => request.url.endsWith('/api/v1/calendar/2026'))).toBe(true);
  });

  it('marks holidays but keeps the weekdays when the schedule does not follow the calendar', async () => {
    server();
    renderAt(<MonthPreview spec={{ ...weekdays, use_production_calendar: false }} today={new Date(2026, 4, 15)} />);
    await waitFor(() => expect(cell(1)).toHaveAttribute('data-calendar', 'holiday'));
    expect(cell(1)).toHaveAttribute('data-active', 'yes');
    expect(cell(11)).toHaveAttribute('data-active', 'yes');
  });

  it("lets the account's corrections win over the national calendar", async () => {
    server([{ date: '2026-05-11', working: true }]);
    renderAt(<MonthPreview spec={weekdays} today={new Date(2026, 4, 15)} />);
    await waitFor(() => expect(cell(1)).toHaveAttribute('data-active', 'no'));
    await waitFor(() => expect(cell(11)).toHaveAttribute('data-active', 'yes'));
  });

  it('says so for a year the calendar does not know, and previews Mon–Fri', async () => {
    server();
    renderAt(<MonthPreview spec={weekdays} today={new Date(2030, 0, 15)} />);
    expect(await screen.findByText(/на 2030 год ещё не известен/)).toBeInTheDocument();
    expect(cell(1)).toHaveAttribute('data-active', 'yes'); // 1 January 2030, a Tuesday
  });
});

describe('monthPreview with a national calendar', () => {
  it('takes the working day from the calendar: a working Saturday works like Monday', () => {
    const national = nationalCalendar([day('2027-02-20', 'working_weekend'), day('2027-02-22', 'day_off')]);
    const february = monthPreview(weekdays, 2027, 2, new Map(), national);
    expect(february[19]?.intervals).toEqual(NINE_SIX);
    expect(february[21]?.intervals).toEqual([]);
    expect(february[21]?.national?.kind).toBe('day_off');
    expect(monthPreview({ ...weekdays, use_production_calendar: false }, 2027, 2, new Map(), national)[19]?.intervals).toEqual([]);
  });
});
