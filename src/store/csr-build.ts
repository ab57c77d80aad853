import { GraftError } from '../core/errors.js';

// Building a store's CSR from an edge list too large to hold twice: the edges are streamed
// two times (count the degrees, then scatter), so only the CSR itself is ever in memory, and
// an edge generator can replay its stream instead of keeping it.

/** Calls `emit(src, dst)` once per edge, the same edges in the same order each time it runs. */
export type EdgeStream = (emit: (src: number, dst: number) => void) => void;

/** A CSR adjacency built from an edge stream: row offsets (int32, or float64 past 2³¹ entries), column indices, and the self loops and repeated edges dropped. */
export interface BuiltCsr {
  /** Int32Array while the non-zeros fit in int32; a Float64Array of exact integers past that. */
  rowPtr: Int32Array | Float64Array;
  colIdx: Int32Array;
  /** Self-loops and repeated (row, column) pairs dropped. */
  dropped: { selfLoops: number; duplicates: number };
}

/**
 * The adjacency as CSR with rows = targets and columns = sources (messages flow column →
 * row, as in PyG's `edge_index[1]` ← `edge_index[0]`), each row sorted ascending, without
 * self-loops (the layers add their own) or repeats. `symmetric`: every edge in both
 * directions, Graft's reading of an undirected graph (and OGB's to_undirected).
 */
export function csrFromEdges(n: number, edges: EdgeStream, opts: { symmetric: boolean }): BuiltCsr {
  const deg = new Int32Array(n);
  let selfLoops = 0;
  const check = (a: number, b: number): void => {
    if (!(a >= 0 && a < n && b >= 0 && b < n))
      throw new GraftError(`csrFromEdges: edge (${a}, ${b}) has an end outside [0, ${n})`);
  };
  edges((a, b) => {
    check(a, b);
    if (a === b) {
      selfLoops++;
      return;
    }
    deg[b]!++;
    if (opts.symmetric) deg[a]!++;
  });
  selfLoops = 0;
  const starts = new Float64Array(n + 1);
  for (let v = 0; v < n; v++) starts[v + 1] = starts[v]! + deg[v]!;
  const total = starts[n]!;
  const colIdx = new Int32Array(total);
  const fill = new Float64Array(starts.subarray(0, n));
  edges((a, b) => {
    if (a === b) {
      selfLoops++;
      return;
    }
    colIdx[fill[b]!++] = a;
    if (opts.symmetric) colIdx[fill[a]!++] = b;
  });
  // Sort each row and drop repeats, compacting in place (a row's write position never passes its read position).
  const rowPtr = new Float64Array(n + 1);
  let w = 0;
  for (let v = 0; v < n; v++) {
    const a = starts[v]!,
      b = starts[v + 1]!;
    if (b - a > 1) colIdx.subarray(a, b).sort();
    for (let p = a; p < b; p++) if (p === a || colIdx[p] !== colIdx[p - 1]) colIdx[w++] = colIdx[p]!;
    rowPtr[v + 1] = w;
  }
  const out = w === total ? colIdx : colIdx.subarray(0, w); // a view: no second copy of a large array
  return {
    rowPtr: w <= 0x7fffffff ? Int32Array.from(rowPtr) : rowPtr,
    colIdx: out,
    dropped: { selfLoops, duplicates: total - w },
  };
}

/** An edge stream over arrays. */
export function arrayEdges(src: ArrayLike<number>, dst: ArrayLike<number>): EdgeStream {
  return (emit) => {
    for (let e = 0; e < src.length; e++) emit(src[e]!, dst[e]!);
  };
}
