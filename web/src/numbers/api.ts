import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { api, type Schemas } from '../api/client';
import { unwrap } from '../api/errors';
import { useSaveVersioned, useVersioned } from '../entities/crud';
import { listQuery, type ListState } from '../entities/list';
import { ifMatch } from '../entities/versioned';

export type VirtualNumber = Schemas['VirtualNumber'];
export type VirtualNumberOut = Schemas['VirtualNumberOut'];
export type NumberRule = Schemas['NumberRule'];

export function useNumbers(state: ListState) {
  return useQuery({
    queryKey: ['numbers', 'list', state],
    queryFn: () => unwrap(api.GET('/api/v1/numbers', { params: { query: listQuery(state, 'number') } })),
    placeholderData: keepPreviousData,
  });
}

export function useNumber(id: number | null) {
  return useVersioned('numbers', id, (entity_id) => api.GET('/api/v1/numbers/{entity_id}', { params: { path: { entity_id } } }));
}

export function useSaveNumber(id: number | null) {
  return useSaveVersioned<VirtualNumber, VirtualNumberOut>(
    'numbers',
    id,
    (body) => api.POST('/api/v1/numbers', { body }),
    (entity_id, body, etag) =>
      api.PUT('/api/v1/numbers/{entity_id}', { params: { path: { entity_id } }, body, headers: ifMatch(etag) }),
  );
}

export function deleteNumber(id: number) {
  return unwrap(api.DELETE('/api/v1/numbers/{entity_id}', { params: { path: { entity_id: id } } }));
}
