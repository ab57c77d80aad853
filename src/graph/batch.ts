import { argRangeError } from '../core/errors.js';
import type { Heap } from '../memory/heap.js';
import { Tensor } from '../memory/tensor.js';
import { CsrMatrix } from './csr.js';
import { gcnNormArrays, type CsrArrays } from './gcn-norm.js';

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
  /** Frees the batch's tensors and its Â. */
  free(): void;
}

// Each graph's Â, computed once and kept with its edge arrays (samples are treated as
// immutable; an oversampled copy shares its source's edges and so its Â).
const normCache = new WeakMap<
  Int32Array,
  { nodes: number; dst: Int32Array; w: Float32Array | undefined; norm: CsrArrays }
>();
/** A sample's Â (gcnNorm of its edges and weights), computed once per sample's edge arrays. */
export function sampleNorm(g: GraphSample): CsrArrays {
  const hit = normCache.get(g.src);
  if (hit && hit.nodes === g.nodes && hit.dst === g.dst && hit.w === g.w) return hit.norm;
  const norm = gcnNormArrays(g.nodes, g.src, g.dst, g.w ? { weights: g.w } : {});
  normCache.set(g.src, { nodes: g.nodes, dst: g.dst, w: g.w, norm });
  return norm;
}

/** Collates samples into one block-diagonal batch (Â = D^-1/2 (A+I) D^-1/2 per graph). */
export function collate(heap: Heap, samples: readonly GraphSample[], features: number, targets: number): GraphBatch {
  if (samples.length === 0) throw argRangeError('collate', 'samples', 'at least one graph', 0);
  let n = 0;
  for (const g of samples) n += g.nodes;
  let nnz = 0;
  const norms = samples.map((g) => {
    const a = sampleNorm(g);
    nnz += a.colIdx.length;
    return a;
  });
  const rowPtr = new Int32Array(n + 1),
    colIdx = new Int32Array(nnz),
    vals = new Float32Array(nnz);
  const dd = samples[0]!.descriptors?.length ?? 0;
  const desc = dd > 0 ? new Float32Array(samples.length * dd) : null;
  const x = new Float32Array(n * features);
  const offsets = new Int32Array(samples.length + 1);
  const y = new Float32Array(samples.length * targets),
    mask = new Uint8Array(samples.length * targets);
  let at = 0,
    e = 0,
    labels = 0;
  samples.forEach((g, i) => {
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
  });
  const adj = CsrMatrix.fromArrays(heap, n, n, rowPtr, colIdx, vals);
  const batch: GraphBatch = {
    graphs: samples.length,
    nodes: n,
    adj,
    labels,
    x: Tensor.from(heap, 'float32', [n, features], x),
    offsets: Tensor.from(heap, 'int32', [samples.length + 1], offsets),
    y: Tensor.from(heap, 'float32', [samples.length, targets], y),
    labelMask: Tensor.from(heap, 'uint8', [samples.length, targets], mask) as Tensor<'uint8'>,
    descriptors: desc ? Tensor.from(heap, 'float32', [samples.length, dd], desc) : null,
    free() {
      adj.free();
      batch.x.free();
      batch.offsets.free();
      batch.y.free();
      batch.labelMask.free();
      batch.descriptors?.free();
    },
  };
  return batch;
}

/** The samples' graph-level targets stacked row by row: [samples, targets] (NaN where missing). */
export function stackTargets(samples: readonly GraphSample[], targets: number): Float32Array {
  const y = new Float32Array(samples.length * targets);
  samples.forEach((g, i) => {
    y.set(g.y, i * targets);
  });
  return y;
}
