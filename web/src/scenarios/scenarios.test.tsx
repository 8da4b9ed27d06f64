import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Route, Routes } from 'react-router-dom';
import { saveSession } from '../auth/session';
import { setLanguage } from '../i18n';
import { fakeServer, json, renderAt } from '../test/render';
import ScenarioEditPage from './ScenarioEditPage';
import ScenariosPage from './ScenariosPage';

const ADMIN = { role: 'admin', account_id: 1, user_id: 1, employee_id: null };
const SCENARIO = {
  id: 5,
  name: 'Офис',
  entry: 'menu',
  operations: [{ key: 'menu', kind: 'menu', title: '', exits: { '1': 'vm' }, prompt_text: 'Нажмите 1', timeout: 5, hash_returns: false }],
};
const IN_USE = {
  error_id: 'in_use',
  message: 'scenarios 5 is in use',
  errors: [],
  usages: ['Виртуальные номера и правила «74950001122», правило 1'],
};
const page = (items: unknown[]) => ({ items, total: items.length, limit: 1000, offset: 0 });

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

  it('shows the lint warnings of the draft beside it (SCN-LINT)', async () => {
    const linted: unknown[] = [];
    fakeServer({
      'GET /api/v1/auth/me': () => json(ADMIN),
      'GET /api/v1/scenarios/5': () => json(SCENARIO, 200, { ETag: '"s1"' }),
      'GET /api/v1/groups': () => json(page([])),
      'GET /api/v1/employees': () => json(page([])),
      'POST /api/v1/scenarios/lint': async (request) => {
        linted.push(await request.json());
        return json([
          { code: 'menu_no_timeout', message: 'menu has no timeout exit', operation: 'menu', path: [], scenario_id: null, severity: 'warning' },
        ]);
      },
    });
    renderAt(
      <Routes>
        <Route path="/scenarios/:id" element={<ScenarioEditPage />} />
      </Routes>,
      '/scenarios/5',
    );
    expect(await screen.findByText('menu: menu has no timeout exit')).toBeInTheDocument();
    await waitFor(() => expect(JSON.stringify(linted[linted.length - 1])).toContain('Нажмите 1'));
    const draft = linted[linted.length - 1] as { operations: { exits: Record<string, string>; prompt_text: string }[] };
    expect(draft.operations[0]?.exits).toEqual({ '1': 'vm' });
    expect(draft.operations[0]?.prompt_text).toBe('Нажмите 1');
  });
});
