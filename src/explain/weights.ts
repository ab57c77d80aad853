export { loadWeights } from '../nn/load-weights.js';
import type { Checkpoint } from '../train/checkpoint.js';


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
