import { argRangeError } from '../core/errors.js';
import type { Parameter } from '../nn/layer.js';
import type { Adam } from './adam.js';
import type { Checkpoint, StoredTensor } from './checkpoint.js';
import type { EarlyStopping, EarlyStoppingState } from './early-stopping.js';

// What every trainer carries from epoch to epoch, as checkpoint tensors and metadata: the
// weights, Adam's moments and step, early stopping (its best weights too). One layout for
// the node, graph and genomic trainers, so a checkpoint of any of them reads the same way.

export interface TrainingState {
  params: Parameter[];
  adam: Adam;
  stopper: EarlyStopping;
}

const copy = (a: Float32Array): Float32Array => a.slice();

/** The state's tensors (model.*, adam.m.*, adam.v.*, best.*) and metadata (adam_step, early_stop). */
export function trainingStateEntries(s: TrainingState): Checkpoint {
  const tensors = new Map<string, StoredTensor>();
  const best = s.stopper.bestValues;
  s.params.forEach((p, i) => {
    const shape = [...p.value.shape];
    tensors.set(`model.${p.name}`, { shape, data: copy(p.value.data() as Float32Array) });
    tensors.set(`adam.m.${p.name}`, { shape, data: copy(s.adam.m[i]!.data() as Float32Array) });
    tensors.set(`adam.v.${p.name}`, { shape, data: copy(s.adam.v[i]!.data() as Float32Array) });
    if (best) tensors.set(`best.${p.name}`, { shape, data: best[i]! });
  });
  return {
    tensors,
    metadata: {
      format: TRAINING_STATE_FORMAT,
      adam_step: String(s.adam.step),
      early_stop: JSON.stringify(s.stopper.state()),
    },
  };
}

/**
 * Puts a checkpoint's state back into `s`. Every tensor must be there with the model's shape:
 * a checkpoint of another model is refused, naming the first tensor that does not fit.
 */
/** The layout trainingStateEntries writes (metadata `format`); a checkpoint of another is refused. */
export const TRAINING_STATE_FORMAT = 'graft-checkpoint-v1';

export function loadTrainingState(cp: Checkpoint, s: TrainingState, file: string, fn: string): void {
  const format = cp.metadata['format'];
  if (format !== TRAINING_STATE_FORMAT) {
    throw argRangeError(
      fn,
      'resume',
      `a checkpoint in this version's format ${TRAINING_STATE_FORMAT} (${file} was written by another version or program)`,
      format ?? 'no format',
    );
  }
  const get = (key: string, p: Parameter): Float32Array => {
    const t = cp.tensors.get(key);
    const want = p.value.shape.join('×');
    if (!t || t.data.length !== p.value.size || !(t.data instanceof Float32Array)) {
      throw argRangeError(
        fn,
        'resume',
        `a checkpoint holding ${key} as F32 [${want}] (${file} is from another model or shape)`,
        t ? `[${t.shape.join('×')}] of ${t.data.constructor.name}` : 'no such tensor',
      );
    }
    return t.data;
  };
  const best = s.stopper.bestValues;
  s.params.forEach((p, i) => {
    (p.value.data() as Float32Array).set(get(`model.${p.name}`, p));
    (s.adam.m[i]!.data() as Float32Array).set(get(`adam.m.${p.name}`, p));
    (s.adam.v[i]!.data() as Float32Array).set(get(`adam.v.${p.name}`, p));
    if (best) best[i]!.set(get(`best.${p.name}`, p));
  });
  const names = new Set(s.params.map((p) => `model.${p.name}`));
  const extra = [...cp.tensors.keys()].find((k) => k.startsWith('model.') && !names.has(k));
  if (extra)
    throw argRangeError(
      fn,
      'resume',
      `a checkpoint of this model (${file} holds ${extra}, which this model has not)`,
      extra,
    );
  s.adam.step = Number(cp.metadata['adam_step']);
  s.stopper.load(JSON.parse(cp.metadata['early_stop'] ?? 'null') as EarlyStoppingState);
}
