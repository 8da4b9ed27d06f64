import { describe, expect, it } from 'vitest';
import { currentCalls, elapsed, EMPTY, employeeState, reduce, type LiveCall, type LiveMessage, type StaffMember } from './reducer';

const call = (id: string, changes: Partial<LiveCall> = {}): LiveCall => ({
  call_id: id,
  caller: '79160000001',
  number: '74950000000',
  started_at: 100,
  step: 'Приветствие',
  ringing: [],
  talker: null,
  answered_at: null,
  queue_place: null,
  ...changes,
});

const ivanov: StaffMember = { employee_id: 7, name: 'Иванов', registered: true };
const petrov: StaffMember = { employee_id: 8, name: 'Петров', registered: false };
const answered: LiveMessage = { type: 'call', seq: 5, call: call('a', { talker: 7, answered_at: 110 }) };

const snapshot: LiveMessage = {
  type: 'snapshot',
  seq: 4,
  calls: [call('a')],
  employees: [{ employee_id: 7, state: 'ringing' }],
  staff: [ivanov, petrov],
};

const events: LiveMessage[] = [
  answered,
  { type: 'employee', seq: 6, employee: { employee_id: 7, state: 'talking' } },
  { type: 'call', seq: 7, call: call('b', { started_at: 120, queue_place: 1 }) },
  { type: 'ended', seq: 8, call_id: 'a' },
  { type: 'employee', seq: 9, employee: { employee_id: 7, state: 'offline' } },
];

describe('live reducer', () => {
  it('starts from the snapshot and applies the events in order', () => {
    const state = events.reduce(reduce, reduce(EMPTY, snapshot));
    expect(state.seq).toBe(9);
    expect(currentCalls(state).map((c) => [c.call_id, c.queue_place])).toEqual([['b', 1]]);
    expect(employeeState(state, ivanov)).toBe('registered');
    expect(employeeState(state, petrov)).toBe('offline');
  });

  it('ignores events before its first snapshot', () => {
    expect(reduce(EMPTY, answered)).toBe(EMPTY);
  });

  it('applies a reconnect replay without duplicates or a comeback of an ended call', () => {
    const before = events.slice(0, 4).reduce(reduce, reduce(EMPTY, snapshot));
    // the stream was lost after seq 8; the server replays from an older number the client sent
    const replayed = [...events.slice(1), ...events.slice(3)].reduce(reduce, before);
    expect(replayed.seq).toBe(9);
    expect(Object.keys(replayed.calls)).toEqual(['b']);
    expect(replayed.states).toEqual({});
  });

  it('a fresh snapshot on reconnect replaces everything it knew', () => {
    const before = events.reduce(reduce, reduce(EMPTY, snapshot));
    const fresh = reduce(before, { type: 'snapshot', seq: 1, calls: [call('c')], employees: [] });
    expect(Object.keys(fresh.calls)).toEqual(['c']);
    expect(fresh.seq).toBe(1);
    expect(fresh.staff).toHaveLength(2); // a snapshot without staff keeps the names it had
    expect(reduce(fresh, { type: 'ended', seq: 2, call_id: 'c' }).calls).toEqual({});
  });

  it('shows durations as m:ss and h:mm:ss', () => {
    expect(elapsed(100, 165.9)).toBe('1:05');
    expect(elapsed(0, 3725)).toBe('1:02:05');
    expect(elapsed(10, 5)).toBe('0:00');
  });

  it('keeps the wrap-up end and, with presence, takes no event for offline', () => {
    const known = reduce(EMPTY, { ...snapshot, presence: true, employees: [{ employee_id: 8, state: 'wrap_up', until: 130 }] });
    expect(employeeState(known, petrov)).toBe('wrap_up');
    expect(known.until).toEqual({ 8: 130 });
    // the switch knows registrations: an employee it does not list is offline, whatever staff said
    expect(employeeState(known, ivanov)).toBe('offline');
    const over = reduce(known, { type: 'employee', seq: 5, employee: { employee_id: 8, state: 'off_schedule' } });
    expect(employeeState(over, petrov)).toBe('off_schedule');
    expect(over.until).toEqual({});
  });
});
