import { loadSession, onSessionChange, saveSession } from '../auth/session';
import { fakeServer, json } from '../test/render';
import { api } from './client';

const ME = { role: 'admin', account_id: 1, user_id: 1, employee_id: null };

describe('the API client', () => {
  beforeEach(() => {
    saveSession({ accessToken: 'old', refreshToken: 'r1', login: 'admin', accountId: null });
  });

  it('refreshes an expired access token once and repeats the request', async () => {
    const requests = fakeServer({
      'GET /api/v1/auth/me': (request) =>
        request.headers.get('Authorization') === 'Bearer new' ? json(ME) : json({ error_id: 'unauthorized', message: '' }, 401),
      'POST /api/v1/auth/refresh': () => json({ access_token: 'new', refresh_token: 'r2' }),
    });

    const { data } = await api.GET('/api/v1/auth/me');

    expect(data).toEqual(ME);
    expect(loadSession()?.refreshToken).toBe('r2');
    expect(requests.map((r) => new URL(r.url).pathname)).toEqual(['/api/v1/auth/me', '/api/v1/auth/refresh', '/api/v1/auth/me']);
  });

  it('ends the session as expired when the refresh is refused', async () => {
    const reasons: string[] = [];
    onSessionChange((_session, reason) => reasons.push(reason));
    fakeServer({
      'GET /api/v1/auth/me': () => json({ error_id: 'unauthorized', message: '' }, 401),
      'POST /api/v1/auth/refresh': () => json({ error_id: 'bad_refresh_token', message: '' }, 401),
    });

    const { response } = await api.GET('/api/v1/auth/me');

    expect(response.status).toBe(401);
    expect(loadSession()).toBeNull();
    expect(reasons).toEqual(['expired']);
  });

  it("sends the operator's chosen account", async () => {
    saveSession({ accessToken: 'op', refreshToken: null, login: 'operator', accountId: 7 });
    const requests = fakeServer({ 'GET /api/v1/auth/me': () => json({ ...ME, role: 'operator', account_id: 7 }) });

    await api.GET('/api/v1/auth/me');

    expect(requests[0]?.headers.get('X-Account-Id')).toBe('7');
  });
});
