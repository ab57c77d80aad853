import { argRangeError } from '../core/errors.js';
import { gcnNormArrays } from './gcn-norm.js';
import type { NodeDataset } from './node-data.js';

// Node reordering for SpMM's cache: Â·X gathers one row of X per nonzero, so when a row's
// neighbours have nearby numbers their rows of X are still in cache from the rows before.
// Reverse Cuthill–McKee (Cuthill & McKee 1969; George 1971) numbers nodes breadth-first by
// ascending degree, which shrinks the adjacency's bandwidth: nonzeros gather near the diagonal.

/** A renumbering of a graph's nodes and its inverse. */
export interface NodeOrder {
  /** order[newIndex] = the original node placed there. */
  order: Int32Array;
  /** rank[originalNode] = its new index (the inverse of order). */
  rank: Int32Array;
}

/**
 * Reverse Cuthill–McKee order of the undirected graph on `n` nodes with edges src[e]–dst[e]
 * (direction and self loops ignored). Each connected component starts at its lowest-degree
 * node (ties: the lower index), and a node's unvisited neighbours are queued by ascending
 * degree (ties: the lower index), so the order depends on the graph alone.
 */
export function reverseCuthillMcKee(n: number, src: ArrayLike<number>, dst: ArrayLike<number>): NodeOrder {
  if (!Number.isInteger(n) || n < 0) throw argRangeError('reverseCuthillMcKee', 'n', 'a non-negative integer', n);
  // The symmetric adjacency without self loops, each row's neighbours once, ascending (gcnNorm's CSR).
  const { rowPtr, colIdx } = gcnNormArrays(n, src, dst, { selfLoops: false });
  const degree = (v: number): number => rowPtr[v + 1]! - rowPtr[v]!;
  const byDegree = (a: number, b: number): number => degree(a) - degree(b) || a - b;
  // Starts: all nodes by (degree, index), taken in that order when not yet visited.
  const starts = Int32Array.from({ length: n }, (_, i) => i).sort(byDegree);
  const cm = new Int32Array(n),
    seen = new Uint8Array(n);
  let head = 0,
    tail = 0;
  for (const s of starts) {
    if (seen[s]) continue;
    seen[s] = 1;
    cm[tail++] = s;
    while (head < tail) {
      const v = cm[head++]!,
        from = tail;
      for (let p = rowPtr[v]!; p < rowPtr[v + 1]!; p++) {
        const w = colIdx[p]!;
        if (!seen[w]) {
          seen[w] = 1;
          cm[tail++] = w;
        }
      }
      if (tail - from > 1) cm.subarray(from, tail).sort(byDegree);
    }
  }
  const order = cm.reverse(),
    rank = new Int32Array(n);
  for (let q = 0; q < n; q++) rank[order[q]!] = q;
  return { order, rank };
}

/**
 * The adjacency's bandwidth, max |rank[a] − rank[b]| over the edges (identity when rank is
 * omitted): what reordering shrinks, and what its tests check.
 */
export function bandwidth(src: Int32Array, dst: Int32Array, rank?: Int32Array): number {
  let b = 0;
  for (let e = 0; e < src.length; e++) {
    const a = rank ? rank[src[e]!]! : src[e]!,
      c = rank ? rank[dst[e]!]! : dst[e]!;
    b = Math.max(b, Math.abs(a - c));
  }
  return b;
}

/**
 * Which order a node task's SpMMs run in: 'rcm' (reverse Cuthill–McKee), 'input' (the
 * user's), or 'auto': RCM from RCM_MIN_NODES nodes up.
 */
export const NODE_ORDER_CHOICES = ['auto', 'rcm', 'input'] as const;
/** 'auto' | 'rcm' | 'input': the order a node task's SpMMs run in (see NODE_ORDER_CHOICES in graph/reorder.ts). */
export type NodeOrderChoice = (typeof NODE_ORDER_CHOICES)[number];

/**
 * 'auto' reorders graphs of this many nodes or more. Measured on a 2-core Zen 5 (npm run
 * bench:reorder, uniform random graphs of mean degree 7, SpMM on one thread): RCM saved
 * 6–15% per SpMM at 169,343 nodes and 7–18% at 20,000, where computing the order took 528
 * and 67 ms. At 20,000 nodes and Kipf's 16 hidden columns a 200-epoch run saves about what the
 * order costs, so smaller graphs (the Planetoid sets; PubMed has 19,717 nodes) keep their order.
 */
export const RCM_MIN_NODES = 32_768;

/** The order to run a graph of `n` nodes in, or null for the user's own. */
export function spmmNodeOrder(
  n: number,
  src: ArrayLike<number>,
  dst: ArrayLike<number>,
  choice: NodeOrderChoice = 'auto',
): NodeOrder | null {
  if (choice === 'input' || (choice === 'auto' && n < RCM_MIN_NODES)) return null;
  return reverseCuthillMcKee(n, src, dst);
}

/** Rows of `width` values in the new order: row q of the result is row order[q] of `values`. */
export function rowsInOrder<T extends Float32Array | Int32Array>(values: T, width: number, order: Int32Array): T {
  const out = new (values.constructor as new (n: number) => T)(values.length);
  for (let q = 0; q < order.length; q++)
    out.set(values.subarray(order[q]! * width, (order[q]! + 1) * width), q * width);
  return out;
}

/** The inverse of rowsInOrder: rows computed in the new order, back in the user's. */
export function rowsInUserOrder<T extends Float32Array | Int32Array>(values: T, width: number, order: Int32Array): T {
  const out = new (values.constructor as new (n: number) => T)(values.length);
  for (let q = 0; q < order.length; q++) out.set(values.subarray(q * width, (q + 1) * width), order[q]! * width);
  return out;
}

/** Node indices (edge ends, split members) renumbered into the new order. */
export function renumbered(nodes: ArrayLike<number>, rank: Int32Array): Int32Array {
  return Int32Array.from(nodes, (v) => rank[v]!);
}

/**
 * A node task in the order its SpMMs run in (`choice`, as spmmNodeOrder), with that order,
 * or the task itself and null when it keeps the user's order.
 */
export function nodeTaskInSpmmOrder(
  data: NodeDataset,
  choice?: NodeOrderChoice,
): { data: NodeDataset; order: NodeOrder | null } {
  const order = spmmNodeOrder(data.numNodes, data.src, data.dst, choice);
  return { data: order ? nodeDatasetInOrder(data, order) : data, order };
}

/** The same task with its nodes renumbered: rows, labels, ids, splits and edge ends. */
export function nodeDatasetInOrder(data: NodeDataset, o: NodeOrder): NodeDataset {
  const { order, rank } = o,
    sp = data.split;
  return {
    ...data,
    features: rowsInOrder(data.features, data.numFeatures, order),
    labels: rowsInOrder(data.labels, 1, order),
    split: { train: renumbered(sp.train, rank), val: renumbered(sp.val, rank), test: renumbered(sp.test, rank) },
    src: renumbered(data.src, rank),
    dst: renumbered(data.dst, rank),
    ids: Array.from(order, (v) => data.ids[v]!),
  };
}

/** A CSR matrix's entries as edge lists (row → column), one per stored entry. */
export function csrEdges(rowPtr: Int32Array, colIdx: Int32Array): { src: Int32Array; dst: Int32Array } {
  const src = new Int32Array(colIdx.length);
  for (let r = 0; r + 1 < rowPtr.length; r++) src.fill(r, rowPtr[r]!, rowPtr[r + 1]!);
  return { src, dst: colIdx };
}

/**
 * A square CSR matrix with rows and columns renumbered: row q is row order[q], its columns
 * mapped through rank and ascending again (ties keep their stored order).
 */
export function csrInOrder(
  m: { rowPtr: Int32Array; colIdx: Int32Array; vals: Float32Array },
  o: NodeOrder,
): { rowPtr: Int32Array; colIdx: Int32Array; vals: Float32Array } {
  const { order, rank } = o,
    n = order.length;
  const rowPtr = new Int32Array(n + 1),
    colIdx = new Int32Array(m.colIdx.length),
    vals = new Float32Array(m.vals.length);
  for (let q = 0; q < n; q++) {
    const a = m.rowPtr[order[q]!]!,
      b = m.rowPtr[order[q]! + 1]!,
      at = rowPtr[q]!;
    const entries = Array.from({ length: b - a }, (_, k) => a + k).sort(
      (x, y) => rank[m.colIdx[x]!]! - rank[m.colIdx[y]!]! || x - y,
    );
    entries.forEach((k, j) => {
      colIdx[at + j] = rank[m.colIdx[k]!]!;
      vals[at + j] = m.vals[k]!;
    });
    rowPtr[q + 1] = at + b - a;
  }
  return { rowPtr, colIdx, vals };
}
