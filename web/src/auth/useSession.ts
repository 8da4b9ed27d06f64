import { useSyncExternalStore } from 'react';
import { loadSession, onSessionChange, type Session } from './session';

let lastReason: 'signin' | 'signout' | 'expired' | null = null;
let snapshot: Session | null = loadSession();
let snapshotKey = JSON.stringify(snapshot);

function subscribe(notify: () => void): () => void {
  const unsubscribe = onSessionChange((_session, reason) => {
    lastReason = reason;
    notify();
  });
  const onStorage = (event: StorageEvent): void => {
    if (event.key === 'vpbx.session') notify();
  };
  window.addEventListener('storage', onStorage);
  return () => {
    unsubscribe();
    window.removeEventListener('storage', onStorage);
  };
}

function getSnapshot(): Session | null {
  const current = loadSession();
  const key = JSON.stringify(current);
  if (key !== snapshotKey) {
    snapshot = current;
    snapshotKey = key;
  }
  return snapshot;
}

/** The current session; re-renders on sign-in, sign-out, expiry and changes in other tabs. */
export function useSession(): Session | null {
  return useSyncExternalStore(subscribe, getSnapshot);
}

/** Why the last session ended (the sign-in page says so when it expired). */
export function lastSessionEnd(): 'signin' | 'signout' | 'expired' | null {
  return lastReason;
}
