import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Rng } from '../src/core/random.js';
import { kernelShapAsync } from '../src/explain/kernelshap.js';
import { loadKeptModel } from '../src/microbiome/kept-model.js';
import { scoreMbModel } from '../src/microbiome/models.js';
import { applyPreprocessing } from '../src/microbiome/pipeline.js';
import { Runtime } from '../src/runtime/runtime.js';
import { runGraftAsync, tempDir } from './helpers.js';
import { additivityError, shapleyByEnumeration } from './kernel-shap-oracles.js';

// KernelSHAP of a kept BNN (graft mb --models bnn --keep-model bnn): the posterior mean, the
// mean over the kept posterior samples. Oracles: the interventional Shapley values by
// enumerating every coalition of the 6 taxa with the posterior mean (KernelSHAP with a budget
// covering them all must equal them); additivity in shap.csv (base + Σ φ = prediction, 1e-5);
// shap.csv's predictions are graft predict's P(CD) for the same samples.

const dir = tempDir('graft-explain-mb-bnn-');
const P = 6,
  N = 30;
const taxa = Array.from({ length: P }, (_, j) => `g__taxon_${j}`);
const rng = new Rng(9);
const rows = Array.from({ length: N }, (_, i) =>
  Array.from({ length: P }, (_, j) => 1 + Math.floor(rng.next() * (j < 2 ? (i % 2 ? 30 : 5) : 12))),
);
const counts = join(dir, 'counts.csv'),
  meta = join(dir, 'meta.csv');
writeFileSync(
  counts,
  `${[['sample_id', ...taxa].join(','), ...rows.map((r, i) => [`s${i}`, ...r].join(','))].join('\n')}\n`,
);
writeFileSync(meta, `${['sample_id,diagnosis', ...rows.map((_, i) => `s${i},${i % 2 ? 'CD' : 'no'}`)].join('\n')}\n`);

describe('KernelSHAP of a kept BNN', () => {
  it("every coalition gives the enumerated Shapley values of the posterior mean; graft explain is additive and gives graft predict's P(CD)", async () => {
    const run = join(dir, 'run');
    const r = await runGraftAsync([
      'mb',
      '--counts',
      counts,
      '--meta',
      meta,
      '--label',
      'diagnosis',
      '--models',
      'bnn',
      '--k',
      '2',
      '--repeats',
      '1',
      '--epochs',
      '15',
      '--posterior-samples',
      '5',
      '--min-prevalence',
      '0',
      '--keep-model',
      'bnn',
      '--threads',
      '1',
      '--out',
      run,
      '--quiet',
    ]);
    expect(r.status, r.stderr).toBe(0);
    const k = loadKeptModel(join(run, 'model', 'model.safetensors'));
    expect(k.model.model).toBe('bnn');
    const x = applyPreprocessing(k.preprocessing, Float64Array.from(rows.flat()), N, P);
    const cd = k.classNames.indexOf('CD');
    const rt = await Runtime.create({ threads: 1 });
    try {
      const mean = (m: Float64Array, n: number) =>
        scoreMbModel(
          rt,
          k.model,
          m,
          P,
          Int32Array.from({ length: n }, (_, i) => i),
        );
      const bg = x.slice(0, 3 * P),
        one = x.slice(7 * P, 8 * P);
      const s = await kernelShapAsync(mean, one, 1, P, { background: bg, backgroundRows: 3, budget: 2 ** P });
      expect(s.exact).toBe(true);
      const want = await shapleyByEnumeration(mean, one, bg, 3, P, cd, k.classNames.length);
      for (let j = 0; j < P; j++) expect(Math.abs(s.values[cd * P + j]! - want[j]!)).toBeLessThan(1e-9);
      // Not a trivial model: the taxa that separate the classes move P(CD).
      expect(Math.max(...want.map(Math.abs))).toBeGreaterThan(1e-3);
    } finally {
      await rt.close();
    }
    const e = await runGraftAsync([
      'explain',
      '--run',
      run,
      '--method',
      'kernelshap',
      '--target',
      'CD',
      '--count',
      '6',
      '--background',
      '4',
      '--budget',
      '40',
      '--quiet',
    ]);
    expect(e.status, e.stderr).toBe(0);
    const [, ...lines] = readFileSync(join(run, 'explain', 'shap.csv'), 'utf8')
      .trimEnd()
      .split('\n');
    expect(lines.length).toBe(6);
    const p = await runGraftAsync(['predict', '--run', run, '--counts', counts]);
    expect(p.status, p.stderr).toBe(0);
    const [head, ...pl] = p.stdout.trimEnd().split('\n');
    const col = head!.split(',').indexOf('p_CD');
    const predicted = new Map(pl.map((l) => [l.split(',')[0]!, Number(l.split(',')[col])]));
    for (const l of lines) {
      const c = l.split(',');
      const phi = c.slice(1, 1 + P).map(Number),
        base = Number(c[1 + P]),
        pred = Number(c[2 + P]);
      expect(additivityError(phi, base, pred)).toBeLessThan(1e-5);
      expect(pred).toBe(predicted.get(c[0]!));
    }
  }, 120_000);
});
