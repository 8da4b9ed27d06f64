import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { setLanguage } from '../i18n';
import { fakeServer, json, renderAt } from '../test/render';
import type { OperationContext } from './operations/context';
import { changeKind, newOperation, type Op, type Operation } from './operations/model';
import { OperationForm } from './operations/OperationForm';
import { operationErrors } from './operations/serverErrors';
import { validateOperation } from './operations/validate';

const FILE = { id: 7, name: 'Приветствие', kind: 'sound', content_type: 'audio/wav', duration_seconds: 3, size_bytes: 100, text: '' } as const;
const GROUP = { id: 3, name: 'Продажи', member_ids: [], distribution: [], extension: null };
const EMPLOYEE = { id: 4, last_name: 'Иванов', first_name: 'Пётр', phones: [{ id: 'p1', kind: 'sip', number: null, sip_uri: null }] };

function context(operations: readonly Operation[]): OperationContext {
  return {
    operations,
    files: [FILE],
    employees: [EMPLOYEE] as unknown as OperationContext['employees'],
    groups: [GROUP] as unknown as OperationContext['groups'],
    scenarios: [],
    segments: [],
    scenarioId: null,
    idPrefix: 'op',
  };
}

/** One operation's form as the page (or the visual editor's panel) holds it: state, the form's own rules. */
function Harness({ initial, others = [], changes }: { initial: Operation; others?: Operation[]; changes: Operation[] }) {
  const { t } = useTranslation();
  const [value, setValue] = useState(initial);
  const operations = [value, ...others];
  return (
    <OperationForm
      value={value}
      onChange={(next) => {
        changes.push(next);
        setValue(next);
      }}
      errors={validateOperation(value, operations, t)}
      ctx={context(operations)}
    />
  );
}

function show(initial: Operation, others: Operation[] = []) {
  const changes: Operation[] = [];
  renderAt(<Harness initial={initial} others={others} changes={changes} />);
  return changes;
}

const last = <T,>(items: T[]): T => {
  const item = items.at(-1);
  if (item === undefined) throw new Error('no change');
  return item;
};

beforeEach(async () => {
  vi.stubGlobal(
    'ResizeObserver',
    class {
      observe() {}
      unobserve() {}
      disconnect() {}
    },
  );
  fakeServer({});
  await setLanguage('ru');
});

describe('operation forms', () => {
  it('authorization: the code is checked as it is typed (digits only)', async () => {
    const changes = show(newOperation('auth', 'auth'));
    const code = screen.getByLabelText('Код');
    await userEvent.type(code, '12a');
    expect(await screen.findByText('Только цифры')).toBeInTheDocument();
    await userEvent.type(code, '{Backspace}3');
    await waitFor(() => expect(screen.queryByText('Только цифры')).not.toBeInTheDocument());
    expect(last(changes)).toMatchObject({ kind: 'auth', code: '123', inter_digit_timeout: 5, prompt_file_id: null });
  });

  it('menu: every key and timeout/invalid is a select of the other operations; the extension input takes only the menu variant', async () => {
    const others = [
      newOperation('voicemail', 'vm', 'Почта'),
      newOperation('extension', 'ext'),
      { ...(newOperation('extension', 'ext_menu') as Op<'extension'>), from_menu: true },
    ];
    const changes = show(newOperation('menu', 'menu'), others);
    const exits = screen.getByRole('region', { name: 'Выходы' });
    for (const name of ['Клавиша 1', 'Клавиша 0', 'Клавиша *', 'Клавиша #', 'Время ожидания истекло', 'Некорректный ввод']) {
      expect(within(exits).getByLabelText(name)).toBeInTheDocument();
    }
    await userEvent.click(within(exits).getByLabelText('Клавиша 1'));
    const titles = [...document.querySelectorAll('.ant-select-item-option')].map((item) => item.getAttribute('title'));
    expect(titles).toEqual(['vm «Почта» — Голосовая почта', 'ext — Набор добавочного', 'ext_menu — Набор добавочного']);
    await userEvent.click(await screen.findByTitle('vm «Почта» — Голосовая почта'));
    expect(last(changes).exits).toEqual({ '1': 'vm' });

    await userEvent.click(within(exits).getByLabelText('Ввод внутреннего номера'));
    const listbox = document.querySelectorAll('.ant-select-dropdown:not(.ant-select-dropdown-hidden)');
    const offered = [...(listbox[listbox.length - 1]?.querySelectorAll('.ant-select-item-option') ?? [])].map((item) => item.getAttribute('title'));
    expect(offered).toEqual(['ext_menu — Набор добавочного']);
  });

  it('clearing an exit leaves it out of the operation (the call ends there)', async () => {
    const menu = { ...(newOperation('menu', 'menu') as Op<'menu'>), exits: { '1': 'vm', timeout: 'vm' } };
    const changes = show(menu, [newOperation('voicemail', 'vm')]);
    const exits = screen.getByRole('region', { name: 'Выходы' });
    const field = within(exits).getByLabelText('Клавиша 1').closest('.ant-select');
    const clear = field?.querySelector('.ant-select-clear');
    expect(clear).not.toBeNull();
    await userEvent.click(clear as Element);
    expect(last(changes).exits).toEqual({ timeout: 'vm' });
  });

  it('forward: targets in order (group, employee, outside number normalized), strategy and flags', async () => {
    const changes = show(newOperation('forward', 'fwd'));
    expect(screen.getByText('Добавьте хотя бы одного адресата')).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: /Группа$/ }));
    await userEvent.click(screen.getByLabelText('Адресат 1: Группа'));
    await userEvent.click(await screen.findByTitle('Продажи'));
    await userEvent.click(screen.getByRole('button', { name: /Сотрудник$/ }));
    await userEvent.click(screen.getByLabelText('Адресат 2: Сотрудник'));
    await userEvent.click(await screen.findByTitle('Иванов Пётр'));
    await userEvent.click(screen.getByRole('button', { name: /Внешний номер$/ }));
    const number = screen.getByLabelText('Адресат 3: Внешний номер');
    await userEvent.type(number, '12');
    expect(await screen.findByText(/Номер в международном формате/)).toBeInTheDocument();
    await userEvent.clear(number);
    await userEvent.type(number, '+7 (495) 123-45-67');
    await userEvent.tab();
    await waitFor(() => expect(screen.queryByText(/Номер в международном формате/)).not.toBeInTheDocument());
    await userEvent.click(screen.getByLabelText('Записывать разговор'));
    const op = last(changes) as Op<'forward'>;
    expect(op.targets).toEqual([{ group_id: 3 }, { employee_id: 4, phone_id: null }, { number: '74951234567' }]);
    expect(op.record).toBe(true);
    expect(op.strategy).toBe('priority');
    expect(op.distribution).toMatchObject({ wrapup_seconds: 0, initial_lines: 5, add_line_every: 5, queue: false });

    await userEvent.click(screen.getByRole('button', { name: /Ниже Адресат 1$/ }));
    expect((last(changes) as Op<'forward'>).targets).toEqual([{ employee_id: 4, phone_id: null }, { group_id: 3 }, { number: '74951234567' }]);
  });

  it('info message: files come from the file base and play beside the pick', async () => {
    fakeServer({ 'POST /api/v1/files/7/link': () => json({ url: '/api/v1/files/7/content?link=x', expires_at: '2030-01-01T00:00:00Z' }) });
    const changes = show(newOperation('info', 'info'));
    expect(screen.getByText('Выберите файлы или введите текст')).toBeInTheDocument();
    await userEvent.click(screen.getByLabelText('Файлы'));
    await userEvent.click(await screen.findByTitle('Приветствие'));
    expect((last(changes) as Op<'info'>).file_ids).toEqual([7]);
    await userEvent.click(screen.getByRole('button', { name: 'Прослушать Приветствие' }));
    expect(await screen.findByTestId('player-7')).toHaveAttribute('src', expect.stringContaining('/api/v1/files/7/content?link=x'));
    await waitFor(() => expect(screen.queryByText('Выберите файлы или введите текст')).not.toBeInTheDocument());
  });

  it('interactive processing: the CRM URL is a text field checked as typed; return codes lead to operations', async () => {
    const changes = show(newOperation('interactive', 'crm'), [newOperation('voicemail', 'vm')]);
    const url = screen.getByLabelText('URL внешней системы (CRM)');
    await userEvent.type(url, 'crm.local');
    expect(await screen.findByText('Адрес вида https://…')).toBeInTheDocument();
    await userEvent.clear(url);
    await userEvent.type(url, 'https://crm.local/ivr');
    await waitFor(() => expect(screen.queryByText('Адрес вида https://…')).not.toBeInTheDocument());
    await userEvent.click(screen.getByRole('button', { name: /Добавить код$/ }));
    await userEvent.click(screen.getByLabelText('Код 1: операция').querySelector('input') as HTMLElement);
    await userEvent.click(await screen.findByTitle('vm — Голосовая почта'));
    expect(last(changes)).toMatchObject({ url: 'https://crm.local/ivr', method: 'GET', codes: [{ code: 0, target: 'vm' }] });
  });

  it('changing the kind keeps key, title and the exits both kinds have', () => {
    const menu = { ...(newOperation('menu', 'm', 'Главное') as Op<'menu'>), exits: { invalid: 'x', '1': 'y' } };
    expect(changeKind(menu, 'extension')).toEqual({ ...newOperation('extension', 'm', 'Главное'), exits: { invalid: 'x' } });
  });

  it('shows an API error beside the field it names, and the whole-operation ones on top', () => {
    const ops = [newOperation('forward', 'a'), newOperation('auth', 'b'), newOperation('info', 'c')];
    const errors = [
      { field: 'operations.0.forward.targets.0.number', rule: 'bad', error_id: 'value_error' },
      { field: 'operations.1.auth.code', rule: 'code must contain digits only / код может содержать только цифры', error_id: 'value_error' },
      { field: 'operations.1.exits.yes', rule: 'dangling', error_id: 'dangling_exit' },
      { field: 'operations.2.info', rule: 'an info message needs file_ids or text', error_id: 'value_error' },
      { field: 'name', rule: 'x', error_id: 'x' },
    ];
    const found = operationErrors(errors, ops, (error) => error.rule);
    expect(found).toEqual([
      { 'targets.0.number': ['bad'] },
      { code: ['code must contain digits only / код может содержать только цифры'], 'exits.yes': ['dangling'] },
      { '': ['an info message needs file_ids or text'] },
    ]);
  });
});
