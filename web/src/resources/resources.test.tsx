import { act, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Route, Routes } from 'react-router-dom';
import { saveSession } from '../auth/session';
import { setLanguage } from '../i18n';
import { fakeServer, json, renderAt } from '../test/render';
import { toDocument } from './form';
import ResourceScreen from './ResourceScreen';
import { RESOURCE_NAMES } from './names';
import { callbackRules, contacts, trunks } from './specs';

const ADMIN = { role: 'admin', account_id: 1, user_id: 1, employee_id: null };
const EMPLOYEES = {
  items: [
    { id: 3, last_name: 'Иванов', first_name: 'Иван' },
    { id: 4, last_name: 'Петрова', first_name: 'Анна' },
  ],
  total: 2,
  limit: 1000,
  offset: 0,
};
const GROUPS = { items: [{ id: 8, name: 'VIP' }], total: 1, limit: 1000, offset: 0 };

function routes() {
  return (
    <Routes>
      {RESOURCE_NAMES.map((name) => (
        <Route key={name} path={name}>
          <Route index element={<ResourceScreen name={name} />} />
          <Route path=":id" element={<ResourceScreen name={name} />} />
        </Route>
      ))}
    </Routes>
  );
}

beforeEach(async () => {
  // antd's select measures its dropdown; jsdom has no ResizeObserver
  vi.stubGlobal(
    'ResizeObserver',
    class {
      observe() {}
      unobserve() {}
      disconnect() {}
    },
  );
  saveSession({ accessToken: 'a', refreshToken: 'r', login: 'admin@demo', accountId: null });
  await setLanguage('ru');
});

describe('generic resource form', () => {
  it('picks references by name, checks fields as typed, and shows the API’s 422 under its field', async () => {
    const sent: unknown[] = [];
    fakeServer({
      'GET /api/v1/auth/me': () => json(ADMIN),
      'GET /api/v1/employees': () => json(EMPLOYEES),
      'GET /api/v1/contact-groups': () => json(GROUPS),
      'POST /api/v1/contacts': async (request) => {
        sent.push(await request.json());
        return json(
          {
            error_id: 'validation_failed',
            message: 'bad',
            errors: [{ field: 'organization', error_id: 'x', rule: 'too long / слишком длинное название' }],
            usages: [],
          },
          422,
        );
      },
    });
    renderAt(routes(), '/contacts/new');

    await userEvent.type(await screen.findByLabelText('Фамилия'), 'Клиентов');
    await userEvent.type(screen.getByLabelText('E-mail'), 'client@');
    expect(await screen.findByText('Адрес вида name@example.com')).toBeInTheDocument();
    await userEvent.type(screen.getByLabelText('E-mail'), 'example.com');
    await waitFor(() => expect(screen.queryByText('Адрес вида name@example.com')).not.toBeInTheDocument());
    await userEvent.type(screen.getByLabelText('Телефоны'), '+7 (495) 111-22-33{Enter}');
    await userEvent.click(screen.getByLabelText('Персональный менеджер'));
    await userEvent.click(await screen.findByTitle('Петрова Анна'));
    await userEvent.type(screen.getByLabelText('Организация'), 'ООО Ромашка');
    await userEvent.click(screen.getByRole('button', { name: 'Создать' }));

    await waitFor(() => expect(sent).toHaveLength(1));
    const organization = (await screen.findByText('слишком длинное название')).closest('.ant-form-item');
    expect(organization).not.toBeNull();
    expect(within(organization as HTMLElement).getByLabelText('Организация')).toHaveValue('ООО Ромашка');
    expect(sent).toEqual([
      {
        phones: ['74951112233'],
        group_ids: [],
        last_name: 'Клиентов',
        email: 'client@example.com',
        organization: 'ООО Ромашка',
        manager_id: 4,
      },
    ]);

    await act(() => setLanguage('en'));
    expect(await screen.findByText('too long')).toBeInTheDocument();
    expect(screen.getByLabelText('Personal manager')).toBeInTheDocument();
  });

  it('keeps a masked secret on save, sent with If-Match', async () => {
    const saved: { body: unknown; ifMatch: string | null }[] = [];
    const stored = { id: 2, name: 'Провайдер', host: 'sip.example.ru', port: 5060, transport: 'udp', allow_ips: ['192.0.2.1'], username: 'u', registration: false, outbound: true, enabled: true };
    fakeServer({
      'GET /api/v1/auth/me': () => json(ADMIN),
      'GET /api/v1/trunks/2': () => json(stored, 200, { ETag: '"v1"' }),
      'PUT /api/v1/trunks/2': async (request) => {
        saved.push({ body: await request.json(), ifMatch: request.headers.get('If-Match') });
        return json(stored, 200, { ETag: '"v2"' });
      },
    });
    renderAt(routes(), '/trunks/2');

    expect(await screen.findByLabelText('Сервер')).toHaveValue('sip.example.ru');
    await userEvent.clear(screen.getByLabelText('Сервер'));
    await userEvent.type(screen.getByLabelText('Сервер'), 'bad host!');
    expect(await screen.findByText('Адрес или имя сервера (буквы, цифры, точки)')).toBeInTheDocument();
    await userEvent.clear(screen.getByLabelText('Сервер'));
    await userEvent.type(screen.getByLabelText('Сервер'), 'sip2.example.ru');
    await userEvent.click(screen.getByRole('button', { name: 'Сохранить' }));

    await waitFor(() => expect(saved).toHaveLength(1));
    expect(saved[0]?.ifMatch).toBe('"v1"');
    // the password left empty is not sent: the stored one stays
    expect(saved[0]?.body).toEqual({ ...stored, id: undefined, host: 'sip2.example.ru' });
  });
});

describe('toDocument', () => {
  it('writes the visible fields over what was read and leaves out the ones a choice hides', () => {
    const base = { id: 1, name: 'R', how: { method: 'group', group_id: 8 }, place: 'any', attempt_intervals: [0] };
    const values = { name: ' R2 ', how: { method: 'number', number: '+7 495 000-00-01', group_id: 8 }, place: 'any', attempt_intervals: [0, 60] };
    const document = toDocument(callbackRules.fields, values as never, base);
    expect(document).toMatchObject({ name: 'R2', how: { method: 'number', number: '74950000001', group_id: 8 }, attempt_intervals: [0, 60] });
    expect(document).not.toHaveProperty('id');
    expect(document).not.toHaveProperty('number_id');
    expect(toDocument(trunks.fields, { password: '' }, { id: 1 })).not.toHaveProperty('password');
    expect(toDocument(contacts.fields, { manager_id: undefined }, {})).toMatchObject({ manager_id: null });
  });
});

describe('generic resource list', () => {
  it('searches and sorts through the API, names references, and reorders CID rules by position', async () => {
    const patched: { id: string; body: unknown }[] = [];
    const rules = [
      { id: 11, position: 0, action: 'deny', number_ids: [], employee_ids: [3], comment: 'первое' },
      { id: 12, position: 10, action: 'allow', number_ids: [], employee_ids: [4], comment: 'второе' },
    ];
    const seen = fakeServer({
      'GET /api/v1/auth/me': () => json(ADMIN),
      'GET /api/v1/employees': () => json(EMPLOYEES),
      'GET /api/v1/numbers': () => json({ items: [], total: 0, limit: 1000, offset: 0 }),
      'GET /api/v1/cid-rules': () => json({ items: rules, total: 2, limit: 20, offset: 0 }),
      'PATCH /api/v1/cid-rules/11': async (request) => {
        patched.push({ id: '11', body: await request.json() });
        return json(rules[0]);
      },
      'PATCH /api/v1/cid-rules/12': async (request) => {
        patched.push({ id: '12', body: await request.json() });
        return json(rules[1]);
      },
    });
    renderAt(routes(), '/cid-rules');

    expect(await screen.findByText('Петрова Анна')).toBeInTheDocument();
    expect(screen.getByText('Запретить')).toBeInTheDocument();
    const list = seen.map((request) => new URL(request.url)).find((url) => url.pathname === '/api/v1/cid-rules');
    expect(list?.searchParams.get('sort')).toBe('position');

    await userEvent.click(screen.getByRole('button', { name: 'Выше второе' }));
    await waitFor(() => expect(patched).toHaveLength(2));
    expect(patched).toEqual([
      { id: '12', body: { position: 0 } },
      { id: '11', body: { position: 10 } },
    ]);
  });

  it('offers no "new" to an admin where the operator creates (FMC lines)', async () => {
    fakeServer({
      'GET /api/v1/auth/me': () => json(ADMIN),
      'GET /api/v1/employees': () => json(EMPLOYEES),
      'GET /api/v1/fmc-lines': () =>
        json({ items: [{ id: 1, number: '79161234567', employee_id: 3, blocked: true, connected: true, service_enabled: true, channels: 1 }], total: 1, limit: 20, offset: 0 }),
    });
    renderAt(routes(), '/fmc-lines');
    expect(await screen.findByRole('link', { name: '79161234567' })).toBeInTheDocument();
    expect(await screen.findByText('Иванов Иван')).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: /Добавить FMC-линию/ })).not.toBeInTheDocument();
    expect(screen.queryByRole('button', { name: /Удалить/ })).not.toBeInTheDocument();
  });
});
