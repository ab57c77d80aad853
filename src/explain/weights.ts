import { GraftError } from '../core/errors.js';
import type { Parameter } from '../nn/layer.js';
import type { Checkpoint } from '../train/checkpoint.js';

/** Puts trained weights (by parameter name) into a freshly built model of the same shape; names the first that does not fit. */
export function loadWeights(params: readonly Parameter[], weights: ReadonlyMap<string, Float32Array>, source: string): void {
  for (const p of params) {
    const w = weights.get(p.name);
    if (!w) throw new GraftError(`${source}: no weights for ${p.name} (it is from another model)`);
    if (w.length !== p.value.size) throw new GraftError(`${source}: ${p.name} has ${w.length} values, the model ${p.value.size} ([${p.value.shape.join('×')}]): it is from another model or shape`);
    (p.value.data() as Float32Array).set(w);
  }
}

/**
 * A run's reported weights from its checkpoint: the best epoch's (best.*) when the run
 * reported those and early stopping kept them, else the last epoch's (model.*).
 */
export function checkpointWeights(cp: Checkpoint, reportedBest = true): Map<string, Float32Array> {
  const best = new Map<string, Float32Array>(), last = new Map<string, Float32Array>();
  for (const [k, t] of cp.tensors) {
    if (!(t.data instanceof Float32Array)) continue;
    if (k.startsWith('best.')) best.set(k.slice(5), t.data);
    else if (k.startsWith('model.')) last.set(k.slice(6), t.data);
  }
  return reportedBest && best.size > 0 ? best : last;
}
