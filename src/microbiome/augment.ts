import { argRangeError, argTypeError } from '../core/errors.js';
import { Rng } from '../core/random.js';
import { checkCounts } from './normalize.js';

// Training-set augmentation with noisy copies of real samples. Only ever call these on the
// rows of a training fold: a copy of a validation or test sample in training would leak it.

export type Augmentation = 'none' | 'balanced';
export const AUGMENTATIONS: readonly Augmentation[] = ['none', 'balanced'];

export interface Augmented {
  /** Originals (unchanged, in order) then copies, [n, p] row-major. */
  x: Float64Array;
  /** Input row each output row came from. */
  source: Int32Array;
  /** Rows in x. */
  n: number;
}

/**
 * Writes into out row `to` a copy of x row `from` with multiplicative noise on its nonzero
 * counts only: x' = round(max(0, x · (1 + noise·ε))), ε ~ N(0, 1); zeros stay zero. A copy
 * that rounding leaves all zero takes the original counts instead, so it stays a sample.
 */
function noisyCopy(
  rng: Rng,
  x: Float64Array,
  p: number,
  from: number,
  out: Float64Array,
  to: number,
  noise: number,
): void {
  let nonzero = false;
  for (let j = 0; j < p; j++) {
    const v = x[from * p + j]!;
    if (v === 0) continue;
    const c = Math.round(Math.max(0, v * (1 + noise * rng.normal())));
    out[to * p + j] = c;
    if (c > 0) nonzero = true;
  }
  if (!nonzero) out.set(x.subarray(from * p, (from + 1) * p), to * p);
}

function checkNoise(fn: string, noise: number): void {
  if (!(noise >= 0) || !Number.isFinite(noise))
    throw argRangeError(fn, 'o.noise', 'a finite non-negative number', noise);
}

function checkSeed(fn: string, seed: unknown): void {
  if (typeof seed !== 'number' || !Number.isInteger(seed)) throw argRangeError(fn, 'o.seed', 'an integer', seed);
}

/** The rows of each class, classes in ascending label order. */
function rowsByClass(labels: Int32Array): Map<number, number[]> {
  const classes = [...new Set(labels)].sort((a, b) => a - b);
  const rows = new Map<number, number[]>(classes.map((c) => [c, []]));
  labels.forEach((c, i) => {
    rows.get(c)!.push(i);
  });
  return rows;
}

/**
 * Class-balanced augmentation of TRAINING rows only (never validation or test rows). Every
 * class is brought up to T = round(factor · m_max) rows, m_max the largest class size
 * (default factor 1: T = m_max), by adding T − m_c copies of rows of class c drawn uniformly
 * with replacement; each copy gets `noisyCopy`'s noise, x' = round(max(0, x·(1 + noise·ε))),
 * ε ~ N(0, 1), on nonzero counts only (default noise 0.1). Output: the originals unchanged
 * and in order, then the copies class by class in ascending label order; `source[k]` is the
 * input row of output row k. Deterministic for `o.seed`.
 */
export function augmentBalanced(
  x: Float64Array,
  n: number,
  p: number,
  labels: Int32Array,
  o: { seed: number; noise?: number; factor?: number },
): Augmented & { labels: Int32Array } {
  checkCounts('augmentBalanced', x, n, p);
  if (!(labels instanceof Int32Array)) throw argTypeError('augmentBalanced', 'labels', 'an Int32Array', labels);
  if (labels.length !== n) throw argRangeError('augmentBalanced', 'labels.length', `n = ${n}`, labels.length);
  checkSeed('augmentBalanced', o.seed);
  const noise = o.noise ?? 0.1,
    factor = o.factor ?? 1;
  checkNoise('augmentBalanced', noise);
  if (!(factor >= 1) || !Number.isFinite(factor))
    throw argRangeError('augmentBalanced', 'o.factor', 'a finite number ≥ 1', factor);
  const byClass = rowsByClass(labels);
  const target = Math.round(factor * Math.max(...[...byClass.values()].map((r) => r.length)));
  let added = 0;
  for (const rows of byClass.values()) added += target - rows.length;
  const total = n + added,
    rng = new Rng(o.seed);
  const out = new Float64Array(total * p),
    outLabels = new Int32Array(total),
    source = new Int32Array(total);
  out.set(x);
  outLabels.set(labels);
  for (let i = 0; i < n; i++) source[i] = i;
  let k = n;
  for (const [c, rows] of byClass) {
    for (let m = rows.length; m < target; m++, k++) {
      const from = rows[Math.floor(rng.next() * rows.length)]!;
      noisyCopy(rng, x, p, from, out, k, noise);
      outLabels[k] = c;
      source[k] = from;
    }
  }
  return { x: out, labels: outLabels, source, n: total };
}

/**
 * Augmentation for regression (no classes), TRAINING rows only: `copies` noisy copies of
 * every sample, x' = round(max(0, x·(1 + noise·ε))), ε ~ N(0, 1), on nonzero counts only
 * (default noise 0.1). Output: the originals unchanged and in order, then sample 0's copies,
 * sample 1's, …; `source[k]` is the input row of output row k (use it to copy targets).
 */
export function augmentCopies(
  x: Float64Array,
  n: number,
  p: number,
  o: { seed: number; copies: number; noise?: number },
): Augmented {
  checkCounts('augmentCopies', x, n, p);
  checkSeed('augmentCopies', o.seed);
  if (!Number.isInteger(o.copies) || o.copies < 0)
    throw argRangeError('augmentCopies', 'o.copies', 'a non-negative integer', o.copies);
  const noise = o.noise ?? 0.1;
  checkNoise('augmentCopies', noise);
  const total = n * (1 + o.copies),
    rng = new Rng(o.seed);
  const out = new Float64Array(total * p),
    source = new Int32Array(total);
  out.set(x);
  for (let i = 0; i < n; i++) source[i] = i;
  let k = n;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < o.copies; c++, k++) {
      noisyCopy(rng, x, p, i, out, k, noise);
      source[k] = i;
    }
  }
  return { x: out, source, n: total };
}
