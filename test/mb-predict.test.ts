import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/core/random.js';
import { loadCheckpoint, saveCheckpoint } from '../src/train/checkpoint.js';
import { loadMicrobiome, type MicrobiomeData } from '../src/microbiome/data.js';
import { alignTaxa, fitKeptModel, loadKeptModel, saveKeptModel, scoreKeptModel } from '../src/microbiome/kept-model.js';
import { MB_MODEL_DEFAULTS, runMbModel, type MbModel, type MbModelSettings } from '../src/microbiome/models.js';
import { applyPreprocessing, fitPreprocessing, preprocess } from '../src/microbiome/pipeline.js';
import type { Normalization } from '../src/microbiome/normalize.js';
import { closeForestPool, fitForest } from '../src/microbiome/random-forest.js';
import { logisticPredict, ridgePredict, standardize, standardizer } from '../src/microbiome/linear.js';
import type { ZeroReplacement } from '../src/microbiome/zeros.js';
import type { Augmentation } from '../src/microbiome/augment.js';
import { validationSplit, withAugmented } from '../src/microbiome/study.js';
import { compositionGraph, sampleDistances } from '../src/microbiome/pipeline.js';
import type { FittedNeuralModel } from '../src/microbiome/models.js';
import { KIPF_DEFAULTS, predictNodes } from '../src/train/node-trainer.js';
import { Runtime } from '../src/runtime/runtime.js';
import { runGraft, tempDir } from './helpers.js';

// graft mb --keep-model and graft predict on its run. The oracle of "a new sample scored by
// the kept model" is the study's own path: the same sample as a test row of a fold whose
// training rows are the kept model's samples (runMbModel on the table with it), which must
// give the same bits for every per-sample preprocessing.

const dir = tempDir('graft-mb-predict-');
const put = (name: string, text: string): string => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};
const P = 14,
  N = 36;
const taxa = Array.from({ length: P }, (_, j) => `g__taxon_${j}`);

/** N samples × P taxa, class 'CD' enriched in taxa 0-2 and depleted in 3-5, a numeric score; every taxon in most samples. */
function synthetic(): { ids: string[]; rows: number[][]; cls: string[]; score: number[] } {
  const rng = new Rng(11);
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
  const ids: string[] = [],
    rows: number[][] = [],
    cls: string[] = [],
    score: number[] = [];
  for (let i = 0; i < N; i++) {
    const c = i % 2;
    rows.push(
      Array.from(
        { length: P },
        (_, j) => poisson((j < 6 ? 6 : 2) * (j < 3 ? (c ? 3 : 0.6) : j < 6 ? (c ? 0.5 : 2.5) : 1)) + (j === 0 ? 1 : 0),
      ),
    );
    ids.push(`s${i}`);
    cls.push(c ? 'CD' : 'no');
    score.push(+(c * 4 + rng.next()).toFixed(3));
  }
  return { ids, rows, cls, score };
}
const S = synthetic();
const countsCsv = (keep: (i: number) => boolean, cols = taxa.map((_, j) => j), extra: string | null = null): string =>
  `${[
    ['sample_id', ...cols.map((j) => taxa[j]!), ...(extra ? [extra] : [])].join(','),
    ...S.ids.flatMap((id, i) =>
      keep(i) ? [[id, ...cols.map((j) => S.rows[i]![j]!), ...(extra ? [7] : [])].join(',')] : [],
    ),
  ].join('\n')}\n`;
const metaCsv = (keep: (i: number) => boolean): string =>
  `${['sample_id,diagnosis,score', ...S.ids.flatMap((id, i) => (keep(i) ? [`${id},${S.cls[i]},${S.score[i]}`] : []))].join('\n')}\n`;

const HELD = 7;
const allCounts = put(
  'all-counts.csv',
  countsCsv(() => true),
);
const allMeta = put(
  'all-meta.csv',
  metaCsv(() => true),
);
const fitCounts = put(
  'fit-counts.csv',
  countsCsv((i) => i !== HELD),
);
const fitMeta = put(
  'fit-meta.csv',
  metaCsv((i) => i !== HELD),
);
const settings = { ...MB_MODEL_DEFAULTS, forest: { trees: 25, bins: 16 }, threads: 1 };
const SEED = 1;
/** The largest in-fit vs kept-GCN difference of a class probability allowed (0.032 measured on this table, 12 epochs). */
const GCN_TOL = 0.1;
const GRAPH = { graph: 'aitchison', knn: 5, valFraction: 0.15 } as const;
/** The networks small and quick: 2 members, 12 epochs. */
const nnSettings = { ...settings, ensemble: 2, hidden: 16, epochs: 12, patience: 0 };

/** The in-fit score of sample HELD: a fold of the whole table with every other sample training and HELD its test row. */
async function inFitScore(
  rt: Runtime,
  d: MicrobiomeData,
  model: MbModel,
  normalize: Normalization,
  zeros: ZeroReplacement,
  augment: Augmentation = 'none',
): Promise<Float64Array> {
  const rows = Array.from({ length: d.n }, (_, i) => i).filter((i) => i !== HELD);
  const t = withAugmented(d, rows, augment, SEED);
  const x = preprocess(t.counts, t.n, d.p, { normalize, zeros, seed: SEED });
  const fit = Int32Array.from([...rows, ...Array.from({ length: t.n - d.n }, (_, c) => d.n + c)]);
  const r = await runMbModel(
    rt,
    model,
    {
      x,
      n: t.n,
      p: d.p,
      labels: t.labels,
      classes: d.classNames.length,
      target: t.target,
      fit,
      val: new Int32Array(0),
      test: Int32Array.of(HELD),
      graph: null,
      seed: SEED,
    },
    settings,
  );
  // The study's path checked against the models' own table-wide functions (which score every row of the table at once).
  const K = d.labels ? d.classNames.length : 1,
    p = d.p;
  let direct: Float64Array;
  if (model === 'logistic') {
    const z = standardize(x, p, standardizer(x, p, fit));
    direct = (d.labels ? logisticPredict(z, t.n, p, t.labels!, K, fit) : ridgePredict(z, t.n, p, t.target!, fit)).slice(
      HELD * K,
      HELD * K + K,
    );
  } else {
    const xs = new Float32Array(fit.length * p);
    fit.forEach((i, r) => {
      for (let j = 0; j < p; j++) xs[r * p + j] = x[i * p + j]!;
    });
    const y = d.labels ? Int32Array.from(fit, (i) => t.labels![i]!) : Float64Array.from(fit, (i) => t.target![i]!);
    const forest = fitForest(
      { x: xs, n: fit.length, f: p, y },
      {
        ...settings.forest,
        task: d.labels ? 'classification' : 'regression',
        ...(d.labels ? { classes: K } : {}),
        seed: SEED,
      },
    );
    direct = forest.predict(Float32Array.from(x.subarray(HELD * p, HELD * p + p)), 1);
  }
  expect(Array.from(r.scores)).toEqual(Array.from(direct));
  return r.scores;
}

/**
 * The in-fit score of the held-out samples by a network: a fold of the whole table with the
 * others training (validation rows drawn from them as the study and the kept model draw them)
 * and the held-out samples its test rows (for the GCN, test nodes of the fold's kNN graph).
 */
async function inFitNeural(
  rt: Runtime,
  d: MicrobiomeData,
  model: 'mlp' | 'gcn',
  held: number[],
  normalize: Normalization,
  zeros: ZeroReplacement,
  augment: Augmentation,
  s: MbModelSettings = nnSettings,
): Promise<Float64Array> {
  const rows = Array.from({ length: d.n }, (_, i) => i).filter((i) => !held.includes(i));
  const { fitOrig, val } = validationSplit(d, rows, GRAPH.valFraction, SEED);
  const t = withAugmented(d, fitOrig, augment, SEED);
  const x = preprocess(t.counts, t.n, d.p, { normalize, zeros, seed: SEED });
  const fit = Int32Array.from([...fitOrig, ...Array.from({ length: t.n - d.n }, (_, c) => d.n + c)]);
  const graph = model === 'gcn' ? compositionGraph(t.counts, t.n, d.p, GRAPH.graph, GRAPH.knn) : null;
  const r = await runMbModel(
    rt,
    model,
    {
      x,
      n: t.n,
      p: d.p,
      labels: t.labels,
      classes: d.classNames.length,
      target: t.target,
      fit,
      val: Int32Array.from(val),
      test: Int32Array.from(held),
      graph,
      seed: SEED,
    },
    s,
  );
  return r.scores;
}

let rt: Runtime;
beforeAll(async () => {
  rt = await Runtime.create({ threads: 1 });
});
afterAll(async () => {
  await closeForestPool();
  await rt.close();
});

describe('a kept microbiome model', () => {
  it('scores a held-out sample with the bits of the in-fit path, for rf and logistic/ridge, classes and targets, per-sample preprocessings, with and without augmentation; the file alone is enough', async () => {
    const combos: [Normalization, ZeroReplacement, Augmentation][] = [
      ['tss', 'pseudo', 'none'],
      ['clr', 'multrepl', 'none'],
      ['none', 'none', 'none'],
      ['tss', 'pseudo', 'balanced'],
    ];
    for (const outcome of [{ label: 'diagnosis' }, { target: 'score' }]) {
      const all = loadMicrobiome({ counts: allCounts, meta: allMeta, ...outcome });
      const kept = loadMicrobiome({ counts: fitCounts, meta: fitMeta, ...outcome });
      expect(kept.taxa).toEqual(all.taxa);
      for (const [normalize, zeros, augment] of combos) {
        for (const model of ['rf', 'logistic'] as const) {
          const want = await inFitScore(rt, all, model, normalize, zeros, augment);
          const k = await fitKeptModel(rt, kept, model, {
            normalize,
            zeros,
            augment,
            seed: SEED,
            minPrevalence: 0,
            settings,
            ...GRAPH,
          });
          expect(k.trainedOn.rows - k.trainedOn.samples).toBe(
            augment === 'balanced' && 'label' in outcome ? 1 : augment === 'balanced' ? N - 1 : 0,
          );
          const file = join(dir, `m-${model}-${normalize}-${augment}.safetensors`);
          saveKeptModel(file, k);
          const back = loadKeptModel(file);
          // The new sample's raw counts with the taxa in another order and one the model never saw.
          const order = taxa.map((_, j) => j).reverse();
          const row = Float64Array.from([...order.map((j) => S.rows[HELD]![j]!), 5]);
          const a = alignTaxa(back.taxa, [...order.map((j) => taxa[j]!), 'g__unseen'], row, 1);
          expect(a.unknown).toEqual(['g__unseen']);
          const got = await scoreKeptModel(rt, back, a.counts, 1);
          expect(Array.from(got), `${model} ${normalize}/${zeros}/${augment} ${Object.keys(outcome)[0]}`).toEqual(
            Array.from(want),
          );
          expect(got.every((v, c) => Object.is(v, want[c]))).toBe(true);
        }
      }
    }
  }, 120_000);

  it("preprocessings that learn from the table keep what they learned: the training table gets preprocess's bits; new samples are scored each on its own", async () => {
    const d = loadMicrobiome({ counts: allCounts, meta: allMeta, label: 'diagnosis' });
    for (const [normalize, zeros] of [
      ['com', 'none'],
      ['css', 'none'],
      ['mclr', 'none'],
      ['rarefy', 'none'],
      ['clr', 'gbm'],
    ] as const) {
      const o = { normalize, zeros, seed: 3 };
      const f = fitPreprocessing(d.counts, d.n, d.p, o);
      if (normalize !== 'rarefy' && zeros !== 'gbm') {
        // Oracle: the table-wide function on the same table.
        expect(applyPreprocessing(f, d.counts, d.n, d.p)).toEqual(preprocess(d.counts, d.n, d.p, o));
      }
      // A sample alone or among others: the same bits.
      const batch = applyPreprocessing(f, d.counts.subarray(0, 5 * d.p), 5, d.p);
      for (let i = 0; i < 5; i++)
        expect(applyPreprocessing(f, d.counts.subarray(i * d.p, (i + 1) * d.p), 1, d.p)).toEqual(
          batch.subarray(i * d.p, (i + 1) * d.p),
        );
      if (normalize === 'rarefy')
        for (let i = 0; i < 5; i++)
          expect(batch.subarray(i * d.p, (i + 1) * d.p).reduce((a, b) => a + b, 0)).toBe(f.rarefyDepth);
      if (normalize === 'com') {
        const minTotal = Math.min(...Array.from({ length: d.n }, (_, i) => S.rows[i]!.reduce((a, b) => a + b, 0)));
        expect(f.common).toBe(minTotal);
      }
    }
    // GBM for a new sample by hand: t_j from the training column sums, s = 1/geomean(t), zeros r_j = t_j·s/(N+s)
    // (capped at 0.65 × the column's smallest training proportion), nonzeros closed and scaled by 1 − Σ r.
    const train = d.counts.subarray(0, 30 * d.p),
      f = fitPreprocessing(train, 30, d.p, { normalize: 'none', zeros: 'gbm', seed: 1 });
    const x = Float64Array.from(d.counts.subarray(32 * d.p, 33 * d.p));
    x[4] = 0;
    x[9] = 0;
    const got = applyPreprocessing(f, x, 1, d.p);
    const col = Array.from({ length: d.p }, (_, j) => {
      let s = 0;
      for (let i = 0; i < 30; i++) s += train[i * d.p + j]!;
      return s;
    });
    const minProp = Array.from({ length: d.p }, (_, j) =>
      Math.min(
        ...Array.from({ length: 30 }, (_, i) => {
          const v = train[i * d.p + j]!,
            t = train.subarray(i * d.p, (i + 1) * d.p).reduce((a, b) => a + b, 0);
          return v > 0 ? v / t : Infinity;
        }),
      ),
    );
    const t = col.map((c) => c / col.reduce((a, b) => a + b, 0)),
      s = 1 / Math.exp(t.reduce((a, v) => a + Math.log(v), 0) / d.p),
      total = x.reduce((a, b) => a + b, 0);
    const r = t.map((tj, j) => {
      const r0 = (tj * s) / (total + s);
      return x[j]! > 0 ? 0 : r0 > minProp[j]! ? 0.65 * minProp[j]! : r0;
    });
    const imputed = r.reduce((a, b) => a + b, 0);
    const want = Array.from(x, (v, j) => (v > 0 ? (v / total) * (1 - imputed) : r[j]!));
    for (let j = 0; j < d.p; j++) expect(got[j]).toBeCloseTo(want[j]!, 14);
    expect(got.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });
});

describe('a kept MLP ensemble or GCN', () => {
  it('MLP: a held-out sample scored by the kept ensemble (saved, reloaded) gets the bits of the in-fit path, classes and targets, with and without augmentation', async () => {
    for (const outcome of [{ label: 'diagnosis' }, { target: 'score' }]) {
      const all = loadMicrobiome({ counts: allCounts, meta: allMeta, ...outcome });
      const kept = loadMicrobiome({ counts: fitCounts, meta: fitMeta, ...outcome });
      for (const [normalize, zeros, augment] of [
        ['clr', 'multrepl', 'none'],
        ['tss', 'pseudo', 'balanced'],
      ] as const) {
        const want = await inFitNeural(rt, all, 'mlp', [HELD], normalize, zeros, augment);
        const k = await fitKeptModel(rt, kept, 'mlp', {
          normalize,
          zeros,
          augment,
          seed: SEED,
          minPrevalence: 0,
          settings: nnSettings,
          ...GRAPH,
        });
        expect((k.model as FittedNeuralModel).members).toHaveLength(2);
        const file = join(dir, `mlp-${normalize}-${augment}-${Object.keys(outcome)[0]}.safetensors`);
        saveKeptModel(file, k);
        const back = loadKeptModel(file);
        const got = await scoreKeptModel(rt, back, Float64Array.from(S.rows[HELD]!), 1);
        expect(Array.from(got), `mlp ${normalize}/${augment} ${Object.keys(outcome)[0]}`).toEqual(Array.from(want));
        expect(got.every((v, c) => Object.is(v, want[c]))).toBe(true);
        // Deterministic, and a sample's scores do not depend on the others scored with it.
        const three = await scoreKeptModel(
          rt,
          back,
          Float64Array.from([...S.rows[3]!, ...S.rows[HELD]!, ...S.rows[20]!]),
          3,
        );
        const width = got.length;
        expect(Array.from(three.subarray(width, 2 * width))).toEqual(Array.from(got));
      }
    }
    // A file whose networks do not fit its own shape, or a version 1 file claiming an MLP, is refused naming the file.
    const file = join(dir, 'mlp-clr-none-target.safetensors'),
      cp = loadCheckpoint(file);
    const meta = JSON.parse(cp.metadata['model']!) as { shape: { hidden: number } };
    meta.shape.hidden = 8;
    saveCheckpoint(join(dir, 'bad-width.safetensors'), {
      tensors: cp.tensors,
      metadata: { ...cp.metadata, model: JSON.stringify(meta) },
    });
    expect(() => loadKeptModel(join(dir, 'bad-width.safetensors'))).toThrow(
      /bad-width\.safetensors: not a usable graft mb model \(nn\.0\.gcn0\.weight is not 112 float32 values\)/,
    );
    saveCheckpoint(join(dir, 'v1-mlp.safetensors'), {
      tensors: cp.tensors,
      metadata: { ...cp.metadata, version: '1' },
    });
    expect(() => loadKeptModel(join(dir, 'v1-mlp.safetensors'))).toThrow(
      /v1-mlp\.safetensors: not a usable graft mb model \(model "mlp" in a version 1 file\)/,
    );
  }, 120_000);

  it('GCN: a new sample joins the stored training graph alone, linked to its k nearest training rows; the scores equal a joined graph built by hand, and lie near the in-fit scores', async () => {
    const held = [HELD, 20, 33];
    const keptCounts = put(
        'fit3-counts.csv',
        countsCsv((i) => !held.includes(i)),
      ),
      keptMeta = put(
        'fit3-meta.csv',
        metaCsv((i) => !held.includes(i)),
      );
    const all = loadMicrobiome({ counts: allCounts, meta: allMeta, label: 'diagnosis' });
    const kept = loadMicrobiome({ counts: keptCounts, meta: keptMeta, label: 'diagnosis' });
    const pre = { normalize: 'clr', zeros: 'multrepl', seed: SEED } as const;
    const k = await fitKeptModel(rt, kept, 'gcn', {
      ...pre,
      augment: 'none',
      minPrevalence: 0,
      settings: nnSettings,
      ...GRAPH,
    });
    const file = join(dir, 'gcn.safetensors');
    saveKeptModel(file, k);
    const back = loadKeptModel(file),
      m = back.model as FittedNeuralModel,
      p = kept.p,
      N = kept.n;
    const fresh = Float64Array.from(held.flatMap((i) => S.rows[i]!));
    const got = await scoreKeptModel(rt, back, fresh, held.length);
    // Oracle, by hand: the stored graph is the kNN graph of the training table, its features the
    // standardized preprocessed rows; the new sample's edges are its K nearest by the table-wide
    // distance over training table + it; the network runs over the joined graph.
    const g = compositionGraph(kept.counts, N, p, 'aitchison', GRAPH.knn);
    expect([Array.from(m.graph!.src), Array.from(m.graph!.dst)]).toEqual([Array.from(g.src), Array.from(g.dst)]);
    const x = preprocess(kept.counts, N, p, pre);
    const { fitOrig } = validationSplit(
      kept,
      Array.from({ length: N }, (_, i) => i),
      GRAPH.valFraction,
      SEED,
    );
    const st = standardizer(x, p, fitOrig);
    expect(Array.from(m.graph!.features)).toEqual(Array.from(Float32Array.from(standardize(x, p, st))));
    for (const [r, i] of held.entries()) {
      const table = Float64Array.from([...kept.counts, ...S.rows[i]!]);
      const d = sampleDistances(table, N + 1, p, 'aitchison').subarray(N * (N + 1), N * (N + 1) + N);
      const near = Array.from({ length: N }, (_, j) => j)
        .sort((a, b) => d[a]! - d[b]! || a - b)
        .slice(0, GRAPH.knn);
      const z = Float32Array.from(standardize(preprocess(Float64Array.from(S.rows[i]!), 1, p, pre), p, st));
      const member = m.members[0]!;
      const ds = {
        name: 'oracle',
        numNodes: N + 1,
        numFeatures: p,
        numClasses: 2,
        features: Float32Array.from([...m.graph!.features, ...z]),
        labels: new Int32Array(N + 1).fill(-1),
        split: { train: new Int32Array(0), val: new Int32Array(0), test: new Int32Array(0) },
        src: Int32Array.from([...g.src, ...near]),
        dst: Int32Array.from([...g.dst, ...near.map(() => N)]),
        ids: [],
      };
      const { probs } = await predictNodes(
        rt,
        ds,
        {
          ...KIPF_DEFAULTS,
          layers: 2,
          hidden: m.hidden,
          dropout: m.dropout,
          weightDecayScope: 'all',
          seed: member.seed,
          featureFormat: 'dense',
        },
        member.weights,
      );
      expect(Array.from(got.subarray(2 * r, 2 * r + 2))).toEqual(Array.from(probs.subarray(2 * N, 2 * N + 2), Number));
      // Alone: the same bits (new samples are never in each other's graph).
      expect(Array.from(await scoreKeptModel(rt, back, Float64Array.from(S.rows[i]!), 1))).toEqual(
        Array.from(got.subarray(2 * r, 2 * r + 2)),
      );
    }
    // In the fit the held-out samples were test nodes of the graph while the weights were
    // trained (their edges the symmetric kNN rule's, and they moved their neighbours' features):
    // not the same bits, but the same model up to that. On this table: within TOL of each other.
    const inFit = await inFitNeural(rt, all, 'gcn', held, 'clr', 'multrepl', 'none');
    for (let c = 0; c < got.length; c++) expect(Math.abs(got[c]! - inFit[c]!), `row ${c >> 1}`).toBeLessThan(GCN_TOL);
    for (let r = 0; r < held.length; r++) expect(got[2 * r]! > got[2 * r + 1]!).toBe(inFit[2 * r]! > inFit[2 * r + 1]!);
  }, 120_000);

  it('the CLI: --keep-model gcn on a target, graft predict writes id,prediction with the in-process scores; --keep-model mlp gives a held-out sample the in-fit bits; a plain --keep-model keeps the best of networks and the rest', async () => {
    const run = join(dir, 'run-gcn-reg');
    const r = runGraft([
      'mb',
      '--counts',
      fitCounts,
      '--meta',
      fitMeta,
      '--target',
      'score',
      '--models',
      'gcn,logistic',
      '--k',
      '3',
      '--repeats',
      '1',
      '--epochs',
      '12',
      '--knn',
      '5',
      '--min-prevalence',
      '0',
      '--threads',
      '1',
      '--keep-model',
      'gcn',
      '--out',
      run,
      '--quiet',
    ]);
    expect(r.status, r.stderr).toBe(0);
    const q = runGraft([
      'predict',
      '--run',
      run,
      '--counts',
      put(
        'gcn-new.csv',
        countsCsv((i) => i === HELD || i === 3),
      ),
    ]);
    expect(q.status, q.stderr).toBe(0);
    expect(q.stderr).toMatch(
      /gcn: each sample joins the model's graph of 35 training rows alone, linked to its 5 nearest by aitchison distance/,
    );
    expect(readFileSync(join(run, 'report.md'), 'utf8')).toMatch(
      /Kept model: gcn \(name\), fitted on all 35 samples with this preprocessing \(15% of them choosing its epoch\), .*each joins the kept training graph alone, linked to its 5 nearest training samples by aitchison distance/,
    );
    const lines = q.stdout.trim().split('\n');
    expect(lines[0]).toBe('id,prediction');
    // Oracle: the kept GCN joined by hand as above is tested in-process; here the CLI's numbers are those of the file's model.
    const back = loadKeptModel(join(run, 'model', 'model.safetensors'));
    expect(back.model.model).toBe('gcn');
    const want = await scoreKeptModel(rt, back, Float64Array.from([...S.rows[3]!, ...S.rows[HELD]!]), 2);
    expect(lines.slice(1).map((l) => Number(l.split(',')[1]))).toEqual(Array.from(want));
    // The fitted values lie in the target's range (a regression, not probabilities).
    for (const v of want) {
      expect(v).toBeGreaterThan(-1);
      expect(v).toBeLessThan(6);
    }

    // Classes: --keep-model mlp through the CLI gives the held-out sample the in-fit bits; a plain --keep-model keeps the run's best, networks included.
    const cli = [
      'mb',
      '--counts',
      fitCounts,
      '--meta',
      fitMeta,
      '--label',
      'diagnosis',
      '--k',
      '3',
      '--repeats',
      '1',
      '--epochs',
      '12',
      '--ensemble',
      '2',
      '--knn',
      '5',
      '--min-prevalence',
      '0',
      '--threads',
      '1',
      '--quiet',
    ];
    const mlpRun = join(dir, 'run-mlp');
    expect(runGraft([...cli, '--models', 'mlp', '--keep-model', 'mlp', '--out', mlpRun]).status).toBe(0);
    const pm = runGraft([
      'predict',
      '--run',
      mlpRun,
      '--counts',
      put(
        'mlp-new.csv',
        countsCsv((i) => i === HELD),
      ),
      '--quiet',
    ]);
    expect(pm.status, pm.stderr).toBe(0);
    const all = loadMicrobiome({ counts: allCounts, meta: allMeta, label: 'diagnosis' });
    const inFit = await inFitNeural(rt, all, 'mlp', [HELD], 'tss', 'pseudo', 'none', {
      ...MB_MODEL_DEFAULTS,
      ensemble: 2,
      epochs: 12,
      threads: 1,
    });
    expect(pm.stdout.trim().split('\n')[1]!.split(',').slice(2).map(Number)).toEqual(Array.from(inFit));
    const bestRun = join(dir, 'run-best');
    expect(runGraft([...cli, '--models', 'logistic,mlp,gcn', '--keep-model', '--out', bestRun]).status).toBe(0);
    const res = JSON.parse(readFileSync(join(bestRun, 'results.json'), 'utf8')) as {
      models: Record<string, Record<string, { mean: number }>>;
      kept_model: { model: MbModel };
    };
    const best = (['logistic', 'mlp', 'gcn'] as const).reduce((a, b) =>
      res.models[b]!['roc_auc']!.mean > res.models[a]!['roc_auc']!.mean ? b : a,
    );
    expect(res.kept_model.model).toBe(best);
    expect(loadKeptModel(join(bestRun, 'model', 'model.safetensors')).model.model).toBe(best);
  }, 120_000);
});

describe('graft mb --keep-model and graft predict', () => {
  it('keeps the best model, and graft predict writes id,predicted,p_<class> with the in-fit bits; absent and unknown taxa are reported and handled', async () => {
    const run = join(dir, 'run-cls');
    const r = runGraft([
      'mb',
      '--counts',
      fitCounts,
      '--meta',
      fitMeta,
      '--label',
      'diagnosis',
      '--models',
      'rf,logistic',
      '--k',
      '3',
      '--repeats',
      '1',
      '--trees',
      '25',
      '--min-prevalence',
      '0',
      '--threads',
      '1',
      '--keep-model',
      '--out',
      run,
      '--quiet',
    ]);
    expect(r.status, r.stderr).toBe(0);
    const res = JSON.parse(readFileSync(join(run, 'results.json'), 'utf8')) as {
      models: Record<string, Record<string, { mean: number }>>;
      kept_model: { model: MbModel; file: string; chosen_by: string };
      inputs: Record<string, { path: string; sha256: string }>;
    };
    const best = (['rf', 'logistic'] as const).reduce((a, b) =>
      res.models[b]!['roc_auc']!.mean > res.models[a]!['roc_auc']!.mean ? b : a,
    );
    expect(res.kept_model.model).toBe(best);
    expect(res.kept_model.chosen_by).toBe('best roc_auc');
    expect(Object.keys(res.inputs).sort()).toEqual(['counts', 'meta']);
    expect(existsSync(join(run, res.kept_model.file))).toBe(true);

    // The held-out sample, a training sample, and the held-out sample again with taxon 3 missing and an unknown taxon.
    const newCounts = put(
      'new.csv',
      countsCsv((i) => i === HELD || i === 2),
    );
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
    const odd = put(
      'odd.csv',
      countsCsv((i) => i === HELD, cols, 'g__unseen'),
    );
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
    const tr = put(
      'new-t.csv',
      `${['taxon,s2,s7', ...taxa.map((t, j) => `${t},${S.rows[2]![j]},${S.rows[HELD]![j]}`)].join('\n')}\n`,
    );
    expect(runGraft(['predict', '--run', run, '--counts', tr, '--transpose']).stdout).toBe(p.stdout);

    // Bad input: no model taxon at all; a sample with no reads in the model's taxa; explain on this run; a run kept without a model.
    const none = runGraft(['predict', '--run', run, '--counts', put('none.csv', 'sample_id,a,b\nx,1,2\n')]);
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/none of the model's 14 taxa is in the file/);
    const empty = runGraft(['predict', '--run', run, '--counts', put('empty.csv', `sample_id,${taxa[0]},zz\nx,0,9\n`)]);
    expect(empty.status).toBe(2);
    expect(empty.stderr).toMatch(/empty\.csv:2: sample "x" has no reads in the model's 14 taxa/);
    // A damaged model file is refused in one line naming it.
    const modelFile = join(run, res.kept_model.file),
      good = readFileSync(modelFile);
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
  }, 120_000);

  it('a regression run writes id,prediction; --keep-model NAME keeps that model; --keep-model of a model the run did not measure, and --knn of at least the sample count, are one-line errors', async () => {
    const run = join(dir, 'run-reg');
    const r = runGraft([
      'mb',
      '--counts',
      fitCounts,
      '--meta',
      fitMeta,
      '--target',
      'score',
      '--models',
      'rf,logistic',
      '--k',
      '3',
      '--repeats',
      '1',
      '--trees',
      '25',
      '--min-prevalence',
      '0',
      '--normalize',
      'clr',
      '--zeros',
      'multrepl',
      '--threads',
      '1',
      '--keep-model',
      'logistic',
      '--out',
      run,
      '--quiet',
    ]);
    expect(r.status, r.stderr).toBe(0);
    const p = runGraft([
      'predict',
      '--run',
      run,
      '--counts',
      put(
        'one.csv',
        countsCsv((i) => i === HELD),
      ),
      '--quiet',
    ]);
    expect(p.status, p.stderr).toBe(0);
    const lines = p.stdout.trim().split('\n');
    expect(lines[0]).toBe('id,prediction');
    const all = loadMicrobiome({ counts: allCounts, meta: allMeta, target: 'score' });
    expect(Number(lines[1]!.split(',')[1])).toBe((await inFitScore(rt, all, 'logistic', 'clr', 'multrepl'))[0]);

    const base = [
      'mb',
      '--counts',
      fitCounts,
      '--meta',
      fitMeta,
      '--label',
      'diagnosis',
      '--out',
      join(dir, 'bad'),
      '--quiet',
    ];
    const mlp = runGraft([...base, '--models', 'rf,logistic', '--keep-model', 'mlp']);
    expect(mlp.status).toBe(2);
    expect(mlp.stderr).toMatch(/--keep-model mlp: mlp is not among --models \(rf,logistic\)/);
    const unknown = runGraft([...base, '--models', 'logistic', '--keep-model', 'svm']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/--keep-model must be one of rf, mlp, bnn, gcn, logistic .*got "svm"/);
    const knn = runGraft([...base, '--models', 'logistic', '--knn', String(N - 1)]);
    expect(knn.status).toBe(2);
    expect(knn.stderr.trim().split('\n')).toHaveLength(1);
    expect(knn.stderr).toMatch(new RegExp(`--knn ${N - 1} must be less than the number of samples \\(${N - 1}\\)`));
    const noKeep = join(dir, 'no-keep');
    expect(
      runGraft([
        'mb',
        '--counts',
        fitCounts,
        '--meta',
        fitMeta,
        '--label',
        'diagnosis',
        '--models',
        'logistic',
        '--k',
        '3',
        '--repeats',
        '1',
        '--out',
        noKeep,
        '--quiet',
      ]).status,
    ).toBe(0);
    const q = runGraft(['predict', '--run', noKeep, '--counts', fitCounts]);
    expect(q.status).toBe(2);
    expect(q.stderr).toMatch(/this microbiome run kept no model .*run graft mb again with --keep-model/);
  }, 120_000);
});
