import type { Role } from '../auth/me';

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
export const RESOURCE_MENU: readonly { key: ResourceMenuKey; path: string; roles: readonly Role[] }[] = [
  { key: 'contacts', path: '/contacts', roles: CONFIG },
  { key: 'contactGroups', path: '/contact-groups', roles: CONFIG },
  { key: 'blacklist', path: '/blacklist', roles: CONFIG },
  { key: 'callerLists', path: '/caller-lists', roles: CONFIG },
  { key: 'sipLines', path: '/sip-lines', roles: CONFIG },
  { key: 'trunks', path: '/trunks', roles: CONFIG },
  { key: 'cidRules', path: '/cid-rules', roles: CONFIG },
  { key: 'talkOptions', path: '/talk-options', roles: CONFIG },
  { key: 'callbackRules', path: '/callback-rules', roles: CONFIG },
  { key: 'leadCallbackRules', path: '/lead-callback-rules', roles: CONFIG },
  { key: 'leads', path: '/leads', roles: CONFIG },
  { key: 'tags', path: '/tags', roles: CONFIG },
  { key: 'segments', path: '/segments', roles: CONFIG },
  { key: 'webhooks', path: '/webhooks', roles: CONFIG },
  { key: 'fmcLines', path: '/fmc-lines', roles: CONFIG },
  { key: 'users', path: '/users', roles: ADMINS },
  { key: 'account', path: '/account', roles: CONFIG },
  // the manual's setup wizard (also offered on the home page of a new account)
  { key: 'setup', path: '/setup', roles: ADMINS },
];
