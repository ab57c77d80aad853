import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Rng } from '../src/core/random.js';
import { kernelShapAsync } from '../src/explain/kernelshap.js';
import { mlpBatchScorer } from '../src/explain/mb-networks.js';
import { loadKeptModel } from '../src/microbiome/kept-model.js';
import { scoreMbModel, type FittedNeuralModel } from '../src/microbiome/models.js';
import { applyPreprocessing } from '../src/microbiome/pipeline.js';
import { Runtime } from '../src/runtime/runtime.js';
import { runGraftAsync, tempDir } from './helpers.js';
import { additivityError, shapleyByEnumeration } from './kernel-shap-oracles.js';

// KernelSHAP of graft mb's kept networks (MLP, GCN). Oracles: the interventional Shapley
// values by enumerating every coalition of the 8 taxa with the same model function (KernelSHAP
// with a budget covering them all must equal them); additivity (base + Σ φ = prediction, 1e-5);
// and the predictions in shap.csv are graft predict's for the same samples (the MLP's batch
// scorer agrees with the engine's row-at-a-time scores).

const dir = tempDir('graft-explain-mb-nets-');
const put = (name: string, text: string): string => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};
const P = 8,
  N = 40;
const taxa = Array.from({ length: P }, (_, j) => `k__Bacteria; g__taxon_${j}`);
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
const rows = Array.from({ length: N }, (_, i) =>
  Array.from({ length: P }, (_, j) => 1 + poisson(j < 2 ? (i % 2 ? 20 : 4) : j < 4 ? (i % 2 ? 3 : 15) : 8)),
);
const countsText = `${[['sample_id', ...taxa.map((t) => JSON.stringify(t))].join(','), ...rows.map((r, i) => [`s${i}`, ...r].join(','))].join('\n')}\n`;
const counts = put('counts.csv', countsText);
const meta = put(
  'meta.csv',
  `${['sample_id,diagnosis', ...rows.map((_, i) => `s${i},${i % 2 ? 'CD' : 'no'}`)].join('\n')}\n`,
);

async function mbRun(model: 'mlp' | 'gcn'): Promise<string> {
  const out = join(dir, model);
  const r = await runGraftAsync([
    'mb',
    '--counts',
    counts,
    '--meta',
    meta,
    '--label',
    'diagnosis',
    '--models',
    model,
    '--k',
    '2',
    '--repeats',
    '1',
    '--ensemble',
    '2',
    '--epochs',
    '20',
    '--keep-model',
    model,
    '--out',
    out,
    '--quiet',
  ]);
  expect(r.status, r.stderr).toBe(0);
  return out;
}

function readShap(run: string): { ids: string[]; rows: number[][] } {
  const [, ...lines] = readFileSync(join(run, 'explain', 'shap.csv'), 'utf8')
    .trimEnd()
    .split('\n');
  return { ids: lines.map((l) => l.split(',')[0]!), rows: lines.map((l) => l.split(',').slice(1).map(Number)) };
}

async function predicted(run: string): Promise<Map<string, number>> {
  const r = await runGraftAsync(['predict', '--run', run, '--counts', counts]);
  expect(r.status, r.stderr).toBe(0);
  const [head, ...lines] = r.stdout.trimEnd().split('\n');
  const col = head!.split(',').indexOf('p_CD');
  return new Map(lines.map((l) => [l.split(',')[0]!, Number(l.split(',')[col])]));
}

describe.concurrent('KernelSHAP of graft mb networks', () => {
  it("MLP: every coalition gives the enumerated Shapley values; the batch scorer is the engine's; graft explain is additive and gives graft predict's P(CD)", async () => {
    const run = await mbRun('mlp');
    const k = loadKeptModel(join(run, 'model', 'model.safetensors'));
    const m = k.model as FittedNeuralModel;
    expect(m.model).toBe('mlp');
    const parsed = rows.flat(),
      x = applyPreprocessing(k.preprocessing, Float64Array.from(parsed), N, P);
    const rt = await Runtime.create({ threads: 1 });
    try {
      const scorer = mlpBatchScorer(rt, m);
      const batch = await scorer(x, N),
        single = await scoreMbModel(
          rt,
          m,
          x,
          P,
          Int32Array.from({ length: N }, (_, i) => i),
        );
      for (let i = 0; i < batch.length; i++) expect(Math.abs(batch[i]! - single[i]!)).toBeLessThan(1e-6);
      const bg = x.slice(0, 3 * P),
        one = x.slice(5 * P, 6 * P);
      const cd = k.classNames.indexOf('CD');
      const s = await kernelShapAsync(scorer, one, 1, P, { background: bg, backgroundRows: 3, budget: 300 });
      expect(s.exact).toBe(true);
      const want = await shapleyByEnumeration(scorer, one, bg, 3, P, cd, k.classNames.length);
      for (let j = 0; j < P; j++) expect(Math.abs(s.values[cd * P + j]! - want[j]!)).toBeLessThan(1e-6);
    } finally {
      await rt.close();
    }
    const r = await runGraftAsync([
      'explain',
      '--run',
      run,
      '--method',
      'kernelshap',
      '--target',
      'CD',
      '--count',
      '5',
      '--background',
      '4',
      '--budget',
      '64',
    ]);
    expect(r.status, r.stderr).toBe(0);
    const shap = readShap(run),
      want = await predicted(run);
    expect(shap.rows.length).toBe(5);
    for (const [i, row] of shap.rows.entries()) {
      expect(additivityError(row.slice(0, P), row[P]!, row[P + 1]!)).toBeLessThan(1e-5);
      expect(Math.abs(row[P + 1]! - want.get(shap.ids[i]!)!)).toBeLessThan(1e-6);
    }
    const doc = JSON.parse(readFileSync(join(run, 'explain', 'explanations.json'), 'utf8')) as Record<string, unknown>;
    expect([doc['model'], doc['exact'], doc['coalitions']]).toEqual(['mlp', false, 64]);
  });

  it("GCN: each sample joined to the training graph by its own links; additive, and graft predict's P(CD)", async () => {
    const run = await mbRun('gcn');
    const r = await runGraftAsync([
      'explain',
      '--run',
      run,
      '--method',
      'kernelshap',
      '--target',
      'CD',
      '--count',
      '2',
      '--background',
      '2',
      '--budget',
      '40',
    ]);
    expect(r.status, r.stderr).toBe(0);
    const shap = readShap(run),
      want = await predicted(run);
    expect(shap.rows.length).toBe(2);
    for (const [i, row] of shap.rows.entries()) {
      expect(additivityError(row.slice(0, P), row[P]!, row[P + 1]!)).toBeLessThan(1e-5);
      expect(row[P + 1]).toBe(want.get(shap.ids[i]!));
    }
  });
});
