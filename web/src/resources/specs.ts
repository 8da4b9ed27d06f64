/**
 * The remaining configuration screens, each a few lines: which fields, which columns, how the
 * list is searched and sorted. Labels are resources.<name>.<field> (dots as "_") in i18n.ts;
 * the rules mirror the domain's (the API checks them again and its 422 lands on the field).
 */
import type { Doc, FieldSpec, ResourceName, ResourceSpec } from './spec';

const IP_OR_NET = /^[0-9a-fA-F.:]+(\/\d{1,3})?$/;
const CALLER_PATTERN = /^\+?[\d\s()-]{1,20}\*?$/;
const HOST = /^[A-Za-z0-9.\-:[\]]+$/;
const LOGIN = /^[A-Za-z0-9._@-]+$/;

const PLACES = ['any', 'number', 'scenario', 'transfer'] as const;
const METHODS = ['employee', 'group', 'number', 'scenario', 'tried', 'last_phase', 'campaign'] as const;
const SOURCES = ['all', 'site', 'segment', 'ad_platform', 'custom', 'standard'] as const;
const TALK_ACTIONS = [
  'run_scenario',
  'recorder',
  'call_trainer',
  'tag',
  'transfer',
  'assign_manager',
  'save_caller_id',
] as const;
const EVENTS = ['call_started', 'call_answered', 'call_ended', 'call_missed', 'voicemail', 'call_rated'] as const;

const ADMINS = ['operator', 'admin'] as const;

export const contacts: ResourceSpec<'contacts'> = {
  name: 'contacts',
  fields: [
    { name: 'last_name', kind: 'text', required: true, max: 200 },
    { name: 'first_name', kind: 'text', max: 200 },
    { name: 'phones', kind: 'list', phones: true, span: 24 },
    { name: 'email', kind: 'email' },
    { name: 'organization', kind: 'text', max: 300 },
    { name: 'group_ids', kind: 'refs', target: 'contact-groups' },
    { name: 'manager_id', kind: 'ref', target: 'employees', help: true },
  ],
  columns: ['last_name', 'first_name', 'phones', 'organization', 'manager_id'],
  sortable: ['last_name', 'first_name', 'organization'],
  defaultSort: 'last_name',
  searchField: 'last_name',
  nameOf: (row) => [row.last_name, row.first_name].filter(Boolean).join(' '),
  empty: { phones: [], group_ids: [] },
};

export const contactGroups: ResourceSpec<'contact-groups'> = {
  name: 'contact-groups',
  fields: [{ name: 'name', kind: 'text', required: true, max: 200 }],
  columns: ['name'],
  sortable: ['name'],
  defaultSort: 'name',
  searchField: 'name',
  nameOf: (row) => row.name,
  empty: {},
};

export const blacklist: ResourceSpec<'blacklist'> = {
  name: 'blacklist',
  fields: [
    { name: 'number', kind: 'phone', required: true },
    { name: 'comment', kind: 'text', max: 500 },
  ],
  columns: ['number', 'comment'],
  sortable: ['number'],
  defaultSort: 'number',
  searchField: 'number',
  nameOf: (row) => row.number,
  empty: {},
};

export const callerLists: ResourceSpec<'caller-lists'> = {
  name: 'caller-lists',
  fields: [
    { name: 'name', kind: 'text', required: true, max: 200 },
    { name: 'numbers', kind: 'list', pattern: CALLER_PATTERN, rule: 'callerPattern', span: 24, help: true },
  ],
  columns: ['name', 'numbers'],
  sortable: ['name'],
  defaultSort: 'name',
  searchField: 'name',
  nameOf: (row) => row.name,
  empty: { numbers: [] },
};

export const talkOptions: ResourceSpec<'talk-options'> = {
  name: 'talk-options',
  fields: [
    { name: 'key', kind: 'text', required: true, pattern: /^[0-9*#]$/, rule: 'talkKey', span: 6 },
    { name: 'action', kind: 'enum', options: TALK_ACTIONS, enumKey: 'talkAction', required: true },
    { name: 'scenario_id', kind: 'ref', target: 'scenarios', required: true, when: (v) => v.action === 'run_scenario' },
    { name: 'tag_id', kind: 'ref', target: 'tags', when: (v) => v.action === 'tag' },
    {
      name: 'contact_group_id',
      kind: 'ref',
      target: 'contact-groups',
      when: (v) => v.action === 'save_caller_id' && v.to_blacklist !== true,
    },
    { name: 'to_blacklist', kind: 'switch', when: (v) => v.action === 'save_caller_id' },
  ],
  columns: ['key', 'action'],
  sortable: ['key', 'action'],
  defaultSort: 'key',
  searchField: 'key',
  nameOf: (row) => row.key,
  empty: { to_blacklist: false },
};

export const trunks: ResourceSpec<'trunks'> = {
  name: 'trunks',
  fields: [
    { name: 'name', kind: 'text', required: true, max: 200 },
    { name: 'host', kind: 'text', required: true, max: 255, pattern: HOST, rule: 'host' },
    { name: 'port', kind: 'number', min: 1, max: 65535, span: 6 },
    { name: 'transport', kind: 'enum', options: ['udp', 'tcp'], enumKey: 'transport', span: 6 },
    { name: 'allow_ips', kind: 'list', pattern: IP_OR_NET, rule: 'ip', span: 24, help: true },
    { name: 'username', kind: 'text', max: 200 },
    { name: 'password', kind: 'secret' },
    { name: 'registration', kind: 'switch', span: 8 },
    { name: 'outbound', kind: 'switch', span: 8 },
    { name: 'enabled', kind: 'switch', span: 8 },
  ],
  columns: ['name', 'host', 'port', 'transport', 'enabled'],
  sortable: ['name', 'host', 'port'],
  defaultSort: 'name',
  searchField: 'name',
  nameOf: (row) => row.name,
  empty: { port: 5060, transport: 'udp', allow_ips: [], registration: false, outbound: true, enabled: true },
};

export const cidRules: ResourceSpec<'cid-rules'> = {
  name: 'cid-rules',
  fields: [
    { name: 'action', kind: 'enum', options: ['allow', 'deny'], enumKey: 'cidAction', required: true },
    { name: 'position', kind: 'number', min: 0, max: 1_000_000, span: 6, help: true },
    { name: 'number_ids', kind: 'refs', target: 'numbers', help: true },
    { name: 'employee_ids', kind: 'refs', target: 'employees', help: true },
    { name: 'comment', kind: 'text', max: 500, span: 24 },
  ],
  columns: ['comment', 'action', 'number_ids', 'employee_ids'],
  sortable: ['position'],
  defaultSort: 'position',
  searchField: 'action',
  nameOf: (row) => row.comment || `#${row.id}`,
  empty: { action: 'allow', number_ids: [], employee_ids: [] },
  ordered: true,
};

export const sipLines: ResourceSpec<'sip-lines'> = {
  name: 'sip-lines',
  fields: [
    { name: 'mode', kind: 'enum', options: ['in_out', 'in_only'], enumKey: 'lineMode' },
    {
      name: 'caller_id_mode',
      kind: 'enum',
      options: ['fixed', 'fixed_per_subscriber', 'random', 'regional_random', 'regional_fixed'],
      enumKey: 'callerIdMode',
      help: true,
    },
    { name: 'caller_id_number_id', kind: 'ref', target: 'numbers' },
    { name: 'encryption', kind: 'enum', options: ['none', 'srtp'], enumKey: 'encryption' },
    { name: 'allowed_addresses', kind: 'list', pattern: IP_OR_NET, rule: 'ip', span: 24, help: true },
    { name: 'comment', kind: 'text', max: 500, span: 24 },
  ],
  columns: ['login', 'mode', 'caller_id_mode', 'caller_id_number_id', 'comment'],
  sortable: ['login', 'mode', 'caller_id_mode'],
  defaultSort: 'login',
  searchField: 'login',
  nameOf: (row) => row.login,
  empty: {},
  // a line is made with its employee (the employee's form): no "new" here
  creators: [],
  readonlyOut: ['login', 'password'],
};

// CB-1/CB-4 «Как перезванивать», the whisper and the schedules: alike in both kinds of rules
const HOW: FieldSpec<Doc<'callback-rules'>>[] = [
  { name: 'how.method', kind: 'enum', options: METHODS, enumKey: 'callbackMethod', required: true },
  { name: 'how.employee_id', kind: 'ref', target: 'employees', required: true, when: (v) => v.how?.method === 'employee' },
  { name: 'how.group_id', kind: 'ref', target: 'groups', required: true, when: (v) => v.how?.method === 'group' },
  { name: 'how.number', kind: 'phone', required: true, when: (v) => v.how?.method === 'number' },
  { name: 'how.scenario_id', kind: 'ref', target: 'scenarios', required: true, when: (v) => v.how?.method === 'scenario' },
  { name: 'whisper.text', kind: 'text', max: 2000, span: 24, help: true },
  { name: 'whisper.file_id', kind: 'ref', target: 'files' },
  { name: 'whisper.call_data', kind: 'switch' },
  { name: 'call_schedule_id', kind: 'ref', target: 'schedules', help: true },
  { name: 'rule_schedule_id', kind: 'ref', target: 'schedules', help: true },
  { name: 'max_concurrent', kind: 'number', min: 1, max: 5, span: 6 },
];
const howFields = <D extends Doc<'callback-rules'> | Doc<'lead-callback-rules'>>() => HOW as unknown as FieldSpec<D>[];

export const callbackRules: ResourceSpec<'callback-rules'> = {
  name: 'callback-rules',
  fields: [
    { name: 'name', kind: 'text', required: true, max: 200 },
    { name: 'enabled', kind: 'switch', span: 6 },
    { name: 'position', kind: 'number', min: 0, max: 1_000_000, span: 6 },
    { name: 'place', kind: 'enum', options: PLACES, enumKey: 'lossPlace', help: true },
    { name: 'number_id', kind: 'ref', target: 'numbers', required: true, when: (v) => v.place === 'number' },
    { name: 'scenario_id', kind: 'ref', target: 'scenarios', required: true, when: (v) => v.place === 'scenario' },
    { name: 'min_wait_seconds', kind: 'number', min: 0, max: 60, span: 6, help: true, when: (v) => v.place !== 'transfer' },
    { name: 'attempt_intervals', kind: 'integers', min: 0, max: 7 * 24 * 3600, maxItems: 5, span: 24, help: true },
    ...howFields<Doc<'callback-rules'>>(),
  ],
  columns: ['name', 'enabled', 'place', 'how.method'],
  sortable: ['position', 'name'],
  defaultSort: 'position',
  searchField: 'name',
  nameOf: (row) => row.name,
  empty: { enabled: true, place: 'any', how: { method: 'employee' }, attempt_intervals: [0], max_concurrent: 1 },
  ordered: true,
};

export const leadCallbackRules: ResourceSpec<'lead-callback-rules'> = {
  name: 'lead-callback-rules',
  fields: [
    { name: 'name', kind: 'text', required: true, max: 200 },
    { name: 'enabled', kind: 'switch', span: 6 },
    { name: 'position', kind: 'number', min: 0, max: 1_000_000, span: 6 },
    { name: 'source', kind: 'enum', options: SOURCES, enumKey: 'leadSource' },
    { name: 'site', kind: 'text', max: 300, required: true, when: (v) => v.source === 'site' },
    { name: 'segment_id', kind: 'ref', target: 'segments', required: true, when: (v) => v.source === 'segment' },
    ...howFields<Doc<'lead-callback-rules'>>(),
  ],
  columns: ['name', 'enabled', 'source', 'how.method'],
  sortable: ['position', 'name'],
  defaultSort: 'position',
  searchField: 'name',
  nameOf: (row) => row.name,
  empty: { enabled: true, source: 'all', how: { method: 'employee' }, max_concurrent: 1 },
  ordered: true,
};

export const leads: ResourceSpec<'leads'> = {
  name: 'leads',
  fields: [
    { name: 'phone', kind: 'phone', required: true },
    { name: 'name', kind: 'text', max: 200 },
    { name: 'source', kind: 'enum', options: SOURCES, enumKey: 'leadSource', required: true },
    { name: 'site', kind: 'text', max: 300 },
  ],
  columns: ['phone', 'name', 'source', 'site'],
  sortable: ['phone', 'name', 'source'],
  defaultSort: '-id',
  searchField: 'phone',
  nameOf: (row) => [row.phone, row.name].filter(Boolean).join(' '),
  empty: { source: 'custom' },
};

export const tags: ResourceSpec<'tags'> = {
  name: 'tags',
  fields: [
    { name: 'name', kind: 'text', required: true, max: 200 },
    { name: 'color', kind: 'color' },
  ],
  columns: ['name', 'color'],
  sortable: ['name'],
  defaultSort: 'name',
  searchField: 'name',
  nameOf: (row) => row.name,
  empty: { color: '#888888' },
};

export const segments: ResourceSpec<'segments'> = {
  name: 'segments',
  fields: [
    { name: 'name', kind: 'text', required: true, max: 200, span: 24 },
    { name: 'conditions.contact_group_ids', kind: 'refs', target: 'contact-groups' },
    { name: 'conditions.tag_ids', kind: 'refs', target: 'tags' },
    { name: 'conditions.regions', kind: 'list' },
    { name: 'conditions.numbers', kind: 'list', pattern: CALLER_PATTERN, rule: 'callerPattern' },
    { name: 'conditions.min_visits', kind: 'number', min: 0, max: 1_000_000, span: 6 },
    { name: 'conditions.max_visits', kind: 'number', min: 0, max: 1_000_000, span: 6 },
  ],
  columns: ['name'],
  sortable: ['name'],
  defaultSort: 'name',
  searchField: 'name',
  nameOf: (row) => row.name,
  empty: { conditions: { contact_group_ids: [], tag_ids: [], regions: [], numbers: [] } },
};

export const webhooks: ResourceSpec<'webhooks'> = {
  name: 'webhooks',
  fields: [
    { name: 'url', kind: 'text', required: true, pattern: /^https?:\/\/\S+$/, rule: 'url', span: 24 },
    { name: 'events', kind: 'enum', options: EVENTS, enumKey: 'event', multiple: true, required: true, span: 24 },
    { name: 'secret', kind: 'secret', help: true },
    { name: 'enabled', kind: 'switch' },
  ],
  columns: ['url', 'events', 'enabled'],
  sortable: ['url'],
  defaultSort: 'url',
  searchField: 'url',
  nameOf: (row) => row.url,
  empty: { events: ['call_ended'], enabled: true },
};

export const users: ResourceSpec<'users'> = {
  name: 'users',
  fields: [
    { name: 'login', kind: 'text', required: true, max: 100, pattern: LOGIN, rule: 'login' },
    { name: 'password', kind: 'secret', min: 8, requiredOnCreate: true, help: true },
    { name: 'role', kind: 'enum', options: ['admin', 'supervisor', 'employee'], enumKey: 'role', required: true },
    { name: 'full_name', kind: 'text', max: 200 },
    { name: 'employee_id', kind: 'ref', target: 'employees', required: true, when: (v) => v.role === 'employee' },
  ],
  columns: ['login', 'full_name', 'role', 'employee_id'],
  sortable: ['login', 'full_name', 'role'],
  defaultSort: 'login',
  searchField: 'login',
  nameOf: (row) => row.login,
  empty: { role: 'supervisor' },
  readers: ADMINS,
};

export const fmcLines: ResourceSpec<'fmc-lines'> = {
  name: 'fmc-lines',
  fields: [
    { name: 'number', kind: 'phone', required: true },
    { name: 'employee_id', kind: 'ref', target: 'employees' },
    { name: 'blocked', kind: 'switch', span: 8, help: true },
    { name: 'connected', kind: 'switch', span: 8 },
    { name: 'service_enabled', kind: 'switch', span: 8 },
    { name: 'caller_id_number_id', kind: 'ref', target: 'numbers' },
    { name: 'channels', kind: 'number', min: 1, max: 2, span: 6 },
  ],
  columns: ['number', 'employee_id', 'blocked', 'connected'],
  sortable: ['number'],
  defaultSort: 'number',
  searchField: 'number',
  nameOf: (row) => row.number,
  empty: { blocked: true, connected: true, service_enabled: true, channels: 1 },
  // FMC-1: the operator adds and removes a SIM line; the account's admin unblocks and assigns it
  creators: ['operator'],
  removers: ['operator'],
};

/** Every generic screen by its address (/contacts, /trunks, …). */
export const SPECS: { [R in ResourceName]: ResourceSpec<R> } = {
  contacts,
  'contact-groups': contactGroups,
  blacklist,
  'caller-lists': callerLists,
  'talk-options': talkOptions,
  trunks,
  'cid-rules': cidRules,
  'sip-lines': sipLines,
  'callback-rules': callbackRules,
  'lead-callback-rules': leadCallbackRules,
  leads,
  tags,
  segments,
  webhooks,
  users,
  'fmc-lines': fmcLines,
};
