import type { Role } from '../auth/me';
import { RESOURCE_MENU, type ResourceMenuKey } from '../resources/menu';

export interface MenuEntry {
  /** the i18n key under menu.* */
  key:
    | 'home'
    | 'employees'
    | 'calls'
    | 'myCalls'
    | 'files'
    | 'voicemail'
    | 'groups'
    | 'numbers'
    | 'scenarios'
    | 'schedules'
    | 'configYaml'
    | ResourceMenuKey;
  path: string;
  roles: readonly Role[];
}

const CONFIG: readonly Role[] = ['operator', 'admin', 'supervisor'];

/**
 * ACC-2: admin — everything; supervisor — reads the configuration, reports and recordings;
 * employee — his own calls and voicemail. The API refuses what a role may not do; the menu
 * only offers what it may.
 */
export const MENU: readonly MenuEntry[] = [
  { key: 'home', path: '/', roles: ['operator', 'admin', 'supervisor', 'employee'] },
  { key: 'employees', path: '/employees', roles: CONFIG },
  { key: 'groups', path: '/groups', roles: CONFIG },
  { key: 'numbers', path: '/numbers', roles: CONFIG },
  { key: 'scenarios', path: '/scenarios', roles: CONFIG },
  { key: 'schedules', path: '/schedules', roles: CONFIG },
  { key: 'calls', path: '/calls', roles: CONFIG },
  { key: 'files', path: '/files', roles: CONFIG },
  // the YAML holds secrets: the API lets only admins export and import it
  { key: 'configYaml', path: '/config', roles: ['operator', 'admin'] },
  ...RESOURCE_MENU,
  { key: 'myCalls', path: '/calls', roles: ['employee'] },
  { key: 'voicemail', path: '/files', roles: ['employee'] },
];

export function menuFor(role: Role): MenuEntry[] {
  return MENU.filter((entry) => entry.roles.includes(role));
}

/** The menu entry a path belongs to (the longest matching prefix). */
export function selectedKey(entries: readonly MenuEntry[], pathname: string): string | undefined {
  let best: MenuEntry | undefined;
  for (const entry of entries) {
    const hit =
      entry.path === '/' ? pathname === '/' : pathname === entry.path || pathname.startsWith(`${entry.path}/`);
    if (hit && (best === undefined || entry.path.length > best.path.length)) best = entry;
  }
  return best?.key;
}
