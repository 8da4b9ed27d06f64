import type { ReactNode } from 'react';
import { Navigate, useLocation } from 'react-router-dom';
import { lastSessionEnd, useSession } from './useSession';

/** Without a session: to sign-in, remembering this page (and saying why when it expired). */
export function RequireAuth({ children }: { children: ReactNode }) {
  const session = useSession();
  const location = useLocation();
  if (session !== null) return children;
  // Signed out on purpose: a plain sign-in page, no way back into the last page.
  if (lastSessionEnd() === 'signout') return <Navigate to="/login" replace />;
  const next = location.pathname + location.search;
  const params = new URLSearchParams();
  if (next !== '/') params.set('next', next);
  if (lastSessionEnd() === 'expired') params.set('expired', '1');
  const query = params.toString();
  return <Navigate to={query ? `/login?${query}` : '/login'} replace />;
}
