import { argRangeError } from '../core/errors.js';

/** A dense symmetric n×n similarity over samples (row-major), such as a genomic relationship. */
export interface SimilarityMatrix {
  n: number;
  values: Float64Array;
  /** What it is, for the graph's description. */
  source: string;
}

/** A graph over samples built from their similarity (knnGraph, thresholdGraph): its edges and how it was made. */
export interface SampleGraph {
  /** Undirected edges, each once with src < dst. */
  src: Int32Array;
  dst: Int32Array;
  description: string;
}

/**
 * The k-nearest-neighbour graph of a relationship matrix: each sample links to the k others
 * it is most related to (ties to the lower index), and the graph is made symmetric (an edge
 * when either end chose the other).
 */
export function knnGraph(r: SimilarityMatrix, k: number): SampleGraph {
  if (!Number.isInteger(k) || k < 1) throw argRangeError('knnGraph', 'k', 'a positive integer', k);
  const n = r.n,
    kk = Math.min(k, n - 1);
  const edges = new Set<number>();
  const others = (i: number): number[] => {
    const c: number[] = [];
    for (let j = 0; j < n; j++) if (j !== i) c.push(j);
    return c;
  };
  for (let i = 0; i < n; i++) {
    const row = r.values.subarray(i * n, i * n + n);
    const cand = others(i).sort((a, b) => row[b]! - row[a]! || a - b);
    for (let t = 0; t < kk; t++) {
      const j = cand[t]!;
      edges.add(i < j ? i * n + j : j * n + i);
    }
  }
  return toGraph(edges, n, `symmetric ${k}-nearest-neighbour graph (${r.source})`);
}

/** An edge between every pair whose relationship is at least `threshold`. */
export function thresholdGraph(r: SimilarityMatrix, threshold: number): SampleGraph {
  if (!Number.isFinite(threshold)) throw argRangeError('thresholdGraph', 'threshold', 'a finite number', threshold);
  const n = r.n,
    edges = new Set<number>();
  for (let i = 0; i < n; i++)
    for (let j = i + 1; j < n; j++) if (r.values[i * n + j]! >= threshold) edges.add(i * n + j);
  return toGraph(edges, n, `threshold graph, relationship ≥ ${threshold} (${r.source})`);
}

function toGraph(edges: Set<number>, n: number, description: string): SampleGraph {
  const keys = [...edges].sort((a, b) => a - b);
  const src = new Int32Array(keys.length),
    dst = new Int32Array(keys.length);
  keys.forEach((key, e) => {
    src[e] = Math.floor(key / n);
    dst[e] = key % n;
  });
  return { src, dst, description: `${description}: ${keys.length} edges` };
}
