/** GRP-2: the distribution table of a group — pure functions the form and its tests share. */
import type { Schemas } from '../api/client';

export type GroupPhone = Schemas['GroupPhone'];
type Employee = Schemas['EmployeeOut'];

/**
 * «Уравнять проценты»: equal percents with two decimals that add up to exactly 100, over every
 * phone of the table (the manual: "равномерно по всем телефонам в списке"). The same rule as the
 * domain's `vpbx.scenario.distribution.equalize`: the first rows get the odd hundredths.
 */
export function equalize(count: number): number[] {
  if (count <= 0) return [];
  const cents = 10000;
  const base = Math.floor(cents / count);
  const extra = cents % count;
  return Array.from({ length: count }, (_, index) => (base + (index < extra ? 1 : 0)) / 100);
}

export function equalized(rows: readonly GroupPhone[]): GroupPhone[] {
  const shares = equalize(rows.length);
  return rows.map((row, index) => ({ ...row, percent: shares[index] ?? 0 }));
}

/** Whether a phone is a SIP-type one (SIP or FMC line): the S button puts these first. */
export function isSipKind(kind: string | undefined): boolean {
  return kind === 'sip' || kind === 'fmc';
}

/** The table listing exactly the members' phones: kept rows in their order, new phones at 0 %. */
export function syncRows(rows: readonly GroupPhone[], memberIds: readonly number[], employees: readonly Employee[]): GroupPhone[] {
  const members = new Set(memberIds);
  const phones = new Set<string>();
  for (const employee of employees) {
    if (!members.has(employee.id)) continue;
    for (const phone of employee.phones) if (phone.id != null) phones.add(`${employee.id}/${phone.id}`);
  }
  const kept = rows.filter((row) => phones.has(`${row.employee_id}/${row.phone_id}`));
  const listed = new Set(kept.map((row) => `${row.employee_id}/${row.phone_id}`));
  for (const id of memberIds) {
    const employee = employees.find((item) => item.id === id);
    for (const phone of employee?.phones ?? []) {
      if (phone.id == null || listed.has(`${id}/${phone.id}`)) continue;
      kept.push({ employee_id: id, phone_id: phone.id, percent: 0, enabled: true });
    }
  }
  return kept;
}

/** S: SIP phones first; T: telephone numbers first (stable, as the API sorts). */
export function sortByType(
  rows: readonly GroupPhone[],
  typeSort: 'S' | 'T' | null | undefined,
  kindOf: (row: GroupPhone) => string | undefined,
): GroupPhone[] {
  if (typeSort == null) return [...rows];
  const sipFirst = typeSort === 'S';
  const rank = (row: GroupPhone) => (isSipKind(kindOf(row)) === sipFirst ? 0 : 1);
  return rows
    .map((row, index) => ({ row, index }))
    .sort((a, b) => rank(a.row) - rank(b.row) || a.index - b.index)
    .map((item) => item.row);
}

export function moved<T>(items: readonly T[], from: number, to: number): T[] {
  if (to < 0 || to >= items.length || from === to) return [...items];
  const next = [...items];
  const [item] = next.splice(from, 1);
  if (item !== undefined) next.splice(to, 0, item);
  return next;
}

/** The sum of the percents, to two decimals (the API wants 0 or 100). */
export function percentTotal(rows: readonly GroupPhone[]): number {
  return Math.round(rows.reduce((sum, row) => sum + row.percent, 0) * 100) / 100;
}
