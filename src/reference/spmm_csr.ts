import type { KernelBackend } from '../kernels/backend.js';
import { f, type HeapViews } from './views.js';

// Plain-TypeScript twin of assembly/spmm_csr.ts, same summation orders.

export function spmmCsrKernels(views: HeapViews): Pick<KernelBackend, 'spmmCsr' | 'spmmCsrBiasRelu'> {
  const spmmCsr: KernelBackend['spmmCsr'] = (rowPtr, colIdx, vals, x, ldx, y, ldy, c0, c1, r0, r1) => {
    const { F, I } = views.refresh();
    const rp = rowPtr >> 2,
      ci = colIdx >> 2,
      vv = vals >> 2,
      xb = x >> 2,
      yb = y >> 2;
    for (let r = r0; r < r1; r++) {
      const kb = I[rp + r]!,
        ke = I[rp + r + 1]!;
      for (let c = c0; c < c1; c++) {
        let s = 0;
        for (let k = kb; k < ke; k++) s = f(s + f(F[vv + k]! * F[xb + I[ci + k]! * ldx + c]!));
        F[yb + r * ldy + c] = s;
      }
    }
  };
  return {
    spmmCsr,
    spmmCsrBiasRelu(rowPtr, colIdx, vals, x, ldx, y, ldy, c0, c1, bias, relu, r0, r1) {
      spmmCsr(rowPtr, colIdx, vals, x, ldx, y, ldy, c0, c1, r0, r1);
      const { F } = views.refresh();
      const yb = y >> 2,
        bb = bias >> 2;
      for (let r = r0; r < r1; r++) {
        for (let c = c0; c < c1; c++) {
          const v = f(F[yb + r * ldy + c]! + F[bb + c]!);
          F[yb + r * ldy + c] = relu !== 0 && !(v > 0) ? 0 : v;
        }
      }
    },
  };
}
