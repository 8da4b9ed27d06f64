/**
 * Between the API's documents and a generic form: the form holds the document as it is (nested
 * objects by name paths); a save sends back what was read with the form's fields written over
 * it, since PUT replaces the whole entity.
 */
import { normalizePhone } from '../common/validation';
import type { Draft, FieldSpec } from './spec';

type Json = Record<string, unknown>;

/** "how.method" → ['how', 'method'], the Form.Item's name. */
export function namePath(name: string): string[] {
  return name.split('.');
}

/** The i18n key of a field's label: resources.<resource>.<field, dots as "_">. */
export function labelKey(resource: string, name: string): string {
  return `resources.${resource}.${name.replace(/\./g, '_')}`;
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function getPath(document: unknown, name: string): unknown {
  let here: unknown = document;
  for (const part of name.split('.')) {
    if (!isObject(here)) return undefined;
    here = here[part];
  }
  return here;
}

function setPath(document: Json, name: string, value: unknown): void {
  const parts = name.split('.');
  const last = parts.pop() ?? name;
  let here = document;
  for (const part of parts) {
    const next = here[part];
    if (!isObject(next)) here[part] = {};
    here = here[part] as Json;
  }
  if (value === undefined) Reflect.deleteProperty(here, last);
  else here[last] = value;
}

/** What one field sends: trimmed text, digits of a phone, null for a cleared reference;
 * undefined leaves the field out (its default, or — for a secret — what is stored). */
function sent<D>(field: FieldSpec<D>, value: unknown): unknown {
  switch (field.kind) {
    case 'text':
    case 'email':
      return typeof value === 'string' ? value.trim() : value;
    case 'phone':
      return typeof value === 'string' && value.trim() !== '' ? normalizePhone(value.trim()) : (value ?? undefined);
    case 'list':
      return Array.isArray(value)
        ? value.map((item) => (field.phones && typeof item === 'string' ? normalizePhone(item.trim()) : String(item).trim()))
        : [];
    case 'ref':
      return value ?? null;
    case 'refs':
      return Array.isArray(value) ? value : [];
    case 'number':
      return value ?? undefined;
    case 'secret':
      return typeof value === 'string' && value !== '' ? value : undefined;
    default:
      return value;
  }
}

/** The form's values of a loaded entity: the document without its id and generated fields. */
export function toValues<D>(entity: object, readonlyOut: readonly string[] = []): Draft<D> {
  const values = structuredClone(entity) as Json;
  for (const key of ['id', ...readonlyOut]) Reflect.deleteProperty(values, key);
  return values as Draft<D>;
}

/** The document a save sends: the entity as read (or the new one's defaults), the visible
 * fields written over it. */
export function toDocument<D>(
  fields: readonly FieldSpec<D>[],
  values: Draft<D>,
  base: object,
  readonlyOut: readonly string[] = [],
): Partial<D> {
  const document = toValues<D>(base, readonlyOut) as Json;
  for (const field of fields) {
    if (field.readOnly) continue;
    if (field.when !== undefined && !field.when(values)) continue;
    setPath(document, field.name, sent(field, getPath(values, field.name)));
  }
  return document as Partial<D>;
}
