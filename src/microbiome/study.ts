import { Rng } from '../core/random.js';
import type { Runtime } from '../runtime/runtime.js';
import { meanSd } from '../train/cv.js';
import { classificationReport, regressionReport } from '../train/metrics.js';
import { rocAuc } from '../train/multilabel-metrics.js';
import { augmentBalanced, augmentCopies, type Augmentation } from './augment.js';
import type { MicrobiomeData } from './data.js';
import { stratifiedGroupFolds, stratifyTarget } from './folds.js';
import { NEEDS_VALIDATION, runMbModel, type MbModel, type MbModelSettings } from './models.js';
import { compositionGraph, incompatibility, preprocess, type SampleDistance } from './pipeline.js';
import type { Normalization } from './normalize.js';
import type { ZeroReplacement } from './zeros.js';

// One microbiome study: every model under the same stratified, grouped, repeated k-fold
// splits, each fold's training part augmented (never its test part), the same preprocessing
// for every model.

export interface MbStudyOptions {
  normalize: Normalization;
  zeros: ZeroReplacement;
  augment: Augmentation;
  models: MbModel[];
  k: number;
  repeats: number;
  seed: number;
  graph: SampleDistance;
  knn: number;
  /** Fraction of a training fold held out to choose the MLP's and GCN's epoch. */
  valFraction: number;
  settings: MbModelSettings;
}

export const MB_DEFAULTS: Omit<MbStudyOptions, 'models' | 'settings'> = {
  normalize: 'tss',
  zeros: 'pseudo',
  augment: 'none',
  k: 5,
  repeats: 3,
  seed: 1,
  graph: 'aitchison',
  knn: 10,
  valFraction: 0.15,
};

export interface MbFoldRecord {
  model: MbModel;
  repeat: number;
  fold: number;
  n: number;
  metrics: Record<string, number>;
}
export interface MbPredictionRecord {
  sample: number;
  model: MbModel;
  repeat: number;
  fold: number;
  observed: number;
  predicted: number;
  scores: number[];
  spread?: number;
}

export interface MbStudyResult {
  task: 'classification' | 'regression';
  folds: MbFoldRecord[];
  /** model → metric → mean and sd over folds and repeats. */
  summary: Record<string, Record<string, { mean: number; sd: number }>>;
  predictions: MbPredictionRecord[];
  ms: number;
}

/** Classification metrics of one fold from the test rows' class probabilities. */
export function classificationMetrics(truth: Int32Array, probs: Float64Array, classes: number): Record<string, number> {
  const m = truth.length;
  const pred = Int32Array.from({ length: m }, (_, r) => {
    let best = 0;
    for (let c = 1; c < classes; c++) if (probs[r * classes + c]! > probs[r * classes + best]!) best = c;
    return best;
  });
  const idx = Int32Array.from({ length: m }, (_, r) => r);
  const rep = classificationReport(truth, pred, idx, classes);
  let correct = 0;
  for (let r = 0; r < m; r++) if (pred[r] === truth[r]) correct++;
  // Binary: the AUC of P(class 1); more classes: the mean one-vs-rest AUC over classes present.
  const aucs: number[] = [];
  for (let c = classes === 2 ? 1 : 0; c < classes; c++) {
    const a = rocAuc(
      Float32Array.from(truth, (t) => (t === c ? 1 : 0)),
      Float32Array.from({ length: m }, (_, r) => probs[r * classes + c]!),
    );
    if (Number.isFinite(a)) aucs.push(a);
  }
  return {
    accuracy: correct / m,
    f1_weighted: rep.f1.weighted,
    f1_macro: rep.f1.macro,
    roc_auc: aucs.length ? aucs.reduce((a, b) => a + b, 0) / aucs.length : NaN,
  };
}

export function regressionMetrics(truth: Float64Array, pred: Float64Array): Record<string, number> {
  const r = regressionReport(truth, pred);
  return { r: r.pearson, rmse: r.rmse, r2: r.r2 };
}

/**
 * Runs the study. A combination of preprocessing choices that cannot run (incompatibility)
 * throws here; the grid checks it first.
 */
export async function runMbStudy(
  rt: Runtime,
  d: MicrobiomeData,
  o: MbStudyOptions,
  onFold?: (model: MbModel, repeat: number, fold: number) => void,
): Promise<MbStudyResult> {
  const t0 = performance.now();
  const why = incompatibility(o, d.integerCounts);
  if (why) throw new Error(`runMbStudy: ${o.normalize} with zero replacement '${o.zeros}': ${why}`);
  const cls = d.labels !== null,
    classes = d.classNames.length;
  const strata = cls ? d.labels! : stratifyTarget(d.target!);
  const folds: MbFoldRecord[] = [],
    predictions: MbPredictionRecord[] = [];
  for (let rep = 0; rep < o.repeats; rep++) {
    const assign = stratifiedGroupFolds(strata, d.groups, o.k, o.seed + 1000 * rep);
    for (let f = 1; f <= o.k; f++) {
      const trainOrig: number[] = [],
        test: number[] = [];
      for (let i = 0; i < d.n; i++) (assign[i] === f ? test : trainOrig).push(i);
      const seed = o.seed * 100_003 + rep * 1009 + f;
      // The fold's table and features depend only on whether validation rows are held out, so
      // they are made once for the models that hold them out and once for the others.
      const prepared = new Map<
        boolean,
        { fitOrig: number[]; val: number[]; table: ReturnType<typeof withAugmented>; x: Float64Array }
      >();
      const prepare = (holdOut: boolean): NonNullable<ReturnType<typeof prepared.get>> => {
        const known = prepared.get(holdOut);
        if (known) return known;
        const { fitOrig, val } = holdOut
          ? validationSplit(d, trainOrig, o.valFraction, seed)
          : { fitOrig: trainOrig, val: [] };
        const table = withAugmented(d, fitOrig, o.augment, seed);
        const made = {
          fitOrig,
          val,
          table,
          x: preprocess(table.counts, table.n, d.p, { normalize: o.normalize, zeros: o.zeros, seed }),
        };
        prepared.set(holdOut, made);
        return made;
      };
      for (const model of o.models) {
        const { fitOrig, val, table, x } = prepare(NEEDS_VALIDATION.has(model));
        const graph = model === 'gcn' ? compositionGraph(table.counts, table.n, d.p, o.graph, o.knn) : null;
        const fit = Int32Array.from([...fitOrig, ...Array.from({ length: table.n - d.n }, (_, c) => d.n + c)]);
        const testRows = Int32Array.from(test);
        const pred = await runMbModel(
          rt,
          model,
          {
            x,
            n: table.n,
            p: d.p,
            labels: table.labels,
            classes,
            target: table.target,
            fit,
            val: Int32Array.from(val),
            test: testRows,
            graph,
            seed,
          },
          o.settings,
        );
        const width = cls ? classes : 1;
        const metrics = cls
          ? classificationMetrics(
              Int32Array.from(test, (i) => d.labels![i]!),
              pred.scores,
              classes,
            )
          : regressionMetrics(
              Float64Array.from(test, (i) => d.target![i]!),
              pred.scores,
            );
        // The mean over test rows of each row's sd: across the ensemble's members, or the BNN's posterior samples.
        if (pred.spread)
          metrics[model === 'bnn' ? 'predictive_sd' : 'ensemble_sd'] =
            pred.spread.reduce((a, b) => a + b, 0) / pred.spread.length;
        folds.push({ model, repeat: rep + 1, fold: f, n: test.length, metrics });
        test.forEach((i, r) => {
          const scores = Array.from(pred.scores.subarray(r * width, r * width + width));
          const predicted = cls ? scores.indexOf(Math.max(...scores)) : scores[0]!;
          predictions.push({
            sample: i,
            model,
            repeat: rep + 1,
            fold: f,
            observed: cls ? d.labels![i]! : d.target![i]!,
            predicted,
            scores,
            ...(pred.spread ? { spread: pred.spread[r]! } : {}),
          });
        });
        onFold?.(model, rep + 1, f);
      }
    }
  }
  const summary: MbStudyResult['summary'] = {};
  for (const model of o.models) {
    const rows = folds.filter((r) => r.model === model);
    summary[model] = Object.fromEntries(
      Object.keys(rows[0]!.metrics).map((k) => [k, meanSd(rows.map((r) => r.metrics[k]!))]),
    );
  }
  return { task: cls ? 'classification' : 'regression', folds, summary, predictions, ms: performance.now() - t0 };
}

/**
 * Validation rows of a training part (the MLP's and GCN's epoch is chosen on them), drawn by
 * group so a subject's samples stay together; they are not augmented. The draw shuffles the
 * groups in order of first appearance, so the same training samples in the same order give
 * the same split whatever else the table holds (a kept model and a study fold agree).
 */
export function validationSplit(
  d: Pick<MicrobiomeData, 'groups'>,
  trainOrig: number[],
  valFraction: number,
  seed: number,
): { fitOrig: number[]; val: number[] } {
  const groups = [...new Set(trainOrig.map((i) => d.groups[i]!))];
  new Rng(seed ^ 0x9e37).shuffle(groups);
  const held = new Set(groups.slice(0, Math.max(1, Math.round(groups.length * valFraction))));
  return {
    fitOrig: trainOrig.filter((i) => !held.has(d.groups[i]!)),
    val: trainOrig.filter((i) => held.has(d.groups[i]!)),
  };
}

/**
 * The fold's table: every original sample, then the augmented copies of the fitting rows
 * (class-balanced copies for classes, one noisy copy per sample for targets). Copies carry
 * their source's label or target.
 */
export function withAugmented(
  d: MicrobiomeData,
  fitRows: number[],
  augment: Augmentation,
  seed: number,
): { counts: Float64Array; n: number; labels: Int32Array | null; target: Float64Array | null } {
  if (augment === 'none') return { counts: d.counts, n: d.n, labels: d.labels, target: d.target };
  const p = d.p,
    m = fitRows.length;
  const sub = new Float64Array(m * p);
  fitRows.forEach((i, r) => {
    sub.set(d.counts.subarray(i * p, i * p + p), r * p);
  });
  const aug = d.labels
    ? augmentBalanced(
        sub,
        m,
        p,
        Int32Array.from(fitRows, (i) => d.labels![i]!),
        { seed },
      )
    : augmentCopies(sub, m, p, { seed, copies: 1 });
  const copies = aug.n - m;
  const counts = new Float64Array((d.n + copies) * p);
  counts.set(d.counts);
  counts.set(aug.x.subarray(m * p), d.n * p);
  const src = (c: number): number => fitRows[aug.source[m + c]!]!;
  const labels = d.labels
    ? Int32Array.from({ length: d.n + copies }, (_, i) => (i < d.n ? d.labels![i]! : d.labels![src(i - d.n)]!))
    : null;
  const target = d.target
    ? Float64Array.from({ length: d.n + copies }, (_, i) => (i < d.n ? d.target![i]! : d.target![src(i - d.n)]!))
    : null;
  return { counts, n: d.n + copies, labels, target };
}
