import type { KernelBackend } from '../kernels/backend.js';
import { f, type HeapViews } from './views.js';

// Plain-TypeScript twin of assembly/gemm.ts, same summation orders.

/** One NT element in the order assembly/gemm.ts uses: four lane sums over k, then a fixed horizontal add. */
function ntDot(F: Float32Array, a: number, b: number, k: number): number {
  const k4 = k & ~3;
  const l = [0, 0, 0, 0];
  for (let p = 0; p < k4; p += 4) for (let q = 0; q < 4; q++) l[q] = f(l[q]! + f(F[a + p + q]! * F[b + p + q]!));
  let s = f(f(l[0]! + l[1]!) + f(l[2]! + l[3]!));
  for (let p = k4; p < k; p++) s = f(s + f(F[a + p]! * F[b + p]!));
  return s;
}

/** C[i, j] = Σ_p A(i, p)·B[p, j], one f32 sum over p ascending; A(i, p) at a + i·si + p·sp. */
function sequentialK(
  F: Float32Array,
  a: number,
  si: number,
  sp: number,
  b: number,
  ldb: number,
  c: number,
  ldc: number,
  n: number,
  k: number,
  m0: number,
  m1: number,
): void {
  const ab = a >> 2,
    bb = b >> 2,
    cb = c >> 2;
  for (let i = m0; i < m1; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s = f(s + f(F[ab + i * si + p * sp]! * F[bb + p * ldb + j]!));
      F[cb + i * ldc + j] = s;
    }
  }
}

export function gemmKernels(views: HeapViews): Pick<KernelBackend, 'gemmNN' | 'gemmTN' | 'gemmNT'> {
  return {
    // NN reads A[i, p] at i·lda + p, TN reads Aᵀ's at p·lda + i; the sum is the same.
    gemmNN(a, lda, b, ldb, c, ldc, n, k, m0, m1) {
      sequentialK(views.refresh().F, a, lda, 1, b, ldb, c, ldc, n, k, m0, m1);
    },
    gemmTN(a, lda, b, ldb, c, ldc, n, k, m0, m1) {
      sequentialK(views.refresh().F, a, 1, lda, b, ldb, c, ldc, n, k, m0, m1);
    },
    gemmNT(a, lda, b, ldb, c, ldc, n, k, m0, m1) {
      const { F } = views.refresh();
      const ab = a >> 2,
        bb = b >> 2,
        cb = c >> 2;
      for (let i = m0; i < m1; i++)
        for (let j = 0; j < n; j++) F[cb + i * ldc + j] = ntDot(F, ab + i * lda, bb + j * ldb, k);
    },
  };
}
