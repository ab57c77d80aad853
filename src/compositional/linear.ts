import { argRangeError } from '../core/errors.js';

// The floor every other model must clear: L2-penalized logistic regression (classification)
// and ridge regression (targets), on standardized features. Both have closed-form or Newton
// solutions, so they are exact, deterministic and fast at microbiome sizes (p ≤ a few hundred).

/** Solves (A) x = b in place for a symmetric positive definite A [p, p] (Cholesky); returns x. */
export function solveSpd(a: Float64Array, b: Float64Array, p: number): Float64Array {
  const l = Float64Array.from(a);
  for (let j = 0; j < p; j++) {
    let d = l[j * p + j]!;
    for (let k = 0; k < j; k++) d -= l[j * p + k]! ** 2;
    if (!(d > 0)) throw argRangeError('solveSpd', 'a', 'a positive definite matrix', `pivot ${d} at ${j}`);
    const s = Math.sqrt(d);
    l[j * p + j] = s;
    for (let i = j + 1; i < p; i++) {
      let v = l[i * p + j]!;
      for (let k = 0; k < j; k++) v -= l[i * p + k]! * l[j * p + k]!;
      l[i * p + j] = v / s;
    }
  }
  const x = Float64Array.from(b);
  for (let i = 0; i < p; i++) {
    let v = x[i]!;
    for (let k = 0; k < i; k++) v -= l[i * p + k]! * x[k]!;
    x[i] = v / l[i * p + i]!;
  }
  for (let i = p - 1; i >= 0; i--) {
    let v = x[i]!;
    for (let k = i + 1; k < p; k++) v -= l[k * p + i]! * x[k]!;
    x[i] = v / l[i * p + i]!;
  }
  return x;
}

/** Column means and sds of the rows `rows` of x [n, p] (sd 1 where a column is constant). */
export function standardizer(
  x: Float64Array,
  p: number,
  rows: ArrayLike<number>,
): { mean: Float64Array; sd: Float64Array } {
  const mean = new Float64Array(p),
    sd = new Float64Array(p),
    m = rows.length;
  for (let r = 0; r < m; r++) {
    const i = rows[r]!;
    for (let j = 0; j < p; j++) mean[j]! += x[i * p + j]!;
  }
  for (let j = 0; j < p; j++) mean[j]! /= Math.max(1, m);
  for (let r = 0; r < m; r++) {
    const i = rows[r]!;
    for (let j = 0; j < p; j++) sd[j]! += (x[i * p + j]! - mean[j]!) ** 2;
  }
  for (let j = 0; j < p; j++) {
    const s = Math.sqrt(sd[j]! / Math.max(1, m - 1));
    sd[j] = s > 1e-12 ? s : 1;
  }
  return { mean, sd };
}

/** (x − mean) / sd for every row. */
export function standardize(x: Float64Array, p: number, s: { mean: Float64Array; sd: Float64Array }): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const j = i % p;
    out[i] = (x[i]! - s.mean[j]!) / s.sd[j]!;
  }
  return out;
}

/** [1, x] rows of the listed samples: the design with an intercept column first. */
function design(x: Float64Array, p: number, rows: ArrayLike<number>): Float64Array {
  const d = new Float64Array(rows.length * (p + 1));
  for (let r = 0; r < rows.length; r++) {
    d[r * (p + 1)] = 1;
    d.set(x.subarray(rows[r]! * p, rows[r]! * p + p), r * (p + 1) + 1);
  }
  return d;
}

/**
 * Ridge regression: β = (XᵀX + λ·I′)⁻¹ Xᵀy with an unpenalized intercept (I′ is the identity
 * with a 0 for the intercept), fitted on the rows `train`. Returns β = [intercept, p slopes].
 */
export function ridgeFit(
  x: Float64Array,
  p: number,
  y: ArrayLike<number>,
  train: ArrayLike<number>,
  lambda = 1,
): Float64Array {
  const q = p + 1,
    d = design(x, p, train),
    m = train.length;
  const a = new Float64Array(q * q),
    b = new Float64Array(q);
  for (let r = 0; r < m; r++) {
    const row = d.subarray(r * q, r * q + q),
      yr = y[train[r]!]!;
    for (let i = 0; i < q; i++) {
      b[i]! += row[i]! * yr;
      for (let j = 0; j <= i; j++) a[i * q + j]! += row[i]! * row[j]!;
    }
  }
  for (let i = 0; i < q; i++) for (let j = 0; j < i; j++) a[j * q + i] = a[i * q + j]!;
  for (let i = 1; i < q; i++) a[i * q + i]! += lambda;
  a[0]! += 1e-9; // keeps the intercept's pivot positive for degenerate folds
  return solveSpd(a, b, q);
}

/** η_i = β₀ + Σ_j β_{j+1}·x_ij for every row of x [n, p], summed in j order (the same bits for a row wherever it sits). */
export function linearPredictor(beta: Float64Array, x: Float64Array, n: number, p: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let v = beta[0]!;
    for (let j = 0; j < p; j++) v += beta[j + 1]! * x[i * p + j]!;
    out[i] = v;
  }
  return out;
}

/** Ridge regression (ridgeFit) fitted on `train`; returns the prediction for every row of x. */
export function ridgePredict(
  x: Float64Array,
  n: number,
  p: number,
  y: ArrayLike<number>,
  train: ArrayLike<number>,
  lambda = 1,
): Float64Array {
  return linearPredictor(ridgeFit(x, p, y, train, lambda), x, n, p);
}

/**
 * Binary L2 logistic regression by Newton's method (IRLS): minimizes
 * Σ log(1 + e^{−s·η}) + (λ/2)‖β‖² (intercept unpenalized), λ = 1/C as in scikit-learn's
 * default C = 1. Returns β = [intercept, p slopes]; P(y = 1) = 1 / (1 + e^{−η}).
 */
function logisticBinary(
  x: Float64Array,
  p: number,
  y01: Float64Array,
  train: ArrayLike<number>,
  lambda: number,
): Float64Array {
  const q = p + 1,
    d = design(x, p, train),
    m = train.length;
  const beta = new Float64Array(q);
  const eta = (row: Float64Array): number => {
    let v = 0;
    for (let j = 0; j < q; j++) v += beta[j]! * row[j]!;
    return v;
  };
  for (let iter = 0; iter < 50; iter++) {
    const h = new Float64Array(q * q),
      g = new Float64Array(q);
    for (let j = 1; j < q; j++) {
      g[j] = lambda * beta[j]!;
      h[j * q + j] = lambda;
    }
    h[0] = 1e-9;
    for (let r = 0; r < m; r++) {
      const row = d.subarray(r * q, r * q + q),
        mu = 1 / (1 + Math.exp(-eta(row))),
        w = Math.max(mu * (1 - mu), 1e-12),
        e = mu - y01[train[r]!]!;
      for (let i = 0; i < q; i++) {
        g[i]! += e * row[i]!;
        for (let j = 0; j <= i; j++) h[i * q + j]! += w * row[i]! * row[j]!;
      }
    }
    for (let i = 0; i < q; i++) for (let j = 0; j < i; j++) h[j * q + i] = h[i * q + j]!;
    const step = solveSpd(h, g, q);
    let change = 0;
    for (let j = 0; j < q; j++) {
      beta[j]! -= step[j]!;
      change = Math.max(change, Math.abs(step[j]!));
    }
    if (change < 1e-8) break;
  }
  return beta;
}

/**
 * L2 logistic regression for `classes` classes fitted on the rows `train`: binary directly
 * (one β, of class 1), more classes one-vs-rest (one β per class). Returns the βs as rows of
 * [count, p + 1]; logisticApply turns them into probabilities.
 */
export function logisticFit(
  x: Float64Array,
  p: number,
  labels: Int32Array,
  classes: number,
  train: ArrayLike<number>,
  lambda = 1,
): Float64Array {
  const fitted = (c: number): Float64Array =>
    logisticBinary(
      x,
      p,
      Float64Array.from(labels, (l) => (l === c ? 1 : 0)),
      train,
      lambda,
    );
  if (classes === 2) return fitted(1);
  const out = new Float64Array(classes * (p + 1));
  for (let c = 0; c < classes; c++) out.set(fitted(c), c * (p + 1));
  return out;
}

/** Probabilities [n, classes] of every row of x from logisticFit's βs; one-vs-rest ones renormalized to sum to 1. */
export function logisticApply(
  betas: Float64Array,
  x: Float64Array,
  n: number,
  p: number,
  classes: number,
): Float64Array {
  const out = new Float64Array(n * classes),
    q = p + 1;
  const prob = (c: number): Float64Array =>
    linearPredictor(betas.subarray(c * q, c * q + q), x, n, p).map((v) => 1 / (1 + Math.exp(-v)));
  if (classes === 2) {
    const p1 = prob(0);
    for (let i = 0; i < n; i++) {
      out[i * 2] = 1 - p1[i]!;
      out[i * 2 + 1] = p1[i]!;
    }
    return out;
  }
  for (let c = 0; c < classes; c++) {
    const pc = prob(c);
    for (let i = 0; i < n; i++) out[i * classes + c] = pc[i]!;
  }
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let c = 0; c < classes; c++) s += out[i * classes + c]!;
    for (let c = 0; c < classes; c++) out[i * classes + c]! /= s;
  }
  return out;
}

/** L2 logistic regression (logisticFit) fitted on `train`; returns probabilities [n, classes] for every row of x. */
export function logisticPredict(
  x: Float64Array,
  n: number,
  p: number,
  labels: Int32Array,
  classes: number,
  train: ArrayLike<number>,
  lambda = 1,
): Float64Array {
  return logisticApply(logisticFit(x, p, labels, classes, train, lambda), x, n, p, classes);
}

/** A fitted logistic (classes ≥ 2) or ridge (classes 0) model on features standardized by its fitting rows' means and sds. */
export interface LinearModel {
  classes: number;
  mean: Float64Array;
  sd: Float64Array;
  betas: Float64Array;
}

/** Its scores of the rows of x [n, p] (unstandardized): probabilities [n, classes] or values [n]. */
export function linearModelScores(m: LinearModel, x: Float64Array, n: number, p: number): Float64Array {
  const z = standardize(x, p, m);
  return m.classes > 0 ? logisticApply(m.betas, z, n, p, m.classes) : linearPredictor(m.betas, z, n, p);
}
