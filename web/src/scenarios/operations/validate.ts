/**
 * The API's rules for one operation, checked as the user types (the API checks them again; its
 * 422 lands under the same field). Paths are relative to the operation: `code`, `targets.0.number`,
 * `exits.timeout`, `codes.1.code`; '' is the operation as a whole.
 */
import type { TFunction } from 'i18next';
import { EMAIL, INTERNATIONAL } from '../../common/validation';
import { EXITS, type Operation } from './model';

export type FieldErrors = Record<string, string[]>;

export const OP_KEY = /^[A-Za-z0-9_-]{1,40}$/;
const DIGITS = /^\d+$/;
const URL = /^https?:\/\/\S+$/;

function range(value: number | null | undefined, min: number, max: number, t: TFunction, exclusiveMin = false): string | null {
  if (value === null || value === undefined || Number.isNaN(value)) return t('scenarios.rules.required');
  if ((exclusiveMin ? value <= min : value < min) || value > max) return t('scenarios.rules.range', { min, max });
  return null;
}

export function validateOperation(op: Operation, operations: readonly Operation[], t: TFunction): FieldErrors {
  const found: FieldErrors = {};
  const add = (path: string, message: string | null) => {
    if (message !== null) (found[path] ??= []).push(message);
  };
  const keys = new Set(operations.map((other) => other.key));
  if (!OP_KEY.test(op.key)) add('key', t('scenarios.keyRule'));
  else if (operations.filter((other) => other.key === op.key).length > 1) add('key', t('scenarios.rules.keyTaken'));
  if (op.title.length > 200) add('title', t('scenarios.rules.maxLength', { max: 200 }));
  for (const [name, target] of Object.entries(op.exits)) {
    if (!EXITS[op.kind].includes(name)) add(`exits.${name}`, t('scenarios.rules.unknownExit'));
    else if (target && !keys.has(target)) add(`exits.${name}`, t('scenarios.rules.noSuchOperation', { key: target }));
  }
  if (op.kind === 'menu' && op.exits.extension_input) {
    const linked = operations.find((other) => other.key === op.exits.extension_input);
    if (linked && !(linked.kind === 'extension' && linked.from_menu)) add('exits.extension_input', t('scenarios.rules.extensionInput'));
  }
  switch (op.kind) {
    case 'auth':
      add('code', DIGITS.test(op.code) ? null : t('scenarios.rules.digits'));
      add('inter_digit_timeout', range(op.inter_digit_timeout, 1, 60, t));
      break;
    case 'voicemail':
      op.emails.forEach((email, index) => add(`emails.${index}`, EMAIL.test(email) ? null : t('scenarios.rules.email', { value: email })));
      if (op.emails.length > 20) add('emails', t('scenarios.rules.maxItems', { max: 20 }));
      add('max_seconds', range(op.max_seconds, 5, 600, t));
      break;
    case 'info':
      if (op.file_ids.length === 0 && op.text.trim() === '') add('text', t('scenarios.rules.infoEmpty'));
      break;
    case 'menu':
      add('timeout', range(op.timeout, 1, 60, t));
      break;
    case 'forward': {
      if (op.targets.length === 0) add('targets', t('scenarios.rules.targets'));
      op.targets.forEach((target, index) => {
        if (target.number !== null && target.number !== undefined) {
          add(`targets.${index}.number`, INTERNATIONAL.test(target.number) ? null : t('scenarios.rules.international'));
        } else if (!target.group_id && !target.employee_id) add(`targets.${index}`, t('scenarios.rules.targetEmpty'));
      });
      const d = op.distribution;
      if (d.simultaneous_lines !== null && d.simultaneous_lines !== undefined) add('distribution.simultaneous_lines', range(d.simultaneous_lines, 1, 100, t));
      if (d.ring_timeout !== null && d.ring_timeout !== undefined) add('distribution.ring_timeout', range(d.ring_timeout, 5, 300, t));
      add('distribution.wrapup_seconds', range(d.wrapup_seconds, 0, 3600, t));
      add('distribution.initial_lines', range(d.initial_lines, 1, 100, t));
      add('distribution.add_line_every', range(d.add_line_every, 1, 300, t));
      break;
    }
    case 'extension':
      add('inter_digit_timeout', range(op.inter_digit_timeout, 1, 60, t));
      break;
    case 'personal_manager':
      add('ring_timeout', range(op.ring_timeout, 5, 300, t));
      break;
    case 'insert':
      if (!op.scenario_id) add('scenario_id', t('scenarios.rules.scenario'));
      break;
    case 'interactive': {
      add('url', URL.test(op.url) ? null : t('scenarios.rules.url'));
      add('timeout', range(op.timeout, 0, 30, t, true));
      if (op.dtmf_length !== null && op.dtmf_length !== undefined) add('dtmf_length', range(op.dtmf_length, 1, 32, t));
      const codes = op.codes.map((branch) => branch.code);
      op.codes.forEach((branch, index) => {
        add(`codes.${index}.code`, range(branch.code, 0, 9999, t));
        if (codes.indexOf(branch.code) !== index) add(`codes.${index}.code`, t('scenarios.rules.duplicate'));
        if (branch.target && !keys.has(branch.target)) add(`codes.${index}.target`, t('scenarios.rules.noSuchOperation', { key: branch.target }));
      });
      break;
    }
    case 'visit':
      add('interval_hours', range(op.interval_hours, 1, 24 * 365 * 10, t));
      break;
    case 'region':
      op.branches.forEach((branch, index) => {
        if (branch.region.trim() === '') add(`branches.${index}.region`, t('scenarios.rules.required'));
        else if (branch.region.length > 200) add(`branches.${index}.region`, t('scenarios.rules.maxLength', { max: 200 }));
        if (branch.target && !keys.has(branch.target)) add(`branches.${index}.target`, t('scenarios.rules.noSuchOperation', { key: branch.target }));
      });
      break;
    case 'segment':
      op.branches.forEach((branch, index) => {
        if (!branch.segment_id) add(`branches.${index}.segment_id`, t('scenarios.rules.required'));
        if (branch.target && !keys.has(branch.target)) add(`branches.${index}.target`, t('scenarios.rules.noSuchOperation', { key: branch.target }));
      });
      break;
  }
  return found;
}

/** Both lists of messages per path, the form's first. */
export function mergeErrors(...sources: FieldErrors[]): FieldErrors {
  const merged: FieldErrors = {};
  for (const source of sources) for (const [path, messages] of Object.entries(source)) (merged[path] ??= []).push(...messages);
  return merged;
}
