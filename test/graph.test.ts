// src/graph: gcnNorm against a dense float64 formula built by hand from the edge list,
// collate's block-diagonal batch against each graph alone (bit for bit, including one SpMM),
// and every validation path of CsrMatrix.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collate, type GraphSample } from '../src/graph/batch.js';
import { CsrMatrix } from '../src/graph/csr.js';
import { gcnNorm, type GcnNormOptions } from '../src/graph/gcn-norm.js';
import { Heap } from '../src/memory/heap.js';
import { spmm } from '../src/ops/sparse.js';
import { Runtime } from '../src/runtime/runtime.js';
import { bitsEqual, randn, rng } from './helpers.js';

const heap = new Heap({ initialBytes: 8 << 20 });
afterAll(() => {
  expect(heap.stats().blocks).toBe(0);
});

/** Â = D^-1/2 (A + I) D^-1/2 in float64, straight from the definition (degree = row sum, 1/sqrt(0) taken as 0). */
function denseNorm(
  n: number,
  src: readonly number[],
  dst: readonly number[],
  o: GcnNormOptions = {},
): { a: number[][]; present: boolean[][] } {
  const a = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  const present = Array.from({ length: n }, () => new Array<boolean>(n).fill(false));
  const sym = o.symmetric ?? true,
    loops = o.selfLoops ?? true;
  const add = (i: number, j: number, v: number): void => {
    a[i]![j]! += v;
    present[i]![j] = true;
  };
  src.forEach((s, e) => {
    const d = dst[e]!,
      w = o.weights ? o.weights[e]! : 1;
    add(s, d, w);
    if (sym && s !== d) add(d, s, w);
  });
  if (loops) for (let i = 0; i < n; i++) add(i, i, 1);
  const deg = a.map((row) => row.reduce((x, y) => x + y, 0));
  const inv = deg.map((d) => (d > 0 ? 1 / Math.sqrt(d) : 0));
  return { a: a.map((row, i) => row.map((v, j) => inv[i]! * v * inv[j]!)), present };
}

/** Checks a CSR against the dense oracle: same structure (sorted, unique columns), values within 1e-6 relative. */
function expectMatchesDense(m: CsrMatrix, want: { a: number[][]; present: boolean[][] }): void {
  const n = want.a.length;
  expect(m.rows).toBe(n);
  expect(m.cols).toBe(n);
  const rp = m.rowPtr.data(),
    ci = m.colIdx.data(),
    vv = m.vals.data();
  expect(rp[0]).toBe(0);
  for (let i = 0; i < n; i++) {
    const cols: number[] = [];
    for (let k = rp[i]!; k < rp[i + 1]!; k++) {
      cols.push(ci[k]!);
      const w = want.a[i]![ci[k]!]!;
      expect(Math.abs(vv[k]! - w)).toBeLessThanOrEqual(1e-6 * Math.abs(w) + 1e-12);
    }
    const wantCols = want.present[i]!.flatMap((p, j) => (p ? [j] : []));
    expect(cols).toEqual(wantCols);
  }
  expect(m.nnz).toBe(rp[n]);
}

function normCase(n: number, src: number[], dst: number[], o: GcnNormOptions = {}): void {
  const m = gcnNorm(heap, n, src, dst, o);
  try {
    expectMatchesDense(m, denseNorm(n, src, dst, o));
  } finally {
    m.free();
  }
}

describe('gcnNorm against the dense formula', () => {
  it('a path with an isolated node: its row is the self loop alone, Â_ii = 1', () => {
    normCase(5, [0, 1, 2], [1, 2, 3]);
    const m = gcnNorm(heap, 5, [0, 1, 2], [1, 2, 3]);
    const rp = m.rowPtr.data();
    expect(rp[5]! - rp[4]!).toBe(1);
    expect(m.colIdx.data()[rp[4]!]).toBe(4);
    expect(m.vals.data()[rp[4]!]).toBe(1);
    // Hand-computed: degrees 2, 3, 3, 2 → Â_01 = 1/sqrt(6), Â_11 = 1/3.
    const v = m.vals.data();
    expect(v[1]).toBeCloseTo(1 / Math.sqrt(6), 7);
    expect(v[rp[1]! + 1]).toBeCloseTo(1 / 3, 7);
    m.free();
  });

  it('duplicate edges add their weights (also an edge given in both directions)', () => {
    normCase(4, [0, 0, 1, 2, 3], [1, 1, 0, 3, 2]);
    // Hand-computed for 2 nodes, edge 0-1 given 3 times: A+I = [[1,3],[3,1]], d = 4, 4.
    const m = gcnNorm(heap, 2, [0, 1, 0], [1, 0, 1]);
    expect(Array.from(m.vals.data())).toEqual([0.25, 0.75, 0.75, 0.25]);
    m.free();
  });

  it('weighted edges, including a zero weight that keeps its entry', () => {
    const r = rng(7);
    const src: number[] = [],
      dst: number[] = [],
      w: number[] = [];
    for (let e = 0; e < 40; e++) {
      src.push(Math.floor(r() * 12));
      dst.push(Math.floor(r() * 12));
      w.push(r() * 3);
    }
    w[5] = 0;
    normCase(12, src, dst, { weights: w });
  });

  it('an existing self loop gets weight + 1; a node with only a self loop', () => {
    normCase(3, [0, 1, 2], [1, 1, 2], { weights: [2, 0.5, 4] });
    // Node 0 with only a self loop of weight 3: A+I = [[4]] → Â = [[1]].
    const m = gcnNorm(heap, 1, [0], [0], { weights: [3] });
    expect(Array.from(m.vals.data())).toEqual([1]);
    expect(Array.from(m.rowPtr.data())).toEqual([0, 1]);
    m.free();
  });

  it('n = 1 and zero edges give the identity; n = 0 gives an empty matrix', () => {
    for (const n of [1, 4]) {
      const m = gcnNorm(heap, n, [], []);
      expect(Array.from(m.rowPtr.data())).toEqual(Array.from({ length: n + 1 }, (_, i) => i));
      expect(Array.from(m.colIdx.data())).toEqual(Array.from({ length: n }, (_, i) => i));
      expect(Array.from(m.vals.data())).toEqual(new Array(n).fill(1));
      m.free();
    }
    const e = gcnNorm(heap, 0, [], []);
    expect(e.rows).toBe(0);
    expect(e.nnz).toBe(0);
    expect(Array.from(e.rowPtr.data())).toEqual([0]);
    e.free();
  });

  it('without self loops an isolated node has an empty row (1/sqrt(0) taken as 0)', () => {
    normCase(4, [0, 1], [1, 2], { selfLoops: false });
    const m = gcnNorm(heap, 4, [0, 1], [1, 2], { selfLoops: false });
    const rp = m.rowPtr.data();
    expect(rp[4]! - rp[3]!).toBe(0);
    for (const v of m.vals.data()) expect(Number.isFinite(v)).toBe(true);
    m.free();
    // A zero-weight edge alone: degree 0 on both ends, entries stay and are 0 (no NaN).
    const z = gcnNorm(heap, 2, [0], [1], { selfLoops: false, weights: [0] });
    expect(Array.from(z.vals.data())).toEqual([0, 0]);
    z.free();
  });

  it('directed (symmetric: false): rows are sources, degree is the row sum', () => {
    normCase(5, [0, 0, 1, 3, 4], [1, 2, 2, 0, 4], { symmetric: false });
    normCase(5, [0, 0, 1, 3], [1, 2, 2, 0], { symmetric: false, selfLoops: false, weights: [1, 2, 3, 4] });
  });

  it('random graphs of every awkward size', () => {
    for (const n of [1, 3, 8, 17, 100]) {
      const r = rng(n);
      const src: number[] = [],
        dst: number[] = [],
        w: number[] = [];
      for (let e = 0; e < 2 * n; e++) {
        src.push(Math.floor(r() * n));
        dst.push(Math.floor(r() * n));
        w.push(0.1 + r());
      }
      normCase(n, src, dst);
      normCase(n, src, dst, { weights: w });
    }
  });

  it('rejects bad arguments, naming them', () => {
    expect(() => gcnNorm(heap, -1, [], [])).toThrow(
      /^gcnNorm: argument 'nodes' must be a non-negative integer, got -1$/,
    );
    expect(() => gcnNorm(heap, 2.5, [], [])).toThrow(
      /^gcnNorm: argument 'nodes' must be a non-negative integer, got 2\.5$/,
    );
    expect(() => gcnNorm(heap, 3, [0, 1], [1])).toThrow(
      /^gcnNorm: argument 'dst' must be 2 entries \(as many as src\), got 1$/,
    );
    expect(() => gcnNorm(heap, 3, [0], [1], { weights: [1, 2] })).toThrow(
      /^gcnNorm: argument 'options.weights' must be 1 entries \(one per edge\), got 2$/,
    );
    expect(() => gcnNorm(heap, 3, [0, 3], [1, 1])).toThrow(
      /^gcnNorm: argument 'src\[1\]' must be a node in \[0, 3\), got 3$/,
    );
    expect(() => gcnNorm(heap, 3, [0], [-1])).toThrow(
      /^gcnNorm: argument 'dst\[0\]' must be a node in \[0, 3\), got -1$/,
    );
    expect(() => gcnNorm(heap, 3, [0], [1.5])).toThrow(
      /^gcnNorm: argument 'dst\[0\]' must be a node in \[0, 3\), got 1\.5$/,
    );
    expect(() => gcnNorm(heap, 3, [0, 1], [1, 2], { weights: [1, -2] })).toThrow(
      /^gcnNorm: argument 'options.weights\[1\]' must be a finite non-negative number, got -2$/,
    );
    expect(() => gcnNorm(heap, 3, [0], [1], { weights: [NaN] })).toThrow(
      /^gcnNorm: argument 'options.weights\[0\]' must be a finite non-negative number, got NaN$/,
    );
    expect(heap.stats().blocks).toBe(0);
  });
});

/** A small random molecule-like graph: a chain plus a few chords, weights, NaN targets. */
function sample(nodes: number, features: number, targets: number, seed: number, weighted: boolean): GraphSample {
  const r = rng(seed);
  const src: number[] = [],
    dst: number[] = [],
    w: number[] = [];
  for (let i = 1; i < nodes; i++) {
    src.push(i - 1);
    dst.push(i);
    w.push(1 + Math.floor(r() * 3));
  }
  for (let e = 0; e < nodes >> 1; e++) {
    src.push(Math.floor(r() * nodes));
    dst.push(Math.floor(r() * nodes));
    w.push(1.5);
  }
  const y = Float32Array.from({ length: targets }, (_, t) => ((seed + t) % 3 === 0 ? NaN : r() * 2 - 1));
  return {
    nodes,
    x: randn(nodes * features, seed + 100),
    src: Int32Array.from(src),
    dst: Int32Array.from(dst),
    ...(weighted ? { w: Float32Array.from(w) } : {}),
    descriptors: randn(6, seed + 200),
    y,
  };
}

describe('collate', () => {
  const F = 5,
    T = 3;
  // Awkward node counts, including a single node and a graph without edges.
  const samples = [
    sample(7, F, T, 1, true),
    sample(1, F, T, 2, false),
    sample(12, F, T, 3, false),
    sample(4, F, T, 4, true),
    sample(9, F, T, 5, true),
  ];
  let rt: Runtime;
  beforeAll(async () => {
    rt = await Runtime.create({ threads: 1 });
  });
  afterAll(async () => {
    await rt.close();
  });

  it("each graph's block of the batch equals the graph alone and a fresh gcnNorm, bit for bit", () => {
    const batch = collate(heap, samples, F, T);
    try {
      expect(batch.graphs).toBe(samples.length);
      expect(batch.nodes).toBe(samples.reduce((s, g) => s + g.nodes, 0));
      const off = batch.offsets.data();
      const rp = batch.adj.rowPtr.data(),
        ci = batch.adj.colIdx.data(),
        vv = batch.adj.vals.data();
      const bx = batch.x.data(),
        by = batch.y.data(),
        bm = batch.labelMask.data();
      let at = 0,
        labels = 0;
      expect(off[0]).toBe(0);
      samples.forEach((g, i) => {
        expect(off[i + 1]).toBe(at + g.nodes);
        const alone = collate(heap, [g], F, T);
        const fresh = gcnNorm(heap, g.nodes, g.src, g.dst, g.w ? { weights: g.w } : {});
        try {
          expect(Array.from(alone.offsets.data())).toEqual([0, g.nodes]);
          const arp = alone.adj.rowPtr.data(),
            aci = alone.adj.colIdx.data(),
            avv = alone.adj.vals.data();
          expect(bitsEqual(arp, fresh.rowPtr.data())).toBe(true);
          expect(bitsEqual(aci, fresh.colIdx.data())).toBe(true);
          expect(bitsEqual(avv, fresh.vals.data())).toBe(true);
          const e = rp[at]!;
          for (let r = 0; r <= g.nodes; r++) expect(rp[at + r]! - e).toBe(arp[r]);
          const nnz = arp[g.nodes]!;
          expect(Array.from(ci.subarray(e, e + nnz), (c) => c - at)).toEqual(Array.from(aci));
          expect(bitsEqual(vv.subarray(e, e + nnz), avv)).toBe(true);
          expect(bitsEqual(bx.subarray(at * F, (at + g.nodes) * F), g.x)).toBe(true);
          expect(bitsEqual(bx.subarray(at * F, (at + g.nodes) * F), alone.x.data())).toBe(true);
          expect(bitsEqual(by.subarray(i * T, (i + 1) * T), alone.y.data())).toBe(true);
          expect(bitsEqual(bm.subarray(i * T, (i + 1) * T), alone.labelMask.data())).toBe(true);
          for (let t = 0; t < T; t++) {
            const v = g.y[t]!;
            expect(bm[i * T + t]).toBe(Number.isNaN(v) ? 0 : 1);
            expect(by[i * T + t]).toBe(Number.isNaN(v) ? 0 : v);
            labels += Number.isNaN(v) ? 0 : 1;
          }
          expect(bitsEqual(batch.descriptors!.data().subarray(i * 6, (i + 1) * 6), g.descriptors!)).toBe(true);
        } finally {
          alone.free();
          fresh.free();
        }
        at += g.nodes;
      });
      expect(rp[batch.nodes]).toBe(batch.adj.nnz);
      expect(batch.labels).toBe(labels);
    } finally {
      batch.free();
    }
  });

  it('SpMM of the batch equals, block by block and bit for bit, SpMM of each graph alone', async () => {
    // The tensors must live in the runtime's own memory (its kernels read rt.heap's addresses).
    const h = rt.heap;
    const batch = collate(h, samples, F, T);
    const y = await spmm(rt.exec, batch.adj, batch.x);
    try {
      const yv = y.data();
      let at = 0;
      for (const g of samples) {
        const alone = collate(h, [g], F, T);
        const ya = await spmm(rt.exec, alone.adj, alone.x);
        try {
          const got = ya.data();
          expect(bitsEqual(yv.subarray(at * F, (at + g.nodes) * F), got)).toBe(true);
          // And not trivially: an independent f64 product agrees to f32 accuracy.
          const rp = alone.adj.rowPtr.data(),
            ci = alone.adj.colIdx.data(),
            vv = alone.adj.vals.data();
          for (let r = 0; r < g.nodes; r++) {
            for (let c = 0; c < F; c++) {
              let s = 0;
              for (let k = rp[r]!; k < rp[r + 1]!; k++) s += vv[k]! * g.x[ci[k]! * F + c]!;
              expect(Math.abs(got[r * F + c]! - s)).toBeLessThan(1e-5 * (1 + Math.abs(s)));
            }
          }
        } finally {
          ya.free();
          alone.free();
        }
        at += g.nodes;
      }
    } finally {
      y.free();
      batch.free();
    }
    expect(h.stats().blocks).toBe(0);
  });

  it('rejects bad samples, naming them', () => {
    const before = heap.stats().blocks;
    expect(() => collate(heap, [], F, T)).toThrow(/^collate: argument 'samples' must be at least one graph, got 0$/);
    const badX = { ...samples[1]!, x: new Float32Array(F + 1) };
    expect(() => collate(heap, [samples[0]!, badX], F, T)).toThrow(
      /^collate: argument 'samples\[1\]\.x' must be 5 values \(1 nodes × 5\), got 6$/,
    );
    const badY = { ...samples[1]!, y: new Float32Array(1) };
    expect(() => collate(heap, [badY], F, T)).toThrow(/^collate: argument 'samples\[0\]\.y' must be 3 targets, got 1$/);
    const badD = { ...samples[1]!, descriptors: new Float32Array(2) };
    expect(() => collate(heap, [samples[0]!, badD], F, T)).toThrow(
      /^collate: argument 'samples\[1\]\.descriptors' must be 6 values \(as samples\[0\]\), got 2$/,
    );
    expect(heap.stats().blocks).toBe(before);
  });
});

describe('CsrMatrix', () => {
  const fa = (rows: number, cols: number, rp: number[], ci: number[], vv?: number[]): CsrMatrix =>
    CsrMatrix.fromArrays(heap, rows, cols, rp, ci, vv);

  it('fromArrays rejects bad sizes and row pointers', () => {
    expect(() => fa(-1, 2, [0], [])).toThrow(
      /^CsrMatrix\.fromArrays: argument 'rows' must be a non-negative integer, got -1$/,
    );
    expect(() => fa(1.5, 2, [0, 0], [])).toThrow(
      /^CsrMatrix\.fromArrays: argument 'rows' must be a non-negative integer, got 1\.5$/,
    );
    expect(() => fa(2, -3, [0, 0, 0], [])).toThrow(
      /^CsrMatrix\.fromArrays: argument 'cols' must be a non-negative integer, got -3$/,
    );
    expect(() => fa(2, 2, [0, 0], [])).toThrow(
      /^CsrMatrix\.fromArrays: argument 'rowPtr' must be 3 entries \(rows \+ 1\), got "2 entries"$/,
    );
    expect(() => fa(2, 2, [1, 1, 1], [0])).toThrow(/^CsrMatrix\.fromArrays: argument 'rowPtr\[0\]' must be 0, got 1$/);
    expect(() => fa(3, 2, [0, 2, 1, 2], [0, 1])).toThrow(
      /^CsrMatrix\.fromArrays: argument 'rowPtr\[2\]' must be an integer >= rowPtr\[1\] = 2, got 1$/,
    );
    expect(() => fa(2, 2, [0, 0.5, 1], [0])).toThrow(
      /^CsrMatrix\.fromArrays: argument 'rowPtr\[1\]' must be an integer >= rowPtr\[0\] = 0, got 0\.5$/,
    );
    expect(() => fa(2, 2, [0, 1, 3], [0, 1])).toThrow(
      /^CsrMatrix\.fromArrays: argument 'rowPtr\[2\]' must be nnz = colIdx\.length = 2, got 3$/,
    );
  });

  it('fromArrays rejects bad column indices and values', () => {
    expect(() => fa(1, 3, [0, 2], [0, 3])).toThrow(
      /^CsrMatrix\.fromArrays: argument 'colIdx\[1\]' must be an integer in \[0, 3\), got 3$/,
    );
    expect(() => fa(1, 3, [0, 1], [-1])).toThrow(
      /^CsrMatrix\.fromArrays: argument 'colIdx\[0\]' must be an integer in \[0, 3\), got -1$/,
    );
    expect(() => fa(1, 3, [0, 1], [1.25])).toThrow(
      /^CsrMatrix\.fromArrays: argument 'colIdx\[0\]' must be an integer in \[0, 3\), got 1\.25$/,
    );
    expect(() => fa(1, 3, [0, 2], [0, 1], [1])).toThrow(
      /^CsrMatrix\.fromArrays: argument 'vals' must be 2 entries \(one per nonzero\), got "1 entries"$/,
    );
    expect(() => fa(1, 3, [0, 2], [0, 1], [1, Infinity])).toThrow(
      /^CsrMatrix\.fromArrays: argument 'vals\[1\]' must be a finite number, got Infinity$/,
    );
    expect(() => fa(1, 3, [0, 1], [0], [NaN])).toThrow(
      /^CsrMatrix\.fromArrays: argument 'vals\[0\]' must be a finite number, got NaN$/,
    );
    expect(heap.stats().blocks).toBe(0);
  });

  it('fromCoo rejects mismatched lengths and out-of-range entries', () => {
    expect(() => CsrMatrix.fromCoo(heap, 2, 2, [0, 1], [0])).toThrow(
      /^CsrMatrix\.fromCoo: argument 'col' must be 2 entries \(as many as row\), got "1 entries"$/,
    );
    expect(() => CsrMatrix.fromCoo(heap, 2, 2, [0, 1], [0, 1], [1])).toThrow(
      /^CsrMatrix\.fromCoo: argument 'val' must be 2 entries \(as many as row\), got "1 entries"$/,
    );
    expect(() => CsrMatrix.fromCoo(heap, 2, 2, [0, 2], [0, 1])).toThrow(
      /^CsrMatrix\.fromCoo: argument 'row\[1\]' must be an integer in \[0, 2\), got 2$/,
    );
    expect(() => CsrMatrix.fromCoo(heap, 2, 2, [-1], [0])).toThrow(
      /^CsrMatrix\.fromCoo: argument 'row\[0\]' must be an integer in \[0, 2\), got -1$/,
    );
    expect(() => CsrMatrix.fromCoo(heap, 2, 3, [0, 1], [0, 3])).toThrow(
      /^CsrMatrix\.fromCoo: argument 'col\[1\]' must be an integer in \[0, 3\), got 3$/,
    );
    expect(() => CsrMatrix.fromCoo(heap, 2, 3, [0], [0.5])).toThrow(
      /^CsrMatrix\.fromCoo: argument 'col\[0\]' must be an integer in \[0, 3\), got 0\.5$/,
    );
    expect(() => CsrMatrix.fromCoo(heap, 2, 3, [0, 1], [0, 1], [1, NaN])).toThrow(
      /^CsrMatrix\.fromCoo: argument 'val\[1\]' must be a finite number, got NaN$/,
    );
    expect(heap.stats().blocks).toBe(0);
  });

  it('fromCoo sums duplicates and sorts columns; fromArrays defaults values to 1', () => {
    const m = CsrMatrix.fromCoo(heap, 3, 4, [2, 0, 2, 0, 2], [3, 1, 0, 1, 3], [1, 2, 3, 4, 5]);
    expect(Array.from(m.rowPtr.data())).toEqual([0, 1, 1, 3]);
    expect(Array.from(m.colIdx.data())).toEqual([1, 0, 3]);
    expect(Array.from(m.vals.data())).toEqual([6, 3, 6]);
    const ones = fa(2, 2, [0, 1, 2], [1, 0]);
    expect(Array.from(ones.vals.data())).toEqual([1, 1]);
    const empty = fa(0, 0, [0], []);
    expect(empty.nnz).toBe(0);
    for (const x of [m, ones, empty]) x.free();
    expect(heap.stats().blocks).toBe(0);
  });
});
