// Predicting: train a node classifier once, keep its checkpoint, and later predict the nodes
// of a graph it has never seen (here a second planted-partition graph of the same kind).
//   node examples/predict-new-nodes.mjs [folder]   # the checkpoint goes to folder (default: a temp folder)
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KIPF_DEFAULTS, Runtime, accuracy, loadCheckpoint, predictNodes, trainNodeClassifier } from 'graft-gnn';
import { parseModelFile } from 'graft-gnn/infer';
import { plantedPartition } from './planted-partition.mjs';

const folder = process.argv[2] ?? mkdtempSync(join(tmpdir(), 'graft-example-'));
mkdirSync(folder, { recursive: true });
const checkpoint = join(folder, 'checkpoint.safetensors');

const rt = await Runtime.create({ threads: 2 });
try {
  // 1. Train, writing the checkpoint graft train would write (weights, optimizer, config).
  const trained = await trainNodeClassifier(
    rt,
    plantedPartition({ seed: 1 }),
    { ...KIPF_DEFAULTS, epochs: 100, patience: 20 },
    { checkpointPath: checkpoint },
  );
  console.log(`trained: test accuracy ${trained.metrics.test_accuracy.toFixed(3)}; checkpoint: ${checkpoint}`);

  // 2. Later: read the checkpoint back; parseModelFile finds its config and reported weights.
  const model = parseModelFile(loadCheckpoint(checkpoint), checkpoint);
  const weights = new Map(
    [...model.checkpoint.tensors]
      .filter(([name]) => name.startsWith(model.prefix))
      .map(([name, t]) => [name.slice(model.prefix.length), t.data]),
  );

  // 3. Predict a new graph with the same features (its labels are only used to score).
  const fresh = plantedPartition({ seed: 2 });
  const { probs, pred } = await predictNodes(rt, fresh, model.config, weights);
  const all = Int32Array.from({ length: fresh.numNodes }, (_, i) => i);
  console.log(
    `new graph: ${fresh.numNodes} nodes, accuracy ${accuracy(fresh.labels, pred, all).toFixed(3)} (chance ${(1 / fresh.numClasses).toFixed(3)})`,
  );
  console.log(
    `node n0: class ${pred[0]}, probabilities ${Array.from(probs.subarray(0, fresh.numClasses), (p) => p.toFixed(3)).join(' ')}`,
  );
  console.log(
    `classes sha256: ${createHash('sha256')
      .update(new Uint8Array(pred.buffer, pred.byteOffset, pred.byteLength))
      .digest('hex')}`,
  );
} finally {
  await rt.close();
}
