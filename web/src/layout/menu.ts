import type { Role } from '../auth/me';
import { RESOURCE_MENU, type ResourceMenuKey } from '../resources/menu';
import { SECTIONS, type MenuSection } from './sections';

export interface MenuEntry {
  /** the i18n key under menu.* */
  key:
    | 'home'
    | 'employees'
    | 'calls'
    | 'dashboards'
    | 'myDashboards'
    | 'live'
    | 'myLive'
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
  /** the group of the side menu it is shown in */
  section: MenuSection;
}

const CONFIG: readonly Role[] = ['operator', 'admin', 'supervisor'];

/**
 * ACC-2: admin — everything; supervisor — reads the configuration, reports and recordings;
 * employee — his own calls and voicemail. The API refuses what a role may not do; the menu
 * only offers what it may.
 */
export const MENU: readonly MenuEntry[] = [
  { key: 'home', path: '/', roles: ['operator', 'admin', 'supervisor', 'employee'], section: 'main' },
  { key: 'employees', path: '/employees', roles: CONFIG, section: 'staff' },
  { key: 'groups', path: '/groups', roles: CONFIG, section: 'staff' },
  { key: 'numbers', path: '/numbers', roles: CONFIG, section: 'routing' },
  { key: 'scenarios', path: '/scenarios', roles: CONFIG, section: 'routing' },
  { key: 'schedules', path: '/schedules', roles: CONFIG, section: 'routing' },
  { key: 'calls', path: '/calls', roles: CONFIG, section: 'calls' },
  // CDR-4: the calls going on now, pushed by the server
  { key: 'live', path: '/live', roles: CONFIG, section: 'calls' },
  { key: 'dashboards', path: '/dashboards', roles: CONFIG, section: 'calls' },
  { key: 'files', path: '/files', roles: CONFIG, section: 'calls' },
  // the YAML holds secrets: the API lets only admins export and import it
  { key: 'configYaml', path: '/config', roles: ['operator', 'admin'], section: 'account' },
  ...RESOURCE_MENU,
  { key: 'myCalls', path: '/calls', roles: ['employee'], section: 'calls' },
  { key: 'myLive', path: '/live', roles: ['employee'], section: 'calls' },
  { key: 'voicemail', path: '/files', roles: ['employee'], section: 'calls' },
  // CDR-3: the figures of his own calls (the API gives him no others)
  { key: 'myDashboards', path: '/dashboards', roles: ['employee'], section: 'calls' },
];

export function menuFor(role: Role): MenuEntry[] {
  return MENU.filter((entry) => entry.roles.includes(role));
}

/** The role's menu in its sections (in the order of SECTIONS), empty sections left out. */
export function menuSections(role: Role): { section: MenuSection; entries: MenuEntry[] }[] {
  const entries = menuFor(role);
  return SECTIONS.map((section) => ({ section, entries: entries.filter((entry) => entry.section === section) })).filter(
    (group) => group.entries.length > 0,
  );
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
