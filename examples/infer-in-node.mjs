// graft-gnn/infer in Node: the one-file inference bundle (no worker threads, no fs inside;
// the same module runs in a browser page) loads a model file's bytes and predicts.
//   node examples/predict-new-nodes.mjs out   # writes out/checkpoint.safetensors
//   node examples/infer-in-node.mjs out/checkpoint.safetensors
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { loadModel } from 'graft-gnn/infer';
import { plantedPartition } from './planted-partition.mjs';

const file = process.argv[2];
if (!file)
  throw new Error(
    'usage: node examples/infer-in-node.mjs CHECKPOINT (a graft train checkpoint or a graft export model file)',
  );
const model = await loadModel(readFileSync(file), { name: file });
try {
  const fresh = plantedPartition({ seed: 2 });
  const { probs, pred, classes } = await model.predictNodes({
    numNodes: fresh.numNodes,
    features: fresh.features,
    src: fresh.src,
    dst: fresh.dst,
  });
  let right = 0;
  for (let i = 0; i < fresh.numNodes; i++) if (pred[i] === fresh.labels[i]) right++;
  console.log(`${model.task} model on the ${model.backend} kernels, ${classes} classes`);
  console.log(
    `new graph: ${fresh.numNodes} nodes, accuracy ${(right / fresh.numNodes).toFixed(3)} (chance ${(1 / classes).toFixed(3)})`,
  );
  console.log(
    `node n0: class ${pred[0]}, probabilities ${Array.from(probs.subarray(0, classes), (p) => p.toFixed(3)).join(' ')}`,
  );
  console.log(
    `classes sha256: ${createHash('sha256')
      .update(new Uint8Array(pred.buffer, pred.byteOffset, pred.byteLength))
      .digest('hex')}`,
  );
} finally {
  model.dispose();
}
