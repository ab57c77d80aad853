import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { studyOf } from '../src/cli/commands/explain-genomic.js';
import { genomicLineScorer } from '../src/explain/genomic-shap.js';
import { fitFingerprint, genomicModelFile, loadGenomicModels } from '../src/explain/genomic-models.js';
import { prepareStudy } from '../src/genomics/study-data.js';
import { Runtime } from '../src/runtime/runtime.js';
import { rng, runGraftAsync, tempDir } from './helpers.js';

// graft explain --method kernelshap on a gp run whose GCN reads 5 principal components.
// Oracles: the interventional Shapley values of the line's prediction by enumerating all 32
// coalitions with the same model function (a budget of 30 = 2⁵ − 2 makes KernelSHAP exact),
// and additivity, base + Σ φ = prediction, to 1e-5.

const dir = tempDir('graft-explain-gp-shap-');
const N = 60,
  M = 200;
const r = rng(41);
const founders = Array.from({ length: 5 }, () => Array.from({ length: M }, () => (r() < 0.5 ? 0 : 2)));
const geno: number[][] = [],
  y: number[] = [];
for (let i = 0; i < N; i++) {
  const a = founders[Math.floor(r() * 5)]!,
    b = founders[Math.floor(r() * 5)]!;
  let from = a;
  const row: number[] = [];
  for (let j = 0; j < M; j++) {
    if (j % 20 === 0) from = r() < 0.5 ? a : b;
    row.push(from[j]!);
  }
  geno.push(row);
  y.push(+(row.slice(0, 40).reduce((s, d) => s + d, 0) / 20 + r()).toFixed(5));
}
writeFileSync(
  join(dir, 'geno.csv'),
  `${['id', ...Array.from({ length: M }, (_, j) => `m${j}`)].join(',')}\n${geno.map((g, i) => [`L${i}`, ...g].join(',')).join('\n')}\n`,
);
writeFileSync(join(dir, 'pheno.csv'), `id,height\n${y.map((v, i) => `L${i},${v}`).join('\n')}\n`);

describe('KernelSHAP of a gp GCN over principal components', () => {
  it('every coalition gives the enumerated Shapley values; shap.csv is additive to 1e-5', async () => {
    const run = join(dir, 'gp');
    const g = await runGraftAsync([
      'gp',
      '--geno',
      join(dir, 'geno.csv'),
      '--pheno',
      join(dir, 'pheno.csv'),
      '--trait',
      'height',
      '--models',
      'gcn',
      '--features',
      'pcs',
      '--pcs',
      '5',
      '--ensemble',
      '1',
      '--epochs',
      '15',
      '--k',
      '2',
      '--keep-models',
      '--out',
      run,
      '--quiet',
    ]);
    expect(g.status, g.stderr).toBe(0);
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
      '--budget',
      '30',
    ]);
    expect(e.status, e.stderr).toBe(0);
    const [head, ...lines] = readFileSync(join(run, 'explain', 'shap.csv'), 'utf8')
      .trimEnd()
      .split('\n');
    expect(head).toBe('id,PC1,PC2,PC3,PC4,PC5,base_value,prediction');
    expect(lines.map((l) => l.split(',')[0])).toEqual(['L0', 'L20', 'L40']);
    const rows = lines.map((l) => l.split(',').slice(1).map(Number));
    for (const row of rows) expect(Math.abs(row.slice(0, 6).reduce((a, b) => a + b, 0) - row[6]!)).toBeLessThan(1e-5);
    const doc = JSON.parse(readFileSync(join(run, 'explain', 'explanations.json'), 'utf8')) as {
      explanations: { exact: boolean; coalitions: number; background: string[] }[];
    };
    const ex = doc.explanations[0]!;
    expect([ex.exact, ex.coalitions]).toEqual([true, 30]);
    // The oracle: enumerate every coalition of line L20's five components.
    const { inputs, gcn } = await studyOf(run, false);
    const rt = await Runtime.create({ threads: 1 });
    try {
      const { data } = await prepareStudy(rt, inputs);
      const kept = genomicModelFile(join(run, 'models'), 'height'),
        file = existsSync(kept) ? kept : genomicModelFile(join(run, 'explain', 'models'), 'height');
      const members = loadGenomicModels(file, fitFingerprint(data, 0, gcn))!;
      expect(members).not.toBeNull();
      const scorer = genomicLineScorer(rt, data, gcn, members);
      try {
        const f = data.f,
          node = data.ids.indexOf('L20'),
          bg = ex.background.map((id) => data.ids.indexOf(id));
        expect(f).toBe(5);
        const all = new Float64Array(32 * bg.length * f);
        for (let m = 0; m < 32; m++)
          bg.forEach((b, k) => {
            for (let j = 0; j < f; j++)
              all[(m * bg.length + k) * f + j] = data.features[((m >> j) & 1 ? node : b) * f + j]!;
          });
        const out = await scorer.at(node)(all, 32 * bg.length);
        const v = Float64Array.from({ length: 32 }, (_, m) => {
          let s = 0;
          for (let k = 0; k < bg.length; k++) s += out[m * bg.length + k]! / bg.length;
          return s;
        });
        const fact = [1, 1, 2, 6, 24, 120];
        for (let j = 0; j < f; j++) {
          let phi = 0;
          for (let m = 0; m < 32; m++) {
            if ((m >> j) & 1) continue;
            let s = 0;
            for (let b = m; b; b &= b - 1) s++;
            phi += ((fact[s]! * fact[f - s - 1]!) / fact[f]!) * (v[m | (1 << j)]! - v[m]!);
          }
          expect(Math.abs(phi - rows[1]![j]!)).toBeLessThan(1e-5);
        }
        expect(Math.abs(v[31]! - rows[1]![6]!)).toBeLessThan(1e-5); // all features its own: the prediction
        expect(Math.abs(v[0]! - rows[1]![5]!)).toBeLessThan(1e-5); // none: the base value
      } finally {
        scorer.dispose();
      }
    } finally {
      await rt.close();
    }
    const bad = await runGraftAsync([
      'explain',
      '--run',
      run,
      '--method',
      'kernelshap',
      '--budget',
      '8',
      '--overwrite',
    ]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/budget/);
  });
});
