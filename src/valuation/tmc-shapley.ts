import { argRangeError, argTypeError } from '../core/errors.js';
import { Rng } from '../core/random.js';

// Truncated Monte Carlo Shapley (Ghorbani & Zou, ICML 2019, Algorithm 1). Each iteration walks
// a random permutation of the training rows, adding them one at a time to a learner and
// crediting each row with the change in the learner's score; once the score is within
// `tolerance` (relative) of the whole set's, the rest of the permutation is credited 0 without
// fitting (the truncation). The estimate is the mean credit per row. Stopping follows the
// paper's code: every iteration, the running means of the last 100 iterations are compared with
// the latest, and when the relative change, at its largest over those 100, is below
// `convergence`, the values have settled. The paper's code averages |change| / |value| over
// rows, which a row valued near 0 blows up (a truncated row's value is often exactly that
// small); here the change is relative to the values' size as a whole: Σ|change| / Σ|value|.

/** A learner TMC-Shapley grows one row at a time (e.g. KnnLearner). */
export interface IncrementalLearner {
  /** Training rows, indexed 0..n-1. */
  readonly n: number;
  /** The score with no training row (random guessing). */
  readonly empty: number;
  /** Back to no training row. */
  reset(): void;
  /** Adds row i; returns the score with the rows added since reset. */
  add(i: number): number;
}

/** TMC-Shapley's settings: the permutation cap, the truncation tolerance, the convergence check and the seed. */
export interface TmcOptions {
  /** Truncate once |V(D) − V(prefix)| < tolerance · |V(D)|; default 0.01 (the paper's code). */
  tolerance?: number;
  /** Stop when the values' relative change over the last 100 iterations is below this; default 0.05. */
  convergence?: number;
  /** At most this many permutations; default 1000. */
  maxPermutations?: number;
  /** At least this many (the convergence check needs 100); default 100. */
  minPermutations?: number;
  seed?: number;
}

/** TMC-Shapley's result: a value and a standard error per sample, the permutations run and whether the convergence check passed. */
export interface TmcValues {
  /** Mean marginal contribution per row. */
  values: Float64Array;
  /** Standard error of each mean (sd of its contributions / √permutations). */
  se: Float64Array;
  permutations: number;
  converged: boolean;
  /** The convergence statistic at the end (see TmcOptions.convergence). */
  change: number;
  /** The score of the whole training set, V(D). */
  full: number;
  /** Fraction of (row, permutation) credits skipped by truncation. */
  truncated: number;
}

const WINDOW = 100;

/**
 * Data Shapley values of a learner's training rows by TMC-Shapley.
 *
 * @example
 * const v = tmcShapley(new KnnLearner(train, validation, 5, classes), { maxPermutations: 500 });
 */
export function tmcShapley(learner: IncrementalLearner, o: TmcOptions = {}): TmcValues {
  const fn = 'tmcShapley';
  if (typeof learner !== 'object' || learner === null || typeof learner.add !== 'function')
    throw argTypeError(fn, 'learner', 'an object with n, empty, reset() and add(i)', learner);
  const n = learner.n;
  if (!Number.isInteger(n) || n < 1) throw argRangeError(fn, 'learner.n', 'a positive integer', n);
  const tolerance = o.tolerance ?? 0.01,
    convergence = o.convergence ?? 0.05,
    max = o.maxPermutations ?? 1000,
    min = o.minPermutations ?? WINDOW;
  if (!(tolerance >= 0)) throw argRangeError(fn, 'options.tolerance', 'a non-negative number', tolerance);
  if (!(convergence > 0)) throw argRangeError(fn, 'options.convergence', 'a positive number', convergence);
  if (!Number.isInteger(max) || max < 1) throw argRangeError(fn, 'options.maxPermutations', 'a positive integer', max);
  if (!Number.isInteger(min) || min < 1) throw argRangeError(fn, 'options.minPermutations', 'a positive integer', min);
  learner.reset();
  let full = learner.empty;
  for (let i = 0; i < n; i++) full = learner.add(i);
  const sum = new Float64Array(n),
    sq = new Float64Array(n),
    perm = Int32Array.from({ length: n }, (_, i) => i),
    rng = new Rng(o.seed ?? 1);
  // running means of the last WINDOW iterations, a ring of [WINDOW, n]
  const ring = new Float64Array(WINDOW * n);
  let t = 0,
    skipped = 0,
    change = Infinity,
    converged = false;
  while (t < max) {
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(rng.next() * (i + 1));
      const s = perm[i]!;
      perm[i] = perm[j]!;
      perm[j] = s;
    }
    learner.reset();
    let prev = learner.empty;
    for (let r = 0; r < n; r++) {
      const i = perm[r]!;
      if (Math.abs(full - prev) < tolerance * Math.abs(full)) {
        skipped += n - r;
        break;
      } // the rest add ~nothing
      const now = learner.add(i),
        d = now - prev;
      sum[i]! += d;
      sq[i]! += d * d;
      prev = now;
    }
    t++;
    const at = (t % WINDOW) * n;
    for (let i = 0; i < n; i++) ring[at + i] = sum[i]! / t;
    if (t >= Math.max(WINDOW, min)) {
      change = 0;
      for (let w = 0; w < WINDOW; w++) {
        const b = w * n;
        let e = 0,
          size = 0;
        for (let i = 0; i < n; i++) {
          e += Math.abs(ring[b + i]! - ring[at + i]!);
          size += Math.abs(ring[at + i]!);
        }
        change = Math.max(change, e / (size + 1e-12));
      }
      if (change < convergence) {
        converged = true;
        break;
      }
    }
  }
  const values = Float64Array.from(sum, (s) => s / t);
  const se = Float64Array.from(sq, (q, i) => (t > 1 ? Math.sqrt(Math.max(0, q / t - values[i]! ** 2) / (t - 1)) : NaN));
  return { values, se, permutations: t, converged, change, full, truncated: skipped / (t * n) };
}
