// Small charts as standalone SVG (no dependency): line charts and scatter plots here; bars, heat maps and trees beside.

export interface Series { name: string; values: number[]; dashed?: boolean }

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) { hi = lo + 1; }
  const step0 = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0) ?? 10 * mag;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-12; t += step) out.push(+t.toPrecision(6));
  return out;
}

/**
 * The range of the finite values (0..1 when none; widened by ±0.5 when flat). A loop, not
 * Math.min(...values): a spread of a large study's predictions overflows the call stack.
 */
function extent(lists: number[][]): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (const l of lists) for (const v of l) if (Number.isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; }
  if (lo > hi) return [0, 1];
  return hi === lo ? [lo - 0.5, hi + 0.5] : [lo, hi];
}

/** The opening of a chart: the svg element, a white background and the title. */
export function frame(W: number, H: number, title: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>`,
  ];
}

export function lineChart(title: string, xLabel: string, series: Series[], options: { x?: number[]; width?: number; height?: number } = {}): string {
  const W = options.width ?? 640, H = options.height ?? 360, L = 60, R = 140, T = 36, B = 48;
  const n = Math.max(0, ...series.map((s) => s.values.length));
  const xs = options.x ?? Array.from({ length: n }, (_, i) => i + 1);
  const [lo, hi] = extent(series.map((s) => s.values));
  const x0 = xs[0] ?? 0, x1 = xs[xs.length - 1] ?? 1;
  const px = (x: number): number => L + ((x - x0) / Math.max(1e-12, x1 - x0)) * (W - L - R);
  const py = (y: number): number => T + (1 - (y - lo) / (hi - lo)) * (H - T - B);
  const parts = frame(W, H, title);
  for (const t of niceTicks(lo, hi)) {
    parts.push(`<line x1="${L}" x2="${W - R}" y1="${py(t)}" y2="${py(t)}" stroke="#ddd"/>`);
    parts.push(`<text x="${L - 6}" y="${py(t) + 4}" text-anchor="end">${t}</text>`);
  }
  for (const t of niceTicks(x0, x1)) {
    parts.push(`<text x="${px(t)}" y="${H - B + 16}" text-anchor="middle">${t}</text>`);
  }
  parts.push(`<line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#333"/><line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="#333"/>`);
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 10}" text-anchor="middle">${esc(xLabel)}</text>`);
  series.forEach((s, k) => {
    const pts = s.values.map((v, i) => (Number.isFinite(v) ? `${px(xs[i]!).toFixed(1)},${py(v).toFixed(1)}` : '')).filter(Boolean).join(' ');
    const c = COLORS[k % COLORS.length];
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    parts.push(`<polyline fill="none" stroke="${c}" stroke-width="1.8"${dash} points="${pts}"/>`);
    parts.push(`<line x1="${W - R + 10}" x2="${W - R + 30}" y1="${T + 16 * k + 6}" y2="${T + 16 * k + 6}" stroke="${c}" stroke-width="2"${dash}/>`);
    parts.push(`<text x="${W - R + 34}" y="${T + 16 * k + 10}">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

export interface PointSeries { name: string; x: number[]; y: number[] }

/** A scatter plot of several point series with the y = x line (predicted against observed). */
export function scatterChart(title: string, xLabel: string, yLabel: string, series: PointSeries[], options: { width?: number; height?: number } = {}): string {
  const W = options.width ?? 560, H = options.height ?? 480, L = 60, R = 130, T = 36, B = 48;
  let [lo, hi] = extent(series.flatMap((s) => [s.x, s.y]));
  const pad = (hi - lo) * 0.04;
  lo -= pad; hi += pad;
  const px = (x: number): number => L + ((x - lo) / (hi - lo)) * (W - L - R);
  const py = (y: number): number => T + (1 - (y - lo) / (hi - lo)) * (H - T - B);
  const parts = frame(W, H, title);
  for (const t of niceTicks(lo, hi)) {
    parts.push(`<line x1="${L}" x2="${W - R}" y1="${py(t)}" y2="${py(t)}" stroke="#eee"/><text x="${L - 6}" y="${py(t) + 4}" text-anchor="end">${t}</text>`);
    parts.push(`<text x="${px(t)}" y="${H - B + 16}" text-anchor="middle">${t}</text>`);
  }
  parts.push(`<line x1="${px(lo)}" y1="${py(lo)}" x2="${px(hi)}" y2="${py(hi)}" stroke="#999" stroke-dasharray="4 3"/>`);
  parts.push(`<line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#333"/><line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="#333"/>`);
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 10}" text-anchor="middle">${esc(xLabel)}</text>`);
  parts.push(`<text transform="translate(14 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
  series.forEach((s, k) => {
    const c = COLORS[k % COLORS.length];
    const dots = s.x.map((x, i) => (Number.isFinite(x) && Number.isFinite(s.y[i]!) ? `<circle cx="${px(x).toFixed(1)}" cy="${py(s.y[i]!).toFixed(1)}" r="2.2" fill="${c}" fill-opacity="0.55"/>` : ''));
    parts.push(dots.join(''));
    parts.push(`<circle cx="${W - R + 16}" cy="${T + 16 * k + 6}" r="4" fill="${c}"/><text x="${W - R + 26}" y="${T + 16 * k + 10}">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
