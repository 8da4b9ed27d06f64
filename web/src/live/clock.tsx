import { useSyncExternalStore } from 'react';
import { elapsed } from './reducer';

/**
 * One browser clock for every ticking figure of the live view, in Unix seconds, once a second.
 * Only the cells that show a duration subscribe: a page of 300 calls re-renders 300 spans a
 * second, not its whole table (which took Chromium seconds per tick at 300 rows).
 */
const listeners = new Set<() => void>();
let now = Date.now() / 1000;
let timer: ReturnType<typeof setInterval> | undefined;

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  if (timer === undefined) {
    now = Date.now() / 1000;
    timer = setInterval(() => {
      now = Date.now() / 1000;
      for (const notify of listeners) notify();
    }, 1000);
  }
  return () => {
    listeners.delete(listener);
    if (listeners.size === 0) {
      clearInterval(timer);
      timer = undefined;
    }
  };
}

function useNow(): number {
  return useSyncExternalStore(subscribe, () => now);
}

/** The time since `since` (Unix seconds), ticking. */
export function Since({ since }: { since: number }) {
  return <span data-testid="duration">{elapsed(since, useNow())}</span>;
}

/** The time left until `until` (Unix seconds), ticking. */
export function Until({ until }: { until: number }) {
  return <>{elapsed(useNow(), until)}</>;
}
