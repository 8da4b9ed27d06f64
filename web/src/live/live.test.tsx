import { act, fireEvent, screen, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { fakeServer, json, renderAt, type Handler } from '../test/render';
import LivePage from './LivePage';
import type { LiveCall, LiveMessage, StaffMember } from './reducer';

/** EventSource as the page uses it: listeners by event name, onerror, close. */
class FakeSource {
  static opened: FakeSource[] = [];
  readonly url: URL;
  closed = false;
  onerror: (() => void) | null = null;
  private readonly listeners = new Map<string, ((event: MessageEvent<string>) => void)[]>();

  constructor(url: string | URL) {
    this.url = new URL(url);
    FakeSource.opened.push(this);
  }

  addEventListener(kind: string, listener: (event: MessageEvent<string>) => void): void {
    this.listeners.set(kind, [...(this.listeners.get(kind) ?? []), listener]);
  }

  send(message: LiveMessage): void {
    const event = new MessageEvent<string>(message.type, { data: JSON.stringify(message) });
    for (const listener of this.listeners.get(message.type) ?? []) listener(event);
  }

  fail(): void {
    this.onerror?.();
  }

  close(): void {
    this.closed = true;
  }
}

const call = (id: string, caller: string, changes: Partial<LiveCall> = {}): LiveCall => ({
  call_id: id,
  caller,
  number: '74950000000',
  started_at: Date.now() / 1000 - 65,
  step: 'Переадресация',
  ringing: [],
  talker: null,
  answered_at: null,
  queue_place: null,
  ...changes,
});

const latest = (): FakeSource => {
  const source = FakeSource.opened.at(-1);
  if (source === undefined) throw new Error('no EventSource opened');
  return source;
};

const who = (role: 'admin' | 'supervisor' | 'employee', employee_id: number | null) => ({
  account_id: 1,
  employee_id,
  role,
  user_id: 3,
});

/** The page's routes: the live link, who is signed in, and (TRN-1) the supervise answers. */
function server(me: ReturnType<typeof who>, supervise: Handler = () => json({}, 500)): Request[] {
  let links = 0;
  return fakeServer({
    'POST /api/v1/live/link': () => {
      links += 1;
      return json({ url: `/api/v1/live/events?link=1.link${links}`, expires_at: '2030-01-01T00:00:00Z' });
    },
    'GET /api/v1/auth/me': () => json(me),
    'POST /api/v1/live/calls/a/supervise': supervise,
  });
}

/** The page opened, its stream starting with `calls` (employee 7 talks) and `staff`. */
async function openedWith(calls: LiveCall[], staff: StaffMember[]): Promise<void> {
  renderAt(<LivePage />, '/live');
  await vi.waitFor(() => expect(FakeSource.opened).toHaveLength(1));
  act(() => latest().send({ type: 'snapshot', seq: 1, calls, employees: [{ employee_id: 7, state: 'talking' }], staff }));
}

describe('the live view', () => {
  beforeEach(() => {
    FakeSource.opened = [];
    vi.stubGlobal('EventSource', FakeSource);
    server(who('admin', null));
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  it('shows the snapshot, then reconnects after a lost stream without duplicates', async () => {
    renderAt(<LivePage />, '/live');
    await vi.waitFor(() => expect(FakeSource.opened).toHaveLength(1));
    const first = latest();
    expect(first.url.searchParams.get('link')).toBe('1.link1');
    expect(first.url.searchParams.has('since')).toBe(false);
    act(() => {
      first.send({
        type: 'snapshot',
        seq: 10,
        calls: [call('a', '79161111111', { ringing: [7] })],
        employees: [{ employee_id: 7, state: 'ringing' }],
        staff: [{ employee_id: 7, name: 'Иванов', registered: true }],
      });
      first.send({ type: 'call', seq: 11, call: call('a', '79161111111', { talker: 7, answered_at: 1 }) });
    });
    const table = screen.getByRole('table');
    expect(within(table).getByText('79161111111')).toBeInTheDocument();
    expect(within(table).getByText('Иванов')).toBeInTheDocument();
    // counted by the browser from the call's start (65 s ago)
    expect(within(table).getByTestId('duration').textContent).toMatch(/^1:0\d$/);
    expect(screen.queryByRole('alert')).toBeNull();

    act(() => first.fail());
    expect(first.closed).toBe(true);
    expect(screen.getByRole('alert')).toHaveTextContent('Соединение потеряно, переподключение…');

    // a new link, resuming after the last number applied
    await vi.waitFor(() => expect(FakeSource.opened).toHaveLength(2), { timeout: 3000 });
    const second = latest();
    expect(second.url.searchParams.get('link')).toBe('1.link2');
    expect(second.url.searchParams.get('since')).toBe('11');
    act(() => {
      second.send({ type: 'call', seq: 11, call: call('a', '79161111111', { talker: 7, answered_at: 1 }) });
      second.send({ type: 'call', seq: 12, call: call('b', '79162222222', { queue_place: 1 }) });
      second.send({ type: 'ended', seq: 13, call_id: 'a' });
      second.send({ type: 'call', seq: 11, call: call('a', '79161111111') }); // a late replay
      second.send({ type: 'employee', seq: 14, employee: { employee_id: 7, state: 'talking' } });
    });
    expect(screen.queryByRole('alert')).toBeNull();
    expect(within(table).queryByText('79161111111')).toBeNull();
    expect(within(table).getAllByText('79162222222')).toHaveLength(1);
    expect(screen.getByTestId('employee-7')).toHaveAttribute('data-state', 'talking');
    expect(screen.getByTestId('employee-7')).toHaveTextContent('Разговор');
  });

  it('shows every employee state with its Russian label, pushed as it changes', async () => {
    renderAt(<LivePage />, '/live');
    await vi.waitFor(() => expect(FakeSource.opened).toHaveLength(1));
    const names = ['Иванов', 'Петров', 'Сидоров', 'Смирнов', 'Козлов', 'Попов'];
    const staff = names.map((name, index) => ({ employee_id: index + 1, name, registered: true }));
    const until = Date.now() / 1000 + 25;
    act(() =>
      latest().send({
        type: 'snapshot',
        seq: 1,
        calls: [],
        employees: [
          { employee_id: 1, state: 'talking' },
          { employee_id: 2, state: 'ringing' },
          { employee_id: 3, state: 'wrap_up', until },
          { employee_id: 4, state: 'off_schedule' },
          { employee_id: 5, state: 'registered' },
        ],
        presence: true,
        staff,
      }),
    );
    const label = (id: number) => screen.getByTestId(`employee-${id}`).querySelector('.ant-tag')?.textContent;
    expect([1, 2, 4, 5, 6].map(label)).toEqual(['Разговор', 'Звонок', 'Вне графика', 'Зарегистрирован', 'Не в сети']);
    // the wrap-up counts down to its end
    expect(label(3)).toMatch(/^Поствызывная обработка 0:2\d$/);
    // registered when the view connected, but the switch now says his phone is gone
    act(() => latest().send({ type: 'employee', seq: 2, employee: { employee_id: 5, state: 'offline' } }));
    expect(label(5)).toBe('Не в сети');
    act(() => latest().send({ type: 'employee', seq: 3, employee: { employee_id: 3, state: 'registered' } }));
    expect(label(3)).toBe('Зарегистрирован');
  });

  it('lets a supervisor listen, whisper or barge into a talk from his own phone (TRN-1)', async () => {
    let answer = (): Response => json({ call_id: 'a', mode: 'whisper', employee_id: 9, status: 'ringing' }, 202);
    const seen = server(who('supervisor', 9), () => answer());
    await openedWith(
      [call('a', '79161111111', { talker: 7, answered_at: 1 }), call('b', '79162222222', { ringing: [7] })],
      [
        { employee_id: 7, name: 'Иванов', registered: true },
        { employee_id: 9, name: 'Надзорова', registered: true },
      ],
    );
    await screen.findByRole('columnheader', { name: 'Супервизор' });
    const talking = screen.getByRole('row', { name: /79161111111/ });
    // only a call someone talks in can be joined
    const ringing = screen.getByRole('row', { name: /79162222222/ });
    expect(within(ringing).queryByRole('button')).toBeNull();
    expect(within(talking).getAllByRole('button').map((b) => b.textContent.replace(/\s/g, ''))).toEqual([
      'Слушать',
      'Подсказывать',
      'Вмешаться',
    ]);

    fireEvent.click(within(talking).getByRole('button', { name: 'Подсказывать' }));
    expect(await screen.findByText('Звоним на ваш телефон: ответьте, чтобы подключиться к разговору')).toBeInTheDocument();
    const asked = seen.filter((r) => r.url.endsWith('/supervise'));
    expect(asked).toHaveLength(1);
    const [request] = asked;
    if (request === undefined) throw new Error('no supervise request');
    expect(new URL(request.url).pathname).toBe('/api/v1/live/calls/a/supervise');
    expect(await request.json()).toEqual({ mode: 'whisper' });

    // the call ended meanwhile: the API's reason, in Russian
    answer = () => json({ error_id: 'live_call.not_found', message: 'звонок уже закончился / the call has ended', errors: [], usages: [] }, 404);
    fireEvent.click(within(talking).getByRole('button', { name: 'Вмешаться' }));
    expect(await screen.findByText('Звонок уже закончился')).toBeInTheDocument();

    // once his phone answers the live view shows who supervises, and nobody else may join
    act(() =>
      latest().send({
        type: 'call',
        seq: 2,
        call: call('a', '79161111111', { talker: 7, answered_at: 1, supervisor: 9, supervise_mode: 'whisper' }),
      }),
    );
    expect(within(talking).getByTestId('supervisor')).toHaveTextContent('Надзорова подсказывает');
    expect(within(talking).queryByRole('button')).toBeNull();
  });

  it('shows no supervisor actions to an employee', async () => {
    const seen = server(who('employee', 7));
    await openedWith(
      [call('a', '79161111111', { talker: 7, answered_at: 1 })],
      [{ employee_id: 7, name: 'Иванов', registered: true }],
    );
    const row = await screen.findByRole('row', { name: /79161111111/ });
    await vi.waitFor(() => expect(seen.some((r) => r.url.endsWith('/auth/me'))).toBe(true));
    await act(async () => {}); // who he is has been applied
    expect(screen.queryByRole('columnheader', { name: 'Супервизор' })).toBeNull();
    expect(within(row).queryByRole('button')).toBeNull();
  });
});
