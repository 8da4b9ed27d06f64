/** A line diff of two texts (longest common subsequence), for the YAML preview. */
export interface DiffLine {
  kind: 'same' | 'added' | 'removed';
  text: string;
}

/** Texts longer than this many lines each are not diffed line by line (the table still shows). */
export const MAX_LINES = 4000;

export function lineDiff(before: string, after: string): DiffLine[] | null {
  const a = before.split('\n');
  const b = after.split('\n');
  if (a.length > MAX_LINES || b.length > MAX_LINES) return null;
  const width = b.length + 1;
  const table = new Uint16Array((a.length + 1) * width);
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      table[i * width + j] =
        a[i] === b[j] ? (table[(i + 1) * width + j + 1] ?? 0) + 1 : Math.max(table[(i + 1) * width + j] ?? 0, table[i * width + j + 1] ?? 0);
    }
  }
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      out.push({ kind: 'same', text: a[i] ?? '' });
      i++;
      j++;
    } else if (j < b.length && (i >= a.length || (table[i * width + j + 1] ?? 0) > (table[(i + 1) * width + j] ?? 0))) {
      out.push({ kind: 'added', text: b[j] ?? '' });
      j++;
    } else {
      out.push({ kind: 'removed', text: a[i] ?? '' });
      i++;
    }
  }
  return out;
}

/** Only the changed lines with `context` unchanged lines around them; `…` marks a gap. */
export function hunks(lines: readonly DiffLine[], context = 2): (DiffLine | null)[] {
  const keep = lines.map(() => false);
  lines.forEach((line, index) => {
    if (line.kind === 'same') return;
    for (let k = Math.max(0, index - context); k <= Math.min(lines.length - 1, index + context); k++) keep[k] = true;
  });
  const out: (DiffLine | null)[] = [];
  lines.forEach((line, index) => {
    if (keep[index]) out.push(line);
    else if (out.length > 0 && out[out.length - 1] !== null) out.push(null);
  });
  if (out[out.length - 1] === null) out.pop();
  return out;
}
