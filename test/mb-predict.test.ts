import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/core/random.js';
import { loadMicrobiome, type MicrobiomeData } from '../src/microbiome/data.js';
import { alignTaxa, fitKeptModel, loadKeptModel, saveKeptModel, scoreKeptModel } from '../src/microbiome/kept-model.js';
import { MB_MODEL_DEFAULTS, runMbModel, type MbModel } from '../src/microbiome/models.js';
import { applyPreprocessing, fitPreprocessing, preprocess } from '../src/microbiome/pipeline.js';
import type { Normalization } from '../src/microbiome/normalize.js';
import { closeForestPool, fitForest } from '../src/microbiome/random-forest.js';
import { logisticPredict, ridgePredict, standardize, standardizer } from '../src/microbiome/linear.js';
import type { ZeroReplacement } from '../src/microbiome/zeros.js';
import type { Augmentation } from '../src/microbiome/augment.js';
import { withAugmented } from '../src/microbiome/study.js';
import { Runtime } from '../src/runtime/runtime.js';
import { runGraft, tempDir } from './helpers.js';

// graft mb --keep-model and graft predict on its run. The oracle of "a new sample scored by
// the kept model" is the study's own path: the same sample as a test row of a fold whose
// training rows are the kept model's samples (runMbModel on the table with it), which must
// give the same bits for every per-sample preprocessing.

const dir = tempDir('graft-mb-predict-');
const put = (name: string, text: string): string => { writeFileSync(join(dir, name), text); return join(dir, name); };
const P = 14, N = 36;
const taxa = Array.from({ length: P }, (_, j) => `g__taxon_${j}`);

/** N samples × P taxa, class 'CD' enriched in taxa 0-2 and depleted in 3-5, a numeric score; every taxon in most samples. */
function synthetic(): { ids: string[]; rows: number[][]; cls: string[]; score: number[] } {
  const rng = new Rng(11);
  const poisson = (lambda: number): number => { let k = 0, t = Math.exp(-lambda), s = t; const u = rng.next(); while (u > s && k < 200) { k++; t *= lambda / k; s += t; } return k; };
  const ids: string[] = [], rows: number[][] = [], cls: string[] = [], score: number[] = [];
  for (let i = 0; i < N; i++) {
    const c = i % 2;
    rows.push(Array.from({ length: P }, (_, j) => poisson((j < 6 ? 6 : 2) * (j < 3 ? (c ? 3 : 0.6) : j < 6 ? (c ? 0.5 : 2.5) : 1)) + (j === 0 ? 1 : 0)));
    ids.push(`s${i}`); cls.push(c ? 'CD' : 'no'); score.push(+(c * 4 + rng.next()).toFixed(3));
  }
  return { ids, rows, cls, score };
}
const S = synthetic();
const countsCsv = (keep: (i: number) => boolean, cols = taxa.map((_, j) => j), extra: string | null = null): string =>
  [['sample_id', ...cols.map((j) => taxa[j]!), ...(extra ? [extra] : [])].join(','),
    ...S.ids.flatMap((id, i) => (keep(i) ? [[id, ...cols.map((j) => S.rows[i]![j]!), ...(extra ? [7] : [])].join(',')] : []))].join('\n') + '\n';
const metaCsv = (keep: (i: number) => boolean): string =>
  ['sample_id,diagnosis,score', ...S.ids.flatMap((id, i) => (keep(i) ? [`${id},${S.cls[i]},${S.score[i]}`] : []))].join('\n') + '\n';

const HELD = 7;
const allCounts = put('all-counts.csv', countsCsv(() => true));
const allMeta = put('all-meta.csv', metaCsv(() => true));
const fitCounts = put('fit-counts.csv', countsCsv((i) => i !== HELD));
const fitMeta = put('fit-meta.csv', metaCsv((i) => i !== HELD));
const settings = { ...MB_MODEL_DEFAULTS, forest: { trees: 25, bins: 16 }, threads: 1 };
const SEED = 1;

/** The in-fit score of sample HELD: a fold of the whole table with every other sample training and HELD its test row. */
async function inFitScore(rt: Runtime, d: MicrobiomeData, model: MbModel, normalize: Normalization, zeros: ZeroReplacement, augment: Augmentation = 'none'): Promise<Float64Array> {
  const rows = Array.from({ length: d.n }, (_, i) => i).filter((i) => i !== HELD);
  const t = withAugmented(d, rows, augment, SEED);
  const x = preprocess(t.counts, t.n, d.p, { normalize, zeros, seed: SEED });
  const fit = Int32Array.from([...rows, ...Array.from({ length: t.n - d.n }, (_, c) => d.n + c)]);
  const r = await runMbModel(rt, model, { x, n: t.n, p: d.p, labels: t.labels, classes: d.classNames.length, target: t.target, fit, val: new Int32Array(0), test: Int32Array.of(HELD), graph: null, seed: SEED }, settings);
  // The study's path checked against the models' own table-wide functions (which score every row of the table at once).
  const K = d.labels ? d.classNames.length : 1, p = d.p;
  let direct: Float64Array;
  if (model === 'logistic') {
    const z = standardize(x, p, standardizer(x, p, fit));
    direct = (d.labels ? logisticPredict(z, t.n, p, t.labels!, K, fit) : ridgePredict(z, t.n, p, t.target!, fit)).slice(HELD * K, HELD * K + K);
  } else {
    const xs = new Float32Array(fit.length * p);
    fit.forEach((i, r) => { for (let j = 0; j < p; j++) xs[r * p + j] = x[i * p + j]!; });
    const y = d.labels ? Int32Array.from(fit, (i) => t.labels![i]!) : Float64Array.from(fit, (i) => t.target![i]!);
    const forest = fitForest({ x: xs, n: fit.length, f: p, y }, { ...settings.forest, task: d.labels ? 'classification' : 'regression', ...(d.labels ? { classes: K } : {}), seed: SEED });
    direct = forest.predict(Float32Array.from(x.subarray(HELD * p, HELD * p + p)), 1);
  }
  expect(Array.from(r.scores)).toEqual(Array.from(direct));
  return r.scores;
}

let rt: Runtime;
beforeAll(async () => { rt = await Runtime.create({ threads: 1 }); });
afterAll(async () => { await closeForestPool(); await rt.close(); });

describe('a kept microbiome model', () => {
  it('scores a held-out sample with the bits of the in-fit path, for rf and logistic/ridge, classes and targets, per-sample preprocessings, with and without augmentation; the file alone is enough', async () => {
    const combos: [Normalization, ZeroReplacement, Augmentation][] = [['tss', 'pseudo', 'none'], ['clr', 'multrepl', 'none'], ['none', 'none', 'none'], ['tss', 'pseudo', 'balanced']];
    for (const outcome of [{ label: 'diagnosis' }, { target: 'score' }]) {
      const all = loadMicrobiome({ counts: allCounts, meta: allMeta, ...outcome });
      const kept = loadMicrobiome({ counts: fitCounts, meta: fitMeta, ...outcome });
      expect(kept.taxa).toEqual(all.taxa);
      for (const [normalize, zeros, augment] of combos) {
        for (const model of ['rf', 'logistic'] as const) {
          const want = await inFitScore(rt, all, model, normalize, zeros, augment);
          const k = await fitKeptModel(kept, model, { normalize, zeros, augment, seed: SEED, minPrevalence: 0, settings });
          expect(k.trainedOn.rows - k.trainedOn.samples).toBe(augment === 'balanced' && 'label' in outcome ? 1 : augment === 'balanced' ? N - 1 : 0);
          const file = join(dir, `m-${model}-${normalize}-${augment}.safetensors`);
          saveKeptModel(file, k);
          const back = loadKeptModel(file);
          // The new sample's raw counts with the taxa in another order and one the model never saw.
          const order = taxa.map((_, j) => j).reverse();
          const row = Float64Array.from([...order.map((j) => S.rows[HELD]![j]!), 5]);
          const a = alignTaxa(back.taxa, [...order.map((j) => taxa[j]!), 'g__unseen'], row, 1);
          expect(a.unknown).toEqual(['g__unseen']);
          const got = scoreKeptModel(back, a.counts, 1);
          expect(Array.from(got), `${model} ${normalize}/${zeros}/${augment} ${Object.keys(outcome)[0]}`).toEqual(Array.from(want));
          expect(got.every((v, c) => Object.is(v, want[c]))).toBe(true);
        }
      }
    }
  }, 30_000);

  it('preprocessings that learn from the table keep what they learned: the training table gets preprocess\'s bits; new samples are scored each on its own', async () => {
    const d = loadMicrobiome({ counts: allCounts, meta: allMeta, label: 'diagnosis' });
    for (const [normalize, zeros] of [['com', 'none'], ['css', 'none'], ['mclr', 'none'], ['rarefy', 'none'], ['clr', 'gbm']] as const) {
      const o = { normalize, zeros, seed: 3 };
      const f = fitPreprocessing(d.counts, d.n, d.p, o);
      if (normalize !== 'rarefy' && zeros !== 'gbm') {
        // Oracle: the table-wide function on the same table.
        expect(applyPreprocessing(f, d.counts, d.n, d.p)).toEqual(preprocess(d.counts, d.n, d.p, o));
      }
      // A sample alone or among others: the same bits.
      const batch = applyPreprocessing(f, d.counts.subarray(0, 5 * d.p), 5, d.p);
      for (let i = 0; i < 5; i++) expect(applyPreprocessing(f, d.counts.subarray(i * d.p, (i + 1) * d.p), 1, d.p)).toEqual(batch.subarray(i * d.p, (i + 1) * d.p));
      if (normalize === 'rarefy') for (let i = 0; i < 5; i++) expect(batch.subarray(i * d.p, (i + 1) * d.p).reduce((a, b) => a + b, 0)).toBe(f.rarefyDepth);
      if (normalize === 'com') {
        const minTotal = Math.min(...Array.from({ length: d.n }, (_, i) => S.rows[i]!.reduce((a, b) => a + b, 0)));
        expect(f.common).toBe(minTotal);
      }
    }
    // GBM for a new sample by hand: t_j from the training column sums, s = 1/geomean(t), zeros r_j = t_j·s/(N+s)
    // (capped at 0.65 × the column's smallest training proportion), nonzeros closed and scaled by 1 − Σ r.
    const train = d.counts.subarray(0, 30 * d.p), f = fitPreprocessing(train, 30, d.p, { normalize: 'none', zeros: 'gbm', seed: 1 });
    const x = Float64Array.from(d.counts.subarray(32 * d.p, 33 * d.p));
    x[4] = 0; x[9] = 0;
    const got = applyPreprocessing(f, x, 1, d.p);
    const col = Array.from({ length: d.p }, (_, j) => { let s = 0; for (let i = 0; i < 30; i++) s += train[i * d.p + j]!; return s; });
    const minProp = Array.from({ length: d.p }, (_, j) => Math.min(...Array.from({ length: 30 }, (_, i) => { const v = train[i * d.p + j]!, t = train.subarray(i * d.p, (i + 1) * d.p).reduce((a, b) => a + b, 0); return v > 0 ? v / t : Infinity; })));
    const t = col.map((c) => c / col.reduce((a, b) => a + b, 0)), s = 1 / Math.exp(t.reduce((a, v) => a + Math.log(v), 0) / d.p), total = x.reduce((a, b) => a + b, 0);
    const r = t.map((tj, j) => { const r0 = (tj * s) / (total + s); return x[j]! > 0 ? 0 : r0 > minProp[j]! ? 0.65 * minProp[j]! : r0; });
    const imputed = r.reduce((a, b) => a + b, 0);
    const want = Array.from(x, (v, j) => (v > 0 ? (v / total) * (1 - imputed) : r[j]!));
    for (let j = 0; j < d.p; j++) expect(got[j]).toBeCloseTo(want[j]!, 14);
    expect(got.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });
});

describe('graft mb --keep-model and graft predict', () => {
  it('keeps the best model, and graft predict writes id,predicted,p_<class> with the in-fit bits; absent and unknown taxa are reported and handled', async () => {
    const run = join(dir, 'run-cls');
    const r = runGraft(['mb', '--counts', fitCounts, '--meta', fitMeta, '--label', 'diagnosis', '--models', 'rf,logistic', '--k', '3', '--repeats', '1', '--trees', '25',
      '--min-prevalence', '0', '--threads', '1', '--keep-model', '--out', run, '--quiet']);
    expect(r.status, r.stderr).toBe(0);
    const res = JSON.parse(readFileSync(join(run, 'results.json'), 'utf8')) as { models: Record<string, Record<string, { mean: number }>>; kept_model: { model: MbModel; file: string; chosen_by: string }; inputs: Record<string, { path: string; sha256: string }> };
    const best = (['rf', 'logistic'] as const).reduce((a, b) => (res.models[b]!['roc_auc']!.mean > res.models[a]!['roc_auc']!.mean ? b : a));
    expect(res.kept_model.model).toBe(best);
    expect(res.kept_model.chosen_by).toBe('best roc_auc');
    expect(Object.keys(res.inputs).sort()).toEqual(['counts', 'meta']);
    expect(existsSync(join(run, res.kept_model.file))).toBe(true);

    // The held-out sample, a training sample, and the held-out sample again with taxon 3 missing and an unknown taxon.
    const newCounts = put('new.csv', countsCsv((i) => i === HELD || i === 2));
    const p = runGraft(['predict', '--run', run, '--counts', newCounts]);
    expect(p.status, p.stderr).toBe(0);
    const lines = p.stdout.trim().split('\n');
    expect(lines[0]).toBe('id,predicted,p_CD,p_no');
    expect(lines.map((l) => l.split(',')[0])).toEqual(['id', 's2', 's7']);
    const all = loadMicrobiome({ counts: allCounts, meta: allMeta, label: 'diagnosis' });
    const want = await inFitScore(rt, all, best, 'tss', 'pseudo');
    const row = lines[2]!.split(',');
    expect([Number(row[2]), Number(row[3])]).toEqual(Array.from(want));
    expect(row[1]).toBe(want[0]! > want[1]! ? 'CD' : 'no');

    const cols = taxa.map((_, j) => j).filter((j) => j !== 3);
    const odd = put('odd.csv', countsCsv((i) => i === HELD, cols, 'g__unseen'));
    const q = runGraft(['predict', '--run', run, '--counts', odd, '--out', join(dir, 'odd-pred.csv')]);
    expect(q.status, q.stderr).toBe(0);
    expect(q.stderr).toMatch(/13 of the model's 14 taxa found/);
    expect(q.stderr).toMatch(/1 of the model's taxa is absent from .*odd\.csv and counts 0: "g__taxon_3"/);
    expect(q.stderr).toMatch(/1 taxon of .*odd\.csv is not in the model and dropped: "g__unseen"/);
    // Oracle: the same sample with taxon 3 set to 0 and no unknown column.
    const zeroed = S.rows[HELD]!.map((v, j) => (j === 3 ? 0 : v));
    const same = put('zeroed.csv', `sample_id,${taxa.join(',')}\ns7,${zeroed.join(',')}\n`);
    const z = runGraft(['predict', '--run', run, '--counts', same]);
    expect(readFileSync(join(dir, 'odd-pred.csv'), 'utf8').trim().split('\n')[1]).toBe(z.stdout.trim().split('\n')[1]);

    // Transposed (taxa × samples) gives the same file.
    const tr = put('new-t.csv', ['taxon,s2,s7', ...taxa.map((t, j) => `${t},${S.rows[2]![j]},${S.rows[HELD]![j]}`)].join('\n') + '\n');
    expect(runGraft(['predict', '--run', run, '--counts', tr, '--transpose']).stdout).toBe(p.stdout);

    // Bad input: no model taxon at all; a sample with no reads in the model's taxa; explain on this run; a run kept without a model.
    const none = runGraft(['predict', '--run', run, '--counts', put('none.csv', 'sample_id,a,b\nx,1,2\n')]);
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/none of the model's 14 taxa is in the file/);
    const empty = runGraft(['predict', '--run', run, '--counts', put('empty.csv', `sample_id,${taxa[0]},zz\nx,0,9\n`)]);
    expect(empty.status).toBe(2);
    expect(empty.stderr).toMatch(/empty\.csv:2: sample "x" has no reads in the model's 14 taxa/);
    // A damaged model file is refused in one line naming it.
    const modelFile = join(run, res.kept_model.file), good = readFileSync(modelFile);
    const bad = Buffer.from(good);
    bad[bad.length - 3]! ^= 0xff;
    writeFileSync(modelFile, bad);
    const dmg = runGraft(['predict', '--run', run, '--counts', newCounts]);
    writeFileSync(modelFile, good);
    expect(dmg.status).toBe(2);
    expect(dmg.stderr.trim().split('\n')).toHaveLength(1);
    expect(dmg.stderr).toContain(modelFile);
    // graft explain reads an mb run (SHAP values of its kept model; test/explain-mb.test.ts checks them).
    const ex = runGraft(['explain', '--run', run, '--method', 'kernelshap', '--count', '2', '--quiet']);
    expect(ex.status, ex.stderr).toBe(0);
    expect(existsSync(join(run, 'explain', 'shap.csv'))).toBe(true);
  }, 30_000);

  it('a regression run writes id,prediction; --keep-model NAME keeps that model; --keep-model of a model that cannot be kept, and --knn of at least the sample count, are one-line errors', async () => {
    const run = join(dir, 'run-reg');
    const r = runGraft(['mb', '--counts', fitCounts, '--meta', fitMeta, '--target', 'score', '--models', 'rf,logistic', '--k', '3', '--repeats', '1', '--trees', '25',
      '--min-prevalence', '0', '--normalize', 'clr', '--zeros', 'multrepl', '--threads', '1', '--keep-model', 'logistic', '--out', run, '--quiet']);
    expect(r.status, r.stderr).toBe(0);
    const p = runGraft(['predict', '--run', run, '--counts', put('one.csv', countsCsv((i) => i === HELD)), '--quiet']);
    expect(p.status, p.stderr).toBe(0);
    const lines = p.stdout.trim().split('\n');
    expect(lines[0]).toBe('id,prediction');
    const all = loadMicrobiome({ counts: allCounts, meta: allMeta, target: 'score' });
    expect(Number(lines[1]!.split(',')[1])).toBe((await inFitScore(rt, all, 'logistic', 'clr', 'multrepl'))[0]);

    const base = ['mb', '--counts', fitCounts, '--meta', fitMeta, '--label', 'diagnosis', '--out', join(dir, 'bad'), '--quiet'];
    const mlp = runGraft([...base, '--models', 'mlp,logistic', '--keep-model', 'mlp']);
    expect(mlp.status).toBe(2);
    expect(mlp.stderr).toMatch(/--keep-model must be rf or logistic .*mlp cannot be kept yet/);
    const knn = runGraft([...base, '--models', 'logistic', '--knn', String(N - 1)]);
    expect(knn.status).toBe(2);
    expect(knn.stderr.trim().split('\n')).toHaveLength(1);
    expect(knn.stderr).toMatch(new RegExp(`--knn ${N - 1} must be less than the number of samples \\(${N - 1}\\)`));
    const noKeep = join(dir, 'no-keep');
    expect(runGraft(['mb', '--counts', fitCounts, '--meta', fitMeta, '--label', 'diagnosis', '--models', 'logistic', '--k', '3', '--repeats', '1', '--out', noKeep, '--quiet']).status).toBe(0);
    const q = runGraft(['predict', '--run', noKeep, '--counts', fitCounts]);
    expect(q.status).toBe(2);
    expect(q.stderr).toMatch(/this microbiome run kept no model .*run graft mb again with --keep-model/);
  }, 30_000);
});
