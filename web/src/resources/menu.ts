import type { Role } from '../auth/me';
import type { MenuSection } from '../layout/sections';

export type ResourceMenuKey =
  | 'setup'
  | 'account'
  | 'contacts'
  | 'contactGroups'
  | 'blacklist'
  | 'callerLists'
  | 'talkOptions'
  | 'trunks'
  | 'sipLines'
  | 'cidRules'
  | 'callbackRules'
  | 'leadCallbackRules'
  | 'leads'
  | 'tags'
  | 'segments'
  | 'webhooks'
  | 'users'
  | 'fmcLines';

const CONFIG: readonly Role[] = ['operator', 'admin', 'supervisor'];
const ADMINS: readonly Role[] = ['operator', 'admin'];

/** The menu entries of these screens (ACC-2: users and roles for admins only). */
export const RESOURCE_MENU: readonly { key: ResourceMenuKey; path: string; roles: readonly Role[]; section: MenuSection }[] = [
  { key: 'contacts', path: '/contacts', roles: CONFIG, section: 'clients' },
  { key: 'contactGroups', path: '/contact-groups', roles: CONFIG, section: 'clients' },
  { key: 'blacklist', path: '/blacklist', roles: CONFIG, section: 'clients' },
  { key: 'callerLists', path: '/caller-lists', roles: CONFIG, section: 'routing' },
  { key: 'sipLines', path: '/sip-lines', roles: CONFIG, section: 'staff' },
  { key: 'trunks', path: '/trunks', roles: CONFIG, section: 'staff' },
  { key: 'cidRules', path: '/cid-rules', roles: CONFIG, section: 'routing' },
  { key: 'talkOptions', path: '/talk-options', roles: CONFIG, section: 'routing' },
  { key: 'callbackRules', path: '/callback-rules', roles: CONFIG, section: 'clients' },
  { key: 'leadCallbackRules', path: '/lead-callback-rules', roles: CONFIG, section: 'clients' },
  { key: 'leads', path: '/leads', roles: CONFIG, section: 'clients' },
  { key: 'tags', path: '/tags', roles: CONFIG, section: 'clients' },
  { key: 'segments', path: '/segments', roles: CONFIG, section: 'clients' },
  { key: 'webhooks', path: '/webhooks', roles: CONFIG, section: 'account' },
  { key: 'fmcLines', path: '/fmc-lines', roles: CONFIG, section: 'staff' },
  { key: 'users', path: '/users', roles: ADMINS, section: 'account' },
  { key: 'account', path: '/account', roles: CONFIG, section: 'account' },
  // the manual's setup wizard (also offered on the home page of a new account)
  { key: 'setup', path: '/setup', roles: ADMINS, section: 'main' },
];
