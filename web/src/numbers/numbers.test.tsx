import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Route, Routes } from 'react-router-dom';
import { saveSession } from '../auth/session';
import { setLanguage } from '../i18n';
import { fakeServer, json, renderAt } from '../test/render';
import NumberEditPage from './NumberEditPage';

const ADMIN = { role: 'admin', account_id: 1, user_id: 1, employee_id: null };
const callers = (scope: string, contactGroupIds: number[] = []) => ({
  scope,
  contact_ids: [],
  contact_group_ids: contactGroupIds,
  caller_list_ids: [],
});
const NUMBER = {
  id: 3,
  number: '74950001122',
  kind: 'pbx',
  name: 'Реклама',
  forward_to: null,
  trunk_id: null,
  region: null,
  record_calls: false,
  rules: [
    { name: 'Рабочее время', enabled: true, schedule_id: 4, callers: callers('all'), scenario_id: 10 },
    { name: 'VIP', enabled: true, schedule_id: null, callers: callers('contact_groups', [8]), scenario_id: 11 },
  ],
};
const page = (items: unknown[]) => ({ items, total: items.length, limit: 1000, offset: 0 });

beforeEach(async () => {
  saveSession({ accessToken: 'a', refreshToken: 'r', login: 'admin', accountId: null });
  await setLanguage('ru');
});

function numberServer(sent: { body: unknown; ifMatch: string | null }[]) {
  fakeServer({
    'GET /api/v1/auth/me': () => json(ADMIN),
    'GET /api/v1/numbers/3': () => json(NUMBER, 200, { ETag: '"n1"' }),
    'GET /api/v1/schedules': () => json(page([{ id: 4, name: 'Будни', kind: 'weekly', weekly: [], use_production_calendar: false }])),
    'GET /api/v1/scenarios': () => json(page([{ id: 10, name: 'Офис', operations: [] }, { id: 11, name: 'Менеджер VIP', operations: [] }])),
    'GET /api/v1/contacts': () => json(page([])),
    'GET /api/v1/contact-groups': () => json(page([{ id: 8, name: 'VIP' }])),
    'GET /api/v1/caller-lists': () => json(page([])),
    'PUT /api/v1/numbers/3': async (request) => {
      sent.push({ body: await request.json(), ifMatch: request.headers.get('If-Match') });
      return json(NUMBER, 200, { ETag: '"n2"' });
    },
  });
}

describe('number rules (NUM-2)', () => {
  it('drags a rule with the keyboard (Space, arrow down, Space) and saves the new priority', async () => {
    const sent: { body: unknown; ifMatch: string | null }[] = [];
    numberServer(sent);
    // jsdom lays nothing out: each rule card is 100 px tall, one under the other
    const rect = vi.spyOn(HTMLElement.prototype, 'getBoundingClientRect').mockImplementation(function (this: HTMLElement) {
      const card = this.closest('[role=group]') ?? this.querySelector('[role=group]');
      const index = card === null ? 0 : Number(/\d+/.exec(card.getAttribute('aria-label') ?? '')?.[0] ?? 1) - 1;
      return DOMRect.fromRect({ x: 0, y: index * 100, width: 600, height: 90 });
    });
    renderAt(
      <Routes>
        <Route path="/numbers/:id" element={<NumberEditPage />} />
      </Routes>,
      '/numbers/3',
    );
    await screen.findByRole('group', { name: 'Правило 1' });
    const handle = screen.getByRole('button', { name: 'Перетащить Правило 1' });
    handle.focus();
    await userEvent.keyboard(' ');
    await userEvent.keyboard('{ArrowDown}');
    await userEvent.keyboard(' ');
    await waitFor(() => expect(within(screen.getByRole('group', { name: 'Правило 1' })).getByDisplayValue('VIP')).toBeInTheDocument());
    rect.mockRestore();

    await userEvent.click(screen.getByRole('button', { name: 'Сохранить' }));
    await waitFor(() => expect(sent).toHaveLength(1));
    const body = sent[0]?.body as { rules: { name: string }[] };
    expect(body.rules.map((rule) => rule.name)).toEqual(['VIP', 'Рабочее время']);
  });

  it('reorders the rules by priority and saves them in the new order with If-Match', async () => {
    const sent: { body: unknown; ifMatch: string | null }[] = [];
    numberServer(sent);
    renderAt(
      <Routes>
        <Route path="/numbers/:id" element={<NumberEditPage />} />
      </Routes>,
      '/numbers/3',
    );
    const first = await screen.findByRole('group', { name: 'Правило 1' });
    expect(within(first).getByDisplayValue('Рабочее время')).toBeInTheDocument();

    await userEvent.click(screen.getByRole('button', { name: 'Ниже 1' }));
    const moved = screen.getByRole('group', { name: 'Правило 1' });
    expect(within(moved).getByDisplayValue('VIP')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Выше 1' })).toBeDisabled();

    await userEvent.click(screen.getByRole('button', { name: 'Сохранить' }));
    await waitFor(() => expect(sent).toHaveLength(1));
    const body = sent[0]?.body as { rules: { name: string; scenario_id: number; callers: { scope: string } }[] };
    expect(body.rules.map((rule) => rule.name)).toEqual(['VIP', 'Рабочее время']);
    expect(body.rules[0]?.callers).toEqual(callers('contact_groups', [8]));
    expect(body.rules[1]?.scenario_id).toBe(10);
    expect(sent[0]?.ifMatch).toBe('"n1"');
  });
});
