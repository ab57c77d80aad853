import { argRangeError } from '../core/errors.js';
import { checkCounts, positiveRowTotals } from './normalize.js';

// Zero replacement before log-ratio transforms (clr needs every part positive). Every
// function returns a new array; x [n samples, p taxa] row-major is never changed.

export type ZeroReplacement = 'none' | 'pseudo' | 'multrepl' | 'gbm';
export const ZERO_REPLACEMENTS: readonly ZeroReplacement[] = ['none', 'pseudo', 'multrepl', 'gbm'];

export interface ZeroOptions {
  /** pseudo: the constant added to every entry (default 1). */
  pseudo?: number;
  /** multrepl: the value zeros become on the closed composition (default 1/p²). */
  delta?: number;
}

/** Applies `method` to x [n, p]; see the function of each method for its formula. */
export function replaceZeros(
  x: Float64Array,
  n: number,
  p: number,
  method: ZeroReplacement,
  o: ZeroOptions = {},
): Float64Array {
  switch (method) {
    case 'pseudo':
      return pseudocount(x, n, p, o.pseudo);
    case 'multrepl':
      return multiplicativeReplacement(x, n, p, o.delta);
    case 'gbm':
      return gbm(x, n, p);
    case 'none':
      checkCounts('replaceZeros', x, n, p);
      return Float64Array.from(x);
    default:
      throw argRangeError('replaceZeros', 'method', `one of ${ZERO_REPLACEMENTS.join(', ')}`, method);
  }
}

/**
 * Pseudocount: out_ij = x_ij + c on every entry, zeros and nonzeros alike (the common
 * definition; it keeps ratios among small counts comparable to ratios involving zeros).
 * Default c = 1. The result stays on the count scale (not closed).
 */
export function pseudocount(x: Float64Array, n: number, p: number, c = 1): Float64Array {
  checkCounts('pseudocount', x, n, p);
  if (!(c > 0) || !Number.isFinite(c)) throw argRangeError('pseudocount', 'c', 'a positive finite number', c);
  return Float64Array.from(x, (v) => v + c);
}

/**
 * Multiplicative replacement (Martín-Fernández et al. 2003; scikit-bio
 * `multiplicative_replacement`): on the closed composition c_ij = x_ij / N_i, with z_i the
 * number of zeros in row i, out_ij = δ where x_ij = 0 and out_ij = (1 − z_i·δ)·c_ij
 * elsewhere, so every row sums to 1. Default δ = 1/p² (scikit-bio's default). Needs
 * z_i·δ < 1 in every row, and a positive total in every row.
 */
export function multiplicativeReplacement(x: Float64Array, n: number, p: number, delta = 1 / (p * p)): Float64Array {
  checkCounts('multiplicativeReplacement', x, n, p);
  if (!(delta > 0) || !Number.isFinite(delta))
    throw argRangeError('multiplicativeReplacement', 'delta', 'a positive finite number', delta);
  const total = positiveRowTotals('multiplicativeReplacement', x, n, p);
  const out = new Float64Array(n * p);
  for (let i = 0; i < n; i++) {
    let zeros = 0;
    for (let j = 0; j < p; j++) if (x[i * p + j] === 0) zeros++;
    const keep = 1 - zeros * delta;
    if (!(keep > 0))
      throw argRangeError(
        'multiplicativeReplacement',
        'delta',
        `below 1/${zeros} (row ${i} has ${zeros} zeros)`,
        delta,
      );
    for (let j = 0; j < p; j++) {
      const v = x[i * p + j]!;
      out[i * p + j] = v === 0 ? delta : keep * (v / total[i]!);
    }
  }
  return out;
}

export interface GbmOptions {
  /** Cap an imputed proportion above its column's smallest observed one (zCompositions `adjust`, default true). */
  adjust?: boolean;
  /** The cap, as a fraction of that smallest observed proportion (zCompositions `frac`, default 0.65). */
  frac?: number;
}

/**
 * Prior expected proportions t [n, p] of the GBM rule: t_ij = α_ij / Σ_k α_ik with
 * α_ij = Σ_{h≠i} x_hj, the column sums of counts over the other samples (zCompositions
 * `cmultRepl`). A zero t_ij (taxon j positive in no sample but i) is an error, as there.
 */
function leaveOneOutProportions(x: Float64Array, n: number, p: number): Float64Array {
  const colSum = new Float64Array(p);
  for (let i = 0; i < n; i++) for (let j = 0; j < p; j++) colSum[j]! += x[i * p + j]!;
  const t = new Float64Array(n * p);
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (let j = 0; j < p; j++) {
      const a = colSum[j]! - x[i * p + j]!;
      t[i * p + j] = a;
      sum += a;
    }
    for (let j = 0; j < p; j++) {
      const v = t[i * p + j]! / sum;
      if (!(v > 0))
        throw argRangeError(
          'gbm',
          `column ${j} of x`,
          'a taxon with positive counts in at least two samples',
          colSum[j]!,
        );
      t[i * p + j] = v;
    }
  }
  return t;
}

/** Per column, the smallest closed value x_ij / N_i over the samples where x_ij > 0. */
function smallestObservedProportions(x: Float64Array, n: number, p: number, total: Float64Array): Float64Array {
  const min = new Float64Array(p).fill(Infinity);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < p; j++) {
      const v = x[i * p + j]!;
      if (v > 0) min[j] = Math.min(min[j]!, v / total[i]!);
    }
  return min;
}

/**
 * Geometric Bayesian-multiplicative replacement, zCompositions `cmultRepl(method = "GBM",
 * output = "prop")` (Martín-Fernández, Hron, Templ, Filzmoser & Palarea-Albaladejo 2015),
 * checked against zCompositions 1.6.0's source. For sample i with total N_i:
 *   t_ij = α_ij / Σ_k α_ik, α_ij = Σ_{h≠i} x_hj           (leave-one-out column sums)
 *   s_i  = 1 / exp((1/p) Σ_j log t_ij)                     (1 / geometric mean of t_i)
 *   r_ij = t_ij · s_i / (N_i + s_i)                        (posterior estimate for a zero)
 * With adjust (default), r_ij > m_j becomes frac·m_j (frac = 0.65), m_j the smallest observed
 * proportion of column j. Then out_ij = r_ij on zeros and (x_ij / N_i)·(1 − Σ_{k zero} r_ik)
 * elsewhere; rows sum to 1 (a sample without zeros is only closed). Unlike zCompositions,
 * no row or column is ever dropped (its `z.warning` deletion) and data without any zero is
 * accepted: the shape is kept. Needs n ≥ 2, every row total positive, and
 * every taxon positive in at least two samples.
 */
export function gbm(x: Float64Array, n: number, p: number, o: GbmOptions = {}): Float64Array {
  checkCounts('gbm', x, n, p);
  if (n < 2) throw argRangeError('gbm', 'n', 'at least 2 (the prior leaves each sample out)', n);
  const total = positiveRowTotals('gbm', x, n, p);
  return gbmRows(x, n, p, total, leaveOneOutProportions(x, n, p), smallestObservedProportions(x, n, p, total), o);
}

/** What GBM learns from a table: its column sums (the prior) and smallest observed proportions (the cap). */
export interface GbmPrior {
  colSum: Float64Array;
  colMin: Float64Array;
}

/** The GBM prior of a (training) table, for gbmNewSamples. */
export function gbmPrior(x: Float64Array, n: number, p: number): GbmPrior {
  checkCounts('gbmPrior', x, n, p);
  const total = positiveRowTotals('gbmPrior', x, n, p);
  const colSum = new Float64Array(p);
  for (let i = 0; i < n; i++) for (let j = 0; j < p; j++) colSum[j]! += x[i * p + j]!;
  return { colSum, colMin: smallestObservedProportions(x, n, p, total) };
}

/**
 * GBM replacement of samples that were not in the table the prior came from: the same rule
 * as gbm, with t_ij = α_j / Σ_k α_k from the table's column sums (nothing to leave out: the
 * sample is not among them) and the cap from the table's smallest observed proportions. Each
 * row is replaced on its own, so a sample gets the same values whatever else is scored with it.
 */
export function gbmNewSamples(
  x: Float64Array,
  n: number,
  p: number,
  prior: GbmPrior,
  o: GbmOptions = {},
): Float64Array {
  checkCounts('gbmNewSamples', x, n, p);
  if (prior.colSum.length !== p || prior.colMin.length !== p)
    throw argRangeError('gbmNewSamples', 'prior', `column sums and minima of ${p} taxa`, prior.colSum.length);
  const total = positiveRowTotals('gbmNewSamples', x, n, p);
  let sum = 0;
  for (let j = 0; j < p; j++) sum += prior.colSum[j]!;
  const t = new Float64Array(n * p);
  for (let j = 0; j < p; j++) {
    const v = prior.colSum[j]! / sum;
    if (!(v > 0))
      throw argRangeError(
        'gbmNewSamples',
        `column ${j} of the prior`,
        'a taxon with positive counts in the training table',
        prior.colSum[j]!,
      );
    for (let i = 0; i < n; i++) t[i * p + j] = v;
  }
  return gbmRows(x, n, p, total, t, prior.colMin, o);
}

/** The replacement itself, given each row's prior proportions t [n, p] and the columns' caps. */
function gbmRows(
  x: Float64Array,
  n: number,
  p: number,
  total: Float64Array,
  t: Float64Array,
  colMin: Float64Array,
  o: GbmOptions,
): Float64Array {
  const frac = o.frac ?? 0.65,
    adjust = o.adjust ?? true;
  if (!(frac > 0 && frac <= 1)) throw argRangeError('gbm', 'frac', 'a number in (0, 1]', frac);
  const out = new Float64Array(n * p);
  for (let i = 0; i < n; i++) {
    let meanLog = 0;
    for (let j = 0; j < p; j++) meanLog += Math.log(t[i * p + j]!);
    const s = 1 / Math.exp(meanLog / p),
      shrink = s / (total[i]! + s);
    let imputed = 0;
    for (let j = 0; j < p; j++) {
      if (x[i * p + j]! > 0) continue;
      let r = t[i * p + j]! * shrink;
      if (adjust && r > colMin[j]!) r = frac * colMin[j]!;
      out[i * p + j] = r;
      imputed += r;
    }
    for (let j = 0; j < p; j++) {
      const v = x[i * p + j]!;
      if (v > 0) out[i * p + j] = (v / total[i]!) * (1 - imputed);
    }
  }
  return out;
}
