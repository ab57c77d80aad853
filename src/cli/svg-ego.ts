import { esc, frame } from './svg.js';

// One explained node and its neighbourhood as a picture: the node in the middle, its
// neighbours on rings by hop count, every edge drawn faintly and the top-scoring ones
// thick and coloured (red: raises the explained class, blue: lowers it).

const CLASS_COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

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

export function egoSvg(o: EgoOptions): string {
  const W = 560, H = 580, cx = W / 2, cy = H / 2 + 20;
  const n = o.hops.length, maxHop = Math.max(1, ...Array.from(o.hops));
  const ring = new Map<number, number[]>();
  for (let i = 0; i < n; i++) { const h = o.hops[i]!; if (!ring.has(h)) ring.set(h, []); ring.get(h)!.push(i); }
  const xy: [number, number][] = new Array(n);
  for (const [h, nodes] of ring) {
    const r = (h / maxHop) * (Math.min(W, H) / 2 - 50);
    nodes.forEach((i, k) => { const a = (2 * Math.PI * k) / nodes.length + h * 0.3; xy[i] = [cx + r * Math.cos(a), cy + r * Math.sin(a)]; });
  }
  const E = o.src.length, top = Math.min(o.top ?? 10, E);
  const order = Array.from({ length: E }, (_, e) => e).sort((a, b) => Math.abs(o.edgeScores[b]!) - Math.abs(o.edgeScores[a]!) || a - b);
  const strong = new Set(order.slice(0, top));
  const maxAbs = Math.max(1e-30, ...order.slice(0, top).map((e) => Math.abs(o.edgeScores[e]!)));
  const out = frame(W, H, o.title);
  out.push(`<text x="${W / 2}" y="38" text-anchor="middle" fill="#555">${n} nodes within ${maxHop} hops, ${E} edges; fill: each node's class</text>`);
  out.push(`<text x="${W / 2}" y="54" text-anchor="middle" fill="#555">thick: the ${top} top edges by |score| (${esc(o.scoreNote ?? 'attribution: red raises the class, blue lowers it')})</text>`);
  for (let e = 0; e < E; e++) {
    if (strong.has(e)) continue;
    const [x1, y1] = xy[o.src[e]!]!, [x2, y2] = xy[o.dst[e]!]!;
    out.push(`<line x1="${x1.toFixed(1)}" y1="${y1.toFixed(1)}" x2="${x2.toFixed(1)}" y2="${y2.toFixed(1)}" stroke="#ccc" stroke-width="0.6"/>`);
  }
  for (const e of strong) {
    const [x1, y1] = xy[o.src[e]!]!, [x2, y2] = xy[o.dst[e]!]!, s = o.edgeScores[e]!;
    out.push(`<line x1="${x1.toFixed(1)}" y1="${y1.toFixed(1)}" x2="${x2.toFixed(1)}" y2="${y2.toFixed(1)}" stroke="${s >= 0 ? '#d7301f' : '#2166ac'}" stroke-width="${(1 + 5 * Math.abs(s) / maxAbs).toFixed(2)}"/>`);
  }
  for (let i = 0; i < n; i++) {
    const [x, y] = xy[i]!, c = o.classes[i]!;
    out.push(`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="${i === 0 ? 9 : 5}" fill="${c >= 0 ? CLASS_COLORS[c % CLASS_COLORS.length] : '#fff'}" stroke="#333" stroke-width="${i === 0 ? 2 : 0.7}"><title>${esc(o.names[i]!)} (class ${c}, ${o.hops[i]} hops)</title></circle>`);
  }
  out.push(`<text x="${(cx + 12).toFixed(1)}" y="${(cy - 10).toFixed(1)}" font-weight="bold">${esc(o.names[0] ?? '')}</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}
