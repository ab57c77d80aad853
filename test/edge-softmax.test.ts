// The message-passing kernels (edge softmax and its backward, GAT's logits, LeakyReLU, the row
// gathers) on every available backend: against the plain-TypeScript reference (bitwise where
// no exponential is involved and the build does not fuse; within one f32 rounding otherwise),
// against an independent f64 formula, split in two work ranges (same bits), and through the
// public ops on 1 and 2 threads (same bits).
import { afterAll, describe, expect, it } from 'vitest';
import type { KernelBackend } from '../src/kernels/backend.js';
import { createBackend } from '../src/kernels/wasm.js';
import { Heap } from '../src/memory/heap.js';
import { Tensor } from '../src/memory/tensor.js';
import { MessageGraph } from '../src/graph/message-graph.js';
import {
  edgeSoftmax,
  edgeSoftmaxBackward,
  gatScore,
  permuteEdgeValues,
  segmentSumHeads,
  spmmHeads,
  sddmmHeads,
} from '../src/ops/attention.js';
import { gatherAddRelu, gatherRows } from '../src/ops/gather.js';
import { createReferenceBackend } from '../src/reference/index.js';
import { Runtime } from '../src/runtime/runtime.js';
import { availableBackends, bitsEqual, closeness, randn, rng } from './helpers.js';

const heap = new Heap({ initialBytes: 16 << 20 });
const ref = createReferenceBackend(heap.memory);

function put(values: ArrayLike<number>, type: 'f32' | 'i32' = 'f32'): number {
  const ptr = heap.alloc(Math.max(1, values.length) * 4);
  (type === 'f32'
    ? new Float32Array(heap.memory.buffer, ptr, values.length)
    : new Int32Array(heap.memory.buffer, ptr, values.length)
  ).set(values);
  return ptr;
}
const f32 = (ptr: number, n: number): Float32Array => new Float32Array(heap.memory.buffer, ptr, n).slice();
const outBuf = (n: number): number => put(new Float32Array(n).fill(NaN));

/** Runs call whole, then split at cut; both must agree bitwise. */
function runSplit(
  k: KernelBackend,
  out: number,
  n: number,
  total: number,
  cut: number,
  call: (k: KernelBackend, r0: number, r1: number) => void,
): Float32Array {
  call(k, 0, total);
  const whole = f32(out, n);
  new Float32Array(heap.memory.buffer, out, n).fill(NaN);
  call(k, 0, Math.min(cut, total));
  call(k, Math.min(cut, total), total);
  expect(bitsEqual(whole, f32(out, n))).toBe(true);
  return whole;
}

/** CSR rows with empty rows, single-entry rows and long rows (a hub), columns possibly repeated. */
function pattern(rows: number, cols: number, seed: number): { rp: Int32Array; ci: Int32Array } {
  const r = rng(seed),
    rp = new Int32Array(rows + 1),
    ci: number[] = [];
  for (let i = 0; i < rows; i++) {
    const u = r(),
      deg = u < 0.2 ? 0 : u < 0.35 ? 1 : i === 3 ? 40 : Math.floor(r() * 7);
    for (let d = 0; d < deg; d++) ci.push(Math.floor(r() * cols));
    rp[i + 1] = ci.length;
  }
  return { rp, ci: Int32Array.from(ci) };
}

afterAll(() => {
  expect(heap.stats().blocks).toBe(0);
});

describe.each(availableBackends())('message-passing kernels on the %s backend', (kind) => {
  const k = kind === 'js' ? ref : createBackend(kind, heap.memory);

  it('edgeSoftmax: each row of each head sums to 1 and equals exp(s)/Σexp(s) in f64; empty rows untouched; large logits do not overflow', () => {
    for (const rows of [0, 1, 5, 17, 60]) {
      for (const heads of [1, 2, 3, 8]) {
        const { rp, ci } = pattern(rows, 9, rows * 31 + heads);
        const nnz = ci.length,
          ld = nnz + 2; // padded head rows: ld is honoured
        const s = Float32Array.from(randn(heads * ld, rows + heads), (v, i) => (i % 7 === 0 ? v * 60 : v * 3)); // some logits far apart
        const pr = put(rp, 'i32'),
          ps = put(s),
          po = outBuf(heads * ld),
          bad: string[] = [];
        const got = runSplit(k, po, heads * ld, rows, rows >> 1, (b, r0, r1) =>
          b.edgeSoftmax(pr, ps, ld, po, ld, heads, r0, r1),
        );
        ref.edgeSoftmax(pr, ps, ld, po, ld, heads, 0, rows);
        const want = f32(po, heads * ld);
        const stored = (v: Float32Array): Float32Array =>
          Float32Array.from(
            { length: heads * nnz },
            (_, i) => v[Math.floor(i / Math.max(nnz, 1)) * ld + (i % Math.max(nnz, 1))]!,
          );
        expect(closeness(stored(got), stored(want), 1e-12, 2 ** -23)).toBeLessThanOrEqual(1); // expD vs Math.exp: one f32 rounding apart at most
        for (let h = 0; h < heads; h++) {
          for (let r = 0; r < rows; r++) {
            if (rp[r] === rp[r + 1]) continue;
            let m = -Infinity,
              z = 0,
              sum = 0;
            for (let e = rp[r]!; e < rp[r + 1]!; e++) m = Math.max(m, s[h * ld + e]!);
            for (let e = rp[r]!; e < rp[r + 1]!; e++) z += Math.exp(s[h * ld + e]! - m);
            for (let e = rp[r]!; e < rp[r + 1]!; e++) {
              const v = got[h * ld + e]!;
              if (!(Math.abs(v - Math.exp(s[h * ld + e]! - m) / z) <= 2 ** -23 * v + 1e-40))
                bad.push(`${h},${e}: ${v}`);
              sum += v;
            }
            if (!(Math.abs(sum - 1) < 1e-6 * (rp[r + 1]! - rp[r]!))) bad.push(`row ${r} sums to ${sum}`);
          }
          for (let e = nnz; e < ld; e++) if (!Number.isNaN(got[h * ld + e]!)) bad.push(`padding ${h},${e}`); // untouched
        }
        expect(bad).toEqual([]);
        for (const p of [pr, ps, po]) heap.free(p);
      }
    }
  });

  it('edgeSoftmaxBackward: bitwise the reference, and the Jacobian-vector product in f64', () => {
    for (const rows of [0, 1, 5, 17, 60]) {
      for (const heads of [1, 3, 4]) {
        const { rp, ci } = pattern(rows, 9, rows * 17 + heads);
        const nnz = ci.length;
        // a: a real softmax output (rows summing to 1), ga: any gradient.
        const s = randn(heads * nnz, rows + 5),
          ga = randn(heads * nnz, rows + 6);
        const pr = put(rp, 'i32'),
          ps = put(s),
          pa = outBuf(heads * nnz),
          pg = put(ga),
          po = outBuf(heads * nnz);
        ref.edgeSoftmax(pr, ps, nnz, pa, nnz, heads, 0, rows);
        const a = f32(pa, heads * nnz);
        const got = runSplit(k, po, heads * nnz, rows, rows >> 1, (b, r0, r1) =>
          b.edgeSoftmaxBackward(pr, pa, pg, po, nnz, heads, r0, r1),
        );
        ref.edgeSoftmaxBackward(pr, pa, pg, po, nnz, heads, 0, rows);
        const bad: string[] = [];
        expect(bitsEqual(got, f32(po, heads * nnz))).toBe(true); // f64 arithmetic, no exp: the same bits on every backend
        for (let h = 0; h < heads; h++) {
          for (let r = 0; r < rows; r++) {
            let dot = 0;
            for (let e = rp[r]!; e < rp[r + 1]!; e++) dot += a[h * nnz + e]! * ga[h * nnz + e]!;
            for (let e = rp[r]!; e < rp[r + 1]!; e++) {
              const i = h * nnz + e,
                want = a[i]! * (ga[i]! - dot);
              if (!(Math.abs(got[i]! - want) <= 2 ** -24 * Math.abs(want) + 1e-30))
                bad.push(`${h},${e}: ${got[i]} vs ${want}`);
            }
          }
        }
        expect(bad).toEqual([]);
        // In place (gs = ga) gives the same bits.
        k.edgeSoftmaxBackward(pr, pa, pg, pg, nnz, heads, 0, rows);
        expect(bitsEqual(f32(pg, heads * nnz), got)).toBe(true);
        for (const p of [pr, ps, pa, pg, po]) heap.free(p);
      }
    }
  });

  it('gatScore, leakyRelu and leakyReluBackward: bitwise the reference and the formula', () => {
    for (const rows of [0, 1, 5, 17, 60]) {
      for (const heads of [1, 2, 5]) {
        for (const slope of [0.2, 0, 1]) {
          const cols = 11,
            { rp, ci } = pattern(rows, cols, rows * 7 + heads);
          const nnz = ci.length;
          const as = randn(cols * heads, rows + 1),
            ad = randn(rows * heads, rows + 2);
          const pr = put(rp, 'i32'),
            pc = put(ci, 'i32'),
            ps = put(as),
            pd = put(ad),
            po = outBuf(heads * nnz),
            bad: string[] = [];
          const got = runSplit(k, po, heads * nnz, rows, rows >> 1, (b, r0, r1) =>
            b.gatScore(pr, pc, ps, pd, heads, slope, po, nnz, r0, r1),
          );
          for (let r = 0; r < rows; r++) {
            for (let e = rp[r]!; e < rp[r + 1]!; e++) {
              for (let h = 0; h < heads; h++) {
                const v = Math.fround(as[ci[e]! * heads + h]! + ad[r * heads + h]!);
                if (!Object.is(got[h * nnz + e], v > 0 ? v : Math.fround(v * Math.fround(slope))))
                  bad.push(`score ${h},${e}`);
              }
            }
          }
          const n = heads * nnz,
            gy = randn(n, rows + 3),
            pg = put(gy),
            px = outBuf(n),
            py = outBuf(n);
          runSplit(k, px, n, n, n >> 1, (b, e0, e1) => b.leakyReluBackward(po, pg, px, slope, e0, e1));
          const gx = f32(px, n);
          for (let i = 0; i < n; i++)
            if (!Object.is(gx[i], got[i]! > 0 ? gy[i]! : Math.fround(gy[i]! * Math.fround(slope))))
              bad.push(`backward ${i}`);
          runSplit(k, py, n, n, n >> 1, (b, e0, e1) => b.leakyRelu(pg, py, slope, e0, e1));
          const ly = f32(py, n);
          for (let i = 0; i < n; i++)
            if (!Object.is(ly[i], gy[i]! > 0 ? gy[i]! : Math.fround(gy[i]! * Math.fround(slope))))
              bad.push(`leakyRelu ${i}`);
          expect(bad).toEqual([]);
          for (const p of [pr, pc, ps, pd, po, pg, px, py]) heap.free(p);
        }
      }
    }
  });

  it('gatherRows and gatherAddRelu: every column remainder, padded rows, repeated indices', () => {
    for (const m of [0, 1, 5, 33]) {
      for (const c of [0, 1, 3, 4, 5, 7, 8, 9, 17]) {
        const n = 6,
          ldx = c + 2,
          ldo = c + 1,
          lda = c + 3;
        const x = randn(n * ldx, m + c),
          add = randn(m * lda, m + c + 1),
          idx = Int32Array.from({ length: m }, (_, i) => (i * 5) % n);
        const px = put(x),
          pi = put(idx, 'i32'),
          pa = put(add),
          po = outBuf(m * ldo),
          bad: string[] = [];
        for (const withAdd of [false, true]) {
          const got = runSplit(k, po, m * ldo, m, m >> 1, (b, e0, e1) =>
            withAdd
              ? b.gatherAddRelu(px, ldx, pi, pa, lda, po, ldo, c, e0, e1)
              : b.gatherRows(px, ldx, pi, po, ldo, c, e0, e1),
          );
          for (let e = 0; e < m; e++) {
            for (let j = 0; j < c; j++) {
              const v = withAdd ? Math.fround(x[idx[e]! * ldx + j]! + add[e * lda + j]!) : x[idx[e]! * ldx + j]!;
              if (!Object.is(got[e * ldo + j], withAdd ? Math.max(v, 0) : v)) bad.push(`${e},${j}`);
            }
            if (ldo > c && !Number.isNaN(got[e * ldo + c]!)) bad.push(`${e},${c} written`); // past the columns: untouched
          }
        }
        expect(bad).toEqual([]);
        for (const p of [px, pi, pa, po]) heap.free(p);
      }
    }
  });
});

describe.each(availableBackends())('attention ops on the %s backend', (backend) => {
  it('1 and 2 threads give the same bits; spmmHeads / sddmmHeads / segmentSumHeads / permuteEdgeValues against their formulas', async () => {
    const nodes = 2000,
      heads = 3,
      c = 5,
      r = rng(4); // big enough that every op cuts 2 parts
    const src: number[] = [],
      dst: number[] = [];
    for (let e = 0; e < 14_000; e++) {
      src.push(Math.floor(r() * nodes));
      dst.push(Math.floor(r() * nodes * 0.9));
    } // the last tenth: no incoming edge
    src.push(7, 7);
    dst.push(7, 7); // a doubled self loop
    const results: Float32Array[][] = [];
    for (const threads of [1, 2]) {
      const rt = await Runtime.create({ threads, backend });
      try {
        const g = MessageGraph.fromEdges(rt.heap, nodes, src, dst);
        const nnz = g.edges;
        const aS = Tensor.from(rt.heap, 'float32', [nodes, heads], randn(nodes * heads, 1));
        const aD = Tensor.from(rt.heap, 'float32', [nodes, heads], randn(nodes * heads, 2));
        const x = Tensor.from(rt.heap, 'float32', [nodes, heads * c], randn(nodes * heads * c, 3));
        const gy = Tensor.from(rt.heap, 'float32', [nodes, heads * c], randn(nodes * heads * c, 4));
        const s = await gatScore(rt.exec, g.adj, aS, aD, 0.2);
        const a = await edgeSoftmax(rt.exec, g.adj, s);
        const y = await spmmHeads(rt.exec, g.adj, a, x);
        const ga = await sddmmHeads(rt.exec, g.adj, gy, x, heads);
        const gs = await edgeSoftmaxBackward(rt.exec, g.adj, a, ga);
        const seg = await segmentSumHeads(rt.exec, g.incidenceT, gs);
        const at = await permuteEdgeValues(rt.exec, a, g.order);
        const gm = await gatherRows(rt.exec, x, g.dstOf);
        const gr = await gatherAddRelu(rt.exec, x, g.adj.colIdx, gm);
        const out = [s, a, y, ga, gs, seg, at, gm, gr].map((t) => (t.data() as Float32Array).slice());
        results.push(out);
        // Formulas, in f64, from the edge lists (not from the CSR the ops used).
        const rp = g.adj.rowPtr.data(),
          col = g.adj.colIdx.data(),
          ord = g.order.data(),
          dOf = g.dstOf.data();
        const av = out[1]!,
          xv = x.data() as Float32Array,
          gyv = gy.data() as Float32Array;
        for (let i = 0; i < nodes; i += 97) {
          for (let h = 0; h < heads; h++) {
            for (let q = 0; q < c; q++) {
              let want = 0,
                mag = 0;
              for (let e = rp[i]!; e < rp[i + 1]!; e++) {
                const t = av[h * nnz + e]! * xv[col[e]! * heads * c + h * c + q]!;
                want += t;
                mag += Math.abs(t);
              }
              expect(Math.abs(out[2]![i * heads * c + h * c + q]! - want)).toBeLessThanOrEqual(1e-6 * (mag + 1));
            }
          }
        }
        for (let e = 0; e < nnz; e += 131) {
          expect(dOf[e]).toBe(dst[g.edgeIds[e]!]);
          expect(col[e]).toBe(src[g.edgeIds[e]!]);
          for (let h = 0; h < heads; h++) {
            let want = 0;
            for (let q = 0; q < c; q++)
              want += gyv[dOf[e]! * heads * c + h * c + q]! * xv[col[e]! * heads * c + h * c + q]!;
            expect(out[3]![h * nnz + e]).toBeCloseTo(want, 4);
          }
        }
        for (let j = 0; j < nodes; j += 97) {
          for (let h = 0; h < heads; h++) {
            let want = 0;
            for (let e = 0; e < nnz; e++) if (col[e] === j) want += out[4]![h * nnz + e]!;
            expect(out[5]![j * heads + h]).toBeCloseTo(want, 5);
          }
        }
        const moved: number[] = [];
        for (let k2 = 0; k2 < nnz; k2 += 7)
          for (let h = 0; h < heads; h++) if (out[6]![h * nnz + k2] !== av[h * nnz + ord[k2]!]) moved.push(k2);
        expect(moved).toEqual([]);
        for (const t of [aS, aD, x, gy, s, a, y, ga, gs, seg, at, gm, gr]) t.free();
        g.free();
        expect(rt.heap.stats().blocks).toBe(0);
      } finally {
        await rt.close();
      }
    }
    results[0]!.forEach((t, i) => {
      expect(bitsEqual(t, results[1]![i]!), `output ${i}`).toBe(true);
    });
  });

  it('ops refuse bad input with one clear line', async () => {
    const rt = await Runtime.create({ threads: 1 });
    try {
      const g = MessageGraph.fromEdges(rt.heap, 3, [0, 1], [1, 2]);
      const x = Tensor.from(rt.heap, 'float32', [3, 2], [1, 2, 3, 4, 5, 6]);
      const bad = Tensor.from(rt.heap, 'int32', [2], [0, 3]);
      await expect(gatherRows(rt.exec, x, bad)).rejects.toThrow(
        /^gatherRows: argument 'idx\[1\]' must be a row of x in \[0, 3\), got 3$/,
      );
      const s = Tensor.from(rt.heap, 'float32', [1, 3], [0, 0, 0]);
      await expect(edgeSoftmax(rt.exec, g.adj, s)).rejects.toThrow(
        /^edgeSoftmax: argument 's' must have shape \[\*, 2\], got \[1, 3\]$/,
      );
      expect(() => MessageGraph.fromEdges(rt.heap, 3, [0, 4], [1, 2])).toThrow(
        /^MessageGraph\.fromEdges: argument 'src\[1\]' must be a node in \[0, 3\), got 4$/,
      );
      for (const t of [x, bad, s]) t.free();
      g.free();
    } finally {
      await rt.close();
    }
  });
});
