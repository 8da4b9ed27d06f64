import { act, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Route, Routes } from 'react-router-dom';
import { saveSession } from '../auth/session';
import { setLanguage } from '../i18n';
import { fakeServer, json, renderAt } from '../test/render';
import EmployeeEditPage from './EmployeeEditPage';
import EmployeesPage from './EmployeesPage';

// antd's Popconfirm measures itself; jsdom has no ResizeObserver.
// eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- jsdom lacks it
globalThis.ResizeObserver ??= class {
  observe(): void {}
  unobserve(): void {}
  disconnect(): void {}
};

const ADMIN = { role: 'admin', account_id: 1, user_id: 1, employee_id: null };
const TAKEN = {
  error_id: 'validation_failed',
  message: 'extension: extension 101 is already used by an employee of this account',
  errors: [{ field: 'extension', rule: 'extension 101 is already used by an employee of this account', error_id: 'extension_taken' }],
  usages: [],
};

function routes() {
  return (
    <Routes>
      <Route path="/employees" element={<EmployeesPage />} />
      <Route path="/employees/new" element={<EmployeeEditPage />} />
      <Route path="/employees/:id" element={<EmployeeEditPage />} />
    </Routes>
  );
}

beforeEach(async () => {
  saveSession({ accessToken: 'a', refreshToken: 'r', login: 'admin', accountId: null });
  await setLanguage('ru');
});

describe('employee form', () => {
  it('checks the extension as you type (EMP-2)', async () => {
    fakeServer({ 'GET /api/v1/auth/me': () => json(ADMIN) });
    renderAt(routes(), '/employees/new');
    const extension = await screen.findByLabelText('Добавочный номер');

    await userEvent.type(extension, '881');
    expect(await screen.findByText('Не может начинаться с 88: это перехват звонка')).toBeInTheDocument();

    await userEvent.clear(extension);
    await userEvent.type(extension, '12a');
    expect(await screen.findByText('Только цифры')).toBeInTheDocument();
  });

  it("shows the API's 422 under its field, in the user's language, keeping what was typed", async () => {
    const sent: unknown[] = [];
    fakeServer({
      'GET /api/v1/auth/me': () => json(ADMIN),
      'POST /api/v1/employees': async (request) => {
        sent.push(await request.json());
        return json(TAKEN, 422);
      },
    });
    renderAt(routes(), '/employees/new');

    await userEvent.type(await screen.findByLabelText('Фамилия'), 'Иванов');
    await userEvent.type(screen.getByLabelText('Добавочный номер'), '101');
    await userEvent.click(screen.getByRole('button', { name: 'Создать' }));

    expect(await screen.findByText('Этот добавочный номер уже занят другим сотрудником или группой')).toBeInTheDocument();
    expect(sent).toEqual([
      { last_name: 'Иванов', first_name: '', email: null, extension: '101', calls_enabled: true, phones: [{ kind: 'sip', lines: 1, ring_timeout: 20 }] },
    ]);
    expect(screen.getByLabelText('Фамилия')).toHaveValue('Иванов');

    await act(() => setLanguage('en'));
    expect(await screen.findByText('This extension is already used by another employee or group')).toBeInTheDocument();

    await userEvent.type(screen.getByLabelText('Extension'), '2');
    await waitFor(() => expect(screen.queryByText(/already used/)).not.toBeInTheDocument());
  });

  it("shows a SIP line's login and live registration, and a save keeps the line", async () => {
    const saved: unknown[] = [];
    let regenerated = 0;
    fakeServer({
      'GET /api/v1/auth/me': () => json(ADMIN),
      'GET /api/v1/employees/5': () =>
        json({ id: 5, last_name: 'Петров', first_name: '', email: null, extension: '102', calls_enabled: true, group_ids: [], phones: [{ id: 'p1', kind: 'sip', sip_line_id: 9, lines: 1, ring_timeout: 20 }] }),
      'GET /api/v1/sip-lines/9': () => json({ id: 9, login: 'l9000', password: '••••', mode: 'in_out' }),
      'GET /api/v1/sip-server': () => json({ host: 'pbx.example.test', port: 5060, tls_port: null, realm: 'vpbx' }),
      'GET /api/v1/sip-lines/9/registration': () =>
        json({
          line_id: 9,
          login: 'l9000',
          registered: true,
          state: 'зарегистрирован / registered',
          switch_running: true,
          bindings: [{ contact: 'sip:l9000@127.0.0.1:5080', user_agent: 'baresip v1.0.0', source: '127.0.0.1:5080', expires_at: new Date(Date.now() + 300_000).toISOString() }],
        }),
      'POST /api/v1/sip-lines/9/reveal-secret': () => json({ id: 9, secrets: { password: 's3cret' } }),
      'POST /api/v1/sip-lines/9/regenerate-secret': () => {
        regenerated += 1;
        return json({ id: 9, secrets: { password: 'n3w-s3cret' } });
      },
      'PUT /api/v1/employees/5': async (request) => {
        saved.push(await request.json());
        return json({ ...(saved[0] as object), id: 5 });
      },
    });
    renderAt(routes(), '/employees/5');

    const card = await screen.findByTestId('sip-line-9');
    expect(await within(card).findByTestId('sip-login')).toHaveTextContent('l9000');
    expect(within(card).getByTestId('sip-server')).toHaveTextContent('pbx.example.test');
    expect(await within(card).findByText('Зарегистрирован')).toBeInTheDocument();
    expect(within(card).getByText('baresip v1.0.0')).toBeInTheDocument();

    await userEvent.click(within(card).getByRole('button', { name: 'Показать' }));
    expect(await within(card).findByText('s3cret')).toBeInTheDocument();

    await userEvent.click(within(card).getByRole('button', { name: 'Сгенерировать новый пароль' }));
    expect(await screen.findByText(/телефон придётся настроить с новым паролем/)).toBeInTheDocument();
    expect(regenerated).toBe(0);
    const confirm = screen.getAllByRole('button', { name: 'Сгенерировать новый пароль' });
    await userEvent.click(confirm[confirm.length - 1] as HTMLElement);
    expect(await within(card).findByText('n3w-s3cret')).toBeInTheDocument();
    expect(regenerated).toBe(1);

    await userEvent.click(screen.getByRole('button', { name: 'Сохранить' }));
    await waitFor(() => expect(saved).toHaveLength(1));
    expect(saved[0]).toEqual({
      last_name: 'Петров',
      first_name: '',
      email: null,
      extension: '102',
      calls_enabled: true,
      group_ids: [],
      phones: [{ id: 'p1', kind: 'sip', sip_line_id: 9, lines: 1, ring_timeout: 20 }],
    });
  });
});

describe('employees list', () => {
  it('shows a retryable error while the API is down, then the list', async () => {
    let down = true;
    fakeServer({
      'GET /api/v1/auth/me': () => json(ADMIN),
      'GET /api/v1/employees': (request) => {
        if (down) throw new TypeError('Failed to fetch');
        const url = new URL(request.url);
        expect(url.searchParams.get('sort')).toBe('last_name');
        return json({ items: [{ id: 1, last_name: 'Сидоров', first_name: 'Олег', extension: '103', calls_enabled: true, group_ids: [], phones: [{ kind: 'number', number: '74951234567', lines: 1, ring_timeout: 20 }] }], total: 1, limit: 20, offset: 0 });
      },
    });
    renderAt(routes(), '/employees');

    const retry = await screen.findByRole('button', { name: 'Повторить' });
    expect(screen.getByRole('alert')).toHaveTextContent('Сервер не отвечает');

    down = false;
    await userEvent.click(retry);
    expect(await screen.findByText('Сидоров')).toBeInTheDocument();
    expect(screen.getByText('74951234567')).toBeInTheDocument();
  });
});
