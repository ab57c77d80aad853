import { standardize } from '../compositional/linear.js';
import { scoreGcnJoined, scoreMbModel, type FittedNeuralModel } from '../microbiome/models.js';
import type { Runtime } from '../runtime/runtime.js';
import { KIPF_DEFAULTS, predictNodes } from '../train/node-trainer.js';

// The model functions KernelSHAP calls for graft mb's kept networks. KernelSHAP scores
// thousands of masked rows per explained sample; scoreMbModel scores an MLP one row at a time
// (so a row's bits never depend on its batch), a runtime call per row and member, far too
// slow here. A classifier MLP is the node network on a graph with no edges (Â = I), so a
// whole batch of rows goes through one call per member: each row is still scored on its own
// (no edge joins two rows); only the matrix kernels' blocking may move the last bits, which
// KernelSHAP does not care about (its base value, prediction and coalitions come from this
// same function, so additivity is exact). A regression MLP and the GCN go through the
// engine's own scorers (slower: one pass per row).

/** A batch scorer of an mb MLP over preprocessed features [rows, p]: class probabilities [rows, classes] or values [rows]. */
export function mlpBatchScorer(
  rt: Runtime,
  m: FittedNeuralModel,
): (x: Float64Array, n: number) => Promise<Float64Array> {
  const p = m.mean.length;
  return async (x, n) => {
    if (m.classes === 0)
      return scoreMbModel(
        rt,
        m,
        x,
        p,
        Int32Array.from({ length: n }, (_, i) => i),
      );
    const features = Float32Array.from(standardize(x.subarray(0, n * p), p, m));
    const sum = new Float64Array(n * m.classes);
    for (const member of m.members) {
      const ds = {
        name: 'microbiome',
        numNodes: n,
        numFeatures: p,
        numClasses: m.classes,
        features,
        labels: new Int32Array(n).fill(-1),
        split: { train: new Int32Array(0), val: new Int32Array(0), test: new Int32Array(0) },
        src: new Int32Array(0),
        dst: new Int32Array(0),
        ids: [],
      };
      // models.ts's nodeConfig: only the shape and the seed matter to scoring
      const config = {
        ...KIPF_DEFAULTS,
        layers: 2,
        hidden: m.hidden,
        dropout: m.dropout,
        weightDecayScope: 'all' as const,
        epochs: 1,
        patience: 0,
        seed: member.seed,
        featureFormat: 'dense' as const,
      };
      const probs = (await predictNodes(rt, ds, config, member.weights)).probs;
      for (let k = 0; k < sum.length; k++) sum[k]! += probs[k]! / m.members.length;
    }
    return sum;
  };
}

/**
 * A scorer of rows [rows, p] each standing in for one new sample joined to a kept GCN's
 * training graph by the same `neighbours` (those of the sample explained: its links are held
 * fixed while its features are masked). One graph pass per row.
 */
export function gcnJoinedScorer(
  rt: Runtime,
  m: FittedNeuralModel,
  neighbours: Int32Array,
): (x: Float64Array, n: number) => Promise<Float64Array> {
  return (x, n) =>
    scoreGcnJoined(
      rt,
      m,
      x,
      n,
      Array.from({ length: n }, () => neighbours),
    );
}
