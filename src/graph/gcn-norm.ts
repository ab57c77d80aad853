import { argRangeError, argTypeError } from '../errors.js';
import type { Heap } from '../memory/heap.js';
import { CsrMatrix } from './csr.js';

export interface GcnNormOptions {
  /** Add self loops (A + I); default true. Existing self loops are kept and get weight + 1. */
  selfLoops?: boolean;
  /** Edge weights (default 1). */
  weights?: ArrayLike<number>;
  /** Treat each (src, dst) as undirected: add (dst, src) too; default true. */
  symmetric?: boolean;
}

/**
 * Kipf & Welling's normalized adjacency Â = D^-1/2 (A + I) D^-1/2 as CSR, computed once and
 * reused by every layer and epoch (PyG's `cached=True`). A node of degree 0 (isolated, no
 * self loop) gets an empty row: D^-1/2 = inf is taken as 0, as PyG's gcn_norm does.
 *
 * Per node: h_i = Σ_j  w_ij / sqrt(d_i d_j) · x_j  over neighbours j of i (i included).
 */
export function gcnNorm(heap: Heap, nodes: number, src: ArrayLike<number>, dst: ArrayLike<number>, options: GcnNormOptions = {}): CsrMatrix {
  const fn = 'gcnNorm';
  if (!Number.isInteger(nodes) || nodes < 0) throw argTypeError(fn, 'nodes', 'a non-negative integer', nodes);
  if (src.length !== dst.length) throw argRangeError(fn, 'dst', `${src.length} entries (as many as src)`, dst.length);
  const w = options.weights;
  if (w !== undefined && w.length !== src.length) throw argRangeError(fn, 'options.weights', `${src.length} entries (one per edge)`, w.length);
  const symmetric = options.symmetric ?? true, selfLoops = options.selfLoops ?? true;
  const rows: number[] = [], cols: number[] = [], vals: number[] = [];
  for (let e = 0; e < src.length; e++) {
    const a = src[e]!, b = dst[e]!, v = w === undefined ? 1 : w[e]!;
    if (!Number.isInteger(a) || a < 0 || a >= nodes) throw argRangeError(fn, `src[${e}]`, `a node in [0, ${nodes})`, a);
    if (!Number.isInteger(b) || b < 0 || b >= nodes) throw argRangeError(fn, `dst[${e}]`, `a node in [0, ${nodes})`, b);
    if (!Number.isFinite(v) || v < 0) throw argRangeError(fn, `options.weights[${e}]`, 'a finite non-negative number', v);
    rows.push(a); cols.push(b); vals.push(v);
    if (symmetric && a !== b) { rows.push(b); cols.push(a); vals.push(v); }
  }
  if (selfLoops) for (let i = 0; i < nodes; i++) { rows.push(i); cols.push(i); vals.push(1); }
  const a = CsrMatrix.fromCoo(heap, nodes, nodes, rows, cols, vals);
  const rp = a.rowPtr.data(), ci = a.colIdx.data(), vv = a.vals.data();
  const deg = new Float64Array(nodes);
  for (let r = 0; r < nodes; r++) for (let k = rp[r]!; k < rp[r + 1]!; k++) deg[r]! += vv[k]!;
  const inv = deg.map((d) => (d > 0 ? 1 / Math.sqrt(d) : 0));
  for (let r = 0; r < nodes; r++) for (let k = rp[r]!; k < rp[r + 1]!; k++) vv[k] = inv[r]! * vv[k]! * inv[ci[k]!]!;
  return a;
}

