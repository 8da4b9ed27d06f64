/**
 * A simulated call (POST /simulate) on the canvas: which operations and exits of this scenario the
 * call went through up to each step of its details, and the time the admin picked, in the account's
 * time zone.
 */
import type { GraphEdge } from './graph';

export interface SimStep {
  at: string;
  kind: string;
  text: string;
  data: Record<string, unknown>;
}

export interface Frame {
  /** the operation of this scenario the call is in at this step (null: elsewhere or not yet) */
  node: string | null;
  /** operations and edges passed so far, in order */
  nodes: string[];
  edges: string[];
}

/**
 * The path after each step. A `scenario` step (the number's rule chose it) or an `insert` step
 * (another scenario runs here) says which scenario runs; an `operation` step of this scenario lights
 * its node and the edge it was reached by: the exit the `exit` step before it named, or else the
 * edge between the two operations (a branch).
 */
export function simulationFrames(steps: readonly SimStep[], scenarioId: number, edges: readonly GraphEdge[]): Frame[] {
  const frames: Frame[] = [];
  let running: number | null = null;
  let current: string | null = null;
  let exit: string | null = null;
  const nodes: string[] = [];
  const passed: string[] = [];
  for (const step of steps) {
    const data = step.data;
    if (step.kind === 'scenario' || step.kind === 'insert') {
      running = typeof data.scenario_id === 'number' ? data.scenario_id : null;
      current = null;
      exit = null;
    } else if (step.kind === 'exit') {
      exit = typeof data.exit === 'string' ? data.exit : null;
    } else if (step.kind === 'operation' && typeof data.key === 'string') {
      const key = data.key;
      if (running === scenarioId) {
        if (current !== null) {
          const from = current;
          const edge =
            edges.find((e) => e.source === from && e.target === key && exit !== null && e.exit === exit) ??
            edges.find((e) => e.source === from && e.target === key);
          if (edge !== undefined && !passed.includes(edge.id)) passed.push(edge.id);
        }
        if (!nodes.includes(key)) nodes.push(key);
        current = key;
      } else {
        current = null;
      }
      exit = null;
    }
    frames.push({ node: running === scenarioId ? current : null, nodes: [...nodes], edges: [...passed] });
  }
  return frames;
}

function wallClock(instant: number, timeZone: string): number {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-GB', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    })
      .formatToParts(new Date(instant))
      .map((part) => [part.type, part.value]),
  );
  return Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day), Number(parts.hour), Number(parts.minute), Number(parts.second));
}

/** `2026-12-06T23:00` in `Europe/Moscow` → `2026-12-06T23:00:00+03:00` (what /simulate's `at` takes). */
export function zonedIso(local: string, timeZone: string): string {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(local);
  if (match === null) throw new RangeError(`not a local time: ${local}`);
  const [y = 0, mo = 1, d = 1, h = 0, mi = 0] = match.slice(1).map(Number);
  const wall = Date.UTC(y, mo - 1, d, h, mi);
  let offset: number;
  try {
    const guess = wallClock(wall, timeZone) - wall;
    offset = wallClock(wall - guess, timeZone) - (wall - guess);
  } catch {
    offset = 0; // an unknown zone: UTC
  }
  const minutes = Math.round(offset / 60000);
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${local.slice(0, 16)}:00${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}
