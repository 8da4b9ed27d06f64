// TRN-1: who may join a live call from the live view.
import type { Role } from '../auth/me';

/** ACC-2: an admin and a supervisor may join calls; the PBX rings their own phones. */
export function canSupervise(role: Role | undefined): boolean {
  return role === 'admin' || role === 'supervisor';
}
