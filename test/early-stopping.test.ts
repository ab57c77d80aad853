import { describe, expect, it } from 'vitest';
import { syntheticMolecules } from '../src/data/synthetic.js';
import { Heap } from '../src/memory/heap.js';
import { Tensor } from '../src/memory/tensor.js';
import { Runtime } from '../src/runtime/runtime.js';
import { EarlyStopping } from '../src/train/early-stopping.js';
import { GraphTrainer, type GraphTrainConfig } from '../src/train/graph-trainer.js';

describe('EarlyStopping', () => {
  it('counts bad epochs after the best, stops at patience, and restores the best epoch', () => {
    const heap = new Heap({ initialBytes: 1 << 16 });
    const w = Tensor.from(heap, 'float32', [2], [0, 0]);
    const p = { name: 'w', value: w, grad: Tensor.zeros(heap, 'float32', [2]), weightDecay: 0 };
    const s = new EarlyStopping(2, [p]);
    const losses = [5, 3, 4, 3, 6];
    const stoppedAt: number[] = [];
    losses.forEach((loss, i) => {
      w.data().set([i + 1, -(i + 1)]);
      if (!s.shouldStop) {
        s.observe(i + 1, loss);
        if (s.shouldStop) stoppedAt.push(i + 1);
      }
    });
    // 3 at epoch 2 is the best; 4 (epoch 3) and 3 (epoch 4: not below the best) are bad.
    expect(s.bestEpoch).toBe(2);
    expect(s.best).toBe(3);
    expect(stoppedAt).toEqual([4]);
    expect(s.restoreBest()).toBe(true);
    expect(Array.from(w.data())).toEqual([2, -2]);
    expect(s.state()).toEqual({ bestLoss: 3, bestEpoch: 2, bad: 2 });
    const t = new EarlyStopping(2);
    t.load({ bestLoss: null, bestEpoch: 0, bad: 1 });
    expect(t.best).toBe(Infinity);
    expect(t.restoreBest()).toBe(false);
    w.free();
    p.grad.free();
  });

  it('an epoch without validation (null) neither improves nor counts; NaN counts as bad; patience 0 never stops', () => {
    const s = new EarlyStopping(1);
    for (let e = 1; e <= 10; e++) expect(s.observe(e, null)).toBe(false);
    expect(s.shouldStop).toBe(false);
    expect(s.bestEpoch).toBe(0);
    s.observe(11, NaN);
    expect(s.shouldStop).toBe(true);
    const never = new EarlyStopping(0);
    for (let e = 1; e <= 5; e++) never.observe(e, 10 + e);
    expect(never.shouldStop).toBe(false);
  });
});

describe('GraphTrainer.fit with an empty validation set', () => {
  it("runs every epoch (it stopped after `patience` epochs: the empty set's NaN counted as bad)", async () => {
    const rt = await Runtime.create({ threads: 1 });
    const config: GraphTrainConfig = {
      task: 'regression',
      layers: 2,
      hidden: 8,
      dropout: 0,
      pool: 'mean',
      lr: 0.01,
      weightDecay: 0,
      epochs: 40,
      batchSize: 32,
      shardSize: 32,
      patience: 5,
      seed: 3,
    };
    const trainer = new GraphTrainer(rt, 8, 4, config);
    try {
      const history = await trainer.fit(syntheticMolecules({ graphs: 32, seed: 1 }), [], { restoreBest: true });
      expect(history).toHaveLength(40);
      expect(trainer.bestEpoch).toBe(0);
    } finally {
      trainer.dispose();
      await rt.close();
    }
  });
});
