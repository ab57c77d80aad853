import { knnGraph, type SampleGraph } from '../graph/sample-graph.js';
import { cssPercentile, mclrShift, normalize, positiveRowTotals, rowTotals, type Normalization } from './normalize.js';
import { gbmPrior, replaceZeros } from './zeros.js';
import type { FittedPreprocessing, Preprocessing } from '../compositional/preprocess.js';

// The kept model's per-sample side (the fitted parameters and applying them to new samples)
// lives in src/compositional/preprocess.ts, where graft/infer reads it too.
export { applyPreprocessing, type FittedPreprocessing, type Preprocessing } from '../compositional/preprocess.js';

// From counts to model features, in the order the operations need: rarefying works on reads,
// so it comes first; then zero replacement (log-ratio methods need no zeros); then the
// normalization. Every step is per sample except common-sum scaling (the minimum depth),
// rarefying (the same depth for all) and the Bayesian-multiplicative replacement (column
// geometric means): those look at every sample's counts, never at a label, so running them
// on the whole table (test samples included) leaks nothing about the outcome.

/** Why a combination cannot run (the grid skips it and says so), or null. */
export function incompatibility(p: Pick<Preprocessing, 'normalize' | 'zeros'>, integerCounts: boolean): string | null {
  if (p.normalize === 'clr' && p.zeros === 'none') return 'the CLR needs every count positive: replace zeros first';
  if (p.normalize === 'rarefy' && !integerCounts) return 'rarefying draws reads: the table must hold whole counts';
  return null;
}

/** The features of every row of `counts` [n, p] under one preprocessing. */
export function preprocess(counts: Float64Array, n: number, p: number, o: Preprocessing): Float64Array {
  let x = counts;
  let norm: Normalization = o.normalize;
  if (norm === 'rarefy') {
    x = normalize(x, n, p, 'rarefy', { seed: o.seed });
    norm = 'none';
  }
  x = replaceZeros(x, n, p, o.zeros);
  return normalize(x, n, p, norm, { seed: o.seed });
}

/**
 * The parameters preprocess(counts, n, p, o) computes from the table, recorded. The steps run
 * in preprocess's order on the same intermediate tables, so each parameter is the one that
 * preprocess used.
 */
export function fitPreprocessing(counts: Float64Array, n: number, p: number, o: Preprocessing): FittedPreprocessing {
  const f: FittedPreprocessing = { normalize: o.normalize, zeros: o.zeros, seed: o.seed };
  let x = counts;
  let norm: Normalization = o.normalize;
  if (norm === 'rarefy') {
    const total = positiveRowTotals('fitPreprocessing', x, n, p);
    f.rarefyDepth = total.reduce((m, v) => Math.min(m, v), Infinity);
    x = normalize(x, n, p, 'rarefy', { seed: o.seed });
    norm = 'none';
  }
  if (o.zeros === 'gbm') f.gbm = gbmPrior(x, n, p);
  x = replaceZeros(x, n, p, o.zeros);
  if (norm === 'css') f.cssQuantile = cssPercentile(x, n, p);
  if (norm === 'com') f.common = rowTotals(x, n, p).reduce((m, v) => Math.min(m, v), Infinity);
  if (norm === 'mclr') {
    const s = mclrShift(x, n, p);
    if (s !== null) f.mclrShift = s;
  }
  return f;
}

export type SampleDistance = 'aitchison' | 'braycurtis';

/**
 * Pairwise distances [n, n] between samples' compositions: Aitchison (Euclidean distance of
 * the CLRs of counts + 1) or Bray–Curtis (Σ|a − b| / Σ(a + b) on proportions).
 */
export function sampleDistances(counts: Float64Array, n: number, p: number, kind: SampleDistance): Float64Array {
  const z = distanceProfiles(counts, n, p, kind);
  const d = new Float64Array(n * n);
  for (let a = 0; a < n; a++) {
    for (let b = a + 1; b < n; b++) {
      const v = profileDistance(z, a, z, b, p, kind);
      d[a * n + b] = v;
      d[b * n + a] = v;
    }
  }
  return d;
}

/** What sampleDistances compares, per sample [n, p]: the CLR of counts + 1 (aitchison) or the proportions (braycurtis). */
export function distanceProfiles(counts: Float64Array, n: number, p: number, kind: SampleDistance): Float64Array {
  const z = new Float64Array(n * p);
  for (let i = 0; i < n; i++) {
    let total = 0,
      logMean = 0;
    for (let j = 0; j < p; j++) total += counts[i * p + j]!;
    for (let j = 0; j < p; j++) {
      const v = counts[i * p + j]!;
      if (kind === 'aitchison') {
        z[i * p + j] = Math.log(v + 1);
        logMean += z[i * p + j]! / p;
      } else z[i * p + j] = v / total;
    }
    if (kind === 'aitchison') for (let j = 0; j < p; j++) z[i * p + j]! -= logMean;
  }
  return z;
}

/** The distance between profile row a of za and row b of zb. Symmetric to the bit: (u − v)², |u − v| and u + v do not depend on the order. */
export function profileDistance(
  za: Float64Array,
  a: number,
  zb: Float64Array,
  b: number,
  p: number,
  kind: SampleDistance,
): number {
  let num = 0,
    den = 0;
  for (let j = 0; j < p; j++) {
    const u = za[a * p + j]!,
      v = zb[b * p + j]!;
    if (kind === 'aitchison') num += (u - v) ** 2;
    else {
      num += Math.abs(u - v);
      den += u + v;
    }
  }
  return kind === 'aitchison' ? Math.sqrt(num) : den > 0 ? num / den : 0;
}

/**
 * The k training rows nearest to each new sample's profile (ascending distance, ties to the
 * lower row: knnGraph's rule), at most as many as there are training rows.
 */
export function nearestTrainingRows(
  train: Float64Array,
  rows: number,
  fresh: Float64Array,
  n: number,
  p: number,
  kind: SampleDistance,
  k: number,
): Int32Array[] {
  return Array.from({ length: n }, (_, i) => {
    const d = Float64Array.from({ length: rows }, (_, j) => profileDistance(train, j, fresh, i, p, kind));
    const order = Array.from({ length: rows }, (_, j) => j).sort((a, b) => d[a]! - d[b]! || a - b);
    return Int32Array.from(order.slice(0, Math.min(k, rows)));
  });
}

/** The symmetric k-nearest-neighbour sample graph under a compositional distance. */
export function compositionGraph(
  counts: Float64Array,
  n: number,
  p: number,
  kind: SampleDistance,
  k: number,
): SampleGraph {
  const d = sampleDistances(counts, n, p, kind);
  return knnGraph(
    { n, values: d.map((v) => -v), source: kind === 'aitchison' ? 'Aitchison distance' : 'Bray–Curtis dissimilarity' },
    k,
  );
}
