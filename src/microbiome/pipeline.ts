import { knnGraph, type SampleGraph } from '../graph/sample-graph.js';
import { normalize, type Normalization } from './normalize.js';
import { replaceZeros, type ZeroReplacement } from './zeros.js';

// From counts to model features, in the order the operations need: rarefying works on reads,
// so it comes first; then zero replacement (log-ratio methods need no zeros); then the
// normalization. Every step is per sample except common-sum scaling (the minimum depth),
// rarefying (the same depth for all) and the Bayesian-multiplicative replacement (column
// geometric means): those look at every sample's counts, never at a label, so running them
// on the whole table (test samples included) leaks nothing about the outcome.

export interface Preprocessing {
  normalize: Normalization;
  zeros: ZeroReplacement;
  seed: number;
}

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

export type SampleDistance = 'aitchison' | 'braycurtis';

/**
 * Pairwise distances [n, n] between samples' compositions: Aitchison (Euclidean distance of
 * the CLRs of counts + 1) or Bray–Curtis (Σ|a − b| / Σ(a + b) on proportions).
 */
export function sampleDistances(counts: Float64Array, n: number, p: number, kind: SampleDistance): Float64Array {
  const z = new Float64Array(n * p);
  for (let i = 0; i < n; i++) {
    let total = 0, logMean = 0;
    for (let j = 0; j < p; j++) total += counts[i * p + j]!;
    for (let j = 0; j < p; j++) {
      const v = counts[i * p + j]!;
      if (kind === 'aitchison') { z[i * p + j] = Math.log(v + 1); logMean += z[i * p + j]! / p; } else z[i * p + j] = v / total;
    }
    if (kind === 'aitchison') for (let j = 0; j < p; j++) z[i * p + j]! -= logMean;
  }
  const d = new Float64Array(n * n);
  for (let a = 0; a < n; a++) {
    for (let b = a + 1; b < n; b++) {
      let num = 0, den = 0;
      for (let j = 0; j < p; j++) {
        const u = z[a * p + j]!, v = z[b * p + j]!;
        if (kind === 'aitchison') num += (u - v) ** 2; else { num += Math.abs(u - v); den += u + v; }
      }
      const v = kind === 'aitchison' ? Math.sqrt(num) : den > 0 ? num / den : 0;
      d[a * n + b] = v; d[b * n + a] = v;
    }
  }
  return d;
}

/** The symmetric k-nearest-neighbour sample graph under a compositional distance. */
export function compositionGraph(counts: Float64Array, n: number, p: number, kind: SampleDistance, k: number): SampleGraph {
  const d = sampleDistances(counts, n, p, kind);
  return knnGraph({ n, values: d.map((v) => -v), source: kind === 'aitchison' ? 'Aitchison distance' : 'Bray–Curtis dissimilarity' }, k);
}
