import { CHART_CONFIG, VEGA_LITE_SCHEMA, type ChartSpec } from './render.js';

// A SHAP summary (beeswarm) plot as shap.summary_plot draws it: one row per feature, sorted by
// mean |φ|, one dot per sample at its φ, stacked sideways where dots would overlap, coloured by
// the sample's feature value from low (blue) to high (red) by its rank within the feature.
// The stacking is computed here (Vega-Lite has no swarm layout); Vega-Lite draws and labels it.

export interface SwarmFeature {
  name: string;
  /** φ per sample. */
  phi: ArrayLike<number>;
  /** The feature's value per sample (the colour). */
  value: ArrayLike<number>;
}

/** Ranks scaled to [0, 1] (ties share their mean rank), so a few large counts do not wash out the colours. */
function rankScale(v: ArrayLike<number>): Float64Array {
  const n = v.length,
    order = Array.from({ length: n }, (_, i) => i).sort((a, b) => v[a]! - v[b]!),
    out = new Float64Array(n);
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && v[order[j + 1]!] === v[order[i]!]) j++;
    for (let k = i; k <= j; k++) out[order[k]!] = n > 1 ? (i + j) / 2 / (n - 1) : 0.5;
    i = j + 1;
  }
  return out;
}

/** The beeswarm's Vega-Lite spec; the features in the order given (the caller sorts them by mean |φ|). */
export function beeswarmSpec(
  title: string,
  xLabel: string,
  features: SwarmFeature[],
  options: { width?: number } = {},
): ChartSpec {
  const width = (options.width ?? 720) - 320,
    row = 26,
    lanes = 9,
    bins = 120;
  let lo = 0,
    hi = 0;
  for (const f of features)
    for (let i = 0; i < f.phi.length; i++) {
      const p = f.phi[i]!;
      if (Number.isFinite(p)) {
        lo = Math.min(lo, p);
        hi = Math.max(hi, p);
      }
    }
  if (!(hi > lo)) {
    lo -= 1;
    hi += 1;
  }
  const values: { feature: string; phi: number; lane: number; value: number }[] = [];
  for (const f of features) {
    const colour = rankScale(f.value),
      used = new Map<number, number>();
    const order = Array.from({ length: f.phi.length }, (_, i) => i)
      .filter((i) => Number.isFinite(f.phi[i]!))
      .sort((a, b) => f.phi[a]! - f.phi[b]!);
    // Dots binned along φ; within a bin they fan out from the middle lane, above and below.
    for (const i of order) {
      const bin = Math.round(((f.phi[i]! - lo) / (hi - lo)) * bins),
        m = used.get(bin) ?? 0;
      used.set(bin, m + 1);
      const lane = m % lanes;
      values.push({
        feature: f.name,
        phi: f.phi[i]!,
        lane: lane === 0 ? 0 : (lane % 2 ? 1 : -1) * Math.ceil(lane / 2),
        value: colour[i]!,
      });
    }
  }
  const names = features.map((f) => f.name);
  return {
    $schema: VEGA_LITE_SCHEMA,
    title,
    autosize: { type: 'pad' },
    padding: 8,
    config: CHART_CONFIG,
    data: { values },
    facet: {
      row: {
        field: 'feature',
        type: 'nominal',
        sort: names,
        title: null,
        header: { labelAngle: 0, labelAlign: 'right', labelLimit: 220 },
      },
    },
    spacing: 0,
    spec: {
      width,
      height: row,
      layer: [
        { mark: { type: 'rule', color: '#999' }, encoding: { x: { datum: 0, type: 'quantitative' } } },
        {
          mark: { type: 'circle', size: 18, opacity: 0.8 },
          encoding: {
            x: { field: 'phi', type: 'quantitative', title: xLabel, scale: { domain: [lo, hi] } },
            y: {
              field: 'lane',
              type: 'quantitative',
              axis: null,
              scale: { domain: [-(lanes >> 1) - 1, (lanes >> 1) + 1] },
            },
            color: {
              field: 'value',
              type: 'quantitative',
              title: 'feature value (rank)',
              scale: { range: ['#1e88e5', '#ff0052'], domain: [0, 1] },
              legend: { labelExpr: "datum.value === 0 ? 'low' : datum.value === 1 ? 'high' : ''" },
            },
          },
        },
      ],
    },
  };
}
