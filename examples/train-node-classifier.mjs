// Library training: a two-layer GCN (Kipf & Welling) on a planted-partition graph, or on
// Cora when given the folder of the Planetoid files:
//   node examples/train-node-classifier.mjs                        # generated graph
//   node examples/train-node-classifier.mjs ../shared/data/planetoid  # Cora
import { KIPF_DEFAULTS, Runtime, loadPlanetoid, rowNormalize, trainNodeClassifier } from 'graft-gnn';
import { plantedPartition } from './planted-partition.mjs';

const dir = process.argv[2];
const data = dir ? loadPlanetoid(dir, 'cora') : plantedPartition({ seed: 1 });
if (dir) rowNormalize(data);

const rt = await Runtime.create({ threads: 2 });
try {
  const res = await trainNodeClassifier(rt, data, {
    ...KIPF_DEFAULTS,
    epochs: dir ? 200 : 100,
    patience: dir ? 10 : 20,
  });
  console.log(`data: ${data.name}, ${data.numNodes} nodes, ${data.src.length} edges, ${data.numClasses} classes`);
  console.log(`epochs run: ${res.stoppedEpoch}, best epoch: ${res.bestEpoch}`);
  console.log(`test accuracy: ${res.metrics.test_accuracy.toFixed(3)} (chance: ${(1 / data.numClasses).toFixed(3)})`);
} finally {
  await rt.close();
}
