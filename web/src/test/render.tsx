import { render, type RenderResult } from '@testing-library/react';
import type { ReactElement } from 'react';
import { MemoryRouter } from 'react-router-dom';
import { Providers } from '../App';
import { makeQueryClient } from '../queryClient';
import '../i18n';

/** A screen inside the app's providers, at `path`, with a fresh query cache. */
export function renderAt(ui: ReactElement, path = '/'): RenderResult {
  const client = makeQueryClient();
  client.setDefaultOptions({ queries: { retry: false } });
  return render(
    <Providers client={client}>
      <MemoryRouter initialEntries={[path]}>{ui}</MemoryRouter>
    </Providers>,
  );
}

export type Handler = (request: Request) => Response | Promise<Response>;

export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json', ...headers },
  });
}

/** fetch answered by `routes` ("METHOD /api/v1/path" → handler); anything else fails the test. */
export function fakeServer(routes: Record<string, Handler>): Request[] {
  const seen: Request[] = [];
  globalThis.fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request = input instanceof Request ? input : new Request(input, init);
    seen.push(request.clone());
    const key = `${request.method} ${new URL(request.url).pathname}`;
    const handler = routes[key];
    if (handler === undefined) throw new TypeError(`no route for ${key}`);
    return handler(request);
  };
  return seen;
}
