import { useQuery } from '@tanstack/react-query';
import { api, type Schemas } from '../api/client';
import { unwrap } from '../api/errors';

export type Me = Schemas['Me'];
export type Role = Me['role'];

/** Who is signed in (GET /auth/me): the role decides the menu and what may be edited. */
export function useMe(enabled: boolean) {
  return useQuery({
    queryKey: ['me'],
    queryFn: () => unwrap(api.GET('/api/v1/auth/me')),
    enabled,
    staleTime: 60_000,
  });
}

/** ACC-2: admins (and the installation operator) change the configuration. */
export function canEditConfig(role: Role | undefined): boolean {
  return role === 'admin' || role === 'operator';
}
