import { describe, expect, it } from 'vitest';
import { graphRunTrainer } from '../src/chem/graph-run.js';
import { trainGraphTask } from '../src/cli/commands/train-graph.js';
import { GraftError } from '../src/core/errors.js';
import { Runtime } from '../src/runtime/runtime.js';

// --hybrid-inputs and --lr-schedule: refused by flag before any work when they cannot apply,
// and a run whose hybrid reads descriptors is refused by graphRunTrainer unless its caller
// rebuilds those inputs (graft predict and eval: runDenseInputs) of the model's width, rather
// than scored on the fingerprint.

describe('graft train --task graph refuses --hybrid-inputs and --lr-schedule values that cannot apply, by flag', () => {
  const refused = (argv: string[]) => trainGraphTask(['--task', 'graph', '--data', 'x.csv', ...argv]);
  it.each([
    [
      ['--hybrid-inputs', 'descriptors'],
      /^--hybrid-inputs descriptors is what the --hybrid model's dense branch reads: add --hybrid$/,
    ],
    [
      ['--hybrid', '--hybrid-inputs', 'rdkit'],
      /^--hybrid-inputs must be 'fingerprint', 'descriptors' or 'both', got "rdkit"$/,
    ],
    [['--lr-schedule', 'cosine'], /^--lr-schedule must be 'constant' or 'noam', got "cosine"$/],
  ])('%j', async (argv, message) => {
    const err = await refused(argv).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GraftError);
    expect((err as Error).message).toMatch(message);
  });
});

describe('graphRunTrainer', () => {
  it("refuses a hybrid on descriptors, naming the checkpoint and the dense branch's width", async () => {
    const config = {
      task: 'multilabel',
      layers: 3,
      hidden: 16,
      dropout: 0,
      pool: 'max',
      lr: 1e-3,
      weightDecay: 0,
      epochs: 1,
      batchSize: 64,
      shardSize: 32,
      patience: 0,
      seed: 1,
      hybrid: { descriptors: 43, denseHidden: 64 },
    };
    const cp = {
      tensors: new Map(),
      metadata: { task: 'graph', config: JSON.stringify(config), features: '48', targets: '2' },
    };
    const rt = await Runtime.create({ threads: 1 });
    try {
      expect(() => graphRunTrainer(rt, cp, '/runs/r/checkpoint.safetensors', 2)).toThrow(
        /^\/runs\/r\/checkpoint\.safetensors: the model's dense branch reads 43 columns \(RDKit descriptors scaled on its training split\), not the 1024-bit fingerprint/,
      );
      expect(() =>
        graphRunTrainer(rt, cp, '/runs/r/checkpoint.safetensors', 2, { inputs: 'both', scaling: null }),
      ).toThrow(
        /^\/runs\/r\/checkpoint\.safetensors: the model's dense branch reads 43 columns, but the run's config\.json records hybrid_inputs both \(1067 columns\)$/,
      );
    } finally {
      await rt.close();
    }
  });
});
