/**
 * The dashboards' state (CDR-3) as plain values: the address's parameters ↔ the API's query, the
 * bucket labels, the charts' axis. No React and no clock here (today is passed in): tested alone.
 */
import type { paths } from '../api/schema';
import { nextDay } from '../reports/filters';

export type DashboardQuery = paths['/api/v1/dashboards']['get']['parameters']['query'];
export type DashboardTab = NonNullable<DashboardQuery['tab']>;
export type Bucket = 'hour' | 'day';

export const PRESETS = ['today', 'week', 'month', 'custom'] as const;
export type Preset = (typeof PRESETS)[number];
/** the report's tabs that make sense for a dashboard; incoming first (the API's default) */
export const DASHBOARD_TABS: readonly DashboardTab[] = ['incoming', 'outgoing', 'all'];
/** days a preset covers, today included */
const PRESET_DAYS: Record<Exclude<Preset, 'custom'>, number> = { today: 1, week: 7, month: 30 };

/** What the address says (`?period=week&number=3`, or `?period=custom&from=…&to=…`). */
export interface DashboardState {
  preset: Preset;
  /** first and last day of a custom period, `YYYY-MM-DD`, in the account's time zone */
  from: string | null;
  to: string | null;
  numberId: number | null;
  tab: DashboardTab;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

export function readState(params: URLSearchParams): DashboardState {
  const day = (name: string) => {
    const value = params.get(name);
    return value !== null && DAY.test(value) ? value : null;
  };
  const number = params.get('number');
  const numberId = number !== null && /^\d{1,15}$/.test(number) && Number(number) >= 1 ? Number(number) : null;
  return {
    preset: PRESETS.find((p) => p === params.get('period')) ?? 'today',
    from: day('from'),
    to: day('to'),
    numberId,
    tab: DASHBOARD_TABS.find((tab) => tab === params.get('tab')) ?? 'incoming',
  };
}

/** `day` moved by `days` (`YYYY-MM-DD`). */
export function addDays(day: string, days: number): string {
  const [year, month, date] = day.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(year, month - 1, date + days)).toISOString().slice(0, 10);
}

/** The first and last day shown (both included): a preset counts back from `today`; a custom
 * period without both days is today's. */
export function periodDays(state: DashboardState, today: string): [string, string] {
  if (state.preset === 'custom') {
    if (state.from !== null && state.to !== null) {
      return state.from <= state.to ? [state.from, state.to] : [state.to, state.from];
    }
    return [today, today];
  }
  return [addDays(today, 1 - PRESET_DAYS[state.preset]), today];
}

/** The API's query: whole days in the account's zone, the end exclusive (the next midnight). */
export function toQuery(state: DashboardState, today: string): DashboardQuery {
  const [first, last] = periodDays(state, today);
  const query: DashboardQuery = { from: `${first}T00:00:00`, to: `${nextDay(last)}T00:00:00`, tab: state.tab };
  if (state.numberId !== null) query.number_id = state.numberId;
  return query;
}

// -- labels -------------------------------------------------------------------------------------

/**
 * A bucket's start as the API gives it (`2026-03-10T09:00:00+03:00`: the account's local time
 * with its offset) read as written, never converted to the browser's zone.
 */
export function bucketLabels(start: string, bucket: Bucket, language: string): { short: string; full: string } {
  const [date = '', time = ''] = start.split('T');
  const [year = '', month = '', day = ''] = date.split('-');
  const hour = time.slice(0, 5);
  const dayMonth = language === 'en' ? `${day}/${month}` : `${day}.${month}`;
  const full = language === 'en' ? `${day}/${month}/${year}` : `${day}.${month}.${year}`;
  return bucket === 'hour' ? { short: hour, full: `${full} ${hour}` } : { short: dayMonth, full };
}

// -- the axis -----------------------------------------------------------------------------------

/** Round ticks from 0 covering `max` (steps of 1, 2 or 5 × 10ⁿ, at most ~5 of them). */
export function ticks(max: number): number[] {
  if (!(max > 0)) return [0, 1];
  const rough = max / 4;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough) ?? 10 * power;
  // counts get whole steps: no "0.5 calls" on the axis
  const whole = Number.isInteger(max) ? Math.max(1, Math.ceil(step)) : step;
  const out = [0];
  let top = 0;
  while (top < max) {
    top = Number((out.length * whole).toPrecision(12));
    out.push(top);
  }
  return out;
}

/** Every `n`th label is shown under the bars (at most `most` of them). */
export function labelEvery(count: number, most = 12): number {
  return Math.max(1, Math.ceil(count / most));
}
