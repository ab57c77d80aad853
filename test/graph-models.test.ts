import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadMoleculeCsv, type MoleculeDataset } from '../src/chem/dataset.js';
import { MORGAN_BITS } from '../src/chem/featurize.js';
import { scoreMolecules } from '../src/chem/graph-run.js';
import { trainMoleculeTask, type MoleculeTaskResult } from '../src/chem/train-molecules.js';
import { fromRun } from '../src/cli/commands/eval.js';
import { explain } from '../src/cli/commands/explain.js';
import { exportModel } from '../src/cli/commands/interop.js';
import { predictGraphRun } from '../src/cli/commands/predict-graph.js';
import { trainGraphTask } from '../src/cli/commands/train-graph.js';
import { GraftError } from '../src/core/errors.js';
import { loadModel } from '../src/infer/index.js';
import { loadWeights } from '../src/nn/load-weights.js';
import type { GraphModelKind } from '../src/nn/task-models.js';
import { Runtime } from '../src/runtime/runtime.js';
import { loadCheckpoint, saveCheckpoint } from '../src/train/checkpoint.js';
import { GraphTrainer, type GraphTrainConfig } from '../src/train/graph-trainer.js';
import { writeDrugCsv } from './fixtures/drug-molecules.js';
import { bitsEqual, readJson, sharedData, tempDir } from './helpers.js';

// graft train --task graph --model on a Tox21 slice (160 molecules, Chemprop's atom and bond
// features, 2 epochs). Oracles: the model's own parameter names (each model is the one asked
// for, not a GCN), a trainer rebuilt from the config alone scoring the test split to the run's
// own bits (what graft predict and eval do), the outputs moving when the bond features are
// zeroed (GINE and D-MPNN read them), the same bits on 1 and 2 threads and after a resume, and
// through the CLI graft predict writing the run's predictions.csv again byte for byte.

const shared = sharedData();
const tox21 = shared && join(shared, 'moleculenet', 'tox21.csv');
if (!shared) console.warn('graph-models.test: ../shared/data is absent: the Tox21 tests are skipped');
const dir = tempDir('graft-gmodels-');
const slice = join(dir, 'tox21-160.csv');
const MODELS: GraphModelKind[] = ['gcn', 'sage', 'gin', 'gine', 'gat', 'gatv2', 'dmpnn'];
/** Each model's first parameter name: the layer it was asked for. */
const FIRST_PARAM: Record<GraphModelKind, RegExp> = {
  gcn: /^gcn0\./,
  sage: /^sage0\./,
  gin: /^gin0\./,
  gine: /^gine0\./,
  gat: /^gat0\./,
  gatv2: /^gatv2_0\./,
  dmpnn: /^message_passing\./,
};

const configOf = (model: GraphModelKind): GraphTrainConfig => ({
  task: 'multilabel',
  ...(model === 'gcn' ? {} : { model }),
  ...(model === 'gat' || model === 'gatv2' ? { heads: 2 } : {}),
  ...(model === 'gine' || model === 'dmpnn' ? { edgeFeatures: 14 } : {}),
  layers: 3,
  hidden: 16,
  dropout: 0.1,
  pool: model === 'dmpnn' ? 'mean' : 'max',
  lr: 3e-3,
  weightDecay: 0,
  epochs: 2,
  // Two shards a batch: on 2 threads the shards run at once (batch splitting).
  batchSize: 32,
  shardSize: 16,
  patience: 0,
  seed: 1,
});

let ds: MoleculeDataset;
let rt2: Runtime;
const runs = new Map<GraphModelKind, MoleculeTaskResult>();
const train = (rt: Runtime, model: GraphModelKind, fit: Parameters<typeof trainMoleculeTask>[2]['fit'] = {}) =>
  trainMoleculeTask(rt, ds, {
    split: 'random',
    oversample: 'none',
    oversampleFraction: 0.25,
    hybrid: false,
    selectBy: 'auc',
    config: configOf(model),
    fit,
  });

/**
 * A trainer rebuilt from `config` alone scores the run's test split to its bits (what graft
 * predict and eval do), and its outputs move when the bond features are zeroed for the models
 * that read them (GINE and D-MPNN) and for no other.
 */
async function expectRebuilt(
  rt: Runtime,
  m: GraphModelKind,
  config: GraphTrainConfig,
  data: MoleculeDataset,
  res: MoleculeTaskResult,
): Promise<void> {
  const trainer = new GraphTrainer(rt, 133, data.targets.length, config);
  try {
    loadWeights(trainer.master.params(), res.weights, m);
    const test = res.split.test.map((i) => data.graphs[i]!);
    expect(bitsEqual(await scoreMolecules(trainer, 'multilabel', test), res.testOutputs)).toBe(true);
    const bondless = test.map((g) => ({ ...g, bondAttr: new Float32Array(g.bondAttr!.length) }));
    const moved = !bitsEqual(await scoreMolecules(trainer, 'multilabel', bondless), res.testOutputs);
    expect(moved, m).toBe(m === 'gine' || m === 'dmpnn');
  } finally {
    trainer.dispose();
  }
}

beforeAll(async () => {
  if (!tox21) return;
  writeFileSync(slice, `${readFileSync(tox21, 'utf8').split('\n').slice(0, 161).join('\n')}\n`);
  ds = await loadMoleculeCsv(slice, { targets: 'all', task: 'multilabel', atomFeatures: 'chemprop', cacheDir: dir });
  rt2 = await Runtime.create({ threads: 2 });
}, 60_000);
afterAll(async () => {
  await rt2?.close();
});

describe.skipIf(!tox21)('graph-level models on a Tox21 slice', () => {
  it.each(MODELS)('%s trains, and a trainer rebuilt from its config scores the test split to its bits', async (m) => {
    const res = await train(rt2, m);
    runs.set(m, res);
    expect(res.history).toHaveLength(2);
    expect([...res.weights.keys()][0]).toMatch(FIRST_PARAM[m]);
    expect(res.metrics['test_roc_auc']).toBeGreaterThan(0);
    expect(res.metrics['test_roc_auc']).toBeLessThan(1);
    await expectRebuilt(rt2, m, configOf(m), ds, res);
  });

  it("gine as the hybrid's graph branch: trains, and the rebuilt hybrid scores the test split to its bits", async () => {
    const res = await trainMoleculeTask(rt2, ds, {
      split: 'random',
      oversample: 'none',
      oversampleFraction: 0.25,
      hybrid: true,
      selectBy: 'auc',
      config: configOf('gine'),
    });
    const names = [...res.weights.keys()];
    expect(names[0]).toMatch(/^gine0\./);
    expect(names).toContain('dense0.weight');
    const trainer = new GraphTrainer(rt2, 133, ds.targets.length, {
      ...configOf('gine'),
      hybrid: { descriptors: MORGAN_BITS, denseHidden: 64 },
    });
    try {
      loadWeights(trainer.master.params(), res.weights, 'gine hybrid');
      const test = res.split.test.map((i) => ds.graphs[i]!);
      expect(bitsEqual(await scoreMolecules(trainer, 'multilabel', test), res.testOutputs)).toBe(true);
    } finally {
      trainer.dispose();
    }
  });

  it.each(['dmpnn', 'gat'] as const)('%s: the same bits on 1 thread as on 2', async (m) => {
    const rt1 = await Runtime.create({ threads: 1 });
    try {
      const one = await train(rt1, m);
      const two = runs.get(m) ?? (await train(rt2, m));
      for (const [name, w] of two.weights) expect(bitsEqual(one.weights.get(name)!, w), name).toBe(true);
      expect(bitsEqual(one.testOutputs, two.testOutputs)).toBe(true);
    } finally {
      await rt1.close();
    }
  });

  it('gine: stopped after epoch 1 and resumed from its checkpoint, it ends with the bits of a run never stopped', async () => {
    const file = join(dir, 'gine.safetensors');
    let epochs = 0;
    const stopped = await trainMoleculeTask(
      rt2,
      ds,
      {
        split: 'random',
        oversample: 'none',
        oversampleFraction: 0.25,
        hybrid: false,
        selectBy: 'auc',
        config: configOf('gine'),
        fit: {
          checkpoint: { every: 1, write: (cp) => saveCheckpoint(file, cp) },
          interrupted: () => epochs >= 1,
        },
      },
      () => {
        epochs++;
      },
    );
    expect(stopped.interrupted).toBe(true);
    const resumed = await train(rt2, 'gine', { resume: { checkpoint: loadCheckpoint(file), file } });
    const whole = runs.get('gine') ?? (await train(rt2, 'gine'));
    for (const [name, w] of whole.weights) expect(bitsEqual(resumed.weights.get(name)!, w), name).toBe(true);
    expect(bitsEqual(resumed.testOutputs, whole.testOutputs)).toBe(true);
  });

  it('through the CLI: graft predict and eval give back the run, a different --atom-features is refused, graft/infer loads it, graft explain scores atoms and bonds', async () => {
    const run = join(dir, 'run-dmpnn');
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      const args = ['--task', 'graph', '--data', slice, '--model', 'dmpnn', '--atom-features', 'chemprop'];
      const opts = ['--hidden', '16', '--epochs', '2', '--batch-size', '32', '--threads', '2', '--out', run];
      expect(await trainGraphTask([...args, ...opts, '--quiet'])).toBe(0);
      const cfg = readJson(join(run, 'config.json'));
      expect([cfg['model'], cfg['atom_features'], cfg['edgeFeatures'], cfg['pool']]).toEqual([
        'dmpnn',
        'chemprop',
        14,
        'mean',
      ]);
      await predictGraphRun(['--run', run]);
      expect(readFileSync(join(run, 'predictions-test.csv'), 'utf8')).toBe(
        readFileSync(join(run, 'predictions.csv'), 'utf8'),
      );
      log.mockClear();
      await fromRun(['--run', run], 'eval');
      const ev = JSON.parse(String(log.mock.calls[0]![0])) as Record<string, number>;
      expect(ev['test_roc_auc']).toBe(readJson(join(run, 'metrics.json'))['test_roc_auc']);
      await expect(predictGraphRun(['--run', run, '--atom-features', 'default'])).rejects.toThrow(
        /^--atom-features default: the run's model was trained on --atom-features chemprop/,
      );
      // graft/infer and graft export rebuild the D-MPNN (graph-model-interop.test.ts checks their outputs).
      const loaded = await loadModel(readFileSync(join(run, 'checkpoint.safetensors')), { name: 'd.safetensors' });
      expect([loaded.task, loaded.config['model']]).toEqual(['graph', 'dmpnn']);
      await exportModel(['--to', 'graft', '--run', run, '--out', join(dir, 'm.safetensors')]);
      // graft explain rebuilds the run's D-MPNN on its Chemprop features: atoms and bonds scored.
      await explain(['--run', run, '--count', '1', '--target', 'NR-AR', '--quiet']);
      const ex = readJson(join(run, 'explain', 'explanations.json'));
      const first = (ex['explanations'] as { completeness: { error: number; expected: number } }[])[0]!;
      expect(first.completeness.error).toBeLessThanOrEqual(
        Math.max(0.01 * Math.abs(first.completeness.expected), 1e-4),
      );
      expect(readFileSync(join(run, 'explain', 'bonds.csv'), 'utf8')).toMatch(/,features,/);
    } finally {
      log.mockRestore();
    }
  });
});

// The same oracles on the repository's own drug fixture (100 real SMILES, labels by a rule on
// the structure), so they run where ../shared/data is absent.
describe('graph-level models on the inline drug fixture', () => {
  const fixture = join(dir, 'fixture');
  let drugs: MoleculeDataset;
  let rt: Runtime;
  beforeAll(async () => {
    mkdirSync(fixture, { recursive: true });
    drugs = await loadMoleculeCsv(writeDrugCsv(fixture), {
      targets: 'all',
      task: 'multilabel',
      atomFeatures: 'chemprop',
      cacheDir: fixture,
      invalid: 'fail',
    });
    rt = await Runtime.create({ threads: 2 });
  }, 60_000);
  afterAll(async () => {
    await rt?.close();
  });

  it.each(MODELS)('%s trains, and a trainer rebuilt from its config scores the test split to its bits', async (m) => {
    const config = { ...configOf(m), batchSize: 16, shardSize: 8 };
    const res = await trainMoleculeTask(rt, drugs, {
      split: 'random',
      oversample: 'none',
      oversampleFraction: 0.25,
      hybrid: false,
      selectBy: 'auc',
      config,
    });
    expect(res.history).toHaveLength(2);
    expect([...res.weights.keys()][0]).toMatch(FIRST_PARAM[m]);
    await expectRebuilt(rt, m, config, drugs, res);
  });
});

describe('graft train --task graph refuses models and features that do not go together, by flag', () => {
  const refused = (argv: string[]) => trainGraphTask(['--task', 'graph', '--data', 'x.csv', ...argv]);
  it.each([
    [
      ['--model', 'gine'],
      /^--model gine reads bond features, and --atom-features default has none: add --atom-features chemprop$/,
    ],
    [['--model', 'dmpnn', '--atom-features', 'default'], /^--model dmpnn reads bond features/],
    [
      ['--model', 'dmpnn', '--atom-features', 'chemprop', '--pool', 'max'],
      /^--pool max: --model dmpnn's readout is mean or sum$/,
    ],
    [['--model', 'gcn', '--heads', '4'], /^--heads is for --model gat or gatv2/],
    [['--model', 'gat', '--heads', '3'], /^--heads 3 must divide --hidden 128/],
    [['--model', 'mpnn'], /^--model must be 'gcn', 'sage', 'gin', 'gine', 'gat', 'gatv2' or 'dmpnn', got "mpnn"$/],
    [['--atom-features', 'rdkit'], /^--atom-features must be 'default' or 'chemprop', got "rdkit"$/],
  ])('%j', async (argv, message) => {
    const err = await refused(argv).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GraftError);
    expect((err as Error).message).toMatch(message);
  });
});
