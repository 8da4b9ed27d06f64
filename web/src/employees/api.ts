import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, type Schemas } from '../api/client';
import { unwrap } from '../api/errors';

export type Employee = Schemas['Employee'];
export type EmployeeOut = Schemas['EmployeeOut'];
export type EmployeePhone = Schemas['EmployeePhone'];
export type Registration = Schemas['Registration'];

export interface ListParams {
  limit: number;
  offset: number;
  /** `field` or `-field` */
  sort?: string | undefined;
  /** the API's lists filter by equality: digits look for an extension, words a last name */
  search?: string | undefined;
}

type ListQuery = { limit: number; offset: number; sort?: string } & Record<string, string | number>;

export function listQuery(params: ListParams): ListQuery {
  const query: ListQuery = { limit: params.limit, offset: params.offset };
  if (params.sort) query.sort = params.sort;
  const search = params.search?.trim();
  if (search) {
    if (/^\d+$/.test(search)) query.extension = search;
    else query.last_name = search;
  }
  return query;
}

export function useEmployees(params: ListParams) {
  return useQuery({
    queryKey: ['employees', 'list', params],
    queryFn: () =>
      unwrap(
        api.GET('/api/v1/employees', {
          // any scalar field is an equality filter beside limit, offset and sort
          params: { query: listQuery(params) },
        }),
      ),
    placeholderData: keepPreviousData,
  });
}

export function useEmployee(id: number | null) {
  return useQuery({
    queryKey: ['employees', 'one', id],
    queryFn: () =>
      unwrap(api.GET('/api/v1/employees/{entity_id}', { params: { path: { entity_id: id ?? 0 } } })),
    enabled: id !== null,
  });
}

export function useSaveEmployee(id: number | null) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: Employee) =>
      id === null
        ? unwrap(api.POST('/api/v1/employees', { body }))
        : unwrap(api.PUT('/api/v1/employees/{entity_id}', { params: { path: { entity_id: id } }, body })),
    onSuccess: (saved) => {
      client.setQueryData(['employees', 'one', saved.id], saved);
      void client.invalidateQueries({ queryKey: ['employees', 'list'] });
    },
  });
}

export function useSipLine(id: number) {
  return useQuery({
    queryKey: ['sip-lines', id],
    queryFn: () =>
      unwrap(api.GET('/api/v1/sip-lines/{entity_id}', { params: { path: { entity_id: id } } })),
  });
}

/** SIP-2, live: the registrar's bindings, asked again every few seconds. */
export function useRegistration(id: number) {
  return useQuery({
    queryKey: ['sip-lines', id, 'registration'],
    queryFn: () =>
      unwrap(
        api.GET('/api/v1/sip-lines/{entity_id}/registration', {
          params: { path: { entity_id: id } },
        }),
      ),
    refetchInterval: 3000,
    refetchIntervalInBackground: false,
  });
}

export function useSipServer() {
  return useQuery({
    queryKey: ['sip-server'],
    queryFn: () => unwrap(api.GET('/api/v1/sip-server')),
    staleTime: Infinity,
  });
}

/** SIP-1: a new generated password for the line (audited); the new password. */
export async function regeneratePassword(id: number): Promise<string> {
  const body = await unwrap(
    api.POST('/api/v1/sip-lines/{entity_id}/regenerate-secret', { params: { path: { entity_id: id } } }),
  );
  return body.secrets.password ?? '';
}

export async function revealPassword(id: number): Promise<string> {
  const body = await unwrap(
    api.POST('/api/v1/sip-lines/{entity_id}/reveal-secret', { params: { path: { entity_id: id } } }),
  );
  return body.secrets.password ?? '';
}
