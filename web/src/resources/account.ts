import type { Schemas } from '../api/client';

type Account = Schemas['Account'];

/** The account's own settings (GET/PUT /account): the document is replaced whole, so what the
 * form does not show is sent back as it was read. */
export function accountDocument(values: Partial<Account>, loaded: Schemas['AccountOut']): Account {
  const stored: Partial<Schemas['AccountOut']> = { ...loaded };
  delete stored.id;
  return { ...(stored as Account), ...values, toll_fraud: { ...loaded.toll_fraud, ...values.toll_fraud } };
}
