/**
 * A scenario as the form holds it: its name, entry and the operations exactly as the API typed
 * them (operations/model.ts). Loading and saving copy them through: a scenario loaded and saved
 * without edits sends the operations it was sent.
 */
import type { Scenario, ScenarioOut } from './api';
import { newOperation, type Operation } from './operations/model';

export { EXITS, KINDS, type Kind } from './operations/model';

export interface Values {
  name: string;
  entry: string | undefined;
  operations: Operation[];
}

export const EMPTY: Values = { name: '', entry: 'start', operations: [newOperation('forward', 'start')] };

export function toValues(data: ScenarioOut): Values {
  return { name: data.name, entry: data.entry ?? undefined, operations: structuredClone(data.operations) };
}

/** The form as the API's scenario. */
export function toDocument(values: Partial<Values>): Scenario {
  const operations = values.operations ?? [];
  return {
    name: values.name ?? '',
    entry: values.entry ?? operations[0]?.key ?? null,
    operations,
  };
}
