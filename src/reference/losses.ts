import type { KernelBackend } from '../kernels/backend.js';
import type { HeapViews } from './views.js';

// Plain-TypeScript twin of assembly/losses.ts, same summation orders.

export function lossesKernels(
  views: HeapViews,
): Pick<KernelBackend, 'softmaxCrossEntropy' | 'mseLoss' | 'bceWithLogits'> {
  return {
    softmaxCrossEntropy(logits, ld, labels, mask, classes, grad, ldg, lossRows, invCount, r0, r1) {
      const { F, I, U } = views.refresh();
      for (let r = r0; r < r1; r++) {
        const x = (logits >> 2) + r * ld,
          g = (grad >> 2) + r * ldg;
        if (mask !== 0 && U[mask + r] === 0) {
          for (let c = 0; c < classes; c++) F[g + c] = 0;
          F[(lossRows >> 2) + r] = 0;
          continue;
        }
        let m = -Infinity;
        for (let c = 0; c < classes; c++) m = Math.max(m, F[x + c]!);
        let s = 0;
        for (let c = 0; c < classes; c++) s += Math.exp(F[x + c]! - m);
        const label = I[(labels >> 2) + r]!;
        F[(lossRows >> 2) + r] = m + Math.log(s) - F[x + label]!;
        for (let c = 0; c < classes; c++) F[g + c] = (Math.exp(F[x + c]! - m) / s - (c === label ? 1 : 0)) * invCount;
      }
    },
    mseLoss(pred, ldp, target, ldt, mask, cols, grad, ldg, lossRows, invCount, r0, r1) {
      const { F, U } = views.refresh();
      for (let r = r0; r < r1; r++) {
        const on = mask === 0 || U[mask + r] !== 0;
        let s = 0;
        for (let c = 0; c < cols; c++) {
          const d = on ? F[(pred >> 2) + r * ldp + c]! - F[(target >> 2) + r * ldt + c]! : 0;
          s += d * d;
          F[(grad >> 2) + r * ldg + c] = 2 * d * invCount;
        }
        F[(lossRows >> 2) + r] = s;
      }
    },
    bceWithLogits(logits, ld, targets, ldt, labelMask, posWeight, cols, grad, ldg, lossRows, invCount, r0, r1) {
      const { F, U } = views.refresh();
      for (let r = r0; r < r1; r++) {
        let s = 0;
        for (let c = 0; c < cols; c++) {
          const go = (grad >> 2) + r * ldg + c;
          if (labelMask !== 0 && U[labelMask + r * cols + c] === 0) {
            F[go] = 0;
            continue;
          }
          const v = F[(logits >> 2) + r * ld + c]!,
            y = F[(targets >> 2) + r * ldt + c]!;
          const pw = posWeight !== 0 ? F[(posWeight >> 2) + c]! : 1;
          const e = Math.exp(-Math.abs(v)),
            l = Math.log1p(e);
          s += pw * y * (Math.max(-v, 0) + l) + (1 - y) * (Math.max(v, 0) + l);
          const sig = v >= 0 ? 1 / (1 + e) : e / (1 + e);
          F[go] = (sig * (1 - y + pw * y) - pw * y) * invCount;
        }
        F[(lossRows >> 2) + r] = s;
      }
    },
  };
}
