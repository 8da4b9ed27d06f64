/**
 * The one-entity queries of the configuration forms: load with its ETag, save with If-Match,
 * delete. openapi-fetch's paths are typed per resource; these helpers take the typed calls.
 */
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { versioned, type Versioned } from './versioned';

interface Answer<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

export function useVersioned<T>(resource: string, id: number | null, load: (id: number) => Promise<Answer<T>>) {
  return useQuery({
    queryKey: [resource, 'one', id],
    queryFn: () => versioned(load(id ?? 0)),
    enabled: id !== null,
    // a background refetch must not swap the version a form was opened with
    staleTime: Infinity,
    refetchOnWindowFocus: false,
  });
}

export function useSaveVersioned<B, T extends { id: number }>(
  resource: string,
  id: number | null,
  create: (body: B) => Promise<Answer<T>>,
  replace: (id: number, body: B, etag: string | null) => Promise<Answer<T>>,
) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ body, etag }: { body: B; etag: string | null }): Promise<Versioned<T>> =>
      versioned(id === null ? create(body) : replace(id, body, etag)),
    onSuccess: (saved) => {
      client.setQueryData([resource, 'one', saved.data.id], saved);
      void client.invalidateQueries({ queryKey: [resource, 'list'] });
    },
  });
}
