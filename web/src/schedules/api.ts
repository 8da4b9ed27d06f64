import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { api, type Schemas } from '../api/client';
import { unwrap } from '../api/errors';
import { useSaveVersioned, useVersioned } from '../entities/crud';
import { listQuery, type ListState } from '../entities/list';
import { ifMatch } from '../entities/versioned';

export type Schedule = Schemas['Schedule'];
export type ScheduleOut = Schemas['ScheduleOut'];

export function useSchedules(state: ListState) {
  return useQuery({
    queryKey: ['schedules', 'list', state],
    queryFn: () => unwrap(api.GET('/api/v1/schedules', { params: { query: listQuery(state) } })),
    placeholderData: keepPreviousData,
  });
}

export function useSchedule(id: number | null) {
  return useVersioned('schedules', id, (entity_id) => api.GET('/api/v1/schedules/{entity_id}', { params: { path: { entity_id } } }));
}

export function useSaveSchedule(id: number | null) {
  return useSaveVersioned<Schedule, ScheduleOut>(
    'schedules',
    id,
    (body) => api.POST('/api/v1/schedules', { body }),
    (entity_id, body, etag) =>
      api.PUT('/api/v1/schedules/{entity_id}', { params: { path: { entity_id } }, body, headers: ifMatch(etag) }),
  );
}

export function deleteSchedule(id: number) {
  return unwrap(api.DELETE('/api/v1/schedules/{entity_id}', { params: { path: { entity_id: id } } }));
}

/** SCH-3: the national production calendar of a year (the same for every account; 422: not known). */
export function useProductionYear(year: number) {
  return useQuery({
    queryKey: ['calendar', year],
    queryFn: () => unwrap(api.GET('/api/v1/calendar/{year}', { params: { path: { year } } })),
    staleTime: Infinity,
    retry: false,
  });
}
