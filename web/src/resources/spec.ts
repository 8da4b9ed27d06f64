/**
 * The small description each remaining configuration screen is made of: its fields (what the
 * form edits and the list shows) and how its list is searched and sorted. One generic list and
 * one generic form (ResourceListPage, ResourceEditPage) render every description, instead of a
 * hand-written page per resource.
 */
import type { Schemas } from '../api/client';
import type { RESOURCE_NAMES } from './names';

/** The resources these screens edit: their document (what a save sends) and what the API answers. */
export interface ResourceTypes {
  contacts: { doc: Schemas['Contact']; out: Schemas['ContactOut'] };
  'contact-groups': { doc: Schemas['ContactGroup']; out: Schemas['ContactGroupOut'] };
  blacklist: { doc: Schemas['BlacklistEntry']; out: Schemas['BlacklistEntryOut'] };
  'caller-lists': { doc: Schemas['CallerList']; out: Schemas['CallerListOut'] };
  'talk-options': { doc: Schemas['TalkOption']; out: Schemas['TalkOptionOut'] };
  trunks: { doc: Schemas['Trunk']; out: Schemas['TrunkOut'] };
  'cid-rules': { doc: Schemas['CidRule']; out: Schemas['CidRuleOut'] };
  'sip-lines': { doc: Schemas['SipLine']; out: Schemas['SipLineOut'] };
  'callback-rules': { doc: Schemas['CallbackRule']; out: Schemas['CallbackRuleOut'] };
  'lead-callback-rules': { doc: Schemas['LeadCallbackRule']; out: Schemas['LeadCallbackRuleOut'] };
  leads: { doc: Schemas['Lead']; out: Schemas['LeadOut'] };
  tags: { doc: Schemas['Tag']; out: Schemas['TagOut'] };
  segments: { doc: Schemas['Segment']; out: Schemas['SegmentOut'] };
  webhooks: { doc: Schemas['Webhook']; out: Schemas['WebhookOut'] };
  users: { doc: Schemas['User']; out: Schemas['UserOut'] };
  'fmc-lines': { doc: Schemas['FmcLine']; out: Schemas['FmcLineOut'] };
}

/** names.ts lists exactly these (tsc checks both ways) */
export type ResourceName = keyof ResourceTypes & (typeof RESOURCE_NAMES)[number];
type Listed<T extends (typeof RESOURCE_NAMES)[number]> = T;
export type AllListed = Listed<keyof ResourceTypes>;
export type Doc<R extends ResourceName> = ResourceTypes[R]['doc'];
export type Out<R extends ResourceName> = ResourceTypes[R]['out'];

/** Entities a form picks from by name (a select, never a raw id). */
export type RefName =
  | 'employees'
  | 'groups'
  | 'numbers'
  | 'scenarios'
  | 'schedules'
  | 'files'
  | 'contacts'
  | 'contact-groups'
  | 'caller-lists'
  | 'tags'
  | 'segments';

/** "how.method": the dotted paths of a document's fields, nested objects included. */
export type FieldPath<T> = T extends readonly unknown[]
  ? never
  : T extends object
    ? {
        [K in keyof T & string]-?: NonNullable<T[K]> extends readonly unknown[]
          ? K
          : NonNullable<T[K]> extends Record<string, unknown>
            ? K | `${K}.${FieldPath<NonNullable<T[K]>>}`
            : K;
      }[keyof T & string]
    : never;

/** What the form holds while the user types: any field may be missing. */
export type Draft<T> = T extends readonly unknown[] ? T : T extends object ? { [K in keyof T]?: Draft<T[K]> } : T;

interface Common<D> {
  name: FieldPath<D>;
  required?: boolean;
  /** shown only when this holds for the values being typed (e.g. a method's own field) */
  when?: (values: Draft<D>) => boolean;
  /** the share of the form's row it takes (antd's 24 columns); 12 by default */
  span?: 6 | 8 | 12 | 24;
  /** a tooltip: the i18n key under resources.<name>.help */
  help?: boolean;
  /** shown, never sent (e.g. an FMC line's number for the admin) */
  readOnly?: boolean;
}

export type FieldSpec<D> = Common<D> &
  (
    | { kind: 'text'; max?: number; pattern?: RegExp; rule?: string; multiline?: boolean }
    | { kind: 'phone' }
    | { kind: 'email' }
    | { kind: 'number'; min: number; max: number }
    | { kind: 'switch' }
    | { kind: 'enum'; options: readonly string[]; enumKey: string; multiple?: boolean }
    | { kind: 'ref'; target: RefName }
    | { kind: 'refs'; target: RefName }
    /** a list of strings typed one by one (numbers, prefixes, addresses) */
    | { kind: 'list'; pattern?: RegExp; rule?: string; phones?: boolean }
    /** a list of whole numbers (the callback's attempt intervals) */
    | { kind: 'integers'; min: number; max: number; maxItems: number }
    | { kind: 'color' }
    /** write-only or masked ("••••"): left empty it keeps what is stored */
    | { kind: 'secret'; min?: number; requiredOnCreate?: boolean }
  );

export type Role = 'operator' | 'admin' | 'supervisor' | 'employee';

export interface ResourceSpec<R extends ResourceName> {
  name: R;
  fields: readonly FieldSpec<Doc<R>>[];
  /** the list's columns (the first links to the form): fields of the answer */
  columns: readonly FieldPath<Out<R>>[];
  sortable: readonly string[];
  defaultSort: string;
  /** the API filters lists by equality: the field the search box fills */
  searchField: string;
  nameOf: (row: Out<R>) => string;
  /** a new entity's values */
  empty: Partial<Doc<R>>;
  /** who may create and delete (the API refuses the others: FMC lines are the operator's);
   * admins and the operator unless said */
  creators?: readonly Role[];
  removers?: readonly Role[];
  /** the answer's own fields a save must not send back (generated logins) */
  readonlyOut?: readonly string[];
  /** ordered by `position` with ↑/↓ in the list (CID-3, callback rules) */
  ordered?: boolean;
  /** who sees the screen at all (users: admins) */
  readers?: readonly Role[];
  /** who may save the form, beside the creators (an admin unblocks an FMC line) */
  writers?: readonly Role[];
}

/** Any resource's description, for the generic pages. */
export type AnySpec = { [R in ResourceName]: ResourceSpec<R> }[ResourceName];
