import { GraftError } from '../core/errors.js';
import type { Checkpoint } from '../core/safetensors.js';
import type { Parameter } from './layer.js';

// The one contract for a file's trained weights: which of them its run reports
// (reportedPrefix, the one rule), those weights by parameter name (weightsUnder), and the one
// loader that puts them into a freshly built model (loadWeights). graft eval, predict, explain,
// export, quantize, graft/infer, the kept gp and mb models and predictNodes all go through
// these, so they all score the same weights.

/** The format of a gp ensemble's kept models (graft gp --keep-models, explain/genomic-models.ts). */
export const GP_MODELS_FORMAT = 'graft-gp-models-v1';

const metadataJson = <T>(cp: Checkpoint, key: string, file: string): T | undefined => {
  const text = cp.metadata[key];
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new GraftError(`${file}: its metadata '${key}' is not JSON`);
  }
};

/**
 * Which weights a file reports, as their name prefix: the best validation epoch's ('best.')
 * when its run ended on them, else the last epoch's ('model.'). A node run ends on them when
 * its config says restoreBest (graft train's default); graph and genomic trainers restore the
 * best epoch when there was one (early_stop.bestEpoch > 0: with no improving validation epoch,
 * the last weights stay). A file with no best.* tensors (a model file of graft export, import
 * or quantize) reports model.*. A gp ensemble's file holds only its final members' weights, at
 * the top level (m<e>.<name>): ''.
 *
 * @example const w = weightsUnder(cp, reportedPrefix(cp, file)); // what graft eval scores
 */
export function reportedPrefix(cp: Checkpoint, file: string): 'best.' | 'model.' | '' {
  if (cp.metadata['format'] === GP_MODELS_FORMAT) return '';
  let best = false;
  for (const k of cp.tensors.keys())
    if (k.startsWith('best.')) {
      best = true;
      break;
    }
  if (!best) return 'model.';
  if (cp.metadata['task'] === 'node')
    return metadataJson<{ restoreBest?: unknown }>(cp, 'config', file)?.restoreBest === true ? 'best.' : 'model.';
  return (metadataJson<{ bestEpoch?: number } | null>(cp, 'early_stop', file)?.bestEpoch ?? 0) > 0 ? 'best.' : 'model.';
}

/** The float tensors whose names start with `prefix`, by the rest of the name (the parameter name). */
export function weightsUnder(cp: Checkpoint, prefix: string): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [k, t] of cp.tensors)
    if (k.startsWith(prefix) && t.data instanceof Float32Array) out.set(k.slice(prefix.length), t.data);
  return out;
}

/** The weights a file reports (reportedPrefix), by parameter name. */
export function reportedWeights(cp: Checkpoint, file: string): Map<string, Float32Array> {
  return weightsUnder(cp, reportedPrefix(cp, file));
}

/**
 * The one loader: puts trained weights (by parameter name) into a freshly built model of the
 * same shape; names `source` and the first parameter that does not fit.
 */
export function loadWeights(
  params: readonly Parameter[],
  weights: ReadonlyMap<string, ArrayLike<number>>,
  source: string,
): void {
  for (const p of params) {
    const w = weights.get(p.name);
    if (!w) throw new GraftError(`${source}: no weights for ${p.name} (it is from another model)`);
    if (w.length !== p.value.size)
      throw new GraftError(
        `${source}: ${p.name} has ${w.length} values, the model ${p.value.size} ([${p.value.shape.join('×')}]): it is from another model or shape`,
      );
    (p.value.data() as Float32Array).set(w);
  }
}
