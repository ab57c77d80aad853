import { argRangeError, argTypeError } from '../core/errors.js';
import { Rng } from '../core/random.js';

// KernelSHAP (Lundberg & Lee 2017): the Shapley values of any model, as the weighted least
// squares fit of a linear model over coalitions z ⊆ features, v(z) ≈ base + Σ_{j∈z} φ_j, with the
// Shapley kernel weight (M-1) / (C(M,|z|) |z| (M-|z|)) and the efficiency constraint
// Σ φ = f(x) - base imposed exactly (φ_M is eliminated). v(z) is interventional: the model's mean
// output over a background set with the features outside z taken from each background row
// (shap's KernelExplainer). When the budget covers every coalition (2^M - 2) they are all
// enumerated and the fit returns the exact Shapley values; otherwise coalitions are sampled in
// complementary pairs, sizes drawn in proportion to the kernel's total weight per size, so each
// sampled coalition enters with weight 1. The coalitions are drawn once and shared by all rows,
// so the normal equations are factored once.

/** A model as a function: rows x [n, features] → outputs [n, outputs] (row-major). */
export type PredictFn = (x: Float64Array, n: number) => Float64Array;

/** KernelSHAP's settings: the background set (rows × features), the number of coalitions sampled per sample (the budget) and the sampling seed. */
export interface KernelShapOptions {
  /** Background rows [backgroundRows, features] that stand in for absent features (e.g. a sample of the training rows). */
  background: Float64Array;
  backgroundRows: number;
  /** Coalitions evaluated per explained row (each costs backgroundRows model rows); default 2048. */
  budget?: number;
  /** Seeds the coalition sample (ignored when every coalition is enumerated); default 1. */
  seed?: number;
}

/** KernelSHAP's result: φ per sample, output and feature, the base value per output and the model's predictions, with how many coalitions were evaluated and whether they were all of them (exact). */
export interface KernelShapValues {
  /** φ [n, outputs, f] row-major: values[(i·outputs + k)·f + j]. */
  values: Float64Array;
  /** Mean model output over the background, per output: base + Σ_j φ = prediction. */
  base: Float64Array;
  /** The model's output per row [n, outputs]. */
  prediction: Float64Array;
  n: number;
  f: number;
  outputs: number;
  /** Coalitions evaluated per row, and whether that was all of them (then the values are exact). */
  coalitions: number;
  exact: boolean;
}

/** The rows model-evaluated per predict call (bounds memory at this many × features floats). */
const CHUNK_ROWS = 16384;

function lnChoose(m: number, k: number): number {
  let s = 0;
  for (let i = 1; i <= k; i++) s += Math.log((m - k + i) / i);
  return s;
}

/**
 * The fewest coalitions KernelSHAP over `f` features takes: every coalition (2^f − 2) where
 * that is fewer, else two per feature and one pair more (sampled coalitions come in
 * complementary pairs, and the weighted fit needs more rows than unknowns).
 */
export function kernelShapMinBudget(f: number): number {
  return Math.max(2, Math.min(2 * f + 2, 2 ** f - 2));
}

/** Coalitions as 0/1 masks [count, f] with their regression weights. */
function coalitions(
  f: number,
  budget: number,
  seed: number,
): { masks: Uint8Array; weights: Float64Array; count: number; exact: boolean } {
  if (f <= 30 && 2 ** f - 2 <= budget) {
    const count = 2 ** f - 2,
      masks = new Uint8Array(count * f),
      weights = new Float64Array(count);
    for (let m = 1; m <= count; m++) {
      let size = 0;
      for (let j = 0; j < f; j++)
        if ((m >> j) & 1) {
          masks[(m - 1) * f + j] = 1;
          size++;
        }
      weights[m - 1] = (f - 1) / Math.exp(lnChoose(f, size) + Math.log(size * (f - size)));
    }
    return { masks, weights, count, exact: true };
  }
  // size s carries total kernel weight C(f,s)·w(s) ∝ 1 / (s (f - s))
  const sizeWeight = Float64Array.from({ length: f - 1 }, (_, i) => 1 / ((i + 1) * (f - i - 1)));
  const total = sizeWeight.reduce((a, b) => a + b, 0);
  const pairs = Math.floor(budget / 2),
    count = pairs * 2;
  const masks = new Uint8Array(count * f),
    rng = new Rng(seed),
    order = Int32Array.from({ length: f }, (_, j) => j);
  for (let q = 0; q < pairs; q++) {
    let u = rng.next() * total,
      size = 1;
    while (size < f - 1 && u >= sizeWeight[size - 1]!) {
      u -= sizeWeight[size - 1]!;
      size++;
    }
    for (let j = 0; j < size; j++) {
      // partial Fisher-Yates: the first `size` of order are the coalition
      const k = j + Math.floor(rng.next() * (f - j));
      const t = order[j]!;
      order[j] = order[k]!;
      order[k] = t;
    }
    const a = 2 * q * f,
      b = a + f;
    masks.fill(1, b, b + f);
    for (let j = 0; j < size; j++) {
      masks[a + order[j]!] = 1;
      masks[b + order[j]!] = 0;
    }
  }
  return { masks, weights: new Float64Array(count).fill(1), count, exact: false };
}

/** LU with partial pivoting of the (f-1)² normal matrix, in place; throws when it is singular. */
function luFactor(a: Float64Array, m: number): Int32Array {
  const piv = Int32Array.from({ length: m }, (_, i) => i);
  let scale = 0;
  for (let i = 0; i < m; i++) scale = Math.max(scale, Math.abs(a[i * m + i]!));
  for (let c = 0; c < m; c++) {
    let best = c;
    for (let r = c + 1; r < m; r++) if (Math.abs(a[r * m + c]!) > Math.abs(a[best * m + c]!)) best = r;
    if (!(Math.abs(a[best * m + c]!) > 1e-12 * scale)) {
      throw argRangeError(
        'kernelShap',
        'options.budget',
        `large enough that the sampled coalitions pin down every feature (try more than ${2 * (m + 1)})`,
        'too few',
      );
    }
    if (best !== c) {
      for (let k = 0; k < m; k++) {
        const t = a[c * m + k]!;
        a[c * m + k] = a[best * m + k]!;
        a[best * m + k] = t;
      }
      const t = piv[c]!;
      piv[c] = piv[best]!;
      piv[best] = t;
    }
    for (let r = c + 1; r < m; r++) {
      a[r * m + c]! /= a[c * m + c]!;
      const l = a[r * m + c]!;
      if (l !== 0) for (let k = c + 1; k < m; k++) a[r * m + k]! -= l * a[c * m + k]!;
    }
  }
  return piv;
}

function luSolve(a: Float64Array, piv: Int32Array, m: number, b: Float64Array): Float64Array {
  const y = Float64Array.from(piv, (p) => b[p]!);
  for (let r = 0; r < m; r++) for (let k = 0; k < r; k++) y[r]! -= a[r * m + k]! * y[k]!;
  for (let r = m - 1; r >= 0; r--) {
    for (let k = r + 1; k < m; k++) y[r]! -= a[r * m + k]! * y[k]!;
    y[r]! /= a[r * m + r]!;
  }
  return y;
}

/**
 * Shapley values of `predict` for the rows of x [n, f], against a background set. Additive
 * by construction: base + Σ_j φ equals the prediction to rounding, whatever the budget.
 *
 * @example
 * const s = kernelShap((x, n) => model.score(x, n), x, n, f, { background, backgroundRows: 20, budget: 1024 });
 */
export function kernelShap(
  predict: PredictFn,
  x: Float64Array,
  n: number,
  f: number,
  o: KernelShapOptions,
): KernelShapValues {
  const run = kernelShapSteps(predict, x, n, f, o);
  let step = run.next();
  while (!step.done) step = run.next(predict(step.value.rows, step.value.count));
  return step.value;
}

/** A model whose scores come back as a promise (one run through the engine's runtime). */
export type AsyncPredictFn = (x: Float64Array, n: number) => Promise<Float64Array>;

/**
 * kernelShap for a model scored asynchronously (a network run by the runtime): the same
 * coalitions, the same fit and the same values for the same scores. Rows are handed to
 * `predict` in batches of up to 16384.
 */
export async function kernelShapAsync(
  predict: AsyncPredictFn,
  x: Float64Array,
  n: number,
  f: number,
  o: KernelShapOptions,
): Promise<KernelShapValues> {
  if (typeof predict !== 'function')
    throw argTypeError('kernelShap', 'predict', 'a function (x, n) => Promise of outputs', predict);
  const run = kernelShapSteps(predict, x, n, f, o);
  let step = run.next();
  while (!step.done) step = run.next(await predict(step.value.rows, step.value.count));
  return step.value;
}

/**
 * KernelSHAP as a generator: it yields each batch of rows to score and is resumed with their
 * scores, so one body serves a synchronous and an asynchronous model.
 */
function* kernelShapSteps(
  predict: unknown,
  x: Float64Array,
  n: number,
  f: number,
  o: KernelShapOptions,
): Generator<{ rows: Float64Array; count: number }, KernelShapValues, Float64Array> {
  const fn = 'kernelShap';
  if (typeof predict !== 'function') throw argTypeError(fn, 'predict', 'a function (x, n) => outputs', predict);
  if (!(x instanceof Float64Array)) throw argTypeError(fn, 'x', 'a Float64Array', x);
  if (!Number.isInteger(f) || f < 1) throw argRangeError(fn, 'f', 'a positive integer', f);
  if (!Number.isInteger(n) || n < 0) throw argRangeError(fn, 'n', 'a non-negative integer', n);
  if (x.length !== n * f) throw argRangeError(fn, 'x.length', `n*f = ${n * f}`, x.length);
  const { background: bg, backgroundRows: nb } = o;
  if (!(bg instanceof Float64Array)) throw argTypeError(fn, 'options.background', 'a Float64Array', bg);
  if (!Number.isInteger(nb) || nb < 1) throw argRangeError(fn, 'options.backgroundRows', 'a positive integer', nb);
  if (bg.length !== nb * f)
    throw argRangeError(fn, 'options.background.length', `backgroundRows*f = ${nb * f}`, bg.length);
  const budget = o.budget ?? 2048,
    seed = o.seed ?? 1;
  if (!Number.isInteger(budget) || budget < kernelShapMinBudget(f)) {
    throw argRangeError(
      fn,
      'options.budget',
      `an integer of at least ${kernelShapMinBudget(f)} (two coalitions per feature and one pair more)`,
      budget,
    );
  }
  const check = (out: Float64Array, count: number): Float64Array => {
    if (!(out instanceof Float64Array) || out.length % Math.max(count, 1) !== 0 || (count > 0 && out.length === 0)) {
      throw argTypeError(fn, 'predict', `a function returning a Float64Array of [${count}, outputs]`, out);
    }
    return out;
  };
  const bgOut = check(yield { rows: bg, count: nb }, nb),
    outputs = bgOut.length / nb;
  const base = new Float64Array(outputs);
  for (let b = 0; b < nb; b++) for (let k = 0; k < outputs; k++) base[k]! += bgOut[b * outputs + k]! / nb;
  const prediction = n > 0 ? check(yield { rows: x.slice(), count: n }, n) : new Float64Array(0);
  if (prediction.length !== n * outputs)
    throw argTypeError(
      fn,
      'predict',
      `a function returning ${outputs} outputs per row, as it did for the background`,
      prediction,
    );
  const values = new Float64Array(n * outputs * f);
  if (f === 1) {
    // one feature takes all of f(x) - base
    for (let i = 0; i < n; i++)
      for (let k = 0; k < outputs; k++) values[i * outputs + k] = prediction[i * outputs + k]! - base[k]!;
    return { values, base, prediction, n, f, outputs, coalitions: 0, exact: true };
  }
  const { masks, weights, count, exact } = coalitions(f, budget, seed);
  // Normal equations of the fit with φ_f eliminated: columns d_j = z_j - z_f, j < f.
  const m = f - 1,
    ata = new Float64Array(m * m);
  for (let c = 0; c < count; c++) {
    const z = c * f,
      w = weights[c]!,
      zl = masks[z + m]!;
    for (let j = 0; j < m; j++) {
      const dj = masks[z + j]! - zl;
      if (dj === 0) continue;
      for (let k = 0; k < m; k++) ata[j * m + k]! += w * dj * (masks[z + k]! - zl);
    }
  }
  const piv = luFactor(ata, m);
  const perChunk = Math.max(1, Math.floor(CHUNK_ROWS / nb));
  const v = new Float64Array(count * outputs);
  for (let i = 0; i < n; i++) {
    const row = x.subarray(i * f, i * f + f);
    v.fill(0);
    for (let c0 = 0; c0 < count; c0 += perChunk) {
      const cs = Math.min(perChunk, count - c0),
        rows = new Float64Array(cs * nb * f);
      for (let c = 0; c < cs; c++) {
        const z = (c0 + c) * f;
        for (let b = 0; b < nb; b++) {
          const at = (c * nb + b) * f;
          for (let j = 0; j < f; j++) rows[at + j] = masks[z + j] ? row[j]! : bg[b * f + j]!;
        }
      }
      const out = check(yield { rows, count: cs * nb }, cs * nb);
      if (out.length !== cs * nb * outputs)
        throw argTypeError(fn, 'predict', `a function returning ${outputs} outputs per row`, out);
      for (let c = 0; c < cs; c++)
        for (let b = 0; b < nb; b++)
          for (let k = 0; k < outputs; k++) v[(c0 + c) * outputs + k]! += out[(c * nb + b) * outputs + k]! / nb;
    }
    for (let k = 0; k < outputs; k++) {
      const delta = prediction[i * outputs + k]! - base[k]!,
        rhs = new Float64Array(m);
      for (let c = 0; c < count; c++) {
        const z = c * f,
          zl = masks[z + m]!;
        const y = weights[c]! * (v[c * outputs + k]! - base[k]! - zl * delta);
        for (let j = 0; j < m; j++) {
          const dj = masks[z + j]! - zl;
          if (dj !== 0) rhs[j]! += dj * y;
        }
      }
      const phi = luSolve(ata, piv, m, rhs),
        at = (i * outputs + k) * f;
      let sum = 0;
      for (let j = 0; j < m; j++) {
        values[at + j] = phi[j]!;
        sum += phi[j]!;
      }
      values[at + m] = delta - sum;
    }
  }
  return { values, base, prediction, n, f, outputs, coalitions: count, exact };
}
