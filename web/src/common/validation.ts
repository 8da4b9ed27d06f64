// The API's own field rules (EMP-1..3, the address book, trunks…), checked as the user types;
// the API checks them again and its 422 is shown under the same field.
export const EXTENSION_DIGITS = /^\d*$/;
export const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
/** a number in international format, digits only: 10 to 15, country code first */
export const INTERNATIONAL = /^[1-9]\d{9,14}$/;
export const SIP_URI = /^(sip:)?[A-Za-z0-9][A-Za-z0-9.\-+]*@[A-Za-z0-9]([A-Za-z0-9\-.]*[A-Za-z0-9])?(:\d{1,5})?$/;

/** `+7 (495) 123-45-67` → `74951234567`, as the API stores it. */
export function normalizePhone(value: string): string {
  return value.replace(/[\s()-]/g, '').replace(/^\+/, '');
}
