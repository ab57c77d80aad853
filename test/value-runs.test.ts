import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lowValueAuc } from '../src/cli/commands/value-common.js';
import { rng } from './helpers.js';
import { runGraftAsync, tempDir } from './helpers.js';

// graft value on gp and graph runs. Oracles: the planted corruption (shuffled phenotypes,
// flipped labels) written beside the values must be what was planted (a derangement of the
// true phenotypes among the corrupted lines; the other label), the ROC-AUC the command reports
// must be the one recomputed from values.csv, and the corrupted samples must be found.

const dir = tempDir('graft-value-runs-');
const put = (name: string, text: string): string => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};

function readCsv(file: string): { header: string[]; rows: string[][] } {
  const [head, ...lines] = readFileSync(file, 'utf8').trimEnd().split('\n');
  return { header: head!.split(','), rows: lines.map((l) => l.split(',')) };
}

// 80 lines, offspring of two of 6 founders (blocks of 25 of 300 markers from each parent):
// related as in a breeding panel; phenotype = genetic value + noise, h² about 0.85.
const N = 120,
  M = 300;
const r = rng(31);
const founders = Array.from({ length: 6 }, () => Array.from({ length: M }, () => (r() < 0.5 ? 0 : 2)));
const effects = Array.from({ length: M }, () => (r() < 0.1 ? r() * 2 - 1 : 0));
const geno: number[][] = [],
  pheno: number[] = [];
for (let i = 0; i < N; i++) {
  const a = founders[Math.floor(r() * 6)]!,
    b = founders[Math.floor(r() * 6)]!;
  let from = a;
  const row: number[] = [];
  for (let j = 0; j < M; j++) {
    if (j % 25 === 0) from = r() < 0.5 ? a : b;
    row.push(from[j]!);
  }
  geno.push(row);
  pheno.push(row.reduce((s, d, j) => s + d * effects[j]!, 0));
}
const sd = Math.sqrt(pheno.reduce((s, v) => s + v * v, 0) / N - (pheno.reduce((s, v) => s + v, 0) / N) ** 2);
const y = pheno.map(
  (v) => +(v / sd + 0.4 * Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r())).toFixed(6),
);
const genoFile = put(
  'geno.csv',
  `${['id', ...Array.from({ length: M }, (_, j) => `m${j}`)].join(',')}\n${geno.map((g, i) => [`L${i}`, ...g].join(',')).join('\n')}\n`,
);
const phenoFile = put('pheno.csv', `id,yield\n${y.map((v, i) => `L${i},${v}`).join('\n')}\n`);

describe('graft value on a gp run (GBLUP, phenotypes shuffled among 10% of the lines)', () => {
  it('tmc and knn: values for every line, the planted mix-up as planted, found (ROC-AUC = recomputed), curves', async () => {
    const run = join(dir, 'gp');
    const g = await runGraftAsync([
      'gp',
      '--geno',
      genoFile,
      '--pheno',
      phenoFile,
      '--trait',
      'yield',
      '--models',
      'gblup',
      '--k',
      '2',
      '--out',
      run,
      '--quiet',
    ]);
    expect(g.status, g.stderr).toBe(0);
    const v = await runGraftAsync(['value', '--run', run, '--method', 'tmc', '--budget', '120', '--flip', '0.1']);
    expect(v.status, v.stderr).toBe(0);
    const line = JSON.parse(v.stdout) as Record<string, unknown>;
    const { header, rows } = readCsv(join(run, 'value', 'values.csv'));
    expect(header).toEqual(['id', 'value', 'se', 'yield', 'corrupted']);
    expect(rows.map((c) => c[0])).toEqual(Array.from({ length: N }, (_, i) => `L${i}`));
    const corrupted = rows.map((c) => c[4] === '1'),
      given = rows.map((c) => Number(c[3]));
    expect(corrupted.filter(Boolean).length).toBe(12);
    // a derangement among the corrupted lines; the others untouched
    const moved = rows.flatMap((_, i) => (corrupted[i] ? [i] : []));
    expect(moved.map((i) => given[i]).sort()).toEqual(moved.map((i) => y[i]).sort());
    for (const i of moved) expect(given[i]).not.toBe(y[i]);
    for (let i = 0; i < N; i++) if (!corrupted[i]) expect(given[i]).toBe(y[i]);
    const values = rows.map((c) => Number(c[1])),
      auc = lowValueAuc(values, corrupted);
    expect(line['corrupted_roc_auc']).toBe(+auc.toFixed(4));
    // measured 0.673 (120 permutations); chance is 0.5. The stronger detection check, on more
    // lines and permutations, is valuation-regression.test.ts's.
    expect(auc).toBeGreaterThanOrEqual(0.65);
    const doc = JSON.parse(readFileSync(join(run, 'value', 'value.json'), 'utf8')) as {
      kind: string;
      removal: { metric: string; low_first: number[]; high_first: number[] };
      tmc: { permutations: number };
    };
    expect(doc.kind).toBe('genomic');
    expect(doc.removal.metric).toBe('predictive ability r');
    expect(doc.tmc.permutations).toBeLessThanOrEqual(120);
    // dropping the lowest-valued 10% does not cost predictive ability; the highest-valued does
    expect(doc.removal.low_first[2]!).toBeGreaterThanOrEqual(doc.removal.low_first[0]!);
    expect(doc.removal.high_first[2]!).toBeLessThan(doc.removal.low_first[2]!);
    expect(readFileSync(join(run, 'value', 'removal.svg'), 'utf8')).toMatch(/^<svg/);
    const k = await runGraftAsync(['value', '--run', run, '--flip', '0.1', '--overwrite']);
    expect(k.status, k.stderr).toBe(0);
    expect(readCsv(join(run, 'value', 'values.csv')).header).toEqual(['id', 'value', 'yield', 'corrupted']);
    const bad = await runGraftAsync(['value', '--run', run, '--target', 'height', '--overwrite']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--target height: not a trait of this run \(its traits: yield\)/);
  });
});

// 200 molecules, labelled by a benzene ring: chains with O, N, Cl or COOH (0) and the same on a
// phenyl or phenol (1); 10% of the training labels flipped.
const molecules: [string, number][] = [];
for (let k = 1; k <= 25; k++) {
  const c = 'C'.repeat(k);
  molecules.push(
    [`${c}O`, 0],
    [`${c}N`, 0],
    [`${c}Cl`, 0],
    [`${c}C(=O)O`, 0],
    [`c1ccccc1${c}`, 1],
    [`Oc1ccc(cc1)${c}`, 1],
    [`c1ccccc1${c}N`, 1],
    [`c1ccccc1${c}O`, 1],
  );
}
const molFile = put('mols.csv', `smiles,aromatic\n${molecules.map(([s, l]) => `${s},${l}`).join('\n')}\n`);

describe('graft value on a graph run (K-NN on Morgan fingerprints)', () => {
  it('values the training molecules against the validation split and finds flipped labels', async () => {
    const run = join(dir, 'graph');
    const t = await runGraftAsync([
      'train',
      '--task',
      'graph',
      '--data',
      molFile,
      '--epochs',
      '1',
      '--out',
      run,
      '--quiet',
    ]);
    expect(t.status, t.stderr).toBe(0);
    const v = await runGraftAsync(['value', '--run', run, '--flip', '0.1', '--k', '3']);
    expect(v.status, v.stderr).toBe(0);
    const { header, rows } = readCsv(join(run, 'value', 'values.csv'));
    expect(header).toEqual(['id', 'value', 'smiles', 'aromatic', 'flipped']);
    expect(rows.length).toBe(160); // the 80% training split
    for (const c of rows) {
      const truth = molecules[Number(c[0]) - 1]!; // id: the data row
      expect(c[2]).toBe(truth[0]);
      expect(Number(c[3])).toBe(c[4] === '1' ? 1 - truth[1] : truth[1]);
    }
    const flipped = rows.map((c) => c[4] === '1'),
      auc = lowValueAuc(
        rows.map((c) => Number(c[1])),
        flipped,
      );
    expect(flipped.filter(Boolean).length).toBe(16);
    expect((JSON.parse(v.stdout) as Record<string, unknown>)['corrupted_roc_auc']).toBe(+auc.toFixed(4));
    expect(auc).toBeGreaterThanOrEqual(0.8);
    const tmc = await runGraftAsync(['value', '--run', run, '--method', 'tmc', '--budget', '150', '--overwrite']);
    expect(tmc.status, tmc.stderr).toBe(0);
    expect(readCsv(join(run, 'value', 'values.csv')).header).toEqual(['id', 'value', 'se', 'smiles', 'aromatic']);
    const doc = JSON.parse(readFileSync(join(run, 'value', 'value.json'), 'utf8')) as Record<string, unknown>;
    expect([doc['kind'], doc['samples'], doc['validation'], (doc['removal'] as { metric: string }).metric]).toEqual([
      'graph',
      160,
      20,
      'ROC-AUC',
    ]);
  });
});
