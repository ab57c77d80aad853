import { esc, frame, niceTicks } from './svg.js';

export interface Bar { label: string; value: number; sd?: number }

/** Horizontal bars with ± sd whiskers (one metric per model), scaled from 0 or the lowest value. */
export function barChart(title: string, xLabel: string, bars: Bar[], options: { width?: number; from?: number } = {}): string {
  const W = options.width ?? 560, L = 150, R = 40, T = 36, B = 44, row = 24, H = T + B + row * Math.max(1, bars.length);
  const finite = bars.filter((b) => Number.isFinite(b.value));
  const lo = options.from ?? Math.min(0, ...finite.map((b) => b.value - (b.sd ?? 0)));
  const hi = Math.max(lo + 1e-9, ...finite.map((b) => b.value + (b.sd ?? 0)));
  const px = (v: number): number => L + ((v - lo) / (hi - lo)) * (W - L - R);
  const parts = frame(W, H, title);
  for (const t of niceTicks(lo, hi)) {
    parts.push(`<line x1="${px(t)}" x2="${px(t)}" y1="${T}" y2="${H - B}" stroke="#eee"/><text x="${px(t)}" y="${H - B + 16}" text-anchor="middle">${t}</text>`);
  }
  bars.forEach((b, i) => {
    const y = T + i * row + 4;
    parts.push(`<text x="${L - 8}" y="${y + 12}" text-anchor="end">${esc(b.label)}</text>`);
    if (!Number.isFinite(b.value)) { parts.push(`<text x="${L + 4}" y="${y + 12}" fill="#999">n/a</text>`); return; }
    parts.push(`<rect x="${px(lo)}" y="${y}" width="${Math.max(0, px(b.value) - px(lo)).toFixed(1)}" height="${row - 8}" fill="#1f77b4" fill-opacity="0.8"/>`);
    if (b.sd !== undefined && Number.isFinite(b.sd)) {
      const c = y + (row - 8) / 2;
      parts.push(`<line x1="${px(b.value - b.sd).toFixed(1)}" x2="${px(b.value + b.sd).toFixed(1)}" y1="${c}" y2="${c}" stroke="#333"/>`);
    }
    parts.push(`<text x="${Math.min(W - R, px(b.value) + 4).toFixed(1)}" y="${y + 12}" font-size="11">${b.value.toFixed(3)}</text>`);
  });
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 10}" text-anchor="middle">${esc(xLabel)}</text>`, '</svg>');
  return parts.join('\n');
}
