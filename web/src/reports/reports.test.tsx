import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Route, Routes } from 'react-router-dom';
import { saveSession } from '../auth/session';
import { setLanguage } from '../i18n';
import { fakeServer, json, renderAt } from '../test/render';
import CallsPage from './CallsPage';
import { StepsTimeline } from './CallDetails';
import { exportQuery, loadColumns, readState, saveColumns, toQuery } from './filters';
import * as strings from './i18n';

// antd's tabs and tables watch their size; jsdom has no ResizeObserver.
// eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- jsdom lacks it
globalThis.ResizeObserver ??= class {
  observe(): void {}
  unobserve(): void {}
  disconnect(): void {}
};

const ADMIN = { role: 'admin', account_id: 1, user_id: 1, employee_id: null };
const EMPLOYEE = { role: 'employee', account_id: 1, user_id: 2, employee_id: 7 };
const empty = { items: [], total: 0, limit: 1000, offset: 0 };
const CALL = {
  id: 41,
  started_at: '2026-03-10T09:00:00Z',
  answered_at: null,
  ended_at: '2026-03-10T09:00:30Z',
  direction: 'incoming',
  session_type: '',
  status: 'missed',
  caller: '74957654321',
  called: '74951112233',
  number_id: 3,
  scenario_id: null,
  employee_id: 7,
  contact_name: '',
  wait_seconds: 30,
  talk_seconds: 0,
  rating: null,
  tag_ids: [],
  recording_file_ids: [],
};

function page() {
  return (
    <Routes>
      <Route path="/calls" element={<CallsPage />} />
    </Routes>
  );
}

function lookups(): Record<string, () => Response> {
  return {
    'GET /api/v1/employees': () =>
      json({ ...empty, items: [{ id: 7, last_name: 'Иванов', first_name: 'Пётр', phones: [] }], total: 1 }),
    'GET /api/v1/numbers': () => json({ ...empty, items: [{ id: 3, number: '74951112233', name: 'Реклама' }], total: 1 }),
    'GET /api/v1/tags': () => json(empty),
  };
}

beforeEach(async () => {
  saveSession({ accessToken: 'a', refreshToken: 'r', login: 'admin', accountId: null });
  await setLanguage('ru');
});

describe('the report state', () => {
  it('turns the address into the API query: days in the account zone, the end day included', () => {
    const state = readState(new URLSearchParams('tab=incoming&from=2026-03-01&to=2026-03-31&caller=+7 (916) 12&status=missed&page=3&size=20&sort=-talk_seconds'));
    expect(toQuery(state)).toEqual({
      tab: 'incoming',
      from: '2026-03-01T00:00:00',
      to: '2026-04-01T00:00:00',
      caller: '791612',
      status: 'missed',
      limit: 20,
      offset: 40,
      sort: '-talk_seconds',
    });
  });

  it('ignores what the API would refuse', () => {
    const state = readState(new URLSearchParams('tab=nope&from=yesterday&status=odd&employee=-1&size=7&sort=secret'));
    expect(toQuery(state)).toEqual({ tab: 'all', limit: 50, offset: 0 });
  });

  it('exports the filters without paging, with the chosen columns', () => {
    const query = toQuery(readState(new URLSearchParams('tab=blocked&caller=916&page=2')));
    expect(exportQuery(query, ['started_at', 'caller'])).toEqual({
      tab: 'blocked',
      caller: '916',
      columns: 'started_at,caller',
    });
  });

  it('remembers the chosen columns in their own order, and survives a broken value', () => {
    expect(saveColumns(['caller', 'started_at'])).toEqual(['started_at', 'caller']);
    expect(loadColumns()).toEqual(['started_at', 'caller']);
    localStorage.setItem('vpbx.calls.columns', '{broken');
    expect(loadColumns()).toContain('direction');
  });

  it('has every Russian string in English', () => {
    const keys = (tree: object, prefix = ''): string[] =>
      Object.entries(tree).flatMap(([key, value]) =>
        typeof value === 'string' ? [prefix + key] : keys(value as object, `${prefix}${key}.`),
      );
    expect(keys(strings.en).sort()).toEqual(keys(strings.ru).sort());
  });
});

describe('calls report', () => {
  it('filters by status through the API and shows the rows in Russian', async () => {
    const seen = fakeServer({
      'GET /api/v1/auth/me': () => json(ADMIN),
      ...lookups(),
      'GET /api/v1/calls': () => json({ items: [CALL], total: 1, limit: 50, offset: 0 }),
    });
    renderAt(page(), '/calls');

    const table = await screen.findByTestId('calls-table');
    expect(await within(table).findByText('74957654321')).toBeInTheDocument();
    expect(within(table).getByText('Пропущенный')).toBeInTheDocument();
    expect(await within(table).findByText('Иванов Пётр')).toBeInTheDocument();

    await userEvent.click(screen.getByRole('tab', { name: 'Входящие' }));
    await userEvent.click(screen.getByRole('combobox', { name: 'Статус' }));
    await userEvent.click(await screen.findByTitle('Голосовая почта'));
    await waitFor(() => {
      const last = seen.filter((r) => new URL(r.url).pathname === '/api/v1/calls').at(-1);
      const params = new URL(last?.url ?? 'http://x/').searchParams;
      expect(params.get('status')).toBe('voicemail');
      expect(params.get('tab')).toBe('incoming');
    });
  });

  it('hides a column chosen away, and remembers it after a reload', async () => {
    fakeServer({
      'GET /api/v1/auth/me': () => json(ADMIN),
      ...lookups(),
      'GET /api/v1/calls': () => json({ items: [CALL], total: 1, limit: 50, offset: 0 }),
    });
    const first = renderAt(page(), '/calls');
    const table = await screen.findByTestId('calls-table');
    expect(within(table).getByRole('columnheader', { name: 'Направление' })).toBeInTheDocument();

    await userEvent.click(screen.getByRole('button', { name: /Настроить столбцы/ }));
    await userEvent.click(await screen.findByRole('checkbox', { name: 'Направление' }));
    await userEvent.click(await screen.findByRole('checkbox', { name: 'Оценка' }));
    await waitFor(() =>
      expect(within(table).queryByRole('columnheader', { name: 'Направление' })).not.toBeInTheDocument(),
    );
    expect(JSON.parse(localStorage.getItem('vpbx.calls.columns') ?? '[]')).toContain('rating');
    first.unmount();

    renderAt(page(), '/calls');
    const again = await screen.findByTestId('calls-table');
    expect(within(again).getByRole('columnheader', { name: 'Оценка' })).toBeInTheDocument();
    expect(within(again).queryByRole('columnheader', { name: 'Направление' })).not.toBeInTheDocument();
  });

  it('asks an employee for nothing of the configuration and offers him no blocking', async () => {
    const seen = fakeServer({
      'GET /api/v1/auth/me': () => json(EMPLOYEE),
      'GET /api/v1/calls': () => json({ items: [CALL], total: 1, limit: 50, offset: 0 }),
    });
    renderAt(page(), '/calls');
    expect(await screen.findByRole('heading', { name: 'Мои звонки' })).toBeInTheDocument();
    await screen.findByText('74957654321');
    expect(screen.queryByLabelText('Сотрудник')).not.toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'В черный список' })).not.toBeInTheDocument();
    expect(seen.map((r) => new URL(r.url).pathname)).not.toContain('/api/v1/employees');
  });

  it('blocks the caller of a row after a confirmation (BLK-1)', async () => {
    const posted: unknown[] = [];
    fakeServer({
      'GET /api/v1/auth/me': () => json(ADMIN),
      ...lookups(),
      'GET /api/v1/calls': () => json({ items: [CALL], total: 1, limit: 50, offset: 0 }),
      'POST /api/v1/blacklist': async (request) => {
        posted.push(await request.json());
        return json({ id: 5, number: '74957654321', comment: '' }, 201);
      },
    });
    renderAt(page(), '/calls');
    await userEvent.click(await screen.findByRole('button', { name: 'В черный список' }));
    expect(await screen.findByText(/Добавить номер 74957654321 в черный список/)).toBeInTheDocument();
    const confirm = screen.getAllByRole('button', { name: 'В черный список' }).at(-1);
    if (confirm === undefined) throw new Error('no confirm button');
    await userEvent.click(confirm);
    expect(await screen.findByText('Номер 74957654321 добавлен в черный список')).toBeInTheDocument();
    expect(posted).toEqual([{ number: '74957654321', comment: 'Из отчёта «Звонки», звонок № 41' }]);
  });
});

describe('call details timeline', () => {
  it('shows every step in order with its time, kind and reason', async () => {
    renderAt(
      <StepsTimeline
        steps={[
          { at: '2026-03-10T09:00:00Z', leg: '', kind: 'rule', text: 'Правило «Всегда»', data: {} },
          { at: '2026-03-10T09:00:01Z', leg: 'a', kind: 'ring', text: 'Звоним Иванову', data: {} },
          { at: '2026-03-10T09:00:21Z', leg: 'a', kind: 'dial_failed', text: 'Не ответил за 20 с', data: {} },
        ]}
      />,
    );
    const steps = await screen.findAllByTestId('call-step');
    expect(steps.map((step) => step.textContent)).toEqual(['Правило «Всегда»', 'Звоним Иванову', 'Не ответил за 20 с']);
    expect(screen.getByText('dial_failed')).toBeInTheDocument();
    expect(screen.getAllByText('плечо a')).toHaveLength(2);
  });

  it('says so when nothing was recorded', async () => {
    await setLanguage('en');
    renderAt(<StepsTimeline steps={[]} />);
    expect(await screen.findByText('No steps recorded')).toBeInTheDocument();
  });
});
