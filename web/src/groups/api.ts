import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { api, type Schemas } from '../api/client';
import { unwrap } from '../api/errors';
import { useSaveVersioned, useVersioned } from '../entities/crud';
import { listQuery, type ListState } from '../entities/list';
import { ifMatch } from '../entities/versioned';

export type Group = Schemas['Group'];
export type GroupOut = Schemas['GroupOut'];

export function useGroups(state: ListState) {
  return useQuery({
    queryKey: ['groups', 'list', state],
    queryFn: () => unwrap(api.GET('/api/v1/groups', { params: { query: listQuery(state) } })),
    placeholderData: keepPreviousData,
  });
}

export function useGroup(id: number | null) {
  return useVersioned('groups', id, (entity_id) => api.GET('/api/v1/groups/{entity_id}', { params: { path: { entity_id } } }));
}

export function useSaveGroup(id: number | null) {
  return useSaveVersioned<Group, GroupOut>(
    'groups',
    id,
    (body) => api.POST('/api/v1/groups', { body }),
    (entity_id, body, etag) =>
      api.PUT('/api/v1/groups/{entity_id}', { params: { path: { entity_id } }, body, headers: ifMatch(etag) }),
  );
}

export function deleteGroup(id: number) {
  return unwrap(api.DELETE('/api/v1/groups/{entity_id}', { params: { path: { entity_id: id } } }));
}
