import { describe, expect, it } from 'vitest';
import { syntheticMolecules } from '../src/data/synthetic.js';
import { Runtime } from '../src/runtime/runtime.js';
import { GraphTrainer, type GraphTrainConfig } from '../src/train/graph-trainer.js';
import { chempropNoam, noamLearningRate } from '../src/train/lr-schedule.js';

// Chemprop's Noam schedule: the closed form against hand-computed rates, and the trainer
// stepping Adam at those rates (Adam's first step moves every weight with a gradient by the
// step's rate, whatever the gradient: Δ = lr·g/(|g| + ε)).

describe('chempropNoam and noamLearningRate', () => {
  const s = chempropNoam(1e-3, 10, 5); // warm-up 10 steps, 50 in all

  it("has Chemprop's shape: 2 warm-up epochs from lr/10 to lr, decay to lr/10 at the last step", () => {
    expect(s).toEqual({ warmupSteps: 10, totalSteps: 50, initLr: 1e-4, maxLr: 1e-3, finalLr: 1e-4 });
  });

  it('gives the hand-computed rates at each phase', () => {
    expect(noamLearningRate(s, 0)).toBeCloseTo(1e-4, 15);
    expect(noamLearningRate(s, 5)).toBeCloseTo(5.5e-4, 15); // halfway up: 1e-4 + 5·9e-5
    expect(noamLearningRate(s, 10)).toBeCloseTo(1e-3, 15);
    // 20 of the 40 decay steps: 1e-3·0.1^(1/2)
    expect(noamLearningRate(s, 30)).toBeCloseTo(3.16227766e-4, 12);
    expect(noamLearningRate(s, 50)).toBeCloseTo(1e-4, 15);
    expect(noamLearningRate(s, 51)).toBe(1e-4);
  });

  it('refuses what it cannot size', () => {
    expect(() => chempropNoam(0, 10, 5)).toThrow(/lr/);
    expect(() => chempropNoam(1e-3, 0, 5)).toThrow(/epochs/);
    expect(() => chempropNoam(1e-3, 10, 1.5)).toThrow(/stepsPerEpoch/);
  });
});

describe("GraphTrainer with lrSchedule 'noam'", () => {
  const config: GraphTrainConfig = {
    task: 'regression',
    layers: 2,
    hidden: 8,
    dropout: 0,
    pool: 'mean',
    lr: 0.01,
    weightDecay: 0,
    epochs: 4,
    batchSize: 32, // one step per epoch: warm-up 2 steps, 4 in all
    shardSize: 32,
    patience: 0,
    seed: 3,
  };
  const graphs = syntheticMolecules({ graphs: 32, seed: 4 });

  async function firstStep(c: GraphTrainConfig): Promise<{ largest: number; last: number }> {
    const rt = await Runtime.create({ threads: 1 });
    const trainer = new GraphTrainer(rt, 8, 4, c);
    try {
      const before = trainer.master.params().map((p) => (p.value.data() as Float32Array).slice());
      let largest = 0;
      await trainer.fit(graphs, [], {
        onEpoch: (e) => {
          if (e.epoch !== 1) return;
          trainer.master.params().forEach((p, i) => {
            const w = p.value.data() as Float32Array;
            for (let k = 0; k < w.length; k++) largest = Math.max(largest, Math.abs(w[k]! - before[i]![k]!));
          });
        },
      });
      return { largest, last: trainer.learningRate };
    } finally {
      trainer.dispose();
      await rt.close();
    }
  }

  it("moves the weights by lr/10 on the first step and ends on the last step's rate", async () => {
    const noam = await firstStep({ ...config, lrSchedule: 'noam' });
    expect(noam.largest / 1e-3).toBeGreaterThan(0.999);
    expect(noam.largest / 1e-3).toBeLessThan(1.001);
    // The 4th step (step 3): one of the 2 decay steps, 0.01·0.1^(1/2).
    expect(noam.last).toBeCloseTo(0.01 * Math.sqrt(0.1), 12);
    const constant = await firstStep(config);
    expect(constant.largest / 0.01).toBeGreaterThan(0.999);
    expect(constant.largest / 0.01).toBeLessThan(1.001);
    expect(constant.last).toBe(0.01);
  });

  it('refuses an unknown schedule naming the config key', () => {
    expect(() => new GraphTrainer({} as Runtime, 8, 4, { ...config, lrSchedule: 'cosine' as 'noam' })).toThrow(
      /config\.lrSchedule/,
    );
  });
});
