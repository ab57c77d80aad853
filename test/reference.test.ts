// The 'js' backend (src/reference) against independent naive float64 formulas written from
// the kernels' definitions: not against itself, not against the WASM builds (kernels.test.ts
// holds those to this reference, so this file is what anchors all three to the math). Each
// kernel also must leave everything outside its work range untouched.
import { afterAll, describe, expect, it } from 'vitest';
import { createReferenceBackend } from '../src/reference/index.js';
import { Heap } from '../src/memory/heap.js';
import { closeness, randn, rng, SIZES } from './helpers.js';

const heap = new Heap({ initialBytes: 16 << 20 });
const ref = createReferenceBackend(heap.memory);
afterAll(() => {
  expect(heap.stats().blocks).toBe(0);
});

type Kind = 'f32' | 'i32' | 'u8';

/** Allocations of one test, all freed at its end. */
class Scope {
  private ptrs: number[] = [];
  put(values: ArrayLike<number>, kind: Kind = 'f32'): number {
    const bytes = kind === 'u8' ? 1 : 4;
    const ptr = heap.alloc(Math.max(1, values.length) * bytes);
    this.ptrs.push(ptr);
    view(ptr, values.length, kind).set(values);
    return ptr;
  }
  /** An output buffer filled with NaN, so an element the kernel misses (or should not touch) shows. */
  out(n: number): number {
    return this.put(new Float32Array(n).fill(NaN));
  }
  free(): void {
    for (const p of this.ptrs) heap.free(p);
    this.ptrs = [];
  }
}
function view(ptr: number, n: number, kind: Kind = 'f32'): Float32Array | Int32Array | Uint8Array {
  const buf = heap.memory.buffer;
  return kind === 'f32'
    ? new Float32Array(buf, ptr, n)
    : kind === 'i32'
      ? new Int32Array(buf, ptr, n)
      : new Uint8Array(buf, ptr, n);
}
const f32 = (ptr: number, n: number): Float32Array => (view(ptr, n) as Float32Array).slice();
const i32 = (ptr: number, n: number): Int32Array => (view(ptr, n, 'i32') as Int32Array).slice();
const u8 = (ptr: number, n: number): Uint8Array => (view(ptr, n, 'u8') as Uint8Array).slice();

function scoped(fn: (s: Scope) => void): () => void {
  return () => {
    const s = new Scope();
    try {
      fn(s);
    } finally {
      s.free();
    }
  };
}

/** Relative 1e-5·(L+1) with an absolute floor of 1e-6·(L+1), L the reduction length. */
function near(got: ArrayLike<number>, want: ArrayLike<number>, reduceLen = 0): void {
  expect(closeness(got, want, 1e-6 * (reduceLen + 1), 1e-5 * (reduceLen + 1))).toBeLessThanOrEqual(1);
}
/** Every element of `a` outside [e0, e1) is still NaN. */
function untouched(a: Float32Array, e0: number, e1: number): void {
  for (let i = 0; i < a.length; i++) if (i < e0 || i >= e1) expect(a[i]).toBeNaN();
}

describe('reference gemm', () => {
  for (const form of ['gemmNN', 'gemmTN', 'gemmNT'] as const) {
    it(
      `${form}: C = op(A)·op(B) in f64, padded leading dimensions, partial row ranges`,
      scoped((s) => {
        for (const m of [0, 1, 3, 5, 17]) {
          for (const n of [0, 1, 4, 5, 9, 17]) {
            for (const k of [0, 1, 7, 8, 100]) {
              // Row-major storage with padding: A is [m, k] (NN, NT) or [k, m] (TN), B is [k, n] (NN, TN) or [n, k] (NT).
              const aRows = form === 'gemmTN' ? k : m,
                aCols = form === 'gemmTN' ? m : k;
              const bRows = form === 'gemmNT' ? n : k,
                bCols = form === 'gemmNT' ? k : n;
              const lda = aCols + 3,
                ldb = bCols + 2,
                ldc = n + 1;
              const A = randn(aRows * lda, m * 31 + n * 7 + k),
                B = randn(bRows * ldb, m + n * 13 + k * 3 + 1);
              const a = s.put(A),
                b = s.put(B),
                c = s.out(m * ldc);
              const r0 = m > 2 ? 1 : 0,
                r1 = m > 2 ? m - 1 : m;
              ref[form](a, lda, b, ldb, c, ldc, n, k, r0, r1);
              const got = f32(c, m * ldc);
              const want = new Float64Array(m * ldc).fill(NaN);
              for (let i = r0; i < r1; i++) {
                for (let j = 0; j < n; j++) {
                  let sum = 0;
                  for (let p = 0; p < k; p++) {
                    const av = form === 'gemmTN' ? A[p * lda + i]! : A[i * lda + p]!;
                    const bv = form === 'gemmNT' ? B[j * ldb + p]! : B[p * ldb + j]!;
                    sum += av * bv;
                  }
                  want[i * ldc + j] = sum;
                }
              }
              // Padding columns of C and rows outside [r0, r1) stay as they were.
              for (let i = 0; i < m * ldc; i++) {
                if (Number.isNaN(want[i]!)) expect(got[i]).toBeNaN();
              }
              const sel = (x: ArrayLike<number>): number[] => Array.from(x).filter((_, i) => !Number.isNaN(want[i]!));
              near(sel(got), sel(want), k);
            }
          }
        }
      }),
    );
  }

  it(
    'gemmNN on a hand-computed 2×3 · 3×2 product',
    scoped((s) => {
      const a = s.put([1, 2, 3, 4, 5, 6]),
        b = s.put([7, 8, 9, 10, 11, 12]),
        c = s.out(4);
      ref.gemmNN(a, 3, b, 2, c, 2, 2, 3, 0, 2);
      expect(Array.from(f32(c, 4))).toEqual([58, 64, 139, 154]);
    }),
  );
});

describe('reference spmmCsr', () => {
  it(
    'Y = A·X with empty rows, padded ld, row and column ranges',
    scoped((s) => {
      for (const rows of [0, 1, 5, 17, 100]) {
        for (const n of SIZES) {
          const xRows = 9,
            r = rng(rows * 1000 + n);
          const rp = [0],
            ci: number[] = [],
            vv: number[] = [];
          for (let i = 0; i < rows; i++) {
            const deg = r() < 0.3 ? 0 : Math.floor(r() * 6);
            for (let d = 0; d < deg; d++) {
              ci.push(Math.floor(r() * xRows));
              vv.push(r() * 2 - 1);
            }
            rp.push(ci.length);
          }
          const ldx = n + 2,
            ldy = n + 1;
          const X = randn(xRows * ldx, n + 5);
          const prp = s.put(rp, 'i32'),
            pci = s.put(ci, 'i32'),
            pvv = s.put(vv),
            px = s.put(X),
            py = s.out(rows * ldy);
          const c0 = n > 4 ? 2 : 0,
            c1 = n > 4 ? n - 1 : n,
            r0 = rows > 3 ? 1 : 0,
            r1 = rows;
          ref.spmmCsr(prp, pci, pvv, px, ldx, py, ldy, c0, c1, r0, r1);
          const got = f32(py, rows * ldy);
          for (let i = 0; i < rows; i++) {
            for (let c = 0; c < ldy; c++) {
              const v = got[i * ldy + c]!;
              if (i < r0 || c < c0 || c >= c1) {
                expect(v).toBeNaN();
                continue;
              }
              let sum = 0;
              for (let k = rp[i]!; k < rp[i + 1]!; k++) sum += Math.fround(vv[k]!) * X[ci[k]! * ldx + c]!;
              if (rp[i] === rp[i + 1]) expect(v).toBe(0); // an empty row writes zeros
              expect(Math.abs(v - sum)).toBeLessThanOrEqual(1e-5 * 7 * (1 + Math.abs(sum)));
            }
          }
        }
      }
    }),
  );
});

describe('reference elementwise kernels', () => {
  it(
    'relu, reluBackward, scale, axpy, addInto, fillF32, copyF32, streamTriad over SIZES and partial ranges',
    scoped((s) => {
      for (const n of SIZES) {
        const X = randn(n, n + 1),
          G = randn(n, n + 2),
          Y0 = randn(n, n + 3);
        if (n > 3) {
          X[1] = 0;
          X[2] = -0;
        } // relu's boundary: 0 is not > 0
        const x = s.put(X),
          g = s.put(G);
        const e0 = n > 2 ? 1 : 0,
          e1 = n > 2 ? n - 1 : n;
        const check = (run: (out: number) => void, want: (i: number) => number, init?: Float32Array): void => {
          const out = init ? s.put(init) : s.out(n);
          run(out);
          const got = f32(out, n);
          for (let i = 0; i < n; i++) {
            if (i < e0 || i >= e1) {
              if (init) expect(got[i]).toBe(init[i]);
              else expect(got[i]).toBeNaN();
            }
          }
          near(
            got.subarray(e0, e1),
            Array.from({ length: e1 - e0 }, (_, i) => want(i + e0)),
            1,
          );
        };
        check(
          (o) => ref.relu(x, o, e0, e1),
          (i) => Math.max(0, X[i]!),
        );
        check(
          (o) => ref.reluBackward(x, g, o, e0, e1),
          (i) => (X[i]! > 0 ? G[i]! : 0),
        );
        check(
          (o) => ref.scale(x, -1.7, o, e0, e1),
          (i) => -1.7 * X[i]!,
        );
        check(
          (o) => ref.axpy(0.3, x, o, e0, e1),
          (i) => Y0[i]! + 0.3 * X[i]!,
          Y0,
        );
        check(
          (o) => ref.addInto(x, o, e0, e1),
          (i) => Y0[i]! + X[i]!,
          Y0,
        );
        check(
          (o) => ref.fillF32(o, 3.25, e0, e1),
          () => 3.25,
        );
        check(
          (o) => ref.copyF32(x, o, e0, e1),
          (i) => X[i]!,
        );
        check(
          (o) => ref.streamTriad(o, x, g, 2.5, e0, e1),
          (i) => X[i]! + 2.5 * G[i]!,
        );
        // sumF32 is a plain sum of n elements.
        expect(Math.abs(ref.sumF32(x, n) - X.reduce((a, b) => a + b, 0))).toBeLessThanOrEqual(1e-6 * (n + 1));
      }
      // Hand-computed.
      const h = s.put([1, -2, 3.5, -0.5]),
        o = s.out(4);
      ref.relu(h, o, 0, 4);
      expect(Array.from(f32(o, 4))).toEqual([1, 0, 3.5, 0]);
      expect(ref.sumF32(h, 4)).toBe(2);
    }),
  );

  it(
    'biasAdd and colSum over rows × cols, padded ld, partial ranges',
    scoped((s) => {
      for (const rows of [0, 1, 5, 17]) {
        for (const cols of SIZES) {
          const ld = cols + 2;
          const Y0 = randn(rows * ld, rows + cols),
            B = randn(cols, 5);
          const y = s.put(Y0),
            bias = s.put(B);
          const r0 = rows > 2 ? 1 : 0;
          ref.biasAdd(y, ld, bias, cols, r0, rows);
          const got = f32(y, rows * ld);
          for (let r = 0; r < rows; r++) {
            for (let c = 0; c < ld; c++) {
              const i = r * ld + c;
              if (r < r0 || c >= cols) expect(got[i]).toBe(Y0[i]);
              else
                expect(Math.abs(got[i]! - (Y0[i]! + B[c]!))).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(Y0[i]! + B[c]!)));
            }
          }
          const out = s.out(cols + 1);
          const c0 = cols > 3 ? 1 : 0;
          ref.colSum(y, ld, out, rows, c0, cols);
          const sums = f32(out, cols + 1);
          untouched(sums, c0, cols);
          const want = Array.from({ length: cols - c0 }, (_, j) => {
            let t = 0;
            for (let r = 0; r < rows; r++) t += got[r * ld + j + c0]!;
            return t;
          });
          near(sums.subarray(c0, cols), want, rows);
        }
      }
    }),
  );
});

describe('reference losses', () => {
  const cases = [
    [1, 1],
    [1, 3],
    [5, 4],
    [17, 7],
    [100, 9],
  ] as const;

  it(
    'softmaxCrossEntropy: loss rows and gradient against log-sum-exp, with and without a mask',
    scoped((s) => {
      for (const [n, c] of cases) {
        const ld = c + 1,
          inv = 0.37;
        const L = randn(n * ld, n * c).map((v) => v * 4);
        const labels = Int32Array.from({ length: n }, (_, i) => (i * 5 + 2) % c);
        const mask = Uint8Array.from({ length: n }, (_, i) => (i % 3 === 2 ? 0 : 1));
        for (const masked of [false, true]) {
          const lp = s.put(L),
            lab = s.put(labels, 'i32'),
            mp = masked ? s.put(mask, 'u8') : 0;
          const grad = s.out(n * ld),
            rows = s.out(n);
          ref.softmaxCrossEntropy(lp, ld, lab, mp, c, grad, ld, rows, inv, 0, n);
          const g = f32(grad, n * ld),
            lr = f32(rows, n);
          for (let i = 0; i < n; i++) {
            const x = Array.from({ length: c }, (_, j) => L[i * ld + j]!);
            const on = !masked || mask[i] === 1;
            const lse = Math.log(x.reduce((a, v) => a + Math.exp(v), 0));
            near([lr[i]!], [on ? lse - x[labels[i]!]! : 0], c);
            const wantG = x.map((v, j) => (on ? (Math.exp(v - lse) - (j === labels[i] ? 1 : 0)) * inv : 0));
            near(g.subarray(i * ld, i * ld + c), wantG, c);
            expect(g[i * ld + c]).toBeNaN(); // padding column
            if (!on) expect(lr[i]).toBe(0);
          }
        }
      }
      // Uniform logits over 4 classes: loss ln 4, gradient (1/4 - onehot)·inv.
      const lp = s.put([0, 0, 0, 0]),
        lab = s.put([1], 'i32'),
        g = s.out(4),
        r = s.out(1);
      ref.softmaxCrossEntropy(lp, 4, lab, 0, 4, g, 4, r, 1, 0, 1);
      expect(f32(r, 1)[0]).toBeCloseTo(Math.log(4), 6);
      near(f32(g, 4), [0.25, -0.75, 0.25, 0.25]);
    }),
  );

  it(
    'mseLoss: loss rows Σ(p - t)² and gradient 2(p - t)·inv, masked rows zero',
    scoped((s) => {
      for (const [n, c] of cases) {
        const ld = c + 2,
          inv = 1 / (n * c);
        const P = randn(n * ld, n + c),
          T = randn(n * ld, n + c + 9);
        const mask = Uint8Array.from({ length: n }, (_, i) => (i % 4 === 1 ? 0 : 1));
        for (const masked of [false, true]) {
          const pp = s.put(P),
            tp = s.put(T),
            mp = masked ? s.put(mask, 'u8') : 0,
            grad = s.out(n * ld),
            rows = s.out(n);
          ref.mseLoss(pp, ld, tp, ld, mp, c, grad, ld, rows, inv, 0, n);
          const g = f32(grad, n * ld),
            lr = f32(rows, n);
          for (let i = 0; i < n; i++) {
            const on = !masked || mask[i] === 1;
            let sq = 0;
            const wantG: number[] = [];
            for (let j = 0; j < c; j++) {
              const d = P[i * ld + j]! - T[i * ld + j]!;
              sq += d * d;
              wantG.push(on ? 2 * d * inv : 0);
            }
            near([lr[i]!], [on ? sq : 0], c);
            near(g.subarray(i * ld, i * ld + c), wantG, 1);
            expect(g[i * ld + c]).toBeNaN();
          }
        }
      }
      const pp = s.put([3, 1]),
        tp = s.put([1, 1]),
        g = s.out(2),
        r = s.out(1);
      ref.mseLoss(pp, 2, tp, 2, 0, 2, g, 2, r, 0.5, 0, 1);
      expect(f32(r, 1)[0]).toBe(4);
      expect(Array.from(f32(g, 2))).toEqual([2, 0]);
    }),
  );

  it(
    'bceWithLogits: -[pw·y·log σ + (1-y)·log(1-σ)] and its derivative, labelMask and posWeight',
    scoped((s) => {
      for (const [n, c] of cases) {
        const inv = 0.21;
        const L = randn(n * c, n * 3 + c).map((v) => v * 3);
        const Y = Float32Array.from({ length: n * c }, (_, i) => (i % 5 === 0 ? 0.3 : i % 2));
        const LM = Uint8Array.from({ length: n * c }, (_, i) => (i % 7 === 3 ? 0 : 1));
        const PW = Float32Array.from({ length: c }, (_, j) => 0.5 + j);
        for (const [useMask, usePw] of [
          [false, false],
          [true, false],
          [false, true],
          [true, true],
        ] as const) {
          const lp = s.put(L),
            yp = s.put(Y),
            mp = useMask ? s.put(LM, 'u8') : 0,
            pwp = usePw ? s.put(PW) : 0;
          const grad = s.out(n * c),
            rows = s.out(n);
          ref.bceWithLogits(lp, c, yp, c, mp, pwp, c, grad, c, rows, inv, 0, n);
          const g = f32(grad, n * c),
            lr = f32(rows, n);
          for (let i = 0; i < n; i++) {
            let loss = 0;
            const wantG: number[] = [];
            for (let j = 0; j < c; j++) {
              const at = i * c + j,
                v = L[at]!,
                y = Y[at]!,
                pw = usePw ? PW[j]! : 1;
              if (useMask && LM[at] === 0) {
                wantG.push(0);
                continue;
              }
              const sig = 1 / (1 + Math.exp(-v));
              loss += -(pw * y * Math.log(sig) + (1 - y) * Math.log(1 - sig));
              wantG.push((pw * y * (sig - 1) + (1 - y) * sig) * inv);
            }
            near([lr[i]!], [loss], c);
            near(g.subarray(i * c, (i + 1) * c), wantG, 1);
          }
        }
      }
      // Large logits stay finite (log-sum-exp form): v = ±60, y = 1 → loss 0 and 60.
      const lp = s.put([60, -60]),
        yp = s.put([1, 1]),
        g = s.out(2),
        r = s.out(1);
      ref.bceWithLogits(lp, 2, yp, 2, 0, 0, 2, g, 2, r, 1, 0, 1);
      expect(f32(r, 1)[0]).toBeCloseTo(60, 4);
      near(f32(g, 2), [0, -1]);
    }),
  );
});

describe('reference optimizers', () => {
  it(
    'sgdStep over 3 steps: PyTorch SGD with momentum, dampening, Nesterov, weight decay',
    scoped((s) => {
      for (const n of SIZES) {
        for (const [mu, damp, wd, nesterov] of [
          [0, 0, 0, 0],
          [0, 0, 0.01, 0],
          [0.9, 0, 0, 0],
          [0.9, 0.1, 1e-3, 0],
          [0.8, 0, 0.05, 1],
        ] as const) {
          const W = Array.from(randn(n, n + 1)),
            lr = 0.1;
          const w = s.put(W),
            buf = mu !== 0 ? s.out(n) : 0;
          const B = new Array<number>(n).fill(0);
          for (let step = 0; step < 3; step++) {
            const G = randn(n, n * 10 + step);
            const g = s.put(G);
            ref.sgdStep(w, g, buf, lr, mu, damp, wd, nesterov, step === 0 ? 1 : 0, 0, n);
            for (let i = 0; i < n; i++) {
              let d = G[i]! + wd * W[i]!;
              if (mu !== 0) {
                B[i] = step === 0 ? d : mu * B[i]! + (1 - damp) * d;
                d = nesterov ? d + mu * B[i]! : B[i]!;
              }
              W[i] = W[i]! - lr * d;
            }
            near(f32(w, n), W, 4);
            if (mu !== 0) near(f32(buf, n), B, 4);
          }
        }
      }
      // Hand-computed: w = 1, g = 0.5, lr = 0.1, no momentum → 0.95.
      const w = s.put([1]),
        g = s.put([0.5]);
      ref.sgdStep(w, g, 0, 0.1, 0, 0, 0, 0, 1, 0, 1);
      expect(f32(w, 1)[0]).toBeCloseTo(0.95, 7);
    }),
  );

  it(
    'adamStep over 4 steps: Adam (L2) and AdamW (decoupled), stepSize = lr/(1-β1^t), sqrtBc2 = sqrt(1-β2^t)',
    scoped((s) => {
      for (const n of SIZES) {
        for (const decoupled of [0, 1]) {
          const lr = 0.01,
            b1 = 0.9,
            b2 = 0.999,
            eps = 1e-8,
            wd = decoupled ? 0.05 : 5e-3;
          const W = Array.from(randn(n, n + 7)),
            M = new Array<number>(n).fill(0),
            V = new Array<number>(n).fill(0);
          const w = s.put(W),
            m = s.put(M),
            v = s.put(V);
          for (let t = 1; t <= 4; t++) {
            const G = randn(n, n * 3 + t);
            const g = s.put(G);
            // As src/ops/optim.ts passes them.
            const bc1 = 1 - b1 ** t,
              bc2 = 1 - b2 ** t;
            ref.adamStep(w, g, m, v, lr, b1, b2, eps, wd, decoupled, lr / bc1, Math.sqrt(bc2), 0, n);
            for (let i = 0; i < n; i++) {
              let gi = G[i]!,
                wi = W[i]!;
              if (decoupled) wi *= 1 - lr * wd;
              else gi += wd * wi;
              M[i] = b1 * M[i]! + (1 - b1) * gi;
              V[i] = b2 * V[i]! + (1 - b2) * gi * gi;
              const mHat = M[i]! / bc1,
                vHat = V[i]! / bc2;
              W[i] = wi - (lr * mHat) / (Math.sqrt(vHat) + eps);
            }
            near(f32(w, n), W, 4);
            near(f32(m, n), M, 4);
            near(f32(v, n), V, 4);
          }
        }
      }
      // First step without decay: each weight moves by lr·sign(g) (up to eps).
      const w = s.put([1, 1]),
        g = s.put([0.5, -2]),
        m = s.put([0, 0]),
        v = s.put([0, 0]);
      ref.adamStep(w, g, m, v, 0.01, 0.9, 0.999, 1e-8, 0, 0, 0.01 / 0.1, Math.sqrt(0.001), 0, 2);
      near(f32(w, 2), [0.99, 1.01]);
    }),
  );
});

describe('reference segment pooling (modes: 0 sum, 1 mean, 2 max; see src/ops/pooling.ts)', () => {
  const offsets = [0, 3, 3, 4, 9, 9, 17, 117];
  const nodes = 117,
    graphs = offsets.length - 1;

  it(
    'forward and backward against per-graph f64 sums, means and first-max',
    scoped((s) => {
      for (const cols of [1, 3, 4, 5, 17]) {
        const ldx = cols + 1,
          ldo = cols + 2;
        const X = randn(nodes * ldx, cols);
        if (cols > 1) {
          X[4 * ldx + 1] = 2;
          X[6 * ldx + 1] = 2;
          X[5 * ldx + 1] = -1;
          X[7 * ldx + 1] = 1;
          X[8 * ldx + 1] = 2;
        } // ties in graph 3
        const x = s.put(X),
          off = s.put(offsets, 'i32');
        const GO = randn(graphs * ldo, cols + 50);
        for (const mode of [0, 1, 2]) {
          const out = s.out(graphs * ldo),
            am = s.put(new Int32Array(graphs * cols).fill(-7), 'i32');
          ref.segmentPool(x, ldx, off, out, ldo, mode === 2 ? am : 0, cols, mode, 0, graphs);
          const got = f32(out, graphs * ldo),
            gotAm = i32(am, graphs * cols);
          const argmax: number[] = [];
          for (let gi = 0; gi < graphs; gi++) {
            const beg = offsets[gi]!,
              end = offsets[gi + 1]!;
            const want: number[] = [];
            for (let c = 0; c < cols; c++) {
              const col = Array.from({ length: end - beg }, (_, r) => X[(beg + r) * ldx + c]!);
              if (mode === 2) {
                const best = col.length ? Math.max(...col) : 0;
                const at = col.length ? beg + col.indexOf(best) : -1;
                want.push(best);
                argmax.push(at);
                expect(gotAm[gi * cols + c]).toBe(at);
              } else {
                const sum = col.reduce((a, b) => a + b, 0);
                want.push(mode === 1 && col.length ? sum / col.length : sum);
              }
            }
            near(got.subarray(gi * ldo, gi * ldo + cols), want, end - beg);
            expect(got[gi * ldo + cols]).toBeNaN();
            if (beg === end)
              expect(Array.from(got.subarray(gi * ldo, gi * ldo + cols))).toEqual(new Array(cols).fill(0));
          }
          if (cols > 1 && mode === 2) expect(gotAm[3 * cols + 1]).toBe(4); // first of the tied rows 4, 6, 8
          const go = s.put(GO),
            gx = s.out(nodes * ldx);
          ref.segmentPoolBackward(go, ldo, off, gx, ldx, mode === 2 ? am : 0, cols, mode, 0, graphs);
          const gotGx = f32(gx, nodes * ldx);
          const wantGx: number[] = [],
            gotSel: number[] = [];
          for (let gi = 0; gi < graphs; gi++) {
            const beg = offsets[gi]!,
              end = offsets[gi + 1]!;
            for (let r = beg; r < end; r++) {
              for (let c = 0; c < cols; c++) {
                const gv = GO[gi * ldo + c]!;
                wantGx.push(mode === 0 ? gv : mode === 1 ? gv / (end - beg) : argmax[gi * cols + c] === r ? gv : 0);
                gotSel.push(gotGx[r * ldx + c]!);
              }
              expect(gotGx[r * ldx + cols]).toBeNaN();
            }
          }
          near(gotSel, wantGx, 1);
        }
      }
    }),
  );

  it(
    'a partial graph range writes only those graphs',
    scoped((s) => {
      const cols = 2;
      const x = s.put(randn(nodes * cols, 1)),
        off = s.put(offsets, 'i32'),
        out = s.out(graphs * cols);
      ref.segmentPool(x, cols, off, out, cols, 0, cols, 0, 2, 5);
      untouched(f32(out, graphs * cols), 2 * cols, 5 * cols);
      const go = s.put(randn(graphs * cols, 2)),
        gx = s.out(nodes * cols);
      ref.segmentPoolBackward(go, cols, off, gx, cols, 0, cols, 1, 3, 4);
      untouched(f32(gx, nodes * cols), offsets[3]! * cols, offsets[4]! * cols);
    }),
  );
});

describe('reference dropout', () => {
  it(
    'keep rate within 4 sigma, kept elements scaled by exactly 1/(1-p), backward uses the same mask',
    scoped((s) => {
      const n = 50_000;
      const X = randn(n, 9);
      const x = s.put(X);
      for (const p of [0.1, 0.5, 0.9]) {
        const keep = 1 - p,
          thr = Math.round(keep * 2 ** 32),
          sc = 1 / keep;
        const y = s.out(n),
          mask = s.put(new Uint8Array(n).fill(7), 'u8');
        ref.dropoutForward(x, y, mask, 0x1234567, -99, thr, sc, 0, n);
        const yv = f32(y, n),
          m = u8(mask, n);
        let kept = 0;
        for (let i = 0; i < n; i++) {
          if (m[i] !== 0 && m[i] !== 1) throw new Error(`mask[${i}] = ${m[i]}`);
          kept += m[i]!;
          const want = m[i] ? Math.fround(X[i]! * Math.fround(sc)) : 0;
          if (yv[i] !== want) throw new Error(`y[${i}] = ${yv[i]}, want ${want}`);
        }
        const sigma = Math.sqrt(n * keep * p);
        expect(Math.abs(kept - n * keep)).toBeLessThan(4 * sigma);
        // The mask is a pure function of (i, key): pieces give the same mask.
        const m2p = s.put(new Uint8Array(n), 'u8'),
          y2 = s.out(n);
        ref.dropoutForward(x, y2, m2p, 0x1234567, -99, thr, sc, 0, 777);
        ref.dropoutForward(x, y2, m2p, 0x1234567, -99, thr, sc, 777, n);
        expect(u8(m2p, n)).toEqual(m);
        // Backward: gx = gy·scale where kept, 0 where dropped.
        const GY = randn(n, 10);
        const gy = s.put(GY),
          gx = s.out(n);
        ref.dropoutBackward(gy, mask, gx, sc, 0, n);
        const gv = f32(gx, n);
        for (let i = 0; i < n; i++) {
          const want = m[i] ? Math.fround(GY[i]! * Math.fround(sc)) : 0;
          if (gv[i] !== want) throw new Error(`gx[${i}] = ${gv[i]}, want ${want}`);
        }
        // Another key: the two masks agree about as often as independent draws would (keep² + p²).
        const m3 = s.put(new Uint8Array(n), 'u8'),
          y3 = s.out(n);
        ref.dropoutForward(x, y3, m3, 0x1234568, -99, thr, sc, 0, n);
        const mm = u8(m3, n);
        let agree = 0;
        for (let i = 0; i < n; i++) agree += mm[i] === m[i] ? 1 : 0;
        const q = keep * keep + p * p;
        expect(Math.abs(agree - n * q)).toBeLessThan(4 * Math.sqrt(n * q * (1 - q)));
      }
    }),
  );

  it(
    'a partial range writes only that range',
    scoped((s) => {
      const n = 100;
      const x = s.put(randn(n, 1)),
        y = s.out(n),
        mask = s.put(new Uint8Array(n).fill(9), 'u8');
      ref.dropoutForward(x, y, mask, 1, 2, 2 ** 31, 2, 10, 90);
      untouched(f32(y, n), 10, 90);
      const m = u8(mask, n);
      for (let i = 0; i < n; i++) expect(i < 10 || i >= 90 ? m[i] === 9 : m[i]! <= 1).toBe(true);
      const gx = s.out(n);
      ref.dropoutBackward(x, mask, gx, 2, 20, 30);
      untouched(f32(gx, n), 20, 30);
    }),
  );
});
