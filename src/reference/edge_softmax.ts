import type { KernelBackend } from '../kernels/backend.js';
import type { HeapViews } from './views.js';

// Plain-TypeScript twin of assembly/edge_softmax.ts: the same f64 max, sum and dot in storage
// order. The backward matches the WASM builds bit for bit; the forward's exponential is
// Math.exp here and the kernels' own expD there, a few f64 ulp apart, so the outputs agree to
// within one f32 rounding.

export function edgeSoftmaxKernels(views: HeapViews): Pick<KernelBackend, 'edgeSoftmax' | 'edgeSoftmaxBackward'> {
  return {
    edgeSoftmax(rowPtr, s, lds, out, ldo, heads, r0, r1) {
      const { F, I } = views.refresh();
      const rp = rowPtr >> 2;
      for (let r = r0; r < r1; r++) {
        const kb = I[rp + r]!,
          ke = I[rp + r + 1]!;
        if (kb === ke) continue;
        for (let h = 0; h < heads; h++) {
          const sb = (s >> 2) + h * lds,
            ob = (out >> 2) + h * ldo;
          let m = -Infinity;
          for (let k = kb; k < ke; k++) m = Math.max(m, F[sb + k]!);
          let z = 0;
          for (let k = kb; k < ke; k++) z += Math.exp(F[sb + k]! - m);
          for (let k = kb; k < ke; k++) F[ob + k] = Math.exp(F[sb + k]! - m) / z;
        }
      }
    },
    edgeSoftmaxBackward(rowPtr, a, ga, gs, ld, heads, r0, r1) {
      const { F, I } = views.refresh();
      const rp = rowPtr >> 2;
      for (let r = r0; r < r1; r++) {
        const kb = I[rp + r]!,
          ke = I[rp + r + 1]!;
        for (let h = 0; h < heads; h++) {
          const o = h * ld,
            ab = (a >> 2) + o,
            gb = (ga >> 2) + o,
            sb = (gs >> 2) + o;
          let dot = 0;
          for (let k = kb; k < ke; k++) dot += F[ab + k]! * F[gb + k]!;
          for (let k = kb; k < ke; k++) F[sb + k] = F[ab + k]! * (F[gb + k]! - dot);
        }
      }
    },
  };
}
