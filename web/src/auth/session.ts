/** The signed-in session, kept in localStorage so a reload (or a second tab) stays signed in. */

export interface Session {
  accessToken: string;
  /** null for the operator's token, which does not expire */
  refreshToken: string | null;
  login: string;
  /** the operator's chosen account (the X-Account-Id header); null for account users */
  accountId: number | null;
}

const KEY = 'vpbx.session';
type Listener = (session: Session | null, reason: 'signin' | 'signout' | 'expired') => void;
const listeners = new Set<Listener>();

export function loadSession(): Session | null {
  try {
    const raw = localStorage.getItem(KEY);
    if (raw === null) return null;
    const value = JSON.parse(raw) as Partial<Session>;
    if (typeof value.accessToken !== 'string' || typeof value.login !== 'string') return null;
    return {
      accessToken: value.accessToken,
      refreshToken: typeof value.refreshToken === 'string' ? value.refreshToken : null,
      login: value.login,
      accountId: typeof value.accountId === 'number' ? value.accountId : null,
    };
  } catch {
    return null;
  }
}

export function saveSession(session: Session): void {
  localStorage.setItem(KEY, JSON.stringify(session));
  for (const listener of listeners) listener(session, 'signin');
}

export function updateSession(patch: Partial<Session>): void {
  const current = loadSession();
  if (current === null) return;
  const next = { ...current, ...patch };
  localStorage.setItem(KEY, JSON.stringify(next));
  for (const listener of listeners) listener(next, 'signin');
}

export function endSession(reason: 'signout' | 'expired'): void {
  localStorage.removeItem(KEY);
  for (const listener of listeners) listener(null, reason);
}

export function onSessionChange(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
