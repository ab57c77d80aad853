import { esc, frame, niceTicks } from './svg.js';

// A SHAP summary (beeswarm) plot as shap.summary_plot draws it: one row per feature, sorted by
// mean |φ|, one dot per sample at its φ, stacked sideways where dots would overlap, coloured by
// the sample's feature value from low (blue) to high (red) by its rank within the feature.

export interface SwarmFeature {
  name: string;
  /** φ per sample. */
  phi: ArrayLike<number>;
  /** The feature's value per sample (the colour). */
  value: ArrayLike<number>;
}

const mix = (t: number): string => {
  const a = [0x1e, 0x88, 0xe5], b = [0xff, 0x00, 0x52]; // shap's blue and red
  return `#${a.map((c, i) => Math.round(c + (b[i]! - c) * t).toString(16).padStart(2, '0')).join('')}`;
};

/** Ranks scaled to [0, 1] (ties share their mean rank), so a few large counts do not wash out the colours. */
function rankScale(v: ArrayLike<number>): Float64Array {
  const n = v.length, order = Array.from({ length: n }, (_, i) => i).sort((a, b) => v[a]! - v[b]!), out = new Float64Array(n);
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && v[order[j + 1]!] === v[order[i]!]) j++;
    for (let k = i; k <= j; k++) out[order[k]!] = n > 1 ? (i + j) / 2 / (n - 1) : 0.5;
    i = j + 1;
  }
  return out;
}

/** The features in the order given (the caller sorts them by mean |φ|). */
export function beeswarmChart(title: string, xLabel: string, features: SwarmFeature[], options: { width?: number } = {}): string {
  const W = options.width ?? 720, L = 230, R = 70, T = 36, B = 48, row = 26, H = T + B + row * Math.max(1, features.length);
  let lo = 0, hi = 0;
  for (const f of features) for (let i = 0; i < f.phi.length; i++) { const p = f.phi[i]!; if (Number.isFinite(p)) { lo = Math.min(lo, p); hi = Math.max(hi, p); } }
  if (!(hi > lo)) { lo -= 1; hi += 1; }
  const pad = (hi - lo) * 0.03;
  lo -= pad; hi += pad;
  const px = (v: number): number => L + ((v - lo) / (hi - lo)) * (W - L - R);
  const parts = frame(W, H, title);
  for (const t of niceTicks(lo, hi)) parts.push(`<line x1="${px(t)}" x2="${px(t)}" y1="${T}" y2="${H - B}" stroke="#eee"/><text x="${px(t)}" y="${H - B + 16}" text-anchor="middle">${t}</text>`);
  parts.push(`<line x1="${px(0)}" x2="${px(0)}" y1="${T}" y2="${H - B}" stroke="#999"/>`);
  const r = 2.4, lanes = Math.floor((row - 4) / (2 * r)) | 1;
  features.forEach((f, k) => {
    const mid = T + k * row + row / 2, colour = rankScale(f.value);
    parts.push(`<text x="${L - 8}" y="${mid + 4}" text-anchor="end">${esc(f.name.length > 34 ? `…${f.name.slice(-33)}` : f.name)}</text>`);
    // Dots binned by pixel column; within a bin they fan out from the middle lane, above and below.
    const used = new Map<number, number>(), dots: string[] = [];
    const order = Array.from({ length: f.phi.length }, (_, i) => i).filter((i) => Number.isFinite(f.phi[i]!)).sort((a, b) => f.phi[a]! - f.phi[b]!);
    for (const i of order) {
      const x = px(f.phi[i]!), bin = Math.round(x / (2 * r)), m = used.get(bin) ?? 0;
      used.set(bin, m + 1);
      const lane = m % lanes, off = lane === 0 ? 0 : (lane % 2 ? 1 : -1) * Math.ceil(lane / 2) * 2 * r * 0.9;
      dots.push(`<circle cx="${x.toFixed(1)}" cy="${(mid + off).toFixed(1)}" r="${r}" fill="${mix(colour[i]!)}" fill-opacity="0.8"/>`);
    }
    parts.push(dots.join(''));
  });
  // the colour key
  const kx = W - R + 24, k0 = T + 10, k1 = Math.min(H - B, T + 130);
  for (let s = 0; s < 20; s++) parts.push(`<rect x="${kx}" y="${(k1 - ((s + 1) * (k1 - k0)) / 20).toFixed(1)}" width="10" height="${((k1 - k0) / 20 + 0.5).toFixed(1)}" fill="${mix(s / 19)}"/>`);
  parts.push(`<text x="${kx + 5}" y="${k0 - 4}" text-anchor="middle" font-size="10">high</text><text x="${kx + 5}" y="${k1 + 12}" text-anchor="middle" font-size="10">low</text>`);
  parts.push(`<text transform="translate(${kx + 22} ${(k0 + k1) / 2}) rotate(90)" text-anchor="middle" font-size="10">feature value</text>`);
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 10}" text-anchor="middle">${esc(xLabel)}</text>`, '</svg>');
  return parts.join('\n');
}
