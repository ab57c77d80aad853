// A Manhattan plot as a Vega-Lite spec. The genome layout (chromosomes side by side, widths by
// extent) and the top-marker labels' places are computed here in pixels: Vega-Lite has no label
// collision avoidance for text marks, so the labels are placed greedily where they overlap
// neither each other nor the frame, with a leader line when moved off their point.
import { CHART_CONFIG, VEGA_LITE_SCHEMA, textWidth, wrapText, type ChartSpec } from './render.js';

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
const LABEL_FONT = 9;
/** Above this many markers the ones scoring below the median are thinned. */
const THIN_ABOVE = 20_000;
const TOP_LABELS = 10;

/** Chromosome names in genome order: numbers ascending (a leading 'chr' ignored), then the rest by name. */
function chromosomeOrder(names: string[]): string[] {
  const key = (s: string): number => {
    const t = s.replace(/^chr/i, '');
    return /^\d+$/.test(t) ? Number(t) : Infinity;
  };
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
/**
 * A Manhattan plot: one point per marker along the genome, chromosomes side by side in
 * alternating colours and named on the x axis (by marker index without `chromosome`);
 * highlighted markers in red with a dark ring and a legend, and the 10 top-scoring ones named
 * when `labels` are given, the names placed clear of each other and of the frame. With more than
 * 20,000 markers, those below the median score are drawn every k-th (k chosen to keep about
 * 20,000 points), and a caption (wrapped to the chart's width) says so; highlighted markers are
 * always drawn.
 */
export function manhattanSpec(o: ManhattanOptions): ChartSpec {
  const n = o.scores.length;
  const scores = Array.from(o.scores, Number);
  for (const [name, a] of [
    ['chromosome', o.chromosome],
    ['position', o.position],
    ['labels', o.labels],
  ] as const) {
    if (a !== undefined && a.length !== n)
      throw new Error(`manhattanSvg: ${name} has ${a.length} entries for ${n} scores`);
  }
  if (o.position && !o.chromosome) throw new Error('manhattanSvg: position needs chromosome');
  const highlight = o.highlight ?? new Set<number>();
  for (const i of highlight)
    if (!(Number.isInteger(i) && i >= 0 && i < n))
      throw new Error(`manhattanSvg: highlighted marker ${i} is not an index below ${n}`);

  const W = o.width ?? 900,
    H = o.height ?? 360,
    gap = 6;
  const pad = 4,
    plotW = W - 80 - 2 * pad,
    plotH = H - 88; // x runs over [pad, plotW + pad] of the plot

  // Where each marker goes along x, in [0, plotW]; and the chromosome spans for the axis.
  const x = new Float64Array(n);
  const spans: { name: string; from: number; to: number }[] = [];
  if (o.chromosome) {
    const chrOf = Array.from(o.chromosome, String);
    const groups = new Map<string, number[]>();
    chrOf.forEach((c, i) => {
      let g = groups.get(c);
      if (!g) {
        g = [];
        groups.set(c, g);
      }
      g.push(i);
    });
    const order = chromosomeOrder([...groups.keys()]);
    const pos = o.position;
    // Each chromosome's extent: its position span, or its marker count without positions.
    const extents = order.map((c) => {
      const g = groups.get(c)!;
      if (!pos) return { c, g, lo: 0, len: Math.max(1, g.length - 1) };
      let lo = Infinity,
        hi = -Infinity;
      for (const i of g) {
        const p = Number(pos[i]);
        if (Number.isFinite(p)) {
          if (p < lo) lo = p;
          if (p > hi) hi = p;
        }
      }
      if (lo > hi) {
        lo = 0;
        hi = 1;
      }
      return { c, g, lo, len: hi - lo };
    });
    const total = extents.reduce((a, e) => a + e.len, 0);
    // Widths proportional to extent, but no chromosome narrower than a few pixels.
    const usable = Math.max(1, plotW - gap * (order.length - 1));
    const minW = Math.min(8, usable / order.length);
    const raw = extents.map((e) => (total > 0 ? (e.len / total) * usable : usable / order.length));
    const scale =
      (usable - minW * order.length) /
      Math.max(
        1e-12,
        raw.reduce((a, w) => a + w, 0),
      );
    let at = 0;
    for (const [k, e] of extents.entries()) {
      const w = minW + raw[k]! * Math.max(0, scale);
      e.g.forEach((i, r) => {
        // Along the chromosome: by position, or by index order (groups are in index order) without.
        let t: number;
        if (!pos) t = e.g.length > 1 ? r / (e.g.length - 1) : 0.5;
        else {
          const p = Number(pos[i]);
          t = !Number.isFinite(p) ? 0 : e.len > 0 ? (p - e.lo) / e.len : 0.5;
        }
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

  let lo = 0,
    hi = -Infinity;
  for (const v of scores)
    if (Number.isFinite(v)) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  if (!(hi > lo)) hi = lo + 1;
  const yTicks = niceTicks(lo, hi);
  hi = Math.max(hi + (hi - lo) * (o.labels ? 0.12 : 0.04), yTicks[yTicks.length - 1] ?? hi); // room for the labels

  // Thinning: below-median markers every k-th, in genome order.
  let k = 1,
    below = 0;
  const med = n > THIN_ABOVE ? median(scores) : NaN;
  if (n > THIN_ABOVE) {
    let above = 0;
    for (let i = 0; i < n; i++)
      if (Number.isFinite(scores[i]!) && !highlight.has(i)) {
        if (scores[i]! < med) below++;
        else above++;
      }
    k = Math.max(2, Math.ceil(below / Math.max(1000, THIN_ABOVE - above)));
  }
  const genomeOrder = Array.from({ length: n }, (_, i) => i).sort((a, b) => x[a]! - x[b]! || a - b);
  const drawn: number[][] = spans.length ? spans.map(() => []) : [[]];
  let seenBelow = 0,
    drawnCount = 0;
  for (const i of genomeOrder) {
    const v = scores[i]!;
    if (!Number.isFinite(v) || highlight.has(i)) continue;
    if (k > 1 && v < med && seenBelow++ % k !== 0) continue;
    drawn[chrIndex[i]!]!.push(i);
    drawnCount++;
  }

  // Pixels in the plot: x from its left edge, y from its top.
  const pxOf = (i: number): number => pad + x[i]!;
  const pyOf = (v: number): number => (1 - (v - lo) / (hi - lo)) * plotH;
  const yOf = (py: number): number => lo + (1 - py / plotH) * (hi - lo);
  const round = (v: number): number => +v.toFixed(2);
  const chrFill = (c: number): string => CHR_COLORS[c % 2]!;
  const points = drawn.flatMap((pts, c) =>
    pts.map((i) => ({ x: round(x[i]!), y: scores[i]!, fill: chrFill(c), ...(o.labels ? { name: o.labels[i] } : {}) })),
  );
  const hl = genomeOrder.filter((i) => highlight.has(i) && Number.isFinite(scores[i]!));
  const hlName = `${o.highlightLabel ?? 'highlighted'} (${highlight.size})`;
  const labels = o.labels
    ? placeLabels(
        Array.from({ length: n }, (_, i) => i)
          .filter((i) => Number.isFinite(scores[i]!))
          .sort((a, b) => scores[b]! - scores[a]! || a - b)
          .slice(0, TOP_LABELS)
          .map((i) => ({ text: o.labels![i]!, px: pxOf(i), py: pyOf(scores[i]!) })),
        plotW + 2 * pad,
        plotH,
      )
    : [];
  const xScale = { domain: [-pad, plotW + pad], nice: false, zero: false };
  const yScale = { domain: [lo, hi], nice: false, zero: false };
  const xEnc = {
    field: 'x',
    type: 'quantitative',
    scale: xScale,
    title: spans.length ? 'chromosome' : 'marker',
    axis: spans.length
      ? { labels: false, ticks: false, grid: false, titlePadding: 20 }
      : {
          grid: false,
          values: niceTicks1(n).map((t) => ((t - 1) / Math.max(1, n - 1)) * plotW),
          labelExpr: `round(datum.value / ${plotW / Math.max(1, n - 1)}) + 1`,
        },
  };
  const yEnc = { field: 'y', type: 'quantitative', scale: yScale, title: o.yLabel, axis: { values: yTicks } };
  const layer: ChartSpec[] = [];
  if (spans.length) {
    // Every other chromosome shaded, and each one's name under the axis.
    const bands = spans.flatMap((s, c) => (c % 2 ? [{ x: round(s.from - gap / 2), x2: round(s.to + gap / 2) }] : []));
    if (bands.length)
      layer.push({
        data: { values: bands },
        mark: { type: 'rect', color: '#f6f6f6' },
        encoding: {
          x: { ...xEnc, field: 'x' },
          x2: { field: 'x2' },
          y: { datum: lo, type: 'quantitative', scale: yScale },
          y2: { datum: hi },
        },
      });
    layer.push({
      name: 'chromosomes',
      data: { values: spans.map((s) => ({ x: round((s.from + s.to) / 2), name: s.name })) },
      mark: { type: 'text', fontSize: 11, baseline: 'top', dy: 4, color: '#333' },
      encoding: { x: { ...xEnc }, y: { datum: lo, type: 'quantitative', scale: yScale }, text: { field: 'name' } },
    });
  }
  layer.push({
    name: 'markers',
    data: { values: points },
    mark: { type: 'circle', size: 10, aria: false }, // aria off: 20,000 aria-labels would triple the file
    encoding: {
      x: xEnc,
      y: yEnc,
      fill: { field: 'fill', type: 'nominal', scale: null },
      ...(o.labels ? { tooltip: { field: 'name' } } : {}),
    },
  });
  if (hl.length) {
    layer.push({
      name: 'highlight',
      data: { values: hl.map((i) => ({ x: round(x[i]!), y: scores[i]!, ...(o.labels ? { name: o.labels[i] } : {}) })) },
      mark: { type: 'circle', size: 36, stroke: '#000', strokeWidth: 0.7, opacity: 1 },
      encoding: {
        x: xEnc,
        y: yEnc,
        color: {
          datum: hlName,
          type: 'nominal',
          title: null,
          scale: { domain: [hlName], range: [HIGHLIGHT] },
          legend: { orient: 'top-right', symbolStrokeColor: '#000', symbolStrokeWidth: 0.7 },
        },
      },
    });
  }
  if (labels.length) {
    const moved = labels.filter((l) => l.leader);
    if (moved.length)
      layer.push({
        data: {
          values: moved.map((l) => ({
            x: round(l.fromX - pad),
            y: yOf(l.fromY),
            x2: round(l.toX - pad),
            y2: yOf(l.toY),
          })),
        },
        mark: { type: 'rule', color: '#999', strokeWidth: 0.6 },
        encoding: {
          x: { ...xEnc },
          y: { field: 'y', type: 'quantitative', scale: yScale },
          x2: { field: 'x2' },
          y2: { field: 'y2' },
        },
      });
    layer.push({
      name: 'top_labels',
      data: { values: labels.map((l) => ({ x: round(l.x - pad), y: yOf(l.y), text: l.text })) },
      mark: { type: 'text', fontSize: LABEL_FONT, baseline: 'alphabetic', align: 'center', color: '#333' },
      encoding: { x: { ...xEnc }, y: { field: 'y', type: 'quantitative', scale: yScale }, text: { field: 'text' } },
    });
  }
  let subtitle: string[] | undefined;
  if (k > 1) {
    const thinned = below - Math.ceil(below / k);
    const caption = `${n.toLocaleString('en-US')} markers: of the ${below.toLocaleString('en-US')} scoring below the median, 1 in ${k} is drawn (${thinned.toLocaleString('en-US')} left out, ${(drawnCount + hl.length).toLocaleString('en-US')} points shown); all above the median and all highlighted are drawn.`;
    subtitle = wrapText(caption, plotW, CHART_CONFIG.title.subtitleFontSize);
  }
  return {
    $schema: VEGA_LITE_SCHEMA,
    title: { text: o.title, ...(subtitle ? { subtitle } : {}) },
    width: plotW + 2 * pad,
    height: plotH,
    autosize: { type: 'pad' },
    padding: 8,
    config: {
      ...CHART_CONFIG,
      axis: { ...CHART_CONFIG.axis, grid: true },
      circle: { opacity: null, strokeWidth: null },
    },
    layer,
  };
}

/** Marker numbers (from 1) for the x axis without chromosomes. */
function niceTicks1(n: number): number[] {
  return niceTicks(1, Math.max(2, n)).filter((t) => Number.isInteger(t) && t <= n);
}

function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) hi = lo + 1;
  const step0 = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0) ?? 10 * mag;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-12; t += step) out.push(+t.toPrecision(6));
  return out;
}

/** A label's box in plot pixels: x centred, y its baseline. */
export interface PlacedLabel {
  text: string;
  x: number;
  y: number;
  leader: boolean;
  fromX: number;
  fromY: number;
  toX: number;
  toY: number;
}

/** The box a 9 px label takes with its baseline at y (ascent about 0.8 em, descent about 0.25 em). */
export function labelBox(
  text: string,
  x: number,
  y: number,
  fontSize = LABEL_FONT,
): { x0: number; x1: number; y0: number; y1: number } {
  const w = textWidth(text, fontSize);
  return { x0: x - w / 2, x1: x + w / 2, y0: y - 0.8 * fontSize, y1: y + 0.25 * fontSize };
}

/**
 * Greedy label placement, highest score first: each label takes the nearest free place around
 * its point (above, below, either side, then further out) whose box lies inside the plot and
 * clears, by 1 px, every label placed so far and every labelled point (a peak of markers in
 * linkage stands at one x, so its labels must not hide its points). A label that fits nowhere is
 * left out. A label set off its point gets a leader line.
 */
export function placeLabels(
  items: { text: string; px: number; py: number }[],
  width: number,
  height: number,
): PlacedLabel[] {
  type Box = ReturnType<typeof labelBox>;
  const clear = (b: Box, o: Box): boolean =>
    !(b.x0 < o.x1 + 1 && o.x0 < b.x1 + 1 && b.y0 < o.y1 + 1 && o.y0 < b.y1 + 1);
  const boxes: Box[] = items.map((it) => ({ x0: it.px - 3, x1: it.px + 3, y0: it.py - 3, y1: it.py + 3 }));
  const placed: PlacedLabel[] = [];
  const row = LABEL_FONT + 3;
  for (const it of items) {
    const w = textWidth(it.text, LABEL_FONT);
    const cands: { x: number; y: number; d: number }[] = [];
    for (let r = -40; r <= 40; r++) {
      const y = it.py + 0.3 * LABEL_FONT + r * row; // r = 0: beside the point, at its height
      for (const dx of [0, -(w / 2 + 6), w / 2 + 6, -(w + 8), w + 8, -(1.5 * w + 10), 1.5 * w + 10]) {
        if (dx === 0 && r === 0) continue;
        const x = Math.min(width - w / 2 - 1, Math.max(w / 2 + 1, it.px + dx));
        cands.push({ x, y, d: Math.abs(r * row) + 0.5 * Math.abs(x - it.px) + (r > 0 ? 2 : 0) });
      }
    }
    cands.sort((a, b) => a.d - b.d);
    for (const { x, y } of cands) {
      const b = labelBox(it.text, x, y);
      if (b.y0 < 1 || b.y1 > height - 1 || b.x0 < 0 || b.x1 > width) continue;
      if (!boxes.every((o) => clear(b, o))) continue;
      boxes.push(b);
      // A leader from the point to the nearest point of the label's box, when that is over 4 px away.
      const toX = Math.min(b.x1, Math.max(b.x0, it.px)),
        toY = Math.min(b.y1, Math.max(b.y0, it.py));
      placed.push({
        text: it.text,
        x,
        y,
        leader: Math.hypot(toX - it.px, toY - it.py) > 6,
        fromX: it.px,
        fromY: it.py,
        toX,
        toY,
      });
      break;
    }
  }
  return placed;
}
