import { GraftError } from '../core/errors.js';
import { stackTargets, type GraphSample } from '../graph/batch.js';
import type { Runtime } from '../runtime/runtime.js';
import { GraphTrainer, type GraphEpoch, type GraphFitOptions, type GraphTrainConfig } from '../train/graph-trainer.js';
import { regressionByTarget } from '../train/metrics.js';
import type { StepSync } from '../train/step.js';
import type { SnapshotStats } from '../train/fault-recovery.js';
import { chooseThresholds, meanRocAuc, multilabelReport, type MultilabelReport } from '../train/multilabel-metrics.js';
import type { MoleculeDataset } from './dataset.js';
import { MORGAN_BITS, toSample } from './featurize.js';
import {
  DESCRIPTOR_COUNT,
  descriptorScaling,
  moleculeDescriptors,
  standardizeDescriptors,
  type DescriptorScaling,
} from './descriptors.js';
import { imbalanceStats, lpRos, mlRos, mlSmote, withSynthetic, type Oversampler, type Synthetic } from './imbalance.js';
import { randomSplit, scaffoldSplit, type Split } from './split.js';

/**
 * A molecule task's options: the split, oversampling, the hybrid's descriptor branch, epoch selection, the trainer's config, checkpoints and MPI training.
 */
export interface MoleculeTaskOptions {
  split: 'random' | 'scaffold';
  oversample: Oversampler;
  /** Clones per training molecule for ML-ROS and LP-ROS (default 0.25). */
  oversampleFraction: number;
  hybrid: boolean;
  /**
   * What the hybrid's dense branch reads (denseInputs): the Morgan fingerprint (the default),
   * RDKit's 2D descriptors standardized on the training split, or both side by side.
   */
  hybridInputs?: HybridInputs;
  /** Multi-label: choose the epoch by validation ROC-AUC ('auc') or loss ('loss'). */
  selectBy?: 'auc' | 'loss';
  config: GraphTrainConfig;
  /** Checkpoints, resume, interrupts and fault recovery, passed to GraphTrainer.fit. */
  fit?: Pick<GraphFitOptions, 'checkpoint' | 'resume' | 'interrupted' | 'faults'>;
  /**
   * Data-parallel training over MPI ranks: this process trains on its shard of the training
   * molecules (every `ranks`-th from `rank`, the same count on every rank) and `sync` averages.
   */
  distributed?: { rank: number; ranks: number; sync: StepSync };
}

/** Rank r's shard: molecules r, r + P, r + 2P, …, ⌊N/P⌋ of them, so every rank takes the same number of steps. */
export function rankShard<T>(train: readonly T[], rank: number, ranks: number): T[] {
  const per = Math.floor(train.length / ranks);
  if (per === 0) throw new GraftError(`${train.length} training molecules are too few for ${ranks} ranks`);
  return Array.from({ length: per }, (_, i) => train[i * ranks + rank]!);
}

/**
 * Defaults for molecule tasks: 3 GCN layers of 128, max pooling, lr 1e-3, batches of 64 in shards of 32, 150 epochs, patience 15.
 */
export const MOLECULE_DEFAULTS: Omit<GraphTrainConfig, 'task'> = {
  layers: 3,
  hidden: 128,
  dropout: 0.1,
  pool: 'max',
  lr: 1e-3,
  weightDecay: 0,
  epochs: 150,
  batchSize: 64,
  shardSize: 32,
  patience: 15,
  seed: 1,
};

/**
 * What trainMoleculeTask returns: the split, the history, the best epoch, test metrics (per label too), imbalance before and after oversampling, and the weights.
 */
export interface MoleculeTaskResult {
  split: Split;
  history: GraphEpoch[];
  bestEpoch: number;
  metrics: Record<string, number>;
  /** Multi-label: the per-label test report; regression: per-target rows. */
  perLabel: Record<string, number | string>[];
  imbalance?: {
    meanIRBefore: number;
    meanIRAfter: number;
    scumbleBefore: number;
    scumbleAfter: number;
    synthetic: number;
  };
  /** Multi-label: each label's decision threshold, chosen on the validation split (what predictions.csv's calls use). */
  thresholds?: Float32Array;
  /** The test split's outputs [test, targets]: probabilities (multi-label) or values (regression), as scored. */
  testOutputs: Float32Array;
  /** The reported (best-epoch) weights by parameter name. */
  weights: Map<string, Float32Array>;
  /** Stopped by fit.interrupted before the last epoch: no figures were computed (the checkpoint holds where). */
  interrupted: boolean;
  snapshot: SnapshotStats | null;
  /** The hybrid with descriptors: their training-split mean and sd, which new molecules must be scaled by. */
  descriptorScaling?: { mean: Float64Array; sd: Float64Array };
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** What the hybrid's dense branch reads: 'fingerprint' (1024 Morgan bits), 'descriptors' (RDKit 2D, chem/descriptors.ts) or 'both'. */
export const HYBRID_INPUTS = ['fingerprint', 'descriptors', 'both'] as const;
/** One of HYBRID_INPUTS. */
export type HybridInputs = (typeof HYBRID_INPUTS)[number];

/** Columns of the hybrid's dense input for a choice of inputs. */
export function hybridInputWidth(inputs: HybridInputs): number {
  return (inputs === 'descriptors' ? 0 : MORGAN_BITS) + (inputs === 'fingerprint' ? 0 : DESCRIPTOR_COUNT);
}

/**
 * Each molecule's dense-branch input for `inputs`: its Morgan bits, its RDKit descriptors
 * standardized with the training rows' mean and sd (`train`: indices into ds.graphs), or the
 * bits then the descriptors. Also the scaling, which a model applied to new molecules needs.
 */
export async function denseInputs(
  ds: MoleculeDataset,
  inputs: HybridInputs,
  train: readonly number[],
): Promise<{ rows: Float32Array[]; scaling: DescriptorScaling | null }> {
  if (inputs === 'fingerprint') return { rows: ds.graphs.map((g) => g.morgan), scaling: null };
  const raw = await moleculeDescriptors(ds.smiles);
  const scaling = descriptorScaling(raw, DESCRIPTOR_COUNT, train);
  const z = standardizeDescriptors(raw, scaling);
  const D = DESCRIPTOR_COUNT;
  const rows = ds.graphs.map((g, i) => {
    const d = z.subarray(i * D, (i + 1) * D);
    if (inputs === 'descriptors') return d;
    const both = new Float32Array(MORGAN_BITS + D);
    both.set(g.morgan);
    both.set(d, MORGAN_BITS);
    return both;
  });
  return { rows, scaling };
}

/**
 * Trains a graph-level model on a molecule data set: split (random or Bemis–Murcko scaffold),
 * optional oversampling of the training part, mini-batches with batch splitting, early stopping
 * on validation loss; multi-label thresholds are chosen on the validation split.
 */
export async function trainMoleculeTask(
  rt: Runtime,
  ds: MoleculeDataset,
  o: MoleculeTaskOptions,
  onEpoch?: (e: GraphEpoch) => void,
): Promise<MoleculeTaskResult> {
  const T = ds.targets.length,
    c = o.config;
  const inputs = o.hybridInputs ?? 'fingerprint';
  const dense = o.hybrid ? await denseInputs(ds, inputs, splitOf(ds, o)) : null;
  const { split, train, val, test, labelsOf } = moleculeSplit(ds, o, dense ? (i) => dense.rows[i]! : undefined);
  let imbalance: MoleculeTaskResult['imbalance'];
  if (o.oversample !== 'none') {
    if (c.task !== 'multilabel') throw new GraftError('oversampling is for multi-label classification (0/1 labels)');
    const yTrain = new Float32Array(split.train.length * T);
    split.train.forEach((i, k) => {
      yTrain.set(labelsOf(i), k * T);
    });
    const seed = c.seed * 7919 + 1;
    const extra: Synthetic[] =
      o.oversample === 'mlros'
        ? mlRos(yTrain, T, o.oversampleFraction, seed)
        : o.oversample === 'lpros'
          ? lpRos(yTrain, T, o.oversampleFraction, seed)
          : mlSmote(
              yTrain,
              T,
              split.train.map((i) => ds.graphs[i]!.morgan),
              5,
              seed,
            );
    const before = imbalanceStats(yTrain, T),
      after = imbalanceStats(withSynthetic(yTrain, T, extra), T);
    for (const s of extra) {
      const base = train[s.source]!;
      // MLSMOTE interpolates fingerprints; with descriptors in the dense input a clone keeps its seed's.
      const fp = o.hybrid && s.descriptors && inputs === 'fingerprint';
      train.push({ ...base, y: s.y, ...(fp ? { descriptors: s.descriptors } : {}) });
    }
    imbalance = {
      meanIRBefore: before.meanIR,
      meanIRAfter: after.meanIR,
      scumbleBefore: before.scumble,
      scumbleAfter: after.scumble,
      synthetic: extra.length,
    };
  }
  const trainer = moleculeTrainer(rt, ds, c, o.hybrid, inputs);
  let mine = train;
  if (o.distributed) {
    mine = rankShard(train, o.distributed.rank, o.distributed.ranks);
    trainer.sync = o.distributed.sync;
  }
  try {
    const yVal = stackTargets(val, T);
    // Multi-label: the epoch is chosen by validation ROC-AUC (mean over labels), as the metric reported.
    const valAuc =
      c.task === 'multilabel' && o.selectBy === 'auc'
        ? (pred: Float32Array): number => meanRocAuc(yVal, pred.map(sigmoid), T)
        : undefined;
    const history = await trainer.fit(mine, val, {
      ...o.fit,
      restoreBest: true,
      ...(onEpoch ? { onEpoch } : {}),
      ...(valAuc ? { valScore: valAuc } : {}),
    });
    if (trainer.interrupted)
      return {
        split,
        history,
        bestEpoch: trainer.bestEpoch,
        metrics: {},
        perLabel: [],
        testOutputs: new Float32Array(0),
        weights: new Map(),
        interrupted: true,
        snapshot: trainer.snapshot,
      };
    const metrics: Record<string, number> = {
      best_epoch: trainer.bestEpoch,
      epochs_run: history.length,
      train_molecules: mine.length,
      val_molecules: val.length,
      test_molecules: test.length,
      mean_epoch_ms: history.reduce((a, h) => a + h.ms, 0) / Math.max(1, history.length),
    };
    const report = await moleculeReport(trainer, ds, c.task, val, test);
    Object.assign(metrics, report.metrics);
    const perLabel = report.perLabel;
    if (imbalance)
      Object.assign(metrics, {
        mean_ir_before: imbalance.meanIRBefore,
        mean_ir_after: imbalance.meanIRAfter,
        scumble_before: imbalance.scumbleBefore,
        scumble_after: imbalance.scumbleAfter,
        synthetic_samples: imbalance.synthetic,
      });
    const weights = new Map(trainer.master.params().map((p) => [p.name, (p.value.data() as Float32Array).slice()]));
    return {
      split,
      history,
      bestEpoch: trainer.bestEpoch,
      metrics,
      perLabel,
      weights,
      interrupted: false,
      snapshot: trainer.snapshot,
      ...(dense?.scaling ? { descriptorScaling: dense.scaling } : {}),
      testOutputs: report.testOutputs,
      ...(report.thresholds ? { thresholds: report.thresholds } : {}),
      ...(imbalance ? { imbalance } : {}),
    };
  } finally {
    trainer.dispose();
  }
}

/** The task's split's training molecules (indices into ds.graphs), as moleculeSplit draws them. */
function splitOf(
  ds: MoleculeDataset,
  o: Pick<MoleculeTaskOptions, 'split'> & { config: Pick<GraphTrainConfig, 'seed'> },
): number[] {
  return (
    o.split === 'scaffold' ? scaffoldSplit(ds.graphs, o.config.seed) : randomSplit(ds.graphs.length, o.config.seed)
  ).train;
}

/**
 * The task's split (seeded: the same every time for a data set and seed) as graph samples;
 * for the hybrid, each with its Morgan bits as descriptors, or `dense(i)` when given.
 */
export function moleculeSplit(
  ds: MoleculeDataset,
  o: Pick<MoleculeTaskOptions, 'split' | 'hybrid'> & { config: Pick<GraphTrainConfig, 'seed'> },
  dense?: (i: number) => Float32Array,
): {
  split: Split;
  train: GraphSample[];
  val: GraphSample[];
  test: GraphSample[];
  labelsOf: (i: number) => Float32Array;
} {
  const T = ds.targets.length,
    seed = o.config.seed;
  const split = o.split === 'scaffold' ? scaffoldSplit(ds.graphs, seed) : randomSplit(ds.graphs.length, seed);
  if (split.train.length === 0 || split.val.length === 0 || split.test.length === 0)
    throw new GraftError(`${ds.file}: ${ds.graphs.length} molecules are too few for a train/validation/test split`);
  const labelsOf = (i: number): Float32Array => ds.y.slice(i * T, (i + 1) * T);
  const sample = (i: number): GraphSample => {
    const g = toSample(ds.graphs[i]!, labelsOf(i), o.hybrid);
    return o.hybrid && dense ? { ...g, descriptors: dense(i) } : g;
  };
  return { split, train: split.train.map(sample), val: split.val.map(sample), test: split.test.map(sample), labelsOf };
}

/**
 * A trained model's outputs for molecules: probabilities (multi-label: the sigmoid of each
 * logit, rounded to float32) or values (regression), row-major [samples, targets]. The one
 * place they are computed, so the test figures, predictions.csv and graft predict agree bitwise.
 */
export async function moleculeOutputs(
  trainer: GraphTrainer,
  task: GraphTrainConfig['task'],
  samples: readonly GraphSample[],
): Promise<Float32Array> {
  const out = await trainer.predict(samples);
  return task === 'multilabel' ? out.map(sigmoid) : out;
}

/**
 * Test figures of a trained model: multi-label ROC-AUC, PR-AUC and F1 with each label's
 * threshold chosen on validation, or regression RMSE, r and R² per target; also the
 * thresholds and the test outputs themselves (for predictions.csv).
 */
export async function moleculeReport(
  trainer: GraphTrainer,
  ds: MoleculeDataset,
  task: GraphTrainConfig['task'],
  val: GraphSample[],
  test: GraphSample[],
): Promise<{
  metrics: Record<string, number>;
  perLabel: MoleculeTaskResult['perLabel'];
  thresholds?: Float32Array;
  testOutputs: Float32Array;
}> {
  const T = ds.targets.length;
  const yVal = stackTargets(val, T),
    yt = stackTargets(test, T);
  if (task === 'multilabel') {
    const probV = await moleculeOutputs(trainer, task, val),
      probT = await moleculeOutputs(trainer, task, test);
    const th = chooseThresholds(yVal, probV, T);
    const rv = multilabelReport(yVal, probV, ds.targets, th),
      rtest: MultilabelReport = multilabelReport(yt, probT, ds.targets, th);
    return {
      metrics: {
        test_roc_auc: rtest.roc_auc,
        test_pr_auc: rtest.pr_auc,
        test_f1_weighted: rtest.f1.weighted,
        test_f1_micro: rtest.f1.micro,
        test_f1_macro: rtest.f1.macro,
        test_precision_weighted: rtest.precision.weighted,
        test_recall_weighted: rtest.recall.weighted,
        test_precision_micro: rtest.precision.micro,
        test_recall_micro: rtest.recall.micro,
        test_precision_macro: rtest.precision.macro,
        test_recall_macro: rtest.recall.macro,
        val_roc_auc: rv.roc_auc,
        val_f1_weighted: rv.f1.weighted,
      },
      perLabel: rtest.perLabel,
      thresholds: th,
      testOutputs: probT,
    };
  }
  const pt = await moleculeOutputs(trainer, task, test);
  const reps = regressionByTarget(test, pt, T);
  const mean = (k: keyof (typeof reps)[number]): number => reps.reduce((a, r) => a + (r[k] as number), 0) / T;
  return {
    metrics: { test_rmse: mean('rmse'), test_r: mean('pearson'), test_r2: mean('r2') },
    perLabel: reps.map((r, t) => ({ label: ds.targets[t]!, ...r })),
    testOutputs: pt,
  };
}

/** The trainer of a molecule task: atom features in, one output per target; the hybrid adds the fingerprint branch. */
export function moleculeTrainer(
  rt: Runtime,
  ds: MoleculeDataset,
  c: GraphTrainConfig,
  hybrid: boolean,
  inputs: HybridInputs = 'fingerprint',
): GraphTrainer {
  return new GraphTrainer(rt, ds.graphs[0]!.x.length / ds.graphs[0]!.atoms, ds.targets.length, {
    ...c,
    ...(hybrid ? { hybrid: { descriptors: hybridInputWidth(inputs), denseHidden: 64 } } : {}),
  });
}
