// A quick run, not a benchmark of record: dmpnnStack (D-MPNN on Chemprop's atom and bond
// features, mean readout, 2-layer head) trained on Tox21 for a few epochs with Adam, outside
// graft's trainers (the wiring of `graft train --task graph --model dmpnn` comes later).
//   node dist/bench/dmpnn-tox21.js [--data ../shared/data/moleculenet/tox21.csv] [--epochs 5]
//     [--seed 1] [--threads 2] [--hidden 300] [--batch 50] [--lr 1e-3]
// One JSON line per epoch ({"epoch","train_loss","val_auc","test_auc","epoch_s"}), then a
// summary with the test ROC-AUC at the best validation epoch. Random 80/10/10 split.
import { Rng } from '../src/core/random.js';
import { loadMoleculeCsv } from '../src/chem/dataset.js';
import { randomSplit } from '../src/chem/split.js';
import { Tensor } from '../src/memory/tensor.js';
import { dmpnnStack, moleculeBatchGraph, type MoleculeBatchGraph } from '../src/nn/dmpnn-stack.js';
import type { PassContext } from '../src/nn/layer.js';
import { Sequential } from '../src/nn/sequential.js';
import { bceWithLogits } from '../src/ops/losses.js';
import { Runtime } from '../src/runtime/runtime.js';
import { Adam } from '../src/train/adam.js';
import { rocAuc } from '../src/train/multilabel-metrics.js';
import { flag } from './measure.js';

const num = (name: string, d: number): number => Number(flag(name) ?? d);

async function main(): Promise<void> {
  const file = flag('data') ?? '../shared/data/moleculenet/tox21.csv';
  const epochs = num('epochs', 5),
    seed = num('seed', 1),
    hidden = num('hidden', 300),
    batchSize = num('batch', 50),
    lr = num('lr', 1e-3);
  const t0 = performance.now();
  const ds = await loadMoleculeCsv(file, { targets: 'all', task: 'multilabel', atomFeatures: 'chemprop' });
  const featurizeS = (performance.now() - t0) / 1000;
  const T = ds.targets.length,
    split = randomSplit(ds.graphs.length, seed);
  const rt = await Runtime.create({ threads: num('threads', 2) });
  let batch: MoleculeBatchGraph | null = null;
  const model = new Sequential(
    dmpnnStack(
      rt.heap,
      new Rng(seed),
      () => batch!.graph,
      () => batch!.offsets,
      { atomFeatures: 133, bondFeatures: 14, hidden, depth: 3, pool: 'mean', ffnLayers: 2, dropout: 0, out: T },
    ),
  );
  const adam = new Adam(model.params(), { lr });
  const labels = (idx: number[]): { y: Tensor; mask: Tensor<'uint8'> } => {
    const y = new Float32Array(idx.length * T),
      m = new Uint8Array(idx.length * T);
    idx.forEach((i, r) => {
      for (let t = 0; t < T; t++) {
        const v = ds.y[i * T + t]!;
        if (!Number.isNaN(v)) {
          y[r * T + t] = v;
          m[r * T + t] = 1;
        }
      }
    });
    return {
      y: Tensor.from(rt.heap, 'float32', [idx.length, T], y),
      mask: Tensor.from(rt.heap, 'uint8', [idx.length, T], m),
    };
  };
  /** Mean ROC-AUC over the labels of `idx` (NaN for a label with one class, skipped). */
  const evaluate = async (idx: number[]): Promise<number> => {
    const scores = new Float32Array(idx.length * T);
    for (let s = 0; s < idx.length; s += 256) {
      const part = idx.slice(s, s + 256);
      batch = moleculeBatchGraph(
        rt.heap,
        part.map((i) => ds.graphs[i]!),
        133,
        14,
      );
      const out = await model.forward({ exec: rt.exec, training: false, seed, step: 0 }, batch.x);
      scores.set(out.data() as Float32Array, s * T);
      model.release();
      batch.free();
    }
    const aucs: number[] = [];
    for (let t = 0; t < T; t++) {
      const a = rocAuc(
        idx.map((i) => ds.y[i * T + t]!),
        idx.map((_, r) => scores[r * T + t]!),
      );
      if (!Number.isNaN(a)) aucs.push(a);
    }
    return aucs.reduce((s, a) => s + a, 0) / aucs.length;
  };
  const rng = new Rng(seed + 1000);
  let best = { val: -1, test: NaN, epoch: 0 },
    step = 0;
  const trainStart = performance.now();
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const e0 = performance.now();
    const order = [...split.train];
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rng.next() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    let lossSum = 0,
      batches = 0;
    for (let s = 0; s < order.length; s += batchSize) {
      const idx = order.slice(s, s + batchSize);
      batch = moleculeBatchGraph(
        rt.heap,
        idx.map((i) => ds.graphs[i]!),
        133,
        14,
      );
      const { y, mask } = labels(idx);
      const ctx: PassContext = { exec: rt.exec, training: true, seed, step: step++ };
      try {
        const out = await model.forward(ctx, batch.x);
        const l = await bceWithLogits(rt.exec, out, y, { labelMask: mask });
        lossSum += l.loss;
        batches++;
        await model.backward(ctx, l.grad, false);
        l.grad.free();
        await adam.update(rt.exec);
      } finally {
        y.free();
        mask.free();
        batch.free();
      }
    }
    const val = await evaluate(split.val),
      test = await evaluate(split.test);
    if (val > best.val) best = { val, test, epoch };
    console.log(
      JSON.stringify({
        epoch,
        train_loss: +(lossSum / batches).toFixed(4),
        val_auc: +val.toFixed(4),
        test_auc: +test.toFixed(4),
        epoch_s: +((performance.now() - e0) / 1000).toFixed(1),
      }),
    );
  }
  console.log(
    JSON.stringify({
      quick_run: 'dmpnn on Tox21, Chemprop features',
      molecules: ds.graphs.length,
      seed,
      epochs,
      hidden,
      batch: batchSize,
      lr,
      threads: rt.threads,
      featurize_s: +featurizeS.toFixed(1),
      train_s: +((performance.now() - trainStart) / 1000).toFixed(1),
      best_val_epoch: best.epoch,
      val_auc: +best.val.toFixed(4),
      test_auc: +best.test.toFixed(4),
    }),
  );
  adam.dispose();
  model.dispose();
  await rt.close();
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
