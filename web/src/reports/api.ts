import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, authorizedFetch, type Schemas } from '../api/client';
import { ApiError, NetworkError, unwrap } from '../api/errors';
import type { Role } from '../auth/me';
import { exportQuery, type CallQuery } from './filters';

export type CallOut = Schemas['CallOut'];
export type CallStep = Schemas['CallStep'];

export function useCalls(query: CallQuery) {
  return useQuery({
    queryKey: ['calls', 'list', query],
    queryFn: () => unwrap(api.GET('/api/v1/calls', { params: { query } })),
    placeholderData: keepPreviousData,
  });
}

export function useCallDetails(id: number | null) {
  return useQuery({
    queryKey: ['calls', 'details', id],
    queryFn: () =>
      unwrap(api.GET('/api/v1/calls/{call_id}/details', { params: { path: { call_id: id ?? 0 } } })),
    enabled: id !== null,
  });
}

/** Names for ids (employees, virtual numbers, tags): only roles that read the configuration. */
export interface Lookups {
  employees: Map<number, string>;
  numbers: Map<number, string>;
  tags: Map<number, { name: string; color: string }>;
}

export function useLookups(role: Role | undefined) {
  return useQuery({
    queryKey: ['reports', 'lookups'],
    enabled: role !== undefined && role !== 'employee',
    staleTime: 60_000,
    queryFn: async (): Promise<Lookups> => {
      const all = { params: { query: { limit: 1000, offset: 0 } } };
      const [employees, numbers, tags] = await Promise.all([
        unwrap(api.GET('/api/v1/employees', all)),
        unwrap(api.GET('/api/v1/numbers', all)),
        unwrap(api.GET('/api/v1/tags', all)),
      ]);
      return {
        employees: new Map(
          employees.items.map((e) => [e.id, [e.last_name, e.first_name].filter(Boolean).join(' ')]),
        ),
        numbers: new Map(numbers.items.map((n) => [n.id, n.name ? `${n.number} (${n.name})` : n.number])),
        tags: new Map(tags.items.map((tag) => [tag.id, { name: tag.name, color: tag.color }])),
      };
    },
  });
}

/** BLK-1 from a report row: a blacklist entry; a number already there is said so (409). */
export function useBlockNumber() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: Schemas['BlacklistEntry']) => unwrap(api.POST('/api/v1/blacklist', { body })),
    onSuccess: () => void client.invalidateQueries({ queryKey: ['blacklist'] }),
  });
}

/** The API's CSV of the report with the filters and columns shown, saved by the browser. */
export async function downloadCsv(query: CallQuery, columns: readonly string[]): Promise<void> {
  const params = new URLSearchParams(exportQuery(query, columns));
  const url = `${globalThis.location.origin}/api/v1/calls/export.csv?${params.toString()}`;
  let response: Response;
  try {
    response = await authorizedFetch(new Request(url));
  } catch (error) {
    throw new NetworkError(error instanceof Error ? error.message : String(error));
  }
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  const blob = await response.blob();
  const link = document.createElement('a');
  link.href = URL.createObjectURL(blob);
  link.download = 'calls.csv';
  document.body.append(link);
  link.click();
  link.remove();
  URL.revokeObjectURL(link.href);
}
