/** The sections of the side menu, in their order: 27 screens read as six groups, not one column. */
export const SECTIONS = ['main', 'calls', 'routing', 'staff', 'clients', 'account'] as const;

export type MenuSection = (typeof SECTIONS)[number];
