import { esc, frame, niceTicks } from './svg.js';

export interface ManhattanOptions {
  title: string;
  /** One score per marker (−log10 p, |effect|, an attribution...); non-finite ones are left out. */
  scores: ArrayLike<number>;
  /** Per marker: its chromosome. Markers are then laid out chromosome by chromosome. */
  chromosome?: ArrayLike<number | string>;
  /** Per marker: its position on its chromosome (needs `chromosome`); without, markers keep their index order. */
  position?: ArrayLike<number>;
  /** Per marker: its name; the 10 top-scoring markers are labelled with it. */
  labels?: string[];
  /** Marker indices drawn distinct (true QTL, say) and never thinned. */
  highlight?: Set<number>;
  /** The legend's name for the highlighted markers. */
  highlightLabel?: string;
  yLabel: string;
  width?: number;
  height?: number;
}

const CHR_COLORS = ['#1f77b4', '#8fb3d9'];
const HIGHLIGHT = '#d62728';
/** Above this many markers the ones scoring below the median are thinned. */
const THIN_ABOVE = 20_000;
const TOP_LABELS = 10;

/** Chromosome names in genome order: numbers ascending (a leading 'chr' ignored), then the rest by name. */
function chromosomeOrder(names: string[]): string[] {
  const key = (s: string): number => { const t = s.replace(/^chr/i, ''); return /^\d+$/.test(t) ? Number(t) : Infinity; };
  return [...names].sort((a, b) => key(a) - key(b) || (key(a) === Infinity ? a.localeCompare(b) : 0));
}

/** Median of the finite values (a copy sorted; NaN when none). */
function median(v: number[]): number {
  const s = v.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const h = s.length >> 1;
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}

/**
 * A Manhattan plot as standalone SVG: one point per marker along the genome, chromosomes side by
 * side in alternating colours and named on the x axis (by marker index without `chromosome`);
 * highlighted markers in red with a dark ring, and the 10 top-scoring ones named when `labels`
 * are given. With more than 20,000 markers, those below the median score are drawn every k-th
 * (k chosen to keep about 20,000 points), and a caption says so; highlighted markers are always drawn.
 */
export function manhattanSvg(o: ManhattanOptions): string {
  const n = o.scores.length;
  const scores = Array.from(o.scores, Number);
  for (const [name, a] of [['chromosome', o.chromosome], ['position', o.position], ['labels', o.labels]] as const) {
    if (a !== undefined && a.length !== n) throw new Error(`manhattanSvg: ${name} has ${a.length} entries for ${n} scores`);
  }
  if (o.position && !o.chromosome) throw new Error('manhattanSvg: position needs chromosome');
  const highlight = o.highlight ?? new Set<number>();
  for (const i of highlight) if (!(Number.isInteger(i) && i >= 0 && i < n)) throw new Error(`manhattanSvg: highlighted marker ${i} is not an index below ${n}`);

  const W = o.width ?? 900, captionRow = n > THIN_ABOVE ? 16 : 0, H = (o.height ?? 360) + captionRow;
  const L = 60, R = 20, T = 40, B = 48 + captionRow, gap = 6;
  const pad = 4, plotW = W - L - R - 2 * pad; // x runs over [L + pad, W - R - pad]

  // Where each marker goes along x, in [0, plotW]; and the chromosome spans for the axis.
  const x = new Float64Array(n);
  const spans: { name: string; from: number; to: number }[] = [];
  if (o.chromosome) {
    const chrOf = Array.from(o.chromosome, String);
    const groups = new Map<string, number[]>();
    chrOf.forEach((c, i) => { let g = groups.get(c); if (!g) groups.set(c, (g = [])); g.push(i); });
    const order = chromosomeOrder([...groups.keys()]);
    const pos = o.position;
    // Each chromosome's extent: its position span, or its marker count without positions.
    const extents = order.map((c) => {
      const g = groups.get(c)!;
      if (!pos) return { c, g, lo: 0, len: Math.max(1, g.length - 1) };
      let lo = Infinity, hi = -Infinity;
      for (const i of g) { const p = Number(pos[i]); if (Number.isFinite(p)) { if (p < lo) lo = p; if (p > hi) hi = p; } }
      if (lo > hi) { lo = 0; hi = 1; }
      return { c, g, lo, len: hi - lo };
    });
    const total = extents.reduce((a, e) => a + e.len, 0);
    // Widths proportional to extent, but no chromosome narrower than a few pixels.
    const usable = Math.max(1, plotW - gap * (order.length - 1));
    const minW = Math.min(8, usable / order.length);
    const raw = extents.map((e) => (total > 0 ? (e.len / total) * usable : usable / order.length));
    const scale = (usable - minW * order.length) / Math.max(1e-12, raw.reduce((a, w) => a + w, 0));
    let at = 0;
    for (const [k, e] of extents.entries()) {
      const w = minW + raw[k]! * Math.max(0, scale);
      e.g.forEach((i, r) => {
        // Along the chromosome: by position, or by index order (groups are in index order) without.
        let t: number;
        if (!pos) t = e.g.length > 1 ? r / (e.g.length - 1) : 0.5;
        else { const p = Number(pos[i]); t = !Number.isFinite(p) ? 0 : e.len > 0 ? (p - e.lo) / e.len : 0.5; }
        x[i] = at + t * w;
      });
      spans.push({ name: e.c, from: at, to: at + w });
      at += w + gap;
    }
  } else {
    for (let i = 0; i < n; i++) x[i] = (i / Math.max(1, n - 1)) * plotW;
  }
  const chrIndex = new Int32Array(n);
  if (o.chromosome) {
    const idx = new Map(spans.map((s, k) => [s.name, k]));
    for (let i = 0; i < n; i++) chrIndex[i] = idx.get(String(o.chromosome[i]))!;
  }

  let lo = 0, hi = -Infinity;
  for (const v of scores) if (Number.isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; }
  if (!(hi > lo)) hi = lo + 1;
  const yTicks = niceTicks(lo, hi);
  hi = Math.max(hi + (hi - lo) * 0.08, yTicks[yTicks.length - 1] ?? hi); // room for the labels
  const px = (i: number): string => (L + pad + x[i]!).toFixed(1);
  const py = (v: number): string => (T + (1 - (v - lo) / (hi - lo)) * (H - T - B)).toFixed(1);

  // Thinning: below-median markers every k-th, in genome order.
  let k = 1, below = 0;
  const med = n > THIN_ABOVE ? median(scores) : NaN;
  if (n > THIN_ABOVE) {
    let above = 0;
    for (let i = 0; i < n; i++) if (Number.isFinite(scores[i]!) && !highlight.has(i)) { if (scores[i]! < med) below++; else above++; }
    k = Math.max(2, Math.ceil(below / Math.max(1000, THIN_ABOVE - above)));
  }
  const genomeOrder = Array.from({ length: n }, (_, i) => i).sort((a, b) => x[a]! - x[b]! || a - b);
  const drawn: number[][] = spans.length ? spans.map(() => []) : [[]];
  let seenBelow = 0, drawnCount = 0;
  for (const i of genomeOrder) {
    const v = scores[i]!;
    if (!Number.isFinite(v) || highlight.has(i)) continue;
    if (k > 1 && v < med && seenBelow++ % k !== 0) continue;
    drawn[chrIndex[i]!]!.push(i);
    drawnCount++;
  }

  const parts = frame(W, H, o.title);
  for (const t of yTicks) {
    parts.push(`<line x1="${L}" x2="${W - R}" y1="${py(t)}" y2="${py(t)}" stroke="#eee"/><text x="${L - 6}" y="${+py(t) + 4}" text-anchor="end">${t}</text>`);
  }
  if (spans.length) {
    spans.forEach((s, c) => {
      if (c % 2) parts.push(`<rect x="${(L + pad + s.from - gap / 2).toFixed(1)}" y="${T}" width="${(s.to - s.from + gap).toFixed(1)}" height="${H - T - B}" fill="#f6f6f6"/>`);
      parts.push(`<text x="${(L + pad + (s.from + s.to) / 2).toFixed(1)}" y="${H - B + 16}" text-anchor="middle" font-size="11">${esc(s.name)}</text>`);
    });
  } else {
    for (const t of niceTicks(1, Math.max(2, n))) { // marker numbers from 1
      if (Number.isInteger(t) && t <= n) parts.push(`<text x="${(L + pad + ((t - 1) / Math.max(1, n - 1)) * plotW).toFixed(1)}" y="${H - B + 16}" text-anchor="middle">${t}</text>`);
    }
  }
  parts.push(`<line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#333"/><line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="#333"/>`);
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - B + 34}" text-anchor="middle">${spans.length ? 'chromosome' : 'marker'}</text>`);
  parts.push(`<text transform="translate(14 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`);
  drawn.forEach((pts, c) => {
    if (pts.length === 0) return;
    parts.push(`<g class="markers" fill="${CHR_COLORS[c % 2]}">` + pts.map((i) => `<circle cx="${px(i)}" cy="${py(scores[i]!)}" r="1.8"/>`).join('') + '</g>');
  });
  const hl = genomeOrder.filter((i) => highlight.has(i) && Number.isFinite(scores[i]!));
  if (hl.length) {
    parts.push(`<g class="highlight" fill="${HIGHLIGHT}" stroke="#000" stroke-width="0.7">` + hl.map((i) => `<circle cx="${px(i)}" cy="${py(scores[i]!)}" r="3.2"/>`).join('') + '</g>');
  }
  if (o.labels) {
    const top = Array.from({ length: n }, (_, i) => i).filter((i) => Number.isFinite(scores[i]!)).sort((a, b) => scores[b]! - scores[a]! || a - b).slice(0, TOP_LABELS);
    parts.push('<g class="top-labels" font-size="9" fill="#333">' + top.map((i) => {
      const cx = px(i), cy = (+py(scores[i]!) - 5).toFixed(1);
      return `<text x="${cx}" y="${cy}" transform="rotate(-30 ${cx} ${cy})">${esc(o.labels![i]!)}</text>`;
    }).join('') + '</g>');
  }
  if (highlight.size) {
    const lx = W - R - 150, ly = 30;
    parts.push(`<g class="legend"><circle cx="${lx}" cy="${ly}" r="3.2" fill="${HIGHLIGHT}" stroke="#000" stroke-width="0.7"/><text x="${lx + 8}" y="${ly + 4}">${esc(o.highlightLabel ?? 'highlighted')} (${highlight.size})</text></g>`);
  }
  if (k > 1) {
    const thinned = below - Math.ceil(below / k);
    parts.push(`<text class="caption" x="${L}" y="${H - 8}" font-size="11" fill="#555">${n.toLocaleString('en-US')} markers: of the ${below.toLocaleString('en-US')} scoring below the median, 1 in ${k} is drawn (${thinned.toLocaleString('en-US')} left out, ${drawnCount + hl.length} points shown); all above the median and all highlighted are drawn.</text>`);
  }
  parts.push('</svg>');
  return parts.join('\n');
}
