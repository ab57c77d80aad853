import type { KernelBackend } from '../kernels/backend.js';
import { f, type HeapViews } from './views.js';

// Plain-TypeScript twin of assembly/elementwise.ts, same summation orders.

export function elementwiseKernels(
  views: HeapViews,
): Pick<
  KernelBackend,
  | 'biasAdd'
  | 'biasAddRelu'
  | 'colSum'
  | 'reluBackwardColSum'
  | 'relu'
  | 'reluBackward'
  | 'scale'
  | 'axpy'
  | 'addInto'
  | 'fillF32'
  | 'copyF32'
  | 'sumF32'
> {
  return {
    biasAdd(y, ldy, bias, cols, r0, r1) {
      const { F } = views.refresh();
      const yb = y >> 2,
        bb = bias >> 2;
      for (let r = r0; r < r1; r++)
        for (let c = 0; c < cols; c++) F[yb + r * ldy + c] = f(F[yb + r * ldy + c]! + F[bb + c]!);
    },
    biasAddRelu(y, ldy, bias, cols, r0, r1) {
      const { F } = views.refresh();
      const yb = y >> 2,
        bb = bias >> 2;
      for (let r = r0; r < r1; r++) {
        for (let c = 0; c < cols; c++) {
          const v = f(F[yb + r * ldy + c]! + F[bb + c]!);
          F[yb + r * ldy + c] = Math.max(v, 0);
        }
      }
    },
    colSum(g, ldg, out, rows, c0, c1) {
      const { F } = views.refresh();
      const gb = g >> 2,
        ob = out >> 2;
      for (let c = c0; c < c1; c++) {
        let s = 0;
        for (let r = 0; r < rows; r++) s = f(s + F[gb + r * ldg + c]!);
        F[ob + c] = s;
      }
    },
    reluBackwardColSum(y, gy, gx, ld, out, rows, c0, c1) {
      const { F } = views.refresh();
      const yb = y >> 2,
        gb = gy >> 2,
        xb = gx >> 2,
        ob = out >> 2;
      for (let c = c0; c < c1; c++) {
        let s = 0;
        for (let r = 0; r < rows; r++) {
          const i = r * ld + c,
            v = F[yb + i]! > 0 ? F[gb + i]! : 0;
          F[xb + i] = v;
          s = f(s + v);
        }
        F[ob + c] = s;
      }
    },
    relu(x, y, e0, e1) {
      const { F } = views.refresh();
      for (let i = e0; i < e1; i++) {
        const v = F[(x >> 2) + i]!;
        F[(y >> 2) + i] = Math.max(v, 0);
      }
    },
    reluBackward(y, gy, gx, e0, e1) {
      const { F } = views.refresh();
      for (let i = e0; i < e1; i++) F[(gx >> 2) + i] = F[(y >> 2) + i]! > 0 ? F[(gy >> 2) + i]! : 0;
    },
    scale(x, alpha, y, e0, e1) {
      const { F } = views.refresh();
      const al = f(alpha);
      for (let i = e0; i < e1; i++) F[(y >> 2) + i] = f(F[(x >> 2) + i]! * al);
    },
    axpy(alpha, x, y, e0, e1) {
      const { F } = views.refresh();
      const al = f(alpha);
      for (let i = e0; i < e1; i++) F[(y >> 2) + i] = f(F[(y >> 2) + i]! + f(F[(x >> 2) + i]! * al));
    },
    addInto(x, y, e0, e1) {
      const { F } = views.refresh();
      for (let i = e0; i < e1; i++) F[(y >> 2) + i] = f(F[(y >> 2) + i]! + F[(x >> 2) + i]!);
    },
    fillF32(p, value, e0, e1) {
      const { F } = views.refresh();
      F.fill(value, (p >> 2) + e0, (p >> 2) + e1);
    },
    copyF32(src, dst, e0, e1) {
      const { F } = views.refresh();
      if (e1 > e0) F.copyWithin((dst >> 2) + e0, (src >> 2) + e0, (src >> 2) + e1);
    },
    sumF32(p, n) {
      const { F } = views.refresh();
      let s = 0;
      for (let i = 0; i < n; i++) s += F[(p >> 2) + i]!;
      return s;
    },
  };
}
