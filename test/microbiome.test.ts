import { writeFileSync, readFileSync, readdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Rng } from '../src/core/random.js';
import { loadMicrobiome } from '../src/microbiome/data.js';
import { stratifiedGroupFolds, stratifyTarget } from '../src/microbiome/folds.js';
import { choiceTree } from '../src/microbiome/grid.js';
import { logisticPredict, ridgePredict, solveSpd } from '../src/microbiome/linear.js';
import { MB_MODEL_DEFAULTS } from '../src/microbiome/models.js';
import { compositionGraph, incompatibility, sampleDistances } from '../src/microbiome/pipeline.js';
import { classificationMetrics, MB_DEFAULTS, runMbStudy } from '../src/microbiome/study.js';
import { Runtime } from '../src/runtime/runtime.js';
import { runGraft, tempDir } from './helpers.js';

const dir = tempDir('graft-mb-');
const put = (name: string, text: string | Buffer): string => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};

/**
 * A seeded microbiome-like set: n samples × p taxa of Poisson-ish counts, two classes, class 1
 * enriched in taxa 0-3 and depleted in 4-7, two samples per subject (same class), many zeros.
 */
function syntheticCounts(n = 60, p = 24, seed = 3): { counts: string; meta: string } {
  const rng = new Rng(seed);
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
  const rows = [`sample_id,${Array.from({ length: p }, (_, j) => `t${j}`).join(',')}`];
  const meta = ['sample_id,diagnosis,subject,score'];
  for (let i = 0; i < n; i++) {
    const cls = Math.floor(i / 2) % 2;
    const row: number[] = Array.from({ length: p }, (_, j) => {
      const base = j < 8 ? 8 : rng.next() < 0.6 ? 0 : 3;
      const lift = j < 4 ? (cls ? 4 : 0.5) : j < 8 ? (cls ? 0.4 : 3) : 1;
      return poisson(base * lift);
    });
    if (!row.some((v) => v > 0)) row[0] = 1;
    rows.push(`s${i},${row.join(',')}`);
    meta.push(`s${i},${cls ? 'CD' : 'no'},subj${Math.floor(i / 2)},${(cls * 5 + rng.next()).toFixed(3)}`);
  }
  return { counts: `${rows.join('\n')}\n`, meta: `${meta.join('\n')}\n` };
}

const fixture = syntheticCounts();
const countsFile = put('counts.csv.gz', gzipSync(fixture.counts));
const metaFile = put('meta.csv', fixture.meta);

describe('graft mb input', () => {
  it('reads gzip CSV counts and metadata, matches ids, drops taxa by prevalence, keeps groups; transposed tables read the same', () => {
    const d = loadMicrobiome({
      counts: countsFile,
      meta: metaFile,
      label: 'diagnosis',
      group: 'subject',
      minPrevalence: 0.5,
    });
    expect(d.n).toBe(60);
    expect(d.classNames).toEqual(['CD', 'no']);
    expect(new Set(d.groups).size).toBe(30);
    expect(d.p).toBeLessThan(24);
    expect(d.match.taxaDropped).toBe(24 - d.p);
    // The same table, taxa as rows.
    const lines = fixture.counts
      .trim()
      .split('\n')
      .map((l) => l.split(','));
    const t = `${lines[0]!.map((_, j) => lines.map((r) => r[j]!).join(',')).join('\n')}\n`;
    const dt = loadMicrobiome({
      counts: put('t.tsv', t.replace(/,/g, '\t')),
      meta: metaFile,
      label: 'diagnosis',
      transpose: true,
      minPrevalence: 0.5,
    });
    expect(dt.taxa).toEqual(d.taxa);
    expect(Array.from(dt.counts)).toEqual(Array.from(d.counts));
  });

  it('bad input: negative and non-numeric counts, an all-zero sample, duplicate ids, no id in common, a missing column: errors name the file and line', () => {
    const head = 'sample_id,a,b\n';
    const meta = put('m.csv', 'sample_id,y\nx,1\ny,0\nz,1\n');
    const load = (counts: string): unknown => loadMicrobiome({ counts: put('c.csv', head + counts), meta, label: 'y' });
    expect(() => load('x,1,2\ny,-3,1\n')).toThrow(
      /c\.csv:3: column 'b'|c\.csv:3: column 'a' is -3: counts cannot be negative/,
    );
    expect(() => load('x,1,2\ny,abc,1\n')).toThrow(/c\.csv:3: column 'a' is "abc", not a count/);
    expect(() => load('x,1,2\ny,0,0\nz,1,1\n')).toThrow(/c\.csv:3: sample "y" has no reads/);
    expect(() => load('x,1,2\nx,1,1\n')).toThrow(/c\.csv:3: duplicate sample id "x" \(first on line 2\)/);
    expect(() => load('q,1,2\nr,1,1\n')).toThrow(/no sample of .*c\.csv \(e\.g\. "q", "r"\) has a label in .*m\.csv/);
    expect(() => loadMicrobiome({ counts: put('c2.csv', `${head}x,1,2\ny,2,1\n`), meta, label: 'nope' })).toThrow(
      /m\.csv:1: no column 'nope' \(columns: sample_id, y\)/,
    );
    // Fractional values load (relative abundances), but rarefying needs reads.
    const frac = loadMicrobiome({ counts: put('c3.csv', `${head}x,0.5,0.5\ny,0.2,0.8\nz,1,0\n`), meta, label: 'y' });
    expect(frac.integerCounts).toBe(false);
    expect(frac.firstFraction).toMatch(/c3\.csv:2: column 'a' is 0\.5$/);
    expect(incompatibility({ normalize: 'rarefy', zeros: 'none' }, frac.integerCounts)).toMatch(
      /must hold whole counts/,
    );
    expect(incompatibility({ normalize: 'clr', zeros: 'none' }, true)).toMatch(/replace zeros first/);
    expect(incompatibility({ normalize: 'clr', zeros: 'pseudo' }, true)).toBeNull();
  });
});

describe('grouped, stratified folds', () => {
  it('no group on both sides; class counts per fold within one group of the ideal; seeded', () => {
    const rng = new Rng(9);
    const n = 263;
    const groups = Int32Array.from({ length: n }, (_, i) => (i < 60 ? Math.floor(i / 3) : i)); // some subjects with 3 samples
    const labels = Int32Array.from({ length: n }, (_, i) => (groups[i]! % 3 === 0 ? 1 : 0));
    for (let t = 0; t < 3; t++) {
      const k = 5,
        fold = stratifiedGroupFolds(labels, groups, k, 100 + t);
      const foldOfGroup = new Map<number, number>();
      groups.forEach((g, i) => {
        const f = foldOfGroup.get(g);
        if (f !== undefined) expect(fold[i]).toBe(f);
        foldOfGroup.set(g, fold[i]!);
      });
      for (let c = 0; c < 2; c++) {
        const total = labels.filter((l) => l === c).length;
        for (let f = 1; f <= k; f++) {
          const inFold = labels.filter((l, i) => l === c && fold[i] === f).length;
          expect(Math.abs(inFold - total / k)).toBeLessThanOrEqual(3);
        }
      }
      expect(Array.from(stratifiedGroupFolds(labels, groups, k, 100 + t))).toEqual(Array.from(fold));
      rng.next();
    }
    expect(() => stratifiedGroupFolds(labels, groups, 1, 1)).toThrow(/argument 'k' must be an integer ≥ 2, got 1/);
    expect(Array.from(stratifyTarget(Float64Array.of(5, 1, 3, 2, 4), 5))).toEqual([4, 0, 2, 1, 3]);
  });
});

describe('linear floor models', () => {
  it('solveSpd solves a 3×3 system; ridge with λ → 0 is least squares; logistic separates a separable set', () => {
    const x = solveSpd(Float64Array.of(4, 2, 0, 2, 5, 1, 0, 1, 3), Float64Array.of(2, 3, 1), 3);
    const a = [
      [4, 2, 0],
      [2, 5, 1],
      [0, 1, 3],
    ];
    a.forEach((row, i) => {
      expect(row.reduce((s, v, j) => s + v * x[j]!, 0)).toBeCloseTo([2, 3, 1][i]!, 12);
    });
    // y = 1 + 2a − b exactly: ridge with a tiny λ recovers it on new rows.
    const xs = Float64Array.of(0, 0, 1, 0, 0, 1, 1, 1, 2, 1, 3, 2);
    const y = [1, 3, 0, 2, 4, 5];
    const pred = ridgePredict(xs, 6, 2, y, [0, 1, 2, 3, 4], 1e-9);
    expect(pred[5]).toBeCloseTo(5, 6);
    const lx = Float64Array.from({ length: 40 }, (_, i) => (i < 20 ? -1 - (i % 5) * 0.1 : 1 + (i % 5) * 0.1));
    const labels = Int32Array.from({ length: 40 }, (_, i) => (i < 20 ? 0 : 1));
    const probs = logisticPredict(
      lx,
      40,
      1,
      labels,
      2,
      Array.from({ length: 40 }, (_, i) => i),
    );
    for (let i = 0; i < 40; i++) expect(probs[i * 2 + labels[i]!]!).toBeGreaterThan(0.5);
  });

  it('classification metrics against a hand count', () => {
    // truth 0,0,1,1; predicted 0,1,1,1: accuracy 3/4; F1 class 0 = 2/3, class 1 = 0.8; AUC of P(1) = 1 (perfect ranking).
    const m = classificationMetrics(
      Int32Array.of(0, 0, 1, 1),
      Float64Array.of(0.9, 0.1, 0.4, 0.6, 0.2, 0.8, 0.1, 0.9),
      2,
    );
    expect(m['accuracy']).toBe(0.75);
    expect(m['f1_macro']).toBeCloseTo((2 / 3 + 0.8) / 2, 12);
    expect(m['f1_weighted']).toBeCloseTo((2 / 3 + 0.8) / 2, 12);
    expect(m['roc_auc']).toBe(1);
  });
});

describe('sample graphs and the choice tree', () => {
  it('Aitchison and Bray–Curtis distances against hand values; the kNN graph links each sample to its nearest', () => {
    const c = Float64Array.of(1, 3, 2, 2, 0, 4);
    const bc = sampleDistances(c, 2, 3, 'braycurtis');
    // proportions (1/6, 1/2, 1/3) and (1/3, 0, 2/3): Σ|a−b| = 1/6 + 1/2 + 1/3 = 1, Σ(a+b) = 2.
    expect(bc[1]).toBeCloseTo(0.5, 12);
    const clr = (v: number[]): number[] => {
      const l = v.map((x) => Math.log(x + 1));
      const m = l.reduce((a, b) => a + b, 0) / l.length;
      return l.map((x) => x - m);
    };
    const u = clr([1, 3, 2]),
      w = clr([2, 0, 4]);
    expect(sampleDistances(c, 2, 3, 'aitchison')[1]).toBeCloseTo(
      Math.sqrt(u.reduce((s, x, j) => s + (x - w[j]!) ** 2, 0)),
      12,
    );
    const g = compositionGraph(Float64Array.of(10, 0, 9, 1, 0, 10, 1, 9), 4, 2, 'braycurtis', 1);
    expect(Array.from(g.src)).toEqual([0, 2]);
    expect(Array.from(g.dst)).toEqual([1, 3]);
  });

  it('the choice tree splits first on the choice that moves the score most', () => {
    const rows = [];
    for (const normalize of ['tss', 'clr', 'css'] as const)
      for (const model of ['rf', 'logistic'] as const)
        for (const augment of ['none', 'balanced'] as const) {
          const mean =
            (normalize === 'clr' ? 0.8 : 0.6) + (model === 'rf' ? 0.02 : 0) + (augment === 'balanced' ? 0.005 : 0);
          rows.push({ normalize, zeros: 'pseudo' as const, augment, model, metrics: { f1_weighted: { mean, sd: 0 } } });
        }
    const tree = choiceTree(rows, 'f1_weighted', 4);
    expect(tree.choice).toBe('normalize = clr');
    expect(tree.yes!.mean).toBeCloseTo(0.8125, 12);
    expect(tree.runs).toBe(12);
  });
});

describe('a microbiome study', () => {
  it('every model beats chance on a planted signal under grouped folds; each sample is tested once per repeat; augmentation stays in training', async () => {
    const d = loadMicrobiome({ counts: countsFile, meta: metaFile, label: 'diagnosis', group: 'subject' });
    const rt = await Runtime.create({ threads: 1 });
    try {
      const settings = { ...MB_MODEL_DEFAULTS, forest: { trees: 60, bins: 16 }, ensemble: 2, epochs: 60, threads: 1 };
      for (const augment of ['none', 'balanced'] as const) {
        const r = await runMbStudy(rt, d, {
          ...MB_DEFAULTS,
          augment,
          models: ['rf', 'logistic', 'mlp', 'gcn'],
          k: 3,
          repeats: 2,
          knn: 5,
          settings,
        });
        for (const m of ['rf', 'logistic', 'mlp', 'gcn'])
          expect(r.summary[m]!['roc_auc']!.mean, `${m} ${augment}`).toBeGreaterThan(0.75);
        for (const m of ['rf', 'logistic']) {
          for (const rep of [1, 2]) {
            const tested = r.predictions
              .filter((p) => p.model === m && p.repeat === rep)
              .map((p) => p.sample)
              .sort((a, b) => a - b);
            expect(tested).toEqual(Array.from({ length: 60 }, (_, i) => i)); // originals only: no copy is ever tested
          }
        }
        expect(r.folds.filter((f) => f.model === 'mlp').every((f) => f.metrics['ensemble_sd']! >= 0)).toBe(true);
      }
      const reg = await runMbStudy(
        rt,
        loadMicrobiome({ counts: countsFile, meta: metaFile, target: 'score', group: 'subject' }),
        { ...MB_DEFAULTS, models: ['rf', 'logistic'], k: 3, repeats: 1, settings },
      );
      expect(reg.task).toBe('regression');
      for (const m of ['rf', 'logistic']) expect(reg.summary[m]!['r']!.mean, m).toBeGreaterThan(0.6);
    } finally {
      await rt.close();
    }
  }, 60_000);

  it('graft mb writes results.json, folds.csv and predictions.csv (sample id first), fold metrics and a report; bad flags exit 2', () => {
    const out = join(dir, 'run');
    const r = runGraft([
      'mb',
      '--counts',
      countsFile,
      '--meta',
      metaFile,
      '--label',
      'diagnosis',
      '--group',
      'subject',
      '--models',
      'rf,logistic',
      '--k',
      '3',
      '--repeats',
      '2',
      '--trees',
      '50',
      '--threads',
      '2',
      '--out',
      out,
      '--quiet',
    ]);
    expect(r.status, r.stderr).toBe(0);
    expect(readdirSync(out).sort()).toEqual([
      'f1_weighted.svg',
      'f1_weighted.vl.json',
      'fold-metrics.csv',
      'folds.csv',
      'predictions.csv',
      'report.md',
      'results.json',
      'roc_auc.svg',
      'roc_auc.vl.json',
    ]);
    const res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as {
      models: Record<string, Record<string, { mean: number }>>;
    };
    expect(Object.keys(res.models)).toEqual(['rf', 'logistic']);
    expect(res.models['rf']!['roc_auc']!.mean).toBeGreaterThan(0.75);
    const folds = readFileSync(join(out, 'folds.csv'), 'utf8').trim().split('\n');
    expect(folds[0]).toBe('sample_id,group,repeat_1,repeat_2');
    expect(folds).toHaveLength(61);
    const pred = readFileSync(join(out, 'predictions.csv'), 'utf8').trim().split('\n');
    expect(pred[0]).toBe('sample_id,model,repeat,fold,observed,predicted,p_CD,p_no,ensemble_sd');
    expect(pred).toHaveLength(1 + 2 * 2 * 60);
    const bad = runGraft([
      'mb',
      '--counts',
      countsFile,
      '--meta',
      metaFile,
      '--label',
      'diagnosis',
      '--normalize',
      'clr',
      '--zeros',
      'none',
      '--out',
      join(dir, 'bad'),
    ]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(
      /--normalize clr with --zeros none: the CLR needs every count positive: replace zeros first/,
    );
    const both = runGraft([
      'mb',
      '--counts',
      countsFile,
      '--meta',
      metaFile,
      '--label',
      'diagnosis',
      '--target',
      'score',
    ]);
    expect(both.status).toBe(2);
    expect(both.stderr).toMatch(/give --label COL \(classes\) or --target COL \(a number\), one of the two/);
  });
});
