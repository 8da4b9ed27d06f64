import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Route, Routes } from 'react-router-dom';
import { saveSession } from '../auth/session';
import { setLanguage } from '../i18n';
import { fakeServer, json, renderAt } from '../test/render';
import FilesPage from './FilesPage';

// eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- jsdom lacks it
globalThis.ResizeObserver ??= class {
  observe(): void {}
  unobserve(): void {}
  disconnect(): void {}
};

const ADMIN = { role: 'admin', account_id: 1, user_id: 1, employee_id: null };
const empty = { items: [], total: 0, limit: 1000, offset: 0 };
const EMPLOYEE = { id: 4, last_name: 'Иванов', first_name: 'Пётр', extension: '101', phones: [] };
const FILE = {
  id: 31,
  name: 'Приветствие',
  kind: 'sound',
  text: '',
  content_type: 'audio/wav',
  size_bytes: 64044,
  duration_seconds: 4,
  created_at: '2026-03-11T09:00:10Z',
};

function recording(status: string, extra: Record<string, unknown> = {}) {
  return {
    id: 7,
    status,
    name: 'Приветствие',
    employee_id: 4,
    number: null,
    max_seconds: 120,
    call_id: 12,
    file_id: null,
    outcome: null,
    reason: '',
    created_at: '2026-03-11T09:00:00Z',
    updated_at: '2026-03-11T09:00:00Z',
    ...extra,
  };
}

/** The API: the recording's states in turn (the last one repeated), the file list after it. */
function server(states: unknown[], start: () => Response = () => json(recording('pending'), 202)) {
  let asked = 0;
  let recorded = false;
  const posted: unknown[] = [];
  fakeServer({
    'GET /api/v1/auth/me': () => json(ADMIN),
    'GET /api/v1/employees': () => json({ ...empty, items: [EMPLOYEE], total: 1 }),
    'GET /api/v1/numbers': () => json(empty),
    'GET /api/v1/tags': () => json(empty),
    'GET /api/v1/files': () =>
      json(recorded ? { items: [FILE], total: 1, limit: 50, offset: 0 } : { items: [], total: 0, limit: 50, offset: 0 }),
    'POST /api/v1/files/recordings-by-phone': async (request) => {
      posted.push(await request.json());
      return start();
    },
    'GET /api/v1/files/recordings-by-phone/7': () => {
      const state = states[Math.min(asked, states.length - 1)] as { status: string };
      asked += 1;
      recorded ||= state.status === 'recorded';
      return json(state);
    },
  });
  return posted;
}

async function openDialog(): Promise<HTMLElement> {
  renderAt(
    <Routes>
      <Route path="/files" element={<FilesPage />} />
    </Routes>,
    '/files?kind=sound',
  );
  await userEvent.click(await screen.findByRole('button', { name: /Записать сообщение/ }));
  return screen.findByRole('dialog');
}

beforeEach(async () => {
  saveSession({ accessToken: 'a', refreshToken: 'r', login: 'admin', accountId: null });
  await setLanguage('ru');
});

describe('record a message by phone', () => {
  it('calls the employee chosen, shows the state until the file is first in the list', async () => {
    const posted = server([recording('pending'), recording('calling'), recording('recorded', { file_id: 31, outcome: 'recorded' })]);
    const dialog = await openDialog();
    await userEvent.type(within(dialog).getByLabelText('Название файла'), 'Приветствие');
    await userEvent.click(within(dialog).getByRole('combobox', { name: 'Сотрудник' }));
    await userEvent.click(await screen.findByTitle('Иванов Пётр'));
    await userEvent.click(within(dialog).getByRole('button', { name: /Позвонить/ }));

    const state = await within(dialog).findByTestId('record-state');
    expect(posted).toEqual([{ name: 'Приветствие', employee_id: 4, max_seconds: 120 }]);
    expect(await within(state).findByText('Идёт звонок', {}, { timeout: 4000 })).toBeInTheDocument();
    expect(
      await within(state).findByText('Сообщение записано: файл «Приветствие»', {}, { timeout: 4000 }),
    ).toBeInTheDocument();
    // the list is asked again: the new sound file is first
    const table = screen.getByTestId('files-table');
    expect(await within(table).findByText('Приветствие')).toBeInTheDocument();
    expect(within(dialog).getByRole('button', { name: 'Готово' })).toBeInTheDocument();
  });

  it('shows a refused number under its field, in Russian, and keeps what was typed', async () => {
    const refusal = {
      error_id: 'validation_failed',
      message: 'number: international calls are not allowed',
      errors: [{ field: 'number', rule: 'international calls are not allowed', error_id: 'toll_fraud_refused' }],
      usages: [],
    };
    const posted = server([], () => json(refusal, 422));
    const dialog = await openDialog();
    await userEvent.type(within(dialog).getByLabelText('Название файла'), 'Меню');
    await userEvent.click(within(dialog).getByText('На номер'));
    await userEvent.type(await within(dialog).findByLabelText('Номер телефона'), '441234567890');
    await userEvent.click(within(dialog).getByRole('button', { name: /Позвонить/ }));

    expect(
      await within(dialog).findByText('Звонки на этот номер запрещены правилами защиты от мошенничества'),
    ).toBeInTheDocument();
    expect(posted).toEqual([{ name: 'Меню', number: '441234567890', max_seconds: 120 }]);
    expect(within(dialog).getByLabelText('Номер телефона')).toHaveValue('441234567890');
    expect(within(dialog).queryByTestId('record-state')).not.toBeInTheDocument();
  });

  it('says why the call failed, and offers to try again with the same values', async () => {
    await setLanguage('en');
    server([recording('failed', { outcome: 'employee_no_answer', reason: 'сотрудник: никто не ответил' })]);
    renderAt(
      <Routes>
        <Route path="/files" element={<FilesPage />} />
      </Routes>,
      '/files?kind=sound',
    );
    await userEvent.click(await screen.findByRole('button', { name: /Record a message/ }));
    const dialog = await screen.findByRole('dialog');
    await userEvent.type(within(dialog).getByLabelText('File name'), 'Greeting');
    await userEvent.click(within(dialog).getByRole('combobox', { name: 'Employee' }));
    await userEvent.click(await screen.findByTitle('Иванов Пётр'));
    await userEvent.click(within(dialog).getByRole('button', { name: /Call/ }));

    const state = await within(dialog).findByTestId('record-state');
    expect(
      await within(state).findByText('Nobody answered, or the phone was busy or unreachable'),
    ).toBeInTheDocument();
    expect(within(state).getByText('Reason: сотрудник: никто не ответил')).toBeInTheDocument();
    await userEvent.click(within(dialog).getByRole('button', { name: 'Try again' }));
    expect(within(dialog).getByLabelText('File name')).toHaveValue('Greeting');
  });
});
