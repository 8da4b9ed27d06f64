// The addresses of the generic screens (App.tsx routes them; the pages load when first opened).
export const RESOURCE_NAMES = [
  'contacts',
  'contact-groups',
  'blacklist',
  'caller-lists',
  'talk-options',
  'trunks',
  'cid-rules',
  'sip-lines',
  'callback-rules',
  'lead-callback-rules',
  'leads',
  'tags',
  'segments',
  'webhooks',
  'users',
  'fmc-lines',
] as const;
