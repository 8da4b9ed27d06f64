import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Route, Routes } from 'react-router-dom';
import { saveSession } from '../auth/session';
import { setLanguage } from '../i18n';
import { fakeServer, json, renderAt } from '../test/render';
import SetupWizard from './SetupWizard';

const ADMIN = { role: 'admin', account_id: 1, user_id: 1, employee_id: null };

beforeEach(async () => {
  saveSession({ accessToken: 'a', refreshToken: 'r', login: 'admin@new', accountId: null });
  await setLanguage('ru');
});

describe('setup wizard', () => {
  it('creates the number, the employee with his SIP line, the scenario and its rule, then watches the test call', async () => {
    const sent: Record<string, unknown[]> = {};
    const keep = (key: string) => async (request: Request) => {
      (sent[key] ??= []).push(await request.json());
    };
    let employeeAttempts = 0;
    fakeServer({
      'GET /api/v1/auth/me': () => json(ADMIN),
      'POST /api/v1/numbers': async (request) => {
        await keep('number')(request);
        return json({ id: 5, number: '74957770001', name: '', kind: 'pbx', rules: [] }, 201);
      },
      'POST /api/v1/employees': async (request) => {
        await keep('employee')(request);
        employeeAttempts += 1;
        if (employeeAttempts === 1) {
          return json(
            {
              error_id: 'validation_failed',
              message: 'taken',
              errors: [{ field: 'extension', error_id: 'extension_taken', rule: 'taken' }],
              usages: [],
            },
            422,
          );
        }
        return json({ id: 9, last_name: 'Новиков', first_name: 'Пётр', phones: [{ id: 'p1', kind: 'sip', sip_line_id: 21, lines: 1, ring_timeout: 20 }] }, 201);
      },
      'GET /api/v1/sip-lines/21': () => json({ id: 21, login: 'l21000', password: '••••', mode: 'in_out' }),
      'GET /api/v1/sip-lines/21/registration': () =>
        json({ line_id: 21, login: 'l21000', registered: false, state: 'не зарегистрирован', switch_running: true, bindings: [] }),
      'GET /api/v1/sip-server': () => json({ host: 'pbx.example.test', port: 5060, tls_port: null, realm: 'vpbx' }),
      'POST /api/v1/scenarios': async (request) => {
        await keep('scenario')(request);
        return json({ id: 3, name: 'Входящие звонки', entry: 'forward', operations: [], warnings: [] }, 201);
      },
      'PATCH /api/v1/numbers/5': async (request) => {
        await keep('rules')(request);
        return json({ id: 5, number: '74957770001' });
      },
      'GET /api/v1/calls': (request) => {
        expect(new URL(request.url).searchParams.get('number_id')).toBe('5');
        return json({ items: [{ id: 1, caller: '79161112233', status: 'answered', employee_id: 9 }], total: 1, limit: 1, offset: 0 });
      },
    });
    renderAt(
      <Routes>
        <Route path="/setup" element={<SetupWizard />} />
      </Routes>,
      '/setup',
    );

    // 1. the number, checked as typed
    const number = await screen.findByLabelText('Виртуальный номер');
    await userEvent.type(number, '123');
    expect(await screen.findByText(/Номер в международном формате/)).toBeInTheDocument();
    await userEvent.clear(number);
    await userEvent.type(number, '+7 495 777-00-01');
    await userEvent.click(screen.getByRole('button', { name: 'Далее' }));

    // 2. the employee: the API's 422 under his extension, then created with his SIP line
    await userEvent.type(await screen.findByLabelText('Фамилия'), 'Новиков');
    await userEvent.type(screen.getByLabelText('Имя'), 'Пётр');
    await userEvent.type(screen.getByLabelText('Добавочный номер'), '101');
    await userEvent.click(screen.getByRole('button', { name: 'Создать' }));
    expect(await screen.findByText('Этот добавочный номер уже занят другим сотрудником или группой')).toBeInTheDocument();
    await userEvent.clear(screen.getByLabelText('Добавочный номер'));
    await userEvent.type(screen.getByLabelText('Добавочный номер'), '102');
    await userEvent.click(screen.getByRole('button', { name: 'Создать' }));
    expect(await screen.findByTestId('sip-login')).toHaveTextContent('l21000');
    await userEvent.click(screen.getByRole('button', { name: 'Далее' }));

    // 3. the scenario forwarding to him, linked to the number by a rule
    expect(await screen.findByLabelText('Название сценария')).toHaveValue('Входящие звонки');
    await userEvent.click(screen.getByRole('button', { name: 'Создать' }));

    // 4. the test call, as the calls report tells it
    expect(await screen.findByTestId('setup-last-call')).toHaveTextContent(
      'Последний звонок: 79161112233 → отвечен, ответил Новиков Пётр',
    );
    expect(screen.getByText(/Позвоните на номер \+74957770001/)).toBeInTheDocument();

    expect(sent.number).toEqual([{ number: '74957770001', name: '', kind: 'pbx', rules: [] }]);
    expect(sent.employee?.[1]).toEqual({
      last_name: 'Новиков',
      first_name: 'Пётр',
      extension: '102',
      calls_enabled: true,
      phones: [{ kind: 'sip', lines: 1, ring_timeout: 20 }],
    });
    expect(sent.scenario).toEqual([
      {
        name: 'Входящие звонки',
        entry: 'forward',
        operations: [{ key: 'forward', kind: 'forward', title: 'Входящие звонки', targets: [{ employee_id: 9 }] }],
      },
    ]);
    await waitFor(() => expect(sent.rules).toEqual([{ rules: [{ name: 'Обработка звонка', enabled: true, scenario_id: 3 }] }]));
  });
});
