import { afterEach, describe, expect, it, vi } from 'vitest';
import { reloadFaultPlan } from '../src/core/test-fault.js';
import { syntheticMolecules } from '../src/data/synthetic.js';
import { Runtime } from '../src/runtime/runtime.js';
import { trainGcnRegressor, type GcnRegressionInput, type GcnRegressorConfig } from '../src/train/gcn-regressor.js';
import { GraphTrainer, type GraphTrainConfig } from '../src/train/graph-trainer.js';
import { join } from 'node:path';
import { bitsEqual, randn, tempDir } from './helpers.js';

// Forked branches on worker threads (BranchJoin.holdingWorkers, nn/branch-worker.ts): each
// branch but the first runs whole passes on a worker of its own, JavaScript included, and
// training ends with the bits of a one-thread run and of the groups-of-threads placement;
// a branch pass that fails on its worker is rolled back like any worker fault.

afterEach(() => {
  delete process.env['GRAFT_TEST_FAULT'];
  delete process.env['GRAFT_TEST_FAULT_ONCE'];
  reloadFaultPlan();
});

const n = 150,
  f = 24;
const src: number[] = [],
  dst: number[] = [];
for (let i = 0; i < n; i++)
  for (const d of [1, 5, 11]) {
    src.push(i);
    dst.push((i + d) % n);
  }
const base: GcnRegressionInput = {
  n,
  f,
  features: randn(n * f, 3),
  src: Int32Array.from(src),
  dst: Int32Array.from(dst),
  y: Float64Array.from(randn(n, 4)),
  train: Int32Array.from({ length: 120 }, (_, i) => i),
};
const cfg: GcnRegressorConfig = {
  layers: 3,
  hidden: 16,
  dropout: 0.2,
  lr: 0.01,
  weightDecay: 1e-3,
  epochs: 12,
  patience: 0,
  valFraction: 0.2,
  seed: 3,
  denseHidden: 4,
  ensemble: 1,
};
const models: [string, GcnRegressionInput][] = [
  ['hybrid (GCN branch + dense branch on covariates)', { ...base, covariates: { values: randn(n * 3, 8), width: 3 } }],
  ['three GCN branches, one per marker block', { ...base, featureBlocks: [8, 8, 8] }],
];

describe('genomic branches on workers', () => {
  for (const [name, data] of models) {
    it(`${name}: 2, 3 and 4 threads, on workers, on groups, inline or serial (one thread), give the predictions of 1 thread bit for bit`, async () => {
      const one = await Runtime.create({ threads: 1 });
      const clean = await trainGcnRegressor(one, data, cfg);
      await one.close();
      for (const threads of [2, 3, 4]) {
        const rt = await Runtime.create({ threads });
        try {
          for (const branches of ['workers', 'groups', 'inline', 'serial'] as const) {
            const r = await trainGcnRegressor(rt, data, cfg, { branches });
            expect(
              bitsEqual(new Float32Array(r.predictions), new Float32Array(clean.predictions)),
              `${threads} threads, ${branches}`,
            ).toBe(true);
            expect(r.bestEpoch).toBe(clean.bestEpoch);
          }
        } finally {
          await rt.close();
        }
      }
    });
  }

  it('left to the trial (longer fits): the plain GCN times inline against serial, the branched model workers, inline and serial; 1 thread holds none; same predictions', async () => {
    const long = { ...cfg, epochs: 30 }; // more than MIN_EPOCHS_FOR_TRIAL
    const cases: [string, GcnRegressionInput, string[]][] = [
      ['plain GCN', base, ['inlineMs', 'mode', 'serialMs']],
      ['branched', models[1]![1], ['inlineMs', 'mode', 'serialMs', 'workersMs']],
    ];
    for (const [name, data, keys] of cases) {
      const one = await Runtime.create({ threads: 1 });
      const clean = await trainGcnRegressor(one, data, long);
      await one.close();
      expect(clean.placement, name).toBeNull();
      const rt = await Runtime.create({ threads: 2 });
      try {
        const tried = await trainGcnRegressor(rt, data, long);
        expect(Object.keys(tried.placement ?? {}).sort(), name).toEqual(keys);
        const oneThread = vi.spyOn(rt, 'onOneThread');
        const told = await trainGcnRegressor(rt, data, long, { branches: 'serial' });
        expect(told.placement, name).toBeNull();
        expect(oneThread.mock.calls.length, name).toBe(1); // the whole fit on one thread
        oneThread.mockRestore();
        for (const r of [tried, told])
          expect(bitsEqual(new Float32Array(r.predictions), new Float32Array(clean.predictions)), name).toBe(true);
      } finally {
        await rt.close();
      }
    }
  });

  it('a branch pass that throws or whose worker dies is rolled back and replayed: same predictions as with no fault', async () => {
    const data = models[0]![1];
    const one = await Runtime.create({ threads: 1 });
    const clean = await trainGcnRegressor(one, data, cfg);
    await one.close();
    for (const spec of ['throw:gemmNN:7@worker', 'exit:gemmTN:5@worker']) {
      process.env['GRAFT_TEST_FAULT'] = spec;
      // Once: the worker that replaces a dead one counts its dispatches from 1 again.
      process.env['GRAFT_TEST_FAULT_ONCE'] = join(tempDir('graft-branch-fault-'), 'fired');
      reloadFaultPlan();
      const rt = await Runtime.create({ threads: 2 });
      try {
        const r = await trainGcnRegressor(rt, data, cfg);
        expect(r.faults.length, spec).toBe(1);
        expect(r.faults[0]!.error).toMatch(/branch 1's pass failed on its worker thread/);
        expect(r.faults[0]!.error).toMatch(spec.startsWith('exit') ? /exit/ : /injected fault/);
        expect(Array.from(r.predictions)).toEqual(Array.from(clean.predictions));
      } finally {
        await rt.close();
      }
    }
  });

  it("a failure on the calling thread's own branch while the worker's runs ends the fit with that error, not a hang", async () => {
    process.env['GRAFT_TEST_FAULT'] = 'throw:gemmNN:3@main';
    reloadFaultPlan();
    const rt = await Runtime.create({ threads: 2 });
    try {
      await expect(trainGcnRegressor(rt, models[1]![1], cfg)).rejects.toThrow(/injected fault/);
    } finally {
      await rt.close();
    }
  });
});

describe('the graph-level hybrid on workers', () => {
  it('fingerprint branch on a worker: same weights and validation losses as 1 thread, as groups, inline and serial (one thread)', async () => {
    const config: GraphTrainConfig = {
      task: 'regression',
      layers: 3,
      hidden: 16,
      dropout: 0.1,
      pool: 'max',
      lr: 0.01,
      weightDecay: 0,
      epochs: 3,
      batchSize: 16,
      shardSize: 16,
      patience: 0,
      seed: 5,
      hybrid: { descriptors: 32, denseHidden: 8 },
    };
    const withDesc = (seed: number) =>
      syntheticMolecules({ graphs: 48, seed }).map((g, i) => ({ ...g, descriptors: randn(32, seed * 1000 + i) }));
    const train = withDesc(9),
      val = withDesc(10);
    const fitWith = async (
      threads: number,
      placement: 'workers' | 'groups' | 'inline' | 'serial',
    ): Promise<{ w: Float32Array[]; val: number[] }> => {
      const rt = await Runtime.create({ threads });
      const t = new GraphTrainer(rt, 8, 4, config);
      t.branches = placement;
      const oneThread = vi.spyOn(rt, 'onOneThread');
      try {
        await t.fit(train, val, { restoreBest: false });
        expect(oneThread.mock.calls.length > 0, placement).toBe(placement === 'serial' && threads > 1);
        return {
          w: t.master.params().map((p) => (p.value.data() as Float32Array).slice()),
          val: t.history.map((h) => h.val_loss),
        };
      } finally {
        t.dispose();
        await rt.close();
      }
    };
    const clean = await fitWith(1, 'workers');
    for (const placement of ['workers', 'groups', 'inline', 'serial'] as const) {
      const r = await fitWith(2, placement);
      r.w.forEach((w, i) => {
        expect(bitsEqual(w, clean.w[i]!), `${placement}: parameter ${i}`).toBe(true);
      });
      expect(r.val).toEqual(clean.val);
    }
  });
});
