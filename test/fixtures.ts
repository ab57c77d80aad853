import { CsrMatrix } from '../src/graph/csr.js';
import type { Heap } from '../src/memory/heap.js';
import { Tensor } from '../src/memory/tensor.js';
import { randn, rng } from './helpers.js';

/** A random symmetric graph with self loops as CSR (uniform edges, like the bench workloads). */
export function randomGraph(heap: Heap, n: number, avgDegree: number, seed: number): CsrMatrix {
  const r = rng(seed);
  const rows: number[] = [], cols: number[] = [], vals: number[] = [];
  const m = Math.round((n * avgDegree) / 2);
  for (let e = 0; e < m; e++) {
    const a = Math.floor(r() * n), b = Math.floor(r() * n);
    const v = r();
    rows.push(a, b); cols.push(b, a); vals.push(v, v);
  }
  for (let i = 0; i < n; i++) { rows.push(i); cols.push(i); vals.push(1); }
  return CsrMatrix.fromCoo(heap, n, n, rows, cols, vals);
}

export function randomMatrix(heap: Heap, rows: number, cols: number, seed: number): Tensor {
  return Tensor.from(heap, 'float32', [rows, cols], randn(rows * cols, seed));
}
