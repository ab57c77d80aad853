import type { KernelBackend } from '../kernels/backend.js';
import { f, type HeapViews } from './views.js';

// Plain-TypeScript twin of assembly/optim.ts, same summation orders.

export function optimKernels(views: HeapViews): Pick<KernelBackend, 'sgdStep' | 'adamStep'> {
  return {
    sgdStep(w, g, bufp, lr, momentum, dampening, weightDecay, nesterov, first, e0, e1) {
      const { F } = views.refresh();
      const mu = f(momentum),
        wd = f(weightDecay),
        lrf = f(lr),
        damp = f(f(1) - f(dampening));
      for (let i = e0; i < e1; i++) {
        const wi = F[(w >> 2) + i]!;
        let d = f(F[(g >> 2) + i]! + f(wd * wi));
        if (mu !== 0) {
          const b = first ? d : f(f(mu * F[(bufp >> 2) + i]!) + f(damp * d));
          F[(bufp >> 2) + i] = b;
          d = nesterov ? f(d + f(mu * b)) : b;
        }
        F[(w >> 2) + i] = f(wi - f(lrf * d));
      }
    },
    adamStep(w, g, m, v, lr, beta1, beta2, eps, weightDecay, decoupled, stepSize, sqrtBc2, e0, e1) {
      const { F } = views.refresh();
      const b1 = f(beta1),
        b2 = f(beta2),
        c1 = f(1 - b1),
        c2 = f(1 - b2),
        wd = f(weightDecay);
      const ss = f(stepSize),
        bc = f(sqrtBc2),
        ep = f(eps),
        shrink = f(1 - f(f(lr) * wd));
      for (let i = e0; i < e1; i++) {
        let wi = F[(w >> 2) + i]!,
          gi = F[(g >> 2) + i]!;
        if (decoupled) wi = f(wi * shrink);
        else gi = f(gi + f(wd * wi));
        const mi = f(f(b1 * F[(m >> 2) + i]!) + f(c1 * gi));
        const vi = f(f(b2 * F[(v >> 2) + i]!) + f(f(c2 * gi) * gi));
        F[(m >> 2) + i] = mi;
        F[(v >> 2) + i] = vi;
        const den = f(f(f(Math.sqrt(vi)) / bc) + ep);
        F[(w >> 2) + i] = f(wi - f(f(ss * mi) / den));
      }
    },
  };
}
