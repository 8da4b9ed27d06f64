import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Route, Routes } from 'react-router-dom';
import { saveSession } from '../auth/session';
import { setLanguage } from '../i18n';
import { fakeServer, json, renderAt } from '../test/render';
import { equalize } from './distribution';
import GroupEditPage from './GroupEditPage';

const ADMIN = { role: 'admin', account_id: 1, user_id: 1, employee_id: null };
const phone = (id: string, kind: string, number: string | null = null) => ({
  id,
  kind,
  number,
  sip_uri: null,
  sip_line_id: null,
  fmc_line_id: null,
  lines: 1,
  ring_timeout: 20,
});
const employee = (id: number, lastName: string, phones: unknown[]) => ({
  id,
  last_name: lastName,
  first_name: '',
  email: null,
  group_ids: [7],
  schedule_id: null,
  calls_enabled: true,
  extension: null,
  phones,
  trainer_id: null,
  auto_call_trainer: false,
  rate_after_call: false,
  join_queue: false,
  record_calls: false,
});
const EMPLOYEES = [
  employee(1, 'Иванов', [phone('a1', 'sip'), phone('a2', 'number', '74951111111')]),
  employee(2, 'Петров', [phone('b1', 'sip')]),
];
const GROUP = {
  id: 7,
  name: 'Продажи',
  extension: '200',
  member_ids: [1, 2],
  schedule_id: null,
  simultaneous_lines: 2,
  type_sort: null,
  distribution: [
    { employee_id: 1, phone_id: 'a1', percent: 50, enabled: true },
    { employee_id: 1, phone_id: 'a2', percent: 50, enabled: true },
    { employee_id: 2, phone_id: 'b1', percent: 0, enabled: true },
  ],
};
const STALE = {
  error_id: 'precondition_failed',
  message: 'groups 7 изменён(а) другим пользователем … / it was changed by someone else …',
  errors: [],
  usages: [],
};

function server(put: (request: Request) => Response | Promise<Response>) {
  return fakeServer({
    'GET /api/v1/auth/me': () => json(ADMIN),
    'GET /api/v1/groups/7': () => json(GROUP, 200, { ETag: '"v1"' }),
    'GET /api/v1/employees': () => json({ items: EMPLOYEES, total: 2, limit: 1000, offset: 0 }),
    'GET /api/v1/schedules': () => json({ items: [], total: 0, limit: 1000, offset: 0 }),
    'PUT /api/v1/groups/7': put,
  });
}

const page = () => (
  <Routes>
    <Route path="/groups/:id" element={<GroupEditPage />} />
  </Routes>
);

beforeEach(async () => {
  saveSession({ accessToken: 'a', refreshToken: 'r', login: 'admin', accountId: null });
  await setLanguage('ru');
});

describe('equalize (GRP-2)', () => {
  it('gives hundredths that add up to exactly 100, the odd ones first', () => {
    expect(equalize(3)).toEqual([33.34, 33.33, 33.33]);
    expect(equalize(4)).toEqual([25, 25, 25, 25]);
    expect(equalize(7).reduce((a, b) => a + b, 0)).toBeCloseTo(100, 10);
    expect(equalize(0)).toEqual([]);
  });
});

describe('group form', () => {
  it('equalizes the table and saves it with If-Match', async () => {
    const sent: { body: unknown; ifMatch: string | null }[] = [];
    server(async (request) => {
      sent.push({ body: await request.json(), ifMatch: request.headers.get('If-Match') });
      return json(GROUP, 200, { ETag: '"v2"' });
    });
    renderAt(page(), '/groups/7');
    await screen.findByDisplayValue('Продажи');
    await screen.findByText('T · 74951111111');

    await userEvent.click(screen.getByRole('button', { name: 'Уравнять проценты' }));
    expect(screen.getByText('Итого: 100 %')).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Сохранить' }));

    await waitFor(() => expect(sent).toHaveLength(1));
    const body = sent[0]?.body as { distribution: { percent: number }[] };
    expect(body.distribution.map((row) => row.percent)).toEqual([33.34, 33.33, 33.33]);
    expect(sent[0]?.ifMatch).toBe('"v1"');
  });

  it('puts SIP phones first with S and refuses a total that is not 100', async () => {
    server(() => json(GROUP));
    renderAt(page(), '/groups/7');
    await screen.findByDisplayValue('Продажи');
    await screen.findByText('T · 74951111111');
    await userEvent.click(screen.getByText('T — сначала телефоны'));
    const cells = await screen.findAllByText(/^[ST] · /);
    expect(cells[0]?.textContent).toBe('T · 74951111111');

    await userEvent.click(screen.getByText('S — сначала SIP'));
    const sorted = screen.getAllByText(/^[ST] · /).map((cell) => cell.textContent);
    expect(sorted[sorted.length - 1]).toBe('T · 74951111111');

    const first = screen.getByLabelText('Процент 1');
    await userEvent.clear(first);
    await userEvent.type(first, '10');
    expect(await screen.findByText(/Сумма процентов должна быть 100 или 0/)).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Сохранить' })).toBeDisabled();
  });

  it('says on 412 that someone else changed the group, keeping what was typed', async () => {
    let loads = 0;
    fakeServer({
      'GET /api/v1/auth/me': () => json(ADMIN),
      'GET /api/v1/groups/7': () => {
        loads += 1;
        return loads === 1
          ? json(GROUP, 200, { ETag: '"v1"' })
          : json({ ...GROUP, name: 'Продажи (чужая правка)' }, 200, { ETag: '"v2"' });
      },
      'GET /api/v1/employees': () => json({ items: EMPLOYEES, total: 2, limit: 1000, offset: 0 }),
      'GET /api/v1/schedules': () => json({ items: [], total: 0, limit: 1000, offset: 0 }),
      'PUT /api/v1/groups/7': () => json(STALE, 412),
    });
    renderAt(page(), '/groups/7');
    const name = await screen.findByDisplayValue('Продажи');
    await userEvent.clear(name);
    await userEvent.type(name, 'Мои продажи');
    await userEvent.click(screen.getByRole('button', { name: 'Сохранить' }));

    expect(await screen.findByText('Эту запись изменил кто-то другой, пока вы её редактировали')).toBeInTheDocument();
    expect(screen.getByDisplayValue('Мои продажи')).toBeInTheDocument();

    await userEvent.click(screen.getByRole('button', { name: 'Перезагрузить' }));
    expect(await screen.findByDisplayValue('Продажи (чужая правка)')).toBeInTheDocument();
    await waitFor(() =>
      expect(screen.queryByText('Эту запись изменил кто-то другой, пока вы её редактировали')).not.toBeInTheDocument(),
    );
  });
});
