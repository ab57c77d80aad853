import type { KernelBackend } from '../kernels/backend.js';
import { f, type HeapViews } from './views.js';

// Plain-TypeScript twin of assembly/dropout.ts, same summation orders.

function mix(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b | 0);
  return (x ^ (x >>> 16)) >>> 0;
}

/** The dropout generator: keep element i when dropoutHash(i, key0, key1) < threshold. */
export function dropoutHash(i: number, key0: number, key1: number): number {
  return mix((mix((i + key0) | 0) ^ key1) | 0);
}

export function dropoutKernels(views: HeapViews): Pick<KernelBackend, 'dropoutForward' | 'dropoutBackward'> {
  return {
    dropoutForward(x, y, mask, key0, key1, threshold, scaleBy, e0, e1) {
      const { F, U } = views.refresh();
      const sc = f(scaleBy),
        thr = threshold >>> 0;
      for (let i = e0; i < e1; i++) {
        const keep = dropoutHash(i, key0, key1) < thr;
        F[(y >> 2) + i] = keep ? f(F[(x >> 2) + i]! * sc) : 0;
        U[mask + i] = keep ? 1 : 0;
      }
    },
    dropoutBackward(gy, mask, gx, scaleBy, e0, e1) {
      const { F, U } = views.refresh();
      const sc = f(scaleBy);
      for (let i = e0; i < e1; i++) F[(gx >> 2) + i] = U[mask + i] ? f(F[(gy >> 2) + i]! * sc) : 0;
    },
  };
}
