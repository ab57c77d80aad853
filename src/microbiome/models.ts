import {
  GCN_GP_DEFAULTS,
  gcnRegressorModel,
  trainGcnRegressor,
  type GcnRegressorConfig,
} from '../train/gcn-regressor.js';
import type { Runtime } from '../runtime/runtime.js';
import { KIPF_DEFAULTS, predictNodes, trainNodeClassifier, type NodeTrainConfig } from '../train/node-trainer.js';
import { gcnNorm } from '../graph/gcn-norm.js';
import { Tensor } from '../memory/tensor.js';
import { loadWeights } from '../nn/load-weights.js';
import { linearModelScores, logisticFit, ridgeFit, standardize, standardizer } from './linear.js';
import { fitForestParallel, type Forest, type ForestOptions } from './random-forest.js';
import { BNN_DEFAULTS, bnnPredict, trainBnn, type BnnSettings, type FittedBnn } from './bnn.js';

// The models of `graft mb`, each a function of one fold's preprocessed features: the random
// forest, an MLP deep ensemble, the study's Bayesian neural network (the MLP with a Gaussian
// posterior over its weights, bnn.ts), the GCN on the sample graph, and logistic / ridge
// regression as the floor. Classification returns class
// probabilities per row, regression a value per row; rows are every sample of the fold's
// table (the GCN is transductive: test samples are nodes of the graph, unlabelled).

export type MbModel = 'rf' | 'mlp' | 'bnn' | 'gcn' | 'logistic';
export const MB_MODELS: readonly MbModel[] = ['rf', 'mlp', 'bnn', 'gcn', 'logistic'];
/** The models a study runs when none are named (the BNN only on request: it is the slowest to fit, 200 epochs with no early stop). */
export const MB_DEFAULT_MODELS: readonly MbModel[] = ['rf', 'mlp', 'gcn', 'logistic'];
/**
 * Which models hold out part of the training fold to choose their epoch. Not the BNN: it
 * trains its ELBO for the set epochs on every training row (the KL is its regularizer); on
 * validation rows of 15% of a small training fold the best epoch was always one of the first
 * few, before the posterior's sds had moved from their start.
 */
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
  /** The BNN's own settings (it shares the width and the epochs with the MLP); BNN_DEFAULTS where absent. */
  bnn?: Partial<BnnSettings>;
}

export const MB_MODEL_DEFAULTS: MbModelSettings = {
  forest: { trees: 300, bins: 32 },
  ensemble: 5,
  hidden: 64,
  dropout: 0.5,
  epochs: 200,
  patience: 20,
  threads: 1,
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
  /**
   * MLP ensemble: the sd across members of each test row's score (of class 1, or the value);
   * BNN: the sd of that score across its posterior samples.
   */
  spread?: Float64Array;
}

/** The models a fit can be kept of (graft mb --keep-model): every model of graft mb. */
export const KEEPABLE_MODELS: readonly MbModel[] = ['rf', 'mlp', 'bnn', 'gcn', 'logistic'];

/**
 * A fitted forest; a fitted logistic (classes ≥ 2) / ridge (classes 0) regression on features
 * standardized by its training rows' means and sds; or a fitted MLP ensemble or GCN.
 */
export type FittedMbModel =
  | { model: 'rf'; forest: Forest }
  | { model: 'logistic'; classes: number; mean: Float64Array; sd: Float64Array; betas: Float64Array }
  | FittedNeuralModel
  | FittedBnn;

/**
 * An MLP deep ensemble or a GCN: the standardization of its inputs (means and sds of the
 * fitting rows), the width and dropout the networks were built with, and each member's seed
 * (which draws the initial weights, so a rebuilt network names and shapes the same
 * parameters) and weights by parameter name; a regression member also its target's scale
 * (prediction = output · sd + mean). A GCN also keeps the graph it was fitted on: every row's
 * standardized features as the network read them (float32) and the kNN edges.
 */
export interface FittedNeuralModel {
  model: 'mlp' | 'gcn';
  classes: number;
  mean: Float64Array;
  sd: Float64Array;
  hidden: number;
  dropout: number;
  members: { seed: number; weights: Map<string, Float32Array>; scale?: { mean: number; sd: number } }[];
  graph?: { features: Float32Array; rows: number; src: Int32Array; dst: Int32Array };
}

/** A member's seed, as the study has always drawn it. */
const memberSeed = (foldSeed: number, m: number): number => foldSeed * 131 + m * 7919 + 1;

// The networks' configs, for training and for rebuilding a fitted one to score with (which
// reads only the shape and the seed: epochs and patience matter to training alone).
const nodeConfig = (
  hidden: number,
  dropout: number,
  seed: number,
  s?: Pick<MbModelSettings, 'epochs' | 'patience'>,
): NodeTrainConfig => ({
  ...KIPF_DEFAULTS,
  layers: 2,
  hidden,
  dropout,
  weightDecayScope: 'all',
  epochs: s?.epochs ?? 1,
  patience: s?.patience ?? 0,
  seed,
  featureFormat: 'dense',
});
const regressorConfig = (
  hidden: number,
  dropout: number,
  seed: number,
  s?: Pick<MbModelSettings, 'epochs' | 'patience'>,
): GcnRegressorConfig => ({
  ...GCN_GP_DEFAULTS,
  layers: 2,
  hidden,
  dropout,
  epochs: s?.epochs ?? 1,
  patience: s?.patience ?? 0,
  seed,
  ensemble: 1,
});

/**
 * Fits a model on the fold's fit and validation rows. rf, logistic and mlp never read the
 * test rows; the GCN is transductive: every row is a node of fold.graph and the test rows
 * are unlabelled nodes of it. The MLP trains on a table of the fit then validation rows
 * alone, so its weights do not depend on which other samples the fold holds.
 */
export async function fitMbModel(
  rt: Runtime,
  model: MbModel,
  fold: MbFold,
  s: MbModelSettings,
): Promise<FittedMbModel> {
  const { p } = fold;
  const cls = fold.labels !== null;
  const train = Int32Array.from([...fold.fit, ...fold.val]);
  if (model === 'rf') {
    const x = new Float32Array(train.length * p);
    train.forEach((i, r) => {
      for (let j = 0; j < p; j++) x[r * p + j] = fold.x[i * p + j]!;
    });
    const y = cls ? Int32Array.from(train, (i) => fold.labels![i]!) : Float64Array.from(train, (i) => fold.target![i]!);
    const forest = await fitForestParallel(
      { x, n: train.length, f: p, y },
      {
        ...s.forest,
        task: cls ? 'classification' : 'regression',
        ...(cls ? { classes: fold.classes } : {}),
        seed: fold.seed,
      },
      s.threads,
    );
    return { model: 'rf', forest };
  }
  if (model === 'logistic') {
    const st = standardizer(fold.x, p, train);
    const z = standardize(fold.x, p, st);
    const betas = cls ? logisticFit(z, p, fold.labels!, fold.classes, train) : ridgeFit(z, p, fold.target!, train);
    return { model: 'logistic', classes: cls ? fold.classes : 0, mean: st.mean, sd: st.sd, betas };
  }
  // The networks' inputs are standardized by the fitting rows (not the validation rows), as they always were.
  const st = standardizer(fold.x, p, fold.fit);
  if (model === 'bnn') {
    // The MLP's table: the training rows alone (fold.val is empty: NEEDS_VALIDATION), standardized as the MLP's are.
    const z = Float32Array.from(standardize(pickRows(fold.x, p, train), p, st));
    const settings = { ...BNN_DEFAULTS, ...s.bnn, hidden: s.hidden, epochs: s.epochs, patience: s.patience };
    const { bestEpoch: _, ...fitted } = await trainBnn(
      rt.exec,
      {
        z,
        n: train.length,
        p,
        labels: cls ? Int32Array.from(train, (i) => fold.labels![i]!) : null,
        classes: cls ? fold.classes : 0,
        target: cls ? null : Float64Array.from(train, (i) => fold.target![i]!),
        fit: Int32Array.from(fold.fit, (_, r) => r),
        val: Int32Array.from(fold.val, (_, r) => fold.fit.length + r),
      },
      settings,
      memberSeed(fold.seed, 0),
    );
    return { ...fitted, mean: st.mean, sd: st.sd };
  }
  // The network's table: every row for the GCN (its graph), the training rows alone for the MLP.
  const rows = model === 'gcn' ? Int32Array.from({ length: fold.n }, (_, i) => i) : train;
  const n = rows.length;
  const z = standardize(pickRows(fold.x, p, rows), p, st);
  const features = Float32Array.from(z);
  const local =
    model === 'gcn'
      ? { fit: fold.fit, val: fold.val, test: fold.test }
      : {
          fit: Int32Array.from(fold.fit, (_, r) => r),
          val: Int32Array.from(fold.val, (_, r) => fold.fit.length + r),
          test: new Int32Array(0),
        };
  if (model === 'gcn' && !fold.graph) throw new Error('fitMbModel: the GCN needs fold.graph');
  const graph = model === 'gcn' ? fold.graph! : { src: new Int32Array(0), dst: new Int32Array(0) };
  const members: FittedNeuralModel['members'] = [];
  for (let m = 0; m < (model === 'mlp' ? Math.max(1, s.ensemble) : 1); m++) {
    const seed = memberSeed(fold.seed, m);
    if (cls) {
      const labels = Int32Array.from(rows, (i) => fold.labels![i]!);
      const ds = {
        name: 'microbiome',
        numNodes: n,
        numFeatures: p,
        numClasses: fold.classes,
        features,
        labels,
        split: { train: local.fit, val: local.val, test: local.test },
        src: graph.src,
        dst: graph.dst,
        ids: [],
      };
      const r = await trainNodeClassifier(rt, ds, nodeConfig(s.hidden, s.dropout, seed, s));
      members.push({ seed, weights: r.weights });
    } else {
      const y = new Float64Array(n).fill(NaN);
      for (const r of [...local.fit, ...local.val]) y[r] = fold.target![rows[r]!]!;
      const r = await trainGcnRegressor(
        rt,
        { n, features, f: p, src: graph.src, dst: graph.dst, y, train: Int32Array.from([...local.fit, ...local.val]) },
        regressorConfig(s.hidden, s.dropout, seed, s),
      );
      members.push({ seed, weights: r.weights, scale: r.scale });
    }
  }
  return {
    model,
    classes: cls ? fold.classes : 0,
    mean: st.mean,
    sd: st.sd,
    hidden: s.hidden,
    dropout: s.dropout,
    members,
    ...(model === 'gcn'
      ? { graph: { features, rows: n, src: Int32Array.from(graph.src), dst: Int32Array.from(graph.dst) } }
      : {}),
  };
}

function pickRows(x: Float64Array, p: number, rows: ArrayLike<number>): Float64Array {
  const out = new Float64Array(rows.length * p);
  for (let r = 0; r < rows.length; r++) out.set(x.subarray(rows[r]! * p, rows[r]! * p + p), r * p);
  return out;
}

/**
 * Scores the listed rows of features x [*, p] with rf, logistic or the MLP: class
 * probabilities [rows, classes] or values [rows]. A row's score is computed from that row
 * alone, so it is the same bits whichever other rows are scored with it. (The GCN scores
 * nodes of a graph: scoreGcnNodes.)
 */
export async function scoreMbModel(
  rt: Runtime,
  m: FittedMbModel,
  x: Float64Array,
  p: number,
  rows: ArrayLike<number>,
): Promise<Float64Array> {
  return (await scoreMbMembers(rt, m, x, p, rows))[0];
}

/**
 * The forest's or the logistic (ridge) model's scores of the listed rows, synchronously: what
 * scoreMbModel gives for these two models (it calls this), for callers that cannot await, such
 * as KernelSHAP's model function.
 */
export function scoreShallowModel(m: FittedMbModel, x: Float64Array, p: number, rows: ArrayLike<number>): Float64Array {
  const k = rows.length;
  if (m.model === 'rf') {
    const xt = new Float32Array(k * p);
    for (let r = 0; r < k; r++) for (let j = 0; j < p; j++) xt[r * p + j] = x[rows[r]! * p + j]!;
    return m.forest.predict(xt, k);
  }
  if (m.model !== 'logistic')
    throw new Error(`scoreShallowModel: ${m.model} is scored through the runtime (scoreMbModel)`);
  return linearModelScores(m, pickRows(x, p, rows), k, p);
}

/**
 * scoreMbModel, and for an ensemble each member's scores too (the mean is over them, in member
 * order); for the BNN each posterior sample's.
 */
export async function scoreMbMembers(
  rt: Runtime,
  m: FittedMbModel,
  x: Float64Array,
  p: number,
  rows: ArrayLike<number>,
): Promise<[Float64Array, Float64Array[]]> {
  const k = rows.length;
  if (m.model === 'rf' || m.model === 'logistic') {
    const s = scoreShallowModel(m, x, p, rows);
    return [s, [s]];
  }
  const z = standardize(pickRows(x, p, rows), p, m);
  if (m.model === 'bnn') {
    // Every row in one pass per posterior sample: a row's outputs depend on that row alone (bnnPredict).
    const { mean, draws } = await bnnPredict(rt.exec, m, Float32Array.from(z), k);
    return [mean, draws];
  }
  if (m.model === 'gcn') throw new Error('scoreMbModel: a GCN scores nodes of its graph (scoreGcnNodes)');
  // The MLP is the GCN's network on a graph with no edges: Â = I, each row on its own. Rows
  // are scored one at a time, so a row's bits cannot depend on the batch (the matrix kernels
  // may block rows), and a new sample gets the bits of the same row scored inside a fold.
  const features = Float32Array.from(z);
  const each = m.members.map(() => new Float64Array(k * Math.max(1, m.classes)));
  for (let r = 0; r < k; r++) {
    const one = features.subarray(r * p, r * p + p);
    for (const [t, member] of m.members.entries())
      each[t]!.set(
        await networkRows(rt, m, member, one, 1, p, new Int32Array(0), new Int32Array(0)),
        r * Math.max(1, m.classes),
      );
  }
  return [meanOfMembers(each), each];
}

/** Members averaged in member order: the same bits every run. */
function meanOfMembers(each: Float64Array[]): Float64Array {
  const scores = new Float64Array(each[0]!.length);
  for (const e of each) for (let k = 0; k < scores.length; k++) scores[k]! += e[k]! / each.length;
  return scores;
}

/**
 * The fitted GCN's scores of nodes of its own graph (the fold's rows: a fold's test samples
 * are nodes of it), all from one pass over the graph.
 */
export async function scoreGcnNodes(rt: Runtime, m: FittedNeuralModel, rows: ArrayLike<number>): Promise<Float64Array> {
  const g = m.graph!,
    p = m.mean.length,
    width = Math.max(1, m.classes);
  const each = [];
  for (const member of m.members) {
    const all = await networkRows(rt, m, member, g.features, g.rows, p, g.src, g.dst);
    each.push(pickRows(all, width, rows));
  }
  return meanOfMembers(each);
}

/**
 * The fitted network over a graph: node features [n, p] (standardized, float32) and undirected
 * edges; returns every node's scores [n, classes] (probabilities) or [n] (values), in one pass.
 */
async function networkRows(
  rt: Runtime,
  m: FittedNeuralModel,
  member: FittedNeuralModel['members'][number],
  features: Float32Array,
  n: number,
  p: number,
  src: Int32Array,
  dst: Int32Array,
): Promise<Float64Array> {
  if (m.classes > 0) {
    const ds = {
      name: 'microbiome',
      numNodes: n,
      numFeatures: p,
      numClasses: m.classes,
      features,
      labels: new Int32Array(n).fill(-1),
      split: { train: new Int32Array(0), val: new Int32Array(0), test: new Int32Array(0) },
      src,
      dst,
      ids: [],
    };
    return Float64Array.from(
      (await predictNodes(rt, ds, nodeConfig(m.hidden, m.dropout, member.seed), member.weights)).probs,
    );
  }
  const adj = gcnNorm(rt.heap, n, src, dst);
  const x = Tensor.from(rt.heap, 'float32', [n, p], features);
  const model = gcnRegressorModel<void>(
    rt,
    regressorConfig(m.hidden, m.dropout, member.seed),
    { f: p },
    () => ({ adj }),
    () => [x],
  );
  try {
    loadWeights(model.params(), member.weights, 'networkRows: weights');
    const raw = (
      await model.forward({ exec: rt.exec, training: false, seed: member.seed, step: 0 }, undefined)
    ).data() as Float32Array;
    // trainGcnRegressor's own formula, so the bits are those of its predictions.
    const out = Float64Array.from({ length: n }, (_, i) => raw[i]! * member.scale!.sd + member.scale!.mean);
    model.release();
    return out;
  } finally {
    model.dispose();
    x.free();
    adj.free();
  }
}

/**
 * New samples scored by a fitted GCN, each joined to the graph it was fitted on on its own:
 * the sample becomes one more node, linked to the training rows in `neighbours[r]`
 * (undirected edges, as the fit's graph has), and the network runs over that graph. New
 * samples never share a graph, so one does not change another's scores. x: their
 * preprocessed features [k, p], standardized here with the fit's means and sds.
 */
export async function scoreGcnJoined(
  rt: Runtime,
  m: FittedNeuralModel,
  x: Float64Array,
  k: number,
  neighbours: Int32Array[],
): Promise<Float64Array> {
  const g = m.graph!,
    p = m.mean.length,
    width = Math.max(1, m.classes),
    N = g.rows;
  const z = Float32Array.from(standardize(x.subarray(0, k * p), p, m));
  const features = new Float32Array((N + 1) * p);
  features.set(g.features);
  const out = new Float64Array(k * width);
  for (let r = 0; r < k; r++) {
    features.set(z.subarray(r * p, r * p + p), N * p);
    const nb = neighbours[r]!;
    const src = Int32Array.from([...g.src, ...nb]),
      dst = Int32Array.from([...g.dst, ...Array.from(nb, () => N)]);
    const each = [];
    for (const member of m.members)
      each.push(
        (await networkRows(rt, m, member, features, N + 1, p, src, dst)).subarray(N * width, N * width + width),
      );
    out.set(meanOfMembers(each), r * width);
  }
  return out;
}

/** Runs one model on one fold. */
export async function runMbModel(rt: Runtime, model: MbModel, fold: MbFold, s: MbModelSettings): Promise<MbPrediction> {
  const cls = fold.labels !== null;
  const width = cls ? fold.classes : 1;
  const fitted = await fitMbModel(rt, model, fold, s);
  if (fitted.model === 'gcn') return { scores: await scoreGcnNodes(rt, fitted, fold.test) };
  const [scores, each] = await scoreMbMembers(rt, fitted, fold.x, fold.p, fold.test);
  if (each.length === 1) return { scores };
  return { scores, spread: memberSpread(scores, each, fold.test.length, width) };
}

/**
 * Each row's sd (n − 1) across an ensemble's members or the BNN's posterior samples, about
 * their mean `scores` ([rows, width]): of the value (regression), or of the second class's
 * probability (classification, width ≥ 2). graft mb's ensemble_sd and predictive_sd, and
 * graft predict's predictive_sd, are this one function.
 */
export function memberSpread(scores: Float64Array, each: Float64Array[], rows: number, width: number): Float64Array {
  const col = Math.min(1, width - 1),
    members = each.length;
  const spread = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const mean = scores[r * width + col]!;
    let ss = 0;
    for (const e of each) ss += (e[r * width + col]! - mean) ** 2;
    spread[r] = Math.sqrt(ss / (members - 1));
  }
  return spread;
}
