import { argRangeError, argTypeError } from '../core/errors.js';

// Kernel ridge regression grown one training row at a time, for TMC-Shapley on a regression:
// GBLUP with its variance ratio fixed (λ = σ²e/σ²g from a REML fit on every sample), so adding a
// row only extends the inverse of K_SS + λI (a bordered inverse, O(|S|²)) instead of refitting.
// Every row is scored, as KnnLearner's 'self' mode does: a row outside S by its prediction
// from S, a row of S by its leave-one-out prediction from the others (the closed form
// y_q − α_q / (K_SS + λI)⁻¹_qq). The score is Pearson's r between those predictions and the
// targets (breeders' predictive ability). Targets are centred once, by the mean of them all,
// and the model has no intercept of its own, so the leave-one-out form is exact and a set's
// score does not move with a mean it re-estimates. The empty set predicts 0 everywhere: r = 0.

/** Pearson's r of two series; 0 when either is constant (no linear association to measure). */
export function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0,
    mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i]! / n;
    mb += b[i]! / n;
  }
  let sab = 0,
    saa = 0,
    sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i]! - ma,
      db = b[i]! - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : 0;
}

/**
 * The incremental kernel ridge learner (see the file comment) over a symmetric kernel K [n, n]
 * and targets y [n]. `add(i)` returns Pearson's r of every row's prediction (leave-one-out for
 * members) with y.
 *
 * @example
 * const v = tmcShapley(new KernelRidgeLearner(grm, n, phenotypes, fit.delta), { maxPermutations: 200 });
 */
export class KernelRidgeLearner {
  readonly n: number;
  readonly empty = 0;
  readonly #k: Float64Array;
  readonly #lambda: number;
  readonly #y: Float64Array;
  /** Members in the order added, and each row's position among them (-1: not a member). */
  readonly #members: Int32Array;
  readonly #pos: Int32Array;
  #size = 0;
  /** (K_SS + λI)⁻¹ over the members, [size, size] with row stride n. */
  readonly #inv: Float64Array;
  readonly #alpha: Float64Array;
  readonly #pred: Float64Array;
  readonly #u: Float64Array;

  constructor(kernel: Float64Array, n: number, y: Float64Array, lambda: number) {
    const fn = 'KernelRidgeLearner';
    if (!Number.isInteger(n) || n < 2) throw argRangeError(fn, 'n', 'an integer of at least 2', n);
    if (!(kernel instanceof Float64Array) || kernel.length !== n * n)
      throw argTypeError(fn, 'kernel', `a Float64Array of n² = ${n * n}`, kernel);
    if (!(y instanceof Float64Array) || y.length !== n) throw argTypeError(fn, 'y', `a Float64Array of ${n}`, y);
    if (!y.every(Number.isFinite)) throw argRangeError(fn, 'y', 'finite targets (drop the unphenotyped rows)', 'NaN');
    if (!(lambda > 0)) throw argRangeError(fn, 'lambda', 'a positive number', lambda);
    let mean = 0;
    for (const v of y) mean += v / n;
    this.n = n;
    this.#k = kernel;
    this.#lambda = lambda;
    this.#y = Float64Array.from(y, (v) => v - mean);
    this.#members = new Int32Array(n);
    this.#pos = new Int32Array(n).fill(-1);
    this.#inv = new Float64Array(n * n);
    this.#alpha = new Float64Array(n);
    this.#pred = new Float64Array(n);
    this.#u = new Float64Array(n);
  }

  /** Empties the learner: no training line. */
  reset(): void {
    for (let t = 0; t < this.#size; t++) this.#pos[this.#members[t]!] = -1;
    this.#size = 0;
  }

  /** Adds training line i (a rank-one update of the inverse); returns the utility with it. */
  add(i: number): number {
    if (!(i >= 0 && i < this.n && this.#pos[i] === -1))
      throw argRangeError('KernelRidgeLearner.add', 'i', 'a row not yet added', i);
    const n = this.n,
      K = this.#k,
      A = this.#inv,
      u = this.#u,
      s = this.#size,
      mem = this.#members;
    // Bordered inverse: with b = K_S,i, u = A b, c = K_ii + λ − bᵀu, the new inverse is
    // [[A + u uᵀ/c, −u/c], [−uᵀ/c, 1/c]].
    for (let a = 0; a < s; a++) {
      let acc = 0;
      for (let b = 0; b < s; b++) acc += A[a * n + b]! * K[mem[b]! * n + i]!;
      u[a] = acc;
    }
    let c = K[i * n + i]! + this.#lambda;
    for (let a = 0; a < s; a++) c -= K[mem[a]! * n + i]! * u[a]!;
    for (let a = 0; a < s; a++) {
      const ua = u[a]! / c;
      for (let b = 0; b < s; b++) A[a * n + b]! += ua * u[b]!;
      A[a * n + s] = -ua;
      A[s * n + a] = -ua;
    }
    A[s * n + s] = 1 / c;
    mem[s] = i;
    this.#pos[i] = s;
    this.#size = s + 1;
    return this.#score();
  }

  #score(): number {
    const n = this.n,
      K = this.#k,
      A = this.#inv,
      y = this.#y,
      s = this.#size,
      mem = this.#members,
      alpha = this.#alpha,
      pred = this.#pred;
    for (let a = 0; a < s; a++) {
      let acc = 0;
      for (let b = 0; b < s; b++) acc += A[a * n + b]! * y[mem[b]!]!;
      alpha[a] = acc;
    }
    for (let q = 0; q < n; q++) {
      const at = this.#pos[q]!;
      if (at >= 0) {
        pred[q] = y[q]! - alpha[at]! / A[at * n + at]!;
        continue;
      }
      let acc = 0;
      for (let a = 0; a < s; a++) acc += K[q * n + mem[a]!]! * alpha[a]!;
      pred[q] = acc;
    }
    return pearson(pred, y);
  }
}

/**
 * Cross-validated predictive ability of kernel ridge (λ fixed): the rows in `folds` fold f are
 * predicted from the other folds' rows not in `removed` (trained on `y`), and Pearson's r of all
 * the predictions with `truth` is returned. The removal curves' held-out accuracy.
 */
export function kernelRidgeCv(
  kernel: Float64Array,
  n: number,
  y: Float64Array,
  truth: Float64Array,
  lambda: number,
  folds: Int32Array,
  removed: ReadonlySet<number>,
): number {
  const foldCount = Math.max(...folds) + 1,
    pred = new Float64Array(n);
  for (let f = 0; f < foldCount; f++) {
    const train: number[] = [];
    for (let i = 0; i < n; i++) if (folds[i] !== f && !removed.has(i)) train.push(i);
    const t = train.length;
    if (t === 0) continue; // no training row: predictions stay 0 (the mean)
    let mean = 0;
    for (const i of train) mean += y[i]! / t;
    // Cholesky of K_TT + λI, then α = (K_TT + λI)⁻¹ (y_T − mean)
    const L = new Float64Array(t * t);
    for (let a = 0; a < t; a++)
      for (let b = 0; b <= a; b++) {
        let s = kernel[train[a]! * n + train[b]!]! + (a === b ? lambda : 0);
        for (let c = 0; c < b; c++) s -= L[a * t + c]! * L[b * t + c]!;
        L[a * t + b] = a === b ? Math.sqrt(s) : s / L[b * t + b]!;
      }
    const z = Float64Array.from(train, (i) => y[i]! - mean);
    for (let a = 0; a < t; a++) {
      for (let c = 0; c < a; c++) z[a]! -= L[a * t + c]! * z[c]!;
      z[a]! /= L[a * t + a]!;
    }
    for (let a = t - 1; a >= 0; a--) {
      for (let c = a + 1; c < t; c++) z[a]! -= L[c * t + a]! * z[c]!;
      z[a]! /= L[a * t + a]!;
    }
    for (let q = 0; q < n; q++) {
      if (folds[q] !== f) continue;
      let s = mean;
      for (let a = 0; a < t; a++) s += kernel[q * n + train[a]!]! * z[a]!;
      pred[q] = s;
    }
  }
  return pearson(pred, truth);
}
