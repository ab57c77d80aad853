import { writeFileAtomic } from '../core/atomic-write.js';
import type { NodeDataset } from '../data/node-dataset.js';

// A node run's predictions.csv (graft train, its sampled runs, graft predict): one row per node
// in the user's order with its id, predicted class, label, split and class probabilities.

export function writePredictions(file: string, ds: NodeDataset, pred: Int32Array, probs?: Float32Array): void {
  const c = ds.numClasses;
  const head = ['id', 'predicted', 'label', 'split', ...(probs ? Array.from({ length: c }, (_, j) => `p${j}`) : [])];
  const split = new Map<number, string>();
  for (const s of ['train', 'val', 'test'] as const) for (const i of ds.split[s]) split.set(i, s);
  const lines = [head.join(',')];
  // Class names where the labels had them, so predictions read as the user's labels.
  const name = (c: number): string | number => (ds.classNames ? JSON.stringify(ds.classNames[c]) : c);
  for (let i = 0; i < ds.numNodes; i++) {
    const row = [
      JSON.stringify(ds.ids[i]),
      name(pred[i]!),
      ds.labels[i]! >= 0 ? name(ds.labels[i]!) : '',
      split.get(i) ?? '',
    ];
    if (probs) for (let j = 0; j < c; j++) row.push(probs[i * c + j]!.toPrecision(5));
    lines.push(row.join(','));
  }
  writeFileAtomic(file, `${lines.join('\n')}\n`);
}
