import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { plantedPartition } from '../src/data/synthetic.js';
import type { NodeDataset } from '../src/graph/node-data.js';
import { decodeCheckpoint, encodeCheckpoint } from '../src/train/checkpoint.js';
import { GraftError } from '../src/core/errors.js';
import { fromRun } from '../src/cli/commands/eval.js';
import { exportModel } from '../src/cli/commands/interop.js';
import { predict } from '../src/cli/commands/predict.js';
import { quantize } from '../src/cli/commands/quantize.js';
import { bitsEqual, runGraftAsync, tempDir } from './helpers.js';

// graft predict on a node run with a new graph (inductive use), against graft/infer's bundle
// on the same raw files: the same bits, both with the run's row normalization applied (checked
// against the formula written out here). And every refusal of a silent wrong result on these
// paths: changed input files, wrong feature columns, a bad --out, a damaged config.json, a run
// folder of another kind, a model file that does not say how its inputs were preprocessed.

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
type Bundle = typeof import('../src/infer/index.js');
const bundle = (): Promise<Bundle> => import(join(root, 'dist', 'infer', 'graft-infer.js')) as Promise<Bundle>;
const env = { GRAFT_BACKEND: 'simd', GRAFT_DATA: '/nonexistent' };
const graft = async (...args: string[]): Promise<{ code: number | null; out: string; err: string }> => {
  const r = await runGraftAsync(args, env);
  return { code: r.status, out: r.stdout, err: r.stderr };
};
const CLASSES = ['alpha', 'beta', 'gamma'];

/**
 * The refusals run in-process (a CLI start costs a second on a loaded machine): each must be a
 * GraftError, which graft's main prints as one line without a stack trace (one case checks
 * that through the CLI itself), with exactly this message.
 */
const COMMANDS: Record<string, (argv: string[]) => Promise<void>> = {
  eval: (a) => fromRun(a, 'eval'),
  predict,
  export: exportModel,
  quantize,
};
async function refuses(cmd: string[], message: string): Promise<void> {
  const err = await COMMANDS[cmd[0]!]!(cmd.slice(1)).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, cmd.join(' ')).toBeInstanceOf(GraftError);
  expect((err as Error).message, cmd.join(' ')).toBe(message);
}

/** A planted-partition graph as the CSVs graft train reads; feature values 0..3 so rows sum to different totals. */
function writeGraph(
  dir: string,
  ds: NodeDataset,
  prefix: string,
  labels: boolean,
): { features: string; edges: string; labels: string; x: Float32Array } {
  mkdirSync(dir, { recursive: true });
  const f = ds.numFeatures;
  const x = ds.features.map((v, i) => v * (1 + (i % 3)));
  const id = (i: number): string => `${prefix}${i}`;
  const rows = [['id', ...Array.from({ length: f }, (_, j) => `w${j}`)].join(',')];
  for (let i = 0; i < ds.numNodes; i++) rows.push([id(i), ...x.subarray(i * f, (i + 1) * f)].join(','));
  const files = { features: join(dir, 'features.csv'), edges: join(dir, 'edges.csv'), labels: join(dir, 'labels.csv') };
  writeFileSync(files.features, `${rows.join('\n')}\n`);
  writeFileSync(
    files.edges,
    `${['source,target', ...Array.from(ds.src, (s, k) => `${id(s)},${id(ds.dst[k]!)}`)].join('\n')}\n`,
  );
  if (labels)
    writeFileSync(
      files.labels,
      `${['id,label', ...Array.from(ds.labels, (l, i) => `${id(i)},${l >= 0 ? CLASSES[l] : ''}`)].join('\n')}\n`,
    );
  return { ...files, x };
}

/** Nodes [from, to) of `ds` and the edges among them, renumbered from 0; every node labelled. */
function subgraph(ds: NodeDataset, from: number, to: number): NodeDataset {
  const f = ds.numFeatures,
    keep = [...ds.src.keys()].filter(
      (k) => ds.src[k]! >= from && ds.src[k]! < to && ds.dst[k]! >= from && ds.dst[k]! < to,
    );
  const none = new Int32Array(0);
  return {
    ...ds,
    numNodes: to - from,
    features: ds.features.slice(from * f, to * f),
    labels: ds.labels.slice(from, to),
    split: { train: none, val: none, test: none },
    src: Int32Array.from(keep, (k) => ds.src[k]! - from),
    dst: Int32Array.from(keep, (k) => ds.dst[k]! - from),
    ids: [],
  };
}

/** Kipf & Welling's row normalization written out: each row over its sum, in float64, rounded once. */
function rowNormalized(x: Float32Array, f: number): Float32Array {
  const out = x.slice();
  for (let r = 0; r < x.length / f; r++) {
    const row = Array.from(x.subarray(r * f, (r + 1) * f));
    const s = row.reduce((a, b) => a + b, 0);
    if (s > 0)
      row.forEach((v, c) => {
        out[r * f + c] = v / s;
      });
  }
  return out;
}

function parsePredictions(csv: string, classes: number): { ids: string[]; pred: string[]; probs: Float32Array } {
  const lines = csv.trim().split('\n');
  expect(lines[0]).toBe(['id', 'predicted', ...Array.from({ length: classes }, (_, j) => `p${j}`)].join(','));
  const rows = lines.slice(1).map((l) => l.split(','));
  return {
    ids: rows.map((r) => JSON.parse(r[0]!) as string),
    pred: rows.map((r) => JSON.parse(r[1]!) as string),
    probs: Float32Array.from(rows.flatMap((r) => r.slice(2).map(Number))),
  };
}

describe('graft predict on a node run with a new graph', () => {
  const dir = tempDir('graft-node-predict-');
  const run = join(dir, 'run');
  // One planted partition cut in two: the run trains on the first 240 nodes; the other 150,
  // with the edges among them, are a new graph of the same kind (no labels given).
  const whole = plantedPartition({
    nodes: 390,
    classes: 3,
    features: 24,
    trainPerClass: 30,
    val: 60,
    test: 100,
    seed: 11,
  });
  const train = writeGraph(join(dir, 'train'), subgraph(whole, 0, 240), 'a', true);
  const fresh = subgraph(whole, 240, 390);
  const next = writeGraph(join(dir, 'new'), fresh, 'b', false);
  const model = join(dir, 'model.safetensors');

  beforeAll(async () => {
    const t = await graft(
      'train',
      '--features',
      train.features,
      '--edges',
      train.edges,
      '--labels',
      train.labels,
      '--epochs',
      '25',
      '--threads',
      '2',
      '--out',
      run,
      '--quiet',
    );
    expect(t.code, t.err).toBe(0);
    const e = await graft('export', '--to', 'graft', '--run', run, '--out', model);
    expect(e.code, e.err).toBe(0);
    expect((JSON.parse(e.out) as { preprocess: unknown }).preprocess).toEqual({
      version: 1,
      features: [{ kind: 'row-normalize' }],
    });
  }, 60_000);

  it("scores every node of the new graph, bit for bit as graft/infer (the bundle) on the same raw files, with the run's row normalization", async () => {
    const out = join(dir, 'new-predictions.csv');
    const p = await graft(
      'predict',
      '--run',
      run,
      '--edges',
      next.edges,
      '--features',
      next.features,
      '--out',
      out,
      '--threads',
      '2',
    );
    expect(p.code, p.err).toBe(0);
    expect(JSON.parse(p.out)).toMatchObject({ predictions: out, nodes: 150, preprocess: 'row normalization' });
    const got = parsePredictions(readFileSync(out, 'utf8'), 3);
    expect(got.ids).toEqual(Array.from({ length: 150 }, (_, i) => `b${i}`));
    const { loadModel } = await bundle();
    const m = await loadModel(readFileSync(model), { backend: 'simd' });
    const g = { numNodes: fresh.numNodes, features: next.x, src: fresh.src, dst: fresh.dst };
    const infer = await m.predictNodes(g);
    expect(bitsEqual(got.probs, infer.probs)).toBe(true);
    expect(got.pred).toEqual(Array.from(infer.pred, (k) => CLASSES[k]));
    // The oracle for what was applied: the formula above, fed as preprocessed, gives the same bits;
    // the raw features fed as they are (what graft/infer did before) give other scores.
    const byHand = await m.predictNodes({ ...g, features: rowNormalized(next.x, 24) }, { features: 'preprocessed' });
    expect(bitsEqual(byHand.probs, infer.probs)).toBe(true);
    const unprocessed = await m.predictNodes(g, { features: 'preprocessed' });
    expect(bitsEqual(unprocessed.probs, infer.probs)).toBe(false);
    expect(next.x[0]).toBe(readFileSync(next.features, 'utf8').split('\n')[1]!.split(',').map(Number)[1]); // the user's array was not changed
    // The model learned the planted classes: the new graph's nodes are mostly in their planted class.
    const agree = Array.from(infer.pred).filter((k, i) => k === fresh.labels[i]).length / fresh.numNodes;
    expect(agree).toBeGreaterThan(0.6);
  });

  it("graft quantize's int8 file carries the record too: graft/infer applies it to the raw features", async () => {
    const int8 = join(dir, 'model.int8.safetensors');
    await quantize(['--run', run, '--int8', '--out', int8]);
    const { loadModel } = await bundle();
    const q = await loadModel(readFileSync(int8), { backend: 'simd' });
    expect(q.preprocess).toEqual({ version: 1, features: [{ kind: 'row-normalize' }] });
    const g = { numNodes: fresh.numNodes, features: next.x, src: fresh.src, dst: fresh.dst };
    const f = await (await loadModel(readFileSync(model), { backend: 'simd' })).predictNodes(g);
    const raw = await q.predictNodes(g),
      pre = await q.predictNodes({ ...g, features: rowNormalized(next.x, 24) }, { features: 'preprocessed' });
    expect(bitsEqual(raw.probs, pre.probs)).toBe(true);
    expect(Array.from(raw.pred).filter((k, i) => k === f.pred[i]).length).toBeGreaterThan(140);
  });

  it('without --out, writes the rows to stdout', async () => {
    const p = await graft('predict', '--run', run, '--edges', next.edges, '--features', next.features);
    expect(p.code, p.err).toBe(0);
    expect(parsePredictions(p.out, 3).ids).toHaveLength(150);
  });

  it('refuses features of another width or other columns, naming the file', async () => {
    const narrow = join(dir, 'narrow.csv');
    writeFileSync(
      narrow,
      readFileSync(next.features, 'utf8')
        .split('\n')
        .map((l) => l.split(',').slice(0, -1).join(','))
        .join('\n'),
    );
    const a = await graft('predict', '--run', run, '--edges', next.edges, '--features', narrow);
    expect(a.code).toBe(2);
    expect(a.err).toBe(
      `graft predict: ${narrow}: 23 feature columns, but the run's model reads 24 (as many as its training features)\n`,
    );
    const renamed = join(dir, 'renamed.csv');
    writeFileSync(renamed, readFileSync(next.features, 'utf8').replace('w0,w1', 'w1,w0'));
    await refuses(
      ['predict', '--run', run, '--edges', next.edges, '--features', renamed],
      `${renamed}: feature column 1 is "w1", the run's training features had "w0" there (same columns, same order)`,
    );
    await refuses(
      ['predict', '--run', run, '--edges', next.edges],
      "--edges and --features go together (the new graph's edges and its nodes' features)",
    );
  });

  it("eval, predict and quantize on the run's own data refuse an input file changed since the run, naming it", async () => {
    const before = readFileSync(train.labels, 'utf8');
    try {
      writeFileSync(train.labels, before.replace('\na1,', '\na1 ,'));
      for (const cmd of [
        ['eval', '--run', run],
        ['predict', '--run', run],
        ['quantize', '--int8', '--run', run],
      ]) {
        await refuses(
          cmd,
          `${train.labels}: changed since the run (its SHA-256 differs from the one recorded in ${join(run, 'config.json')}); ${cmd[0] === 'quantize' ? 'graft quantize (calibration and test scores)' : `graft ${cmd[0]}`} would not be of the run's data`,
        );
      }
    } finally {
      writeFileSync(train.labels, before);
    }
    const ok = await graft('eval', '--run', run);
    expect(ok.code, ok.err).toBe(0);
  });

  it('export, quantize and predict refuse an --out that is a folder, has no folder or sits under a file: one line naming it', async () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    const cases: [string, string][] = [
      [dir, 'is a folder'],
      [join(dir, 'missing', 'm.safetensors'), `no folder ${join(dir, 'missing')}`],
      [join(file, 'm.safetensors'), `${file} is a file, not a folder`],
    ];
    const commands = [
      ['export', '--to', 'graft', '--run', run],
      ['quantize', '--int8', '--run', run],
      ['predict', '--run', run, '--edges', next.edges, '--features', next.features],
    ];
    // Every case on export; quantize and predict (which share the check) one case each.
    for (const [c, cmd] of commands.entries()) {
      for (const [out, why] of c === 0 ? cases : [cases[c]!]) {
        await refuses(
          [...cmd, '--out', out],
          `--out ${out}: ${why}${why === 'is a folder' ? '; give a file name in it' : why.startsWith('no folder') ? ' (create it first)' : ''}`,
        );
      }
    }
  });

  it('a damaged config.json is one line naming it, for eval, predict, export and quantize', async () => {
    const bad = join(dir, 'run-damaged');
    mkdirSync(bad);
    writeFileSync(join(bad, 'checkpoint.safetensors'), readFileSync(join(run, 'checkpoint.safetensors')));
    writeFileSync(join(bad, 'config.json'), readFileSync(join(run, 'config.json'), 'utf8').slice(0, 40));
    const r = await graft('eval', '--run', bad);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(
      new RegExp(
        `^graft eval: ${join(bad, 'config.json')}: damaged \\(not valid JSON: [^\n]*\\); run the command that wrote it again\n$`,
      ),
    );
    for (const cmd of [['predict'], ['export', '--to', 'graft'], ['quantize', '--int8']]) {
      const err = await COMMANDS[cmd[0]!]!([...cmd.slice(1), '--run', bad]).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, cmd[0]).toBeInstanceOf(GraftError);
      expect((err as Error).message).toContain(`${join(bad, 'config.json')}: damaged (not valid JSON`);
    }
  });

  it('a run folder of another kind: says which kind it found and which commands read it', async () => {
    const sweep = join(dir, 'a-sweep');
    mkdirSync(sweep);
    writeFileSync(join(sweep, 'sweep.json'), '{}');
    for (const cmd of [['eval'], ['export', '--to', 'graft'], ['quantize', '--int8']]) {
      await refuses(
        [...cmd, '--run', sweep],
        `${sweep} holds a sweep (graft sweep); graft ${cmd[0]} reads a node or graph run (graft train, graft train --task graph). Commands that read this folder: graft sweep`,
      );
    }
  });

  it("a checkpoint from before the record: export takes it from the run's config; graft/infer refuses the bare checkpoint on raw features", async () => {
    const old = join(dir, 'run-old');
    mkdirSync(old);
    const cp = decodeCheckpoint(readFileSync(join(run, 'checkpoint.safetensors')));
    delete cp.metadata['preprocess'];
    writeFileSync(join(old, 'checkpoint.safetensors'), encodeCheckpoint(cp));
    const cfg = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8')) as Record<string, unknown>;
    delete cfg['preprocess'];
    delete cfg['inputs'];
    writeFileSync(join(old, 'config.json'), JSON.stringify(cfg));
    const e = await graft('export', '--to', 'graft', '--run', old, '--out', join(dir, 'old.safetensors'));
    expect(e.code, e.err).toBe(0);
    expect(readFileSync(join(dir, 'old.safetensors')).equals(readFileSync(model))).toBe(true);
    const { loadModel } = await bundle();
    const bare = await loadModel(encodeCheckpoint(cp), { backend: 'simd', name: 'old.safetensors' });
    expect(bare.preprocess).toBeNull();
    const g = { numNodes: fresh.numNodes, features: next.x, src: fresh.src, dst: fresh.dst };
    await expect(bare.predictNodes(g)).rejects.toThrow(
      /^old\.safetensors: the file does not record the preprocessing its inputs need/,
    );
    const ev = await graft('eval', '--run', old);
    expect(ev.code, ev.err).toBe(0);
    expect(ev.err).toContain('records no checksums of its input files');
  });
});
