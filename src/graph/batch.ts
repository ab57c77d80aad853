import { argRangeError } from '../core/errors.js';
import type { Heap } from '../memory/heap.js';
import { Tensor } from '../memory/tensor.js';
import { CsrMatrix } from './csr.js';
import { gcnNormArrays, type CsrArrays } from './gcn-norm.js';
import { MessageGraph } from './message-graph.js';

/** One small graph with its node features and targets (NaN marks a missing label). */
export interface GraphSample {
  nodes: number;
  /** Row-major [nodes, features]. */
  x: Float32Array;
  /** Undirected edges, each once. */
  src: Int32Array;
  dst: Int32Array;
  /** Edge weights (e.g. bond order); 1 when absent. */
  w?: Float32Array;
  /** Edge features [edges, dim] row-major, edge e joining src[e] and dst[e] (e.g. bond features); read by models that need them. */
  edgeAttr?: Float32Array;
  /** Graph-level features for a hybrid model's dense branch (e.g. fingerprint bits). */
  descriptors?: Float32Array;
  /** Targets [t]; NaN where missing. */
  y: Float32Array;
}

/** Graphs side by side: one block-diagonal Â, stacked features, per-graph offsets, targets and label mask. */
export interface GraphBatch {
  graphs: number;
  nodes: number;
  adj: CsrMatrix;
  x: Tensor;
  offsets: Tensor;
  y: Tensor;
  labelMask: Tensor<'uint8'>;
  /** Labels present. */
  labels: number;
  /** Stacked graph-level descriptors [graphs, d], when the samples carry them. */
  descriptors: Tensor | null;
  /** Set by an explainer: the GCN layers add ∂L/∂Â.vals into it (Propagation.edgeGrad). */
  edgeGrad?: Tensor;
  /**
   * The batch's message graph, for models on message-passing layers (collate's `messages`):
   * every edge in both directions (2e: src → dst, 2e + 1: dst → src), with edge features when
   * asked. `directed` holds those edges as tensors, so a shard worker can build the same graph.
   */
  messages?: MessageGraph;
  directed?: DirectedEdges;
  /** Frees the batch's tensors and its Â. */
  free(): void;
}

/** A batch's edges in both directions as collate lays them out, with their features (null: none asked). */
export interface DirectedEdges {
  src: Tensor<'int32'>;
  dst: Tensor<'int32'>;
  attr: Tensor | null;
  /** MessageGraph's self-loop handling ('replace' for attention layers). */
  selfLoops: 'keep' | 'replace';
}

/** The message graph a batch's model needs: self loops as given or replaced (GAT), and the edge features' width (0: none). */
export interface MessageSpec {
  selfLoops: 'keep' | 'replace';
  edgeFeatures: number;
}

/** The MessageGraph of `d` (on the caller's heap; the caller frees it). */
export function directedMessageGraph(heap: Heap, nodes: number, d: DirectedEdges): MessageGraph {
  const attr = d.attr;
  return MessageGraph.fromEdges(heap, nodes, d.src.data(), d.dst.data(), {
    selfLoops: d.selfLoops,
    ...(attr ? { edgeAttr: { data: attr.data() as Float32Array, dim: attr.shape[1]! } } : {}),
  });
}

// Each graph's Â, computed once and kept with its edge arrays (samples are treated as
// immutable; an oversampled copy shares its source's edges and so its Â).
const normCache = new WeakMap<
  Int32Array,
  { nodes: number; dst: Int32Array; w: Float32Array | undefined; norm: CsrArrays }
>();
/**
 * Records `norm` as `g`'s Â, computed elsewhere from the same edges (a packed sample set's
 * copy, sample-store.ts): collate then uses it as it would one it computed.
 */
export function primeSampleNorm(g: GraphSample, norm: CsrArrays): void {
  normCache.set(g.src, { nodes: g.nodes, dst: g.dst, w: g.w, norm });
}

/** A sample's Â (gcnNorm of its edges and weights), computed once per sample's edge arrays. */
export function sampleNorm(g: GraphSample): CsrArrays {
  const hit = normCache.get(g.src);
  if (hit && hit.nodes === g.nodes && hit.dst === g.dst && hit.w === g.w) return hit.norm;
  const norm = gcnNormArrays(g.nodes, g.src, g.dst, g.w ? { weights: g.w } : {});
  normCache.set(g.src, { nodes: g.nodes, dst: g.dst, w: g.w, norm });
  return norm;
}

/**
 * Collates samples into one block-diagonal batch (Â = D^-1/2 (A+I) D^-1/2 per graph). With
 * `options.messages`, the batch also carries the message graph of its edges (both directions,
 * edge features of `edgeFeatures` columns when asked) for message-passing layers.
 */
export function collate(
  heap: Heap,
  samples: readonly GraphSample[],
  features: number,
  targets: number,
  options: { messages?: MessageSpec } = {},
): GraphBatch {
  if (samples.length === 0) throw argRangeError('collate', 'samples', 'at least one graph', 0);
  const g0 = samples.length;
  let n = 0;
  for (const g of samples) n += g.nodes;
  let nnz = 0;
  const norms = samples.map((g) => {
    const a = sampleNorm(g);
    nnz += a.colIdx.length;
    return a;
  });
  const dd = samples[0]!.descriptors?.length ?? 0;
  // The batch's tensors are filled in place (every step collates its shards: JavaScript
  // arrays copied in after would double the copying and leave garbage for the collector).
  // Views are taken once every block is allocated, since an allocation may grow the memory.
  const owned: Tensor[] = [];
  const take = <D extends 'float32' | 'int32' | 'uint8'>(dtype: D, shape: number[], what: string): Tensor<D> => {
    const t = Tensor.empty(heap, dtype, shape, what);
    owned.push(t);
    return t;
  };
  let batch: GraphBatch;
  try {
    const rowPtrT = take('int32', [n + 1], 'batch Â rowPtr'),
      colIdxT = take('int32', [nnz], 'batch Â colIdx'),
      valsT = take('float32', [nnz], 'batch Â values'),
      xT = take('float32', [n, features], 'batch features'),
      offsetsT = take('int32', [g0 + 1], 'batch offsets'),
      yT = take('float32', [g0, targets], 'batch targets'),
      maskT = take('uint8', [g0, targets], 'batch label mask'),
      descT = dd > 0 ? take('float32', [g0, dd], 'batch descriptors') : null;
    const rowPtr = rowPtrT.data(),
      colIdx = colIdxT.data(),
      vals = valsT.data(),
      x = xT.data(),
      offsets = offsetsT.data(),
      y = yT.data(),
      mask = maskT.data(),
      desc = descT?.data() ?? null;
    rowPtr[0] = 0;
    offsets[0] = 0;
    y.fill(0);
    mask.fill(0);
    let at = 0,
      e = 0,
      labels = 0;
    for (let i = 0; i < g0; i++) {
      const g = samples[i]!;
      if (g.x.length !== g.nodes * features)
        throw argRangeError(
          'collate',
          `samples[${i}].x`,
          `${g.nodes * features} values (${g.nodes} nodes × ${features})`,
          g.x.length,
        );
      if (g.y.length !== targets) throw argRangeError('collate', `samples[${i}].y`, `${targets} targets`, g.y.length);
      x.set(g.x, at * features);
      // Â is block diagonal: each graph's rows, shifted by the nodes before it.
      const a = norms[i]!;
      for (let r = 0; r < g.nodes; r++) rowPtr[at + r + 1] = e + a.rowPtr[r + 1]!;
      for (let k = 0; k < a.colIdx.length; k++) colIdx[e + k] = a.colIdx[k]! + at;
      vals.set(a.vals, e);
      e += a.colIdx.length;
      if (desc) {
        if (g.descriptors?.length !== dd)
          throw argRangeError(
            'collate',
            `samples[${i}].descriptors`,
            `${dd} values (as samples[0])`,
            g.descriptors?.length ?? 0,
          );
        desc.set(g.descriptors, i * dd);
      }
      for (let t = 0; t < targets; t++) {
        const v = g.y[t]!;
        if (!Number.isNaN(v)) {
          y[i * targets + t] = v;
          mask[i * targets + t] = 1;
          labels++;
        }
      }
      at += g.nodes;
      offsets[i + 1] = at;
    }
    const adj = CsrMatrix.view(n, n, rowPtrT, colIdxT, valsT);
    const directed = options.messages ? directedEdges(heap, samples, options.messages) : undefined;
    if (directed) owned.push(directed.src, directed.dst, ...(directed.attr ? [directed.attr] : []));
    const messages = directed ? directedMessageGraph(heap, n, directed) : undefined;
    batch = {
      graphs: g0,
      nodes: n,
      adj,
      labels,
      x: xT,
      offsets: offsetsT,
      y: yT,
      labelMask: maskT as Tensor<'uint8'>,
      descriptors: descT,
      ...(messages && directed ? { messages, directed } : {}),
      free() {
        messages?.free();
        for (const t of owned) t.free();
      },
    };
  } catch (err) {
    for (const t of owned) t.free();
    throw err;
  }
  return batch;
}

/** Every sample's edges both ways (2e: src → dst, 2e + 1: the reverse), shifted by the nodes before it, with their features. */
function directedEdges(heap: Heap, samples: readonly GraphSample[], spec: MessageSpec): DirectedEdges {
  const F = spec.edgeFeatures;
  let edges = 0;
  for (const g of samples) edges += g.src.length;
  const src = new Int32Array(2 * edges),
    dst = new Int32Array(2 * edges),
    attr = F > 0 ? new Float32Array(2 * edges * F) : null;
  let at = 0,
    e0 = 0;
  samples.forEach((g, i) => {
    if (attr && g.edgeAttr?.length !== g.src.length * F)
      throw argRangeError(
        'collate',
        `samples[${i}].edgeAttr`,
        `${g.src.length * F} values (${g.src.length} edges × ${F})`,
        g.edgeAttr?.length ?? 'none',
      );
    for (let b = 0; b < g.src.length; b++) {
      const e = 2 * (e0 + b);
      src[e] = dst[e + 1] = at + g.src[b]!;
      dst[e] = src[e + 1] = at + g.dst[b]!;
      if (attr) {
        const row = g.edgeAttr!.subarray(b * F, (b + 1) * F);
        attr.set(row, e * F);
        attr.set(row, (e + 1) * F);
      }
    }
    at += g.nodes;
    e0 += g.src.length;
  });
  return {
    src: Tensor.from(heap, 'int32', [2 * edges], src),
    dst: Tensor.from(heap, 'int32', [2 * edges], dst),
    attr: attr ? Tensor.from(heap, 'float32', [2 * edges, F], attr) : null,
    selfLoops: spec.selfLoops,
  };
}

/**
 * Bytes of the heap a sample can take in a batch collate() makes (its rows of x, Â,
 * targets, mask and descriptors, and of the message graph with edge features), at most: what
 * sizes a shard worker's arena, which collates there. A batch takes the sum over its samples
 * plus COLLATE_OVERHEAD.
 */
export function collatedBytesBound(g: GraphSample): number {
  const nnz = sampleNorm(g).colIdx.length,
    directed = 2 * g.src.length,
    messages = directed + g.nodes,
    edgeFeatures = g.src.length > 0 ? (g.edgeAttr?.length ?? 0) / g.src.length : 0;
  const words =
    g.x.length +
    (g.nodes + 1 + 2 * nnz) +
    2 * g.y.length +
    1 +
    (g.descriptors?.length ?? 0) +
    directed * (2 + edgeFeatures) +
    messages * (8 + edgeFeatures);
  return 4 * words;
}

/** Bytes a collated batch takes beyond its samples' collatedBytesBound: a block's rounding up to 64 bytes, for each of its tensors. */
export const COLLATE_OVERHEAD = 32 * 64;

/** The samples' graph-level targets stacked row by row: [samples, targets] (NaN where missing). */
export function stackTargets(samples: readonly GraphSample[], targets: number): Float32Array {
  const y = new Float32Array(samples.length * targets);
  samples.forEach((g, i) => {
    y.set(g.y, i * targets);
  });
  return y;
}
