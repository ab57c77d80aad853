import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Rng } from '../src/core/random.js';
import { decodeCheckpoint, encodeCheckpoint } from '../src/train/checkpoint.js';
import { runGraftAsync, tempDir } from './helpers.js';

// graft/infer on a `graft mb --keep-model` file: raw counts given to the built bundle's
// predictCounts must give the bits graft predict (the CLI) writes for the same counts file:
// the same taxa alignment, the same per-sample preprocessing, the same forest or linear model.
// The CLI's scores are printed at full precision (shortest round-trip text), so parsing them
// back gives its doubles exactly. Each kept model uses a preprocessing with fitted parameters
// (CSS quantile, GBM prior, rarefying depth and seed), which a reader that ignored the stored
// preprocessing would get wrong.

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bundleFile = join(root, 'dist', 'infer', 'graft-infer.js');
const dir = tempDir('graft-infer-mb-');
const put = (name: string, text: string): string => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};

const P = 10,
  N = 30;
const taxa = Array.from({ length: P }, (_, j) => `g__t${j}`);
const rng = new Rng(5);
const poisson = (lambda: number): number => {
  let k = 0,
    t = Math.exp(-lambda),
    s = t;
  const u = rng.next();
  while (u > s && k < 200) {
    k++;
    t *= lambda / k;
    s += t;
  }
  return k;
};
/** Counts [samples, P]: class 1 enriched in taxa 0-1, depleted in 2-3; taxon 0 never empty so every sample has reads. */
const draw = (n: number, offset: number): number[][] =>
  Array.from({ length: n }, (_, i) => {
    const c = (i + offset) % 2;
    return Array.from(
      { length: P },
      (_, j) => poisson(j < 2 ? (c ? 12 : 3) : j < 4 ? (c ? 2 : 9) : 4) + (j === 0 ? 25 : 0),
    );
  });
const train = draw(N, 0);
const counts = put(
  'counts.csv',
  `${[`sample_id,${taxa.join(',')}`, ...train.map((r, i) => `s${i},${r.join(',')}`)].join('\n')}\n`,
);
const meta = put(
  'meta.csv',
  `${['sample_id,diagnosis,score', ...train.map((r, i) => `s${i},${i % 2 ? 'CD' : 'no'},${(r[0]! / 10 + (i % 2) * 3).toFixed(2)}`)].join('\n')}\n`,
);

// New samples as a lab would send them: columns in another order, the model's g__t9 missing
// (absent, counted 0) and a taxon the model never saw (unknown, dropped).
const fresh = draw(6, 1);
const newTaxa = ['g__new', ...taxa.slice(0, 9).reverse()];
// Deeper than the training samples, so a rarefying model's depth is reached without g__t9.
const newRows = fresh.map((r, i) => [
  7 + i,
  ...r
    .slice(0, 9)
    .map((v) => 2 * v)
    .reverse(),
]);
const newFile = put(
  'new.csv',
  `${[`sample_id,${newTaxa.join(',')}`, ...newRows.map((r, i) => `n${i},${r.join(',')}`)].join('\n')}\n`,
);

type Infer = typeof import('../src/infer/index.js');

/** graft mb --keep-model, then graft predict on newFile: the CLI's scores as numbers [samples, columns] and its stderr. */
async function keepAndPredict(
  name: string,
  args: string[],
): Promise<{ run: string; header: string[]; scores: number[][]; predicted: string[]; stderr: string }> {
  const run = join(dir, name);
  const r = await runGraftAsync([
    'mb',
    '--counts',
    counts,
    '--meta',
    meta,
    '--k',
    '3',
    '--repeats',
    '1',
    '--trees',
    '15',
    '--min-prevalence',
    '0',
    '--threads',
    '1',
    '--out',
    run,
    '--quiet',
    ...args,
  ]);
  expect(r.status, r.stderr).toBe(0);
  const q = await runGraftAsync(['predict', '--run', run, '--counts', newFile]);
  expect(q.status, q.stderr).toBe(0);
  const [head, ...lines] = q.stdout.trim().split('\n');
  const header = head!.split(',');
  const cls = header[1] === 'predicted';
  return {
    run,
    header,
    stderr: q.stderr,
    predicted: cls ? lines.map((l) => l.split(',')[1]!) : [],
    scores: lines.map((l) =>
      l
        .split(',')
        .slice(cls ? 2 : 1)
        .map(Number),
    ),
  };
}

async function bundleScores(
  run: string,
): Promise<{ model: Awaited<ReturnType<Infer['loadModel']>>; out: import('../src/infer/index.js').CountsPrediction }> {
  const b = (await import(bundleFile)) as Infer;
  const model = await b.loadModel(readFileSync(join(run, 'model', 'model.safetensors')), { name: 'kept.safetensors' });
  const out = await model.predictCounts({ taxa: newTaxa, counts: newRows.flat(), samples: newRows.length });
  return { model, out };
}

describe('graft/infer on graft mb --keep-model files (the built bundle)', () => {
  const cases: [string, string[]][] = [
    [
      'rf, css',
      ['--label', 'diagnosis', '--models', 'rf', '--keep-model', 'rf', '--normalize', 'css', '--zeros', 'none'],
    ],
    [
      'logistic, clr after the gbm prior',
      [
        '--label',
        'diagnosis',
        '--models',
        'logistic',
        '--keep-model',
        'logistic',
        '--normalize',
        'clr',
        '--zeros',
        'gbm',
      ],
    ],
    [
      'ridge (a target), rarefied with the run seed',
      [
        '--target',
        'score',
        '--models',
        'logistic',
        '--keep-model',
        'logistic',
        '--normalize',
        'rarefy',
        '--zeros',
        'pseudo',
      ],
    ],
    [
      'rf on a target, mclr',
      ['--target', 'score', '--models', 'rf', '--keep-model', 'rf', '--normalize', 'mclr', '--zeros', 'none'],
    ],
  ];
  for (const [what, args] of cases) {
    it(`${what}: predictCounts on raw counts gives graft predict's bits and reports the taxa alignment`, async () => {
      const cli = await keepAndPredict(what.replace(/\W+/g, '-'), args);
      const { model, out } = await bundleScores(cli.run);
      expect(model.task).toBe('microbiome');
      const K = out.classNames.length || 1;
      expect(out.scores.length).toBe(newRows.length * K);
      const got = Array.from({ length: newRows.length }, (_, i) => Array.from(out.scores.subarray(i * K, i * K + K)));
      expect(got).toEqual(cli.scores); // toEqual on doubles: the same values (Object.is would only add -0/NaN)
      expect(got.flat().every((v, i) => Object.is(v, cli.scores.flat()[i]))).toBe(true);
      if (out.classNames.length) {
        expect(cli.header.slice(2)).toEqual(out.classNames.map((c) => `p_${c}`));
        expect(out.predicted).toEqual(cli.predicted);
      } else {
        expect(out.predicted).toBeNull();
      }
      // The alignment as graft predict reports it.
      expect(out.taxa).toEqual({ found: 9, absent: ['g__t9'], unknown: ['g__new'] });
      expect(cli.stderr).toMatch(/9 of the model's 10 taxa found/);
      expect(cli.stderr).toMatch(/absent .* "g__t9"/);
      expect(cli.stderr).toMatch(/not in the model and dropped: "g__new"/);
      // A sample's scores do not depend on the others: scoring one sample alone gives its row of the batch.
      const one = await model.predictCounts({ taxa: newTaxa, counts: Float64Array.from(newRows[3]!), samples: 1 });
      expect(Array.from(one.scores)).toEqual(got[3]);
      model.dispose();
    }, 20_000);
  }

  it('refuses what it cannot score: a kept mlp by name, a node model through predictCounts, bad counts, no shared taxa', async () => {
    const b = (await import(bundleFile)) as Infer;
    const run = join(dir, 'rf-css');
    const cp = decodeCheckpoint(readFileSync(join(run, 'model', 'model.safetensors')));
    const m = JSON.parse(cp.metadata['model']!) as Record<string, unknown>;
    const asMlp = encodeCheckpoint({
      tensors: cp.tensors,
      metadata: { ...cp.metadata, version: '2', model: JSON.stringify({ ...m, model: 'mlp' }) },
    });
    await expect(b.loadModel(asMlp, { name: 'mlp.safetensors' })).rejects.toThrow(
      /^mlp\.safetensors: a kept mlp microbiome model is scored by graft predict/,
    );
    // A damaged forest (a child before its parent) is refused at load, before any walk could loop.
    const left = cp.tensors.get('forest.left')!;
    const broken = Int32Array.from(left.data as Int32Array);
    broken[0] = 0;
    await expect(
      b.loadModel(
        encodeCheckpoint({
          tensors: new Map([...cp.tensors, ['forest.left', { shape: left.shape, data: broken }]]),
          metadata: cp.metadata,
        }),
        { name: 'bad.safetensors' },
      ),
    ).rejects.toThrow(/^bad\.safetensors: not a usable graft mb model \(tree 0 node 0/);
    const node = encodeCheckpoint({
      tensors: new Map([['model.gcn0.weight', { shape: [3, 2], data: new Float32Array(6) }]]),
      metadata: {
        format: 'graft-model-v1',
        task: 'node',
        config: '{}',
        shape: JSON.stringify({ features: 3, classes: 2 }),
      },
    });
    const nm = await b.loadModel(node, { name: 'node.safetensors' });
    await expect(nm.predictCounts({ taxa, counts: new Float64Array(P), samples: 1 })).rejects.toThrow(
      /^node\.safetensors is a node model: predictCounts needs a microbiome model$/,
    );
    nm.dispose();
    const mb = await b.loadModel(readFileSync(join(run, 'model', 'model.safetensors')), { name: 'kept' });
    await expect(mb.predictNodes({ numNodes: 1, features: new Float32Array(1), src: [], dst: [] })).rejects.toThrow(
      /kept is a microbiome model: predictNodes needs a node model/,
    );
    await expect(mb.predictCounts({ taxa: ['x', 'y'], counts: [1, 2], samples: 1 })).rejects.toThrow(
      /none of kept's 10 taxa is in the input/,
    );
    await expect(mb.predictCounts({ taxa, counts: [1, 2], samples: 1 })).rejects.toThrow(
      /counts must hold samples × taxa = 10 values \(got 2\)/,
    );
    await expect(mb.predictCounts({ taxa: ['g__t0', 'g__t0'], counts: [1, 2], samples: 1 })).rejects.toThrow(
      /taxon "g__t0" appears twice/,
    );
    await expect(mb.predictCounts({ taxa, counts: new Float64Array(P), samples: 1 })).rejects.toThrow(
      /sample 0 has no reads/,
    );
  });
});
