import type { KernelBackend } from '../kernels/backend.js';
import { f, type HeapViews } from './views.js';

// Plain-TypeScript twin of assembly/gather_rows.ts: copies, or one f32 add then the max with 0.

export function gatherRowsKernels(views: HeapViews): Pick<KernelBackend, 'gatherRows' | 'gatherAddRelu'> {
  return {
    gatherRows(x, ldx, idx, out, ldo, cols, e0, e1) {
      const { F, I } = views.refresh();
      const xb = x >> 2,
        ib = idx >> 2,
        ob = out >> 2;
      for (let e = e0; e < e1; e++) {
        const s = xb + I[ib + e]! * ldx,
          d = ob + e * ldo;
        for (let c = 0; c < cols; c++) F[d + c] = F[s + c]!;
      }
    },
    gatherAddRelu(x, ldx, idx, add, ldadd, out, ldo, cols, e0, e1) {
      const { F, I } = views.refresh();
      const xb = x >> 2,
        ib = idx >> 2,
        ab = add >> 2,
        ob = out >> 2;
      for (let e = e0; e < e1; e++) {
        const s = xb + I[ib + e]! * ldx,
          a = ab + e * ldadd,
          d = ob + e * ldo;
        for (let c = 0; c < cols; c++) {
          const v = f(F[s + c]! + F[a + c]!);
          F[d + c] = Math.max(v, 0);
        }
      }
    },
  };
}
