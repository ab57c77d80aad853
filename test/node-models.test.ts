import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { GraftError } from '../src/core/errors.js';
import { plantedPartition } from '../src/data/synthetic.js';
import { Tensor } from '../src/memory/tensor.js';
import { ELU, nodeMessageGraph, type NodeModelKind } from '../src/nn/node-models.js';
import { Runtime } from '../src/runtime/runtime.js';
import {
  KIPF_DEFAULTS,
  predictNodes,
  trainNodeClassifier,
  type NodeTrainConfig,
  type NodeTrainResult,
} from '../src/train/node-trainer.js';
import { fromRun } from '../src/cli/commands/eval.js';
import { explain } from '../src/cli/commands/explain.js';
import { trainNode } from '../src/cli/commands/train.js';
import { trainGraphTask } from '../src/cli/commands/train-graph.js';
import { bitsEqual, tempDir } from './helpers.js';

// graft train --model for node tasks: each message-passing model learns a planted partition
// (5 classes: chance is 0.2), with the same bits on 1 and 2 threads, and predictNodes (what
// graft eval and graft predict run) on the reported weights gives back the run's predictions.
// Through the CLI: the model recorded in config.json and the checkpoint, graft eval reproducing
// the run's test accuracy and graft predict its classes, resume refusing another --model, graph
// tasks and GNNExplainer (the GCN's) refusing such a run in one line.

const MODELS: NodeModelKind[] = ['sage', 'gin', 'gat', 'gatv2'];
const data = (): ReturnType<typeof plantedPartition> => plantedPartition({ nodes: 300, features: 32, seed: 3 });
const configOf = (model: NodeModelKind): NodeTrainConfig => ({
  ...KIPF_DEFAULTS,
  model,
  epochs: 40,
  patience: 0,
  weightDecayScope: 'all',
  lr: 0.01,
  ...(model === 'gat' || model === 'gatv2' ? { hidden: 4, heads: 4, dropout: 0.3 } : {}),
});

let rt1: Runtime, rt2: Runtime;
beforeAll(async () => {
  rt1 = await Runtime.create({ threads: 1 });
  rt2 = await Runtime.create({ threads: 2 });
});
afterAll(async () => {
  await rt1?.close();
  await rt2?.close();
});

describe('node models beside the GCN (library)', () => {
  for (const model of MODELS) {
    it(`${model}: learns above chance, the same bits on 1 and 2 threads, predictNodes gives the run's predictions`, async () => {
      const ds = data();
      const runs: NodeTrainResult[] = [
        await trainNodeClassifier(rt1, ds, configOf(model)),
        await trainNodeClassifier(rt2, ds, configOf(model)),
      ];
      const [a, b] = runs as [NodeTrainResult, NodeTrainResult];
      expect(a.metrics['test_accuracy'], model).toBeGreaterThan(0.5);
      expect(a.history[a.history.length - 1]!.train_loss).toBeLessThan(a.history[0]!.train_loss * 0.7);
      expect(a.sparseFeatures).toBe(false);
      expect([...a.weights.keys()][0]!.startsWith(model === 'gatv2' ? 'gatv2_0.' : `${model}0.`)).toBe(true);
      expect(Float64Array.from(b.history.map((h) => h.train_loss))).toEqual(
        Float64Array.from(a.history.map((h) => h.train_loss)),
      );
      for (const [name, w] of a.weights) expect(bitsEqual(w, b.weights.get(name)!), name).toBe(true);
      const again = await predictNodes(rt2, ds, configOf(model), a.weights);
      expect(bitsEqual(again.pred, a.predictions)).toBe(true);
    });
  }

  it('refuses an unknown model, bad heads and sparse features for a model that is not the GCN', async () => {
    const ds = data();
    const bad = (c: Partial<NodeTrainConfig>): Promise<unknown> =>
      trainNodeClassifier(rt1, ds, { ...KIPF_DEFAULTS, epochs: 1, ...c } as NodeTrainConfig).then(
        () => null,
        (e: unknown) => e,
      );
    expect(String(await bad({ model: 'gcnn' as NodeModelKind }))).toMatch(
      /config\.model.*'gcn', 'sage', 'gin', 'gat', 'gatv2'.*gcnn/,
    );
    // Resuming a checkpoint of another model (the CLI says it in its flags' terms first).
    const cp = join(tempDir('graft-node-models-lib-'), 'gat.safetensors');
    await trainNodeClassifier(rt1, ds, { ...configOf('gat'), epochs: 2 }, { checkpointPath: cp });
    const resumed = await trainNodeClassifier(rt1, ds, { ...configOf('sage'), epochs: 3 }, { resumeFrom: cp }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(String(resumed)).toMatch(/config\.model.*"gat" as in the checkpoint.*sage/);
    expect(String(await bad({ model: 'gat', heads: 0 }))).toMatch(/config\.heads.*positive integer/);
    expect(String(await bad({ model: 'sage', featureFormat: 'sparse' }))).toMatch(
      /config\.featureFormat.*'auto' or 'dense' for a sage model/,
    );
  });

  it('ELU: e^x − 1 below 0, x above, and its gradient g·(y + 1) below 0 (against the formula in f64)', async () => {
    const xs = Float32Array.from([-3, -1, -0.25, 0, 0.5, 2, -1e-3, 7]);
    const gs = Float32Array.from([1, -2, 0.5, 3, 1, -1, 4, 0.25]);
    const x = Tensor.from(rt2.heap, 'float32', [2, 4], xs),
      g = Tensor.from(rt2.heap, 'float32', [2, 4], gs);
    const elu = new ELU(),
      ctx = { exec: rt2.exec, training: true, seed: 1, step: 0 };
    const y = await elu.forward(ctx, x);
    const gx = (await elu.backward(ctx, g, true))!;
    const yv = y.data() as Float32Array,
      gv = gx.data() as Float32Array;
    for (let i = 0; i < xs.length; i++) {
      const v = xs[i]!;
      expect(yv[i]! - (v > 0 ? v : Math.exp(v) - 1)).toBeCloseTo(0, 6);
      expect(gv[i]! - gs[i]! * (v > 0 ? 1 : Math.exp(v))).toBeCloseTo(0, 6);
    }
    for (const t of [x, g, y, gx]) t.free();
  });

  it("the message graph: the edge list made undirected with duplicates merged; GAT's with one self loop per node", () => {
    // 0→1 twice, 1→0 once, 2→2 a loop, node 3 isolated.
    const plain = nodeMessageGraph(rt1.heap, 4, [0, 0, 1, 2], [1, 1, 0, 2], 'sage');
    const gat = nodeMessageGraph(rt1.heap, 4, [0, 0, 1, 2], [1, 1, 0, 2], 'gat');
    try {
      expect(plain.edges).toBe(3); // 0→1, 1→0, 2→2
      expect(gat.edges).toBe(6); // 0→1, 1→0 and a loop on each of the 4 nodes
    } finally {
      plain.free();
      gat.free();
    }
  });
});

describe('graft train --model (node tasks)', () => {
  const dir = tempDir('graft-node-models-');
  const run = join(dir, 'gat');
  const logs: string[] = [];
  const errOf = (p: Promise<unknown>): Promise<unknown> =>
    p.then(
      () => null,
      (e: unknown) => e,
    );

  beforeAll(async () => {
    const log = vi.spyOn(console, 'log').mockImplementation((s: string) => {
      logs.push(String(s));
    });
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      const code = await trainNode([
        '--model',
        'gat',
        '--dataset',
        'synthetic',
        '--epochs',
        '6',
        '--hidden',
        '4',
        '--heads',
        '2',
        '--threads',
        '2',
        '--out',
        run,
        '--quiet',
      ]);
      expect(code).toBe(0);
    } finally {
      log.mockRestore();
      err.mockRestore();
    }
  }, 120_000);

  it("records the model in config.json and the checkpoint; graft eval reproduces the run's test accuracy", async () => {
    const config = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(config['model']).toBe('gat');
    expect(config['heads']).toBe(2);
    expect(config['lr']).toBe(0.005); // GAT's defaults where no flag says otherwise
    expect(config['dropout']).toBe(0.6);
    const { metadata } = (await import('../src/train/checkpoint.js')).loadCheckpoint(
      join(run, 'checkpoint.safetensors'),
    );
    expect((JSON.parse(metadata['config']!) as NodeTrainConfig).model).toBe('gat');
    const metrics = JSON.parse(readFileSync(join(run, 'metrics.json'), 'utf8')) as Record<string, number>;
    const log = vi.spyOn(console, 'log').mockImplementation((s: string) => {
      logs.push(String(s));
    });
    try {
      await fromRun(['--run', run, '--threads', '1'], 'eval');
    } finally {
      log.mockRestore();
    }
    const evald = JSON.parse(logs[logs.length - 1]!) as Record<string, number>;
    expect(evald['test_accuracy']).toBe(metrics['test_accuracy']);
    expect(evald['val_accuracy']).toBe(metrics['val_accuracy']);
    // graft predict on the run's own graph: the classes the run wrote.
    const out = join(dir, 'again.csv');
    const quiet = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      await fromRun(['--run', run, '--out', out], 'predict');
    } finally {
      quiet.mockRestore();
    }
    const predicted = (f: string): string[] =>
      readFileSync(f, 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(',')[1]!);
    expect(predicted(out)).toEqual(predicted(join(run, 'predictions.csv')));
  });

  it('resume refuses another --model; graft/infer loads the run; gnnexplainer refuses it in one line', async () => {
    const resumed = await errOf(
      trainNode(['--model', 'sage', '--dataset', 'synthetic', '--epochs', '8', '--out', run, '--resume', '--quiet']),
    );
    expect(resumed).toBeInstanceOf(GraftError);
    expect((resumed as Error).message).toBe(
      `--resume: ${join(run, 'checkpoint.safetensors')} is of a gat run, not --model sage (resume with --model gat, or start anew with --overwrite)`,
    );
    const heads = await errOf(
      trainNode(['--model', 'sage', '--heads', '2', '--dataset', 'synthetic', '--out', join(dir, 'x'), '--quiet']),
    );
    expect((heads as Error).message).toBe('--heads is for --model gat or gatv2 (attention heads), not sage');
    // graft/infer rebuilds the run's model from its checkpoint (node-model-interop.test.ts checks its predictions).
    const { loadModel } = await import('../src/infer/index.js');
    const loaded = await loadModel(readFileSync(join(run, 'checkpoint.safetensors')), { name: 'gat.safetensors' });
    expect(loaded.config['model']).toBe('gat');
    // Graph tasks take --model gat too (test/graph-models.test.ts): what stops this call is the missing --data.
    const graph = await errOf(trainGraphTask(['--task', 'graph', '--model', 'gat']));
    expect((graph as Error).message).toBe('--data FILE.csv is required');
    // Export, quantize and explain take the run (node-model-interop.test.ts); GNNExplainer's soft edge masks are the GCN's.
    const e = await errOf(explain(['--run', run, '--method', 'gnnexplainer', '--quiet']));
    expect(e).toBeInstanceOf(GraftError);
    expect((e as Error).message).toBe(
      `--method gnnexplainer explains GCN runs (its soft edge masks weight Â); this run's model is gat (${run}): use ig, saliency or gxi, or attention`,
    );
  });
});
