/** Only paths of this app are followed after sign-in (no open redirect). */
export function safeNext(next: string | null): string {
  if (next === null || !next.startsWith('/') || next.startsWith('//')) return '/';
  return next;
}
