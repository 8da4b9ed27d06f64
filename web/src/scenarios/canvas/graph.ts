/**
 * A scenario as a graph, and the canvas's edits as pure functions of the scenario document.
 *
 * The document (entry + the API's operation objects) is the only state that is saved: a node is an
 * operation (its id is the operation's key), an edge is a linked exit (a named exit in `exits`, or
 * a branch's `target`: a CRM code, a region, a segment). Every edit returns a new document and
 * touches only what it changes, so a scenario loaded and saved without edits sends back exactly
 * what was loaded. Node positions are not part of it (see docs/decisions.md).
 */
import { EXITS, newOperation, type Kind, type Operation } from '../operations/model';

export interface Doc {
  entry: string | null;
  operations: Operation[];
}

/** A place an edge leaves from: a named exit or one branch of a branch list. */
export interface ExitHandle {
  /** the React Flow handle id: `exit:<name>`, `codes:<i>` or `branches:<i>` */
  id: string;
  /** the exit's name as the API and the linter name it (`1`, `timeout`, `code 3`, a region…) */
  exit: string;
  target: string | null;
}

export interface GraphEdge {
  id: string;
  source: string;
  target: string;
  sourceHandle: string;
  exit: string;
}

/** The branch list of an operation, if its kind has one. */
function branchesOf(op: Operation): { field: 'codes' | 'branches'; items: { target?: string | null }[]; name: (index: number) => string } | null {
  switch (op.kind) {
    case 'interactive':
      return { field: 'codes', items: op.codes, name: (i) => `code ${op.codes[i]?.code ?? ''}` };
    case 'region':
      return { field: 'branches', items: op.branches, name: (i) => op.branches[i]?.region || `#${i + 1}` };
    case 'segment':
      return { field: 'branches', items: op.branches, name: (i) => `segment ${op.branches[i]?.segment_id ?? ''}` };
    default:
      return null;
  }
}

/** Every place an edge may leave the operation from, in the order the node shows them. */
export function exitHandles(op: Operation): ExitHandle[] {
  const branches = branchesOf(op);
  const fromBranches: ExitHandle[] =
    branches === null ? [] : branches.items.map((item, index) => ({ id: `${branches.field}:${index}`, exit: branches.name(index), target: item.target ?? null }));
  const named = EXITS[op.kind].map((name) => ({ id: `exit:${name}`, exit: name, target: op.exits[name] ?? null }));
  return [...fromBranches, ...named];
}

/** The edges of the document: one per linked exit whose target exists (a dangling one has none). */
export function edgesOf(doc: Doc): GraphEdge[] {
  const keys = new Set(doc.operations.map((op) => op.key));
  const out: GraphEdge[] = [];
  for (const op of doc.operations) {
    for (const handle of exitHandles(op)) {
      if (handle.target === null || !keys.has(handle.target)) continue;
      out.push({ id: edgeId(op.key, handle.id), source: op.key, target: handle.target, sourceHandle: handle.id, exit: handle.exit });
    }
  }
  return out;
}

export const edgeId = (source: string, handle: string) => `${source}→${handle}`;

/** The operation with one exit (named or branch) pointed at `target`; null unlinks it. */
export function withExit(op: Operation, handle: string, target: string | null): Operation {
  const [type, name] = splitHandle(handle);
  if (type === 'exit') {
    if (!EXITS[op.kind].includes(name)) return op;
    const exits = target === null ? Object.fromEntries(Object.entries(op.exits).filter(([exit]) => exit !== name)) : { ...op.exits, [name]: target };
    return { ...op, exits };
  }
  const branches = branchesOf(op);
  const index = Number(name);
  if (branches === null || branches.field !== type || !(index >= 0 && index < branches.items.length)) return op;
  const items = branches.items.map((item, i) => (i === index ? { ...item, target } : item));
  return { ...op, [branches.field]: items };
}

function splitHandle(handle: string): [string, string] {
  const at = handle.indexOf(':');
  return at < 0 ? ['exit', handle] : [handle.slice(0, at), handle.slice(at + 1)];
}

/** Link (or, with null, unlink) the exit `handle` of operation `source`. */
export function setExit(doc: Doc, source: string, handle: string, target: string | null): Doc {
  const index = doc.operations.findIndex((op) => op.key === source);
  if (index < 0) return doc;
  const op = doc.operations[index];
  if (op === undefined) return doc;
  const next = withExit(op, handle, target);
  if (next === op) return doc;
  return { ...doc, operations: doc.operations.map((item, i) => (i === index ? next : item)) };
}

/** The operation with every exit that leads to one of `keys` unlinked (or renamed by `rename`). */
function retarget(op: Operation, change: (target: string) => string | null): Operation {
  let next = op;
  for (const handle of exitHandles(op)) {
    if (handle.target === null) continue;
    const target = change(handle.target);
    if (target !== handle.target) next = withExit(next, handle.id, target);
  }
  return next;
}

/** Delete operations: the exits that led to them are unlinked; the entry moves to the first one left. */
export function removeOperations(doc: Doc, keys: Iterable<string>): Doc {
  const gone = new Set(keys);
  if (gone.size === 0) return doc;
  const operations = doc.operations.filter((op) => !gone.has(op.key)).map((op) => retarget(op, (target) => (gone.has(target) ? null : target)));
  const entry = doc.entry !== null && !gone.has(doc.entry) ? doc.entry : (operations[0]?.key ?? null);
  return { entry, operations };
}

/** A free key for a new operation of `kind`: the kind's name, then kind_2, kind_3… */
export function kindKey(kind: Kind, taken: Iterable<string>): string {
  const used = new Set(taken);
  if (!used.has(kind)) return kind;
  let n = 2;
  while (used.has(`${kind}_${n}`)) n += 1;
  return `${kind}_${n}`;
}

/** Add an operation of `kind` with the API's defaults; the first one of a scenario becomes its entry. */
export function addOperation(doc: Doc, kind: Kind): { doc: Doc; key: string } {
  const key = kindKey(
    kind,
    doc.operations.map((op) => op.key),
  );
  const operations = [...doc.operations, newOperation(kind, key)];
  return { doc: { entry: doc.entry ?? key, operations }, key };
}

/**
 * Replace the operation at `index` (the side panel's form changed it). When its key changes to one
 * no other operation has, the exits that led to it and the entry follow the new key.
 */
export function replaceOperation(doc: Doc, index: number, next: Operation): Doc {
  const previous = doc.operations[index];
  if (previous === undefined) return doc;
  const old = previous.key;
  const renamed =
    next.key !== old &&
    doc.operations.filter((op) => op.key === old).length === 1 &&
    !doc.operations.some((op, i) => i !== index && op.key === next.key);
  const operations = doc.operations.map((op, i) => {
    const item = i === index ? next : op;
    return renamed ? retarget(item, (target) => (target === old ? next.key : target)) : item;
  });
  return { entry: renamed && doc.entry === old ? next.key : doc.entry, operations };
}

/** The exit of `op` a lint warning is about (its handle id), when it concerns one exit. */
export function lintHandle(op: Operation, warning: { code: string; path: readonly string[] }): string | null {
  const byCode: Record<string, string> = {
    menu_no_timeout: 'exit:timeout',
    menu_no_invalid: 'exit:invalid',
    forward_no_fallback: 'exit:no_answer',
    extension_no_failed: 'exit:failed',
    extension_no_invalid: 'exit:invalid',
    manager_no_failed: 'exit:failed',
    region_no_others: 'exit:others',
    segment_no_segment: 'exit:no_segment',
    segment_no_others: 'exit:others',
    ivx_no_fallback: 'exit:fallback',
    ends_after_message: 'exit:next',
  };
  const known = byCode[warning.code];
  if (known !== undefined) return known;
  // the others name the exit by its label, the last step of the warning's path
  const label = warning.path[warning.path.length - 1] ?? '';
  const handles = exitHandles(op);
  switch (warning.code) {
    case 'auth_unlinked':
      return label === 'yes' || label === 'no' ? `exit:${label}` : null;
    case 'visit_unlinked':
      return label === 'первичное' ? 'exit:first' : label === 'повторное' ? 'exit:repeat' : null;
    case 'ivx_code_unlinked':
      return handles.find((h) => h.id.startsWith('codes:') && `код ${h.exit.slice('code '.length)}` === label)?.id ?? null;
    case 'region_branch_unlinked':
      return handles.find((h) => h.id.startsWith('branches:') && h.exit === label)?.id ?? null;
    case 'segment_branch_unlinked':
      return handles.find((h) => h.id.startsWith('branches:') && `сегмент #${h.exit.slice('segment '.length)}` === label)?.id ?? null;
    case 'dangling_exit': {
      const key = /^клавиша (.)$/.exec(label)?.[1];
      if (key !== undefined) return `exit:${key}`;
      const named: Record<string, string> = {
        'время ожидания истекло': 'timeout',
        'некорректный ввод': 'invalid',
        'ввод внутреннего номера': 'extension_input',
        'после переадресации': 'no_answer',
        'переадресация не удалась': 'failed',
        'номер введен неверно': 'invalid',
        'запасной выход': 'fallback',
        первичное: 'first',
        повторное: 'repeat',
        остальные: 'others',
        'без сегмента': 'no_segment',
      };
      if (label in named) return `exit:${named[label]}`;
      if (EXITS[op.kind].includes(label)) return `exit:${label}`;
      return handles.find((h) => !h.id.startsWith('exit:') && (h.exit === label || `код ${h.exit.slice(5)}` === label || `сегмент #${h.exit.slice(8)}` === label))?.id ?? null;
    }
    default:
      return null;
  }
}

/**
 * The edges a lint warning runs along: an endless loop names its operations in order (its path),
 * and each step of it is an edge of the drawing (the first one found between the two operations).
 */
export function lintEdges(warnings: readonly { code: string; path: readonly string[] }[], edges: readonly GraphEdge[]): Set<string> {
  const found = new Set<string>();
  for (const warning of warnings) {
    if (warning.code !== 'endless_loop') continue;
    for (let i = 0; i + 1 < warning.path.length; i += 1) {
      const edge = edges.find((e) => e.source === warning.path[i] && e.target === warning.path[i + 1]);
      if (edge !== undefined) found.add(edge.id);
    }
  }
  return found;
}
