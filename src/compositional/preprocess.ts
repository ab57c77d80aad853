import { normalize, type Normalization } from './normalize.js';
import { gbmNewSamples, replaceZeros, type GbmPrior, type ZeroReplacement } from './zeros.js';

// A preprocessing's choices and what it learned from its training table, and applying that to
// new samples one at a time: the part of a kept microbiome model (src/microbiome/kept-model.ts)
// that graft predict and graft/infer both run on raw counts, so both give the same bits.

/** A preprocessing: the normalization, the zero replacement and the seed of any random step (rarefying). */
export interface Preprocessing {
  normalize: Normalization;
  zeros: ZeroReplacement;
  seed: number;
}

/**
 * What a preprocessing learned from the table it ran on, so samples that were not in that
 * table can be given the same features later (a kept model's new samples): the rarefying
 * depth, the GBM prior, the CSS quantile, the common total of common-sum scaling and the
 * mclr shift, each present only where its method is chosen. Every other step is per sample.
 */
export interface FittedPreprocessing extends Preprocessing {
  rarefyDepth?: number;
  gbm?: GbmPrior;
  cssQuantile?: number;
  common?: number;
  mclrShift?: number;
}

/**
 * Features of samples that were not in the fitted table, each sample on its own (the same
 * values whatever else is scored with it): rarefied to the fitted depth with a generator
 * seeded by the run's seed, afresh for every sample; GBM with the fitted prior; CSS at the
 * fitted quantile; common-sum scaling to the fitted total; mclr with the fitted shift. For
 * per-sample methods (tss, clr, none; pseudo, multrepl) these are the bits preprocess gives
 * the same sample inside any table.
 */
export function applyPreprocessing(f: FittedPreprocessing, counts: Float64Array, n: number, p: number): Float64Array {
  let x = counts;
  let norm: Normalization = f.normalize;
  if (norm === 'rarefy') {
    const depth = f.rarefyDepth!,
      out = new Float64Array(n * p);
    for (let i = 0; i < n; i++)
      out.set(normalize(x.subarray(i * p, i * p + p), 1, p, 'rarefy', { seed: f.seed, depth }), i * p);
    x = out;
    norm = 'none';
  }
  x = f.zeros === 'gbm' ? gbmNewSamples(x, n, p, f.gbm!) : replaceZeros(x, n, p, f.zeros);
  return normalize(x, n, p, norm, {
    seed: f.seed,
    ...(f.cssQuantile !== undefined ? { cssQuantile: f.cssQuantile } : {}),
    ...(f.common !== undefined ? { common: f.common } : {}),
    ...(f.mclrShift !== undefined ? { mclrShift: f.mclrShift } : {}),
  });
}
