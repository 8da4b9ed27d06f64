import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { Route, Routes } from 'react-router-dom';
import { fakeServer, json, renderAt } from '../test/render';
import { LoginPage } from './LoginPage';
import { loadSession } from './session';

function app() {
  return (
    <Routes>
      <Route path="/login" element={<LoginPage />} />
      <Route path="/employees" element={<p>employees page</p>} />
    </Routes>
  );
}

const TOKENS = {
  token: 'a',
  access_token: 'a',
  refresh_token: 'r',
  token_type: 'bearer',
  expires_in: 900,
  access_expires_at: '2030-01-01T00:00:00Z',
  refresh_expires_at: '2030-01-01T00:00:00Z',
};

async function signIn(login: string, password: string) {
  await userEvent.type(screen.getByLabelText('Логин'), login);
  await userEvent.type(screen.getByLabelText('Пароль'), password);
  await userEvent.click(screen.getByRole('button', { name: 'Войти' }));
}

describe('sign-in', () => {
  it('is Russian first and says when the session expired', () => {
    renderAt(app(), '/login?expired=1&next=%2Femployees');

    expect(screen.getByText('Вход в личный кабинет')).toBeInTheDocument();
    expect(screen.getByText(/Сеанс истёк/)).toBeInTheDocument();
  });

  it('goes back to the page it came from', async () => {
    const requests = fakeServer({ 'POST /api/v1/auth/login': () => json(TOKENS) });
    renderAt(app(), '/login?next=%2Femployees');

    await signIn('admin', 'secret-pass');

    expect(await screen.findByText('employees page')).toBeInTheDocument();
    expect(loadSession()).toEqual({ accessToken: 'a', refreshToken: 'r', login: 'admin', accountId: null });
    expect(await requests[0]?.json()).toEqual({ login: 'admin', password: 'secret-pass' });
  });

  it('says so for a wrong password and for a server that is down', async () => {
    let down = false;
    fakeServer({
      'POST /api/v1/auth/login': () => {
        if (down) throw new TypeError('Failed to fetch');
        return json({ error_id: 'bad_credentials', message: 'no', errors: [], usages: [] }, 401);
      },
    });
    renderAt(app(), '/login');

    await signIn('admin', 'wrong');
    expect(await screen.findByText('Неверный логин или пароль')).toBeInTheDocument();

    down = true;
    await userEvent.click(screen.getByRole('button', { name: 'Войти' }));
    expect(await screen.findByText(/Сервер не отвечает/)).toBeInTheDocument();
    expect(loadSession()).toBeNull();
  });

  it('validates as you type', async () => {
    renderAt(app(), '/login');

    await userEvent.click(screen.getByRole('button', { name: 'Войти' }));

    await waitFor(() => expect(screen.getByText('Введите логин')).toBeInTheDocument());
    expect(screen.getByText('Введите пароль')).toBeInTheDocument();
  });
});
