import { argRangeError } from '../core/errors.js';
import { Rng } from '../core/random.js';
import { regressionReport } from './metrics.js';

/**
 * Seeded k-fold assignment: fold (1..k) per sample, balanced to within one, from a
 * Fisher–Yates shuffle with the given seed. Samples marked false in `eligible` get fold 0.
 */
export function kFoldSplits(n: number, k: number, seed: number, eligible?: ArrayLike<boolean>): Int32Array {
  if (!Number.isInteger(k) || k < 2) throw argRangeError('kFoldSplits', 'k', 'an integer ≥ 2', k);
  const idx: number[] = [];
  for (let i = 0; i < n; i++) if (!eligible || eligible[i]) idx.push(i);
  if (idx.length < k) throw argRangeError('kFoldSplits', 'k', `at most the ${idx.length} samples`, k);
  new Rng(seed).shuffle(idx);
  const fold = new Int32Array(n);
  idx.forEach((i, r) => {
    fold[i] = (r % k) + 1;
  });
  return fold;
}

/** One fold's accuracy: the number of test samples, Pearson's r, RMSE and R². */
export interface FoldMetrics {
  n: number;
  r: number;
  rmse: number;
  r2: number;
}

/** Pearson r, RMSE and R² (1 − SSE/SST around the observed mean) of predictions. */
export function foldMetrics(obs: ArrayLike<number>, pred: ArrayLike<number>): FoldMetrics {
  const r = regressionReport(obs, pred);
  return { n: obs.length, r: r.pearson, rmse: r.rmse, r2: r.r2 };
}

export function meanSd(xs: number[]): { mean: number; sd: number } {
  const v = xs.filter(Number.isFinite);
  if (v.length === 0) return { mean: NaN, sd: NaN };
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const sd = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1)) : 0;
  return { mean, sd };
}
