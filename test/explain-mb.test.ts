import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Rng } from '../src/core/random.js';
import { lowValueAuc } from '../src/valuation/low-value-auc.js';
import { runGraftAsync, tempDir } from './helpers.js';

// graft explain on graft mb runs. Oracles: the predictions in shap.csv are graft predict's for
// the same samples (the kept model's own path), base + Σ SHAP equals them (additivity), and the
// taxa the data were made from (0-3 carry the class) lead the ranking by mean |SHAP|.

const dir = tempDir('graft-explain-mb-');
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
const counts = put(
  'counts.csv',
  `${[['sample_id', ...taxa.map((t) => JSON.stringify(t))].join(','), ...rows.map((r, i) => [`s${i}`, ...r].join(','))].join('\n')}\n`,
);
const meta = put(
  'meta.csv',
  `${['sample_id,diagnosis', ...rows.map((_, i) => `s${i},${i % 2 ? 'CD' : 'no'}`)].join('\n')}\n`,
);

async function mbRun(name: string, model: string, keep = true): Promise<string> {
  const out = join(dir, name);
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
    '--trees',
    '30',
    ...(keep ? ['--keep-model', model] : []),
    '--out',
    out,
    '--quiet',
  ]);
  expect(r.status, r.stderr).toBe(0);
  return out;
}

/** shap.csv as header and numeric rows (ids kept apart). */
function readShap(run: string): { header: string[]; ids: string[]; rows: number[][] } {
  const [head, ...lines] = readFileSync(join(run, 'explain', 'shap.csv'), 'utf8')
    .trimEnd()
    .split('\n');
  const header = head!.match(/("[^"]*"|[^,]+)/g)!.map((s) => (s.startsWith('"') ? (JSON.parse(s) as string) : s));
  return { header, ids: lines.map((l) => l.split(',')[0]!), rows: lines.map((l) => l.split(',').slice(1).map(Number)) };
}

/** graft predict's probability of CD per sample id. */
async function predicted(run: string): Promise<Map<string, number>> {
  const r = await runGraftAsync(['predict', '--run', run, '--counts', counts]);
  expect(r.status, r.stderr).toBe(0);
  const [head, ...lines] = r.stdout.trimEnd().split('\n');
  const col = head!.split(',').indexOf('p_CD');
  return new Map(lines.map((l) => [l.split(',')[0]!, Number(l.split(',')[col])]));
}

// Concurrent: each test is a chain of CLI runs on its own run folder.
describe.concurrent('graft explain on an mb run', () => {
  it("treeshap: shap.csv has every sample, adds up to graft predict's P(CD), and ranks the planted taxa first", async () => {
    const run = await mbRun('rf', 'rf');
    const r = await runGraftAsync(['explain', '--run', run, '--method', 'treeshap', '--top', '5']);
    expect(r.status, r.stderr).toBe(0);
    const s = readShap(run);
    expect(s.header).toEqual(['id', ...taxa, 'base_value', 'prediction']);
    expect(s.ids).toEqual(rows.map((_, i) => `s${i}`));
    const want = await predicted(run);
    for (const [i, row] of s.rows.entries()) {
      const sum = row.slice(0, P).reduce((a, b) => a + b, 0) + row[P]!;
      expect(Math.abs(sum - row[P + 1]!)).toBeLessThan(1e-5);
      expect(row[P + 1]).toBe(want.get(s.ids[i]!));
    }
    const mean = taxa.map((_, j) => s.rows.reduce((a, row) => a + Math.abs(row[j]!), 0) / N);
    const order = [...mean.keys()].sort((a, b) => mean[b]! - mean[a]!);
    expect(order.slice(0, 2).every((j) => j < 4)).toBe(true);
    const md = readFileSync(join(run, 'explain', 'summary.md'), 'utf8');
    expect(md).toContain(`| 1 | k__Bacteria; g__taxon_${order[0]} |`);
    // One dot per sample and shown taxon: in the chart's Vega-Lite spec beside the SVG, and drawn in the SVG.
    const spec = JSON.parse(readFileSync(join(run, 'explain', 'shap-summary.vl.json'), 'utf8')) as {
      data: { values: unknown[] };
    };
    expect(spec.data.values.length).toBe(5 * N);
    const svg = readFileSync(join(run, 'explain', 'shap-summary.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/role-symbol|mark-symbol/g)?.length ?? 0).toBeGreaterThan(0);
    const doc = JSON.parse(readFileSync(join(run, 'explain', 'explanations.json'), 'utf8')) as Record<string, unknown>;
    expect(doc['additivity_max_error']).toBeLessThan(1e-5);
    // a second explain refuses to replace the first without --overwrite
    const again = await runGraftAsync(['explain', '--run', run, '--method', 'treeshap']);
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(/already holds explanations: pass --overwrite/);
  });

  it("kernelshap on the kept logistic model: exact with every coalition, additive, graft predict's scores; treeshap refuses it", async () => {
    const run = await mbRun('logistic', 'logistic');
    const bad = await runGraftAsync(['explain', '--run', run, '--method', 'treeshap']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(
      /--method treeshap explains a random forest; this run kept logistic: use --method kernelshap/,
    );
    const r = await runGraftAsync([
      'explain',
      '--run',
      run,
      '--method',
      'kernelshap',
      '--count',
      '6',
      '--background',
      '10',
      '--budget',
      '300',
    ]);
    expect(r.status, r.stderr).toBe(0);
    const s = readShap(run),
      want = await predicted(run);
    expect(s.rows.length).toBe(6);
    for (const [i, row] of s.rows.entries()) {
      const sum = row.slice(0, P).reduce((a, b) => a + b, 0) + row[P]!;
      expect(Math.abs(sum - row[P + 1]!)).toBeLessThan(1e-9);
      expect(row[P + 1]).toBe(want.get(s.ids[i]!));
    }
    const doc = JSON.parse(readFileSync(join(run, 'explain', 'explanations.json'), 'utf8')) as Record<string, unknown>;
    expect([doc['exact'], doc['coalitions']]).toEqual([true, 254]);
    const wrong = await runGraftAsync([
      'explain',
      '--run',
      run,
      '--method',
      'kernelshap',
      '--target',
      'UC',
      '--overwrite',
    ]);
    expect(wrong.stderr).toMatch(/--target UC: not a class of this run \(CD, no\)/);
  });

  it('graft value: values.csv for every sample, planted flipped labels found (ROC-AUC reported = recomputed), removal curves', async () => {
    const run = await mbRun('value', 'logistic', false); // no kept model: the run's own preprocessing
    const r = await runGraftAsync(['value', '--run', run, '--method', 'knn', '--flip', '0.15', '--seed', '3']);
    expect(r.status, r.stderr).toBe(0);
    const [head, ...lines] = readFileSync(join(run, 'value', 'values.csv'), 'utf8')
      .trimEnd()
      .split('\n');
    expect(head).toBe('id,value,label,flipped');
    expect(lines.map((l) => l.split(',')[0])).toEqual(rows.map((_, i) => `s${i}`));
    const values = lines.map((l) => Number(l.split(',')[1])),
      flipped = lines.map((l) => l.split(',')[3] === '1');
    expect(flipped.filter(Boolean).length).toBe(6);
    // a flipped row carries the other class: the label column disagrees with the metadata
    lines.forEach((l, i) => {
      expect(l.split(',')[2] !== (i % 2 ? 'CD' : 'no')).toBe(flipped[i]);
    });
    const auc = lowValueAuc(values, flipped);
    expect(auc).toBeGreaterThanOrEqual(0.8);
    const doc = JSON.parse(readFileSync(join(run, 'value', 'value.json'), 'utf8')) as {
      flip: { roc_auc: number };
      removal: { high_first: number[]; low_first: number[] };
    };
    expect(doc.flip.roc_auc).toBeCloseTo(auc, 12);
    expect(doc.removal.low_first[3]!).toBeGreaterThanOrEqual(doc.removal.low_first[0]!); // dropping the lowest 15% costs nothing
    expect(readFileSync(join(run, 'value', 'removal.svg'), 'utf8')).toContain('low value first');
    const tmc = await runGraftAsync([
      'value',
      '--run',
      run,
      '--method',
      'tmc',
      '--budget',
      '150',
      '--overwrite',
      '--quiet',
    ]);
    expect(tmc.status, tmc.stderr).toBe(0);
    expect(readFileSync(join(run, 'value', 'values.csv'), 'utf8').split('\n')[0]).toBe('id,value,se,label');
  });

  it('lowValueAuc is the rank statistic: by hand, with ties', async () => {
    expect(lowValueAuc([0.1, 0.5, 0.2, 0.9], [true, false, false, false])).toBe(1);
    expect(lowValueAuc([0.5, 0.5, 0.2, 0.9], [true, false, false, false])).toBeCloseTo((0.5 + 0 + 1) / 3, 12);
    expect(lowValueAuc([1, 2], [false, false])).toBeNaN();
  });
});
