import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MOLECULE_DEFAULTS, moleculeOutputs } from '../src/chem/train-molecules.js';
import { syntheticMolecules } from '../src/data/synthetic.js';
import { moleculeDescriptorShap } from '../src/explain/molecule-shap.js';
import type { GraphSample } from '../src/graph/batch.js';
import { Runtime } from '../src/runtime/runtime.js';
import { GraphTrainer } from '../src/train/graph-trainer.js';
import { moleculeCsv } from './fixtures.js';
import { readJson, rng, runGraftAsync, tempDir } from './helpers.js';

// KernelSHAP of a hybrid graph model's descriptors (molecule-shap.ts), the molecule's graph held
// fixed. Oracles: exact Shapley values by enumerating every coalition (the Shapley formula, not a
// regression), the model's own prediction for the molecule, and the run's predictions.csv.

const D = 6;

function factorial(n: number): number {
  let p = 1;
  for (let i = 2; i <= n; i++) p *= i;
  return p;
}

describe('KernelSHAP of a hybrid graph model over its descriptors', () => {
  it('equals exact Shapley values by enumeration when the budget covers every coalition; additive; the prediction is the model output', async () => {
    const r = rng(5);
    const samples: GraphSample[] = syntheticMolecules({
      graphs: 40,
      types: 8,
      targets: 2,
      task: 'multilabel',
      seed: 3,
    }).map((g) => ({ ...g, descriptors: Float32Array.from({ length: D }, () => r() * 2 - 1) }));
    const rt = await Runtime.create({ threads: 1 });
    try {
      const tr = new GraphTrainer(rt, 8, 2, {
        ...MOLECULE_DEFAULTS,
        task: 'multilabel',
        epochs: 2,
        hidden: 16,
        batchSize: 8,
        shardSize: 8,
        hybrid: { descriptors: D, denseHidden: 8 },
      });
      await tr.fit(samples.slice(0, 30), samples.slice(30, 35));
      const score = (gs: readonly GraphSample[]): Promise<Float32Array> => moleculeOutputs(tr, 'multilabel', gs);
      const g = samples[36]!,
        background = samples.slice(0, 4).map((s) => s.descriptors!);
      const label = 1;
      // Oracle: v(S) = mean over the background of the output with S from the molecule, the rest from the background row.
      const v = new Float64Array(1 << D);
      const masked: GraphSample[] = [];
      for (let m = 0; m < 1 << D; m++)
        for (const b of background)
          masked.push({ ...g, descriptors: Float32Array.from(b, (bj, j) => ((m >> j) & 1 ? g.descriptors![j]! : bj)) });
      const out = await score(masked);
      for (let m = 0; m < 1 << D; m++)
        for (let k = 0; k < background.length; k++)
          v[m]! += out[(m * background.length + k) * 2 + label]! / background.length;
      const exact = Float64Array.from({ length: D }, (_, j) => {
        let phi = 0;
        for (let m = 0; m < 1 << D; m++) {
          if ((m >> j) & 1) continue;
          let size = 0;
          for (let i = 0; i < D; i++) size += (m >> i) & 1;
          phi += ((factorial(size) * factorial(D - size - 1)) / factorial(D)) * (v[m | (1 << j)]! - v[m]!);
        }
        return phi;
      });
      const own = (await score([g]))[label]!;
      const s = await moleculeDescriptorShap(score, g, { background, output: label, outputs: 2, budget: 62, seed: 1 });
      expect(s.exact).toBe(true);
      expect(s.active).toEqual([0, 1, 2, 3, 4, 5]);
      for (let j = 0; j < D; j++) expect(Math.abs(s.values[j]! - exact[j]!)).toBeLessThan(1e-5);
      expect(Math.abs(s.base - v[0]!)).toBeLessThan(1e-6);
      expect(s.prediction).toBe(own);
      expect(Math.abs(s.base + s.values.reduce((a, b) => a + b, 0) - s.prediction)).toBeLessThan(1e-5);
      expect(exact.some((p) => Math.abs(p) > 1e-4)).toBe(true); // the oracle is not trivially zero
      // Sampled coalitions (fewer than all): still additive, and close to the exact values.
      const sampled = await moleculeDescriptorShap(score, g, {
        background,
        output: label,
        outputs: 2,
        budget: 40,
        seed: 2,
      });
      expect(sampled.exact).toBe(false);
      expect(Math.abs(sampled.base + sampled.values.reduce((a, b) => a + b, 0) - sampled.prediction)).toBeLessThan(
        1e-5,
      );
      // A descriptor the molecule shares with every background row is a null player: exactly 0.
      const shared = background.map((b) => Float32Array.from(b, (x, j) => (j === 2 ? g.descriptors![2]! : x)));
      const z = await moleculeDescriptorShap(score, g, {
        background: shared,
        output: label,
        outputs: 2,
        budget: 62,
        seed: 1,
      });
      expect(z.active).toEqual([0, 1, 3, 4, 5]);
      expect(z.values[2]).toBe(0);
      tr.dispose();
    } finally {
      await rt.close();
    }
  }, 60_000);
});

describe('graft explain --method kernelshap on a graph run', () => {
  it('a hybrid run: shap.csv rows are additive and their predictions are the run’s own; a plain run is refused', async () => {
    const dir = tempDir('graft-molshap-');
    const data = join(dir, 'mols.csv');
    writeFileSync(data, moleculeCsv(4));
    const run = join(dir, 'run');
    const train = (out: string, extra: string[]) =>
      runGraftAsync([
        'train',
        '--task',
        'graph',
        '--data',
        data,
        '--epochs',
        '2',
        '--hidden',
        '16',
        '--out',
        out,
        '--no-cache',
        '--quiet',
        ...extra,
      ]);
    const t = await train(run, ['--hybrid']);
    expect(t.status, t.stderr).toBe(0);
    const e = await runGraftAsync([
      'explain',
      '--run',
      run,
      '--method',
      'kernelshap',
      '--count',
      '3',
      '--background',
      '4',
      '--target',
      'mid',
      '--quiet',
    ]);
    expect(e.status, e.stderr).toBe(0);
    const rows = readFileSync(join(run, 'explain', 'shap.csv'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(','));
    expect(rows[0]![0]).toBe('id');
    expect(rows[0]!.slice(-2)).toEqual(['base_value', 'prediction']);
    expect(rows[0]!.length).toBe(1024 + 3);
    expect(rows.length).toBe(4);
    const preds = readFileSync(join(run, 'predictions.csv'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(','));
    const mid = preds[0]!.indexOf('mid');
    rows.slice(1).forEach((f, k) => {
      const nums = f.slice(1).map(Number);
      const phi = nums.slice(0, 1024),
        base = nums[1024]!,
        prediction = nums[1025]!;
      expect(Math.abs(base + phi.reduce((a, b) => a + b, 0) - prediction)).toBeLessThan(1e-5);
      // The run's own probability for this test molecule (predictions.csv lists the test split in order).
      expect(Math.abs(prediction - Number(preds[k + 1]![mid]))).toBeLessThan(1e-6);
      expect(phi.some((p) => p !== 0)).toBe(true);
    });
    const doc = readJson(join(run, 'explain', 'explanations.json')) as { explanations: Record<string, unknown>[] };
    expect(doc.explanations[0]!['method']).toBe('kernelshap');
    expect(doc.explanations[0]!['exact']).toBe(false);
    expect(existsSync(join(run, 'explain', 'atoms.csv'))).toBe(false); // no atom method asked for
    const plain = join(dir, 'plain');
    expect((await train(plain, [])).status).toBe(0);
    const refused = await runGraftAsync(['explain', '--run', plain, '--method', 'kernelshap']);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/kernelshap explains the descriptors of a hybrid graph run/);
  }, 120_000);
});
