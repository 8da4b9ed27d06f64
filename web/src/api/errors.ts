import type { TFunction } from 'i18next';
import type { Schemas } from './client';

export type FieldError = Schemas['FieldError'];
export type ErrorBody = Schemas['ErrorBody'];

/** An answer of the API that is not a success: status and the API's error body. */
export class ApiError extends Error {
  readonly status: number;
  readonly body: ErrorBody | null;
  /** seconds, from Retry-After (a throttled sign-in, a busy database) */
  readonly retryAfter: number | null;

  constructor(status: number, body: unknown, retryAfter: string | null = null) {
    const parsed = isErrorBody(body) ? body : null;
    super(parsed?.message ?? `HTTP ${status}`);
    this.status = status;
    this.body = parsed;
    const seconds = retryAfter === null ? NaN : Number(retryAfter);
    this.retryAfter = Number.isFinite(seconds) ? seconds : null;
  }
}

/** The server could not be reached at all (down, restarting, no network). */
export class NetworkError extends Error {}

function isErrorBody(value: unknown): value is ErrorBody {
  return typeof value === 'object' && value !== null && 'error_id' in value;
}

interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The data of an openapi-fetch call, or an ApiError / NetworkError thrown. */
export async function unwrap<T>(call: Promise<Answer<T>>): Promise<T> {
  let answer: Answer<T>;
  try {
    answer = await call;
  } catch (error) {
    if (error instanceof ApiError) throw error;
    throw new NetworkError(error instanceof Error ? error.message : String(error));
  }
  const { response } = answer;
  if (!response.ok) throw new ApiError(response.status, answer.error, response.headers.get('Retry-After'));
  return answer.data as T;
}

/** Whether a failed query is worth repeating by itself (not a refusal of the request). */
export function isRetryable(error: unknown): boolean {
  if (error instanceof NetworkError) return true;
  return error instanceof ApiError && (error.status >= 500 || error.status === 429);
}

const CYRILLIC = /[а-яё]/i;

/**
 * One field error in the user's language: a known error_id is translated; a rule written in both
 * languages ("english / русский", as the domain writes them) gives the matching half; anything
 * else is shown as the API wrote it.
 */
export function describeFieldError(error: FieldError, t: TFunction, language: string): string {
  const key = `errors.field.${error.error_id}`;
  const known = t(key, { defaultValue: '' });
  if (known !== '') return known;
  const halves = error.rule.split(' / ');
  if (halves.length >= 2) {
    const russian = halves.find((half) => CYRILLIC.test(half));
    const english = halves.find((half) => !CYRILLIC.test(half));
    const chosen = language === 'ru' ? russian : english;
    if (chosen !== undefined) return chosen;
  }
  return error.rule;
}

/** "phones.0.number" → ['phones', 0, 'number'], the name path of an antd Form field. */
export function fieldPath(field: string): (string | number)[] {
  return field.split('.').map((part) => (/^\d+$/.test(part) ? Number(part) : part));
}
