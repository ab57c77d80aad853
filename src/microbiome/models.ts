import { GCN_GP_DEFAULTS, trainGcnRegressor, type GcnRegressorConfig } from '../train/gcn-regressor.js';
import type { Runtime } from '../runtime/runtime.js';
import { KIPF_DEFAULTS, predictNodes, trainNodeClassifier, type NodeTrainConfig } from '../train/node-trainer.js';
import { linearPredictor, logisticApply, logisticFit, ridgeFit, standardize, standardizer } from './linear.js';
import { fitForestParallel, type Forest, type ForestOptions } from './random-forest.js';

// The models of `graft mb`, each a function of one fold's preprocessed features: the random
// forest, an MLP deep ensemble (the study's Bayesian network's stand-in), the GCN on the
// sample graph, and logistic / ridge regression as the floor. Classification returns class
// probabilities per row, regression a value per row; rows are every sample of the fold's
// table (the GCN is transductive: test samples are nodes of the graph, unlabelled).

export type MbModel = 'rf' | 'mlp' | 'gcn' | 'logistic';
export const MB_MODELS: readonly MbModel[] = ['rf', 'mlp', 'gcn', 'logistic'];
/** Which models hold out part of the training fold to choose their epoch. */
export const NEEDS_VALIDATION: ReadonlySet<MbModel> = new Set<MbModel>(['mlp', 'gcn']);

export interface MbModelSettings {
  forest: Omit<ForestOptions, 'task' | 'classes' | 'seed'>;
  /** Members of the MLP ensemble (different seeds), averaged. */
  ensemble: number;
  hidden: number;
  dropout: number;
  epochs: number;
  patience: number;
  /** Threads for the forest's trees. */
  threads: number;
}

export const MB_MODEL_DEFAULTS: MbModelSettings = {
  forest: { trees: 300, bins: 32 }, ensemble: 5, hidden: 64, dropout: 0.5, epochs: 200, patience: 20, threads: 1,
};

export interface MbFold {
  /** Preprocessed features [n, p] of every row (originals and training copies). */
  x: Float64Array;
  n: number;
  p: number;
  /** Classification: class per row (-1 where unknown) and the class count; regression: target per row. */
  labels: Int32Array | null;
  classes: number;
  target: Float64Array | null;
  /** Rows the model fits on; rows that choose its epoch (NEEDS_VALIDATION models); rows it predicts. */
  fit: Int32Array;
  val: Int32Array;
  test: Int32Array;
  /** The sample graph over all rows (GCN only). */
  graph: { src: Int32Array; dst: Int32Array } | null;
  seed: number;
}

export interface MbPrediction {
  /** Classification: probabilities [test rows, classes]; regression: values [test rows]. */
  scores: Float64Array;
  /** MLP ensemble: the sd across members of each test row's score (of class 1, or the value). */
  spread?: Float64Array;
}

const pick = (all: Float64Array, width: number, rows: Int32Array): Float64Array => {
  const out = new Float64Array(rows.length * width);
  rows.forEach((i, r) => out.set(all.subarray(i * width, i * width + width), r * width));
  return out;
};

/** The models a fit can be kept of (graft mb --keep-model): fitted once, they score any rows of features. */
export const KEEPABLE_MODELS: readonly MbModel[] = ['rf', 'logistic'];

/**
 * A fitted forest, or a fitted logistic (classes ≥ 2) / ridge (classes 0) regression on
 * features standardized by its training rows' means and sds.
 */
export type FittedMbModel =
  | { model: 'rf'; forest: Forest }
  | { model: 'logistic'; classes: number; mean: Float64Array; sd: Float64Array; betas: Float64Array };

/** Fits a keepable model on the fold's fit and validation rows (its test rows are not read). */
export async function fitMbModel(model: MbModel, fold: MbFold, s: MbModelSettings): Promise<FittedMbModel> {
  const { p } = fold;
  const cls = fold.labels !== null;
  const train = Int32Array.from([...fold.fit, ...fold.val]);
  if (model === 'rf') {
    const x = new Float32Array(train.length * p);
    train.forEach((i, r) => { for (let j = 0; j < p; j++) x[r * p + j] = fold.x[i * p + j]!; });
    const y = cls ? Int32Array.from(train, (i) => fold.labels![i]!) : Float64Array.from(train, (i) => fold.target![i]!);
    const forest = await fitForestParallel({ x, n: train.length, f: p, y }, { ...s.forest, task: cls ? 'classification' : 'regression', ...(cls ? { classes: fold.classes } : {}), seed: fold.seed }, s.threads);
    return { model: 'rf', forest };
  }
  if (model !== 'logistic') throw new Error(`fitMbModel: ${model} cannot be kept (only ${KEEPABLE_MODELS.join(', ')})`);
  const st = standardizer(fold.x, p, train);
  const z = standardize(fold.x, p, st);
  const betas = cls ? logisticFit(z, p, fold.labels!, fold.classes, train) : ridgeFit(z, p, fold.target!, train);
  return { model: 'logistic', classes: cls ? fold.classes : 0, mean: st.mean, sd: st.sd, betas };
}

/**
 * Scores the listed rows of features x [*, p]: class probabilities [rows, classes] or values
 * [rows]. A row's score is computed from that row alone, so it is the same bits whichever
 * other rows are scored with it.
 */
export function scoreMbModel(m: FittedMbModel, x: Float64Array, p: number, rows: ArrayLike<number>): Float64Array {
  const k = rows.length;
  if (m.model === 'rf') {
    const xt = new Float32Array(k * p);
    for (let r = 0; r < k; r++) for (let j = 0; j < p; j++) xt[r * p + j] = x[rows[r]! * p + j]!;
    return m.forest.predict(xt, k);
  }
  const picked = new Float64Array(k * p);
  for (let r = 0; r < k; r++) picked.set(x.subarray(rows[r]! * p, rows[r]! * p + p), r * p);
  const z = standardize(picked, p, m);
  return m.classes > 0 ? logisticApply(m.betas, z, k, p, m.classes) : linearPredictor(m.betas, z, k, p);
}

/** Runs one model on one fold. */
export async function runMbModel(rt: Runtime, model: MbModel, fold: MbFold, s: MbModelSettings): Promise<MbPrediction> {
  const { n, p } = fold;
  const cls = fold.labels !== null;
  const width = cls ? fold.classes : 1;
  if (model === 'rf' || model === 'logistic') return { scores: scoreMbModel(await fitMbModel(model, fold, s), fold.x, p, fold.test) };
  const z = standardize(fold.x, p, standardizer(fold.x, p, fold.fit));
  const graph = model === 'gcn' ? fold.graph! : { src: new Int32Array(0), dst: new Int32Array(0) };
  const members = model === 'mlp' ? Math.max(1, s.ensemble) : 1;
  const each: Float64Array[] = [];
  const features = Float32Array.from(z);
  for (let m = 0; m < members; m++) {
    const seed = fold.seed * 131 + m * 7919 + 1;
    if (cls) {
      const labels = Int32Array.from(fold.labels!);
      const config: NodeTrainConfig = {
        ...KIPF_DEFAULTS, layers: 2, hidden: s.hidden, dropout: s.dropout, weightDecayScope: 'all', epochs: s.epochs, patience: s.patience, seed, featureFormat: 'dense',
      };
      const ds = { name: 'microbiome', numNodes: n, numFeatures: p, numClasses: fold.classes, features, labels, split: { train: fold.fit, val: fold.val, test: fold.test }, src: graph.src, dst: graph.dst, ids: [] };
      const r = await trainNodeClassifier(rt, ds, config);
      const { probs } = await predictNodes(rt, ds, config, r.weights);
      each.push(pick(Float64Array.from(probs), width, fold.test));
    } else {
      const y = new Float64Array(n).fill(NaN);
      for (const i of [...fold.fit, ...fold.val]) y[i] = fold.target![i]!;
      const config: GcnRegressorConfig = { ...GCN_GP_DEFAULTS, layers: 2, hidden: s.hidden, dropout: s.dropout, epochs: s.epochs, patience: s.patience, seed, ensemble: 1 };
      const r = await trainGcnRegressor(rt, { n, features, f: p, src: graph.src, dst: graph.dst, y, train: Int32Array.from([...fold.fit, ...fold.val]) }, config);
      each.push(Float64Array.from(fold.test, (i) => r.predictions[i]!));
    }
  }
  // Members averaged in member order: the same bits every run.
  const scores = new Float64Array(each[0]!.length);
  for (const e of each) for (let k = 0; k < scores.length; k++) scores[k]! += e[k]! / members;
  if (members === 1) return { scores };
  const rows = fold.test.length, col = cls ? Math.min(1, width - 1) : 0;
  const spread = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const mean = scores[r * width + col]!;
    let ss = 0;
    for (const e of each) ss += (e[r * width + col]! - mean) ** 2;
    spread[r] = Math.sqrt(ss / (members - 1));
  }
  return { scores, spread };
}
