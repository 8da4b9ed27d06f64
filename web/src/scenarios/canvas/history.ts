/**
 * Undo/redo of the canvas: snapshots of the scenario document. Edits that carry the same tag one
 * after another (typing in one field of the side panel) make one step, not one per key pressed.
 */
export interface History<T> {
  past: T[];
  present: T;
  future: T[];
  /** the tag of the last edit (null: the next edit is a step of its own) */
  tag: string | null;
}

export const LIMIT = 200;

export function start<T>(present: T): History<T> {
  return { past: [], present, future: [], tag: null };
}

/** A new present; the redo steps are gone. */
export function push<T>(history: History<T>, next: T, tag: string | null = null): History<T> {
  if (next === history.present) return history;
  if (tag !== null && tag === history.tag) return { ...history, present: next, future: [] };
  const past = [...history.past, history.present];
  return { past: past.length > LIMIT ? past.slice(past.length - LIMIT) : past, present: next, future: [], tag };
}

export function undo<T>(history: History<T>): History<T> {
  const previous = history.past[history.past.length - 1];
  if (previous === undefined) return history;
  return { past: history.past.slice(0, -1), present: previous, future: [history.present, ...history.future], tag: null };
}

export function redo<T>(history: History<T>): History<T> {
  const [next, ...rest] = history.future;
  if (next === undefined) return history;
  return { past: [...history.past, history.present], present: next, future: rest, tag: null };
}

export const canUndo = <T>(history: History<T>) => history.past.length > 0;
export const canRedo = <T>(history: History<T>) => history.future.length > 0;
