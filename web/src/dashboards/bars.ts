/**
 * Where the bars of a dashboard chart go (pure: tested without a DOM), and the chart's frame.
 */
import type { CSSProperties } from 'react';
import { ticks } from './period';

export const WIDTH = 960;
export const HEIGHT = 240;
export const LEFT = 44;
export const RIGHT = 8;
export const TOP = 10;
export const BOTTOM = 24;

/** Hidden from sight, kept for screen readers (and for tests reading the numbers). */
export const visuallyHidden: CSSProperties = {
  position: 'absolute',
  width: 1,
  height: 1,
  padding: 0,
  margin: -1,
  overflow: 'hidden',
  clipPath: 'inset(50%)',
  whiteSpace: 'nowrap',
  border: 0,
};

export interface Bar {
  series: number;
  bucket: number;
  x: number;
  y: number;
  width: number;
  height: number;
  value: number;
}

/** Where every bar goes (pure: tested without a DOM). Empty and zero values draw nothing. */
export function layoutBars(
  values: readonly (readonly (number | null)[])[],
  stacked: boolean,
  buckets: number,
): { bars: Bar[]; axis: number[] } {
  const plotWidth = WIDTH - LEFT - RIGHT;
  const plotHeight = HEIGHT - TOP - BOTTOM;
  let max = 0;
  for (let b = 0; b < buckets; b += 1) {
    const column = values.map((row) => row[b] ?? 0);
    max = Math.max(max, stacked ? column.reduce((a, v) => a + v, 0) : Math.max(0, ...column));
  }
  const axis = ticks(max);
  const top = axis[axis.length - 1] ?? 1;
  const slot = buckets > 0 ? plotWidth / buckets : plotWidth;
  const bars: Bar[] = [];
  for (let b = 0; b < buckets; b += 1) {
    let base = 0;
    values.forEach((row, s) => {
      const value = row[b];
      if (value === null || value === undefined || value <= 0) return;
      const height = (value / top) * plotHeight;
      if (stacked) {
        const width = slot * 0.7;
        bars.push({ series: s, bucket: b, x: LEFT + b * slot + (slot - width) / 2, y: TOP + plotHeight - base - height, width, height, value });
        base += height;
      } else {
        const width = (slot * 0.8) / values.length;
        bars.push({ series: s, bucket: b, x: LEFT + b * slot + slot * 0.1 + s * width, y: TOP + plotHeight - height, width, height, value });
      }
    });
  }
  return { bars, axis };
}

