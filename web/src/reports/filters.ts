/**
 * The calls report's state (CDR-1) as plain values: the address's parameters ↔ the API's query,
 * and the columns the user chose (remembered in localStorage). No React here: tested alone.
 */
import type { paths } from '../api/schema';

export type CallQuery = NonNullable<paths['/api/v1/calls']['get']['parameters']['query']>;
export type CallTab = NonNullable<CallQuery['tab']>;
export type CallStatus = NonNullable<CallQuery['status']>;

export const TABS: readonly CallTab[] = ['all', 'incoming', 'outgoing', 'blocked'];
export const STATUSES: readonly CallStatus[] = [
  'answered',
  'missed',
  'voicemail',
  'blocked',
  'failed',
  'active',
  'interrupted',
];
/** columns the API sorts by (`sort=field` / `-field`) */
export const SORTABLE = new Set(['started_at', 'caller', 'called', 'wait_seconds', 'talk_seconds', 'rating', 'status']);
export const PAGE_SIZES = [20, 50, 100] as const;

/** What the address says (`?tab=incoming&from=2026-03-01&to=2026-03-31&caller=916…`). */
export interface ReportState {
  tab: CallTab;
  /** first day, `YYYY-MM-DD`, in the account's time zone */
  from: string | null;
  /** last day shown, included (`YYYY-MM-DD`) */
  to: string | null;
  caller: string;
  numberId: number | null;
  employeeId: number | null;
  status: CallStatus | null;
  tagId: number | null;
  page: number;
  size: number;
  /** `field` or `-field`; null: the API's own order (newest first) */
  sort: string | null;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

function id(value: string | null): number | null {
  if (value === null || !/^\d{1,15}$/.test(value)) return null;
  const number = Number(value);
  return number >= 1 ? number : null;
}

function oneOf<T extends string>(value: string | null, allowed: readonly T[]): T | null {
  return allowed.find((item) => item === value) ?? null;
}

export function readState(params: URLSearchParams): ReportState {
  const day = (name: string) => {
    const value = params.get(name);
    return value !== null && DAY.test(value) ? value : null;
  };
  const size = Number(params.get('size') ?? '50');
  const sort = params.get('sort');
  return {
    tab: oneOf(params.get('tab'), TABS) ?? 'all',
    from: day('from'),
    to: day('to'),
    caller: params.get('caller') ?? '',
    numberId: id(params.get('number')),
    employeeId: id(params.get('employee')),
    status: oneOf(params.get('status'), STATUSES),
    tagId: id(params.get('tag')),
    page: Math.max(1, Math.floor(Number(params.get('page') ?? '1')) || 1),
    size: (PAGE_SIZES as readonly number[]).includes(size) ? size : 50,
    sort: sort !== null && SORTABLE.has(sort.replace(/^-/, '')) ? sort : null,
  };
}

/** The day after `day` (`YYYY-MM-DD`): the API's period end is exclusive. */
export function nextDay(day: string): string {
  const [year, month, date] = day.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(year, month - 1, date + 1)).toISOString().slice(0, 10);
}

/** The API's query of a page of the report (times without an offset: the account's zone). */
export function toQuery(state: ReportState): CallQuery {
  const query: CallQuery = {
    tab: state.tab,
    limit: state.size,
    offset: (state.page - 1) * state.size,
  };
  if (state.from !== null) query.from = `${state.from}T00:00:00`;
  if (state.to !== null) query.to = `${nextDay(state.to)}T00:00:00`;
  const digits = state.caller.replace(/\D/g, '');
  if (digits) query.caller = digits;
  if (state.numberId !== null) query.number_id = state.numberId;
  if (state.employeeId !== null) query.employee_id = state.employeeId;
  if (state.status !== null) query.status = state.status;
  if (state.tagId !== null) query.tag_id = state.tagId;
  if (state.sort !== null) query.sort = state.sort;
  return query;
}

/** Address parameters changed by a filter: the page goes back to the first. */
export function patchFor(changes: Partial<Record<string, string | number | null>>): Record<string, string | null> {
  const out: Record<string, string | null> = { page: null };
  for (const [key, value] of Object.entries(changes)) {
    out[key] = value === null || value === undefined || value === '' ? null : String(value);
  }
  return out;
}

// -- columns ------------------------------------------------------------------------------------

/** Every column of the report in its order; the names are those of the API's CSV `columns`. */
export const COLUMNS = [
  'started_at',
  'direction',
  'status',
  'caller',
  'called',
  'contact_name',
  'employee',
  'number',
  'wait_seconds',
  'talk_seconds',
  'rating',
  'tags',
  'recording',
] as const;
export type ColumnKey = (typeof COLUMNS)[number];

export const DEFAULT_COLUMNS: readonly ColumnKey[] = [
  'started_at',
  'direction',
  'status',
  'caller',
  'called',
  'employee',
  'talk_seconds',
  'recording',
];
/** what an employee may not see names of (he reads no configuration) */
export const CONFIG_COLUMNS: ReadonlySet<ColumnKey> = new Set(['number', 'tags']);

const COLUMNS_KEY = 'vpbx.calls.columns';

export function loadColumns(): ColumnKey[] {
  try {
    const raw = localStorage.getItem(COLUMNS_KEY);
    if (raw !== null) {
      const parsed: unknown = JSON.parse(raw);
      if (Array.isArray(parsed)) {
        const chosen = COLUMNS.filter((column) => parsed.includes(column));
        if (chosen.length > 0) return chosen;
      }
    }
  } catch {
    // a broken value: the defaults
  }
  return [...DEFAULT_COLUMNS];
}

export function saveColumns(columns: readonly ColumnKey[]): ColumnKey[] {
  const ordered = COLUMNS.filter((column) => columns.includes(column));
  try {
    localStorage.setItem(COLUMNS_KEY, JSON.stringify(ordered));
  } catch {
    // private mode: the choice lasts this page only
  }
  return ordered;
}

/** The CSV export's parameters: the report's filters and sort (no paging), the chosen columns. */
export function exportQuery(query: CallQuery, columns: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(query)) {
    if (key === 'limit' || key === 'offset' || value == null) continue;
    out[key] = String(value);
  }
  if (columns.length > 0) out.columns = columns.join(',');
  return out;
}

/** `125` → `2:05`, `3725` → `1:02:05` */
export function clock(seconds: number): string {
  const total = Math.max(0, Math.round(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}
