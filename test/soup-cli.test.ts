import { createHash } from 'node:crypto';
import { cpSync, existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import type { StoredTensor } from '../src/core/safetensors.js';
import { plantedPartition } from '../src/data/synthetic.js';
import { loadModel, type KernelBinaries } from '../src/infer/index.js';
import { reportedWeights } from '../src/nn/load-weights.js';
import { Runtime } from '../src/runtime/runtime.js';
import { loadCheckpoint, saveCheckpoint } from '../src/train/checkpoint.js';
import { accuracy } from '../src/train/metrics.js';
import { predictNodes, type NodeTrainConfig } from '../src/train/node-trainer.js';
import { soup } from '../src/cli/commands/soup.js';
import { bitsEqual, randn, readJson, runGraftAsync, tempDir } from './helpers.js';

// graft soup on node runs of the planted-partition task (no shared data needed). Oracles: the
// members' weights averaged here by hand, a forward pass of those weights by the runtime and
// by graft/infer, accuracy counted from that pass, and a member made bad on purpose. graft soup
// itself runs in this process (its function, as the CLI calls it); the commands that read its
// folder run as the CLI.

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const kernels: KernelBinaries = {
  relaxed: readFileSync(join(root, 'build', 'graft-relaxed-local.wasm')),
  simd: readFileSync(join(root, 'build', 'graft-simd-local.wasm')),
};
const dir = tempDir('graft-soup-');
const at = (name: string): string => join(dir, name);
const ok = async (args: string[]): Promise<string> => {
  const r = await runGraftAsync(args);
  expect(r.status, `graft ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
};
const train = (name: string, extra: string[]): Promise<string> =>
  ok(['train', '--dataset', 'synthetic', '--epochs', '8', '--patience', '0', '--quiet', '--out', at(name), ...extra]);
const ckpt = (run: string): string => join(run, 'checkpoint.safetensors');
/** SHA-256 of a checkpoint's tensors: names sorted, each name then its raw bytes. */
const weightsSha256 = (cp: { tensors: Map<string, StoredTensor> }): string => {
  const h = createHash('sha256');
  for (const name of [...cp.tensors.keys()].sort()) {
    const d = cp.tensors.get(name)!.data;
    h.update(name).update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  }
  return h.digest('hex');
};

beforeAll(async () => {
  // Two members of one initialization (--seed 1) and other recipes; one of another --seed, one narrower.
  await Promise.all([
    train('a', ['--train-seed', '1']),
    train('b', ['--train-seed', '2', '--lr', '0.02', '--dropout', '0.3']),
    train('other', ['--seed', '2']),
    train('narrow', ['--hidden', '8']),
  ]);
}, 120_000);

describe('graft soup (node runs)', () => {
  it('uniform: the hand-computed mean of the members; eval, predict, quantize and graft/infer read the folder, with the bits of a direct forward', async () => {
    expect(
      await soup(['--runs', `${at('a')},${at('b')}`, '--method', 'uniform', '--out', at('uniform'), '--quiet']),
    ).toBe(0);
    const wa = reportedWeights(loadCheckpoint(ckpt(at('a'))), 'a'),
      wb = reportedWeights(loadCheckpoint(ckpt(at('b'))), 'b');
    const made = loadCheckpoint(ckpt(at('uniform')));
    const mean = new Map<string, Float32Array>();
    for (const [name, a] of wa) {
      const want = a.map((x, i) => Math.fround((x + wb.get(name)![i]!) / 2));
      expect(bitsEqual(made.tensors.get(`model.${name}`)!.data as Float32Array, want), name).toBe(true);
      mean.set(name, want);
    }
    expect([...made.tensors.keys()].every((k) => k.startsWith('model.'))).toBe(true); // no training state
    // The oracle: the runtime's forward pass of the hand-computed mean on the task.
    const data = plantedPartition({ seed: 7 });
    const config = readJson(join(at('uniform'), 'config.json')) as unknown as NodeTrainConfig;
    const rt = await Runtime.create({ threads: 2 });
    let direct: { probs: Float32Array; pred: Int32Array };
    try {
      direct = await predictNodes(rt, data, config, mean);
    } finally {
      await rt.close();
    }
    // The three commands that read a run folder, at once (each its own process).
    const [evalOut, , quantizeOut] = await Promise.all([
      ok(['eval', '--run', at('uniform')]),
      ok(['predict', '--run', at('uniform'), '--out', at('uniform-pred.csv')]),
      ok(['quantize', '--run', at('uniform'), '--int8', '--out', at('uniform.int8.safetensors')]),
    ]);
    const ev = JSON.parse(evalOut) as Record<string, number>;
    expect(ev['test_accuracy']).toBe(accuracy(data.labels, direct.pred, data.split.test));
    expect(ev['val_accuracy']).toBe(accuracy(data.labels, direct.pred, data.split.val));
    const predicted = readFileSync(at('uniform-pred.csv'), 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => Number(l.split(',')[1]));
    expect(predicted).toEqual([...direct.pred]);
    // graft/infer: the same probabilities to the bit as the runtime gives for the mean.
    const model = await loadModel(readFileSync(ckpt(at('uniform'))), { kernels });
    try {
      const got = await model.predictNodes({
        numNodes: data.numNodes,
        features: data.features,
        src: data.src,
        dst: data.dst,
      });
      const rt2 = await Runtime.create({ threads: 2, backend: model.backend });
      try {
        expect(bitsEqual(got.probs, (await predictNodes(rt2, data, config, mean)).probs)).toBe(true);
      } finally {
        await rt2.close();
      }
    } finally {
      model.dispose();
    }
    const q = JSON.parse(quantizeOut) as { float: Record<string, number> };
    expect(q.float['test_accuracy']).toBe(ev['test_accuracy']);
    expect(existsSync(at('uniform.int8.safetensors'))).toBe(true);
    const report = readJson(join(at('uniform'), 'soup.json')) as {
      ingredients: string[];
      size: Record<string, number>;
    };
    expect(report.ingredients).toEqual([at('a'), at('b')]);
    expect(report.size['ensemble_weight_bytes']).toBe(2 * report.size['soup_weight_bytes']!);
  }, 120_000);

  it('refuses a member of another initialization or width, naming the run and the difference, and writes nothing', async () => {
    const r = await runGraftAsync(['soup', '--runs', `${at('a')},${at('other')}`, '--out', at('refused')]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe(
      `graft soup: ${at('other')}: seed is 2, ${at('a')}'s is 1: another initialization (members share --seed and differ in --train-seed, --lr, --dropout, --epochs)`,
    );
    expect(existsSync(at('refused'))).toBe(false);
    await expect(soup(['--runs', `${at('a')},${at('narrow')}`, '--out', at('refused')])).rejects.toThrow(
      `${at('narrow')}: hidden is 8, ${at('a')}'s is 16: another architecture`,
    );
    await expect(soup(['--runs', `${at('a')},${at('b')}`, '--out', at('b'), '--overwrite'])).rejects.toThrow(
      `--out ${at('b')}: is a member run (${at('b')}); write the soup to another folder`,
    );
    await expect(soup(['--runs', at('a'), '--out', at('refused')])).rejects.toThrow(
      '--runs: a soup needs at least 2 member runs, got 1',
    );
    await expect(
      soup(['--runs', `${at('a')},${at('b')}`, '--sparsity', '0.5', '--out', at('refused')]),
    ).rejects.toThrow('--sparsity and --rounds are for --method sparse, not uniform');
  }, 60_000);

  it('greedy: a member made bad on purpose is left out; the others are in', async () => {
    // The bad member: a's folder with its reported weights replaced by large noise.
    cpSync(at('a'), at('bad'), { recursive: true });
    const cp = loadCheckpoint(ckpt(at('bad')));
    let seed = 1;
    for (const [k, t] of cp.tensors)
      if (k.startsWith('best.') || k.startsWith('model.'))
        cp.tensors.set(k, { shape: t.shape, data: randn(t.data.length, seed++).map((x) => 3 * x) } as StoredTensor);
    saveCheckpoint(ckpt(at('bad')), cp);
    await soup([
      '--runs',
      `${at('bad')},${at('a')},${at('b')}`,
      '--method',
      'greedy',
      '--out',
      at('greedy'),
      '--quiet',
    ]);
    const g = readJson(join(at('greedy'), 'soup.json')) as {
      ingredients: string[];
      greedy_steps: { member: string; kept: boolean; memberScore: number }[];
      members: { run: string; val_accuracy: number }[];
    };
    const score = (run: string): number => g.members.find((m) => m.run === run)!.val_accuracy;
    expect(score(at('bad'))).toBeLessThan(Math.min(score(at('a')), score(at('b'))) - 0.2);
    expect(g.ingredients).not.toContain(at('bad'));
    expect(g.greedy_steps.at(-1)).toMatchObject({ member: at('bad'), kept: false });
    expect(g.ingredients[0]).toBe(score(at('a')) >= score(at('b')) ? at('a') : at('b'));
  }, 60_000);

  it('sparse: the weight matrices hold the target sparsity after retraining, biases whole', async () => {
    await soup([
      '--runs',
      `${at('a')},${at('b')}`,
      '--method',
      'sparse',
      '--sparsity',
      '0.5',
      '--rounds',
      '1',
      '--out',
      at('sparse'),
      '--quiet',
    ]);
    const cp = loadCheckpoint(ckpt(at('sparse')));
    let zeros = 0,
      n = 0;
    for (const [k, t] of cp.tensors) {
      const w = t.data as Float32Array;
      if (t.shape.length >= 2) {
        n += w.length;
        zeros += w.filter((x) => x === 0).length;
      } else
        expect(
          w.some((x) => x !== 0),
          k,
        ).toBe(true);
    }
    expect(zeros).toBe(Math.round(0.5 * n));
    const s = readJson(join(at('sparse'), 'soup.json')) as {
      size: Record<string, number>;
      sparse_rounds: { memberScores: number[] }[];
      soup: Record<string, number>;
    };
    expect(s.sparse_rounds.length).toBe(1);
    expect(s.size['sparsity']).toBe(0.5);
    expect(s.size['soup_sparse_bytes']).toBeLessThan(s.size['soup_weight_bytes']!);
    expect(s.soup['test_accuracy']).toBeGreaterThan(0.5); // five classes: chance is 0.2
    // The retraining's bits, pinned: computed with the retraining that resumed a crafted epoch-0
    // checkpoint (before the trainers' initialWeights hook replaced it); the hook gives the same.
    expect(weightsSha256(cp)).toBe('46a30c8f2511831d297a8ec3718a2b9954b778151be84f1a7b55e10d42dacb1f');
  }, 120_000);

  it('sparse format: the sparse soup file is smaller than its dense twin, and every reader gives the same bits from both', async () => {
    // The dense twin: the same folder with the checkpoint written again without packSparse.
    cpSync(at('sparse'), at('dense'), { recursive: true });
    saveCheckpoint(ckpt(at('dense')), loadCheckpoint(ckpt(at('sparse'))));
    const header = (file: string): Record<string, { dtype: string }> => {
      const b = readFileSync(file);
      return JSON.parse(b.subarray(8, 8 + Number(b.readBigUInt64LE(0))).toString()) as Record<
        string,
        { dtype: string }
      >;
    };
    const sparseHeader = header(ckpt(at('sparse')));
    expect(sparseHeader['model.gcn0.weight:bitmap']?.dtype).toBe('U8');
    expect(sparseHeader['model.gcn0.weight']).toBeUndefined();
    expect(header(ckpt(at('dense')))['model.gcn0.weight']?.dtype).toBe('F32');
    const sizeOf = (f: string): number => readFileSync(f).length;
    expect(sizeOf(ckpt(at('sparse')))).toBeLessThan(0.6 * sizeOf(ckpt(at('dense'))));
    const readers = async (run: string): Promise<Record<string, string | Buffer>> => {
      const [ev] = await Promise.all([
        ok(['eval', '--run', run]),
        ok(['predict', '--run', run, '--out', join(run, 'pred.csv')]),
        ok(['quantize', '--run', run, '--int8']),
        ok(['export', '--to', 'pyg', '--run', run]),
        ok(['export', '--to', 'graft', '--run', run]),
      ]);
      const model = await loadModel(readFileSync(ckpt(run)), { kernels });
      try {
        const data = plantedPartition({ seed: 7 });
        const { probs } = await model.predictNodes({
          numNodes: data.numNodes,
          features: data.features,
          src: data.src,
          dst: data.dst,
        });
        return {
          eval: ev,
          predict: readFileSync(join(run, 'pred.csv')),
          quantize: readFileSync(join(run, 'model.int8.safetensors')),
          pyg: readFileSync(join(run, 'model.pyg.safetensors')),
          graft: readFileSync(join(run, 'model.safetensors')),
          infer: Buffer.from(probs.buffer, probs.byteOffset, probs.byteLength),
        };
      } finally {
        model.dispose();
      }
    };
    const fromSparse = await readers(at('sparse')),
      fromDense = await readers(at('dense'));
    for (const k of Object.keys(fromDense)) expect(fromSparse[k], k).toEqual(fromDense[k]);
    // graft soup reading a sparse member: the same soup as from its dense twin.
    await soup(['--runs', `${at('sparse')},${at('a')}`, '--out', at('of-sparse'), '--quiet']);
    await soup(['--runs', `${at('dense')},${at('a')}`, '--out', at('of-dense'), '--quiet']);
    expect(weightsSha256(loadCheckpoint(ckpt(at('of-sparse'))))).toBe(
      weightsSha256(loadCheckpoint(ckpt(at('of-dense')))),
    );
  }, 120_000);
});
