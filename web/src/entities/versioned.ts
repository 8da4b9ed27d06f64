/**
 * Entities with their version (ETag): a form remembers the ETag it was loaded with and sends it
 * back as If-Match, so a save over someone else's newer one is refused (412) instead of
 * silently overwriting it.
 */
import { ApiError, unwrap } from '../api/errors';

export interface Versioned<T> {
  data: T;
  /** the ETag the API answered, or null when it sent none */
  etag: string | null;
}

interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The data of an openapi-fetch call with the answer's ETag. */
export async function versioned<T>(call: Promise<Answer<T>>): Promise<Versioned<T>> {
  let etag: string | null = null;
  const data = await unwrap(
    call.then((answer) => {
      etag = answer.response.headers.get('ETag');
      return answer;
    }),
  );
  return { data, etag };
}

/** The headers of a save based on a loaded version. */
export function ifMatch(etag: string | null): Record<string, string> {
  return etag === null ? {} : { 'If-Match': etag };
}

/** Someone else saved the entity since it was loaded. */
export function isStale(error: unknown): boolean {
  return error instanceof ApiError && error.status === 412;
}

/** ACC-4: the places that keep an entity from being deleted (a 409 in_use). */
export function usagesOf(error: unknown): string[] | null {
  if (!(error instanceof ApiError) || error.status !== 409 || error.body === null) return null;
  return error.body.usages.length > 0 ? error.body.usages : null;
}
