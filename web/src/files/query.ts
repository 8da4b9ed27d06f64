import { nextDay } from '../reports/filters';
import type { FileKind, FileQuery } from './api';

export const DAY = /^\d{4}-\d{2}-\d{2}$/;
export const PAGE = 50;
export const KINDS: readonly FileKind[] = ['voicemail', 'recording', 'system', 'sound'];

/** The file base's query from the address (`?kind=recording&from=…&to=…&caller=…&page=2`). */
export function fileQuery(params: URLSearchParams): FileQuery {
  const kind = KINDS.find((k) => k === params.get('kind')) ?? 'voicemail';
  const page = Math.max(1, Math.floor(Number(params.get('page') ?? '1')) || 1);
  const query: FileQuery = { kind, limit: PAGE, offset: (page - 1) * PAGE };
  const from = params.get('from');
  const to = params.get('to');
  if (from !== null && DAY.test(from)) query.from = `${from}T00:00:00`;
  if (to !== null && DAY.test(to)) query.to = `${nextDay(to)}T00:00:00`;
  const caller = (params.get('caller') ?? '').replace(/\D/g, '');
  if (caller) query.caller = caller;
  for (const [param, field] of [
    ['employee', 'employee_id'],
    ['number', 'number_id'],
  ] as const) {
    const value = Number(params.get(param));
    if (Number.isInteger(value) && value >= 1) query[field] = value;
  }
  return query;
}

