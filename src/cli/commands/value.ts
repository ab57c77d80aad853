import { existsSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { intAtLeast, num } from '../args.js';
import { loadMbRunData, loadMbRunModel } from './explain-microbiome.js';
import { claimRunFolder } from '../run-folder.js';
import { detectRunKind, wrongKind } from '../run-kind.js';
import { type ValueArgs, type ValueResult, lowValueAuc, removalCurves, tmcRun } from './value-common.js';
import { valueGenomicRun } from './value-genomic.js';
import { valueGraphRun } from './value-graph.js';
import { ensureDir, writeFileAtomic, writeJsonAtomic } from '../../core/atomic-write.js';
import { GraftError } from '../../core/errors.js';
import { Rng } from '../../core/random.js';
import type { Normalization } from '../../microbiome/normalize.js';
import { preprocess } from '../../microbiome/pipeline.js';
import type { ZeroReplacement } from '../../microbiome/zeros.js';
import { KnnLearner, type LabelledRows, knnShapley } from '../../valuation/knn-shapley.js';

// `graft value`: Data Shapley values of a run's training samples (Ghorbani & Zou 2019):
// KNN-Shapley's closed form (Jia et al. 2019) or TMC-Shapley, for an mb classification run
// (a K-NN classifier on the features the run's models read), a gp run (GBLUP on the run's
// relationship matrix, value-genomic.ts) or a graph run (a K-NN classifier on the molecules'
// Morgan fingerprints, value-graph.ts). A low value says a sample's target disagrees with what
// the others predict for it: mislabelled, a record mix-up, or an outlier.

export const VALUE_USAGE = `  graft value --run MB_RUN|GP_RUN|GRAPH_RUN [--method knn|tmc] [--k 5] [--budget 2000] [--tolerance 0.01]
              [--target TRAIT|LABEL] [--flip FRACTION] [--seed 1] [--overwrite] [--quiet]
              (Data Shapley of a run's samples: an mb classification run, a gp run (one trait, GBLUP), a graph run
               (one label, K-NN on Morgan fingerprints); writes value/values.csv, removal.svg, summary.md;
               --flip corrupts that fraction of targets (flipped labels, shuffled phenotypes) and reports how well
               low values find them)`;

const csvCell = (s: string): string => (/[",\n]/.test(s) ? JSON.stringify(s) : s);

export async function value(argv: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    options: {
      run: { type: 'string' },
      method: { type: 'string' },
      k: { type: 'string' },
      budget: { type: 'string' },
      tolerance: { type: 'string' },
      target: { type: 'string' },
      flip: { type: 'string' },
      seed: { type: 'string' },
      overwrite: { type: 'boolean' },
      quiet: { type: 'boolean' },
    },
  });
  if (!v.run)
    throw new GraftError('--run DIR is required (a folder written by graft mb, graft gp or graft train --task graph)');
  const run = resolve(v.run);
  const kind = detectRunKind(run);
  if (kind !== 'microbiome' && kind !== 'genomic' && kind !== 'graph')
    throw wrongKind('graft value', v.run, kind, 'an mb classification run, a gp run or a graph run');
  const method = v.method ?? 'knn';
  if (method !== 'knn' && method !== 'tmc')
    throw new GraftError(`--method must be knn or tmc, got ${JSON.stringify(method)}`);
  const k = intAtLeast(v.k, '--k', 5, 1, 'neighbour');
  const budget = intAtLeast(v.budget, '--budget', 2000, 1, 'permutation');
  const tolerance = num(v.tolerance, '--tolerance') ?? 0.01;
  if (!(tolerance >= 0 && tolerance < 1)) throw new GraftError(`--tolerance must be in [0, 1), got ${tolerance}`);
  const flip = num(v.flip, '--flip') ?? 0;
  if (!(flip >= 0 && flip < 0.5)) throw new GraftError(`--flip must be a fraction in [0, 0.5), got ${flip}`);
  const seed = num(v.seed, '--seed', true) ?? 1;
  if (kind === 'microbiome' && v.target !== undefined)
    throw new GraftError('--target names a gp trait or a graph label; an mb run is valued for its one label');
  const log = v.quiet ? () => {} : (s: string) => console.error(`graft value: ${s}`);
  const final = join(run, 'value');
  if (existsSync(final) && !v.overwrite)
    throw new GraftError(`${final} already holds values: pass --overwrite to replace them`);
  const release = claimRunFolder(run, { command: 'graft value', resume: true });
  const work = join(run, `.value-${process.pid}`);
  try {
    const t0 = performance.now();
    const a: ValueArgs = { run, method, k, budget, tolerance, flip, seed, target: v.target ?? null, log };
    const r =
      kind === 'microbiome'
        ? await valueMicrobiomeRun(a)
        : kind === 'genomic'
          ? await valueGenomicRun(a)
          : await valueGraphRun(a);
    rmSync(work, { recursive: true, force: true });
    ensureDir(work);
    await writeValueFolder(work, method, r);
    const seconds = (performance.now() - t0) / 1000;
    const c = r.curves;
    writeJsonAtomic(join(work, 'value.json'), {
      format: 'graft-values-v1',
      run,
      method,
      ...r.doc,
      removal: { metric: c.metric, fractions: c.fractions, high_first: c.high, low_first: c.low, random: c.random },
      created: new Date().toISOString(),
      seconds,
    });
    if (existsSync(final)) rmSync(final, { recursive: true, force: true });
    renameSync(work, final);
    console.log(JSON.stringify({ run, method, ...r.line, out: final, seconds: +seconds.toFixed(2) }));
  } catch (err) {
    rmSync(work, { recursive: true, force: true });
    throw err;
  } finally {
    release();
  }
}

/** values.csv, removal.svg and summary.md of any kind of run's values. */
async function writeValueFolder(work: string, method: 'knn' | 'tmc', r: ValueResult): Promise<void> {
  const n = r.ids.length,
    se = r.se;
  const lines = [['id', 'value', ...(se ? ['se'] : []), ...r.extra.map((e) => e.name)].map(csvCell).join(',')];
  for (let i = 0; i < n; i++)
    lines.push(
      [
        csvCell(r.ids[i]!),
        String(r.values[i]!),
        ...(se ? [String(se[i]!)] : []),
        ...r.extra.map((e) => csvCell(e.cells[i]!)),
      ].join(','),
    );
  writeFileAtomic(join(work, 'values.csv'), `${lines.join('\n')}\n`);
  const c = r.curves,
    name = method === 'knn' ? 'KNN-Shapley' : 'TMC-Shapley';
  const { writeChart, lineChartSpec } = await import('../reports/charts/index.js'); // vega, only to draw
  writeChart(
    join(work, 'removal.svg'),
    lineChartSpec(
      `Held-out ${c.metric} as samples are removed (${name})`,
      '% of samples removed',
      [
        { name: 'high value first', values: c.high },
        { name: 'low value first', values: c.low },
        { name: 'random', values: c.random, dashed: true },
      ],
      { x: c.fractions.map((f) => Math.round(f * 100)) },
    ),
  );
  const fmt = (a: number): string => (c.metric === 'accuracy' ? (100 * a).toFixed(1) : a.toFixed(3));
  const md = [
    `# Data Shapley values (${method === 'knn' ? 'KNN-Shapley, closed form' : 'TMC-Shapley'})`,
    '',
    ...r.summary,
    '',
    `| removed | high value first | low value first | random |`,
    '| ---: | ---: | ---: | ---: |',
    ...c.fractions.map(
      (f, s) => `| ${Math.round(f * 100)}% | ${fmt(c.high[s]!)} | ${fmt(c.low[s]!)} | ${fmt(c.random[s]!)} |`,
    ),
    '',
    `Held-out ${c.metric}${c.metric === 'accuracy' ? ' (%)' : ''}: ${c.how}`,
    '',
  ];
  writeFileAtomic(join(work, 'summary.md'), md.join('\n'));
}

/** An mb classification run: a K-NN classifier on the features the run's models read. */
async function valueMicrobiomeRun(a: ValueArgs): Promise<ValueResult> {
  const { run, method, k, budget, tolerance, flip, seed, log } = a;
  // The features the run's models read: the kept model's fitted preprocessing, else the run's settings.
  const hasKept = existsSync(join(run, 'model', 'model.safetensors'));
  let d: Awaited<ReturnType<typeof loadMbRunModel>>['data'], x: Float64Array, features: string;
  if (hasKept) {
    const m = await loadMbRunModel(run, 'graft value');
    d = m.data;
    x = m.x;
    features = `the kept ${m.kept.model.model}'s preprocessing (${m.kept.preprocessing.normalize}, zeros ${m.kept.preprocessing.zeros})`;
  } else {
    const r = await loadMbRunData(run, 'graft value');
    d = r.data;
    const s = (r.results['settings'] ?? {}) as { normalize?: Normalization; zeros?: ZeroReplacement; seed?: number };
    if (!s.normalize || !s.zeros)
      throw new GraftError(`${join(run, 'results.json')}: no settings.normalize and settings.zeros`);
    x = preprocess(d.counts, d.n, d.p, { normalize: s.normalize, zeros: s.zeros, seed: s.seed ?? 1 });
    features = `the run's preprocessing (${s.normalize}, zeros ${s.zeros})`;
  }
  if (!d.labels)
    throw new GraftError(
      `${run} is a regression run; graft value values the samples of a classification run (--label)`,
    );
  const n = d.n,
    p = d.p,
    classes = d.classNames.length;
  if (k >= n) throw new GraftError(`--k ${k} must be less than the number of samples (${n})`);
  // Columns scaled to unit variance, so no one abundant taxon sets every distance.
  const xs = new Float64Array(n * p);
  for (let j = 0; j < p; j++) {
    let m = 0,
      s2 = 0;
    for (let i = 0; i < n; i++) m += x[i * p + j]! / n;
    for (let i = 0; i < n; i++) s2 += (x[i * p + j]! - m) ** 2 / n;
    const sd = Math.sqrt(s2) || 1;
    for (let i = 0; i < n; i++) xs[i * p + j] = (x[i * p + j]! - m) / sd;
  }
  const truth = d.labels,
    y = Int32Array.from(truth),
    flipped = new Array<boolean>(n).fill(false),
    rng = new Rng(seed);
  if (flip > 0) {
    const order = rng.shuffle(Array.from({ length: n }, (_, i) => i)).slice(0, Math.round(flip * n));
    for (const i of order) {
      y[i] = (truth[i]! + 1 + Math.floor(rng.next() * (classes - 1))) % classes;
      flipped[i] = true;
    }
    log(`flipped the labels of ${order.length} of ${n} samples (seed ${seed})`);
  }
  const rows: LabelledRows = { x: xs, n, p, y };
  log(`${method === 'knn' ? 'KNN-Shapley' : 'TMC-Shapley'} of ${n} samples × ${p} taxa, K = ${k}`);
  let values: Float64Array,
    se: Float64Array | null = null,
    tmc: Record<string, unknown> = {};
  if (method === 'knn') values = knnShapley(rows, 'self', k);
  else {
    ({ values, se, tmc } = tmcRun(
      new KnnLearner(rows, 'self', k, classes),
      { budget, tolerance, seed, log },
      'full_accuracy',
    ));
  }
  const auc = flip > 0 ? lowValueAuc(values, flipped) : null;
  if (auc !== null) log(`ROC-AUC of low values flagging the flipped labels: ${auc.toFixed(3)}`);
  // Removal curves: held-out (5-fold) accuracy as the highest- or lowest-valued samples leave the training folds.
  const folds = Int32Array.from(rng.shuffle(Array.from({ length: n }, (_, i) => i % 5)));
  const c = removalCurves(values, rng, (removed) => heldOutAccuracy(xs, n, p, y, truth, removed, k, classes, folds));
  return {
    ids: d.ids,
    values,
    se,
    extra: [
      { name: 'label', cells: Array.from(y, (l) => d.classNames[l]!) },
      ...(flip > 0 ? [{ name: 'flipped', cells: flipped.map((f) => (f ? '1' : '0')) }] : []),
    ],
    auc,
    curves: {
      ...c,
      metric: 'accuracy',
      how: `5-fold cross-validated K-NN accuracy over every sample, the removed samples left out of the training folds only${flip > 0 ? ', scored against the original (unflipped) labels.' : '.'}`,
    },
    summary: [
      `${n} samples, ${classes} classes, ${p} taxa: a ${k}-nearest-neighbour classifier on ${features}, columns scaled to unit variance; each sample scored against the others.`,
      ...(auc !== null
        ? [
            '',
            `Planted noise: ${flipped.filter(Boolean).length} labels flipped (--flip ${flip}, seed ${seed}); ROC-AUC of low values flagging them: **${auc.toFixed(3)}**.`,
          ]
        : []),
    ],
    doc: {
      kind: 'microbiome',
      k,
      samples: n,
      taxa: p,
      features,
      flip: flip > 0 ? { fraction: flip, seed, flipped: flipped.filter(Boolean).length, roc_auc: auc } : null,
      ...(method === 'tmc' ? { tmc } : {}),
    },
    line: {
      samples: n,
      ...(auc !== null ? { flipped_roc_auc: +auc.toFixed(4) } : {}),
      ...(method === 'tmc' ? { permutations: tmc['permutations'], converged: tmc['converged'] } : {}),
    },
  };
}

/**
 * Cross-validated accuracy of the K-NN classifier (5 folds, every sample held out once, scored
 * against `truth`) when the samples in `removed` are left out of the training folds.
 */
function heldOutAccuracy(
  x: Float64Array,
  n: number,
  p: number,
  y: Int32Array,
  truth: Int32Array,
  removed: ReadonlySet<number>,
  k: number,
  classes: number,
  folds: Int32Array,
): number {
  let correct = 0;
  for (let f = 0; f < 5; f++) {
    const train: number[] = [],
      test: number[] = [];
    for (let i = 0; i < n; i++) (folds[i] === f ? test : removed.has(i) ? null : train)?.push(i);
    if (test.length === 0) continue;
    const rows = (ids: number[], labels: Int32Array): LabelledRows => {
      const xs = new Float64Array(ids.length * p);
      ids.forEach((i, r) => {
        xs.set(x.subarray(i * p, i * p + p), r * p);
      });
      return { x: xs, n: ids.length, p, y: Int32Array.from(ids, (i) => labels[i]!) };
    };
    const val = rows(test, truth);
    if (train.length === 0) {
      correct += test.length / classes;
      continue;
    }
    const l = new KnnLearner(rows(train, y), val, k, classes);
    let acc = l.empty;
    for (let r = 0; r < train.length; r++) acc = l.add(r);
    correct += acc * test.length;
  }
  return correct / n;
}
