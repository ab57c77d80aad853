import { argRangeError, argTypeError, GraftError } from '../core/errors.js';
import { Rng } from '../core/random.js';

// Mini-batches of a graph too big to train on whole, with PyG's NeighborLoader semantics
// (Hamilton et al. 2017's GraphSAGE sampling): a batch is `batchSize` seed nodes; hop 1
// draws up to fanouts[0] in-neighbours of each seed without replacement (all of them where
// the degree is at most the fanout, or the fanout is -1), hop 2 draws fanouts[1] of each node
// hop 1 added, and so on; the nodes are relabelled 0… in order of first sight, seeds first.
//
// Determinism: a batch's sample is a function of (seed, epoch, batch index) alone. Each batch
// draws from its own generator keyed by the three, and the epoch's seed order from one keyed
// by (seed, epoch), so batches can be sampled on any worker, in any order, ahead of training,
// and the bits are the same at every thread count. Sampling is pure host code over ordinary
// typed arrays (the store's CSR); only the gathered batch goes into the wasm heap.

/** A graph's adjacency: CSR rows are targets, columns their in-neighbours (GraphStore is one). */
export interface CsrGraph {
  readonly rowPtr: ArrayLike<number>;
  readonly colIdx: Int32Array;
}

/** One sampled batch: PyG's `n_id`, `e_id`, `batch_size`, `num_sampled_nodes`, `num_sampled_edges`, with the edges as CSR. */
export interface SampledSubgraph {
  /** The global index of each local node; the first `batchSize` are the seeds, in order. */
  nodes: Int32Array;
  batchSize: number;
  /** Nodes each hop added: [batchSize, new at hop 1, new at hop 2, …]. */
  numSampledNodes: number[];
  /** Edges each hop sampled: [hop 1, hop 2, …]. */
  numSampledEdges: number[];
  /**
   * The sampled edges over local node ids as CSR: row t lists the sources sampled into
   * target t, ascending in the global CSR's order. Rows of nodes the last hop added are empty.
   */
  rowPtr: Int32Array;
  colIdx: Int32Array;
  /** Each sampled edge's position in the global CSR's colIdx (exact integers). */
  edgeIds: Float64Array;
}

/** murmur3's 32-bit finalizer: a bijection that mixes every input bit into every output bit. */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * The generator of stream `key` (a batch index, or -1 for the epoch's shuffle) of (seed,
 * epoch): four state words, each a different mix of all three, never all zero.
 */
export function batchRng(seed: number, epoch: number, key: number): Rng {
  const s = new Uint32Array(4);
  for (let k = 0; k < 4; k++) {
    let h = mix32((seed ^ Math.imul(k + 1, 0x9e3779b9)) >>> 0);
    h = mix32((h ^ epoch) >>> 0);
    s[k] = mix32((h ^ key) >>> 0);
  }
  if ((s[0]! | s[1]! | s[2]! | s[3]!) === 0) s[0] = 1;
  return new Rng(s);
}

/** Reusable per-sampler buffers: a global → local map kept all -1 between batches. */
class Scratch {
  local: Int32Array;
  picked = new Int32Array(64);
  constructor(n: number) {
    this.local = new Int32Array(n).fill(-1);
  }
}

/** A growable typed list (a batch's size is only known once it is sampled). */
class Grow<T extends Int32Array | Float64Array> {
  length = 0;
  constructor(
    public data: T,
    private readonly make: (n: number) => T,
  ) {}
  push(x: number): void {
    if (this.length === this.data.length) {
      const d = this.make(this.data.length * 2);
      d.set(this.data);
      this.data = d;
    }
    this.data[this.length++] = x;
  }
  take(): T {
    return this.data.slice(0, this.length) as T;
  }
}

/**
 * Samples the k-hop neighbourhood of `seeds` (distinct node indices): see the file comment.
 * Within a node, k of its d CSR positions are drawn by Floyd's algorithm (k draws, each
 * uniform, no rejection loop) and taken in ascending position order.
 *
 * @example
 *   const b = sampleNeighbors(store, Int32Array.of(4, 17), [15, 10], batchRng(0, 0, 0));
 *   const x = store.gatherFeatures(b.nodes);   // rows in local order
 */
export function sampleNeighbors(
  g: CsrGraph,
  seeds: Int32Array,
  fanouts: readonly number[],
  rng: Rng,
  scratch?: { local: Int32Array; picked: Int32Array },
): SampledSubgraph {
  const n = g.rowPtr.length - 1;
  checkFanouts('sampleNeighbors', fanouts);
  const s = scratch ?? new Scratch(n);
  const local = s.local;
  const nodes = new Grow(new Int32Array(Math.max(16, seeds.length * 4)), (m) => new Int32Array(m));
  const cols = new Grow(new Int32Array(Math.max(16, seeds.length * 4)), (m) => new Int32Array(m));
  const eids = new Grow(new Float64Array(Math.max(16, seeds.length * 4)), (m) => new Float64Array(m));
  const rowEnd: number[] = [];
  try {
    for (let i = 0; i < seeds.length; i++) {
      const v = seeds[i]!;
      if (!(v >= 0 && v < n)) throw argRangeError('sampleNeighbors', `seeds[${i}]`, `a node index in [0, ${n})`, v);
      if (local[v]! >= 0) throw argRangeError('sampleNeighbors', `seeds[${i}]`, 'distinct seeds', v);
      local[v] = nodes.length;
      nodes.push(v);
    }
    const numSampledNodes = [seeds.length],
      numSampledEdges: number[] = [];
    let from = 0;
    for (const fanout of fanouts) {
      const to = nodes.length,
        edgesBefore = cols.length;
      for (let t = from; t < to; t++) {
        const v = nodes.data[t]!,
          a = g.rowPtr[v]!,
          d = g.rowPtr[v + 1]! - a;
        const add = (p: number): void => {
          const u = g.colIdx[p]!;
          let lu = local[u]!;
          if (lu < 0) {
            lu = local[u] = nodes.length;
            nodes.push(u);
          }
          cols.push(lu);
          eids.push(p);
        };
        if (fanout < 0 || d <= fanout) {
          for (let p = a; p < a + d; p++) add(p);
        } else {
          const picked = pick(d, fanout, rng, s);
          for (let j = 0; j < fanout; j++) add(a + picked[j]!);
        }
        rowEnd[t] = cols.length;
      }
      numSampledNodes.push(nodes.length - to);
      numSampledEdges.push(cols.length - edgesBefore);
      from = to;
    }
    const total = nodes.length,
      rowPtr = new Int32Array(total + 1);
    for (let t = 0; t < total; t++) rowPtr[t + 1] = t < from ? rowEnd[t]! : cols.length;
    return {
      nodes: nodes.take(),
      batchSize: seeds.length,
      numSampledNodes,
      numSampledEdges,
      rowPtr,
      colIdx: cols.take(),
      edgeIds: eids.take(),
    };
  } finally {
    for (let i = 0; i < nodes.length; i++) local[nodes.data[i]!] = -1;
  }
}

/** k distinct offsets in [0, d), ascending (Floyd: for j in d-k…d-1 take t ~ U[0, j], or j if t is taken). */
function pick(d: number, k: number, rng: Rng, s: { picked: Int32Array }): Int32Array {
  if (s.picked.length < k) s.picked = new Int32Array(k);
  const out = s.picked.subarray(0, k);
  if (k <= 64) {
    let m = 0;
    for (let j = d - k; j < d; j++) {
      const t = Math.floor(rng.next() * (j + 1));
      let taken = false;
      for (let q = 0; q < m; q++)
        if (out[q] === t) {
          taken = true;
          break;
        }
      out[m++] = taken ? j : t;
    }
  } else {
    const set = new Set<number>();
    let m = 0;
    for (let j = d - k; j < d; j++) {
      const t = Math.floor(rng.next() * (j + 1));
      const x = set.has(t) ? j : t;
      set.add(x);
      out[m++] = x;
    }
  }
  return out.sort();
}

function checkFanouts(fn: string, fanouts: readonly number[]): void {
  if (!Array.isArray(fanouts) || fanouts.length === 0)
    throw argTypeError(fn, 'fanouts', 'a non-empty list of integers (-1: all neighbours)', fanouts);
  fanouts.forEach((k, i) => {
    if (!Number.isInteger(k) || k < -1 || k === 0)
      throw argRangeError(fn, `fanouts[${i}]`, 'a positive integer or -1 (all neighbours)', k);
  });
}

/** A neighbour sampler's settings: fanouts per layer (−1: every neighbour), seed nodes per batch, whether to shuffle seeds each epoch, and the seed. */
export interface NeighborSamplerOptions {
  /** Per-hop fanouts, PyG's `num_neighbors` (e.g. [15, 10, 5]); -1 takes every neighbour. */
  fanouts: readonly number[];
  batchSize: number;
  /** The seed nodes an epoch covers, PyG's `input_nodes` (default: every node; usually the train split). */
  inputNodes?: Int32Array;
  /** Shuffle the seed nodes each epoch (default true, as for training; false for evaluation). */
  shuffle?: boolean;
  seed?: number;
  /** Drop the last, smaller batch (default false). */
  dropLast?: boolean;
}

/**
 * PyG's NeighborLoader as a pure function of (epoch, batch index): `sample(epoch, b)` gives
 * the same subgraph whenever, wherever and in whatever order it is called. One instance
 * holds one scratch map of the graph's size (4 bytes per node): give each worker its own.
 *
 * @example
 *   const s = new NeighborSampler(store, { fanouts: [15, 10, 5], batchSize: 1024, inputNodes: store.split.train, seed: 1 });
 *   for (let b = 0; b < s.numBatches; b++) { const batch = s.sample(epoch, b); … }
 */
export class NeighborSampler {
  readonly numBatches: number;
  private readonly inputNodes: Int32Array;
  private readonly scratch: Scratch;
  private order: { epoch: number; nodes: Int32Array } | null = null;

  constructor(
    readonly graph: CsrGraph,
    readonly options: NeighborSamplerOptions,
  ) {
    const fn = 'NeighborSampler';
    checkFanouts(fn, options.fanouts);
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1)
      throw argRangeError(fn, 'options.batchSize', 'a positive integer', options.batchSize);
    const n = graph.rowPtr.length - 1;
    this.inputNodes = options.inputNodes ?? Int32Array.from({ length: n }, (_, i) => i);
    const seen = new Uint8Array(n);
    this.inputNodes.forEach((v, i) => {
      if (!(v >= 0 && v < n)) throw argRangeError(fn, `options.inputNodes[${i}]`, `a node index in [0, ${n})`, v);
      if (seen[v]) throw argRangeError(fn, `options.inputNodes[${i}]`, 'distinct nodes', v);
      seen[v] = 1;
    });
    const m = this.inputNodes.length,
      bs = options.batchSize;
    this.numBatches = options.dropLast ? Math.floor(m / bs) : Math.ceil(m / bs);
    this.scratch = new Scratch(n);
  }

  /** The seed nodes of batch `b` of `epoch`. */
  seeds(epoch: number, b: number): Int32Array {
    if (!Number.isInteger(b) || b < 0 || b >= this.numBatches)
      throw argRangeError('NeighborSampler.seeds', 'b', `a batch index in [0, ${this.numBatches})`, b);
    if (!Number.isInteger(epoch) || epoch < 0)
      throw argRangeError('NeighborSampler.seeds', 'epoch', 'a non-negative integer', epoch);
    const bs = this.options.batchSize;
    return this.epochOrder(epoch).slice(b * bs, (b + 1) * bs);
  }

  /** Batch `b` of `epoch`, sampled. */
  sample(epoch: number, b: number): SampledSubgraph {
    return sampleNeighbors(
      this.graph,
      this.seeds(epoch, b),
      this.options.fanouts,
      batchRng(this.options.seed ?? 0, epoch, b),
      this.scratch,
    );
  }

  private epochOrder(epoch: number): Int32Array {
    if (this.options.shuffle === false) return this.inputNodes;
    if (this.order?.epoch !== epoch) {
      const a = this.inputNodes.slice(),
        r = batchRng(this.options.seed ?? 0, epoch, -1);
      for (let i = a.length - 1; i > 0; i--) {
        const j = Math.floor(r.next() * (i + 1));
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
      }
      this.order = { epoch, nodes: a };
    }
    return this.order.nodes;
  }
}

/** Checks a sampled subgraph against its graph (used by tests and by callers that build their own). */
export function checkSampledSubgraph(g: CsrGraph, s: SampledSubgraph): void {
  const m = s.colIdx.length;
  if (s.rowPtr.length !== s.nodes.length + 1 || s.rowPtr[s.nodes.length] !== m || s.edgeIds.length !== m)
    throw new GraftError('checkSampledSubgraph: the CSR does not match the node list');
  for (let t = 0; t < s.nodes.length; t++) {
    const v = s.nodes[t]!;
    for (let e = s.rowPtr[t]!; e < s.rowPtr[t + 1]!; e++) {
      const p = s.edgeIds[e]!;
      if (!(p >= g.rowPtr[v]! && p < g.rowPtr[v + 1]!) || g.colIdx[p] !== s.nodes[s.colIdx[e]!])
        throw new GraftError(
          `checkSampledSubgraph: edge ${e} (${s.nodes[s.colIdx[e]!]} → ${v}) is not in the graph at position ${p}`,
        );
    }
  }
}
