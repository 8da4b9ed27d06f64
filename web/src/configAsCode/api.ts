import { api, type Schemas } from '../api/client';
import { unwrap } from '../api/errors';

export type ImportOut = Schemas['ImportOut'];

/** GET /config: the account as YAML (secrets masked). */
export async function exportYaml(): Promise<string> {
  return unwrap(api.GET('/api/v1/config', { parseAs: 'text' }));
}

/** PUT /config: with `dryRun` the API answers what would change and writes nothing. */
export function importYaml(text: string, dryRun: boolean, replaceMissing: boolean): Promise<ImportOut> {
  return unwrap(
    api.PUT('/api/v1/config', {
      params: { query: { dry_run: dryRun, replace_missing: replaceMissing } },
      body: text,
      bodySerializer: (body: string) => body,
      headers: { 'Content-Type': 'application/yaml' },
    }),
  );
}
