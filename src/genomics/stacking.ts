import { Rng } from '../core/random.js';

// Stacking a graph model on a kernel model (Wolpert 1992; in genomic prediction, e.g. Liang
// et al. 2021): both predict one held-out part of the training fold, the blend weight that
// fits that part best is taken, and the test predictions are blended with it.

/**
 * The inner validation nodes of a stacked fit: a seeded tenth (at least 1, and at least 3
 * left to fit on) of the phenotyped training nodes. Both members are scored on them.
 */
export function innerValidation(train: Int32Array, fraction: number, seed: number): Int32Array {
  const order = Array.from(train);
  new Rng(seed).shuffle(order);
  const m = Math.min(order.length - 3, Math.max(1, Math.round(order.length * fraction)));
  return Int32Array.from(order.slice(0, m)).sort();
}

/**
 * The weight w in [0, 1] that minimizes Σ (y − (w·g + (1 − w)·k))² over the validation
 * nodes: the least-squares w = Σ (y − k)(g − k) / Σ (g − k)², clipped to [0, 1]. When the
 * two predict the same (Σ (g − k)² = 0) the kernel model is kept (w = 0).
 */
export function blendWeight(y: ArrayLike<number>, g: ArrayLike<number>, k: ArrayLike<number>): number {
  let num = 0,
    den = 0;
  for (let i = 0; i < y.length; i++) {
    const d = g[i]! - k[i]!;
    num += (y[i]! - k[i]!) * d;
    den += d * d;
  }
  if (!(den > 0)) return 0;
  return Math.min(1, Math.max(0, num / den));
}
