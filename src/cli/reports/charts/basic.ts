// Vega-Lite specs of the plain chart kinds: lines, scatter, bars with error bars, heat map.
import { CHART_CONFIG, VEGA_LITE_SCHEMA, textWidth, type ChartSpec } from './render.js';

export interface Series {
  name: string;
  values: number[];
  dashed?: boolean;
}
export interface PointSeries {
  name: string;
  x: number[];
  y: number[];
}
export interface Bar {
  label: string;
  value: number;
  sd?: number;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];
const cycle = (k: number): string => COLORS[k % COLORS.length]!;
/** Non-finite numbers as null: JSON cannot hold them, and Vega-Lite leaves null out of a mark. */
const num = (v: number | undefined): number | null => (v !== undefined && Number.isFinite(v) ? v : null);

function base(title: string, width: number, height: number): ChartSpec {
  return {
    $schema: VEGA_LITE_SCHEMA,
    title,
    width,
    height,
    autosize: { type: 'pad' },
    padding: 8,
    config: CHART_CONFIG,
  };
}

/**
 * Lines over x (epochs, folds, threads), one per series, coloured and named in a legend; a
 * series marked `dashed` (a reference such as "ideal") drawn dashed. Non-finite values are gaps.
 */
export function lineChartSpec(
  title: string,
  xLabel: string,
  series: Series[],
  options: { x?: number[]; width?: number; height?: number } = {},
): ChartSpec {
  const n = Math.max(0, ...series.map((s) => s.values.length));
  const xs = options.x ?? Array.from({ length: n }, (_, i) => i + 1);
  const names = series.map((s) => s.name);
  const values = series.flatMap((s) => s.values.map((v, i) => ({ series: s.name, x: num(xs[i]), y: num(v) })));
  // Legend and plot together in the old width (legend about 120 px).
  return {
    ...base(title, (options.width ?? 640) - 200, (options.height ?? 360) - 84),
    data: { values },
    mark: { type: 'line', strokeWidth: 1.8, point: n <= 1 },
    encoding: {
      x: {
        field: 'x',
        type: 'quantitative',
        title: xLabel,
        scale: { zero: false, nice: false },
        axis: { tickMinStep: xs.every(Number.isInteger) ? 1 : undefined },
      },
      y: { field: 'y', type: 'quantitative', title: null, scale: { zero: false } },
      color: {
        field: 'series',
        type: 'nominal',
        title: null,
        sort: names,
        scale: { domain: names, range: names.map((_, k) => cycle(k)) },
      },
      strokeDash: {
        field: 'series',
        type: 'nominal',
        title: null,
        sort: names,
        scale: { domain: names, range: series.map((s) => (s.dashed ? [6, 4] : [1, 0])) },
      },
      order: { field: 'x', type: 'quantitative' },
    },
  };
}

/** Predicted against observed: one point series per model, and the dashed y = x line. */
export function scatterChartSpec(
  title: string,
  xLabel: string,
  yLabel: string,
  series: PointSeries[],
  options: { width?: number; height?: number } = {},
): ChartSpec {
  const names = series.map((s) => s.name);
  const values = series.flatMap((s) =>
    s.x.map((x, i) => ({ series: s.name, x: num(x), y: num(s.y[i]) })).filter((p) => p.x !== null && p.y !== null),
  );
  let lo = Infinity,
    hi = -Infinity;
  for (const p of values)
    for (const v of [p.x!, p.y!]) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  if (!(hi >= lo)) {
    lo = 0;
    hi = 1;
  } else if (hi === lo) {
    lo -= 0.5;
    hi += 0.5;
  }
  const pad = (hi - lo) * 0.04,
    domain = [lo - pad, hi + pad];
  return {
    ...base(title, (options.width ?? 560) - 190, (options.height ?? 480) - 84),
    layer: [
      {
        data: {
          values: [
            { x: domain[0], y: domain[0] },
            { x: domain[1], y: domain[1] },
          ],
        },
        mark: { type: 'line', color: '#999', strokeDash: [4, 3], strokeWidth: 1 },
        encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' } },
      },
      {
        data: { values },
        mark: { type: 'circle', size: 16, opacity: 0.55 },
        encoding: {
          x: { field: 'x', type: 'quantitative', title: xLabel, scale: { domain, nice: false, zero: false } },
          y: { field: 'y', type: 'quantitative', title: yLabel, scale: { domain, nice: false, zero: false } },
          color: {
            field: 'series',
            type: 'nominal',
            title: null,
            sort: names,
            scale: { domain: names, range: names.map((_, k) => cycle(k)) },
          },
        },
      },
    ],
  };
}

/**
 * Horizontal bars with ± sd error bars (one metric per model), scaled from 0 or the lowest value
 * (`from`). Each value is written right of its error bar's end, never on it; a missing value
 * reads "n/a".
 */
export function barChartSpec(
  title: string,
  xLabel: string,
  bars: Bar[],
  options: { width?: number; from?: number } = {},
): ChartSpec {
  const finite = bars.filter((b) => Number.isFinite(b.value));
  const lo = options.from ?? Math.min(0, ...finite.map((b) => b.value - (Number.isFinite(b.sd) ? b.sd! : 0)));
  let hi = Math.max(lo + 1e-9, ...finite.map((b) => b.value + (Number.isFinite(b.sd) ? b.sd! : 0)));
  const plotW = (options.width ?? 560) - 190;
  // Room right of the longest bar for its value label (about 40 px at 11 px).
  hi += ((hi - lo) * (textWidth('0.000', 11) + 8)) / Math.max(1, plotW - textWidth('0.000', 11) - 8);
  const values = bars.map((b) => {
    const ok = Number.isFinite(b.value),
      sd = ok && b.sd !== undefined && Number.isFinite(b.sd) ? b.sd : null;
    return {
      label: b.label,
      value: ok ? b.value : null,
      lo: sd !== null ? b.value - sd : null,
      hi: sd !== null ? b.value + sd : null,
      end: ok ? Math.max(b.value, lo) + (sd ?? 0) : lo,
      text: ok ? b.value.toFixed(3) : 'n/a',
    };
  });
  const y = { field: 'label', type: 'nominal', title: null, sort: bars.map((b) => b.label) };
  const scale = { domain: [lo, hi], nice: false, zero: false, clamp: true };
  return {
    ...base(title, plotW, 24 * Math.max(1, bars.length)),
    data: { values },
    encoding: { y },
    layer: [
      {
        name: 'bars',
        mark: { type: 'bar', color: '#1f77b4', opacity: 0.8, height: 16 },
        encoding: { x: { field: 'value', type: 'quantitative', title: xLabel, scale }, x2: { datum: lo } },
      },
      {
        name: 'sd',
        transform: [{ filter: 'datum.lo != null' }],
        mark: { type: 'rule', color: '#333' },
        encoding: { x: { field: 'lo', type: 'quantitative' }, x2: { field: 'hi' } },
      },
      {
        name: 'values',
        mark: { type: 'text', align: 'left', dx: 4, fontSize: 11 },
        encoding: {
          x: { field: 'end', type: 'quantitative' },
          text: { field: 'text' },
          color: { condition: { test: 'datum.value == null', value: '#999' }, value: '#222' },
        },
      },
    ],
  };
}

/** A heat map of values[row][col] with each cell's value written in it and a colour legend; NaN cells read n/a. */
export function heatMapSpec(
  title: string,
  rows: string[],
  cols: string[],
  values: number[][],
  options: { rowLabel?: string; colLabel?: string } = {},
): ChartSpec {
  const cells = rows.flatMap((r, i) =>
    cols.map((c, j) => {
      const v = values[i]![j]!;
      return { row: r, col: c, value: num(v), text: Number.isFinite(v) ? v.toFixed(3) : 'n/a' };
    }),
  );
  const finite = cells.flatMap((c) => (c.value === null ? [] : [c.value]));
  const lo = Math.min(...finite),
    hi = Math.max(...finite);
  const dark = hi > lo ? lo + 0.6 * (hi - lo) : Infinity;
  return {
    ...base(title, 64 * cols.length, 64 * rows.length),
    data: { values: cells },
    encoding: {
      x: {
        field: 'col',
        type: 'nominal',
        sort: cols,
        title: options.colLabel ?? null,
        axis: { orient: 'top', labelAngle: 0, domain: false, ticks: false },
      },
      y: {
        field: 'row',
        type: 'nominal',
        sort: rows,
        title: options.rowLabel ?? null,
        axis: { domain: false, ticks: false },
      },
    },
    layer: [
      // White (lowest) to dark blue (highest): the eye finds the best cell; n/a cells grey.
      {
        mark: { type: 'rect', stroke: 'white', strokeWidth: 2 },
        encoding: {
          color: {
            condition: { test: 'datum.value == null', value: '#f0f0f0' },
            field: 'value',
            type: 'quantitative',
            title: null,
            scale: { range: ['#f7fbff', '#084594'] },
          },
        },
      },
      {
        mark: { type: 'text', fontSize: 11 },
        encoding: {
          text: { field: 'text' },
          color: { condition: { test: `datum.value != null && datum.value > ${dark}`, value: 'white' }, value: '#222' },
        },
      },
    ],
    config: { ...CHART_CONFIG, view: { stroke: null } },
  };
}
