import { argRangeError, argTypeError } from '../core/errors.js';
import type { Heap } from '../memory/heap.js';
import { CsrMatrix } from './csr.js';

/** Options of gcnNorm: self loops and edge weights. */
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
export function gcnNorm(
  heap: Heap,
  nodes: number,
  src: ArrayLike<number>,
  dst: ArrayLike<number>,
  options: GcnNormOptions = {},
): CsrMatrix {
  const a = gcnNormArrays(nodes, src, dst, options);
  return CsrMatrix.fromArrays(heap, nodes, nodes, a.rowPtr, a.colIdx, a.vals);
}

/** Â as plain CSR arrays (no heap): what gcnNorm stores, for callers that assemble batches. */
export interface CsrArrays {
  rowPtr: Int32Array;
  colIdx: Int32Array;
  vals: Float32Array;
}

/**
 * gcnNorm's arithmetic without the heap. Per row, entries are ordered by column and then by
 * input position; duplicates are summed in that order and rounded to float32 before the
 * degrees are taken, so a graph's rows come out the same bits alone or inside a batch.
 */
export function gcnNormArrays(
  nodes: number,
  src: ArrayLike<number>,
  dst: ArrayLike<number>,
  options: GcnNormOptions = {},
): CsrArrays {
  const fn = 'gcnNorm';
  if (!Number.isInteger(nodes) || nodes < 0) throw argTypeError(fn, 'nodes', 'a non-negative integer', nodes);
  if (src.length !== dst.length) throw argRangeError(fn, 'dst', `${src.length} entries (as many as src)`, dst.length);
  const w = options.weights;
  if (w !== undefined && w.length !== src.length)
    throw argRangeError(fn, 'options.weights', `${src.length} entries (one per edge)`, w.length);
  const symmetric = options.symmetric ?? true,
    selfLoops = options.selfLoops ?? true;
  const m = src.length;
  // Entries in input order: each edge, then its mirror, then the self loops.
  const cap = 2 * m + (selfLoops ? nodes : 0);
  const er = new Int32Array(cap),
    ec = new Int32Array(cap),
    ev = new Float64Array(cap);
  let count = 0;
  for (let e = 0; e < m; e++) {
    const a = src[e]!,
      b = dst[e]!,
      v = w === undefined ? 1 : w[e]!;
    if (!Number.isInteger(a) || a < 0 || a >= nodes) throw argRangeError(fn, `src[${e}]`, `a node in [0, ${nodes})`, a);
    if (!Number.isInteger(b) || b < 0 || b >= nodes) throw argRangeError(fn, `dst[${e}]`, `a node in [0, ${nodes})`, b);
    if (!Number.isFinite(v) || v < 0)
      throw argRangeError(fn, `options.weights[${e}]`, 'a finite non-negative number', v);
    er[count] = a;
    ec[count] = b;
    ev[count++] = v;
    if (symmetric && a !== b) {
      er[count] = b;
      ec[count] = a;
      ev[count++] = v;
    }
  }
  if (selfLoops)
    for (let i = 0; i < nodes; i++) {
      er[count] = i;
      ec[count] = i;
      ev[count++] = 1;
    }
  // Bucket by row (stable), then order each row by column (ties by input position).
  const start = new Int32Array(nodes + 1);
  for (let k = 0; k < count; k++) start[er[k]! + 1]!++;
  for (let r = 0; r < nodes; r++) start[r + 1]! += start[r]!;
  const fill = start.slice(0, nodes),
    order = new Int32Array(count);
  for (let k = 0; k < count; k++) order[fill[er[k]!]!++] = k;
  const rowPtr = new Int32Array(nodes + 1),
    cols: number[] = [],
    sums: number[] = [];
  for (let r = 0; r < nodes; r++) {
    const row = Array.from(order.subarray(start[r]!, start[r + 1]!)).sort((a, b) => ec[a]! - ec[b]! || a - b);
    let last = -1;
    for (const k of row) {
      if (ec[k] === last) {
        sums[sums.length - 1]! += ev[k]!;
        continue;
      }
      cols.push(ec[k]!);
      sums.push(ev[k]!);
      last = ec[k]!;
    }
    rowPtr[r + 1] = cols.length;
  }
  const colIdx = Int32Array.from(cols),
    vals = Float32Array.from(sums);
  const deg = new Float64Array(nodes);
  for (let r = 0; r < nodes; r++) for (let k = rowPtr[r]!; k < rowPtr[r + 1]!; k++) deg[r]! += vals[k]!;
  const inv = deg.map((d) => (d > 0 ? 1 / Math.sqrt(d) : 0));
  for (let r = 0; r < nodes; r++)
    for (let k = rowPtr[r]!; k < rowPtr[r + 1]!; k++) vals[k] = inv[r]! * vals[k]! * inv[colIdx[k]!]!;
  return { rowPtr, colIdx, vals };
}
