import { describe, expect, it, vi } from 'vitest';
import { syntheticMolecules } from '../src/data/synthetic.js';
import type { GraphSample } from '../src/graph/batch.js';
import { Runtime } from '../src/runtime/runtime.js';
import type { StepPlacementChoice } from '../src/train/graph-placement.js';
import { GraphTrainer, type GraphTrainConfig } from '../src/train/graph-trainer.js';
import { regressionByTarget } from '../src/train/metrics.js';
import { bitsEqual, closeness } from './helpers.js';

const base: GraphTrainConfig = {
  task: 'regression',
  layers: 3,
  hidden: 32,
  dropout: 0.1,
  pool: 'mean',
  lr: 0.01,
  weightDecay: 0,
  epochs: 3,
  batchSize: 64,
  shardSize: 16,
  patience: 0,
  seed: 5,
};

async function train(
  threads: number,
  config: GraphTrainConfig,
  graphs = syntheticMolecules({ graphs: 256, seed: 2 }),
): Promise<{ weights: Float32Array[]; losses: number[]; trainer: GraphTrainer; rt: Runtime }> {
  const rt = await Runtime.create({ threads });
  const trainer = new GraphTrainer(rt, 8, 4, config);
  const hist = await trainer.fit(graphs, []);
  return {
    weights: trainer.master.params().map((p) => (p.value.data() as Float32Array).slice()),
    losses: hist.map((h) => h.train_loss),
    trainer,
    rt,
  };
}

describe('graph-level training with batch splitting', () => {
  it('ends with bitwise-identical weights with 1, 2 and 4 threads (4 shards per batch)', async () => {
    const runs: Awaited<ReturnType<typeof train>>[] = [];
    for (const t of [1, 2, 4]) {
      const r = await train(t, base, syntheticMolecules({ graphs: 1024, seed: 2 }));
      // Several threads: the first epoch timed each placement of the shards (whole shard steps
      // on workers, a group of threads per shard, inline with intra-op splitting, or serial on
      // the calling thread alone) and kept
      // the fastest; the bits below show that all of them give the 1-thread result.
      if (t > 1) expect(['workers', 'groups', 'inline', 'serial']).toContain(r.trainer.shardPlacement?.mode);
      else expect(r.trainer.shardPlacement).toBeNull();
      runs.push(r);
      r.trainer.dispose();
      await r.rt.close();
    }
    for (const r of runs.slice(1)) {
      expect(r.losses).toEqual(runs[0]!.losses);
      r.weights.forEach((w, i) => {
        expect(bitsEqual(w, runs[0]!.weights[i]!)).toBe(true);
      });
    }
  });

  it('a hybrid (the dense branch reads descriptors) with batch splitting: the same bits on 1 and 2 threads, whatever placement the trial keeps', async () => {
    // At 2 threads the training set is packed once and each shard collated where it runs, the
    // descriptors with it (they are packed only for a hybrid).
    const graphs = syntheticMolecules({ graphs: 512, seed: 4 }).map((g, k) => ({
      ...g,
      descriptors: Float32Array.from({ length: 12 }, (_, j) => ((k * 7 + j * 3) % 5) / 4),
    }));
    const hybrid = { ...base, epochs: 2, hybrid: { descriptors: 12, denseHidden: 8 } };
    const runs = [await train(1, hybrid, graphs), await train(2, hybrid, graphs)];
    expect(runs[1]!.losses).toEqual(runs[0]!.losses);
    runs[1]!.weights.forEach((w, i) => {
      expect(bitsEqual(w, runs[0]!.weights[i]!)).toBe(true);
    });
    for (const r of runs) {
      r.trainer.dispose();
      await r.rt.close();
    }
  });

  /**
   * Trains at 2 threads with the placement `mode` already chosen (as after a trial: every
   * epoch keeps it) and checks the bits of the one-thread run `one`, and that only 'serial'
   * gave the helpers back (one hold an epoch).
   */
  async function placedLikeOneThread(
    config: GraphTrainConfig,
    graphs: GraphSample[],
    mode: StepPlacementChoice['mode'],
    one: Awaited<ReturnType<typeof train>>,
  ): Promise<void> {
    const rt = await Runtime.create({ threads: 2 });
    const trainer = new GraphTrainer(rt, 8, 4, config);
    trainer.shardPlacement = { mode, workersMs: NaN, groupsMs: NaN, inlineMs: NaN, serialMs: NaN };
    const oneThread = vi.spyOn(rt, 'onOneThread');
    try {
      const hist = await trainer.fit(graphs, []);
      expect(trainer.shardPlacement.mode).toBe(mode);
      expect(oneThread.mock.calls.length, mode).toBe(mode === 'serial' ? config.epochs : 0);
      expect(
        hist.map((h) => h.train_loss),
        mode,
      ).toEqual(one.losses);
      trainer.master.params().forEach((p, i) => {
        expect(bitsEqual(p.value.data() as Float32Array, one.weights[i]!), `${mode}: parameter ${i}`).toBe(true);
      });
    } finally {
      trainer.dispose();
      await rt.close();
    }
  }

  it('each placement of the shards, serial (one thread) included, ends with the bits of one thread', async () => {
    const graphs = syntheticMolecules({ graphs: 256, seed: 2 });
    const one = await train(1, base, graphs);
    one.trainer.dispose();
    await one.rt.close();
    for (const mode of ['workers', 'groups', 'inline', 'serial'] as const)
      await placedLikeOneThread(base, graphs, mode, one);
  });

  it('an unsplit step (one shard a batch) at 2 threads: a trial of intra-op against one thread keeps one, with the bits of one thread either way', async () => {
    const unsplit = { ...base, shardSize: base.batchSize };
    const graphs = syntheticMolecules({ graphs: 512, seed: 2 });
    const one = await train(1, unsplit, graphs);
    expect(one.trainer.shardPlacement).toBeNull();
    one.trainer.dispose();
    await one.rt.close();
    const tried = await train(2, unsplit, graphs);
    const choice = tried.trainer.shardPlacement!;
    expect(['inline', 'serial']).toContain(choice.mode);
    // Only the two placements of an unsplit step were timed.
    expect(Object.keys(choice).sort()).toEqual(['inlineMs', 'mode', 'serialMs']);
    tried.trainer.dispose();
    await tried.rt.close();
    expect(tried.losses).toEqual(one.losses);
    tried.weights.forEach((w, i) => {
      expect(bitsEqual(w, one.weights[i]!)).toBe(true);
    });
    for (const mode of ['inline', 'serial'] as const) await placedLikeOneThread(unsplit, graphs, mode, one);
  });

  it('shards add up to the whole batch: split and unsplit training agree to rounding', async () => {
    const noDrop = { ...base, dropout: 0, epochs: 1 };
    const a = await train(2, { ...noDrop, shardSize: 64 });
    const b = await train(2, { ...noDrop, shardSize: 16 });
    a.weights.forEach((w, i) => {
      expect(closeness(w, b.weights[i]!, 1e-5, 1e-4)).toBeLessThanOrEqual(1);
    });
    for (const r of [a, b]) {
      r.trainer.dispose();
      await r.rt.close();
    }
  });

  it('learns graph-level regression targets (composition) well beyond the mean predictor', async () => {
    const data = syntheticMolecules({ graphs: 600, seed: 3 });
    const test = syntheticMolecules({ graphs: 200, seed: 4 });
    const r = await train(2, { ...base, epochs: 40, dropout: 0, batchSize: 32, shardSize: 8 }, data);
    const pred = await r.trainer.predict(test);
    const rep = regressionByTarget(test, pred, 4);
    for (const t of rep) expect(t.r2).toBeGreaterThan(0.8);
    expect(r.losses[r.losses.length - 1]!).toBeLessThan(r.losses[0]! / 5);
    r.trainer.dispose();
    await r.rt.close();
  });

  it('multi-label BCE with missing labels trains, and a batch with no labels is skipped', async () => {
    const data = syntheticMolecules({ graphs: 300, task: 'multilabel', missing: 0.3, seed: 6 });
    const r = await train(2, { ...base, task: 'multilabel', epochs: 10 }, data);
    expect(r.losses[r.losses.length - 1]!).toBeLessThan(r.losses[0]!);
    const none = syntheticMolecules({ graphs: 4, task: 'multilabel', missing: 1, seed: 7 });
    expect(Number.isNaN(await r.trainer.trainStep(none))).toBe(true);
    r.trainer.dispose();
    await r.rt.close();
  });

  it('restores the weights of the epoch with the best validation score when one is given', async () => {
    const rt = await Runtime.create({ threads: 2 });
    const trainer = new GraphTrainer(rt, 8, 4, { ...base, epochs: 4 });
    const data = syntheticMolecules({ graphs: 64, seed: 8 });
    const scores = [0.2, 0.9, 0.4, 0.5];
    const snapshots: Float32Array[][] = [];
    let calls = 0;
    await trainer.fit(data, data.slice(0, 8), {
      onEpoch: () => snapshots.push(trainer.master.params().map((p) => (p.value.data() as Float32Array).slice())),
      restoreBest: true,
      valScore: () => scores[calls++]!,
    });
    expect(trainer.bestEpoch).toBe(2);
    expect(trainer.history.map((h) => h.val_score)).toEqual(scores);
    trainer.master.params().forEach((p, i) => {
      expect(bitsEqual(p.value.data() as Float32Array, snapshots[1]![i]!)).toBe(true);
    });
    expect(bitsEqual(snapshots[3]![0]!, snapshots[1]![0]!)).toBe(false);
    trainer.dispose();
    await rt.close();
  });

  it('rejects a bad configuration by name', async () => {
    const rt = await Runtime.create({ threads: 1 });
    expect(() => new GraphTrainer(rt, 8, 4, { ...base, shardSize: 0 })).toThrow(
      "GraphTrainer: argument 'config.shardSize' must be a positive integer, got 0",
    );
    expect(() => new GraphTrainer(rt, 8, 4, { ...base, layers: 1 })).toThrow(/at least 2/);
    await rt.close();
  });

  /**
   * A 2-thread trainer whose worker threads carry GRAFT_TEST_FAULT = `spec` (set only while
   * the runtime starts: Piscina's replacements for a dead thread do not see it), beside a
   * serial trainer of the same config, both on one 32-graph batch in shards of 16.
   */
  async function faultyWorkers(
    spec: string,
    seed: number,
    body: (t: {
      trainer: GraphTrainer;
      serial: GraphTrainer;
      rt: Runtime;
      step: () => Promise<number>;
      batch: GraphSample[];
    }) => Promise<void>,
  ): Promise<void> {
    process.env['GRAFT_TEST_FAULT'] = spec;
    const rt = await Runtime.create({ threads: 2 });
    delete process.env['GRAFT_TEST_FAULT'];
    const serialRt = await Runtime.create({ threads: 1 });
    const cfg = { ...base, batchSize: 32, shardSize: 16 };
    const trainer = new GraphTrainer(rt, 8, 4, cfg),
      serial = new GraphTrainer(serialRt, 8, 4, cfg);
    const batch = syntheticMolecules({ graphs: 32, seed });
    const maxShard = { nodes: batch.reduce((a, g) => a + g.nodes, 0), graphs: 16 };
    try {
      await body({
        trainer,
        serial,
        rt,
        batch,
        step: () => trainer.holdingWorkers(maxShard, () => trainer.trainStep(batch)),
      });
      trainer.master.params().forEach((p, i) => {
        expect(bitsEqual(p.value.data() as Float32Array, serial.master.params()[i]!.value.data() as Float32Array)).toBe(
          true,
        );
      });
    } finally {
      trainer.dispose();
      serial.dispose();
      await rt.close();
      await serialRt.close();
    }
  }

  it('shard steps on worker threads: a worker that dies mid-shard makes the step reject with its error; the pool recovers and the next step works', async () => {
    await faultyWorkers('exit:gemmNN:1@worker', 4, async ({ serial, rt, step, batch }) => {
      const err = await step().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(/exit|terminated|code 70/i);
      // The failed step changed nothing: the replicas' gradients are rewritten by the next step
      // and Adam did not run. The next step on workers matches a serial trainer's first step.
      expect(await step()).toBe(await serial.trainStep(batch));
      expect(rt.mainHelpers).toBe(1);
    });
  });

  it('shard steps on worker threads: a worker step that throws rejects the step; the worker rebuilds its replica and the next step matches a serial run', async () => {
    await faultyWorkers('throw:gemmNN:1@worker', 5, async ({ serial, step, batch }) => {
      await expect(step()).rejects.toThrow(/injected fault in part 0/);
      for (let i = 0; i < 2; i++) expect(await step()).toBe(await serial.trainStep(batch));
    });
  });
});
