import { CsrMatrix } from '../graph/csr.js';
import type { MessageGraph } from '../graph/message-graph.js';
import { Tensor } from '../memory/tensor.js';
import { GCNConv, type Propagation } from '../nn/layers.js';
import { SAGEConv } from '../nn/sage-conv.js';
import type { Sequential } from '../nn/sequential.js';
import type { Runtime } from '../runtime/runtime.js';
import type { PassContext } from '../nn/layer.js';
import type { GraphStore } from '../store/format.js';

// Layer-wise inference (PyG's SAGE.inference): instead of sampling a k-hop tree per node,
// every layer runs over all nodes before the next, in chunks of target nodes with their full
// in-neighbourhoods. Each node's layer output is computed once, the heap holds one chunk's
// working set, and a layer's outputs over all nodes live in an ordinary Float32Array outside
// the wasm heap (two of them at a time: the layer's input and its output).
//
// A chunk is targets [start, end) with their rows of the store copied as they are (the store
// keeps each row sorted by source): no per-chunk sort, no transpose, no edge lists, and each
// output row is the same sums in the same order whatever chunk it falls in. Its sources are
// read one of two ways. Resident: a SAGE layer, or a GCN layer that propagates first, whose
// input over all nodes fits in the heap gets it uploaded once, and a chunk's matrix is
// rectangular (targets × all nodes) over the store's own column indices. Gathered: otherwise
// (a GCN layer that projects first would project every node's row per chunk), local ids are the targets first, then each other source in
// order of first sight, and the chunk's sources' rows are copied into the heap; on a graph
// whose neighbourhoods spread over all of it (products), that copies about one row per edge.
// The index buffers (here and in the heap) are sized once for the largest chunk and reused.

/** Where a sampled model's layers read their graph from; the trainer and inference set it per batch or chunk. */
export interface BatchGraph {
  prop: Propagation | null;
  message: MessageGraph | null;
}

/**
 * How layer-wise inference cuts the nodes: at most `nodes` targets and `edges` in-edges per
 * chunk. `resident` (default true): a SAGE layer, or a GCN layer that propagates first, whose
 * input over all nodes fits in the heap (three quarters of what it has free) reads it there,
 * uploaded once, instead of gathering each chunk's sources.
 */
export interface InferenceChunks {
  nodes?: number;
  edges?: number;
  resident?: boolean;
}

/** The layer's input over all nodes, copied into the heap when it fits (see InferenceChunks.resident); null otherwise. */
function residentInput(rt: Runtime, input: Float32Array, n: number, width: number): Tensor | null {
  const heap = rt.heap;
  if (input.length * 4 > (heap.maxBytes - heap.stats().used) * 0.75) return null;
  let x: Tensor;
  try {
    x = Tensor.empty(heap, 'float32', [n, width], 'inference layer input');
  } catch (err) {
    // A heap whose free space is in pieces (after training's batches) cannot place it: gather instead.
    if (err instanceof RangeError) return null;
    throw err;
  }
  (x.data() as Float32Array).set(input);
  return x;
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

/** What every chunk of a pass reuses: the heap's index buffers, the local-id maps, Â's D^-1/2 (GCN). */
interface ChunkBuffers {
  rowPtr: Tensor<'int32'>;
  colIdx: Tensor<'int32'>;
  vals: Tensor<'float32'>;
  /** Gathered chunks: each node's local id (-1 outside the chunk), and the chunk's nodes by local id. */
  local: Int32Array;
  nodes: Int32Array;
  invSqrt: Float64Array | null;
  ctx: PassContext;
}

/** Writes rows [start, end) of the chunk's matrix into the heap buffers (column ids through `local`, or the store's own when null); returns its nnz. */
function fillRows(store: GraphStore, b: ChunkBuffers, start: number, end: number, local: Int32Array | null): number {
  const p = store.rowPtr,
    col = store.colIdx,
    invSqrt = b.invSqrt;
  const rp = b.rowPtr.data(),
    ci = b.colIdx.data(),
    vals = b.vals.data();
  let k = 0;
  rp[0] = 0;
  for (let v = start; v < end; v++) {
    const a = p[v]!,
      z = p[v + 1]!;
    if (invSqrt) {
      // Â's row: the self loop at its place among the sorted sources, as gcnNorm orders it.
      const dv = invSqrt[v]!,
        self = local ? local[v]! : v;
      let placed = false;
      for (let e = a; e < z; e++) {
        const u = col[e]!;
        if (!placed && u > v) {
          ci[k] = self;
          vals[k++] = dv * dv;
          placed = true;
        }
        ci[k] = local ? local[u]! : u;
        vals[k++] = dv * invSqrt[u]!;
      }
      if (!placed) {
        ci[k] = self;
        vals[k++] = dv * dv;
      }
    } else {
      const w = z > a ? 1 / (z - a) : 0;
      if (local) for (let e = a; e < z; e++) ci[k++] = local[col[e]!]!;
      else {
        ci.set(col.subarray(a, z), k);
        k += z - a;
      }
      vals.fill(w, k - (z - a), k);
    }
    rp[v - start + 1] = k;
  }
  return k;
}

/** The chunk's matrix [targets, cols] over the filled buffers (views: nothing to free). */
function chunkMatrix(b: ChunkBuffers, targets: number, cols: number, nnz: number): CsrMatrix {
  const heap = b.rowPtr.heap;
  return CsrMatrix.view(
    targets,
    cols,
    Tensor.view(heap, 'int32', [targets + 1], b.rowPtr.ptr),
    Tensor.view(heap, 'int32', [nnz], b.colIdx.ptr),
    Tensor.view(heap, 'float32', [nnz], b.vals.ptr),
  );
}

/** y's first rows into out at row `start`, with the ReLU between layers. */
function storeRows(y: Tensor, out: Float32Array, start: number, targets: number, relu: boolean): void {
  const w = y.shape[1]!,
    o = out.subarray(start * w, (start + targets) * w);
  o.set((y.data() as Float32Array).subarray(0, targets * w));
  if (relu) for (let i = 0; i < o.length; i++) if (o[i]! < 0) o[i] = 0;
}

/**
 * A chunk over the layer's input in the heap, its matrix over the store's own columns: SAGE's
 * mean with the root term on the targets' rows, or a propagate-first GCN layer's Â·X.
 */
async function residentChunk(
  conv: SAGEConv | GCNConv,
  whole: Tensor,
  store: GraphStore,
  start: number,
  end: number,
  b: ChunkBuffers,
  out: Float32Array,
  relu: boolean,
  graph: BatchGraph,
): Promise<void> {
  const targets = end - start,
    width = whole.shape[1]!;
  const adj = chunkMatrix(b, targets, store.numNodes, fillRows(store, b, start, end, null));
  const root = Tensor.view(whole.heap, 'float32', [targets, width], whole.ptr + start * width * 4);
  try {
    await chunkForward(conv, b, whole, adj, graph, root, out, start, targets, relu);
  } finally {
    root.free();
  }
}

/**
 * One layer over one chunk's matrix: SAGE aggregates first (the root term on `root`, the
 * targets' rows, when given), a GCN layer reads the matrix through the graph provider; the
 * targets' rows go to `out`, and the layer's saved state and output are released either way.
 */
async function chunkForward(
  conv: SAGEConv | GCNConv,
  b: ChunkBuffers,
  x: Tensor,
  adj: CsrMatrix,
  graph: BatchGraph,
  root: Tensor | undefined,
  out: Float32Array,
  start: number,
  targets: number,
  relu: boolean,
): Promise<void> {
  let y: Tensor | null = null;
  try {
    if (conv instanceof SAGEConv)
      y = await conv.forwardOn(b.ctx, x, adj, root ? { aggregateFirst: true, root } : { aggregateFirst: true });
    else {
      graph.prop = { adj };
      y = await conv.forward(b.ctx, x);
    }
    storeRows(y, out, start, targets, relu);
  } finally {
    conv.release();
    y?.free();
    graph.prop = null;
  }
}

/** A chunk whose sources' rows are gathered into the heap (local ids: the targets first). */
async function gatheredChunk(
  conv: SAGEConv | GCNConv,
  input: Float32Array,
  width: number,
  store: GraphStore,
  start: number,
  end: number,
  b: ChunkBuffers,
  out: Float32Array,
  relu: boolean,
  graph: BatchGraph,
): Promise<void> {
  const { local, nodes } = b,
    col = store.colIdx,
    targets = end - start;
  let m = 0;
  for (let v = start; v < end; v++) {
    local[v] = m;
    nodes[m++] = v;
  }
  for (let e = store.rowPtr[start]!, e1 = store.rowPtr[end]!; e < e1; e++) {
    const u = col[e]!;
    if (local[u] === -1) {
      local[u] = m;
      nodes[m++] = u;
    }
  }
  const heap = b.rowPtr.heap;
  let x: Tensor | null = null;
  try {
    const adj = chunkMatrix(b, targets, m, fillRows(store, b, start, end, local));
    x = Tensor.empty(heap, 'float32', [m, width], 'inference chunk');
    const xd = x.data() as Float32Array;
    xd.set(input.subarray(start * width, end * width));
    // One memcpy per row: measured faster than an element loop from 16 columns up, despite the subarray per row.
    if (width >= 16)
      for (let i = targets; i < m; i++) xd.set(input.subarray(nodes[i]! * width, (nodes[i]! + 1) * width), i * width);
    else
      for (let i = targets; i < m; i++)
        for (let j = 0, a = nodes[i]! * width, c = i * width; j < width; j++) xd[c + j] = input[a + j]!;
    await chunkForward(conv, b, x, adj, graph, undefined, out, start, targets, relu);
  } finally {
    x?.free();
    for (let i = 0; i < m; i++) local[nodes[i]!] = -1;
  }
}

/**
 * The model's output [numNodes, classes] for every node of the store, layer by layer: see
 * the file comment. The model is a Sequential of SAGEConv or GCNConv layers with ReLU between
 * them and dropout before (identity here), as sampled training builds it; its graph provider
 * reads `graph`. A GCN propagates with the full graph's Â = D^-1/2 (A + I) D^-1/2 (degrees
 * over the whole graph, as full-batch training has them); SAGE averages all in-neighbours.
 * Each output row is the same sums in the same order whatever chunk it falls in (its row of
 * the store, in the store's order), so the result does not depend on the chunking, on whether
 * a layer's input is resident, or on the thread count.
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
  const maxNnz = Math.max(1, maxEdges + (gcn ? maxTargets : 0));
  let invSqrt: Float64Array | null = null;
  if (gcn) {
    invSqrt = new Float64Array(n);
    for (let v = 0; v < n; v++) invSqrt[v] = 1 / Math.sqrt(p[v + 1]! - p[v]! + 1);
  }
  const rowPtr = Tensor.empty(heap, 'int32', [maxTargets + 1], 'inference chunk rowPtr');
  const colIdx = Tensor.empty(heap, 'int32', [maxNnz], 'inference chunk colIdx');
  const vals = Tensor.empty(heap, 'float32', [maxNnz], 'inference chunk values');
  const bufs: ChunkBuffers = {
    rowPtr,
    colIdx,
    vals,
    local: new Int32Array(n).fill(-1),
    nodes: new Int32Array(Math.min(n, maxTargets + maxEdges)),
    invSqrt,
    ctx: { exec: rt.exec, training: false, seed: 0, step: 0 },
  };
  try {
    // Layer 0 reads the features; a store that keeps them in its file gives them once, in order.
    let input = store.features ?? store.gatherFeatures(Int32Array.from({ length: n }, (_, v) => v)),
      width = store.numFeatures;
    for (let li = 0; li < convs.length; li++) {
      const conv = convs[li]!,
        relu = li < convs.length - 1;
      const out = new Float32Array(n * conv.outFeatures);
      // A GCN layer that projects first would project every node's row for each chunk: gathered.
      const residentKind = conv instanceof SAGEConv || conv.propagateFirst;
      const whole = residentKind && chunks.resident !== false ? residentInput(rt, input, n, width) : null;
      try {
        for (let c = 0; c + 1 < starts.length; c++) {
          const start = starts[c]!,
            end = starts[c + 1]!;
          if (whole) await residentChunk(conv, whole, store, start, end, bufs, out, relu, graph);
          else await gatheredChunk(conv, input, width, store, start, end, bufs, out, relu, graph);
        }
      } finally {
        whole?.free();
      }
      input = out;
      width = conv.outFeatures;
    }
    return input;
  } finally {
    rowPtr.free();
    colIdx.free();
    vals.free();
  }
}
