import type { KernelBackend } from '../kernels/backend.js';
import { f, type HeapViews } from './views.js';

// Plain-TypeScript twin of assembly/sddmm_csr.ts, same summation order: sixteen lane sums
// (accumulator j % 4 of 4-column chunk j, lane c % 4), the accumulators added
// (a0 + a1) + (a2 + a3) lane-wise, the lanes (l0 + l1) + (l2 + l3), then the n % 4 tail.

/** One output: the dot of G's row at gb and H's row at hb over n columns, in that order. */
function dot(F: Float32Array, gb: number, hb: number, n: number, acc: number[]): number {
  const n4 = n & ~3;
  acc.fill(0);
  for (let c = 0; c < n4; c++) {
    const i = (((c >> 2) & 3) << 2) | (c & 3);
    acc[i] = f(acc[i]! + f(F[gb + c]! * F[hb + c]!));
  }
  const l = [0, 1, 2, 3].map((q) => f(f(acc[q]! + acc[4 + q]!) + f(acc[8 + q]! + acc[12 + q]!)));
  let s = f(f(l[0]! + l[1]!) + f(l[2]! + l[3]!));
  for (let c = n4; c < n; c++) s = f(s + f(F[gb + c]! * F[hb + c]!));
  return s;
}

export function sddmmCsrKernels(views: HeapViews): Pick<KernelBackend, 'sddmmCsr'> {
  return {
    sddmmCsr(rowPtr, colIdx, g, ldg, h, ldh, n, out, r0, r1) {
      const { F, I } = views.refresh();
      const rp = rowPtr >> 2,
        ci = colIdx >> 2,
        gb = g >> 2,
        hb = h >> 2,
        ob = out >> 2;
      const acc = new Array<number>(16);
      for (let r = r0; r < r1; r++) {
        for (let k = I[rp + r]!; k < I[rp + r + 1]!; k++)
          F[ob + k] = dot(F, gb + r * ldg, hb + I[ci + k]! * ldh, n, acc);
      }
    },
  };
}
