import { argRangeError } from '../core/errors.js';
import { batchRng, type CsrGraph, type SampledSubgraph } from './neighbor-sampler.js';
import { bfsPartsOfCsr } from '../graph/partition.js';

// Cluster-GCN (Chiang et al. 2019) batches over a graph store, PyG's ClusterData(data,
// num_parts) + ClusterLoader(cluster_data, batch_size): the nodes are cut into `parts` once,
// and each batch is the subgraph induced by `partsPerBatch` parts drawn without replacement,
// the edges between the drawn parts kept (the paper's stochastic multiple partitions).

/**
 * graph/partition.ts's bfsPartition over a CSR instead of an edge list (so a store's graph
 * is partitioned without a second copy of its edges): BFS from the lowest unvisited node,
 * neighbours in CSR order, parts contiguous in BFS order with equal node counts (±1). On a
 * symmetric CSR with sorted rows (every store's) it gives bfsPartition's parts exactly.
 */
export function bfsPartitionCsr(g: CsrGraph, parts: number): Int32Array {
  const n = g.rowPtr.length - 1;
  if (!Number.isInteger(parts) || parts < 1 || parts > n)
    throw argRangeError('bfsPartitionCsr', 'parts', `an integer in [1, ${n}]`, parts);
  return bfsPartsOfCsr(g.rowPtr, g.colIdx, parts);
}

/** Cluster-GCN batching's settings: the number of parts, parts per batch and the seed. */
export interface ClusterSamplerOptions {
  parts: number;
  partsPerBatch: number;
  /** Shuffle the parts each epoch (default true). */
  shuffle?: boolean;
  seed?: number;
  /** A partition to use instead of bfsPartitionCsr's (the part of each node, in [0, parts)). */
  partOf?: Int32Array;
}

/**
 * Cluster-GCN batches as a pure function of (epoch, batch index), like NeighborSampler: a
 * batch's `nodes` are its parts' nodes in ascending global order (all are "seeds":
 * `batchSize` is their count; the loss takes the train nodes among them), its CSR the
 * induced subgraph.
 *
 * @example
 *   const c = new ClusterSampler(store, { parts: 1500, partsPerBatch: 20, seed: 1 });
 *   const batch = c.sample(epoch, b);
 */
export class ClusterSampler {
  readonly numBatches: number;
  readonly partOf: Int32Array;
  /** Nodes grouped by part, ascending within each: part p is members[partStart[p] … partStart[p + 1]). */
  private readonly members: Int32Array;
  private readonly partStart: Int32Array;
  private readonly local: Int32Array;

  constructor(
    readonly graph: CsrGraph,
    readonly options: ClusterSamplerOptions,
  ) {
    const n = graph.rowPtr.length - 1,
      P = options.parts;
    if (!Number.isInteger(P) || P < 1 || P > n)
      throw argRangeError('ClusterSampler', 'options.parts', `an integer in [1, ${n}]`, P);
    if (!Number.isInteger(options.partsPerBatch) || options.partsPerBatch < 1 || options.partsPerBatch > P)
      throw argRangeError('ClusterSampler', 'options.partsPerBatch', `an integer in [1, ${P}]`, options.partsPerBatch);
    this.partOf = options.partOf ?? bfsPartitionCsr(graph, P);
    if (this.partOf.length !== n)
      throw argRangeError('ClusterSampler', 'options.partOf', `${n} entries`, this.partOf.length);
    this.partStart = new Int32Array(P + 1);
    for (let v = 0; v < n; v++) {
      const p = this.partOf[v]!;
      if (!(p >= 0 && p < P)) throw argRangeError('ClusterSampler', `options.partOf[${v}]`, `a part in [0, ${P})`, p);
      this.partStart[p + 1]!++;
    }
    for (let p = 0; p < P; p++) this.partStart[p + 1]! += this.partStart[p]!;
    this.members = new Int32Array(n);
    const fill = this.partStart.slice(0, P);
    for (let v = 0; v < n; v++) this.members[fill[this.partOf[v]!]!++] = v;
    this.numBatches = Math.ceil(P / options.partsPerBatch);
    this.local = new Int32Array(n).fill(-1);
  }

  /** The parts of batch `b` of `epoch`. */
  parts(epoch: number, b: number): Int32Array {
    if (!Number.isInteger(b) || b < 0 || b >= this.numBatches)
      throw argRangeError('ClusterSampler.parts', 'b', `a batch index in [0, ${this.numBatches})`, b);
    const P = this.options.parts,
      order = Int32Array.from({ length: P }, (_, i) => i);
    if (this.options.shuffle !== false) {
      const r = batchRng(this.options.seed ?? 0, epoch, -1);
      for (let i = P - 1; i > 0; i--) {
        const j = Math.floor(r.next() * (i + 1));
        const t = order[i]!;
        order[i] = order[j]!;
        order[j] = t;
      }
    }
    const k = this.options.partsPerBatch;
    return order.slice(b * k, (b + 1) * k);
  }

  /** Batch b of an epoch: the subgraph induced by its parts (a pure function of seed, epoch and b). */
  sample(epoch: number, b: number): SampledSubgraph {
    const chosen = this.parts(epoch, b);
    let count = 0;
    for (const p of chosen) count += this.partStart[p + 1]! - this.partStart[p]!;
    const nodes = new Int32Array(count);
    let at = 0;
    for (const p of chosen) {
      nodes.set(this.members.subarray(this.partStart[p]!, this.partStart[p + 1]!), at);
      at += this.partStart[p + 1]! - this.partStart[p]!;
    }
    nodes.sort();
    const local = this.local,
      g = this.graph;
    nodes.forEach((v, i) => {
      local[v] = i;
    });
    try {
      const rowPtr = new Int32Array(count + 1);
      for (let t = 0; t < count; t++) {
        const v = nodes[t]!;
        let d = 0;
        for (let p = g.rowPtr[v]!; p < g.rowPtr[v + 1]!; p++) if (local[g.colIdx[p]!]! >= 0) d++;
        rowPtr[t + 1] = rowPtr[t]! + d;
      }
      const m = rowPtr[count]!,
        colIdx = new Int32Array(m),
        edgeIds = new Float64Array(m);
      for (let t = 0, e = 0; t < count; t++) {
        const v = nodes[t]!;
        for (let p = g.rowPtr[v]!; p < g.rowPtr[v + 1]!; p++) {
          const lu = local[g.colIdx[p]!]!;
          if (lu >= 0) {
            colIdx[e] = lu;
            edgeIds[e++] = p;
          }
        }
      }
      return { nodes, batchSize: count, numSampledNodes: [count], numSampledEdges: [m], rowPtr, colIdx, edgeIds };
    } finally {
      for (const v of nodes) local[v] = -1;
    }
  }
}
