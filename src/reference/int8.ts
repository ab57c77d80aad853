import type { KernelBackend } from '../kernels/backend.js';
import { f, type HeapViews } from './views.js';

// Plain-TypeScript twin of assembly/int8.ts: exact integer dots, the same f32 epilogue.

/** f32.nearest: round half to even. */
export function nearestEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** One activation as quantizeU7 stores it: nearest(clamp(f32(f32(x · inv) + zp), 0, 127)), NaN → 0. */
export function quantizeU7Value(x: number, inv: number, zp: number): number {
  let v = f(f(x * inv) + zp);
  v = Math.max(0, v);
  v = Math.min(v, 127);
  return nearestEven(v);
}

export function int8Kernels(views: HeapViews): Pick<KernelBackend, 'quantizeU7' | 'gemmI8'> {
  return {
    quantizeU7(x, ldx, q, ldq, k, inv, zp, r0, r1) {
      const { F, U } = views.refresh();
      const fi = f(inv);
      for (let r = r0; r < r1; r++) {
        for (let c = 0; c < k; c++) U[q + r * ldq + c] = quantizeU7Value(F[(x >> 2) + r * ldx + c]!, fi, zp);
        U.fill(0, q + r * ldq + k, q + r * ldq + ldq);
      }
    },
    gemmI8(q, kPad, w, wsum, scale, zp, y, ldy, n, r0, r1) {
      const { F, I, U } = views.refresh();
      const W = new Int8Array(U.buffer);
      for (let r = r0; r < r1; r++) {
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let c = 0; c < kPad; c++) s += W[w + j * kPad + c]! * U[q + r * kPad + c]!;
          F[(y >> 2) + r * ldy + j] = f(f(s - zp * I[(wsum >> 2) + j]!) * F[(scale >> 2) + j]!);
        }
      }
    },
  };
}
