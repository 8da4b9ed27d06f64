// The live view's state (CDR-4): a snapshot from the server, then numbered events applied in
// order. An event whose number the state has already seen (a replay after a reconnect) changes
// nothing, so a reconnecting stream never shows a call twice or brings an ended one back.

export interface LiveCall {
  call_id: string;
  caller: string;
  number: string;
  /** Unix seconds */
  started_at: number;
  step: string;
  ringing: number[];
  talker: number | null;
  answered_at: number | null;
  queue_place: number | null;
  /** TRN-1: the supervisor joining or in the talk, and how (null until his phone answers) */
  supervisor?: number | null;
  supervise_mode?: 'listen' | 'whisper' | 'barge' | null;
}

/** Most telling first: talking > ringing > wrap_up > off_schedule > registered > offline. */
export type EmployeeState = 'talking' | 'ringing' | 'wrap_up' | 'off_schedule' | 'registered' | 'offline';

/** An employee's state as the server pushes it (`until`: the end of his wrap-up, Unix seconds). */
export interface EmployeeUpdate {
  employee_id: number;
  state: EmployeeState;
  until?: number;
}

export interface StaffMember {
  employee_id: number;
  name: string;
  registered: boolean;
}

export type LiveMessage =
  | {
      type: 'snapshot';
      seq: number;
      calls: LiveCall[];
      employees: EmployeeUpdate[];
      /** the switch knows registrations and schedules: an employee it does not list is offline */
      presence?: boolean;
      staff?: StaffMember[];
    }
  | { type: 'call'; seq: number; call: LiveCall }
  | { type: 'ended'; seq: number; call_id: string }
  | { type: 'employee'; seq: number; employee: EmployeeUpdate };

export interface LiveState {
  /** the last sequence number applied (null: no snapshot yet) */
  seq: number | null;
  calls: Record<string, LiveCall>;
  states: Record<number, EmployeeState>;
  /** the end of each employee's wrap-up (Unix seconds) */
  until: Record<number, number>;
  presence: boolean;
  staff: StaffMember[];
}

export const EMPTY: LiveState = { seq: null, calls: {}, states: {}, until: {}, presence: false, staff: [] };

function untils(updates: EmployeeUpdate[]): Record<number, number> {
  const out: Record<number, number> = {};
  for (const { employee_id: id, until } of updates) if (until !== undefined) out[id] = until;
  return out;
}

export function reduce(state: LiveState, message: LiveMessage): LiveState {
  if (message.type === 'snapshot') {
    return {
      seq: message.seq,
      calls: Object.fromEntries(message.calls.map((call) => [call.call_id, call])),
      states: Object.fromEntries(message.employees.map((e) => [e.employee_id, e.state])),
      until: untils(message.employees),
      presence: message.presence ?? false,
      staff: message.staff ?? state.staff,
    };
  }
  // before a snapshot nothing is known to apply an event to; seen already: a replay
  if (state.seq === null || message.seq <= state.seq) return state;
  switch (message.type) {
    case 'call':
      return { ...state, seq: message.seq, calls: { ...state.calls, [message.call.call_id]: message.call } };
    case 'ended': {
      const calls = Object.fromEntries(Object.entries(state.calls).filter(([id]) => id !== message.call_id));
      return { ...state, seq: message.seq, calls };
    }
    case 'employee': {
      const { employee_id: id, state: now } = message.employee;
      const others = Object.entries(state.states).filter(([key]) => Number(key) !== id);
      const states = Object.fromEntries(now === 'offline' ? others : [...others, [id, now]]) as Record<number, EmployeeState>;
      const until = untils([message.employee]);
      for (const [key, value] of Object.entries(state.until)) if (Number(key) !== id) until[Number(key)] = value;
      return { ...state, seq: message.seq, states, until };
    }
  }
}

/** The current calls, the oldest first. */
export function currentCalls(state: LiveState): LiveCall[] {
  return Object.values(state.calls).sort((a, b) => a.started_at - b.started_at);
}

/** An employee's state: what the switch says now; a switch that does not know registrations
 * (no `presence`) leaves it to whether his phone was registered when the view connected. */
export function employeeState(state: LiveState, member: StaffMember): EmployeeState {
  const known = state.states[member.employee_id];
  if (known !== undefined || state.presence) return known ?? 'offline';
  return member.registered ? 'registered' : 'offline';
}

/** "m:ss" (or "h:mm:ss") of the seconds between two Unix times. */
export function elapsed(from: number, now: number): string {
  const total = Math.max(0, Math.floor(now - from));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = String(total % 60).padStart(2, '0');
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, '0')}:${seconds}` : `${minutes}:${seconds}`;
}
