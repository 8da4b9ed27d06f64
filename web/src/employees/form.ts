import { EXTENSION_DIGITS } from '../common/validation';
import type { Employee, EmployeeOut, EmployeePhone } from './api';

export type PhoneKind = EmployeePhone['kind'];

export interface PhoneValues {
  id?: string | null | undefined;
  kind: PhoneKind;
  number?: string | null | undefined;
  sip_uri?: string | null | undefined;
  sip_line_id?: number | null | undefined;
  fmc_line_id?: number | null | undefined;
  lines: number;
  ring_timeout: number;
}

export interface EmployeeValues {
  last_name: string;
  first_name: string;
  email: string;
  extension: string;
  calls_enabled: boolean;
  phones: PhoneValues[];
}

export const NEW_PHONE: PhoneValues = { kind: 'sip', lines: 1, ring_timeout: 20 };

export const EMPTY: EmployeeValues = {
  last_name: '',
  first_name: '',
  email: '',
  extension: '',
  calls_enabled: true,
  phones: [NEW_PHONE],
};

export function toValues(employee: EmployeeOut): EmployeeValues {
  return {
    last_name: employee.last_name,
    first_name: employee.first_name,
    email: employee.email ?? '',
    extension: employee.extension ?? '',
    calls_enabled: employee.calls_enabled,
    phones: employee.phones.map((phone) => ({ ...phone })),
  };
}

function phoneDocument(phone: PhoneValues): EmployeePhone {
  const base: EmployeePhone = { kind: phone.kind, lines: phone.lines, ring_timeout: phone.ring_timeout };
  if (phone.id) base.id = phone.id;
  switch (phone.kind) {
    case 'sip':
      // a new SIP phone gets its line (login, password) from the server on save
      if (phone.sip_line_id != null) base.sip_line_id = phone.sip_line_id;
      break;
    case 'number':
      base.number = (phone.number ?? '').trim();
      break;
    case 'sip_uri':
      base.sip_uri = (phone.sip_uri ?? '').trim();
      break;
    case 'fmc':
      base.fmc_line_id = phone.fmc_line_id ?? null;
      break;
  }
  return base;
}

/**
 * The document a save sends. The form edits some fields; the rest (groups, schedule, trainer…)
 * are sent back as they were read, since PUT replaces the whole employee.
 */
export function toDocument(values: EmployeeValues, original?: EmployeeOut): Employee {
  const kept: Partial<EmployeeOut> = { ...original };
  delete kept.id;
  return {
    ...(kept as Employee),
    last_name: values.last_name.trim(),
    first_name: values.first_name.trim(),
    email: values.email.trim() === '' ? null : values.email.trim(),
    extension: values.extension.trim() === '' ? null : values.extension.trim(),
    calls_enabled: values.calls_enabled,
    phones: values.phones.map(phoneDocument),
  };
}

// The API's own rules (EMP-1..3), checked as the user types; the API checks them again.
export { EMAIL, EXTENSION_DIGITS, INTERNATIONAL, normalizePhone, SIP_URI } from '../common/validation';

/** The i18n key of what is wrong with an extension, or null when it is fine (or empty). */
export function extensionProblem(value: string): string | null {
  if (value === '') return null;
  if (!EXTENSION_DIGITS.test(value)) return 'employees.rules.extensionDigits';
  if (value.length > 5) return 'employees.rules.extensionLength';
  if (value.startsWith('88')) return 'employees.rules.extension88';
  return null;
}
