import { describe, expect, it } from 'vitest';
import { plantedPartition } from '../src/data/synthetic.js';
import { Runtime } from '../src/runtime/runtime.js';
import { KIPF_DEFAULTS, trainNodeClassifier, type NodeTrainConfig } from '../src/train/node-trainer.js';
import { bitsEqual } from './helpers.js';

// --train-seed (config.trainSeed): members of a soup start from the weights of --seed and train
// apart. Oracles: a run with a learning rate of 1e-30 ends within 1e-20 of its initial weights
// (each Adam step moves a value by about the learning rate); trainSeed equal to the seed is the
// run without it, bit for bit.

const data = plantedPartition({ nodes: 300, features: 40, seed: 3 });
const base: NodeTrainConfig = { ...KIPF_DEFAULTS, epochs: 3, patience: 0, restoreBest: false, seed: 5 };

async function weightsOf(c: NodeTrainConfig): Promise<Map<string, Float32Array>> {
  const rt = await Runtime.create({ threads: 2 });
  try {
    const r = await trainNodeClassifier(rt, data, c);
    return new Map([...r.weights].map(([k, v]) => [k, Float32Array.from(v)]));
  } finally {
    await rt.close();
  }
}

const near = (a: Map<string, Float32Array>, b: Map<string, Float32Array>): boolean =>
  [...a].every(([k, v]) => v.every((x, i) => Math.abs(x - b.get(k)![i]!) < 1e-20));
const same = (a: Map<string, Float32Array>, b: Map<string, Float32Array>): boolean =>
  [...a].every(([k, v]) => bitsEqual(v, b.get(k)!));

describe('train seed apart from the initialization seed', () => {
  it('one seed, two train seeds: the same initial weights, other trained weights; trainSeed = seed is the run without it', async () => {
    const frozen = { ...base, lr: 1e-30 }; // the initial weights, to 1e-20
    expect(near(await weightsOf({ ...frozen, trainSeed: 1 }), await weightsOf({ ...frozen, trainSeed: 2 }))).toBe(true);
    expect(near(await weightsOf({ ...frozen, seed: 6 }), await weightsOf(frozen))).toBe(false);
    const one = await weightsOf({ ...base, trainSeed: 1 });
    expect(same(one, await weightsOf({ ...base, trainSeed: 2 }))).toBe(false); // other dropout masks
    expect(same(await weightsOf({ ...base, trainSeed: 5 }), await weightsOf(base))).toBe(true);
  }, 60_000);
});
