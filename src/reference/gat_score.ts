import type { KernelBackend } from '../kernels/backend.js';
import { f, type HeapViews } from './views.js';

// Plain-TypeScript twin of assembly/gat_score.ts: one f32 add, then x or f32(slope·x).

export function gatScoreKernels(views: HeapViews): Pick<KernelBackend, 'gatScore' | 'leakyReluBackward' | 'leakyRelu'> {
  return {
    gatScore(rowPtr, colIdx, aSrc, aDst, heads, slope, out, ldo, r0, r1) {
      const { F, I } = views.refresh();
      const rp = rowPtr >> 2,
        ci = colIdx >> 2,
        sb = aSrc >> 2,
        db = aDst >> 2,
        ob = out >> 2,
        sl = f(slope);
      for (let r = r0; r < r1; r++) {
        for (let k = I[rp + r]!; k < I[rp + r + 1]!; k++) {
          const s = sb + I[ci + k]! * heads,
            d = db + r * heads;
          for (let h = 0; h < heads; h++) {
            const v = f(F[s + h]! + F[d + h]!);
            F[ob + h * ldo + k] = v > 0 ? v : f(v * sl);
          }
        }
      }
    },
    leakyReluBackward(y, gy, gx, slope, e0, e1) {
      const { F } = views.refresh();
      const yb = y >> 2,
        gb = gy >> 2,
        xb = gx >> 2,
        sl = f(slope);
      for (let e = e0; e < e1; e++) {
        const g = F[gb + e]!;
        F[xb + e] = F[yb + e]! > 0 ? g : f(g * sl);
      }
    },
    leakyRelu(x, y, slope, e0, e1) {
      const { F } = views.refresh();
      const xb = x >> 2,
        yb = y >> 2,
        sl = f(slope);
      for (let e = e0; e < e1; e++) {
        const v = F[xb + e]!;
        F[yb + e] = v > 0 ? v : f(v * sl);
      }
    },
  };
}
