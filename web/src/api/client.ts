/**
 * The typed API client: openapi-fetch over the paths generated from the served OpenAPI document
 * (schema.d.ts, `make web-client`). It adds the bearer token (and the operator's account), and
 * on a 401 refreshes the session once and repeats the request; when that fails too the session
 * has expired and the app goes back to sign-in (auth/RequireAuth), remembering the page.
 */
import createClient from 'openapi-fetch';
import { endSession, loadSession, updateSession } from '../auth/session';
import type { components, paths } from './schema';

export type Schemas = components['schemas'];

let refreshing: Promise<boolean> | null = null;

function authorize(request: Request): Request {
  const session = loadSession();
  if (session === null) return request;
  const headers = new Headers(request.headers);
  headers.set('Authorization', `Bearer ${session.accessToken}`);
  if (session.accountId !== null) headers.set('X-Account-Id', String(session.accountId));
  return new Request(request, { headers });
}

/** One refresh at a time for every request that met the same expired token. */
function refreshOnce(): Promise<boolean> {
  refreshing ??= (async () => {
    const session = loadSession();
    if (session?.refreshToken == null) return false;
    const response = await globalThis.fetch(`${globalThis.location.origin}/api/v1/auth/refresh`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ refresh_token: session.refreshToken }),
    });
    if (!response.ok) return false;
    const tokens = (await response.json()) as Schemas['TokenOut'];
    updateSession({ accessToken: tokens.access_token, refreshToken: tokens.refresh_token });
    return true;
  })().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

export async function authorizedFetch(request: Request): Promise<Response> {
  const isSignIn = new URL(request.url, location.href).pathname.startsWith('/api/v1/auth/login');
  const again = request.clone();
  const response = await globalThis.fetch(authorize(request));
  if (response.status !== 401 || isSignIn || loadSession() === null) return response;
  if (await refreshOnce()) {
    const retried = await globalThis.fetch(authorize(again));
    if (retried.status !== 401) return retried;
  }
  endSession('expired');
  return response;
}

export const api = createClient<paths>({ baseUrl: globalThis.location.origin, fetch: authorizedFetch });
