import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Route, Routes } from 'react-router-dom';
import { saveSession } from '../auth/session';
import { setLanguage } from '../i18n';
import { fakeServer, json, renderAt, type Handler } from '../test/render';
import ScenarioEditPage from './ScenarioEditPage';
import ScenariosPage from './ScenariosPage';

const ADMIN = { role: 'admin', account_id: 1, user_id: 1, employee_id: null };
const SCENARIO = {
  id: 5,
  name: 'Офис',
  entry: 'menu',
  operations: [{ key: 'menu', kind: 'menu', title: '', exits: { '1': 'vm' }, prompt_file_id: null, prompt_text: 'Нажмите 1', timeout: 5, hash_returns: false }],
};
const DISTRIBUTION = { add_line_every: 5, initial_lines: 5, percentage: false, queue: false, ring_timeout: null, simultaneous_lines: 2, wrapup_seconds: 30 };
/** Every kind of operation the API accepts, as GET /scenarios/{id} answers (defaults filled in). */
const ALL_KINDS = {
  id: 6,
  name: 'Все операции',
  entry: 'auth',
  operations: [
    { key: 'auth', kind: 'auth', title: 'Пин', exits: { yes: 'menu', no: 'info' }, prompt_file_id: 7, code: '0042', inter_digit_timeout: 4 },
    { key: 'menu', kind: 'menu', title: '', exits: { '1': 'fwd', '2': 'ext', timeout: 'vm', invalid: null, extension_input: 'ext' }, prompt_file_id: null, prompt_text: 'Нажмите', timeout: 7.5, hash_returns: true },
    {
      key: 'fwd',
      kind: 'forward',
      title: 'Продажи',
      exits: { no_answer: 'vm' },
      ringback_file_ids: [7, 7],
      targets: [
        { employee_id: 4, group_id: null, number: null, phone_id: 'p1' },
        { employee_id: null, group_id: 3, number: null, phone_id: null },
        { employee_id: null, group_id: null, number: '74951234567', phone_id: null },
      ],
      strategy: 'custom',
      distribution: DISTRIBUTION,
      queue_message_file_id: null,
      operator_message_file_id: 7,
      operator_message_text: 'Клиент',
      tag_after_call: true,
      rate_after_call: false,
      record: true,
    },
    { key: 'ext', kind: 'extension', title: '', exits: { failed: 'pm' }, prompt_file_id: null, ringback_file_ids: [], inter_digit_timeout: 5, from_menu: true },
    { key: 'pm', kind: 'personal_manager', title: '', exits: {}, ringback_file_ids: [7], ring_timeout: 25 },
    { key: 'vm', kind: 'voicemail', title: '', exits: {}, prompt_file_id: null, emails: ['a@example.ru', 'b@example.ru'], max_seconds: 60 },
    { key: 'info', kind: 'info', title: '', exits: { next: 'ins' }, file_ids: [7], text: '' },
    { key: 'ins', kind: 'insert', title: '', exits: {}, scenario_id: 5 },
    {
      key: 'crm',
      kind: 'interactive',
      title: '',
      exits: { fallback: 'vm' },
      url: 'https://crm.example.ru/ivr',
      method: 'POST',
      params: ['numa'],
      dtmf_length: 4,
      prompt_file_id: null,
      timeout: 2.5,
      codes: [{ code: 1, target: 'fwd' }, { code: 2, target: null }],
    },
    { key: 'visit', kind: 'visit', title: '', exits: { first: 'crm', repeat: 'reg' }, interval_hours: 48, count_all_communications: true },
    { key: 'reg', kind: 'region', title: '', exits: { others: 'seg' }, branches: [{ region: 'Москва', target: 'fwd' }] },
    { key: 'seg', kind: 'segment', title: '', exits: {}, branches: [{ segment_id: 9, target: 'vm' }] },
  ],
};
const IN_USE = {
  error_id: 'in_use',
  message: 'scenarios 5 is in use',
  errors: [],
  usages: ['Виртуальные номера и правила «74950001122», правило 1'],
};
const page = (items: unknown[]) => ({ items, total: items.length, limit: 1000, offset: 0 });

function lookups(): Record<string, Handler> {
  return {
    'GET /api/v1/auth/me': () => json(ADMIN),
    'GET /api/v1/groups': () => json(page([{ id: 3, name: 'Продажи', member_ids: [], distribution: [] }])),
    'GET /api/v1/employees': () => json(page([{ id: 4, last_name: 'Иванов', first_name: 'Пётр', phones: [{ id: 'p1', kind: 'sip' }] }])),
    'GET /api/v1/scenarios': () => json(page([SCENARIO, ALL_KINDS])),
    'GET /api/v1/segments': () => json(page([{ id: 9, name: 'VIP' }])),
    'GET /api/v1/files': () => json(page([{ id: 7, name: 'Приветствие', kind: 'sound' }])),
    'POST /api/v1/scenarios/lint': () => json([]),
  };
}

function edit(id: number) {
  renderAt(
    <Routes>
      <Route path="/scenarios/:id" element={<ScenarioEditPage />} />
    </Routes>,
    `/scenarios/${id}`,
  );
}

beforeEach(async () => {
  // antd's popover measures itself; jsdom has no ResizeObserver
  vi.stubGlobal(
    'ResizeObserver',
    class {
      observe() {}
      unobserve() {}
      disconnect() {}
    },
  );
  saveSession({ accessToken: 'a', refreshToken: 'r', login: 'admin', accountId: null });
  await setLanguage('ru');
});

describe('scenarios', () => {
  it('names every place that uses a scenario when its deletion is refused (ACC-4)', async () => {
    fakeServer({
      'GET /api/v1/auth/me': () => json(ADMIN),
      'GET /api/v1/scenarios': () => json(page([SCENARIO])),
      'DELETE /api/v1/scenarios/5': () => json(IN_USE, 409),
    });
    renderAt(
      <Routes>
        <Route path="/scenarios" element={<ScenariosPage />} />
      </Routes>,
      '/scenarios',
    );
    await userEvent.click(await screen.findByRole('button', { name: 'Удалить Офис' }));
    await userEvent.click(await screen.findByRole('button', { name: 'Удалить' }));
    expect((await screen.findAllByText('Нельзя удалить: запись используется'))[0]).toBeInTheDocument();
    expect(screen.getByText(IN_USE.usages[0] ?? '')).toBeInTheDocument();
  });

  it('shows the lint warnings of the draft beside the operation they concern (SCN-LINT)', async () => {
    const linted: unknown[] = [];
    fakeServer({
      ...lookups(),
      'GET /api/v1/scenarios/5': () => json(SCENARIO, 200, { ETag: '"s1"' }),
      'POST /api/v1/scenarios/lint': async (request) => {
        linted.push(await request.json());
        return json([
          { code: 'menu_no_timeout', message: 'меню без выхода «время ожидания истекло»', operation: 'menu', path: [], scenario_id: null, severity: 'warning' },
          { code: 'insert_cycle', message: 'цикл вставки', operation: 'other', path: [], scenario_id: 8, severity: 'warning' },
        ]);
      },
    });
    edit(5);
    const card = await screen.findByRole('group', { name: 'Операция 1' });
    expect(await within(card).findByText('меню без выхода «время ожидания истекло»')).toBeInTheDocument();
    const panel = screen.getByLabelText('Предупреждения');
    expect(within(panel).getByText('other: цикл вставки')).toBeInTheDocument();
    expect(within(panel).getByText('У операций: 1 — показаны рядом с ними')).toBeInTheDocument();
    await waitFor(() => expect(JSON.stringify(linted[linted.length - 1])).toContain('Нажмите 1'));
    const draft = linted[linted.length - 1] as { operations: unknown[] };
    expect(draft.operations).toEqual(SCENARIO.operations);

    await setLanguage('en');
    expect(await within(card).findByText(/The menu has no «timed out» exit/)).toBeInTheDocument();
  });

  it('saves every kind of operation exactly as it was loaded when nothing was edited (round trip)', async () => {
    const sent: unknown[] = [];
    fakeServer({
      ...lookups(),
      'GET /api/v1/scenarios/6': () => json(ALL_KINDS, 200, { ETag: '"s6"' }),
      'PUT /api/v1/scenarios/6': async (request) => {
        sent.push(await request.json());
        return json({ ...ALL_KINDS, warnings: [] }, 200, { ETag: '"s7"' });
      },
    });
    edit(6);
    for (let index = 1; index <= 12; index += 1) expect(await screen.findByRole('group', { name: `Операция ${index}` })).toBeInTheDocument();
    // each kind has its structured form, no JSON
    expect(screen.queryByText(/JSON/)).not.toBeInTheDocument();
    expect(screen.getByLabelText('URL внешней системы (CRM)')).toHaveValue('https://crm.example.ru/ivr');
    expect(screen.getByLabelText('Регион 1: регион')).toHaveValue('Москва');
    expect(await screen.findAllByRole('button', { name: 'Прослушать Приветствие' })).not.toHaveLength(0);
    await userEvent.click(screen.getByRole('button', { name: /Сохранить/ }));
    await waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0]).toEqual({ name: ALL_KINDS.name, entry: ALL_KINDS.entry, operations: ALL_KINDS.operations });
  });

  it('says when someone else saved meanwhile (412) and offers reload or overwrite: overwrite saves without If-Match', async () => {
    const sent: { ifMatch: string | null; body: unknown }[] = [];
    fakeServer({
      ...lookups(),
      'GET /api/v1/scenarios/6': () => json(ALL_KINDS, 200, { ETag: '"s1"' }),
      'PUT /api/v1/scenarios/6': async (request) => {
        sent.push({ ifMatch: request.headers.get('If-Match'), body: await request.json() });
        return sent.length === 1
          ? json({ error_id: 'precondition_failed', message: 'changed', usages: [], errors: [] }, 412)
          : json({ ...ALL_KINDS, warnings: [] }, 200, { ETag: '"s3"' });
      },
    });
    edit(6);
    await screen.findByRole('group', { name: 'Операция 1' });
    await userEvent.click(screen.getByRole('button', { name: /Сохранить/ }));
    expect(await screen.findByText('Эту запись изменил кто-то другой, пока вы её редактировали')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Перезагрузить' })).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Сохранить поверх' }));
    await waitFor(() => expect(sent).toHaveLength(2));
    expect(sent.map((item) => item.ifMatch)).toEqual(['"s1"', null]);
    expect(sent[1]?.body).toEqual(sent[0]?.body);
  }, 60_000);

  it("puts the API's 422 under the field it names, and takes it away when that field is edited", async () => {
    fakeServer({
      ...lookups(),
      'GET /api/v1/scenarios/6': () => json(ALL_KINDS, 200, { ETag: '"s6"' }),
      'PUT /api/v1/scenarios/6': () =>
        json(
          {
            error_id: 'validation_failed',
            message: 'invalid',
            usages: [],
            errors: [
              { field: 'operations.0.auth.code', rule: 'code must contain digits only / код может содержать только цифры', error_id: 'value_error' },
              { field: 'operations.2.forward.targets.2.number', rule: 'phone number must be in international format / номер в международном формате', error_id: 'value_error' },
              { field: 'operations.1.exits.extension_input', rule: 'the extension input exit of a menu accepts only …', error_id: 'menu_extension_input' },
            ],
          },
          422,
        ),
    });
    edit(6);
    const auth = await screen.findByRole('group', { name: 'Операция 1' });
    await userEvent.click(screen.getByRole('button', { name: /Сохранить/ }));
    expect(await within(auth).findByText('код может содержать только цифры')).toBeInTheDocument();
    const forward = screen.getByRole('group', { name: 'Операция 3' });
    expect(within(forward).getByText('номер в международном формате')).toBeInTheDocument();
    const menu = screen.getByRole('group', { name: 'Операция 2' });
    expect(within(menu).getByText('the extension input exit of a menu accepts only …')).toBeInTheDocument();

    await userEvent.type(within(auth).getByLabelText('Код'), '1');
    await waitFor(() => expect(within(auth).queryByText('код может содержать только цифры')).not.toBeInTheDocument());
    expect(within(forward).getByText('номер в международном формате')).toBeInTheDocument();
  });

  it('a new operation is a forward with the API defaults; its kind can be changed to any other', async () => {
    const linted: { operations: { kind: string; key: string }[] }[] = [];
    fakeServer({
      ...lookups(),
      'GET /api/v1/scenarios/5': () => json(SCENARIO, 200, { ETag: '"s1"' }),
      'POST /api/v1/scenarios/lint': async (request) => {
        linted.push((await request.json()) as (typeof linted)[number]);
        return json([]);
      },
    });
    edit(5);
    await screen.findByRole('group', { name: 'Операция 1' });
    await userEvent.click(screen.getByRole('button', { name: /Добавить операцию/ }));
    const card = await screen.findByRole('group', { name: 'Операция 2' });
    expect(within(card).getByText('Добавьте хотя бы одного адресата')).toBeInTheDocument();
    await userEvent.click(within(card).getByLabelText('Тип'));
    await userEvent.click(await screen.findByTitle('Голосовая почта'));
    await waitFor(() => expect(linted.at(-1)?.operations[1]).toEqual({ key: 'op2', kind: 'voicemail', title: '', exits: {}, prompt_file_id: null, emails: [], max_seconds: 120 }));
  });
});
