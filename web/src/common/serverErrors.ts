import { useCallback, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { ApiError, describeFieldError, type FieldError } from '../api/errors';

type NamePath = (string | number)[];

function key(name: NamePath): string {
  return name.join('.');
}

/**
 * The API's 422 (and 409) field errors kept beside a form and shown under the field they name,
 * translated at render time: switching the language re-words them. A field's error goes away
 * as soon as the user changes that field; the form keeps what the user typed.
 */
export function useServerErrors() {
  const { t, i18n } = useTranslation();
  const [errors, setErrors] = useState<FieldError[]>([]);

  const take = useCallback((error: unknown): boolean => {
    if (!(error instanceof ApiError) || error.body === null) return false;
    const fields = error.body.errors.filter((item) => item.field !== '(body)');
    setErrors(fields);
    return fields.length > 0;
  }, []);

  const clear = useCallback((changed: Record<string, unknown>) => {
    const touched = Object.keys(changed);
    setErrors((current) =>
      current.filter((item) => !touched.some((name) => item.field === name || item.field.startsWith(`${name}.`))),
    );
  }, []);

  /** Props for a Form.Item: its error under it (validateStatus + help) when the API named it. */
  const itemProps = (name: NamePath): { validateStatus?: 'error'; help?: string } => {
    const found = errors.filter((item) => item.field === key(name));
    if (found.length === 0) return {};
    return {
      validateStatus: 'error',
      help: found.map((item) => describeFieldError(item, t, i18n.language)).join('; '),
    };
  };

  /** Errors that name no field of the form (shown above it). */
  const unplaced = (known: (name: string) => boolean): string[] =>
    errors.filter((item) => !known(item.field)).map((item) => `${item.field}: ${describeFieldError(item, t, i18n.language)}`);

  return { errors, take, clear, itemProps, unplaced, reset: () => setErrors([]) };
}
