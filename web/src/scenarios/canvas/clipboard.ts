/**
 * Copy and paste of a selection of operations. The copies get keys of their own (the original key
 * with _copy, _copy2…); exits between copied operations lead to the copies, exits to operations
 * outside the selection keep leading where they led (when that operation is still there).
 */
import type { Operation } from '../operations/model';
import { exitHandles, withExit, type Doc } from './graph';

export interface Clip {
  operations: Operation[];
}

export function copyOperations(doc: Doc, keys: Iterable<string>): Clip | null {
  const chosen = new Set(keys);
  const operations = doc.operations.filter((op) => chosen.has(op.key));
  return operations.length === 0 ? null : { operations: structuredClone(operations) };
}

function copyKey(key: string, taken: Set<string>): string {
  const base = `${key.slice(0, 33)}_copy`;
  if (!taken.has(base)) return base;
  let n = 2;
  while (taken.has(`${base}${n}`)) n += 1;
  return `${base}${n}`;
}

/** The document with the clip's operations added under new keys; `renamed` maps old keys to new. */
export function pasteOperations(doc: Doc, clip: Clip): { doc: Doc; renamed: Record<string, string> } {
  const taken = new Set(doc.operations.map((op) => op.key));
  const renamed: Record<string, string> = {};
  for (const op of clip.operations) {
    const key = copyKey(op.key, taken);
    taken.add(key);
    renamed[op.key] = key;
  }
  const existing = new Set(doc.operations.map((op) => op.key));
  const pasted = clip.operations.map((op) => {
    let next: Operation = { ...structuredClone(op), key: renamed[op.key] ?? op.key };
    for (const handle of exitHandles(op)) {
      if (handle.target === null) continue;
      const target = renamed[handle.target] ?? (existing.has(handle.target) ? handle.target : null);
      if (target !== handle.target) next = withExit(next, handle.id, target);
    }
    return next;
  });
  const operations = [...doc.operations, ...pasted];
  return { doc: { entry: doc.entry ?? operations[0]?.key ?? null, operations }, renamed };
}
