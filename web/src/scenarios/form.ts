/** A scenario's operations as form values and back: structured fields per kind, the rest JSON. */
import type { Operation, Scenario, ScenarioOut } from './api';

export type Kind = Operation['kind'];
export const KINDS: Kind[] = [
  'forward',
  'menu',
  'info',
  'voicemail',
  'extension',
  'personal_manager',
  'auth',
  'insert',
  'interactive',
  'visit',
  'region',
  'segment',
];

const MENU_KEYS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '0', '*', '#'];
/** The named exits of each kind (the domain's EXIT_NAMES); branch lists stay in the JSON. */
export const EXITS: Record<Kind, readonly string[]> = {
  auth: ['yes', 'no'],
  voicemail: ['next'],
  info: ['next'],
  menu: [...MENU_KEYS, 'timeout', 'invalid', 'extension_input'],
  forward: ['no_answer'],
  extension: ['failed', 'invalid'],
  personal_manager: ['failed'],
  insert: [],
  interactive: ['fallback'],
  visit: ['first', 'repeat'],
  region: ['others'],
  segment: ['no_segment', 'others'],
};

export interface OpValues {
  key: string;
  kind: Kind;
  title: string;
  exits: Record<string, string | undefined>;
  group_ids: number[];
  employee_ids: number[];
  numbers: string;
  strategy: string;
  text: string;
  emails: string;
  prompt_text: string;
  timeout: number;
  code: string;
  other: string;
}

export interface Values {
  name: string;
  entry: string | undefined;
  operations: OpValues[];
}

/** The fields the form edits itself, per kind (the rest goes to "other"). */
const OWN: Record<string, readonly string[]> = {
  forward: ['targets', 'strategy'],
  info: ['text'],
  voicemail: ['emails'],
  menu: ['prompt_text', 'timeout'],
  auth: ['code'],
};
const COMMON = ['key', 'kind', 'title', 'exits'];

export function newOperation(key: string, kind: Kind = 'forward'): OpValues {
  return {
    key,
    kind,
    title: '',
    exits: {},
    group_ids: [],
    employee_ids: [],
    numbers: '',
    strategy: 'priority',
    text: '',
    emails: '',
    prompt_text: '',
    timeout: 5,
    code: '',
    other: '',
  };
}

type Loose = Record<string, unknown>;

export function opValues(op: Operation): OpValues {
  const raw = op as unknown as Loose;
  const own = new Set([...COMMON, ...(OWN[op.kind] ?? [])]);
  const rest = Object.fromEntries(Object.entries(raw).filter(([name]) => !own.has(name)));
  const targets = (raw.targets ?? []) as Loose[];
  const values = newOperation(op.key, op.kind);
  return {
    ...values,
    title: op.title,
    exits: Object.fromEntries(Object.entries(op.exits).map(([name, target]) => [name, target ?? undefined])),
    group_ids: targets.filter((t) => t.group_id != null).map((t) => t.group_id as number),
    employee_ids: targets.filter((t) => t.employee_id != null && t.phone_id == null).map((t) => t.employee_id as number),
    numbers: targets
      .filter((t) => t.number != null)
      .map((t) => t.number as string)
      .join(', '),
    strategy: typeof raw.strategy === 'string' ? raw.strategy : values.strategy,
    text: typeof raw.text === 'string' ? raw.text : '',
    emails: Array.isArray(raw.emails) ? (raw.emails as string[]).join(', ') : '',
    prompt_text: typeof raw.prompt_text === 'string' ? raw.prompt_text : '',
    timeout: typeof raw.timeout === 'number' ? raw.timeout : values.timeout,
    code: typeof raw.code === 'string' ? raw.code : '',
    other: Object.keys(rest).length > 0 ? JSON.stringify(rest, null, 2) : '',
  };
}

export function toValues(data: ScenarioOut): Values {
  return { name: data.name, entry: data.entry ?? undefined, operations: data.operations.map(opValues) };
}

/** A JSON object typed in "other", or the parse error in words. */
export function parseOther(text: string): Loose | string {
  if (text.trim() === '') return {};
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not an object';
    return value as Loose;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

const list = (text: string) =>
  text
    .split(/[,\s]+/)
    .map((part) => part.trim())
    .filter(Boolean);

export function toOperation(values: OpValues): Operation {
  const other = parseOther(values.other);
  const op: Loose = { ...(typeof other === 'string' ? {} : other), key: values.key.trim(), kind: values.kind };
  if (values.title) op.title = values.title;
  const allowed = new Set(EXITS[values.kind]);
  const exits = Object.entries(values.exits).filter(([name, target]) => allowed.has(name) && target);
  const keptExits = (op.exits ?? {}) as Loose;
  op.exits = { ...keptExits, ...Object.fromEntries(exits) };
  if (values.kind === 'forward') {
    op.targets = [
      ...values.group_ids.map((id) => ({ group_id: id })),
      ...values.employee_ids.map((id) => ({ employee_id: id })),
      ...list(values.numbers).map((number) => ({ number })),
    ];
    op.strategy = values.strategy;
  }
  if (values.kind === 'info' && values.text) op.text = values.text;
  if (values.kind === 'voicemail') op.emails = list(values.emails);
  if (values.kind === 'menu') {
    if (values.prompt_text) op.prompt_text = values.prompt_text;
    op.timeout = values.timeout;
  }
  if (values.kind === 'auth') op.code = values.code;
  return op as unknown as Operation;
}

/** The form as the API's scenario, or null while an "other" field is not JSON. */
export function toDocument(values: Partial<Values>): Scenario | null {
  const operations = values.operations ?? [];
  if (operations.some((op) => typeof parseOther(op.other) === 'string')) return null;
  return {
    name: values.name ?? '',
    entry: values.entry ?? operations[0]?.key ?? null,
    operations: operations.map(toOperation),
  };
}
