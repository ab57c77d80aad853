// Every kernel of every available backend against the plain-TypeScript reference, over
// awkward sizes. The SIMD128 build follows the reference's summation order with unfused
// f32 arithmetic, so it must match bit for bit; the relaxed build fuses multiply-adds and is
// held to a tolerance scaled by the reduction length. Each case also checks that splitting
// the work range in two changes no bit (the runtime's determinism rests on that).
import { describe, expect, it } from 'vitest';
import type { KernelBackend } from '../src/kernels/backend.js';
import { createReferenceBackend, dropoutHash } from '../src/reference/index.js';
import { createBackend } from '../src/kernels/wasm.js';
import { Heap } from '../src/memory/heap.js';
import { Tensor } from '../src/memory/tensor.js';
import { sddmm, spmm } from '../src/ops/sparse.js';
import { Runtime } from '../src/runtime/runtime.js';
import { randomGraph, randomMatrix } from './fixtures.js';
import { availableBackends, bitsEqual, closeness, randn, rng, SIZES } from './helpers.js';

const heap = new Heap({ initialBytes: 64 << 20 });
const ref = createReferenceBackend(heap.memory);

function put(values: ArrayLike<number>, type: 'f32' | 'i32' | 'u8' = 'f32'): number {
  const bytes = type === 'u8' ? 1 : 4;
  const ptr = heap.alloc(Math.max(1, values.length) * bytes);
  const view =
    type === 'f32'
      ? new Float32Array(heap.memory.buffer, ptr, values.length)
      : type === 'i32'
        ? new Int32Array(heap.memory.buffer, ptr, values.length)
        : new Uint8Array(heap.memory.buffer, ptr, values.length);
  view.set(values);
  return ptr;
}
const f32 = (ptr: number, n: number): Float32Array => new Float32Array(heap.memory.buffer, ptr, n).slice();
const i32 = (ptr: number, n: number): Int32Array => new Int32Array(heap.memory.buffer, ptr, n).slice();
const u8 = (ptr: number, n: number): Uint8Array => new Uint8Array(heap.memory.buffer, ptr, n).slice();
/** A fresh output buffer filled with NaN, so a missed element shows. */
const outBuf = (n: number): number => put(new Float32Array(n).fill(NaN));

/** Runs `call(kernels, r0, r1)` whole and split at `cut`; both must agree bitwise. */
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
  const split = f32(out, n);
  expect(bitsEqual(whole, split)).toBe(true);
  return whole;
}

function expectMatch(kind: string, got: Float32Array, want: Float32Array, reduceLen: number): void {
  if (kind === 'simd' || kind === 'js') {
    expect(bitsEqual(got, want)).toBe(true);
  } else {
    expect(closeness(got, want, 2e-6 * (reduceLen + 1), 1e-5)).toBeLessThanOrEqual(1);
  }
}

/** A random CSR with empty rows and isolated columns. */
function randomCsr(rows: number, cols: number, seed: number): { rp: Int32Array; ci: Int32Array; vv: Float32Array } {
  const r = rng(seed);
  const rp = new Int32Array(rows + 1);
  const ci: number[] = [];
  const vv: number[] = [];
  for (let i = 0; i < rows; i++) {
    const deg = cols === 0 || r() < 0.2 ? 0 : Math.floor(r() * 9); // ~20% empty rows
    for (let d = 0; d < deg; d++) {
      ci.push(Math.floor(r() * cols));
      vv.push(r() * 2 - 1);
    }
    rp[i + 1] = ci.length;
  }
  return { rp, ci: Int32Array.from(ci), vv: Float32Array.from(vv) };
}

describe.each(availableBackends())('kernels on the %s backend', (kind) => {
  const k = kind === 'js' ? ref : createBackend(kind, heap.memory);

  it('spmmCsr: Y = A·X over awkward shapes, empty rows, no nonzeros, column ranges', () => {
    for (const rows of [0, 1, 5, 17, 100]) {
      for (const n of SIZES) {
        for (const xRows of [1, 9, 240]) {
          const { rp, ci, vv } = randomCsr(rows, xRows, rows * 1000 + n + xRows);
          const pr = put(rp, 'i32'),
            pc = put(ci, 'i32'),
            pv = put(vv),
            px = put(randn(xRows * n, n + 7));
          const py = outBuf(rows * n);
          const call = (b: KernelBackend, r0: number, r1: number): void =>
            b.spmmCsr(pr, pc, pv, px, n, py, n, 0, n, r0, r1);
          const got = runSplit(k, py, rows * n, rows, rows >> 1, call);
          // Column blocks of 32 (the op's cache blocking) give the same bits too.
          if (n > 32) {
            k.spmmCsr(pr, pc, pv, px, n, py, n, 0, 32, 0, rows);
            k.spmmCsr(pr, pc, pv, px, n, py, n, 32, n, 0, rows);
            expect(bitsEqual(f32(py, rows * n), got)).toBe(true);
          }
          ref.spmmCsr(pr, pc, pv, px, n, py, n, 0, n, 0, rows);
          expectMatch(kind, got, f32(py, rows * n), 9);
          for (const p of [pr, pc, pv, px, py]) heap.free(p);
        }
      }
    }
  });

  it('spmmCsrBiasRelu: the layer epilogue equals spmmCsr, then biasAdd, then relu, bit for bit; and the reference', () => {
    // Widths through the 32-column panels, the 16/8/4 panels and the 1-3 column tails; a padded
    // Y (ldy > n) and a column range that starts past 0, so the bias is indexed by column.
    for (const rows of [0, 1, 5, 17, 100]) {
      for (const n of [...SIZES, 12, 20, 28, 31, 33, 47, 63, 71]) {
        const xRows = 40,
          ldy = n + 3;
        const { rp, ci, vv } = randomCsr(rows, xRows, rows * 977 + n);
        const pr = put(rp, 'i32'),
          pc = put(ci, 'i32'),
          pv = put(vv),
          px = put(randn(xRows * n, n + 3));
        const bias = put(randn(n, n + 17));
        const c0 = n > 5 ? 4 : 0;
        for (const relu of [0, 1]) {
          const py = outBuf(rows * ldy),
            pu = outBuf(rows * ldy);
          const call = (b: KernelBackend, r0: number, r1: number): void =>
            b.spmmCsrBiasRelu(pr, pc, pv, px, n, py, ldy, c0, n, bias, relu, r0, r1);
          const got = runSplit(k, py, rows * ldy, rows, rows >> 1, call);
          // The unfused path: the product, the bias on every row, the ReLU over the stored columns.
          k.spmmCsr(pr, pc, pv, px, n, pu, ldy, c0, n, 0, rows);
          const shifted = (p: number): number => p + c0 * 4;
          k.biasAdd(shifted(pu), ldy, shifted(bias), n - c0, 0, rows);
          if (relu)
            for (let r = 0; r < rows; r++) k.relu(shifted(pu) + r * ldy * 4, shifted(pu) + r * ldy * 4, 0, n - c0);
          expect(bitsEqual(got, f32(pu, rows * ldy))).toBe(true);
          for (let r = 0; r < rows; r++)
            for (let c = 0; c < c0; c++) expect(Number.isNaN(got[r * ldy + c]!)).toBe(true); // columns before c0 untouched
          if (relu)
            for (let r = 0; r < rows; r++)
              for (let c = c0; c < n; c++) expect(got[r * ldy + c]!).toBeGreaterThanOrEqual(0);
          ref.spmmCsrBiasRelu(pr, pc, pv, px, n, pu, ldy, c0, n, bias, relu, 0, rows);
          const stored = (a: Float32Array): Float32Array =>
            Float32Array.from(
              { length: rows * (n - c0) },
              (_, i) => a[Math.floor(i / (n - c0)) * ldy + c0 + (i % (n - c0))]!,
            );
          expectMatch(kind, stored(got), stored(f32(pu, rows * ldy)), 9);
          heap.free(py);
          heap.free(pu);
        }
        for (const p of [pr, pc, pv, px, bias]) heap.free(p);
      }
    }
  });

  it('sddmmCsr: out[e] = G[r]·H[colIdx[e]] over every 16/4/1-column path, padded rows, empty rows', () => {
    // n past 16 and 32 with each count of 4-column steps (0 to 3) and of tail columns.
    for (const rows of [0, 1, 5, 17, 100]) {
      for (const n of [...SIZES, 12, 15, 16, 20, 28, 31, 33, 47, 63]) {
        for (const hRows of [1, 9, 240]) {
          const { rp, ci } = randomCsr(rows, hRows, rows * 1000 + n + hRows);
          const nnz = ci.length,
            ldg = n + 1,
            ldh = n + 3; // padded rows: the strides are honoured
          const gv = randn(rows * ldg, n + 11),
            hv = randn(hRows * ldh, n + 13);
          const pr = put(rp, 'i32'),
            pc = put(ci, 'i32'),
            pg = put(gv),
            ph = put(hv);
          const po = outBuf(nnz);
          const call = (b: KernelBackend, r0: number, r1: number): void =>
            b.sddmmCsr(pr, pc, pg, ldg, ph, ldh, n, po, r0, r1);
          const got = runSplit(k, po, nnz, rows, rows >> 1, call);
          ref.sddmmCsr(pr, pc, pg, ldg, ph, ldh, n, po, 0, rows);
          expectMatch(kind, got, f32(po, nnz), n);
          // Against the exact dot in f64: within n roundings of the magnitudes summed.
          for (let r = 0; r < rows; r++) {
            for (let e = rp[r]!; e < rp[r + 1]!; e++) {
              let exact = 0,
                mag = 0;
              for (let c = 0; c < n; c++) {
                const p = gv[r * ldg + c]! * hv[ci[e]! * ldh + c]!;
                exact += p;
                mag += Math.abs(p);
              }
              if (!(Math.abs(got[e]! - exact) <= n * 2 ** -23 * mag))
                throw new Error(`rows ${rows}, n ${n}: out[${e}] = ${got[e]}, exact ${exact}`);
            }
          }
          for (const p of [pr, pc, pg, ph, po]) heap.free(p);
        }
      }
    }
  });

  for (const form of ['gemmNN', 'gemmTN', 'gemmNT'] as const) {
    it(`${form}: every m, n, k remainder path`, () => {
      for (const m of [0, 1, 3, 4, 5, 9, 17]) {
        for (const n of SIZES) {
          for (const kk of [0, 1, 3, 4, 7, 8, 100]) {
            const a = put(randn(m * kk, m + n + kk));
            const b = put(randn(kk * n, m * n + kk + 1));
            const c = outBuf(m * n);
            const lda = form === 'gemmTN' ? m : kk,
              ldb = form === 'gemmNT' ? kk : n;
            const call = (be: KernelBackend, r0: number, r1: number): void =>
              be[form](a, lda, b, ldb, c, n, n, kk, r0, r1);
            const got = runSplit(k, c, m * n, m, Math.min(m, 5), call);
            ref[form](a, lda, b, ldb, c, n, n, kk, 0, m);
            expectMatch(kind, got, f32(c, m * n), kk);
            heap.free(a);
            heap.free(b);
            heap.free(c);
          }
        }
      }
    });
  }

  // K-blocked GEMM: NN runs passes of 2^17 / n rows of k and TN passes of 24, reloading
  // partial sums; long k at small n crosses several pass boundaries (n = 64: 2048-row passes).
  for (const form of ['gemmNN', 'gemmTN', 'gemmNT'] as const) {
    it(`${form}: long k across the cache-blocking passes, split at 4 and 5 rows`, () => {
      for (const [m, n, kk] of [
        [6, 64, 4500],
        [9, 17, 9000],
        [5, 256, 1100],
        [13, 8, 300],
      ] as const) {
        const a = put(randn(m * kk, 11 + m)),
          b = put(randn(kk * n, 12 + n));
        const c = outBuf(m * n);
        const lda = form === 'gemmTN' ? m : kk,
          ldb = form === 'gemmNT' ? kk : n;
        const call = (be: KernelBackend, r0: number, r1: number): void => be[form](a, lda, b, ldb, c, n, n, kk, r0, r1);
        runSplit(k, c, m * n, m, 4, call);
        const got = runSplit(k, c, m * n, m, 5, call);
        ref[form](a, lda, b, ldb, c, n, n, kk, 0, m);
        expectMatch(kind, got, f32(c, m * n), kk);
        heap.free(a);
        heap.free(b);
        heap.free(c);
      }
    });
  }

  it('elementwise kernels: relu, reluBackward, scale, axpy, addInto, fill, copy, biasAdd, colSum', () => {
    for (const n of SIZES) {
      const x = put(randn(n, n)),
        g = put(randn(n, n + 1));
      const cases: [string, (b: KernelBackend, out: number, s: number, e: number) => void][] = [
        ['relu', (b, out, s, e) => b.relu(x, out, s, e)],
        ['reluBackward', (b, out, s, e) => b.reluBackward(x, g, out, s, e)],
        ['scale', (b, out, s, e) => b.scale(x, -1.7, out, s, e)],
        ['fill', (b, out, s, e) => b.fillF32(out, 3.25, s, e)],
        ['copy', (b, out, s, e) => b.copyF32(x, out, s, e)],
      ];
      for (const [, fn] of cases) {
        const out = outBuf(n);
        const got = runSplit(k, out, n, n, 5, (b, s, e) => fn(b, out, s, e));
        fn(ref, out, 0, n);
        expect(bitsEqual(got, f32(out, n))).toBe(true);
        heap.free(out);
      }
      for (const op of ['axpy', 'addInto'] as const) {
        const y0 = randn(n, 99);
        const y = put(y0);
        const apply = (b: KernelBackend, s: number, e: number): void =>
          op === 'axpy' ? b.axpy(0.3, x, y, s, e) : b.addInto(x, y, s, e);
        apply(k, 0, Math.min(3, n));
        apply(k, Math.min(3, n), n);
        const got = f32(y, n);
        new Float32Array(heap.memory.buffer, y, n).set(y0);
        apply(ref, 0, n);
        expect(bitsEqual(got, f32(y, n))).toBe(true);
        heap.free(y);
      }
      expect(k.sumF32(x, n)).toBeCloseTo(ref.sumF32(x, n), 10);
      heap.free(x);
      heap.free(g);
    }
    for (const rows of [0, 1, 5, 17]) {
      for (const cols of SIZES) {
        const y0 = randn(rows * cols, rows + cols),
          bias = put(randn(cols, 5));
        const y = put(y0);
        k.biasAdd(y, cols, bias, cols, 0, rows);
        const got = f32(y, rows * cols);
        new Float32Array(heap.memory.buffer, y, rows * cols).set(y0);
        ref.biasAdd(y, cols, bias, cols, 0, rows);
        expect(bitsEqual(got, f32(y, rows * cols))).toBe(true);
        // biasAddRelu: one pass with the bits of biasAdd then relu, and the reference's.
        const fused = put(y0);
        const half = rows >> 1; // in place, so the split runs as two calls on one fresh copy
        k.biasAddRelu(fused, cols, bias, cols, 0, half);
        k.biasAddRelu(fused, cols, bias, cols, half, rows);
        const unfused = put(got);
        k.relu(unfused, unfused, 0, rows * cols);
        expect(bitsEqual(f32(fused, rows * cols), f32(unfused, rows * cols))).toBe(true);
        new Float32Array(heap.memory.buffer, fused, rows * cols).set(y0);
        ref.biasAddRelu(fused, cols, bias, cols, 0, rows);
        expect(bitsEqual(f32(fused, rows * cols), f32(unfused, rows * cols))).toBe(true);
        heap.free(fused);
        heap.free(unfused);
        const out = outBuf(cols);
        const sums = runSplit(k, out, cols, cols, 4, (b, s, e) => b.colSum(y, cols, out, rows, s, e));
        ref.colSum(y, cols, out, rows, 0, cols);
        expect(bitsEqual(sums, f32(out, cols))).toBe(true);
        // reluBackwardColSum: a ReLU output with zeros, the gradient gy = y's values + NaN-free
        // noise; gx and the sums must be reluBackward's and colSum's bits, split by columns.
        const yr0 = randn(rows * cols, rows * 7 + cols).map((v, i) => (i % 5 === 0 ? 0 : Math.max(v, 0)));
        const yr = put(yr0),
          gy = put(randn(rows * cols, cols * 3 + 1)),
          gx = outBuf(rows * cols),
          out2 = outBuf(cols);
        const want = outBuf(rows * cols),
          wantSums = outBuf(cols);
        k.reluBackward(yr, gy, want, 0, rows * cols);
        k.colSum(want, cols, wantSums, rows, 0, cols);
        const cut = Math.min(cols, 5);
        k.reluBackwardColSum(yr, gy, gx, cols, out2, rows, 0, cut);
        k.reluBackwardColSum(yr, gy, gx, cols, out2, rows, cut, cols);
        expect(bitsEqual(f32(gx, rows * cols), f32(want, rows * cols))).toBe(true);
        expect(bitsEqual(f32(out2, cols), f32(wantSums, cols))).toBe(true);
        new Float32Array(heap.memory.buffer, gx, rows * cols).fill(NaN);
        ref.reluBackwardColSum(yr, gy, gx, cols, out2, rows, 0, cols);
        expect(bitsEqual(f32(gx, rows * cols), f32(want, rows * cols))).toBe(true);
        expect(bitsEqual(f32(out2, cols), f32(wantSums, cols))).toBe(true);
        for (const t of [yr, gy, gx, out2, want, wantSums]) heap.free(t);
        heap.free(y);
        heap.free(bias);
        heap.free(out);
      }
    }
  });

  it('dropout: mask from the counter-based hash, keep rate, scaling, backward', () => {
    const n = 100_003;
    const x = put(randn(n, 3));
    const y = outBuf(n),
      mask = put(new Uint8Array(n), 'u8');
    const p = 0.5,
      thr = Math.round((1 - p) * 2 ** 32);
    k.dropoutForward(x, y, mask, 12345, -777, thr, 2, 0, 50_001);
    k.dropoutForward(x, y, mask, 12345, -777, thr, 2, 50_001, n);
    const m = u8(mask, n),
      yv = f32(y, n),
      xv = f32(x, n);
    let kept = 0;
    for (let i = 0; i < n; i++) {
      const want = dropoutHash(i, 12345, -777) < thr ? 1 : 0;
      if (m[i] !== want) throw new Error(`mask[${i}] = ${m[i]}, hash says ${want}`);
      kept += want;
      expect(yv[i]).toBe(want ? Math.fround(xv[i]! * 2) : 0);
    }
    // Binomial(n, 0.5): 5 sigma is about 790.
    expect(Math.abs(kept - n / 2)).toBeLessThan(800);
    const gx = outBuf(n);
    k.dropoutBackward(x, mask, gx, 2, 0, n);
    const gv = f32(gx, n);
    for (let i = 0; i < n; i += 997) expect(gv[i]).toBe(m[i] ? Math.fround(xv[i]! * 2) : 0);
    // A different key gives a different mask.
    k.dropoutForward(x, y, mask, 12346, -777, thr, 2, 0, n);
    const m2 = u8(mask, n);
    let same = 0;
    for (let i = 0; i < n; i++) same += m2[i] === m[i] ? 1 : 0;
    expect(Math.abs(same - n / 2)).toBeLessThan(800);
    for (const ptr of [x, y, mask, gx]) heap.free(ptr);
  });

  it('softmax cross-entropy, MSE and BCE-with-logits match the reference and finite differences', () => {
    for (const [n, c] of [
      [1, 1],
      [5, 3],
      [17, 7],
      [100, 40],
    ] as const) {
      const logits = randn(n * c, n + c).map((v) => v * 3);
      const lp = put(logits);
      const labels = put(
        Int32Array.from({ length: n }, (_, i) => (i * 7) % c),
        'i32',
      );
      const mask = put(
        Uint8Array.from({ length: n }, (_, i) => (i % 3 === 1 ? 0 : 1)),
        'u8',
      );
      const targets = put(Float32Array.from({ length: n * c }, (_, i) => (i % 5 === 0 ? 1 : 0)));
      const lmask = put(
        Uint8Array.from({ length: n * c }, (_, i) => (i % 4 === 3 ? 0 : 1)),
        'u8',
      );
      const pw = put(Float32Array.from({ length: c }, (_, i) => 1 + i / 2));
      const run = (name: string, b: KernelBackend, g: number, rows: number, s: number, e: number): void => {
        if (name === 'ce') b.softmaxCrossEntropy(lp, c, labels, mask, c, g, c, rows, 0.1, s, e);
        else if (name === 'mse') b.mseLoss(lp, c, targets, c, mask, c, g, c, rows, 0.1, s, e);
        else b.bceWithLogits(lp, c, targets, c, lmask, pw, c, g, c, rows, 0.1, s, e);
      };
      for (const name of ['ce', 'mse', 'bce']) {
        const g = outBuf(n * c),
          rows = outBuf(n);
        run(name, k, g, rows, 0, n >> 1);
        run(name, k, g, rows, n >> 1, n);
        const gotG = f32(g, n * c),
          gotL = f32(rows, n);
        run(name, ref, g, rows, 0, n);
        expect(closeness(gotG, f32(g, n * c), 1e-7, 1e-6)).toBeLessThanOrEqual(1);
        expect(closeness(gotL, f32(rows, n), 1e-6, 1e-6)).toBeLessThanOrEqual(1);
        // Finite differences of 0.1 · Σ row losses (in f64 through the reference formula).
        const total = (): number => {
          run(name, ref, g, rows, 0, n);
          return 0.1 * ref.sumF32(rows, n);
        };
        const view = new Float32Array(heap.memory.buffer, lp, n * c);
        for (const i of [0, Math.floor((n * c) / 2), n * c - 1]) {
          const h = 1e-2,
            v0 = view[i]!;
          view[i] = v0 + h;
          const up = total();
          view[i] = v0 - h;
          const down = total();
          view[i] = v0;
          expect(Math.abs(gotG[i]! - (up - down) / (2 * h))).toBeLessThan(2e-3);
        }
        heap.free(g);
        heap.free(rows);
      }
      for (const ptr of [lp, labels, mask, targets, lmask, pw]) heap.free(ptr);
    }
    // Uniform logits: cross-entropy is log(classes).
    const lp = put(new Float32Array(7)),
      lab = put([3], 'i32'),
      g = outBuf(7),
      rows = outBuf(1);
    k.softmaxCrossEntropy(lp, 7, lab, 0, 7, g, 7, rows, 1, 0, 1);
    expect(f32(rows, 1)[0]).toBeCloseTo(Math.log(7), 6);
  });

  it('Adam, AdamW and SGD (momentum, Nesterov) steps match the reference', () => {
    for (const n of SIZES) {
      const w0 = randn(n, 1),
        g0 = randn(n, 2),
        m0 = randn(n, 3),
        v0 = randn(n, 4).map(Math.abs);
      const apply = (b: KernelBackend, which: number): Float32Array => {
        const w = put(w0),
          g = put(g0),
          m = put(m0),
          v = put(v0);
        if (which === 0) b.adamStep(w, g, m, v, 0.01, 0.9, 0.999, 1e-8, 5e-4, 0, 0.01 / 0.1, Math.sqrt(0.001), 0, n);
        else if (which === 1)
          b.adamStep(w, g, m, v, 0.01, 0.9, 0.999, 1e-8, 0.01, 1, 0.01 / 0.1, Math.sqrt(0.001), 0, n);
        else b.sgdStep(w, g, m, 0.1, 0.9, 0.1, 1e-3, which === 3 ? 1 : 0, 0, 0, n);
        const out = Float32Array.from([...f32(w, n), ...f32(m, n), ...f32(v, n)]);
        for (const p of [w, g, m, v]) heap.free(p);
        return out;
      };
      for (const which of [0, 1, 2, 3]) expect(bitsEqual(apply(k, which), apply(ref, which))).toBe(true);
    }
    // First Adam step moves each weight by about lr · sign(g).
    const w = put([1, 1]),
      g = put([0.5, -2]),
      m = put([0, 0]),
      v = put([0, 0]);
    k.adamStep(w, g, m, v, 0.01, 0.9, 0.999, 1e-8, 0, 0, 0.01 / 0.1, Math.sqrt(0.001), 0, 2);
    expect(f32(w, 2)[0]).toBeCloseTo(0.99, 6);
    expect(f32(w, 2)[1]).toBeCloseTo(1.01, 6);
  });

  it('segment pooling (sum, mean, max) and its backward, with empty graphs', () => {
    const offsets = [0, 3, 3, 4, 9, 9, 17];
    const nodes = 17;
    for (const cols of [1, 4, 5, 17]) {
      const x = put(randn(nodes * cols, cols)),
        off = put(offsets, 'i32');
      const graphs = offsets.length - 1;
      for (const mode of [0, 1, 2]) {
        const out = outBuf(graphs * cols),
          am = put(new Int32Array(graphs * cols), 'i32');
        const got = runSplit(k, out, graphs * cols, graphs, 3, (b, s, e) =>
          b.segmentPool(x, cols, off, out, cols, am, cols, mode, s, e),
        );
        const gotAm = i32(am, graphs * cols);
        ref.segmentPool(x, cols, off, out, cols, am, cols, mode, 0, graphs);
        expect(bitsEqual(got, f32(out, graphs * cols))).toBe(true);
        expect(bitsEqual(gotAm, i32(am, graphs * cols))).toBe(true);
        // Empty graphs pool to 0.
        expect(got[1 * cols]).toBe(0);
        const gOut = put(randn(graphs * cols, 11)),
          gx = outBuf(nodes * cols);
        const gotGx = runSplit(k, gx, nodes * cols, graphs, 2, (b, s, e) =>
          b.segmentPoolBackward(gOut, cols, off, gx, cols, am, cols, mode, s, e),
        );
        ref.segmentPoolBackward(gOut, cols, off, gx, cols, am, cols, mode, 0, graphs);
        expect(bitsEqual(gotGx, f32(gx, nodes * cols))).toBe(true);
        for (const p of [out, am, gOut, gx]) heap.free(p);
      }
      heap.free(x);
      heap.free(off);
    }
    // Ties: the first row holding the maximum wins (and gets the whole gradient).
    const x = put([2, 5, 5, 1]),
      off = put([0, 4], 'i32'),
      out = outBuf(1),
      am = put([0], 'i32');
    k.segmentPool(x, 1, off, out, 1, am, 1, 2, 0, 1);
    expect(f32(out, 1)[0]).toBe(5);
    expect(i32(am, 1)[0]).toBe(1);
    for (const p of [x, off, out, am]) heap.free(p);
  });

  it('stream triad', () => {
    for (const n of SIZES) {
      const a = outBuf(n),
        b = put(randn(n, 1)),
        c = put(randn(n, 2));
      const got = runSplit(k, a, n, n, 7, (be, s, e) => be.streamTriad(a, b, c, 3, s, e));
      ref.streamTriad(a, b, c, 3, 0, n);
      expect(bitsEqual(got, f32(a, n))).toBe(true);
      heap.free(a);
      heap.free(b);
      heap.free(c);
    }
  });
});

// The public op over the worker pool: rows split by nonzeros must not change a bit, and the
// result is the gradient it claims to be: Σ_e vals[e]·out[e] = Σ G ∘ (A·H) (both bilinear).
describe.each(availableBackends())('sddmm op on the %s backend', (backend) => {
  it('1 and 2 threads give the same bits, equal to the kernel run whole, and the gradient identity holds', async () => {
    const results: Float32Array[] = [];
    for (const threads of [1, 2]) {
      const rt = await Runtime.create({ threads, backend });
      try {
        const h = rt.heap;
        const adj = randomGraph(h, 3000, 8, 1);
        const g = randomMatrix(h, 3000, 37, 2),
          x = randomMatrix(h, 3000, 37, 3);
        const out = await sddmm(rt.exec, adj, g, x);
        const got = out.data().slice() as Float32Array;
        results.push(got);
        // One kernel call over all rows, on this thread, with the same backend kind.
        const one = Tensor.from(h, 'float32', [adj.nnz], new Float32Array(adj.nnz).fill(NaN));
        const be = backend === 'js' ? createReferenceBackend(h.memory) : createBackend(backend, h.memory);
        be.sddmmCsr(adj.rowPtr.ptr, adj.colIdx.ptr, g.ptr, 37, x.ptr, 37, 37, one.ptr, 0, adj.rows);
        expect(bitsEqual(got, one.data().slice() as Float32Array)).toBe(true);
        const y = await spmm(rt.exec, adj, x);
        const vals = adj.vals.data(),
          gd = g.data(),
          yd = y.data();
        let lhs = 0,
          rhs = 0,
          mag = 0;
        for (let e = 0; e < adj.nnz; e++) {
          lhs += vals[e]! * got[e]!;
          mag += Math.abs(vals[e]! * got[e]!);
        }
        for (let i = 0; i < gd.length; i++) rhs += gd[i]! * yd[i]!;
        expect(Math.abs(lhs - rhs)).toBeLessThan(1e-5 * mag);
        for (const t of [out, one, g, x, y]) t.free();
        adj.free();
      } finally {
        await rt.close();
      }
    }
    expect(results[0]!.length).toBeGreaterThan(20_000);
    expect(bitsEqual(results[0]!, results[1]!)).toBe(true);
  });
});
