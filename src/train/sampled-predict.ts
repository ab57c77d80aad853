import { argRangeError } from '../core/errors.js';
import type { Runtime } from '../runtime/runtime.js';
import type { GraphStore } from '../store/format.js';
import { argmaxRows } from './metrics.js';
import { type BatchGraph, type InferenceChunks, layerwiseInference } from './sampled-inference.js';
import { buildSampledModel, checkSampledConfig, type SampledTrainConfig } from './sampled-trainer.js';

// A sampled run's model applied again (graft predict and graft eval on a sampled run): the
// model rebuilt from its config, its reported weights put in by parameter name, and
// layer-wise inference over every node of the store.

/** What predictSampled gives: the logits [numNodes, classes] and each node's predicted class. */
export interface SampledPrediction {
  logits: Float32Array;
  pred: Int32Array;
}

/**
 * The model of `config` with `weights` (by parameter name: sage0.lin_l.weight, …; every one
 * present with its size, else a RangeError naming it) over every node of `store`.
 *
 * @example
 *   const { pred } = await predictSampled(rt, store, config, reportedWeights(cp, file));
 */
export async function predictSampled(
  rt: Runtime,
  store: GraphStore,
  config: SampledTrainConfig,
  weights: Map<string, Float32Array>,
  chunks?: InferenceChunks,
): Promise<SampledPrediction> {
  checkSampledConfig(config);
  const graph: BatchGraph = { prop: null, message: null };
  const seq = buildSampledModel(rt, store.numFeatures, store.numClasses, config, graph);
  try {
    for (const p of seq.params()) {
      const w = weights.get(p.name),
        v = p.value.data() as Float32Array;
      if (!w || w.length !== v.length)
        throw argRangeError('predictSampled', `weights['${p.name}']`, `${v.length} values`, w ? w.length : 'absent');
      v.set(w);
    }
    const logits = await layerwiseInference(rt, store, seq, graph, chunks);
    return { logits, pred: argmaxRows(logits, store.numNodes, store.numClasses) };
  } finally {
    seq.dispose();
  }
}
