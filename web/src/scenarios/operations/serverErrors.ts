/**
 * The API's 422 on a scenario, per operation. Pydantic names a field of an operation with the
 * operation's kind after its index (`operations.0.forward.targets`: the discriminated union's
 * tag); the graph checks do not (`operations.0.exits.1`). Both become `targets`, `exits.1`… of
 * operation 0; an error on the operation as a whole (`operations.3.info`) becomes ''.
 */
import type { FieldError } from '../../api/errors';
import { FIELDS, type Operation } from './model';
import type { FieldErrors } from './validate';

export function operationErrors(
  errors: readonly FieldError[],
  operations: readonly Operation[],
  describe: (error: FieldError) => string,
): FieldErrors[] {
  const found: FieldErrors[] = operations.map(() => ({}));
  for (const error of errors) {
    const match = /^operations\.(\d+)(?:\.(.*))?$/.exec(error.field);
    if (match === null) continue;
    const index = Number(match[1]);
    const op = operations[index];
    const bucket = found[index];
    if (op === undefined || bucket === undefined) continue;
    let rest = match[2] ?? '';
    if (rest === op.kind) rest = '';
    else if (rest.startsWith(`${op.kind}.`)) rest = rest.slice(op.kind.length + 1);
    (bucket[rest] ??= []).push(describe(error));
  }
  return found;
}

const COMMON = ['key', 'kind', 'title', 'exits'];

/** Whether the operation's form shows a field of this path (else the error goes to its top). */
export function isShown(op: Operation, path: string): boolean {
  const head = path.split('.')[0] ?? '';
  return path !== '' && (COMMON.includes(head) || FIELDS[op.kind].includes(head));
}
