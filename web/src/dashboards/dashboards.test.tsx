import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Route, Routes } from 'react-router-dom';
import { saveSession } from '../auth/session';
import { setLanguage } from '../i18n';
import { fakeServer, json, renderAt } from '../test/render';
import { layoutBars } from './bars';
import { BarChart } from './charts';
import DashboardsPage from './DashboardsPage';
import * as strings from './i18n';
import { bucketLabels, labelEvery, readState, ticks, toQuery } from './period';

// antd's tables watch their size; jsdom has no ResizeObserver.
// eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- jsdom lacks it
globalThis.ResizeObserver ??= class {
  observe(): void {}
  unobserve(): void {}
  disconnect(): void {}
};

const ADMIN = { role: 'admin', account_id: 1, user_id: 1, employee_id: null };
const EMPLOYEE = { role: 'employee', account_id: 1, user_id: 2, employee_id: 7 };
const empty = { items: [], total: 0, limit: 1000, offset: 0 };
const ZERO = { total: 0, answered: 0, missed: 0, lost: 0, voicemail: 0, blocked: 0, active: 0, waited: 0, wait_avg: null, wait_p90: null };

function figures(answered: number, missed: number, lost: number, other = 0, avg: number | null = null, p90: number | null = null) {
  return {
    ...ZERO,
    total: answered + missed + lost + other,
    answered,
    missed,
    lost,
    voicemail: other,
    waited: answered + missed,
    wait_avg: avg,
    wait_p90: p90,
  };
}

function dashboard(buckets: { start: string; figures: ReturnType<typeof figures> }[], employees: unknown[] = []) {
  const totals = buckets.reduce(
    (sum, b) => ({
      ...sum,
      total: sum.total + b.figures.total,
      answered: sum.answered + b.figures.answered,
      missed: sum.missed + b.figures.missed,
      lost: sum.lost + b.figures.lost,
      voicemail: sum.voicemail + b.figures.voicemail,
      waited: sum.waited + b.figures.waited,
    }),
    { ...ZERO },
  );
  return {
    start: '2026-03-09T21:00:00Z',
    end: '2026-03-10T21:00:00Z',
    timezone: 'Europe/Moscow',
    bucket: 'hour',
    totals: { ...totals, wait_avg: totals.waited ? 12.25 : null, wait_p90: totals.waited ? 16.6 : null },
    buckets,
    employees,
  };
}

const HOURS = Array.from({ length: 24 }, (_, h) => `2026-03-10T${String(h).padStart(2, '0')}:00:00+03:00`);

function page() {
  return (
    <Routes>
      <Route path="/dashboards" element={<DashboardsPage />} />
    </Routes>
  );
}

beforeEach(async () => {
  saveSession({ accessToken: 'a', refreshToken: 'r', login: 'admin', accountId: null });
  await setLanguage('ru');
});

afterEach(() => {
  vi.useRealTimers();
});

describe('the dashboards state', () => {
  it('counts presets back from today, whole days in the account zone, the end exclusive', () => {
    expect(toQuery(readState(new URLSearchParams('')), '2026-03-10')).toEqual({
      from: '2026-03-10T00:00:00',
      to: '2026-03-11T00:00:00',
      tab: 'incoming',
    });
    expect(toQuery(readState(new URLSearchParams('period=week&number=3&tab=all')), '2026-03-01')).toEqual({
      from: '2026-02-23T00:00:00',
      to: '2026-03-02T00:00:00',
      tab: 'all',
      number_id: 3,
    });
    expect(toQuery(readState(new URLSearchParams('period=month')), '2026-03-30')).toMatchObject({
      from: '2026-03-01T00:00:00',
      to: '2026-03-31T00:00:00',
    });
    // a custom period: both days included, in either order; without both, today
    expect(toQuery(readState(new URLSearchParams('period=custom&from=2026-03-05&to=2026-03-02')), '2026-03-10')).toMatchObject({
      from: '2026-03-02T00:00:00',
      to: '2026-03-06T00:00:00',
    });
    expect(toQuery(readState(new URLSearchParams('period=custom&from=2026-03-05')), '2026-03-10')).toMatchObject({
      from: '2026-03-10T00:00:00',
    });
  });

  it('ignores what the API would refuse', () => {
    const state = readState(new URLSearchParams('period=year&number=-1&tab=blocked&from=yesterday'));
    expect(state).toEqual({ preset: 'today', from: null, to: null, numberId: null, tab: 'incoming' });
  });

  it('labels buckets in the account’s local time as the API wrote it, not the browser’s', () => {
    expect(bucketLabels('2026-03-10T09:00:00+05:00', 'hour', 'ru')).toEqual({ short: '09:00', full: '10.03.2026 09:00' });
    expect(bucketLabels('2026-03-10T00:00:00-04:00', 'day', 'ru')).toEqual({ short: '10.03', full: '10.03.2026' });
    expect(bucketLabels('2026-03-10T00:00:00-04:00', 'day', 'en')).toEqual({ short: '10/03', full: '10/03/2026' });
  });

  it('puts round ticks on the axis, whole ones for counts', () => {
    expect(ticks(0)).toEqual([0, 1]);
    expect(ticks(3)).toEqual([0, 1, 2, 3]);
    expect(ticks(7)).toEqual([0, 2, 4, 6, 8]);
    expect(ticks(16.6)).toEqual([0, 5, 10, 15, 20]);
    expect(ticks(1234)).toEqual([0, 500, 1000, 1500]);
    expect(labelEvery(24)).toBe(2);
    expect(labelEvery(7)).toBe(1);
  });

  it('has every Russian string in English', () => {
    const keys = (tree: object, prefix = ''): string[] =>
      Object.entries(tree).flatMap(([key, value]) =>
        typeof value === 'string' ? [prefix + key] : keys(value as object, `${prefix}${key}.`),
      );
    expect(keys(strings.en).sort()).toEqual(keys(strings.ru).sort());
  });
});

describe('bar charts', () => {
  const labels = [
    { short: '09:00', full: '10.03.2026 09:00' },
    { short: '10:00', full: '10.03.2026 10:00' },
    { short: '11:00', full: '10.03.2026 11:00' },
  ];
  const series = [
    { key: 'answered', label: 'Отвеченные', color: '#52c41a' },
    { key: 'missed', label: 'Пропущенные', color: '#faad14' },
  ];

  it('stacks the series of a bucket in proportion, and draws nothing for zeros', () => {
    const { bars, axis } = layoutBars([[2, 0, 1], [1, 0, 0]], true, 3);
    expect(axis).toEqual([0, 1, 2, 3]);
    expect(bars.map((b) => [b.series, b.bucket, b.value])).toEqual([
      [0, 0, 2],
      [1, 0, 1],
      [0, 2, 1],
    ]);
    const [first, second, third] = bars;
    if (first === undefined || second === undefined || third === undefined) throw new Error('bars missing');
    // the top of the axis is 3: two thirds of the plot, then one third on top of it
    expect(first.height / second.height).toBeCloseTo(2);
    expect(second.y + second.height).toBeCloseTo(first.y);
    expect(third.height).toBeCloseTo(second.height);
    expect(first.x).toBeCloseTo(second.x);
  });

  it('puts series side by side when not stacked, and leaves out missing figures', () => {
    const { bars } = layoutBars([[4, null], [8, 2]], false, 2);
    expect(bars.map((b) => [b.series, b.bucket])).toEqual([
      [0, 0],
      [1, 0],
      [1, 1],
    ]);
    const [avg, p90] = bars;
    if (avg === undefined || p90 === undefined) throw new Error('bars missing');
    expect(p90.x).toBeGreaterThan(avg.x);
    expect(p90.height).toBeCloseTo(avg.height * 2);
  });

  it('is an image with a summary, and a hidden table of every number', () => {
    render(
      <BarChart
        title="Звонки по часам"
        summary="Звонки по часам: всего 4"
        bucketHeader="Час"
        labels={labels}
        series={series}
        values={[[2, 0, 1], [1, 0, 0]]}
        stacked
        testId="chart"
      />,
    );
    const image = screen.getByRole('img', { name: 'Звонки по часам: всего 4' });
    expect(image.querySelectorAll('rect')).toHaveLength(3);
    expect(image.querySelector('rect title')?.textContent).toBe('10.03.2026 09:00 — Отвеченные: 2');
    const table = screen.getByRole('table', { name: 'Звонки по часам' });
    const rows = within(table).getAllByRole('row');
    expect(rows.map((row) => row.textContent)).toEqual([
      'ЧасОтвеченныеПропущенные',
      '10.03.2026 09:0021',
      '10.03.2026 10:0000',
      '10.03.2026 11:0010',
    ]);
  });

  it('draws an empty frame when every figure is zero or missing', () => {
    render(
      <BarChart
        title="Ожидание"
        summary="Ожидание: нет данных"
        bucketHeader="Час"
        labels={labels}
        series={series}
        values={[[null, null, null], [0, 0, 0]]}
        stacked={false}
      />,
    );
    expect(screen.getByRole('img').querySelectorAll('rect')).toHaveLength(0);
    expect(within(screen.getByRole('table')).getAllByRole('cell').map((cell) => cell.textContent)).toEqual([
      '—',
      '0',
      '—',
      '0',
      '—',
      '0',
    ]);
  });
});

describe('the dashboards page', () => {
  it('shows the figures of the API, and asks it again for another period and number', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-03-10T12:00:00'));
    const buckets = HOURS.map((start, h) => ({
      start,
      figures: h === 9 ? figures(3, 1, 1, 1, 12.25, 16.6) : h === 10 ? figures(2, 0, 0) : figures(0, 0, 0),
    }));
    const employees = [
      { employee_id: 7, name: 'Иванов Пётр', calls: 4, answered: 4, talk_seconds: 725, rating_avg: 4.5, ratings: 2 },
      { employee_id: 8, name: null, calls: 1, answered: 1, talk_seconds: 30, rating_avg: null, ratings: 0 },
    ];
    const seen = fakeServer({
      'GET /api/v1/auth/me': () => json(ADMIN),
      'GET /api/v1/employees': () => json(empty),
      'GET /api/v1/numbers': () => json({ ...empty, items: [{ id: 3, number: '74951112233', name: 'Реклама' }], total: 1 }),
      'GET /api/v1/tags': () => json(empty),
      'GET /api/v1/dashboards': () => json(dashboard(buckets, employees)),
    });
    renderAt(page(), '/dashboards');

    expect(await screen.findByRole('heading', { name: 'Аналитика' })).toBeInTheDocument();
    const totals = await screen.findByTestId('dashboard-totals');
    await waitFor(() => expect(within(totals).getByTestId('figure-total')).toHaveTextContent('8'));
    expect(within(totals).getByTestId('figure-answered')).toHaveTextContent('5');
    expect(within(totals).getByTestId('figure-missed')).toHaveTextContent('1');
    expect(within(totals).getByTestId('figure-lost')).toHaveTextContent('1');
    expect(within(totals).getByTestId('figure-wait-p90')).toHaveTextContent('16,6 с');
    const calls = screen.getByRole('img', { name: /^Звонки по часам: всего 8, отвеченных 5, пропущенных 1, потерянных 1, прочих 1$/ });
    expect(calls.querySelectorAll('rect')).toHaveLength(5);
    const table = screen.getByRole('table', { name: 'Звонки по часам' });
    expect(within(table).getByRole('row', { name: /10\.03\.2026 09:00/ })).toHaveTextContent('10.03.2026 09:003111');
    expect(screen.getByRole('img', { name: /в среднем 12,3 с, у 90 % звонков не дольше 16,6 с/ })).toBeInTheDocument();
    const staff = screen.getByTestId('dashboard-employees');
    expect(within(staff).getByRole('row', { name: /Иванов Пётр/ })).toHaveTextContent('Иванов Пётр4412:054,52');
    expect(within(staff).getByText('Удалённый сотрудник № 8')).toBeInTheDocument();
    expect(screen.queryByText('Нет звонков за период')).not.toBeInTheDocument();
    const first = new URL(seen.filter((r) => new URL(r.url).pathname === '/api/v1/dashboards')[0]?.url ?? 'http://x/');
    expect(Object.fromEntries(first.searchParams)).toEqual({ from: '2026-03-10T00:00:00', to: '2026-03-11T00:00:00', tab: 'incoming' });

    await userEvent.click(screen.getByText('7 дней'));
    await userEvent.click(screen.getByRole('combobox', { name: 'Виртуальный номер' }));
    await userEvent.click(await screen.findByTitle('74951112233 (Реклама)'));
    await waitFor(() => {
      const last = seen.filter((r) => new URL(r.url).pathname === '/api/v1/dashboards').at(-1);
      const params = new URL(last?.url ?? 'http://x/').searchParams;
      expect(params.get('from')).toBe('2026-03-04T00:00:00');
      expect(params.get('number_id')).toBe('3');
    });
  });

  it('says there were no calls and still draws the empty charts', async () => {
    fakeServer({
      'GET /api/v1/auth/me': () => json(EMPLOYEE),
      'GET /api/v1/dashboards': () => json(dashboard(HOURS.map((start) => ({ start, figures: figures(0, 0, 0) })))),
    });
    renderAt(page(), '/dashboards');
    expect(await screen.findByText('Нет звонков за период')).toBeInTheDocument();
    expect(screen.getByRole('heading', { name: 'Моя аналитика' })).toBeInTheDocument();
    expect(screen.getByRole('img', { name: /всего 0/ }).querySelectorAll('rect')).toHaveLength(0);
    expect(within(screen.getByRole('table', { name: 'Звонки по часам' })).getAllByRole('row')).toHaveLength(25);
    expect(screen.getByTestId('figure-wait-avg')).toHaveTextContent('—');
    // an employee reads no numbers: no number filter
    expect(screen.queryByRole('combobox', { name: 'Виртуальный номер' })).not.toBeInTheDocument();
  });

  it('shows a refusal of the API as an error, not as empty charts', async () => {
    fakeServer({
      'GET /api/v1/auth/me': () => json(ADMIN),
      'GET /api/v1/employees': () => json(empty),
      'GET /api/v1/numbers': () => json(empty),
      'GET /api/v1/tags': () => json(empty),
      'GET /api/v1/dashboards': () => json({ error_id: 'validation_failed', message: 'to: …', errors: [] }, 422),
    });
    renderAt(page(), '/dashboards');
    expect(await screen.findByRole('alert')).toBeInTheDocument();
    expect(screen.queryByRole('img', { name: /Звонки по часам/ })).not.toBeInTheDocument();
  });
});
