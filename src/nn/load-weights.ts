import { GraftError } from '../core/errors.js';
import type { Parameter } from './layer.js';

/** Puts trained weights (by parameter name) into a freshly built model of the same shape; names the first that does not fit. */
export function loadWeights(params: readonly Parameter[], weights: ReadonlyMap<string, Float32Array>, source: string): void {
  for (const p of params) {
    const w = weights.get(p.name);
    if (!w) throw new GraftError(`${source}: no weights for ${p.name} (it is from another model)`);
    if (w.length !== p.value.size) throw new GraftError(`${source}: ${p.name} has ${w.length} values, the model ${p.value.size} ([${p.value.shape.join('×')}]): it is from another model or shape`);
    (p.value.data() as Float32Array).set(w);
  }
}
