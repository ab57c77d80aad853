import { argRangeError } from '../core/errors.js';
import { gcnNorm } from '../graph/gcn-norm.js';
import type { CsrMatrix } from '../graph/csr.js';
import { Adam } from './adam.js';
import { EarlyStopping } from './early-stopping.js';
import type { PassContext } from '../nn/layer.js';
import { joinedModel, sequentialModel, type Model } from '../nn/model.js';
import { gcnStack } from '../nn/gcn-stack.js';
import { appnpStack } from '../nn/appnp.js';
import type { Propagation } from '../nn/layers.js';
import { Rng } from '../core/random.js';
import { Sequential } from '../nn/sequential.js';
import { BranchJoin } from '../nn/branch-join.js';
import { genomicBranchParts, genomicHybridParts, genomicStackShape } from '../nn/task-models.js';
import { splitColumns } from '../ops/columns.js';
import { mseLoss } from '../ops/losses.js';
import type { Runtime } from '../runtime/runtime.js';
import { Tensor } from '../memory/tensor.js';
import { guardEpochs, type FaultRecoveryOptions, type RecoveredFault } from './fault-recovery.js';
import type { TrainingState } from './training-state.js';
import { placementChoice, trialPlacements, type Placement, type PlacementChoice } from './placement-trial.js';
import { nodeMask } from './node-mask.js';
import {
  checkpointDue,
  resumableFile,
  resumeRun,
  runCheckpoint,
  runFingerprint,
  type RunCheckpoints,
} from './run-checkpoint.js';
import { evaluationPass, trainingPass } from './step.js';

/**
 * The genomic GCN regressor's configuration: its shape, the optimizer, early stopping, the validation split, the seed and the ensemble size.
 */
export interface GcnRegressorConfig {
  /** GCN layers (the founding study: 3). */
  layers: number;
  hidden: number;
  dropout: number;
  lr: number;
  /** L2 weight decay on every weight. */
  weightDecay: number;
  epochs: number;
  /** Early stopping on the inner validation loss (0: never stop early). */
  patience: number;
  /** Fraction of the training samples held out, seeded, to choose the epoch. */
  valFraction: number;
  /** Seeds the initial weights and the inner validation split, and the dropout masks unless trainSeed is given. */
  seed: number;
  /**
   * Seeds the dropout masks apart from the initial weights: fits of one seed and several train
   * seeds start from the same weights and train differently, as the members of a model soup
   * must. Absent: the seed.
   */
  trainSeed?: number;
  /** Width of the dense covariate branch of the hybrid model. */
  denseHidden: number;
  /** Models trained from different seeds (init, dropout, inner validation split) whose predictions are averaged. */
  ensemble: number;
  /**
   * 'appnp': predict with a two-layer MLP, then propagate by personalized PageRank (10 steps,
   * α = 0.1) instead of the GCN stack (plain stack only: no covariates or marker blocks).
   */
  architecture?: 'gcn' | 'appnp';
}

/** The founding study's settings for genomic prediction: 3 GCN layers of 64, an ensemble of 5. */
export const GCN_GP_DEFAULTS: GcnRegressorConfig = {
  layers: 3,
  hidden: 64,
  dropout: 0.2,
  lr: 0.005,
  weightDecay: 5e-3,
  epochs: 300,
  patience: 60,
  valFraction: 0.1,
  seed: 1,
  denseHidden: 16,
  ensemble: 5,
};

/**
 * What trainGcnRegressor learns from: node features and the sample graph, the trait, the training nodes, and optional covariates.
 */
export interface GcnRegressionInput {
  n: number;
  /** Node features [n, f]. */
  features: Float32Array;
  f: number;
  /** Undirected edges of the sample graph. */
  src: Int32Array;
  dst: Int32Array;
  /** A weight per edge (default 1): how related the two samples are, for a weighted Â. */
  edgeWeights?: Float32Array;
  /** Phenotype per node (NaN where unknown). */
  y: Float64Array;
  /** Nodes whose phenotypes may be used for training (the rest are predicted). */
  train: Int32Array;
  /** Covariates [n, c] for the hybrid model's dense branch. */
  covariates?: { values: Float32Array; width: number };
  /** Feature columns per GCN branch (they add up to f): one branch per marker block. */
  featureBlocks?: number[];
  /**
   * The inner validation nodes that choose the epoch, when the caller needs to know them (a
   * stacked model blends on the same nodes); default: a seeded valFraction of the training nodes.
   */
  validation?: Int32Array;
}

/**
 * What trainGcnRegressor returns: a prediction for every node, the chosen epoch, the weights and the trait's scaling.
 */
export interface GcnRegressionResult {
  /** Prediction for every node, on the phenotype's scale. */
  predictions: Float64Array;
  bestEpoch: number;
  epochsRun: number;
  valLoss: number;
  /** Mean cost of the in-memory snapshot taken before each epoch (ms), and the faults recovered from. */
  snapshotMs: number;
  faults: RecoveredFault[];
  /** The epoch a checkpoint let it start from (1: from scratch). */
  startEpoch: number;
  /** The reported (best-epoch) weights by parameter name, and the trait's scale: prediction = output · sd + mean. */
  weights: Map<string, Float32Array>;
  scale: { mean: number; sd: number };
  /**
   * Where the fit ran, as a timed trial on its first epochs chose it (with the ms per epoch of
   * each placement timed), or null: no trial (one thread, too few epochs, or chosen by the
   * hooks). With branches (the hybrid, the branched model): 'workers', 'inline' or 'serial'
   * (workersMs, inlineMs, serialMs). The plain GCN has no branches, so its whole epochs are
   * placed: 'inline' (every op split over all threads) or 'serial' (the calling thread alone,
   * for a model too small to pay for a second thread); no workersMs.
   */
  placement: PlacementChoice<'workers' | 'inline' | 'serial'> | PlacementChoice<'inline' | 'serial'> | null;
}

/**
 * Options of trainGcnRegressor beyond its config: checkpoints and resume, fault recovery, and where the hybrid's two branches run.
 */
export interface GcnRegressorHooks {
  /**
   * Checkpoint the training state to `file` every `every` epochs (kept with the previous one),
   * and continue from it when it is there: the fit ends with the bits of one never stopped.
   * The file is for one fit (same data, training nodes and config), checked on load.
   */
  checkpoint?: { file: string; every: number };
  /** Rollback on a worker fault mid-epoch (see EpochGuard). */
  faults?: FaultRecoveryOptions;
  /**
   * Where the hybrid's and the branched model's branches run: each branch but the first on a
   * worker of its own, a whole pass at a time; forked onto groups of threads that this thread
   * dispatches for; one after another with intra-op splitting; or one after another on the
   * calling thread alone ('serial'). For the plain GCN, which has no branches, 'serial' runs
   * its epochs on the calling thread alone and any other placement intra-op over all threads.
   * Default: a few epochs of each (workers, inline and serial; inline and serial for the plain
   * GCN) are timed and the fastest runs the rest (result.placement). Same bits every way.
   */
  branches?: Placement;
}

/** What identifies one fit: its config, the nodes it fits and validates on, and their targets. */
function fitFingerprint(
  c: GcnRegressorConfig,
  fitIdx: number[],
  valIdx: number[],
  target: Float32Array,
  data: GcnRegressionInput,
): string {
  return runFingerprint([
    JSON.stringify([c, fitIdx, valIdx, data.n, data.f, data.featureBlocks ?? null, data.covariates?.width ?? 0]),
    target,
    data.features,
    data.src,
    ...(data.edgeWeights ? [data.edgeWeights] : []),
  ]);
}

/**
 * A GCN for a node-level continuous trait, trained transductively: every genotype is a node
 * of the graph, only training nodes' phenotypes enter the loss (MSE on the standardized
 * trait), the epoch is chosen on a seeded inner validation split, and the model predicts all
 * nodes. With covariates, the hybrid: a GCN branch and a dense branch, forked to run at once,
 * concatenated before the output layer.
 */
export async function trainGcnRegressor(
  rt: Runtime,
  data: GcnRegressionInput,
  c: GcnRegressorConfig,
  hooks: GcnRegressorHooks = {},
): Promise<GcnRegressionResult> {
  const fn = 'trainGcnRegressor';
  if (!Number.isInteger(c.layers) || c.layers < 1)
    throw argRangeError(fn, 'config.layers', 'a positive integer', c.layers);
  if (c.trainSeed !== undefined && !Number.isInteger(c.trainSeed))
    throw argRangeError(fn, 'config.trainSeed', 'an integer', c.trainSeed);
  if (!(c.valFraction > 0 && c.valFraction < 1))
    throw argRangeError(fn, 'config.valFraction', 'in (0, 1)', c.valFraction);
  const heap = rt.heap,
    n = data.n;
  const labelled = Array.from(data.train).filter((i) => Number.isFinite(data.y[i]!));
  if (labelled.length < 4) throw argRangeError(fn, 'data.train', 'at least 4 nodes with a phenotype', labelled.length);
  let valIdx: number[], fitIdx: number[];
  if (data.validation) {
    const held = new Set(data.validation);
    valIdx = labelled.filter((i) => held.has(i));
    fitIdx = labelled.filter((i) => !held.has(i));
    if (valIdx.length === 0 || fitIdx.length < 3)
      throw argRangeError(
        fn,
        'data.validation',
        'some but not all of the phenotyped training nodes',
        data.validation.length,
      );
  } else {
    new Rng(c.seed ^ 0x5eed).shuffle(labelled);
    const nVal = Math.max(1, Math.round(labelled.length * c.valFraction));
    valIdx = labelled.slice(0, nVal);
    fitIdx = labelled.slice(nVal);
  }
  let mean = 0;
  for (const i of fitIdx) mean += data.y[i]!;
  mean /= fitIdx.length;
  let sd = 0;
  for (const i of fitIdx) sd += (data.y[i]! - mean) ** 2;
  sd = Math.sqrt(sd / Math.max(1, fitIdx.length - 1)) || 1;
  const target = new Float32Array(n);
  for (let i = 0; i < n; i++) target[i] = Number.isFinite(data.y[i]!) ? (data.y[i]! - mean) / sd : 0;

  const adj: CsrMatrix = gcnNorm(heap, n, data.src, data.dst, data.edgeWeights ? { weights: data.edgeWeights } : {});
  const prop: Propagation = { adj };
  const x = Tensor.from(heap, 'float32', [n, data.f], data.features);
  const yT = Tensor.from(heap, 'float32', [n, 1], target);
  const fitMask = nodeMask(heap, n, fitIdx),
    valMask = nodeMask(heap, n, valIdx);
  const cov = data.covariates ? Tensor.from(heap, 'float32', [n, data.covariates.width], data.covariates.values) : null;
  const blocks = data.featureBlocks && data.featureBlocks.length > 1 ? data.featureBlocks : null;
  if (blocks && cov)
    throw argRangeError(fn, 'data', 'feature blocks (GCN branches) or covariates (the hybrid), not both', 'both');
  if (blocks && blocks.reduce((a, b) => a + b, 0) !== data.f)
    throw argRangeError(fn, 'data.featureBlocks', `widths adding up to f = ${data.f}`, blocks);
  const xs = blocks ? splitColumns(heap, x, blocks) : [];
  const held = cov ? [x, cov] : blocks ? xs : [x];
  const model = gcnRegressorModel<void>(
    rt,
    c,
    { f: data.f, ...(cov ? { covariates: cov.shape[1]! } : {}), ...(blocks ? { blocks } : {}) },
    () => prop,
    () => held,
  );
  const params = model.params();
  const adam = new Adam(params, { lr: c.lr });
  const stopper = new EarlyStopping(c.patience, params);
  const state: TrainingState = { params, adam, stopper };
  // Dropout keys come from (train seed, epoch): the tensors and Adam's step are all an epoch changes.
  const guard = guardEpochs(heap, state, hooks.faults);
  const cpHook = hooks.checkpoint;
  const fingerprint = cpHook ? fitFingerprint(c, fitIdx, valIdx, target, data) : '';
  let start = 1;
  let placement: GcnRegressionResult['placement'] = null;
  const checkpointOf = (e: number) =>
    runCheckpoint(state, { task: 'genomic-gcn', epoch: String(e), fit_sha256: fingerprint });
  let epoch = start - 1;
  const evalCtx: PassContext = { exec: rt.exec, training: false, seed: c.seed, step: 0 };
  let checkpoints: RunCheckpoints | null = null;
  /** Runs epochs from `epoch` through `last` (or to the end of training), on whatever placement holds the threads. */
  const runEpochs = async (last: number): Promise<void> => {
    for (; epoch <= Math.min(last, c.epochs) && !stopper.shouldStop; epoch++) {
      const e = epoch;
      const vl = await guard.run(e, async () => {
        const ctx: PassContext = { exec: rt.exec, training: true, seed: c.trainSeed ?? c.seed, step: e };
        await trainingPass(model, ctx, undefined, (out) => mseLoss(rt.exec, out, yT, { mask: fitMask }));
        await adam.update(rt.exec);
        return evaluationPass(model, evalCtx, undefined, async (ev) => {
          const v = await mseLoss(rt.exec, ev, yT, { mask: valMask });
          v.grad.free();
          return v.loss;
        });
      });
      stopper.observe(epoch, vl);
      if (checkpoints && checkpointDue(checkpoints, epoch, epoch === c.epochs || stopper.shouldStop))
        checkpoints.write(checkpointOf(epoch));
    }
  };
  // The hybrid and the branched model run their branches in every pass. Where they run is
  // held for stretches of epochs: each branch but the first on a worker of its own, forked
  // groups of threads, one after another with intra-op splitting, or one after another on
  // this thread alone. Unless the hooks choose, a few epochs of workers, inline and serial are
  // timed and the rest of the fit uses the fastest, so branches never make a fit slower than
  // not forking. The plain GCN's epochs are timed inline and serial: the founding study's
  // model (a millisecond epoch) can be too small for a second thread to pay for its
  // hand-overs, and then runs on one. Same bits whatever runs where.
  const forks = cov ? 2 : blocks ? blocks.length : 0;
  const holdThreads = model.holdThreads;
  const placed =
    (mode: Placement) =>
    <T>(f: () => Promise<T>): Promise<T> =>
      rt.threads === 1
        ? f()
        : mode === 'serial'
          ? rt.onOneThread(() => (forks > 0 && holdThreads ? holdThreads(f, 'inline') : f()))
          : forks === 0
            ? f()
            : mode === 'groups' || !holdThreads
              ? rt.withForkGroups(forks, f)
              : holdThreads(f, mode);
  try {
    if (cpHook) {
      checkpoints = resumableFile(cpHook.file, cpHook.every);
      // The fingerprint covers the config with the data: a fit's checkpoint is for that fit alone.
      const from = checkpoints.resume;
      if (from)
        start = resumeRun(from, state, {
          fn,
          fingerprint: {
            key: 'fit_sha256',
            value: fingerprint,
            arg: 'hooks.checkpoint',
            expected: (file) =>
              `a checkpoint of this fit (${file} is of another fit: other data, training nodes or config)`,
            actual: from.file,
          },
        }).epoch;
    }
    epoch = start;
    let mode: Placement = hooks.branches ?? (forks > 0 ? 'workers' : 'inline');
    if (hooks.branches === undefined && rt.threads > 1 && c.epochs - start + 1 > MIN_EPOCHS_FOR_TRIAL) {
      // A few epochs under each placement (the threads handed over between them), timed; the fastest takes the rest.
      const modes: readonly ('workers' | 'inline' | 'serial')[] =
        forks > 0 ? ['workers', 'inline', 'serial'] : ['inline', 'serial'];
      const epochs = Array.from({ length: c.epochs - start + 1 }, (_, i) => start + i);
      const trial = await trialPlacements(
        modes,
        epochs,
        (m, f) => placed(m)(f),
        (list) => runEpochs(list[list.length - 1]!),
      );
      if (trial) {
        mode = trial.best;
        placement = placementChoice(mode, trial.times);
      }
    }
    return await placed(mode)(async () => {
      await runEpochs(c.epochs);
      return finish();
    });
  } finally {
    guard.dispose();
    model.dispose();
    adam.dispose();
    adj.free();
    x.free();
    yT.free();
    fitMask.free();
    valMask.free();
    cov?.free();
    for (const t of xs) t.free();
  }

  async function finish(): Promise<GcnRegressionResult> {
    epoch--;
    stopper.restoreBest();
    const predictions = new Float64Array(n);
    await evaluationPass(model, evalCtx, undefined, (ev) => {
      const raw = ev.data() as Float32Array;
      for (let i = 0; i < n; i++) predictions[i] = raw[i]! * sd + mean;
    });
    const weights = new Map(params.map((p) => [p.name, (p.value.data() as Float32Array).slice()]));
    return {
      predictions,
      bestEpoch: stopper.bestEpoch,
      epochsRun: epoch,
      valLoss: stopper.best,
      snapshotMs: guard.stats.snapshotMs,
      faults: guard.stats.faults,
      startEpoch: start,
      weights,
      scale: { mean, sd },
      placement,
    };
  }
}

/**
 * Fits of at most this many epochs do not time their placements (the trial would be much of
 * the fit: 2 warm-up epochs and up to 5 timed ones per placement, 21 with branches).
 */
const MIN_EPOCHS_FOR_TRIAL = 24;

/** APPNP's propagation as the paper sets it: 10 steps, restart probability 0.1. */
const APPNP_STEPS = 10,
  APPNP_ALPHA = 0.1;

/** What a genomic GCN reads besides its features: covariates (the hybrid) or marker blocks (one branch each). */
export interface GcnRegressorInputs {
  f: number;
  covariates?: number;
  blocks?: number[];
}

/**
 * The genomic GCN of a config: the plain stack, the hybrid (with covariates) or the branched
 * model (with marker blocks), fed `inputs(i)`: [features], [features, covariates] or one
 * tensor per block. Weights are drawn from the config's seed in layer order, so the same
 * config builds the same model (training builds it; explanations rebuild it and load weights).
 */
export function gcnRegressorModel<I>(
  rt: Runtime,
  c: GcnRegressorConfig,
  shape: GcnRegressorInputs,
  graph: () => Propagation,
  inputs: (i: I) => Tensor[],
): Model<I> {
  if (c.architecture === 'appnp') {
    if (shape.covariates || (shape.blocks && shape.blocks.length > 1))
      throw argRangeError(
        'gcnRegressorModel',
        'config.architecture',
        "'gcn' with covariates or marker blocks",
        'appnp',
      );
    return sequentialModel(
      new Sequential(
        appnpStack(rt.heap, new Rng(c.seed), graph, {
          inFeatures: shape.f,
          hidden: c.hidden,
          out: 1,
          dropout: c.dropout,
          weightDecay: c.weightDecay,
          steps: APPNP_STEPS,
          alpha: APPNP_ALPHA,
        }),
      ),
      (i: I) => inputs(i)[0]!,
    );
  }
  if (shape.covariates) return hybridModel(rt, c, shape.f, shape.covariates, graph, inputs);
  if (shape.blocks && shape.blocks.length > 1) return branchedModel(rt, c, shape.blocks, graph, inputs);
  return sequentialModel(
    new Sequential(gcnStack(rt.heap, new Rng(c.seed), graph, genomicStackShape(c, shape.f, 1))),
    (i: I) => inputs(i)[0]!,
  );
}

/**
 * The hybrid: GCN layers on the graph ([n, hidden]) beside a dense layer on the covariates
 * ([n, denseHidden]), the two branches forked; their outputs are joined column-wise and a
 * linear layer makes the prediction.
 */
function hybridModel<I>(
  rt: Runtime,
  c: GcnRegressorConfig,
  f: number,
  covariates: number,
  graph: () => Propagation,
  inputs: (i: I) => Tensor[],
): Model<I> {
  const p = genomicHybridParts(rt.heap, c, f, covariates, graph);
  return joinedModel(new BranchJoin(rt, p.branches, p.head, p.widths, { graph }), inputs);
}

/**
 * The founding study's independent sections: one GCN stack per marker block on the same
 * graph (each [n, hidden]), forked to run at once and joined column-wise before a linear head.
 */
function branchedModel<I>(
  rt: Runtime,
  c: GcnRegressorConfig,
  blocks: number[],
  graph: () => Propagation,
  inputs: (i: I) => Tensor[],
): Model<I> {
  const p = genomicBranchParts(rt.heap, c, blocks, graph);
  return joinedModel(new BranchJoin(rt, p.branches, p.head, p.widths, { graph }), inputs);
}
