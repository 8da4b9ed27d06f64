/** Drag-to-order (phones, rules): which move a drop makes, and a list with one item moved. */

export interface Move {
  from: number;
  to: number;
}

/**
 * The move of a drop: the dragged item (`activeId`) takes the place of the item it was dropped
 * on (`overId`); null when it was dropped outside the list or on itself. The same move as ↑/↓
 * (`Form.List`'s `move(from, to)`), so both paths save the same order.
 */
export function dropMove(ids: readonly string[], activeId: string, overId: string | null): Move | null {
  if (overId === null || overId === activeId) return null;
  const from = ids.indexOf(activeId);
  const to = ids.indexOf(overId);
  return from < 0 || to < 0 ? null : { from, to };
}

/** `items` with the item at `from` moved to `to` (the others keep their order). */
export function moved<T>(items: readonly T[], { from, to }: Move): T[] {
  const result = [...items];
  const [item] = result.splice(from, 1);
  if (item !== undefined) result.splice(to, 0, item);
  return result;
}
