/**
 * The API calls of the generic screens. Every resource of the catalogue has the same routes
 * (crud.py: list, get, create, replace, update, delete) and the same parameters, so one typed
 * route stands for all of them; the resource's own types come from ResourceTypes (spec.ts).
 */
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { api, type Schemas } from '../api/client';
import { unwrap } from '../api/errors';
import { useSaveVersioned, useVersioned } from '../entities/crud';
import { listQuery, type ListState } from '../entities/list';
import { ifMatch } from '../entities/versioned';
import type { Doc, Out, RefName, ResourceName } from './spec';

// The one place the resource's name meets openapi-fetch's per-path typing: the routes are alike
// (crud.py builds them from one function), the bodies and answers are typed by ResourceTypes.
type Collection = '/api/v1/tags';
type Item = '/api/v1/tags/{entity_id}';
const collection = (name: ResourceName | RefName) => `/api/v1/${name}` as Collection;
const item = (name: ResourceName) => `/api/v1/${name}/{entity_id}` as Item;
const body = <R extends ResourceName>(document: Partial<Doc<R>>) => document as unknown as Schemas['Tag'];

export interface Page<T> {
  items: T[];
  total: number;
}

export async function listOf<R extends ResourceName>(
  name: R,
  query: Record<string, string | number>,
): Promise<Page<Out<R>>> {
  const page = await unwrap(api.GET(collection(name), { params: { query } }));
  return page;
}

/** The list query of a resource, as EntityList calls it (a hook per resource). */
export function listHook<R extends ResourceName>(name: R, searchField: string) {
  const useList = (state: ListState) =>
    useQuery({
      queryKey: [name, 'list', state],
      queryFn: () => listOf(name, listQuery(state, searchField)),
      placeholderData: keepPreviousData,
    });
  return useList;
}

export function useResource<R extends ResourceName>(name: R, id: number | null) {
  return useVersioned<Out<R>>(name, id, async (entity_id) => {
    const answer = await api.GET(item(name), { params: { path: { entity_id } } });
    return answer;
  });
}

export function useSaveResource<R extends ResourceName>(name: R, id: number | null) {
  return useSaveVersioned<Partial<Doc<R>>, Out<R>>(
    name,
    id,
    async (document) =>
      await api.POST(collection(name), { body: body<R>(document) }),
    async (entity_id, document, etag) =>
      await api.PUT(item(name), {
        params: { path: { entity_id } },
        body: body<R>(document),
        headers: ifMatch(etag),
      }),
  );
}

/** PATCH of top-level fields (a rule's position when the list is reordered). */
export async function patchResource<R extends ResourceName>(name: R, id: number, patch: Partial<Doc<R>>) {
  await unwrap(api.PATCH(item(name), { params: { path: { entity_id: id } }, body: body<R>(patch) }));
}

export async function deleteResource(name: ResourceName, id: number) {
  await unwrap(api.DELETE(item(name), { params: { path: { entity_id: id } } }));
}

/** The names a reference is shown and picked by. */
const LABELS: Record<RefName, (row: Record<string, unknown>) => string> = {
  employees: (row) => [row.last_name, row.first_name].filter(Boolean).join(' '),
  contacts: (row) => [row.last_name, row.first_name].filter(Boolean).join(' '),
  numbers: (row) => [row.number, row.name].filter(Boolean).join(' · '),
  groups: (row) => String(row.name),
  scenarios: (row) => String(row.name),
  schedules: (row) => String(row.name),
  files: (row) => String(row.name),
  'contact-groups': (row) => String(row.name),
  'caller-lists': (row) => String(row.name),
  tags: (row) => String(row.name),
  segments: (row) => String(row.name),
};

export interface RefOption {
  value: number;
  label: string;
}

/** Every entity of `target` as select options (the API answers at most 1000 a page). */
export function useRefOptions(target: RefName, enabled = true) {
  return useQuery({
    queryKey: [target, 'list', 'options'],
    enabled,
    queryFn: async (): Promise<RefOption[]> => {
      const page = await unwrap(api.GET(collection(target), { params: { query: { limit: 1000, offset: 0 } } }));
      const rows = (page as unknown as Page<Record<string, unknown> & { id: number }>).items;
      return rows.map((row) => ({ value: row.id, label: LABELS[target](row) || `#${row.id}` }));
    },
  });
}
