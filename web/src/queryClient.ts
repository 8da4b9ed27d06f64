import { QueryClient } from '@tanstack/react-query';
import { isRetryable } from './api/errors';

export function makeQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        // A server that is down is retried twice by itself, then the page shows a retry button.
        retry: (count, error) => isRetryable(error) && count < 2,
        refetchOnWindowFocus: false,
      },
      mutations: { retry: false },
    },
  });
}
