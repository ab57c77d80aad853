import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { syntheticGenomicData } from '../src/data/genomic-synthetic.js';
import { kernelModelScorer, kernelModelShap } from '../src/explain/genomic-shap.js';
import { kernelShap } from '../src/explain/kernelshap.js';
import {
  keptModelFile,
  loadKeptModel,
  loadScoringBasis,
  studyRow,
  type ScoringBasis,
} from '../src/genomics/kept-models.js';
import type { KernelScoring } from '../src/graph/gp-scoring.js';
import { runGraftAsync, tempDir } from './helpers.js';
import { additivityError, shapleyByEnumeration } from './kernel-shap-oracles.js';

// KernelSHAP of graft gp's kept kernel and linear models over the markers. Oracles: rrBLUP is
// linear in the dosages, so its exact SHAP values with an independent background are known in
// closed form, φ_j = β_j (x_j − mean over the background of x_j), β_j = inv_j Σ_t α_t w_tj from
// the kept α and the stored standardized markers (not through the scorer); KernelSHAP, which
// fits a linear model, must give them with any budget. GBLUP and RKHS: the Shapley values by
// enumerating every coalition of the markers (7 or 8) equal all-coalition KernelSHAP, and
// base + Σ φ = prediction.

const dir = tempDir('graft-explain-gp-kshap-');
const data = syntheticGenomicData({ samples: 60, chromosomes: 2, markersPerChromosome: 4, missingRate: 0, seed: 5 });
const M = data.markers.length;
/** The markers QC kept (a monomorphic one goes), which the models read. */
let m = 0;
let run = '';
let basis: ScoringBasis;
const fitOf = (model: 'gblup' | 'rrblup' | 'rkhs'): KernelScoring =>
  loadKeptModel(keptModelFile(join(run, 'models'), model, 'yield'), basis).final.kernel!;

beforeAll(async () => {
  const geno = join(dir, 'geno.csv'),
    pheno = join(dir, 'pheno.csv');
  writeFileSync(
    geno,
    `${[['id', ...data.markers].join(','), ...data.ids.map((id, i) => [id, ...Array.from({ length: M }, (_, j) => data.dosage[i * M + j]!)].join(','))].join('\n')}\n`,
  );
  writeFileSync(
    pheno,
    `${['id,yield', ...data.ids.map((id, i) => `${id},${data.traits[0]!.values[i]!.toFixed(5)}`)].join('\n')}\n`,
  );
  run = join(dir, 'run');
  const r = await runGraftAsync(
    ['gp', '--geno', geno, '--pheno', pheno, '--trait', 'yield', '--models', 'gblup,rrblup,rkhs', '--k', '2'].concat([
      '--keep-models',
      '--min-maf',
      '0',
      '--threads',
      '1',
      '--out',
      run,
      '--quiet',
    ]),
  );
  expect(r.status, r.stderr).toBe(0);
  basis = loadScoringBasis(join(run, 'models'));
  m = basis.markers!.names.length;
  expect(m).toBeGreaterThanOrEqual(6);
}, 60_000);

const lines = [3, 17, 41],
  background = [0, 5, 9, 22, 30, 48];

describe('KernelSHAP of gp kernel and linear models', () => {
  it('rrBLUP: the closed form β_j (x_j − E[x_j]) for every line, with all coalitions and with a sampled budget', () => {
    const fit = fitOf('rrblup');
    const mk = basis.markers!;
    const beta = Float64Array.from({ length: m }, (_, j) => {
      let s = 0;
      fit.train.forEach((t, q) => {
        s += fit.alpha[q]! * mk.w[t * m + j]!;
      });
      return s * mk.inv[j]!;
    });
    const mean = Float64Array.from(
      { length: m },
      (_, j) => background.reduce((a, b) => a + studyRow(basis, b)[j]!, 0) / background.length,
    );
    const scale = Math.max(...beta.map(Math.abs));
    expect(scale).toBeGreaterThan(0);
    for (const budget of [2 ** m, 24]) {
      const s = kernelModelShap(basis, fit, { rows: lines, background, budget, seed: 3 });
      expect(s.exact).toBe(budget >= 2 ** m - 2);
      lines.forEach((i, r) => {
        const x = studyRow(basis, i);
        for (let j = 0; j < m; j++)
          expect(
            Math.abs(s.values[r * m + j]! - beta[j]! * (x[j]! - mean[j]!)),
            `budget ${budget} line ${i} marker ${j}`,
          ).toBeLessThan(1e-5 * scale);
      });
    }
  });

  it('GBLUP and RKHS: all-coalition KernelSHAP equals enumeration, and base + Σ φ = prediction', async () => {
    for (const model of ['gblup', 'rkhs'] as const) {
      const fit = fitOf(model);
      const f = kernelModelScorer(basis, fit);
      const bg = new Float64Array(background.length * m);
      background.forEach((b, r) => {
        bg.set(studyRow(basis, b), r * m);
      });
      const s = kernelModelShap(basis, fit, { rows: lines, background, budget: 2 ** m, seed: 1 });
      expect(s.exact).toBe(true);
      for (const [r, i] of lines.entries()) {
        const x = Float64Array.from(studyRow(basis, i));
        const want = await shapleyByEnumeration(f, x, bg, background.length, m);
        for (let j = 0; j < m; j++)
          expect(Math.abs(s.values[r * m + j]! - want[j]!), `${model} line ${i} marker ${j}`).toBeLessThan(1e-9);
        expect(additivityError([...s.values.subarray(r * m, r * m + m)], s.base[0]!, s.prediction[r]!)).toBeLessThan(
          1e-9,
        );
      }
      // Not a constant model: the markers move the prediction.
      expect(Math.max(...s.values.map(Math.abs))).toBeGreaterThan(1e-4);
    }
    // The same coalitions and fit as the generic KernelSHAP on the scorer (one code path).
    const fit = fitOf('rkhs');
    const xs = new Float64Array(lines.length * m);
    lines.forEach((i, r) => {
      xs.set(studyRow(basis, i), r * m);
    });
    const bg = new Float64Array(background.length * m);
    background.forEach((b, r) => {
      bg.set(studyRow(basis, b), r * m);
    });
    const generic = kernelShap(kernelModelScorer(basis, fit), xs, lines.length, m, {
      background: bg,
      backgroundRows: background.length,
      budget: 40,
      seed: 2,
    });
    expect(kernelModelShap(basis, fit, { rows: lines, background, budget: 40, seed: 2 }).values).toEqual(
      generic.values,
    );
  });

  it('graft explain --method kernelshap --model rrblup writes shap.csv: additive, its predictions the kept model scoring the lines', async () => {
    const r = await runGraftAsync([
      'explain',
      '--run',
      run,
      '--method',
      'kernelshap',
      '--model',
      'rrblup',
      '--count',
      '4',
      '--background',
      '5',
      '--budget',
      '30',
      '--quiet',
    ]);
    expect(r.status, r.stderr).toBe(0);
    const [head, ...rows] = readFileSync(join(run, 'explain', 'shap.csv'), 'utf8')
      .trimEnd()
      .split('\n');
    expect(head!.split(',')).toEqual(['id', ...basis.markers!.names, 'base_value', 'prediction']);
    expect(rows.length).toBe(4);
    const f = kernelModelScorer(basis, fitOf('rrblup'));
    for (const l of rows) {
      const c = l.split(',');
      const i = data.ids.indexOf(c[0]!);
      const phi = c.slice(1, 1 + m).map(Number);
      expect(Math.abs(Number(c[1 + m]) + phi.reduce((a, v) => a + v, 0) - Number(c[2 + m]))).toBeLessThan(1e-9);
      expect(Number(c[2 + m])).toBe(f(Float64Array.from(studyRow(basis, i)), 1)[0]);
    }
    const bad = await runGraftAsync(['explain', '--run', run, '--method', 'ig', '--model', 'rrblup', '--overwrite']);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/--model picks the kept gp model KernelSHAP explains/);
    const few = await runGraftAsync([
      'explain',
      '--run',
      run,
      '--method',
      'kernelshap',
      '--model',
      'gblup',
      '--budget',
      '10',
      '--overwrite',
    ]);
    expect(few.status).not.toBe(0);
    expect(few.stderr).toContain(`--budget 10: KernelSHAP over ${m} markers needs at least ${2 * m + 2} coalitions`);
    const none = await runGraftAsync([
      'explain',
      '--run',
      run,
      '--method',
      'kernelshap',
      '--model',
      'rkhs-ka',
      '--overwrite',
    ]);
    expect(none.status).not.toBe(0);
    expect(none.stderr).toMatch(/kept no rkhs-ka model of yield/);
  }, 60_000);
});
