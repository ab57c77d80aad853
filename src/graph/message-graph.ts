import { argRangeError, argTypeError } from '../core/errors.js';
import type { Heap } from '../memory/heap.js';
import { Tensor } from '../memory/tensor.js';
import { CsrMatrix } from './csr.js';

/** How a MessageGraph is built: self-loop handling (as given, or replaced by one per node as GAT needs), edge features, and the reverse-edge index D-MPNN needs. */
export interface MessageGraphOptions {
  /**
   * Self loops, as PyG's layers treat them: 'keep' (the default: the edges as given, self
   * loops included, as SAGEConv and GINConv see them) or 'replace' (GATConv's
   * add_self_loops=True: every given self loop dropped, then one added per node).
   */
  selfLoops?: 'keep' | 'replace';
  /** Edge features, row-major [edges, dim] in input edge order (GINEConv's edge_attr). */
  edgeAttr?: { data: ArrayLike<number>; dim: number };
}

/**
 * The indices `order` (all of 0 … keys.length − 1 when null) stably sorted by keys[i] in
 * [0, range): a counting sort.
 */
function countingSort(keys: Int32Array, range: number, order: Int32Array | null): Int32Array {
  const n = keys.length,
    start = new Int32Array(range + 1),
    out = new Int32Array(n);
  for (let i = 0; i < n; i++) start[keys[i]! + 1]!++;
  for (let r = 0; r < range; r++) start[r + 1]! += start[r]!;
  for (let j = 0; j < n; j++) {
    const i = order ? order[j]! : j;
    out[start[keys[i]!]!++] = i;
  }
  return out;
}

/**
 * A directed graph laid out for message passing: messages flow along each edge src → dst and
 * are summed (or averaged, or weighted) into the destination. Unlike gcnNorm, edges are kept
 * as given: duplicates stay separate messages (PyG sums over edges, so a doubled edge counts
 * twice) and nothing is made undirected. Nonzeros (edge positions) are ordered by destination,
 * then source, then input order, so every sum over a destination's messages has a fixed order.
 *
 * - `adj` (nodes × nodes): row i lists the sources of i's incoming edges, values 1 (the sum
 *   aggregation is spmm(adj, X)); `adjT` is its transpose (rows = sources), the backward's.
 * - `order`: adjT's nonzero k' is adj's nonzero order[k'] (moves per-edge values to adjT).
 * - `incidence` (nodes × edges): row i lists i's incoming edge positions, values 1, so
 *   spmm(incidence, M) sums per-edge rows M [edges, F] into destinations; `incidenceT` lists
 *   each node's outgoing edge positions (scatters per-edge rows into sources).
 * - `dstOf` (one per edge): each edge position's destination (adj.colIdx is its source).
 * - `edgeIds`: the input edge at each position (−1 for a self loop added by 'replace').
 */
export class MessageGraph {
  readonly adj: CsrMatrix;
  readonly adjT: CsrMatrix;
  readonly order: Tensor<'int32'>;
  readonly incidence: CsrMatrix;
  readonly incidenceT: CsrMatrix;
  readonly dstOf: Tensor<'int32'>;
  readonly edgeIds: Int32Array;
  /** Edge features [edges, dim] by edge position, or null. */
  readonly edgeAttr: Tensor<'float32'> | null;
  /**
   * Set by an explainer (bond-level attributions): the layers that read edgeAttr (GINE, D-MPNN)
   * add ∂L/∂edgeAttr [edges, dim] into it in their backward pass, as GCN layers add ∂L/∂Â into
   * Propagation.edgeGrad. Null (the default) costs nothing; whoever sets it frees it.
   */
  edgeAttrGrad: Tensor | null = null;
  private rev: Tensor<'int32'> | null = null;
  private meanPair: { adj: CsrMatrix; adjT: CsrMatrix; vals: Tensor<'float32'>; valsT: Tensor<'float32'> } | null =
    null;
  private readonly owned: Tensor[];

  private constructor(
    readonly heap: Heap,
    readonly nodes: number,
    srcs: Int32Array,
    dsts: Int32Array,
    ids: Int32Array,
    attr: Float32Array | null,
    dim: number,
  ) {
    const edges = srcs.length;
    // Two stable counting sorts, by source and then by destination: positions ordered by
    // destination, then source, then input order, in O(edges + nodes) over typed arrays.
    const bySrc = countingSort(srcs, nodes, null);
    const pos = countingSort(dsts, nodes, bySrc);
    const rowPtr = new Int32Array(nodes + 1);
    for (let e = 0; e < edges; e++) rowPtr[dsts[e]! + 1]!++;
    for (let r = 0; r < nodes; r++) rowPtr[r + 1]! += rowPtr[r]!;
    this.edgeIds = Int32Array.from(pos, (e) => ids[e]!);
    const col = Int32Array.from(pos, (e) => srcs[e]!),
      dstOf = Int32Array.from(pos, (e) => dsts[e]!);
    const ones = Tensor.empty(heap, 'float32', [edges], 'message graph ones');
    ones.data().fill(1);
    const rp = Tensor.from(heap, 'int32', [nodes + 1], rowPtr),
      ci = Tensor.from(heap, 'int32', [edges], col);
    this.adj = CsrMatrix.view(nodes, nodes, rp, ci, ones);
    const t = this.adj.transposed();
    this.adjT = CsrMatrix.view(nodes, nodes, t.matrix.rowPtr, t.matrix.colIdx, ones);
    t.matrix.vals.free();
    this.order = Tensor.from(heap, 'int32', [edges], t.order);
    const seq = Tensor.from(
      heap,
      'int32',
      [edges],
      Int32Array.from({ length: edges }, (_, i) => i),
    );
    this.incidence = CsrMatrix.view(nodes, edges, rp, seq, ones);
    this.incidenceT = CsrMatrix.view(nodes, edges, t.matrix.rowPtr, this.order, ones);
    this.dstOf = Tensor.from(heap, 'int32', [edges], dstOf);
    this.edgeAttr = null;
    if (attr) {
      const a = new Float32Array(edges * dim);
      for (let k = 0; k < edges; k++) a.set(attr.subarray(pos[k]! * dim, pos[k]! * dim + dim), k * dim);
      this.edgeAttr = Tensor.from(heap, 'float32', [edges, dim], a);
    }
    this.owned = [
      ones,
      rp,
      ci,
      t.matrix.rowPtr,
      t.matrix.colIdx,
      this.order,
      seq,
      this.dstOf,
      ...(this.edgeAttr ? [this.edgeAttr] : []),
    ];
  }

  /**
   * From edge lists src[e] → dst[e] over `nodes` nodes. Errors name the offending edge.
   * @example const g = MessageGraph.fromEdges(rt.heap, 3, [0, 1], [1, 2]);
   */
  static fromEdges(
    heap: Heap,
    nodes: number,
    src: ArrayLike<number>,
    dst: ArrayLike<number>,
    options: MessageGraphOptions = {},
  ): MessageGraph {
    const fn = 'MessageGraph.fromEdges';
    if (!Number.isInteger(nodes) || nodes < 0) throw argTypeError(fn, 'nodes', 'a non-negative integer', nodes);
    if (src.length !== dst.length) throw argRangeError(fn, 'dst', `${src.length} entries (as many as src)`, dst.length);
    const loops = options.selfLoops ?? 'keep';
    if (loops !== 'keep' && loops !== 'replace')
      throw argTypeError(fn, 'options.selfLoops', "'keep' or 'replace'", loops);
    const attr = options.edgeAttr;
    let dim = 0;
    if (attr !== undefined) {
      dim = attr.dim;
      if (!Number.isInteger(dim) || dim <= 0)
        throw argRangeError(fn, 'options.edgeAttr.dim', 'a positive integer', dim);
      if (attr.data.length !== src.length * dim)
        throw argRangeError(fn, 'options.edgeAttr.data', `${src.length * dim} values (edges × dim)`, attr.data.length);
      if (loops === 'replace')
        throw argRangeError(
          fn,
          'options.edgeAttr',
          "no edge features with selfLoops 'replace' (an added loop has none)",
          'edge features',
        );
      for (let i = 0; i < attr.data.length; i++)
        if (!Number.isFinite(attr.data[i]))
          throw argRangeError(fn, `options.edgeAttr.data[${i}]`, 'a finite number', attr.data[i]);
    }
    const s: number[] = [],
      d: number[] = [],
      ids: number[] = [];
    for (let e = 0; e < src.length; e++) {
      const a = src[e]!,
        b = dst[e]!;
      if (!Number.isInteger(a) || a < 0 || a >= nodes)
        throw argRangeError(fn, `src[${e}]`, `a node in [0, ${nodes})`, a);
      if (!Number.isInteger(b) || b < 0 || b >= nodes)
        throw argRangeError(fn, `dst[${e}]`, `a node in [0, ${nodes})`, b);
      if (loops === 'replace' && a === b) continue;
      s.push(a);
      d.push(b);
      ids.push(e);
    }
    if (loops === 'replace')
      for (let i = 0; i < nodes; i++) {
        s.push(i);
        d.push(i);
        ids.push(-1);
      }
    return new MessageGraph(
      heap,
      nodes,
      Int32Array.from(s),
      Int32Array.from(d),
      Int32Array.from(ids),
      attr === undefined ? null : Float32Array.from(attr.data),
      dim,
    );
  }

  /** The number of messages (directed edges, duplicates counted), self loops included. */
  get edges(): number {
    return this.adj.nnz;
  }

  /** Edge features' width (0 without them). */
  get edgeDim(): number {
    return this.edgeAttr?.shape[1] ?? 0;
  }

  /**
   * The mean aggregation (SAGEConv's): adj with each value 1/in-degree of its row, so
   * spmm(mean.adj, X) averages each node's incoming messages (0 for a node with none), and
   * its transpose for the backward. Made on first use, then kept.
   */
  mean(): { adj: CsrMatrix; adjT: CsrMatrix } {
    if (!this.meanPair) {
      const rp = this.adj.rowPtr.data(),
        e = this.edges;
      const v = new Float32Array(e);
      for (let r = 0; r < this.nodes; r++) for (let k = rp[r]!; k < rp[r + 1]!; k++) v[k] = 1 / (rp[r + 1]! - rp[r]!);
      const vals = Tensor.from(this.heap, 'float32', [e], v);
      // Read after that allocation: growing an unshared heap (graft/infer's) detaches earlier views.
      const valsT = Tensor.from(
        this.heap,
        'float32',
        [e],
        Float32Array.from(this.order.data(), (k) => v[k]!),
      );
      this.meanPair = { adj: this.adj.withValues(vals), adjT: this.adjT.withValues(valsT), vals, valsT };
    }
    return { adj: this.meanPair.adj, adjT: this.meanPair.adjT };
  }

  /**
   * Each edge position's reverse: the position of w → v for v → w (a bond's two directions, as
   * Chemprop's D-MPNN pairs them; the k-th copy of a duplicated edge pairs with the k-th copy
   * of its reverse, a self loop with itself). Made on first use, then kept; null when some edge
   * has no reverse (then the graph is not a set of bonds in both directions).
   */
  reverse(): Tensor<'int32'> | null {
    if (this.rev) return this.rev;
    const rp = this.adj.rowPtr.data(),
      col = this.adj.colIdx.data(),
      dstOf = this.dstOf.data(),
      e = this.edges;
    const out = new Int32Array(e).fill(-1);
    // Rows are sorted by source: the copies of v → w sit together in row w, those of w → v in row v.
    const firstIn = (row: number, source: number): number => {
      let lo = rp[row]!,
        hi = rp[row + 1]!;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (col[mid]! < source) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    };
    for (let k = 0; k < e; k++) {
      const v = col[k]!,
        w = dstOf[k]!;
      const copy = k - firstIn(w, v); // which copy of v → w this is
      const at = firstIn(v, w) + copy;
      if (at >= rp[v + 1]! || col[at] !== w) return null;
      out[k] = at;
    }
    this.rev = Tensor.from(this.heap, 'int32', [e], out);
    return this.rev;
  }

  /** Frees the heap tensors the graph owns (its matrices, edge features and index arrays). */
  free(): void {
    this.rev?.free();
    this.rev = null;
    for (const t of this.owned) t.free();
    this.meanPair?.vals.free();
    this.meanPair?.valsT.free();
    this.meanPair = null;
  }
}
