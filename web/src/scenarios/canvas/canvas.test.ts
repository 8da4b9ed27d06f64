import { newOperation, type Operation } from '../operations/model';
import { copyOperations, pasteOperations } from './clipboard';
import { addOperation, edgesOf, exitHandles, kindKey, lintEdges, lintHandle, removeOperations, replaceOperation, setExit, type Doc } from './graph';
import { canRedo, canUndo, LIMIT, push, redo, start, undo } from './history';
import { elkGraph, estimateSize, freeSpot, layout } from './layout';
import { simulationFrames, zonedIso, type SimStep } from './simulation';

/** A scenario as GET /scenarios/{id} answers it: every kind with branches, nulls and unlinked exits. */
const LOADED: Doc = {
  entry: 'menu',
  operations: [
    { key: 'menu', kind: 'menu', title: 'Главное', exits: { '1': 'fwd', '2': 'vm', timeout: 'vm', invalid: null }, prompt_file_id: null, prompt_text: 'Нажмите', timeout: 5, hash_returns: false },
    {
      key: 'fwd',
      kind: 'forward',
      title: '',
      exits: { no_answer: 'crm' },
      ringback_file_ids: [],
      targets: [{ employee_id: 4, group_id: null, number: null, phone_id: null }],
      strategy: 'priority',
      distribution: { add_line_every: 5, initial_lines: 5, percentage: false, queue: false, wrapup_seconds: 0, simultaneous_lines: null, ring_timeout: null },
      queue_message_file_id: null,
      operator_message_file_id: null,
      operator_message_text: '',
      tag_after_call: false,
      rate_after_call: false,
      record: false,
    },
    {
      key: 'crm',
      kind: 'interactive',
      title: '',
      exits: { fallback: 'vm' },
      url: 'https://crm.example.ru/ivr',
      method: 'GET',
      params: ['numa'],
      dtmf_length: null,
      prompt_file_id: null,
      timeout: 5,
      codes: [
        { code: 1, target: 'region' },
        { code: 2, target: null },
      ],
    },
    { key: 'region', kind: 'region', title: '', exits: { others: 'vm' }, branches: [{ region: 'Москва', target: 'fwd' }] },
    { key: 'vm', kind: 'voicemail', title: '', exits: {}, prompt_file_id: null, emails: [], max_seconds: 120 },
  ] as Operation[],
};

const keysOf = (doc: Doc) => doc.operations.map((op) => op.key);
const op = (doc: Doc, key: string) => doc.operations.find((item) => item.key === key) as Operation;

describe('document ↔ graph', () => {
  it('has an edge per linked exit and branch, labelled by the exit, none for unlinked or dangling ones', () => {
    const doc: Doc = { ...LOADED, operations: [...LOADED.operations, { ...newOperation('info', 'lost'), exits: { next: 'nowhere' } }] };
    expect(edgesOf(doc).map((e) => `${e.source} ${e.exit} ${e.target} ${e.sourceHandle}`)).toEqual([
      'menu 1 fwd exit:1',
      'menu 2 vm exit:2',
      'menu timeout vm exit:timeout',
      'fwd no_answer crm exit:no_answer',
      'crm code 1 region codes:0',
      'crm fallback vm exit:fallback',
      'region Москва fwd branches:0',
      'region others vm exit:others',
    ]);
    expect(exitHandles(op(LOADED, 'menu')).map((h) => h.exit)).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9', '0', '*', '#', 'timeout', 'invalid', 'extension_input']);
    expect(exitHandles(op(LOADED, 'crm')).map((h) => h.id)).toEqual(['codes:0', 'codes:1', 'exit:fallback']);
  });

  it('round-trips: connecting and disconnecting an exit gives back the very document', () => {
    const before = structuredClone(LOADED);
    const linked = setExit(LOADED, 'menu', 'exit:3', 'fwd');
    expect(op(linked, 'menu').exits).toEqual({ ...op(LOADED, 'menu').exits, '3': 'fwd' });
    expect(setExit(linked, 'menu', 'exit:3', null)).toEqual(LOADED);
    // the untouched operations are the same objects: nothing else is rewritten
    linked.operations.slice(1).forEach((item, i) => expect(item).toBe(LOADED.operations[i + 1]));
    // a branch's exit is its target; an exit the kind does not have changes nothing
    expect((op(setExit(LOADED, 'crm', 'codes:1', 'vm'), 'crm') as Extract<Operation, { kind: 'interactive' }>).codes[1]).toEqual({ code: 2, target: 'vm' });
    expect(setExit(LOADED, 'vm', 'exit:timeout', 'menu')).toBe(LOADED);
    expect(JSON.stringify(LOADED)).toBe(JSON.stringify(before));
  });

  it('deletes operations with the exits that led to them; the entry moves to the first one left', () => {
    const doc = removeOperations(LOADED, ['menu', 'vm']);
    expect(keysOf(doc)).toEqual(['fwd', 'crm', 'region']);
    expect(doc.entry).toBe('fwd');
    expect(op(doc, 'crm').exits).toEqual({});
    expect(op(doc, 'region').exits).toEqual({});
    expect(edgesOf(doc).map((e) => e.id)).toEqual(['fwd→exit:no_answer', 'crm→codes:0', 'region→branches:0']);
  });

  it('adds operations under free keys by kind, the first one the entry', () => {
    const empty: Doc = { entry: null, operations: [] };
    const one = addOperation(empty, 'menu');
    expect(one.key).toBe('menu');
    expect(one.doc.entry).toBe('menu');
    expect(one.doc.operations[0]).toEqual(newOperation('menu', 'menu'));
    const two = addOperation(one.doc, 'menu');
    expect(two.key).toBe('menu_2');
    expect(two.doc.entry).toBe('menu');
    expect(kindKey('forward', ['forward', 'forward_2'])).toBe('forward_3');
  });

  it('renames references when a key changes to a free one, not when it collides', () => {
    const index = LOADED.operations.findIndex((item) => item.key === 'vm');
    const renamed = replaceOperation(LOADED, index, { ...op(LOADED, 'vm'), key: 'mailbox' });
    expect(op(renamed, 'menu').exits).toEqual({ '1': 'fwd', '2': 'mailbox', timeout: 'mailbox', invalid: null });
    const menuIndex = 0;
    const entry = replaceOperation(LOADED, menuIndex, { ...op(LOADED, 'menu'), key: 'start' });
    expect(entry.entry).toBe('start');
    const collided = replaceOperation(LOADED, index, { ...op(LOADED, 'vm'), key: 'fwd' });
    expect(op(collided, 'menu').exits['2']).toBe('vm');
  });

  it('puts a lint warning on the exit it concerns', () => {
    expect(lintHandle(op(LOADED, 'menu'), { code: 'menu_no_invalid', path: ['menu', 'некорректный ввод'] })).toBe('exit:invalid');
    expect(lintHandle(op(LOADED, 'crm'), { code: 'ivx_code_unlinked', path: ['menu', 'код 2'] })).toBe('codes:1');
    expect(lintHandle(op(LOADED, 'region'), { code: 'region_branch_unlinked', path: ['Москва'] })).toBe('branches:0');
    expect(lintHandle(op(LOADED, 'menu'), { code: 'dangling_exit', path: ['menu', 'клавиша 2'] })).toBe('exit:2');
    expect(lintHandle(op(LOADED, 'vm'), { code: 'voicemail_no_email', path: ['vm'] })).toBeNull();
  });

  it('puts an endless loop on the edges it runs along', () => {
    const doc = setExit(setExit(LOADED, 'region', 'exit:others', 'crm'), 'crm', 'exit:fallback', 'region');
    const warned = lintEdges([{ code: 'endless_loop', path: ['crm', 'region', 'crm'] }, { code: 'unreachable', path: ['fwd', 'crm'] }], edgesOf(doc));
    expect([...warned]).toEqual(['crm→codes:0', 'region→exit:others']);
  });
});

describe('undo and redo', () => {
  it('steps back and forth; a new edit drops the redo steps', () => {
    let history = start('a');
    history = push(history, 'b');
    history = push(history, 'c');
    expect(canRedo(history)).toBe(false);
    history = undo(history);
    expect(history.present).toBe('b');
    history = undo(history);
    expect(history.present).toBe('a');
    expect(canUndo(history)).toBe(false);
    expect(undo(history)).toBe(history);
    history = redo(history);
    expect(history.present).toBe('b');
    history = push(history, 'x');
    expect(canRedo(history)).toBe(false);
    expect(undo(history).present).toBe('b');
  });

  it('makes one step of edits with the same tag (typing in one field)', () => {
    let history = start('');
    for (const text of ['H', 'He', 'Hel']) history = push(history, text, 'edit:0');
    history = push(history, 'Hel!', 'edit:1');
    expect(undo(history).present).toBe('Hel');
    expect(undo(undo(history)).present).toBe('');
    // after an undo the same tag starts a new step
    history = push(undo(history), 'Help', 'edit:0');
    expect(undo(history).present).toBe('Hel');
  });

  it('keeps at most LIMIT steps', () => {
    let history = start(0);
    for (let i = 1; i <= LIMIT + 50; i += 1) history = push(history, i);
    expect(history.past).toHaveLength(LIMIT);
    expect(history.past[0]).toBe(50);
  });
});

describe('copy and paste', () => {
  it('pastes copies under new keys; exits inside the selection lead to the copies, outside ones stay', () => {
    const clip = copyOperations(LOADED, ['fwd', 'crm']);
    if (clip === null) throw new Error('nothing copied');
    const { doc, renamed } = pasteOperations(LOADED, clip);
    expect(renamed).toEqual({ fwd: 'fwd_copy', crm: 'crm_copy' });
    expect(keysOf(doc)).toEqual([...keysOf(LOADED), 'fwd_copy', 'crm_copy']);
    expect(op(doc, 'fwd_copy').exits).toEqual({ no_answer: 'crm_copy' });
    expect(op(doc, 'crm_copy').exits).toEqual({ fallback: 'vm' });
    expect((op(doc, 'crm_copy') as Extract<Operation, { kind: 'interactive' }>).codes).toEqual([
      { code: 1, target: 'region' },
      { code: 2, target: null },
    ]);
    // the originals are untouched, and a second paste takes the next free keys
    expect(doc.operations.slice(0, LOADED.operations.length)).toEqual(LOADED.operations);
    expect(pasteOperations(doc, clip).renamed).toEqual({ fwd: 'fwd_copy2', crm: 'crm_copy2' });
    expect(copyOperations(LOADED, ['nothing'])).toBeNull();
  });

  it('drops exits to operations that are gone by the time of pasting', () => {
    const clip = copyOperations(LOADED, ['region']);
    if (clip === null) throw new Error('nothing copied');
    const without = removeOperations(LOADED, ['fwd']);
    const { doc } = pasteOperations(without, clip);
    expect((op(doc, 'region_copy') as Extract<Operation, { kind: 'region' }>).branches).toEqual([{ region: 'Москва', target: null }]);
    expect(op(doc, 'region_copy').exits).toEqual({ others: 'vm' });
  });
});

describe('layout', () => {
  it('hands ELK every operation with its size and every linked exit but self-loops', () => {
    const doc = setExit(LOADED, 'menu', 'exit:invalid', 'menu');
    const graph = elkGraph(doc, { fwd: { width: 300, height: 120 } });
    expect(graph.layoutOptions?.['elk.algorithm']).toBe('layered');
    expect(graph.layoutOptions?.['elk.direction']).toBe('DOWN');
    expect(graph.children?.map((c) => [c.id, c.width, c.height])).toEqual(
      doc.operations.map((item) => (item.key === 'fwd' ? ['fwd', 300, 120] : [item.key, estimateSize(item).width, estimateSize(item).height])),
    );
    expect(graph.edges?.map((e) => `${e.sources[0]}>${e.targets[0]}`)).toEqual(edgesOf(doc).filter((e) => e.source !== e.target).map((e) => `${e.source}>${e.target}`));
  });

  it('a menu is wide enough for its fifteen exits in one row', () => {
    expect(estimateSize(op(LOADED, 'menu')).width).toBeGreaterThan(estimateSize(op(LOADED, 'vm')).width);
  });

  it('lays out top-down: every edge (but the loops back) goes down', async () => {
    const positions = await layout(LOADED);
    expect(Object.keys(positions).sort()).toEqual(keysOf(LOADED).sort());
    const y = (key: string) => positions[key]?.y ?? Number.NaN;
    expect(y('menu')).toBeLessThan(y('fwd'));
    expect(y('fwd')).toBeLessThan(y('crm'));
    expect(y('crm')).toBeLessThan(y('vm'));
  });

  it('places a new node below those it would cover', () => {
    const size = { width: 100, height: 50 };
    expect(freeSpot({ x: 0, y: 0 }, size, [])).toEqual({ x: 0, y: 0 });
    expect(freeSpot({ x: 0, y: 0 }, size, [{ x: 20, y: 10, width: 100, height: 60 }], 10)).toEqual({ x: 0, y: 80 });
    expect(freeSpot({ x: 500, y: 0 }, size, [{ x: 20, y: 10, width: 100, height: 60 }], 10)).toEqual({ x: 500, y: 0 });
  });
});

describe('simulation on the canvas', () => {
  const step = (kind: string, data: Record<string, unknown> = {}): SimStep => ({ at: '2026-12-07T23:00:00+03:00', kind, text: kind, data });

  it('lights the operations of this scenario and the exits taken, step by step', () => {
    const steps = [
      step('arrived'),
      step('rule_skipped', { rule: 1 }),
      step('rule', { rule: 2, scenario_id: 7 }),
      step('scenario', { scenario_id: 7 }),
      step('operation', { key: 'menu' }),
      step('play'),
      step('digit', { digit: '2' }),
      step('exit', { exit: '2' }),
      step('operation', { key: 'vm' }),
      step('hangup'),
    ];
    const frames = simulationFrames(steps, 7, edgesOf(LOADED));
    expect(frames).toHaveLength(steps.length);
    expect(frames[3]).toEqual({ node: null, nodes: [], edges: [] });
    expect(frames[4]).toEqual({ node: 'menu', nodes: ['menu'], edges: [] });
    expect(frames[8]).toEqual({ node: 'vm', nodes: ['menu', 'vm'], edges: ['menu→exit:2'] });
    expect(frames[9]).toEqual(frames[8]);
  });

  it('takes a branch by its two ends, and leaves this scenario on an insert', () => {
    const steps = [step('scenario', { scenario_id: 7 }), step('operation', { key: 'crm' }), step('ivx'), step('exit'), step('operation', { key: 'region' }), step('insert', { scenario_id: 9 }), step('operation', { key: 'menu' })];
    const frames = simulationFrames(steps, 7, edgesOf(LOADED));
    expect(frames[4]).toEqual({ node: 'region', nodes: ['crm', 'region'], edges: ['crm→codes:0'] });
    expect(frames[6]).toEqual({ node: null, nodes: ['crm', 'region'], edges: ['crm→codes:0'] });
    // another scenario's steps light nothing
    expect(simulationFrames(steps, 8, edgesOf(LOADED)).every((frame) => frame.nodes.length === 0)).toBe(true);
  });

  it('sends the time picked in the account time zone', () => {
    expect(zonedIso('2026-12-07T23:00', 'Europe/Moscow')).toBe('2026-12-07T23:00:00+03:00');
    expect(zonedIso('2026-07-01T09:30', 'Europe/Berlin')).toBe('2026-07-01T09:30:00+02:00');
    expect(zonedIso('2026-01-01T09:30', 'Europe/Berlin')).toBe('2026-01-01T09:30:00+01:00');
    expect(zonedIso('2026-12-07T23:00', 'Asia/Kolkata')).toBe('2026-12-07T23:00:00+05:30');
    expect(zonedIso('2026-12-07T23:00', 'UTC')).toBe('2026-12-07T23:00:00+00:00');
  });
});
