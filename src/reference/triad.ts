import type { KernelBackend } from '../kernels/backend.js';
import { f, type HeapViews } from './views.js';

// Plain-TypeScript twin of assembly/triad.ts, same summation orders.

export function triadKernels(views: HeapViews): Pick<KernelBackend, 'streamTriad'> {
  return {
    streamTriad(a, b, c, s, e0, e1) {
      const { F } = views.refresh();
      const sf = f(s);
      for (let i = e0; i < e1; i++) F[(a >> 2) + i] = f(F[(b >> 2) + i]! + f(sf * F[(c >> 2) + i]!));
    },
  };
}
