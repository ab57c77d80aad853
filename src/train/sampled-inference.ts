import { CsrMatrix } from '../graph/csr.js';
import { MessageGraph } from '../graph/message-graph.js';
import { Tensor } from '../memory/tensor.js';
import { GCNConv, type Propagation } from '../nn/layers.js';
import { SAGEConv } from '../nn/sage-conv.js';
import type { Sequential } from '../nn/sequential.js';
import type { Runtime } from '../runtime/runtime.js';
import type { GraphStore } from '../store/format.js';

// Layer-wise inference (PyG's SAGE.inference): instead of sampling a k-hop tree per node,
// every layer runs over all nodes before the next, in chunks of target nodes with their full
// in-neighbourhoods. Each node's layer output is computed once, the heap holds one chunk's
// working set, and a layer's outputs over all nodes live in an ordinary Float32Array outside
// the wasm heap (two of them at a time: the layer's input and its output).

/** Where a sampled model's layers read their graph from; the trainer and inference set it per batch or chunk. */
export interface BatchGraph {
  prop: Propagation | null;
  message: MessageGraph | null;
}

/** How layer-wise inference cuts the nodes: at most `nodes` targets and `edges` in-edges per chunk. */
export interface InferenceChunks {
  nodes?: number;
  edges?: number;
}

/**
 * The model's output [numNodes, classes] for every node of the store, layer by layer: see
 * the file comment. The model is a Sequential of SAGEConv or GCNConv layers with ReLU between
 * them and dropout before (identity here), as sampled training builds it; its graph provider
 * reads `graph`. A GCN propagates with the full graph's Â = D^-1/2 (A + I) D^-1/2 (degrees
 * over the whole graph, as full-batch training has them); SAGE averages all in-neighbours.
 * The result does not depend on the chunking or the thread count beyond rounding: each
 * output row is the same sums in the same order whatever chunk it falls in.
 *
 * @example
 *   const logits = await layerwiseInference(rt, store, model, graph, { nodes: 8192 });
 */
export async function layerwiseInference(
  rt: Runtime,
  store: GraphStore,
  seq: Sequential,
  graph: BatchGraph,
  chunks: InferenceChunks = {},
): Promise<Float32Array> {
  const n = store.numNodes,
    p = store.rowPtr,
    col = store.colIdx;
  const convs = seq.layers.filter((l) => l instanceof SAGEConv || l instanceof GCNConv) as (SAGEConv | GCNConv)[];
  const maxNodes = chunks.nodes ?? 16_384,
    maxEdges = chunks.edges ?? 1 << 20;
  // GCN: D^-1/2 with the self loop counted (the store has none of its own).
  const invSqrt =
    convs[0] instanceof GCNConv
      ? Float64Array.from({ length: n }, (_, v) => 1 / Math.sqrt(p[v + 1]! - p[v]! + 1))
      : null;
  const local = new Int32Array(n).fill(-1);
  const ctx = { exec: rt.exec, training: false, seed: 0, step: 0 };
  let input: Float32Array | null = null,
    width = store.numFeatures;
  for (let li = 0; li < convs.length; li++) {
    const conv = convs[li]!,
      outW = conv.outFeatures,
      last = li === convs.length - 1;
    const out = new Float32Array(n * outW);
    for (let start = 0; start < n; ) {
      let end = start,
        edges = 0;
      while (end < n && end - start < maxNodes && (end === start || edges + (p[end + 1]! - p[end]!) <= maxEdges)) {
        edges += p[end + 1]! - p[end]!;
        end++;
      }
      const targets = end - start;
      // Local ids: the chunk's targets first, then their neighbours in order of first sight.
      const nodes: number[] = [];
      for (let v = start; v < end; v++) {
        local[v] = nodes.length;
        nodes.push(v);
      }
      for (let e = p[start]!; e < p[end]!; e++) {
        const u = col[e]!;
        if (local[u] === -1) {
          local[u] = nodes.length;
          nodes.push(u);
        }
      }
      const m = nodes.length,
        x = Tensor.empty(rt.heap, 'float32', [m, width], 'inference chunk');
      let made: { free(): void } | null = null,
        y: Tensor | null = null;
      try {
        const xd = x.data() as Float32Array;
        if (input)
          for (let i = 0; i < m; i++) xd.set(input.subarray(nodes[i]! * width, (nodes[i]! + 1) * width), i * width);
        else store.gatherFeatures(nodes, xd);
        if (invSqrt) {
          // Rows of the targets: the self loop, then the neighbours in CSR order; other rows empty.
          const rowPtr = new Int32Array(m + 1),
            ci = new Int32Array(edges + targets),
            vals = new Float32Array(edges + targets);
          let k = 0;
          for (let t = 0; t < targets; t++) {
            const v = start + t;
            ci[k] = t;
            vals[k++] = invSqrt[v]! * invSqrt[v]!;
            for (let e = p[v]!; e < p[v + 1]!; e++) {
              ci[k] = local[col[e]!]!;
              vals[k++] = invSqrt[v]! * invSqrt[col[e]!]!;
            }
            rowPtr[t + 1] = k;
          }
          rowPtr.fill(k, targets + 1);
          const adj = CsrMatrix.fromArrays(rt.heap, m, m, rowPtr, ci, vals);
          made = adj;
          graph.prop = { adj };
        } else {
          const src = new Int32Array(edges),
            dst = new Int32Array(edges);
          for (let t = 0, k = 0; t < targets; t++)
            for (let e = p[start + t]!; e < p[start + t + 1]!; e++) {
              src[k] = local[col[e]!]!;
              dst[k++] = t;
            }
          const mg = MessageGraph.fromEdges(rt.heap, m, src, dst);
          made = mg;
          graph.message = mg;
        }
        y = await conv.forward(ctx, x);
        const yd = y.data() as Float32Array;
        const o = out.subarray(start * outW, end * outW);
        o.set(yd.subarray(0, targets * outW));
        if (!last) for (let i = 0; i < o.length; i++) if (o[i]! < 0) o[i] = 0;
      } finally {
        conv.release();
        y?.free();
        x.free();
        made?.free();
        graph.prop = null;
        graph.message = null;
        for (const v of nodes) local[v] = -1;
      }
      start = end;
    }
    input = out;
    width = outW;
  }
  return input!;
}
