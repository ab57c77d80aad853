import { nodeGcn } from '../nn/task-models.js';
import {
  checkNodeModel,
  nodeMessageGraph,
  nodeMessageModel,
  nodeModelKind,
  type NodeModelKind,
} from '../nn/node-models.js';
import type { MessageGraph } from '../graph/message-graph.js';
import { classScores } from '../nn/class-scores.js';
import { argRangeError } from '../core/errors.js';
import type { NodeDataset } from '../graph/node-data.js';
import { CsrMatrix } from '../graph/csr.js';
import { gcnNorm } from '../graph/gcn-norm.js';
import { NODE_ORDER_CHOICES, nodeTaskInSpmmOrder, rowsInUserOrder, type NodeOrderChoice } from '../graph/reorder.js';
import { Adam } from './adam.js';
import { EarlyStopping } from './early-stopping.js';
import type { Parameter, PassContext } from '../nn/layer.js';
import { sequentialModel, type Model } from '../nn/model.js';
import { densityOf, SparseFeatures, sparseInputModel } from '../nn/sparse-input.js';
import type { Propagation } from '../nn/layers.js';
import type { Sequential } from '../nn/sequential.js';
import { loadWeights } from '../nn/load-weights.js';
import { softmaxCrossEntropy } from '../ops/losses.js';
import type { Runtime } from '../runtime/runtime.js';
import { Tensor } from '../memory/tensor.js';
import type { Checkpoint } from './checkpoint.js';
import {
  guardEpochs,
  type EpochGuard,
  type EpochScalars,
  type FaultRecoveryOptions,
  type SnapshotStats,
} from './fault-recovery.js';
import { accuracy, argmaxRows, classificationReport } from './metrics.js';
import { nodeMask } from './node-mask.js';
import { checkpointDue, checkpointsToFile, resumePointOf, resumeRun, runCheckpoint } from './run-checkpoint.js';
import { evaluationPass, trainingPass, type StepSync } from './step.js';
import { preprocessMetadata, type PreprocessStep } from '../graph/preprocess.js';

/**
 * A node classifier's configuration: the GCN's depth and width, dropout, the optimizer and its
 * weight decay, epochs and early stopping, the seed, and the features' format and node order.
 */
export interface NodeTrainConfig {
  /** GCN layers (≥ 1). */
  layers: number;
  /** Width of every hidden layer. */
  hidden: number;
  /** Dropout before each GCN layer (Kipf & Welling: 0.5). */
  dropout: number;
  lr: number;
  /** L2 weight decay (Kipf & Welling: 5e-4 on the first layer only). */
  weightDecay: number;
  weightDecayScope: 'first' | 'all';
  epochs: number;
  /** Stop when validation loss has not improved for this many epochs (0: never). */
  patience: number;
  /** Seeds the initial weights, and the rest of training unless trainSeed is given. */
  seed: number;
  /**
   * Seeds what training draws (the dropout masks) apart from the initial weights: runs of one
   * seed and several train seeds start from the same weights and train differently, as the
   * members of a model soup must (graft soup). Absent: the seed.
   */
  trainSeed?: number;
  /** Report test figures with the weights of the best validation loss (true) or the last epoch. */
  restoreBest: boolean;
  /**
   * Node features as CSR ('sparse': X·W is an SpMM and input dropout acts on the nonzeros),
   * dense, or 'auto': sparse below SPARSE_FEATURE_DENSITY nonzeros.
   */
  featureFormat: 'auto' | 'sparse' | 'dense';
  /**
   * The node order the passes run in (graph/reorder.ts): 'auto' (the default) renumbers
   * large graphs in reverse Cuthill–McKee order for SpMM's cache, 'rcm' always, 'input' never.
   * Outputs come back in the data set's order either way.
   */
  nodeOrder?: NodeOrderChoice;
  /**
   * The model (graft train --model): 'gcn' (Kipf & Welling's, the default; absent means it),
   * 'sage', 'gin', 'gat' or 'gatv2' (nn/node-models.ts: the same stack with that layer).
   */
  model?: NodeModelKind;
  /** GAT, GATv2: attention heads of each hidden layer (default 8). */
  heads?: number;
}

/** Below this fraction of nonzero features, 'auto' keeps them sparse (Cora: 1.3%, CiteSeer: 0.9%). */
export const SPARSE_FEATURE_DENSITY = 0.1;

/**
 * Kipf & Welling's settings for Cora: 2 layers, 16 hidden, dropout 0.5, lr 0.01, weight decay 5e-4 on the first layer, 200 epochs, patience 10.
 */
export const KIPF_DEFAULTS: NodeTrainConfig = {
  layers: 2,
  hidden: 16,
  dropout: 0.5,
  lr: 0.01,
  weightDecay: 5e-4,
  weightDecayScope: 'first',
  epochs: 200,
  patience: 10,
  seed: 1,
  restoreBest: true,
  featureFormat: 'auto',
};

/**
 * Veličković et al.'s GAT settings for Cora (graft train --model gat|gatv2): 2 layers, 8 heads
 * of 8 hidden channels, dropout 0.6 on the inputs of each layer and on the attention, lr 0.005,
 * weight decay 5e-4 on every layer; early stopping with patience 100 over at most 400 epochs.
 */
export const GAT_DEFAULTS: NodeTrainConfig = {
  ...KIPF_DEFAULTS,
  model: 'gat',
  hidden: 8,
  heads: 8,
  dropout: 0.6,
  lr: 0.005,
  weightDecay: 5e-4,
  weightDecayScope: 'all',
  epochs: 400,
  patience: 100,
};

/**
 * One epoch of node training: loss and accuracy on the training and validation nodes, test accuracy, and its wall time in ms.
 */
export interface EpochRecord {
  epoch: number;
  train_loss: number;
  train_accuracy: number;
  val_loss: number;
  val_accuracy: number;
  test_accuracy: number;
  ms: number;
}

/**
 * What trainNodeClassifier returns: the history, the best and last epochs, the metrics, the predictions and the weights.
 */
export interface NodeTrainResult {
  history: EpochRecord[];
  bestEpoch: number;
  stoppedEpoch: number;
  metrics: Record<string, number>;
  /** Class per node from the reported weights. */
  predictions: Int32Array;
  /** Final parameter values by name (copies). */
  weights: Map<string, Float32Array>;
  /** Whether the features were kept sparse (config.featureFormat). */
  sparseFeatures: boolean;
  /** Stopped early by hooks.stopAfter or hooks.interrupted (the checkpoint holds where). */
  interrupted: boolean;
  /** The in-memory snapshots taken before each epoch, and the worker faults recovered from. */
  snapshot: SnapshotStats;
}

/**
 * Options of trainNodeClassifier beyond its config: checkpoints and resume, interrupts, progress, fault recovery and MPI training.
 */
export interface NodeTrainHooks {
  /** Write a checkpoint here every `checkpointEvery` epochs and at the end. */
  checkpointPath?: string;
  checkpointEvery?: number;
  /** Continue from this checkpoint: a file, or one already read (as the CLI's latestGoodCheckpoint gives it). */
  resumeFrom?: string | { checkpoint: Checkpoint; file: string };
  /** Stop (as if interrupted) after this epoch; for tests of resume. */
  stopAfter?: number;
  /** Asked after every epoch: true stops there (a checkpoint is written first), as an interrupt. */
  interrupted?: () => boolean;
  /** Called after every epoch with its record (progress display, logging). */
  onEpoch?: (record: EpochRecord) => void;
  /** Rollback on a worker fault mid-epoch (see EpochGuard). */
  faults?: FaultRecoveryOptions;
  /**
   * Partition-parallel training over MPI: this process trains on its part of the graph, `sync`
   * averages gradients or parameters across the ranks (RankAveraging), and `sum` adds a few
   * numbers over the ranks in place (in rank order), so every rank's epoch record, early
   * stopping and checkpoint see the same validation loss and accuracy. Validation (which
   * makes the ranks agree on the parameters first) runs every `validateEvery` epochs and at the
   * last; early stopping's patience, in epochs, then counts validations of that period.
   */
  distributed?: { sync: StepSync; sum: (values: Float32Array) => void; validateEvery: number };
  /**
   * Start from these weights (by parameter name; nn/load-weights.ts's one loader puts them in)
   * instead of the seeded initialization, with fresh Adam moments and early stopping: a sparse
   * soup retrains its members from the pruned mean. `source` names them in a mismatch error.
   * Not with resumeFrom (a checkpoint brings its own weights).
   */
  initialWeights?: { weights: ReadonlyMap<string, ArrayLike<number>>; source: string };
  /**
   * Called after every optimizer step with the parameters, before validation: a sparse soup's
   * retraining sets its pruned weights back to zero here.
   */
  afterStep?: (params: readonly Parameter[]) => void;
  /**
   * What turned the raw features into `data.features` (graph/preprocess.ts), recorded in every
   * checkpoint so graft/infer and graft predict apply it to raw inputs. Absent: [] (a model
   * of the features as given).
   */
  preprocess?: PreprocessStep[];
}

export function checkNodeConfig(c: NodeTrainConfig): void {
  const fn = 'trainNodeClassifier';
  const posInt = (k: keyof NodeTrainConfig): void => {
    const v = c[k];
    if (!Number.isInteger(v) || (v as number) < 1) throw argRangeError(fn, `config.${k}`, 'a positive integer', v);
  };
  posInt('layers');
  posInt('hidden');
  posInt('epochs');
  if (!Number.isInteger(c.patience) || c.patience < 0)
    throw argRangeError(fn, 'config.patience', 'a non-negative integer', c.patience);
  if (!(c.dropout >= 0 && c.dropout < 1)) throw argRangeError(fn, 'config.dropout', 'in [0, 1)', c.dropout);
  if (!(c.lr > 0) || !Number.isFinite(c.lr)) throw argRangeError(fn, 'config.lr', 'a positive number', c.lr);
  if (!(c.weightDecay >= 0) || !Number.isFinite(c.weightDecay))
    throw argRangeError(fn, 'config.weightDecay', 'a non-negative number', c.weightDecay);
  if (c.weightDecayScope !== 'first' && c.weightDecayScope !== 'all')
    throw argRangeError(fn, 'config.weightDecayScope', "'first' or 'all'", c.weightDecayScope);
  if (!Number.isInteger(c.seed)) throw argRangeError(fn, 'config.seed', 'an integer', c.seed);
  if (c.trainSeed !== undefined && !Number.isInteger(c.trainSeed))
    throw argRangeError(fn, 'config.trainSeed', 'an integer', c.trainSeed);
  if (!['auto', 'sparse', 'dense'].includes(c.featureFormat))
    throw argRangeError(fn, 'config.featureFormat', "'auto', 'sparse' or 'dense'", c.featureFormat);
  if (c.nodeOrder !== undefined && !NODE_ORDER_CHOICES.includes(c.nodeOrder))
    throw argRangeError(fn, 'config.nodeOrder', "'auto', 'rcm' or 'input'", c.nodeOrder);
  checkNodeModel(fn, c);
  // Only a GCN's first layer reads sparse features (SparseInputGCNConv); 'auto' is dense for the others.
  if (c.featureFormat === 'sparse' && nodeModelKind(c) !== 'gcn')
    throw argRangeError(
      fn,
      'config.featureFormat',
      `'auto' or 'dense' for a ${c.model} model (sparse features are the GCN's)`,
      c.featureFormat,
    );
}

/** Kipf & Welling's model: [dropout → GCN → ReLU] × (layers-1), dropout → GCN. */
export function buildNodeGcn(
  rt: Runtime,
  inFeatures: number,
  classes: number,
  c: NodeTrainConfig,
  graph: () => Propagation,
): Sequential {
  return nodeGcn(rt.heap, inFeatures, classes, c, graph);
}

/** What a node model propagates on: Â for a GCN (gcnNorm), the message graph for the others. */
interface NodeGraphs {
  prop: Propagation | null;
  message: MessageGraph | null;
}

function nodeGraphs(heap: Runtime['heap'], data: NodeDataset, kind: NodeModelKind): NodeGraphs {
  return kind === 'gcn'
    ? { prop: { adj: gcnNorm(heap, data.numNodes, data.src, data.dst) }, message: null }
    : { prop: null, message: nodeMessageGraph(heap, data.numNodes, data.src, data.dst, kind) };
}

/** The config's model (buildNodeGcn or nn/node-models.ts's) on its graph. */
function buildNodeModel(
  rt: Runtime,
  inFeatures: number,
  classes: number,
  c: NodeTrainConfig,
  g: NodeGraphs,
): Sequential {
  return nodeModelKind(c) === 'gcn'
    ? buildNodeGcn(rt, inFeatures, classes, c, () => g.prop!)
    : nodeMessageModel(rt.heap, inFeatures, classes, c, () => g.message!);
}

const copyOf = (p: Parameter): Float32Array => (p.value.data() as Float32Array).slice();

/** The task in the shared heap: Â, features, labels and split masks. */
interface NodeTensors {
  graphs: NodeGraphs;
  /** Dense features, or null when they are kept sparse. */
  x: Tensor | null;
  sparse: SparseFeatures | null;
  labels: Tensor;
  train: Tensor;
  val: Tensor;
  free(): void;
}

/** Step 1: the task's arrays into the shared heap (Â normalized once; it is symmetric). */
function uploadNodeTask(heap: Runtime['heap'], data: NodeDataset, sparse: boolean, kind: NodeModelKind): NodeTensors {
  const n = data.numNodes;
  const made: { free(): void }[] = [];
  const keep = <T extends { free(): void }>(t: T): T => {
    made.push(t);
    return t;
  };
  try {
    const graphs = nodeGraphs(heap, data, kind);
    keep(graphs.prop?.adj ?? graphs.message!);
    return {
      graphs,
      x: sparse ? null : keep(Tensor.from(heap, 'float32', [n, data.numFeatures], data.features)),
      sparse: sparse
        ? keep(SparseFeatures.fromCsr(CsrMatrix.fromDense(heap, n, data.numFeatures, data.features)))
        : null,
      labels: keep(Tensor.from(heap, 'int32', [n], data.labels)),
      train: keep(nodeMask(heap, n, data.split.train)),
      val: keep(nodeMask(heap, n, data.split.val)),
      free: () => {
        for (const t of made) t.free();
      },
    };
  } catch (err) {
    for (const t of made) t.free();
    throw err;
  }
}

/** Everything a run carries from epoch to epoch: what a checkpoint stores and resume restores. */
interface NodeRunState {
  model: Model<void>;
  params: Parameter[];
  adam: Adam;
  stopper: EarlyStopping;
  history: EpochRecord[];
  afterStep?: NodeTrainHooks['afterStep'];
}

/** The run's state as a checkpoint: weights, Adam moments, best weights, early stopping, history. */
function nodeCheckpoint(
  run: NodeRunState,
  data: NodeDataset,
  config: NodeTrainConfig,
  preprocess: PreprocessStep[],
): Checkpoint {
  const h = run.history;
  return runCheckpoint(run, {
    task: 'node',
    dataset: data.name,
    config: JSON.stringify(config),
    epoch: String(h.length ? h[h.length - 1]!.epoch : 0),
    history: JSON.stringify(h),
    rng: `seed:${config.trainSeed ?? config.seed}`, // dropout keys derive from (train seed, epoch); init from the seed
    ...preprocessMetadata({ features: preprocess }),
  });
}

/** Step 3: continue from a checkpoint of the same config (epochs may differ); returns the next epoch. */
function resumeNodeRun(
  run: NodeRunState,
  from: NonNullable<NodeTrainHooks['resumeFrom']>,
  config: NodeTrainConfig,
): number {
  const fn = 'trainNodeClassifier';
  // nodeOrder left out means 'auto', in the config given and in a checkpoint from before it existed.
  // model left out means 'gcn' (checkpoints from before --model); compared first, as the other keys' defaults follow it.
  const value = (c: Record<string, unknown>, k: string): unknown =>
    k === 'nodeOrder' ? (c[k] ?? 'auto') : k === 'model' ? nodeModelKind(c as unknown as NodeTrainConfig) : c[k];
  const { epoch, metadata } = resumeRun(resumePointOf(from), run, {
    fn,
    refuse: (m, file) =>
      m['task'] !== undefined && m['task'] !== 'node'
        ? argRangeError(fn, 'resumeFrom', `a node-task checkpoint (${file} is a ${m['task']} run's)`, m['task'])
        : null,
    config: { current: config, keys: new Set(['model', ...Object.keys(config), 'nodeOrder', 'heads']), value },
  });
  run.history = JSON.parse(metadata['history']!) as EpochRecord[];
  return epoch;
}

/** The evaluation pass: class per node and the validation loss. */
async function evaluateNodes(
  run: NodeRunState,
  t: NodeTensors,
  data: NodeDataset,
  config: NodeTrainConfig,
  exec: Runtime['exec'],
): Promise<{ pred: Int32Array; valLoss: number }> {
  const ctx: PassContext = { exec, training: false, seed: config.seed, step: 0 };
  return evaluationPass(run.model, ctx, undefined, async (logits) => {
    const ce = await softmaxCrossEntropy(exec, logits, t.labels, { mask: t.val });
    ce.grad.free();
    return { pred: argmaxRows(logits.data() as Float32Array, data.numNodes, data.numClasses), valLoss: ce.loss };
  });
}

/** One training epoch (forward, loss on the training nodes, backward, Adam) and its evaluation. */
async function nodeEpoch(
  run: NodeRunState,
  t: NodeTensors,
  data: NodeDataset,
  config: NodeTrainConfig,
  exec: Runtime['exec'],
  epoch: number,
  dist?: NodeTrainHooks['distributed'],
  validating = true,
): Promise<EpochRecord> {
  const t0 = performance.now();
  const ctx: PassContext = { exec, training: true, seed: config.trainSeed ?? config.seed, step: epoch };
  const { loss: trainLoss, read: trainPred } = await trainingPass(
    run.model,
    ctx,
    undefined,
    (logits) => softmaxCrossEntropy(exec, logits, t.labels, { mask: t.train }),
    (logits) => argmaxRows(logits.data() as Float32Array, data.numNodes, data.numClasses),
  );
  const values = run.params.map((p) => p.value);
  if (dist)
    await dist.sync.gradients(
      run.params.map((p) => p.grad),
      values,
    );
  await run.adam.update(exec);
  run.afterStep?.(run.params);
  if (dist) {
    await dist.sync.afterStep(values);
    // Between validations the ranks' parameters differ: no validation figures (NaN).
    if (!validating)
      return {
        epoch,
        train_loss: trainLoss,
        train_accuracy: accuracy(data.labels, trainPred, data.split.train),
        val_loss: NaN,
        val_accuracy: NaN,
        test_accuracy: NaN,
        ms: performance.now() - t0,
      };
    await dist.sync.beforeValidation(values);
  }
  const ev = await evaluateNodes(run, t, data, config, exec);
  const record = {
    epoch,
    train_loss: trainLoss,
    train_accuracy: accuracy(data.labels, trainPred, data.split.train),
    val_loss: ev.valLoss,
    val_accuracy: accuracy(data.labels, ev.pred, data.split.val),
    test_accuracy: accuracy(data.labels, ev.pred, data.split.test),
    ms: performance.now() - t0,
  };
  if (!dist) return record;
  // Each rank's figures are of its part: weighted by the part's node counts, summed over the ranks.
  const sp = data.split,
    sums = Float32Array.of(
      record.train_loss * sp.train.length,
      record.train_accuracy * sp.train.length,
      sp.train.length,
      record.val_loss * sp.val.length,
      record.val_accuracy * sp.val.length,
      sp.val.length,
      record.test_accuracy * sp.test.length,
      sp.test.length,
    );
  dist.sum(sums);
  const per = (a: number, b: number): number => (sums[b]! > 0 ? sums[a]! / sums[b]! : NaN);
  return {
    ...record,
    train_loss: per(0, 2),
    train_accuracy: per(1, 2),
    val_loss: per(3, 5),
    val_accuracy: per(4, 5),
    test_accuracy: per(6, 7),
  };
}

/** The final figures, from the predictions of the reported weights. */
function nodeReport(
  data: NodeDataset,
  pred: Int32Array,
  valLoss: number,
  run: NodeRunState,
  stopped: number,
): Record<string, number> {
  const h = run.history;
  return {
    ...splitMetrics(data, pred, valLoss),
    best_epoch: run.stopper.bestEpoch,
    epochs_run: stopped,
    mean_epoch_ms: h.reduce((s, r) => s + r.ms, 0) / Math.max(1, h.length),
  };
}

/** Accuracy per split, the test split's F1, precision and recall, and the validation loss given. */
export function splitMetrics(data: NodeDataset, pred: Int32Array, valLoss: number): Record<string, number> {
  const report = classificationReport(data.labels, pred, data.split.test, data.numClasses);
  return {
    test_accuracy: accuracy(data.labels, pred, data.split.test),
    val_accuracy: accuracy(data.labels, pred, data.split.val),
    train_accuracy: accuracy(data.labels, pred, data.split.train),
    val_loss: valLoss,
    test_f1_micro: report.f1.micro,
    test_f1_macro: report.f1.macro,
    test_f1_weighted: report.f1.weighted,
    test_precision_macro: report.precision.macro,
    test_recall_macro: report.recall.macro,
  };
}

/**
 * Full-batch semi-supervised node classification (Kipf & Welling): cross-entropy on the
 * training nodes, Adam, early stopping on validation loss. Same seed, same bits, whatever
 * the thread count; a resumed run ends with the weights of a run never stopped.
 * Steps: order the nodes, upload the task, build the model, resume, loop over epochs, report.
 *
 * @example
 *   const rt = await Runtime.create({ threads: 2 });
 *   const data = loadPlanetoid('../shared/data/planetoid', 'cora');
 *   rowNormalize(data);
 *   const res = await trainNodeClassifier(rt, data, KIPF_DEFAULTS);
 *   console.log(res.metrics.test_accuracy, res.bestEpoch); // 0.82 (examples/train-node-classifier.mjs)
 *   await rt.close();
 */
export async function trainNodeClassifier(
  rt: Runtime,
  given: NodeDataset,
  config: NodeTrainConfig,
  hooks: NodeTrainHooks = {},
): Promise<NodeTrainResult> {
  checkNodeConfig(config);
  const exec = rt.exec;
  // Every pass runs in the order SpMM prefers; the predictions go back in the data set's order.
  const { data, order } = nodeTaskInSpmmOrder(given, config.nodeOrder);
  const kind = nodeModelKind(config);
  const sparse =
    kind === 'gcn' &&
    (config.featureFormat === 'sparse' ||
      (config.featureFormat === 'auto' && densityOf(data.features) < SPARSE_FEATURE_DENSITY));
  const t = uploadNodeTask(rt.heap, data, sparse, kind);
  let run: NodeRunState | null = null;
  let guard: EpochGuard<EpochScalars<never>> | null = null;
  try {
    const seq = buildNodeModel(rt, data.numFeatures, data.numClasses, config, t.graphs);
    const model = t.sparse
      ? sparseInputModel(rt.heap, seq.layers, t.sparse, () => t.graphs.prop!)
      : sequentialModel(seq, () => t.x!);
    const params = model.params();
    if (hooks.initialWeights) {
      if (hooks.resumeFrom)
        throw argRangeError('trainNodeClassifier', 'hooks.initialWeights', 'absent with hooks.resumeFrom', 'both');
      // Before the early stopping's snapshot: with no improving epoch, the start is the best.
      loadWeights(params, hooks.initialWeights.weights, hooks.initialWeights.source);
    }
    const every = hooks.distributed?.validateEvery ?? 1;
    run = {
      model,
      params,
      adam: new Adam(params, { lr: config.lr }),
      stopper: new EarlyStopping(config.patience > 0 ? Math.ceil(config.patience / every) : 0, params),
      history: [],
      ...(hooks.afterStep ? { afterStep: hooks.afterStep } : {}),
    };
    const startEpoch = hooks.resumeFrom ? resumeNodeRun(run, hooks.resumeFrom, config) : 1;
    const checkpoints = hooks.checkpointPath
      ? checkpointsToFile(hooks.checkpointPath, hooks.checkpointEvery ?? 0)
      : null;
    let stopped = run.history.length ? run.history[run.history.length - 1]!.epoch : 0;
    let interrupted = false;
    const r = run;
    // Dropout keys come from (seed, epoch): the weights, the moments and Adam's step are all an epoch changes.
    guard = guardEpochs(rt.heap, run, hooks.faults);
    for (let epoch = startEpoch; epoch <= config.epochs && !run.stopper.shouldStop; epoch++) {
      // Distributed, a rank replaying an epoch alone would fall out of step: a fault stops the job.
      const validating = !hooks.distributed || epoch % hooks.distributed.validateEvery === 0 || epoch === config.epochs;
      const rec = hooks.distributed
        ? await nodeEpoch(r, t, data, config, exec, epoch, hooks.distributed, validating)
        : await guard.run(epoch, () => nodeEpoch(r, t, data, config, exec, epoch));
      run.history.push(rec);
      run.stopper.observe(epoch, validating ? rec.val_loss : null);
      stopped = epoch;
      hooks.onEpoch?.(rec);
      const stop = epoch === hooks.stopAfter || hooks.interrupted?.() === true;
      const last = epoch === config.epochs || run.stopper.shouldStop || stop;
      if (checkpoints && checkpointDue(checkpoints, epoch, last))
        checkpoints.write(nodeCheckpoint(run, data, config, hooks.preprocess ?? []));
      if (stop) {
        interrupted = epoch < config.epochs && !run.stopper.shouldStop;
        break;
      }
    }
    const best = run.stopper.bestValues!;
    const finalWeights = new Map(params.map((p, i) => [p.name, config.restoreBest ? best[i]!.slice() : copyOf(p)]));
    if (config.restoreBest)
      params.forEach((p, i) => {
        (p.value.data() as Float32Array).set(best[i]!);
      });
    const { pred, valLoss } = await evaluateNodes(run, t, data, config, exec);
    return {
      history: run.history,
      bestEpoch: run.stopper.bestEpoch,
      stoppedEpoch: stopped,
      metrics: nodeReport(data, pred, valLoss, run, stopped),
      predictions: order ? rowsInUserOrder(pred, 1, order.order) : pred,
      weights: finalWeights,
      sparseFeatures: sparse,
      interrupted,
      snapshot: guard.stats,
    };
  } finally {
    guard?.dispose();
    run?.model.dispose();
    run?.adam.dispose();
    t.free();
  }
}

/**
 * Class scores and predictions of a trained model (weights by parameter name) on every node.
 *
 * @example
 *   const trained = await trainNodeClassifier(rt, data, config);
 *   const { probs, pred } = await predictNodes(rt, newGraph, config, trained.weights);
 */
export async function predictNodes(
  rt: Runtime,
  given: NodeDataset,
  config: NodeTrainConfig,
  weights: Map<string, ArrayLike<number>>,
): Promise<{ probs: Float32Array; pred: Int32Array }> {
  // The order training ran in, so the scores are those training reported.
  const { data, order } = nodeTaskInSpmmOrder(given, config.nodeOrder);
  const n = data.numNodes;
  const graphs = nodeGraphs(rt.heap, data, nodeModelKind(config));
  const model = buildNodeModel(rt, data.numFeatures, data.numClasses, config, graphs);
  let x: Tensor | null = null;
  let l: Float32Array;
  try {
    loadWeights(model.params(), weights, "predictNodes: argument 'weights'");
    x = Tensor.from(rt.heap, 'float32', [n, data.numFeatures], data.features);
    const logits = await model.forward({ exec: rt.exec, training: false, seed: config.seed, step: 0 }, x);
    l = (logits.data() as Float32Array).slice();
  } finally {
    model.dispose();
    x?.free();
    graphs.prop?.adj.free();
    graphs.message?.free();
  }
  return classScores(order ? rowsInUserOrder(l, data.numClasses, order.order) : l, n, data.numClasses);
}
