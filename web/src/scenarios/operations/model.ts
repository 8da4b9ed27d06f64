/**
 * The operations of a scenario as the API types them (pydantic's discriminated union on `kind`):
 * their kinds, named exits and defaults. The form edits these objects directly, so whatever the
 * API sent comes back unchanged unless the user changes it.
 */
import type { Schemas } from '../../api/client';

export type Operation = Schemas['Scenario']['operations'][number];
export type Kind = Operation['kind'];
export type Op<K extends Kind> = Extract<Operation, { kind: K }>;
export type Strategy = Schemas['Strategy'];
export type IvxParam = Op<'interactive'>['params'][number];

export const KINDS: readonly Kind[] = [
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

export const MENU_KEYS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '0', '*', '#'] as const;

/** The named exits of each kind (the domain's EXIT_NAMES); branch lists are fields of their own. */
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

export const STRATEGIES: readonly Strategy[] = ['support', 'sales', 'priority', 'in_turn', 'fastest', 'custom'];
export const IVX_PARAMS: readonly IvxParam[] = ['cdr_id', 'start_time', 'input_result', 'numa', 'numb'];

/** The fields each kind has besides key, kind, title and exits (the API's model, in its order). */
export const FIELDS: Record<Kind, readonly string[]> = {
  auth: ['prompt_file_id', 'code', 'inter_digit_timeout'],
  voicemail: ['prompt_file_id', 'emails', 'max_seconds'],
  info: ['file_ids', 'text'],
  menu: ['prompt_file_id', 'prompt_text', 'timeout', 'hash_returns'],
  forward: [
    'ringback_file_ids',
    'targets',
    'strategy',
    'distribution',
    'queue_message_file_id',
    'operator_message_file_id',
    'operator_message_text',
    'tag_after_call',
    'rate_after_call',
    'record',
  ],
  extension: ['prompt_file_id', 'ringback_file_ids', 'inter_digit_timeout', 'from_menu'],
  personal_manager: ['ringback_file_ids', 'ring_timeout'],
  insert: ['scenario_id'],
  interactive: ['url', 'method', 'params', 'dtmf_length', 'prompt_file_id', 'timeout', 'codes'],
  visit: ['interval_hours', 'count_all_communications'],
  region: ['branches'],
  segment: ['branches'],
};

export const DISTRIBUTION: Op<'forward'>['distribution'] = {
  add_line_every: 5,
  initial_lines: 5,
  percentage: false,
  queue: false,
  wrapup_seconds: 0,
  simultaneous_lines: null,
  ring_timeout: null,
};

/**
 * A new operation of `kind` with the API's defaults. Fields the API requires without a default
 * (a forward's targets, an authorization's code, a CRM URL, the inserted scenario) start empty:
 * the form asks for them before saving.
 */
export function newOperation(kind: Kind, key: string, title = '', exits: Record<string, string | null> = {}): Operation {
  const common = { key, title, exits };
  switch (kind) {
    case 'auth':
      return { ...common, kind, prompt_file_id: null, code: '', inter_digit_timeout: 5 };
    case 'voicemail':
      return { ...common, kind, prompt_file_id: null, emails: [], max_seconds: 120 };
    case 'info':
      return { ...common, kind, file_ids: [], text: '' };
    case 'menu':
      return { ...common, kind, prompt_file_id: null, prompt_text: '', timeout: 5, hash_returns: false };
    case 'forward':
      return {
        ...common,
        kind,
        ringback_file_ids: [],
        targets: [],
        strategy: 'priority',
        distribution: { ...DISTRIBUTION },
        queue_message_file_id: null,
        operator_message_file_id: null,
        operator_message_text: '',
        tag_after_call: false,
        rate_after_call: false,
        record: false,
      };
    case 'extension':
      return { ...common, kind, prompt_file_id: null, ringback_file_ids: [], inter_digit_timeout: 5, from_menu: false };
    case 'personal_manager':
      return { ...common, kind, ringback_file_ids: [], ring_timeout: 30 };
    case 'insert':
      // the scenario to insert has no default: 0 stands for "not chosen yet" (the form refuses it)
      return { ...common, kind, scenario_id: 0 };
    case 'interactive':
      return {
        ...common,
        kind,
        url: '',
        method: 'GET',
        params: ['cdr_id', 'numa', 'numb'],
        dtmf_length: null,
        prompt_file_id: null,
        timeout: 5,
        codes: [],
      };
    case 'visit':
      return { ...common, kind, interval_hours: 24 * 30, count_all_communications: false };
    case 'region':
      return { ...common, kind, branches: [] };
    case 'segment':
      return { ...common, kind, branches: [] };
  }
}

/** The operation as another kind: key, title and the exits both kinds have are kept. */
export function changeKind(op: Operation, kind: Kind): Operation {
  if (op.kind === kind) return op;
  const allowed = new Set(EXITS[kind]);
  const exits = Object.fromEntries(Object.entries(op.exits).filter(([name]) => allowed.has(name)));
  return newOperation(kind, op.key, op.title, exits);
}

/** A key not used by the scenario's operations yet (op1, op2…). */
export function freeKey(operations: readonly Operation[]): string {
  const taken = new Set(operations.map((op) => op.key));
  let n = operations.length + 1;
  while (taken.has(`op${n}`)) n += 1;
  return `op${n}`;
}

/** A required number as the API types it; a cleared input stays empty (the form says it is needed). */
export const requiredNumber = (value: number | null) => value as number;

export type Target = Op<'forward'>['targets'][number];
export type TargetKind = 'group' | 'employee' | 'number';

/** What a target row is; a new row knows it by the one field it has. */
export function targetKind(target: Target): TargetKind {
  if (target.number !== null && target.number !== undefined) return 'number';
  if (target.employee_id !== null && target.employee_id !== undefined) return 'employee';
  if (target.group_id !== null && target.group_id !== undefined) return 'group';
  return 'employee_id' in target && !('group_id' in target) ? 'employee' : 'group';
}

export const EMPTY_TARGET: Record<TargetKind, Target> = {
  group: { group_id: null },
  employee: { employee_id: null },
  number: { number: '' },
};

