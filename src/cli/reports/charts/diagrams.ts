// Node-link pictures as Vega-Lite specs: a decision tree and an explained node's neighbourhood.
// The layouts are computed here (Vega-Lite has none for trees or rings); each item's place is
// in pixels, on identity scales, and Vega-Lite draws the marks, titles and legends.
import { CHART_CONFIG, VEGA_LITE_SCHEMA, wrapText, type ChartSpec } from './render.js';

/** A decision tree's node as drawn: its split (absent at a leaf), its value and sample count. */
export interface DrawnNode {
  split?: string;
  value: number;
  samples: number;
  left?: DrawnNode;
  right?: DrawnNode;
}

/** x and y channels that put a field's value at that pixel (y from the top). */
function pixels(W: number, H: number, xf = 'x', yf = 'y'): Record<string, unknown> {
  return {
    x: { field: xf, type: 'quantitative', scale: { domain: [0, W], nice: false, zero: false }, axis: null },
    y: {
      field: yf,
      type: 'quantitative',
      scale: { domain: [0, H], nice: false, zero: false, reverse: true },
      axis: null,
    },
  };
}

function base(title: string | { text: string; subtitle: string[]; anchor?: string }, W: number, H: number): ChartSpec {
  return {
    $schema: VEGA_LITE_SCHEMA,
    title,
    width: W,
    height: H,
    autosize: { type: 'pad' },
    padding: 8,
    config: { ...CHART_CONFIG, view: { stroke: null } },
  };
}

/**
 * A binary tree drawn top-down: each node a box with its split ("choice = tss?"), the mean
 * value and the sample count; "yes" to the left, "no" to the right. Leaves spread evenly.
 */
export function treeDiagramSpec(title: string, root: DrawnNode, valueName: string): ChartSpec {
  const leaves: DrawnNode[] = [];
  const depthOf = (n: DrawnNode): number => (n.left && n.right ? 1 + Math.max(depthOf(n.left), depthOf(n.right)) : 0);
  const collect = (n: DrawnNode): void => {
    if (n.left && n.right) {
      collect(n.left);
      collect(n.right);
    } else leaves.push(n);
  };
  collect(root);
  const boxW = 150,
    boxH = 46,
    gapX = 12,
    rowH = 92,
    depth = depthOf(root);
  const W = Math.max(440, leaves.length * (boxW + gapX)),
    H = depth * rowH + boxH;
  const pos = new Map<DrawnNode, { x: number; y: number }>();
  let next = 0;
  const place = (n: DrawnNode, d: number): number => {
    const x =
      n.left && n.right ? (place(n.left, d + 1) + place(n.right, d + 1)) / 2 : boxW / 2 + next++ * (boxW + gapX);
    pos.set(n, { x, y: d * rowH });
    return x;
  };
  place(root, 0);
  const boxes: Record<string, unknown>[] = [],
    edges: Record<string, unknown>[] = [];
  const visit = (n: DrawnNode): void => {
    const p = pos.get(n)!,
      leaf = !(n.left && n.right);
    for (const [child, label] of [
      [n.left, 'yes'],
      [n.right, 'no'],
    ] as const) {
      if (!child || leaf) continue;
      const c = pos.get(child)!;
      edges.push({
        x: p.x,
        y: p.y + boxH,
        x2: c.x,
        y2: c.y,
        label,
        lx: (p.x + c.x) / 2 + (label === 'yes' ? -10 : 10),
        ly: (p.y + boxH + c.y) / 2,
      });
      visit(child);
    }
    boxes.push({
      x: p.x - boxW / 2,
      x2: p.x + boxW / 2,
      y: p.y,
      y2: p.y + boxH,
      cx: p.x,
      ty: p.y + 17,
      sy: p.y + 33,
      kind: leaf ? 'leaf' : 'split',
      head: n.split ?? `${valueName} ${n.value.toFixed(3)}`,
      sub: `${n.split ? `${valueName} ${n.value.toFixed(3)}, ` : ''}${n.samples} runs`,
    });
  };
  visit(root);
  const px = pixels(W, H);
  return {
    ...base(title, W, H),
    layer: [
      {
        data: { values: edges },
        mark: { type: 'rule', color: '#777' },
        encoding: { ...px, x2: { field: 'x2' }, y2: { field: 'y2' } },
      },
      {
        data: { values: edges },
        mark: { type: 'text', fontSize: 10, color: '#555' },
        encoding: { ...pixels(W, H, 'lx', 'ly'), text: { field: 'label' } },
      },
      {
        data: { values: boxes },
        mark: { type: 'rect', cornerRadius: 6, stroke: '#999' },
        encoding: {
          ...px,
          x2: { field: 'x2' },
          y2: { field: 'y2' },
          color: {
            field: 'kind',
            type: 'nominal',
            title: null,
            scale: { domain: ['split', 'leaf'], range: ['#fff7e6', '#eef5ff'] },
            legend: { symbolType: 'square', symbolStrokeColor: '#999' },
          },
        },
      },
      {
        data: { values: boxes },
        mark: { type: 'text', fontSize: 11, fontWeight: 'bold', color: '#222' },
        encoding: { ...pixels(W, H, 'cx', 'ty'), text: { field: 'head' } },
      },
      {
        data: { values: boxes },
        mark: { type: 'text', fontSize: 10, color: '#222' },
        encoding: { ...pixels(W, H, 'cx', 'sy'), text: { field: 'sub' } },
      },
    ],
    resolve: { scale: { color: 'independent' } },
  };
}

const CLASS_COLORS = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
];

export interface EgoOptions {
  title: string;
  /** Hops from the explained node (local 0), per local node. */
  hops: ArrayLike<number>;
  /** Class per local node (−1: unknown), for the fill. */
  classes: ArrayLike<number>;
  names: string[];
  src: ArrayLike<number>;
  dst: ArrayLike<number>;
  edgeScores: ArrayLike<number>;
  /** Edges drawn thick (the top by |score|). */
  top?: number;
  /** What the edge scores are, for the caption (default: attributions, signed). */
  scoreNote?: string;
}

/**
 * One explained node and its neighbourhood: the node in the middle, its neighbours on rings by
 * hop count, every edge drawn faintly and the top-scoring ones thick and coloured (red: raises
 * the explained class, blue: lowers it), with legends for the node classes and edge colours.
 */
export function egoSpec(o: EgoOptions): ChartSpec {
  const S = 480,
    c = S / 2;
  const n = o.hops.length,
    maxHop = Math.max(1, ...Array.from(o.hops));
  const ring = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const h = o.hops[i]!;
    if (!ring.has(h)) ring.set(h, []);
    ring.get(h)!.push(i);
  }
  const xy: [number, number][] = new Array(n);
  for (const [h, nodes] of ring) {
    const r = (h / maxHop) * (S / 2 - 10);
    nodes.forEach((i, k) => {
      const a = (2 * Math.PI * k) / nodes.length + h * 0.3;
      xy[i] = [+(c + r * Math.cos(a)).toFixed(1), +(c + r * Math.sin(a)).toFixed(1)];
    });
  }
  const E = o.src.length,
    top = Math.min(o.top ?? 10, E);
  const order = Array.from({ length: E }, (_, e) => e).sort(
    (a, b) => Math.abs(o.edgeScores[b]!) - Math.abs(o.edgeScores[a]!) || a - b,
  );
  const strong = new Set(order.slice(0, top));
  const maxAbs = Math.max(1e-30, ...order.slice(0, top).map((e) => Math.abs(o.edgeScores[e]!)));
  const edge = (e: number): Record<string, number> => {
    const [x, y] = xy[o.src[e]!]!,
      [x2, y2] = xy[o.dst[e]!]!;
    return { x, y, x2, y2 };
  };
  const up = o.scoreNote ? 'top edge, score ≥ 0' : 'raises the class',
    down = o.scoreNote ? 'top edge, score < 0' : 'lowers the class';
  const faint = Array.from({ length: E }, (_, e) => e)
    .filter((e) => !strong.has(e))
    .map(edge);
  const thick = order.slice(0, top).map((e) => ({
    ...edge(e),
    sign: o.edgeScores[e]! >= 0 ? up : down,
    width: +(1 + (5 * Math.abs(o.edgeScores[e]!)) / maxAbs).toFixed(2),
  }));
  const nodes = Array.from({ length: n }, (_, i) => ({
    x: xy[i]![0],
    y: xy[i]![1],
    cls: o.classes[i]! >= 0 ? `class ${o.classes[i]}` : 'unknown',
    name: o.names[i]!,
    hops: o.hops[i]!,
    centre: i === 0,
  }));
  const classes = [...new Set(Array.from(o.classes))].sort((a, b) => a - b);
  // Wrapped to the plot and legend's width (vega's text-width estimate, 0.8 em a character, is generous).
  const caption = [
    `${n} nodes within ${maxHop} hops, ${E} edges; fill: each node's class.`,
    `Thick: the ${top} top edges by |score|${o.scoreNote ? ` (${o.scoreNote})` : ', coloured by the sign of the attribution'}.`,
  ].flatMap((t) => wrapText(t, S + 120, 11));
  const px = pixels(S, S);
  return {
    ...base({ text: o.title, subtitle: caption, anchor: 'start' }, S, S),
    layer: [
      {
        data: { values: faint },
        mark: { type: 'rule', color: '#ccc', strokeWidth: 0.6 },
        encoding: { ...px, x2: { field: 'x2' }, y2: { field: 'y2' } },
      },
      {
        data: { values: thick },
        mark: { type: 'rule' },
        encoding: {
          ...px,
          x2: { field: 'x2' },
          y2: { field: 'y2' },
          strokeWidth: { field: 'width', type: 'quantitative', scale: null },
          color: {
            field: 'sign',
            type: 'nominal',
            title: 'edges',
            scale: { domain: [up, down], range: ['#d7301f', '#2166ac'] },
          },
        },
      },
      {
        data: { values: nodes },
        mark: { type: 'circle', stroke: '#333', opacity: 1 },
        encoding: {
          ...px,
          size: { condition: { test: 'datum.centre', value: 250 }, value: 80 },
          strokeWidth: { condition: { test: 'datum.centre', value: 2 }, value: 0.7 },
          fill: {
            field: 'cls',
            type: 'nominal',
            title: 'node class',
            scale: {
              domain: classes.map((k) => (k >= 0 ? `class ${k}` : 'unknown')),
              range: classes.map((k) => (k >= 0 ? CLASS_COLORS[k % CLASS_COLORS.length]! : '#fff')),
            },
          },
          tooltip: [{ field: 'name' }, { field: 'cls' }, { field: 'hops' }],
        },
      },
      {
        data: { values: nodes.slice(0, 1) },
        mark: { type: 'text', align: 'left', dx: 12, dy: -10, fontWeight: 'bold' },
        encoding: { ...px, text: { field: 'name' } },
      },
    ],
    resolve: { scale: { color: 'independent', fill: 'independent' } },
  };
}
