import type { KernelBackend } from '../kernels/backend.js';
import { f, type HeapViews } from './views.js';

// Plain-TypeScript twin of assembly/pooling.ts, same summation orders.

export function poolingKernels(views: HeapViews): Pick<KernelBackend, 'segmentPool' | 'segmentPoolBackward'> {
  return {
    segmentPool(x, ldx, offsets, out, ldo, argmax, cols, mode, g0, g1) {
      const { F, I } = views.refresh();
      for (let g = g0; g < g1; g++) {
        const beg = I[(offsets >> 2) + g]!,
          end = I[(offsets >> 2) + g + 1]!;
        for (let c = 0; c < cols; c++) {
          if (mode === 2) {
            let best = 0,
              at = -1;
            for (let r = beg; r < end; r++) {
              const v = F[(x >> 2) + r * ldx + c]!;
              if (at < 0 || v > best) {
                best = v;
                at = r;
              }
            }
            F[(out >> 2) + g * ldo + c] = best;
            I[(argmax >> 2) + g * cols + c] = at;
          } else {
            let s = 0;
            for (let r = beg; r < end; r++) s = f(s + F[(x >> 2) + r * ldx + c]!);
            if (mode === 1 && end > beg) s = f(s / (end - beg));
            F[(out >> 2) + g * ldo + c] = s;
          }
        }
      }
    },
    segmentPoolBackward(gOut, ldo, offsets, gx, ldx, argmax, cols, mode, g0, g1) {
      const { F, I } = views.refresh();
      for (let g = g0; g < g1; g++) {
        const beg = I[(offsets >> 2) + g]!,
          end = I[(offsets >> 2) + g + 1]!;
        for (let r = beg; r < end; r++) {
          for (let c = 0; c < cols; c++) {
            let v = F[(gOut >> 2) + g * ldo + c]!;
            if (mode === 1) v = f(v / (end - beg));
            else if (mode === 2 && I[(argmax >> 2) + g * cols + c] !== r) v = 0;
            F[(gx >> 2) + r * ldx + c] = v;
          }
        }
      }
    },
  };
}
