export interface ListState {
  page: number;
  size: number;
  sort: string;
  search: string;
}

/** The query of one list page: `name` searched by equality, as the API filters. */
export function listQuery(state: ListState, searchField = 'name'): Record<string, string | number> {
  const query: Record<string, string | number> = {
    limit: state.size,
    offset: (state.page - 1) * state.size,
    sort: state.sort,
  };
  const search = state.search.trim();
  if (search !== '') query[searchField] = search;
  return query;
}
