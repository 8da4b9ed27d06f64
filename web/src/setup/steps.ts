/**
 * The documents of the setup wizard (the manual's «Настройка IP-телефонии в 4 шага»: number →
 * employees → scenario → test call). The generated schema marks fields with defaults as
 * required; the wizard sends only what it sets and the API fills the rest with its defaults.
 */
import type { Schemas } from '../api/client';
import { normalizePhone } from '../common/validation';

export interface NewEmployee {
  last_name: string;
  first_name?: string;
  extension?: string;
}

export function numberDocument(number: string, name: string): Schemas['VirtualNumber'] {
  return { number: normalizePhone(number.trim()), name: name.trim(), kind: 'pbx', rules: [] } as unknown as Schemas['VirtualNumber'];
}

/** An employee with one SIP phone: the server makes its line (login and password) on save. */
export function employeeDocument(employee: NewEmployee): Schemas['Employee'] {
  const extension = employee.extension?.trim() ?? '';
  return {
    last_name: employee.last_name.trim(),
    first_name: employee.first_name?.trim() ?? '',
    extension: extension === '' ? null : extension,
    calls_enabled: true,
    phones: [{ kind: 'sip', lines: 1, ring_timeout: 20 }],
  } as unknown as Schemas['Employee'];
}

/** «Переадресация» to every employee made in the wizard, all rung at once. */
export function scenarioDocument(name: string, employeeIds: readonly number[]): Schemas['Scenario'] {
  return {
    name: name.trim(),
    entry: 'forward',
    operations: [
      {
        key: 'forward',
        kind: 'forward',
        title: name.trim(),
        targets: employeeIds.map((employee_id) => ({ employee_id })),
      },
    ],
  } as unknown as Schemas['Scenario'];
}

/** The number's one rule: always, every caller, this scenario (step 4 of the manual). */
export function numberRules(scenarioId: number, name: string): Pick<Schemas['VirtualNumber'], 'rules'> {
  return { rules: [{ name: name.trim(), enabled: true, scenario_id: scenarioId }] } as unknown as Pick<
    Schemas['VirtualNumber'],
    'rules'
  >;
}
