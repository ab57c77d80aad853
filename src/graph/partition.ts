import { argRangeError } from '../core/errors.js';
import type { NodeDataset } from './node-data.js';
import { gcnNormArrays } from './gcn-norm.js';

// Graph partitioning for partition-parallel training (Cluster-GCN, Chiang et al. 2019): each
// MPI rank trains on the subgraph its part induces, and edges between parts are dropped.

export interface NodePartition {
  parts: number;
  /** The part of each node. */
  partOf: Int32Array;
  /** Undirected edges whose ends lie in different parts (dropped by partition training), and all edges. */
  cutEdges: number;
  edges: number;
}

/**
 * Parts of equal node count (±1), contiguous in breadth-first order: BFS from the lowest
 * unvisited node, neighbours in ascending order, so connected regions stay together where
 * the graph has any locality. Deterministic: the same graph gives the same parts on every rank.
 */
export function bfsPartition(n: number, src: Int32Array, dst: Int32Array, parts: number): NodePartition {
  if (!Number.isInteger(parts) || parts < 1 || parts > n)
    throw argRangeError('bfsPartition', 'parts', `an integer in [1, ${n}]`, parts);
  // The symmetric adjacency with each row's neighbours in ascending order: gcnNorm's CSR (its values unused).
  const { rowPtr: deg, colIdx: adj } = gcnNormArrays(n, src, dst, { selfLoops: false });
  const partOf = bfsPartsOfCsr(deg, adj, parts);
  let cut = 0;
  for (let e = 0; e < src.length; e++) if (partOf[src[e]!] !== partOf[dst[e]!]) cut++;
  return { parts, partOf, cutEdges: cut, edges: src.length };
}

/**
 * The subgraph part `p` induces, as a node data set of its own: its nodes in ascending
 * original order (renumbered 0…), their features, labels and splits, and the edges with both
 * ends inside. `nodes[i]` is the original index of local node i.
 */
export function partDataset(
  data: NodeDataset,
  partition: NodePartition,
  p: number,
): { data: NodeDataset; nodes: Int32Array } {
  const nodes = Int32Array.from(
    Array.from({ length: data.numNodes }, (_, i) => i).filter((i) => partition.partOf[i] === p),
  );
  const local = new Int32Array(data.numNodes).fill(-1);
  nodes.forEach((g, i) => {
    local[g] = i;
  });
  const f = data.numFeatures,
    features = new Float32Array(nodes.length * f);
  nodes.forEach((g, i) => {
    features.set(data.features.subarray(g * f, (g + 1) * f), i * f);
  });
  const src: number[] = [],
    dst: number[] = [];
  for (let e = 0; e < data.src.length; e++) {
    const a = local[data.src[e]!]!,
      b = local[data.dst[e]!]!;
    if (a >= 0 && b >= 0) {
      src.push(a);
      dst.push(b);
    }
  }
  const keep = (idx: Int32Array): Int32Array =>
    Int32Array.from(
      Array.from(idx).filter((g) => local[g]! >= 0),
      (g) => local[g]!,
    );
  return {
    nodes,
    data: {
      name: `${data.name} part ${p + 1}/${partition.parts}`,
      numNodes: nodes.length,
      numFeatures: f,
      numClasses: data.numClasses,
      features,
      labels: Int32Array.from(nodes, (g) => data.labels[g]!),
      split: { train: keep(data.split.train), val: keep(data.split.val), test: keep(data.split.test) },
      src: Int32Array.from(src),
      dst: Int32Array.from(dst),
      ids: Array.from(nodes, (g) => data.ids[g]!),
      ...(data.classNames ? { classNames: data.classNames } : {}),
    },
  };
}

/**
 * The part of each node for a CSR adjacency (rowPtr may be 64-bit offsets held as doubles):
 * BFS from the lowest unvisited node, neighbours in row order, parts contiguous in BFS order
 * with equal node counts (±1). bfsPartition and the graph store's Cluster-GCN batching both
 * partition through it, so a store and an edge list of the same graph get the same parts.
 */
export function bfsPartsOfCsr(rowPtr: ArrayLike<number>, colIdx: ArrayLike<number>, parts: number): Int32Array {
  const n = rowPtr.length - 1;
  const order = new Int32Array(n),
    seen = new Uint8Array(n);
  let head = 0,
    tail = 0;
  for (let s = 0; s < n; s++) {
    if (seen[s]) continue;
    seen[s] = 1;
    order[tail++] = s;
    while (head < tail) {
      const v = order[head++]!;
      for (let p = rowPtr[v]!; p < rowPtr[v + 1]!; p++) {
        const w = colIdx[p]!;
        if (!seen[w]) {
          seen[w] = 1;
          order[tail++] = w;
        }
      }
    }
  }
  const partOf = new Int32Array(n);
  for (let q = 0; q < n; q++) partOf[order[q]!] = Math.floor((q * parts) / n);
  return partOf;
}
