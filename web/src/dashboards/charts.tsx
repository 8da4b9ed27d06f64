/**
 * Small SVG bar charts for the dashboards, drawn here (no chart library: the cabinet's bundle
 * stays small). Each chart is an image to assistive technology (role="img" with a summary as its
 * label) followed by a visually hidden table of every number it draws, so nothing is shown only
 * as a picture.
 */
import { BOTTOM, HEIGHT, layoutBars, LEFT, RIGHT, TOP, visuallyHidden, WIDTH } from './bars';
import { labelEvery } from './period';

export interface Series {
  key: string;
  label: string;
  color: string;
}

export interface BarChartProps {
  /** the chart's name: the hidden table's caption */
  title: string;
  /** what the chart says in one sentence (the image's label) */
  summary: string;
  /** the bucket under each bar (shown, every few) and in full (the table, the tooltips) */
  labels: readonly { short: string; full: string }[];
  series: readonly Series[];
  /** values[series][bucket]; null: no figure for that bucket */
  values: readonly (readonly (number | null)[])[];
  /** stacked (one bar per bucket) or side by side (one bar per series) */
  stacked: boolean;
  /** a value as text (the axis, the table, the tooltips) */
  format?: (value: number) => string;
  /** the hidden table's first column header */
  bucketHeader: string;
  testId?: string;
}

export function BarChart({ title, summary, labels, series, values, stacked, format = String, bucketHeader, testId }: BarChartProps) {
  const { bars, axis } = layoutBars(values, stacked, labels.length);
  const plotHeight = HEIGHT - TOP - BOTTOM;
  const top = axis[axis.length - 1] ?? 1;
  const slot = labels.length > 0 ? (WIDTH - LEFT - RIGHT) / labels.length : 0;
  const every = labelEvery(labels.length);
  return (
    <figure style={{ margin: 0, position: 'relative' }} data-testid={testId}>
      <svg role="img" aria-label={summary} viewBox={`0 0 ${WIDTH} ${HEIGHT}`} width="100%" style={{ display: 'block' }}>
        {axis.map((tick) => {
          const y = TOP + plotHeight - (tick / top) * plotHeight;
          return (
            <g key={tick} aria-hidden="true">
              <line x1={LEFT} x2={WIDTH - RIGHT} y1={y} y2={y} stroke="#f0f0f0" />
              <text x={LEFT - 6} y={y + 4} textAnchor="end" fontSize={11} fill="#8c8c8c">
                {format(tick)}
              </text>
            </g>
          );
        })}
        <line x1={LEFT} x2={WIDTH - RIGHT} y1={TOP + plotHeight} y2={TOP + plotHeight} stroke="#bfbfbf" aria-hidden="true" />
        {bars.map((bar) => {
          const one = series[bar.series];
          return (
            <rect
              key={`${bar.series}-${bar.bucket}`}
              data-series={one?.key}
              x={bar.x}
              y={bar.y}
              width={bar.width}
              height={bar.height}
              fill={one?.color}
            >
              <title>{`${labels[bar.bucket]?.full ?? ''} — ${one?.label ?? ''}: ${format(bar.value)}`}</title>
            </rect>
          );
        })}
        {labels.map((label, b) =>
          b % every === 0 ? (
            <text key={label.full} x={LEFT + b * slot + slot / 2} y={HEIGHT - 8} textAnchor="middle" fontSize={11} fill="#595959" aria-hidden="true">
              {label.short}
            </text>
          ) : null,
        )}
      </svg>
      <figcaption>
        <ul style={{ listStyle: 'none', display: 'flex', flexWrap: 'wrap', gap: 16, padding: 0, margin: '4px 0 0' }} aria-hidden="true">
          {series.map((one) => (
            <li key={one.key} style={{ display: 'flex', alignItems: 'center', gap: 6 }}>
              <span style={{ width: 12, height: 12, background: one.color, display: 'inline-block', borderRadius: 2 }} />
              {one.label}
            </li>
          ))}
        </ul>
      </figcaption>
      <table style={visuallyHidden}>
        <caption>{title}</caption>
        <thead>
          <tr>
            <th scope="col">{bucketHeader}</th>
            {series.map((one) => (
              <th key={one.key} scope="col">
                {one.label}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {labels.map((label, b) => (
            <tr key={label.full}>
              <th scope="row">{label.full}</th>
              {series.map((one, s) => {
                const value = values[s]?.[b];
                return <td key={one.key}>{value === null || value === undefined ? '—' : format(value)}</td>;
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}
