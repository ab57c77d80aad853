import { argRangeError, argTypeError } from '../core/errors.js';
import { Rng } from '../core/random.js';

// Per-sample normalizations of a counts matrix x [n samples, p taxa], row-major. Every
// function returns a new array and leaves x alone, so one counts matrix can feed several
// pipelines (a fold's training and test rows, several methods) without copies at the call.

export type Normalization = 'tss' | 'css' | 'com' | 'rarefy' | 'clr' | 'mclr' | 'none';
export const NORMALIZATIONS: readonly Normalization[] = ['tss', 'css', 'com', 'rarefy', 'clr', 'mclr', 'none'];

/** The scale metagenomeSeq's `MRcounts(norm = TRUE)` multiplies CSS-normalized counts by. */
export const CSS_SCALE = 1000;

export interface NormalizeOptions {
  /** rarefy: the RNG seed (required for rarefy). */
  seed?: number;
  /** rarefy: reads per sample (default: the smallest sample total). */
  depth?: number;
  /** css: the quantile of each sample's nonzero counts (default: `cssPercentile` of the data). */
  cssQuantile?: number;
  /** com: the common total (default: the smallest sample total of the data). */
  common?: number;
  /** mclr: the shift added to nonzero entries (default: eps − the smallest nonzero c of the data). */
  mclrShift?: number;
}

/** Applies `method` to x [n, p]; see the function of each method for its formula. */
export function normalize(
  x: Float64Array,
  n: number,
  p: number,
  method: Normalization,
  o: NormalizeOptions = {},
): Float64Array {
  switch (method) {
    case 'tss':
      return tss(x, n, p);
    case 'css':
      return css(x, n, p, o.cssQuantile);
    case 'com':
      return com(x, n, p, o.common);
    case 'rarefy':
      if (o.seed === undefined)
        throw argRangeError('normalize', 'o.seed', 'an integer seed when method is rarefy', undefined);
      return rarefy(x, n, p, o.depth, o.seed);
    case 'clr':
      return clr(x, n, p);
    case 'mclr':
      return mclr(x, n, p, 1, o.mclrShift);
    case 'none':
      checkCounts('normalize', x, n, p);
      return Float64Array.from(x);
    default:
      throw argRangeError('normalize', 'method', `one of ${NORMALIZATIONS.join(', ')}`, method);
  }
}

/**
 * Checks that x is a Float64Array of n·p finite, non-negative values with n, p positive
 * integers; `fn` names the caller in the message. Shared by every preprocessing module.
 */
export function checkCounts(fn: string, x: Float64Array, n: number, p: number): void {
  if (!(x instanceof Float64Array)) throw argTypeError(fn, 'x', 'a Float64Array', x);
  if (!Number.isInteger(n) || n < 1) throw argRangeError(fn, 'n', 'a positive integer', n);
  if (!Number.isInteger(p) || p < 1) throw argRangeError(fn, 'p', 'a positive integer', p);
  if (x.length !== n * p) throw argRangeError(fn, 'x.length', `n*p = ${n * p}`, x.length);
  for (let k = 0; k < x.length; k++) {
    const v = x[k]!;
    // `!(v >= 0)` also catches NaN, which every ordered comparison rejects.
    if (!(v >= 0) || v === Infinity)
      throw argRangeError(fn, `x[${Math.floor(k / p)}, ${k % p}]`, 'a finite non-negative count', v);
  }
}

/** Σ_j x_ij for every row i. */
export function rowTotals(x: Float64Array, n: number, p: number): Float64Array {
  const t = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < p; j++) s += x[i * p + j]!;
    t[i] = s;
  }
  return t;
}

/** Row totals, failing on the first all-zero row (a method that divides by the total needs one). */
export function positiveRowTotals(fn: string, x: Float64Array, n: number, p: number): Float64Array {
  const t = rowTotals(x, n, p);
  for (let i = 0; i < n; i++)
    if (!(t[i]! > 0)) throw argRangeError(fn, `row ${i} of x`, 'a sample with a positive total', t[i]!);
  return t;
}

function minOf(v: Float64Array): number {
  let m = Infinity;
  for (const e of v) m = Math.min(m, e);
  return m;
}

/** out_ij = x_ij · f_i: every normalization that rescales whole samples. */
function scaleRows(x: Float64Array, n: number, p: number, factor: (i: number) => number): Float64Array {
  const out = new Float64Array(n * p);
  for (let i = 0; i < n; i++) {
    const f = factor(i);
    for (let j = 0; j < p; j++) out[i * p + j] = x[i * p + j]! * f;
  }
  return out;
}

/**
 * Total-sum scaling (relative abundance): out_ij = x_ij / N_i, N_i = Σ_j x_ij. Every row
 * then sums to 1. An all-zero row has no composition and is an error.
 */
export function tss(x: Float64Array, n: number, p: number): Float64Array {
  checkCounts('tss', x, n, p);
  const total = positiveRowTotals('tss', x, n, p);
  return scaleRows(x, n, p, (i) => 1 / total[i]!);
}

/**
 * Common-sum scaling: every sample scaled to the smallest sample total,
 * out_ij = x_ij · (min_k N_k) / N_i. All-zero rows are an error (the minimum would be 0).
 * `common` replaces min_k N_k (a kept model scales new samples to its training minimum).
 */
export function com(x: Float64Array, n: number, p: number, common?: number): Float64Array {
  checkCounts('com', x, n, p);
  const total = positiveRowTotals('com', x, n, p);
  if (common === undefined) common = minOf(total);
  else if (!(common > 0) || !Number.isFinite(common))
    throw argRangeError('com', 'common', 'a positive finite number', common);
  return scaleRows(x, n, p, (i) => common / total[i]!);
}

/** R's default (type 7) quantile of ascending `sorted` at probability q: linear between order statistics at 1 + (m−1)q. */
function quantile7(sorted: readonly number[], q: number): number {
  const h = (sorted.length - 1) * q,
    lo = Math.floor(h),
    hi = Math.ceil(h);
  const a = sorted[lo]!,
    b = sorted[hi]!;
  return hi === lo || a === b ? a : a + (h - lo) * (b - a);
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b),
    m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The nonzero counts of row i, ascending. */
function nonzeroAscending(x: Float64Array, p: number, i: number): number[] {
  const v: number[] = [];
  for (let j = 0; j < p; j++) {
    const c = x[i * p + j]!;
    if (c > 0) v.push(c);
  }
  return v.sort((a, b) => a - b);
}

/**
 * The data-driven CSS quantile l̂ of metagenomeSeq's `cumNormStatFast` (the default of its
 * `cumNorm`), with samples as rows. Let s_i be sample i's nonzero counts ascending (m_i of
 * them, each m_i ≥ 2) and L = max_i m_i. For r = 0 … L−1:
 *   ref_r   = mean over i of s_i padded on the left with zeros to length L, at position r
 *   q_ir    = type-7 quantile of s_i at probability r / (L − 1)
 *   d_r     = median over i of |ref_r − q_ir|
 * l̂ = k / L for the first k ≥ 1 with |d_k − d_{k−1}| / d_k > rel (rel = 0.1 by default),
 * raised to 0.5 when it is ≤ 0.5. Where no k qualifies metagenomeSeq fails (NA); here l̂ = 0.5.
 */
export function cssPercentile(x: Float64Array, n: number, p: number, rel = 0.1): number {
  checkCounts('cssPercentile', x, n, p);
  if (!(rel > 0) || !Number.isFinite(rel)) throw argRangeError('cssPercentile', 'rel', 'a positive finite number', rel);
  positiveRowTotals('cssPercentile', x, n, p);
  const samples = Array.from({ length: n }, (_, i) => nonzeroAscending(x, p, i));
  samples.forEach((s, i) => {
    if (s.length < 2)
      throw argRangeError('cssPercentile', `row ${i} of x`, 'a sample with at least two nonzero counts', s.length);
  });
  const len = samples.reduce((m, s) => Math.max(m, s.length), 0);
  const d = new Float64Array(len);
  for (let r = 0; r < len; r++) {
    let ref = 0;
    for (const s of samples) {
      const at = r - (len - s.length);
      if (at >= 0) ref += s[at]!;
    }
    ref /= n;
    // R's seq(0, 1, length.out = L) ends exactly at 1; r / (L − 1) does too.
    d[r] = median(samples.map((s) => Math.abs(ref - quantile7(s, r / (len - 1)))));
  }
  for (let k = 1; k < len; k++) {
    // NaN (0/0) never passes, Infinity (jump from a zero median) does, as in R.
    if (Math.abs(d[k]! - d[k - 1]!) / d[k]! > rel) return Math.max(0.5, k / len);
  }
  return 0.5;
}

/**
 * Cumulative-sum scaling (Paulson et al. 2013, metagenomeSeq `cumNormMat` / `MRcounts(norm =
 * TRUE)`): with q_i the type-7 quantile at `quantile` of sample i's nonzero counts, the
 * scaling factor is s_i = Σ_{j: 0 < x_ij ≤ q_i} x_ij, and out_ij = x_ij / (s_i / 1000).
 * Default quantile: the data-driven `cssPercentile` (metagenomeSeq's `cumNormStatFast`).
 * metagenomeSeq subtracts machine epsilon from each count before comparing and summing; that
 * shifts s_i by under p·2.2e-16 and is left out.
 */
export function css(x: Float64Array, n: number, p: number, quantile?: number): Float64Array {
  checkCounts('css', x, n, p);
  positiveRowTotals('css', x, n, p);
  const l = quantile ?? cssPercentile(x, n, p);
  if (!(l >= 0 && l <= 1)) throw argRangeError('css', 'quantile', 'a number in [0, 1]', l);
  const factor = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const s = nonzeroAscending(x, p, i),
      q = quantile7(s, l);
    factor[i] = s.reduce((acc, c) => (c <= q ? acc + c : acc), 0);
  }
  return scaleRows(x, n, p, (i) => 1 / (factor[i]! / CSS_SCALE));
}

/** Uniform integer in [0, m) from 53 random bits (bias under m / 2^53). */
function uniformBelow(rng: Rng, m: number): number {
  const u = (rng.nextU32() * 2097152 + (rng.nextU32() >>> 11)) / 9007199254740992;
  return Math.floor(u * m);
}

/** Fenwick (binary indexed) tree over one sample's counts: find the taxon of the r-th remaining read in O(log p). */
class ReadUrn {
  private readonly tree: Float64Array;
  private readonly top: number;

  constructor(counts: ArrayLike<number>) {
    const p = counts.length;
    this.tree = new Float64Array(p + 1);
    for (let j = 0; j < p; j++) this.add(j, counts[j]!);
    let top = 1;
    while (top * 2 <= p) top *= 2;
    this.top = top;
  }

  private add(j: number, v: number): void {
    for (let k = j + 1; k < this.tree.length; k += k & -k) this.tree[k]! += v;
  }

  /** Removes the read with 0-based rank r (reads ordered by taxon) and returns its taxon. */
  take(r: number): number {
    let pos = 0,
      rest = r;
    for (let step = this.top; step > 0; step >>= 1) {
      const next = pos + step;
      if (next < this.tree.length && this.tree[next]! <= rest) {
        pos = next;
        rest -= this.tree[next]!;
      }
    }
    this.add(pos, -1);
    return pos;
  }
}

/**
 * Rarefaction: each sample subsampled without replacement to `depth` reads (default: the
 * smallest sample total). Sampling is sequential draws from the sample's urn of reads: each
 * draw picks one of the R remaining reads uniformly (53-bit uniform integer) and removes it,
 * found by rank in a Fenwick tree over the taxa, so a sample costs O(depth · log p), never
 * O(N_i). The result per sample is exactly multivariate hypergeometric. Counts must be
 * whole numbers; a sample with fewer than `depth` reads is an error. Deterministic for a seed.
 */
export function rarefy(x: Float64Array, n: number, p: number, depth: number | undefined, seed: number): Float64Array {
  checkCounts('rarefy', x, n, p);
  if (!Number.isInteger(seed)) throw argRangeError('rarefy', 'seed', 'an integer', seed);
  for (let k = 0; k < x.length; k++) {
    if (!Number.isInteger(x[k]!))
      throw argRangeError('rarefy', `x[${Math.floor(k / p)}, ${k % p}]`, 'a whole-number count', x[k]!);
  }
  const total = positiveRowTotals('rarefy', x, n, p);
  const d = depth ?? minOf(total);
  if (!Number.isInteger(d) || d < 1) throw argRangeError('rarefy', 'depth', 'a positive integer', d);
  for (let i = 0; i < n; i++) {
    if (total[i]! < d)
      throw argRangeError('rarefy', `row ${i} of x`, `a sample with at least depth = ${d} reads`, total[i]!);
  }
  const rng = new Rng(seed),
    out = new Float64Array(n * p);
  for (let i = 0; i < n; i++) {
    const urn = new ReadUrn(x.subarray(i * p, (i + 1) * p));
    for (let left = total[i]!, k = 0; k < d; k++, left--) out[i * p + urn.take(uniformBelow(rng, left))]! += 1;
  }
  return out;
}

/**
 * Centred log-ratio: out_ij = log x_ij − (1/p) Σ_k log x_ik, so every row sums to 0.
 * Needs strictly positive values: replace zeros first (zeros.ts).
 */
export function clr(x: Float64Array, n: number, p: number): Float64Array {
  checkCounts('clr', x, n, p);
  for (let k = 0; k < x.length; k++) {
    if (!(x[k]! > 0))
      throw argRangeError(
        'clr',
        `x[${Math.floor(k / p)}, ${k % p}]`,
        'strictly positive (zeros must be replaced first)',
        x[k]!,
      );
  }
  const out = new Float64Array(n * p);
  for (let i = 0; i < n; i++) {
    let mean = 0;
    for (let j = 0; j < p; j++) mean += Math.log(x[i * p + j]!);
    mean /= p;
    for (let j = 0; j < p; j++) out[i * p + j] = Math.log(x[i * p + j]!) - mean;
  }
  return out;
}

/**
 * Modified CLR (Yoon, Gaynanova & Müller 2019; SPRING's `mclr`): for each sample, with
 * Z_i = {j : x_ij > 0}, c_ij = log x_ij − (1/|Z_i|) Σ_{k∈Z_i} log x_ik on Z_i and 0 elsewhere;
 * then out_ij = c_ij − m + eps on every nonzero entry (zeros stay 0), m = min over all
 * nonzero entries of c, so the smallest nonzero output is eps (default 1). m ≤ 0 always;
 * where m = 0 (every sample's nonzero counts equal) SPRING adds nothing, here eps still
 * separates nonzeros from zeros. An all-zero sample stays all zero. `shift` replaces eps − m
 * (a kept model shifts new samples by its training shift; see mclrShift).
 */
export function mclr(x: Float64Array, n: number, p: number, eps = 1, shift?: number): Float64Array {
  checkCounts('mclr', x, n, p);
  if (!(eps > 0) || !Number.isFinite(eps)) throw argRangeError('mclr', 'eps', 'a positive finite number', eps);
  const out = new Float64Array(n * p);
  let min = Infinity;
  for (let i = 0; i < n; i++) {
    let sum = 0,
      count = 0;
    for (let j = 0; j < p; j++) {
      const v = x[i * p + j]!;
      if (v > 0) {
        sum += Math.log(v);
        count++;
      }
    }
    for (let j = 0; j < p; j++) {
      const v = x[i * p + j]!;
      if (v > 0) {
        const c = Math.log(v) - sum / count;
        out[i * p + j] = c;
        min = Math.min(min, c);
      }
    }
  }
  if (shift === undefined) {
    if (min === Infinity) return out;
    shift = eps - min;
  } else if (!Number.isFinite(shift)) throw argRangeError('mclr', 'shift', 'a finite number', shift);
  for (let k = 0; k < out.length; k++) if (x[k]! > 0) out[k]! += shift;
  return out;
}

/** The shift mclr adds to x's nonzero entries (eps − the smallest nonzero c), or null when x is all zero. */
export function mclrShift(x: Float64Array, n: number, p: number, eps = 1): number | null {
  const c = mclr(x, n, p, eps, 0);
  let min = Infinity;
  for (let k = 0; k < c.length; k++) if (x[k]! > 0) min = Math.min(min, c[k]!);
  return min === Infinity ? null : eps - min;
}
