import { CsrMatrix } from '../graph/csr.js';
import type { MessageGraph } from '../graph/message-graph.js';
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
//
// A chunk is targets [start, end) and the sources of their in-edges: local ids are the
// targets first, then each other source in order of first sight, and the chunk's matrix is
// rectangular (targets × local nodes) with the store's rows copied as they are (the store
// keeps each row sorted by source): no per-chunk sort, no transpose, no edge lists. The
// index buffers (here and in the heap) are sized once for the largest chunk and reused.

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

/** Chunk boundaries: starts[i] … starts[i + 1] (targets), with at most maxNodes targets and maxEdges in-edges unless one node has more. */
function chunkStarts(p: ArrayLike<number>, n: number, maxNodes: number, maxEdges: number): number[] {
  const starts = [0];
  for (let start = 0; start < n; ) {
    let end = start + 1;
    while (end < n && end - start < maxNodes && p[end + 1]! - p[start]! <= maxEdges) end++;
    starts.push(end);
    start = end;
  }
  return starts;
}

/**
 * The model's output [numNodes, classes] for every node of the store, layer by layer: see
 * the file comment. The model is a Sequential of SAGEConv or GCNConv layers with ReLU between
 * them and dropout before (identity here), as sampled training builds it; its graph provider
 * reads `graph`. A GCN propagates with the full graph's Â = D^-1/2 (A + I) D^-1/2 (degrees
 * over the whole graph, as full-batch training has them); SAGE averages all in-neighbours.
 * Each output row is the same sums in the same order whatever chunk it falls in (its row of
 * the store, in the store's order), so the result does not depend on the chunking or on the
 * thread count.
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
    col = store.colIdx,
    heap = rt.heap;
  const convs = seq.layers.filter((l) => l instanceof SAGEConv || l instanceof GCNConv) as (SAGEConv | GCNConv)[];
  const gcn = convs[0] instanceof GCNConv;
  const starts = chunkStarts(p, n, chunks.nodes ?? 16_384, chunks.edges ?? 1 << 20);
  let maxTargets = 0,
    maxEdges = 0;
  for (let i = 0; i + 1 < starts.length; i++) {
    maxTargets = Math.max(maxTargets, starts[i + 1]! - starts[i]!);
    maxEdges = Math.max(maxEdges, p[starts[i + 1]!]! - p[starts[i]!]!);
  }
  // GCN rows hold a self loop too (the store has none of its own); D^-1/2 counts it.
  const maxNnz = maxEdges + (gcn ? maxTargets : 0);
  const invSqrt = gcn ? new Float64Array(n) : null;
  if (invSqrt) for (let v = 0; v < n; v++) invSqrt[v] = 1 / Math.sqrt(p[v + 1]! - p[v]! + 1);
  const local = new Int32Array(n).fill(-1),
    nodes = new Int32Array(Math.min(n, maxTargets + maxEdges));
  const rowPtrBuf = Tensor.empty(heap, 'int32', [maxTargets + 1], 'inference chunk rowPtr'),
    colBuf = Tensor.empty(heap, 'int32', [Math.max(1, maxNnz)], 'inference chunk colIdx'),
    valBuf = Tensor.empty(heap, 'float32', [Math.max(1, maxNnz)], 'inference chunk values');
  const ctx = { exec: rt.exec, training: false, seed: 0, step: 0 };
  // Layer 0 reads the features; a store that keeps them in its file gives them once, in order.
  let input = store.features ?? store.gatherFeatures(Int32Array.from({ length: n }, (_, v) => v)),
    width = store.numFeatures;
  try {
    for (let li = 0; li < convs.length; li++) {
      const conv = convs[li]!,
        outW = conv.outFeatures,
        last = li === convs.length - 1;
      const out = new Float32Array(n * outW);
      for (let c = 0; c + 1 < starts.length; c++) {
        const start = starts[c]!,
          end = starts[c + 1]!,
          targets = end - start,
          e0 = p[start]!,
          e1 = p[end]!;
        // Local ids: the chunk's targets first, then the other sources in order of first sight.
        let m = 0;
        for (let v = start; v < end; v++) {
          local[v] = m;
          nodes[m++] = v;
        }
        for (let e = e0; e < e1; e++) {
          const u = col[e]!;
          if (local[u] === -1) {
            local[u] = m;
            nodes[m++] = u;
          }
        }
        const rp = rowPtrBuf.data(),
          ci = colBuf.data(),
          vals = valBuf.data();
        let k = 0;
        rp[0] = 0;
        for (let t = 0; t < targets; t++) {
          const v = start + t,
            a = p[v]!,
            b = p[v + 1]!;
          if (invSqrt) {
            // Â's row: the self loop at its place among the sorted sources, as gcnNorm orders it.
            const dv = invSqrt[v]!;
            let self = false;
            for (let e = a; e < b; e++) {
              const u = col[e]!;
              if (!self && u > v) {
                ci[k] = t;
                vals[k++] = dv * dv;
                self = true;
              }
              ci[k] = local[u]!;
              vals[k++] = dv * invSqrt[u]!;
            }
            if (!self) {
              ci[k] = t;
              vals[k++] = dv * dv;
            }
          } else {
            const w = b > a ? 1 / (b - a) : 0;
            for (let e = a; e < b; e++) {
              ci[k] = local[col[e]!]!;
              vals[k++] = w;
            }
          }
          rp[t + 1] = k;
        }
        const adj = CsrMatrix.view(
          targets,
          m,
          Tensor.view(heap, 'int32', [targets + 1], rowPtrBuf.ptr),
          Tensor.view(heap, 'int32', [k], colBuf.ptr),
          Tensor.view(heap, 'float32', [k], valBuf.ptr),
        );
        const x = Tensor.empty(heap, 'float32', [m, width], 'inference chunk');
        let y: Tensor | null = null;
        try {
          const xd = x.data() as Float32Array;
          xd.set(input.subarray(start * width, end * width));
          // A plain loop: a subarray per row would allocate an object per row of a 500k-row chunk.
          for (let i = targets; i < m; i++)
            for (let j = 0, a = nodes[i]! * width, b = i * width; j < width; j++) xd[b + j] = input[a + j]!;
          if (conv instanceof SAGEConv) y = await conv.forwardOn(ctx, x, adj, { aggregateFirst: true });
          else {
            graph.prop = { adj };
            y = await conv.forward(ctx, x);
          }
          const o = out.subarray(start * outW, end * outW);
          o.set((y.data() as Float32Array).subarray(0, targets * outW));
          if (!last) for (let i = 0; i < o.length; i++) if (o[i]! < 0) o[i] = 0;
        } finally {
          conv.release();
          y?.free();
          x.free();
          graph.prop = null;
          for (let i = 0; i < m; i++) local[nodes[i]!] = -1;
        }
      }
      input = out;
      width = outW;
    }
  } finally {
    rowPtrBuf.free();
    colBuf.free();
    valBuf.free();
  }
  return input;
}
