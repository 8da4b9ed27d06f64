import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { api, type Schemas } from '../api/client';
import { unwrap } from '../api/errors';
import { useSaveVersioned, useVersioned } from '../entities/crud';
import { listQuery, type ListState } from '../entities/list';
import { ifMatch } from '../entities/versioned';

export type Scenario = Schemas['Scenario'];
export type ScenarioOut = Schemas['ScenarioOut'];
export type ScenarioSaved = Schemas['ScenarioSaved'];
export type Operation = Scenario['operations'][number];
export type Lint = Schemas['LintOut'];

export function useScenarios(state: ListState) {
  return useQuery({
    queryKey: ['scenarios', 'list', state],
    queryFn: () => unwrap(api.GET('/api/v1/scenarios', { params: { query: listQuery(state) } })),
    placeholderData: keepPreviousData,
  });
}

export function useScenario(id: number | null) {
  return useVersioned('scenarios', id, (entity_id) => api.GET('/api/v1/scenarios/{entity_id}', { params: { path: { entity_id } } }));
}

export function useSaveScenario(id: number | null) {
  return useSaveVersioned<Scenario, ScenarioSaved>(
    'scenarios',
    id,
    (body) => api.POST('/api/v1/scenarios', { body }),
    (entity_id, body, etag) =>
      api.PUT('/api/v1/scenarios/{entity_id}', { params: { path: { entity_id } }, body, headers: ifMatch(etag) }),
  );
}

/** SCN-LINT of a draft: the lost-call warnings before saving (null while it is not valid). */
export function useLint(draft: Scenario | null) {
  return useQuery({
    queryKey: ['scenarios', 'lint', draft],
    queryFn: () => unwrap(api.POST('/api/v1/scenarios/lint', { body: draft as Scenario })),
    enabled: draft !== null,
    placeholderData: keepPreviousData,
    retry: false,
  });
}

export function deleteScenario(id: number) {
  return unwrap(api.DELETE('/api/v1/scenarios/{entity_id}', { params: { path: { entity_id: id } } }));
}
