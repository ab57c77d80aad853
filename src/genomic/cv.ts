import { DataError, parseTable } from '../data/csv.js';
import { argRangeError } from '../errors.js';
import { Rng } from '../nn/random.js';
import { regressionReport } from '../train/metrics.js';

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
  idx.forEach((i, r) => { fold[i] = (r % k) + 1; });
  return fold;
}

/**
 * Folds from a file of (id, fold) rows, e.g. BGLR's wheat_sets.csv. Returns the fold per
 * sample of `ids` (0 when the file does not list it) and the fold count.
 */
export function readFolds(file: string, ids: string[]): { fold: Int32Array; k: number; unlisted: number; unknown: number } {
  const t = parseTable(file);
  if (t.header.length < 2) throw new DataError(file, 1, 'expected two columns: sample id, fold');
  const byId = new Map<string, number>();
  t.rows.forEach((r, k) => {
    const line = t.lines[k]!;
    const f = Number(r[1]);
    if (!Number.isInteger(f) || f < 1) throw new DataError(file, line, `fold ${JSON.stringify(r[1])} of sample '${r[0]}' is not a positive integer`);
    if (byId.has(r[0]!)) throw new DataError(file, line, `sample '${r[0]}' appears twice`);
    byId.set(r[0]!, f);
  });
  const fold = new Int32Array(ids.length);
  let unlisted = 0;
  const known = new Set(ids);
  ids.forEach((id, i) => { const f = byId.get(id); if (f === undefined) unlisted++; else fold[i] = f; });
  const unknown = [...byId.keys()].filter((id) => !known.has(id)).length;
  const k = Math.max(0, ...fold);
  if (k < 2) throw new DataError(file, 0, `needs at least 2 folds over the genotyped samples; found ${k}`);
  return { fold, k, unlisted, unknown };
}

export interface FoldMetrics {
  n: number;
  r: number;
  rmse: number;
  r2: number;
}

/** Pearson r, RMSE and R² (1 − SSE/SST around the observed mean) of predictions. */
export function foldMetrics(obs: ArrayLike<number>, pred: ArrayLike<number>): FoldMetrics {
  const r = regressionReport(pred, obs);
  return { n: obs.length, r: r.pearson, rmse: r.rmse, r2: r.r2 };
}

export function meanSd(xs: number[]): { mean: number; sd: number } {
  const v = xs.filter(Number.isFinite);
  if (v.length === 0) return { mean: NaN, sd: NaN };
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const sd = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1)) : 0;
  return { mean, sd };
}
