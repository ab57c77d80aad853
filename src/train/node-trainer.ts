import { argRangeError } from '../core/errors.js';
import type { NodeDataset } from '../graph/node-data.js';
import type { CsrMatrix } from '../graph/csr.js';
import { gcnNorm } from '../graph/gcn-norm.js';
import { Adam } from './adam.js';
import { ParamSnapshot } from './param-snapshot.js';
import type { Parameter, PassContext } from '../nn/layer.js';
import { gcnStack } from '../nn/gcn-stack.js';
import type { Propagation } from '../nn/layers.js';
import { Rng } from '../core/random.js';
import { Sequential } from '../nn/sequential.js';
import { softmaxCrossEntropy } from '../ops/losses.js';
import type { Runtime } from '../runtime/runtime.js';
import { Tensor } from '../memory/tensor.js';
import { loadCheckpoint, saveCheckpoint, type Checkpoint, type StoredTensor } from './checkpoint.js';
import { accuracy, argmaxRows, classificationReport } from './metrics.js';

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
  seed: number;
  /** Report test figures with the weights of the best validation loss (true) or the last epoch. */
  restoreBest: boolean;
}

export const KIPF_DEFAULTS: NodeTrainConfig = {
  layers: 2, hidden: 16, dropout: 0.5, lr: 0.01, weightDecay: 5e-4, weightDecayScope: 'first',
  epochs: 200, patience: 10, seed: 1, restoreBest: true,
};

export interface EpochRecord {
  epoch: number;
  train_loss: number;
  train_accuracy: number;
  val_loss: number;
  val_accuracy: number;
  test_accuracy: number;
  ms: number;
}

export interface NodeTrainResult {
  history: EpochRecord[];
  bestEpoch: number;
  stoppedEpoch: number;
  metrics: Record<string, number>;
  /** Class per node from the reported weights. */
  predictions: Int32Array;
  /** Final parameter values by name (copies). */
  weights: Map<string, Float32Array>;
}

export interface NodeTrainHooks {
  /** Write a checkpoint here every `checkpointEvery` epochs and at the end. */
  checkpointPath?: string;
  checkpointEvery?: number;
  /** Continue from this checkpoint. */
  resumeFrom?: string;
  /** Stop (as if interrupted) after this epoch; for tests of resume. */
  stopAfter?: number;
  /** Called after every epoch with its record (progress display, logging). */
  onEpoch?: (record: EpochRecord) => void;
}

export function checkNodeConfig(c: NodeTrainConfig): void {
  const fn = 'trainNodeClassifier';
  const posInt = (k: keyof NodeTrainConfig): void => {
    const v = c[k];
    if (!Number.isInteger(v) || (v as number) < 1) throw argRangeError(fn, `config.${k}`, 'a positive integer', v);
  };
  posInt('layers'); posInt('hidden'); posInt('epochs');
  if (!Number.isInteger(c.patience) || c.patience < 0) throw argRangeError(fn, 'config.patience', 'a non-negative integer', c.patience);
  if (!(c.dropout >= 0 && c.dropout < 1)) throw argRangeError(fn, 'config.dropout', 'in [0, 1)', c.dropout);
  if (!(c.lr > 0) || !Number.isFinite(c.lr)) throw argRangeError(fn, 'config.lr', 'a positive number', c.lr);
  if (!(c.weightDecay >= 0) || !Number.isFinite(c.weightDecay)) throw argRangeError(fn, 'config.weightDecay', 'a non-negative number', c.weightDecay);
  if (c.weightDecayScope !== 'first' && c.weightDecayScope !== 'all') throw argRangeError(fn, 'config.weightDecayScope', "'first' or 'all'", c.weightDecayScope);
  if (!Number.isInteger(c.seed)) throw argRangeError(fn, 'config.seed', 'an integer', c.seed);
}

/** Kipf & Welling's model: [dropout → GCN → ReLU] × (layers-1), dropout → GCN. */
export function buildNodeGcn(rt: Runtime, inFeatures: number, classes: number, c: NodeTrainConfig, graph: () => Propagation): Sequential {
  return new Sequential(gcnStack(rt.heap, new Rng(c.seed), graph, {
    inFeatures, hidden: c.hidden, layers: c.layers, dropout: c.dropout, out: classes,
    weightDecay: (l) => (c.weightDecayScope === 'all' || l === 0 ? c.weightDecay : 0),
  }));
}

function maskOf(heap: Runtime['heap'], n: number, idx: Int32Array): Tensor {
  const m = new Uint8Array(n);
  for (const i of idx) m[i] = 1;
  return Tensor.from(heap, 'uint8', [n], m);
}

const copyOf = (p: Parameter): Float32Array => (p.value.data() as Float32Array).slice();

/**
 * Full-batch semi-supervised node classification (Kipf & Welling): cross-entropy on the
 * training nodes, Adam, early stopping on validation loss. Same seed, same bits, whatever
 * the thread count; a resumed run ends with the weights of a run never stopped.
 */
export async function trainNodeClassifier(rt: Runtime, data: NodeDataset, config: NodeTrainConfig, hooks: NodeTrainHooks = {}): Promise<NodeTrainResult> {
  checkNodeConfig(config);
  const heap = rt.heap, exec = rt.exec, n = data.numNodes;
  const adj: CsrMatrix = gcnNorm(heap, n, data.src, data.dst);
  const prop: Propagation = { adj, adjT: adj }; // Â is symmetric
  const x = Tensor.from(heap, 'float32', [n, data.numFeatures], data.features);
  const labels = Tensor.from(heap, 'int32', [n], data.labels);
  const masks = { train: maskOf(heap, n, data.split.train), val: maskOf(heap, n, data.split.val) };
  const model = buildNodeGcn(rt, data.numFeatures, data.numClasses, config, () => prop);
  const params = model.params();
  const adam = new Adam(params, { lr: config.lr });
  const best = new ParamSnapshot(params);
  let history: EpochRecord[] = [];
  let bestLoss = Infinity, bestEpoch = 0, bad = 0, startEpoch = 1;

  const state = (): Checkpoint => {
    const tensors = new Map<string, StoredTensor>();
    params.forEach((p, i) => {
      tensors.set(`model.${p.name}`, { shape: [...p.value.shape], data: copyOf(p) });
      tensors.set(`adam.m.${p.name}`, { shape: [...p.value.shape], data: (adam.m[i]!.data() as Float32Array).slice() });
      tensors.set(`adam.v.${p.name}`, { shape: [...p.value.shape], data: (adam.v[i]!.data() as Float32Array).slice() });
      tensors.set(`best.${p.name}`, { shape: [...p.value.shape], data: best.values[i]! });
    });
    return {
      tensors,
      metadata: {
        format: 'graft-checkpoint-v1', task: 'node', dataset: data.name,
        config: JSON.stringify(config), epoch: String(history.length ? history[history.length - 1]!.epoch : 0),
        adam_step: String(adam.step), early_stop: JSON.stringify({ bestLoss, bestEpoch, bad }), history: JSON.stringify(history),
        rng: `seed:${config.seed}`, // dropout keys derive from (seed, epoch); init from the seed
      },
    };
  };

  if (hooks.resumeFrom) {
    const cp = loadCheckpoint(hooks.resumeFrom);
    const saved = JSON.parse(cp.metadata['config'] ?? '{}') as NodeTrainConfig;
    for (const k of Object.keys(config) as (keyof NodeTrainConfig)[]) {
      if (k !== 'epochs' && saved[k] !== config[k]) {
        throw argRangeError('trainNodeClassifier', `config.${k}`, `${JSON.stringify(saved[k])} as in the checkpoint ${hooks.resumeFrom}`, config[k]);
      }
    }
    params.forEach((p, i) => {
      const get = (key: string): Float32Array => {
        const t = cp.tensors.get(key);
        if (!t || t.data.length !== p.value.size) throw argRangeError('trainNodeClassifier', 'resumeFrom', `a checkpoint with ${key} of ${p.value.size} values`, t ? t.data.length : 'none');
        return t.data as Float32Array;
      };
      (p.value.data() as Float32Array).set(get(`model.${p.name}`));
      (adam.m[i]!.data() as Float32Array).set(get(`adam.m.${p.name}`));
      (adam.v[i]!.data() as Float32Array).set(get(`adam.v.${p.name}`));
      best.values[i]!.set(get(`best.${p.name}`));
    });
    adam.step = Number(cp.metadata['adam_step']);
    ({ bestLoss, bestEpoch, bad } = JSON.parse(cp.metadata['early_stop']!) as { bestLoss: number; bestEpoch: number; bad: number });
    if (bestLoss === null) bestLoss = Infinity; // JSON has no Infinity
    history = JSON.parse(cp.metadata['history']!) as EpochRecord[];
    startEpoch = Number(cp.metadata['epoch']) + 1;
  }

  const evaluate = async (): Promise<{ pred: Int32Array; valLoss: number }> => {
    const ctx: PassContext = { exec, training: false, seed: config.seed, step: 0 };
    const logits = await model.forward(ctx, x);
    const ce = await softmaxCrossEntropy(exec, logits, labels, { mask: masks.val });
    ce.grad.free();
    const pred = argmaxRows(logits.data() as Float32Array, n, data.numClasses);
    model.release();
    return { pred, valLoss: ce.loss };
  };

  let stopped = history.length ? history[history.length - 1]!.epoch : 0;
  const done = (): boolean => config.patience > 0 && bad >= config.patience;
  for (let epoch = startEpoch; epoch <= config.epochs && !done(); epoch++) {
    const t0 = performance.now();
    const ctx: PassContext = { exec, training: true, seed: config.seed, step: epoch };
    const logits = await model.forward(ctx, x);
    const ce = await softmaxCrossEntropy(exec, logits, labels, { mask: masks.train });
    const trainPred = argmaxRows(logits.data() as Float32Array, n, data.numClasses);
    await model.backward(ctx, ce.grad);
    ce.grad.free();
    await adam.update(exec);
    const ev = await evaluate();
    const rec: EpochRecord = {
      epoch, train_loss: ce.loss, train_accuracy: accuracy(trainPred, data.labels, data.split.train),
      val_loss: ev.valLoss, val_accuracy: accuracy(ev.pred, data.labels, data.split.val),
      test_accuracy: accuracy(ev.pred, data.labels, data.split.test), ms: performance.now() - t0,
    };
    history.push(rec);
    if (ev.valLoss < bestLoss) {
      bestLoss = ev.valLoss; bestEpoch = epoch; bad = 0;
      best.take();
    } else bad++;
    stopped = epoch;
    hooks.onEpoch?.(rec);
    const last = epoch === config.epochs || done() || epoch === hooks.stopAfter;
    if (hooks.checkpointPath && (last || (hooks.checkpointEvery && epoch % hooks.checkpointEvery === 0))) {
      saveCheckpoint(hooks.checkpointPath, state());
    }
    if (epoch === hooks.stopAfter) break;
  }

  const finalWeights = new Map(params.map((p, i) => [p.name, config.restoreBest ? best.values[i]!.slice() : copyOf(p)]));
  if (config.restoreBest) best.restore();
  const { pred, valLoss } = await evaluate();
  const report = classificationReport(pred, data.labels, data.split.test, data.numClasses);
  const metrics: Record<string, number> = {
    test_accuracy: accuracy(pred, data.labels, data.split.test),
    val_accuracy: accuracy(pred, data.labels, data.split.val),
    train_accuracy: accuracy(pred, data.labels, data.split.train),
    val_loss: valLoss,
    test_f1_micro: report.f1.micro, test_f1_macro: report.f1.macro, test_f1_weighted: report.f1.weighted,
    test_precision_macro: report.precision.macro, test_recall_macro: report.recall.macro,
    best_epoch: bestEpoch, epochs_run: stopped,
    mean_epoch_ms: history.reduce((s, r) => s + r.ms, 0) / Math.max(1, history.length),
  };
  model.dispose(); adam.dispose(); adj.free(); x.free(); labels.free(); masks.train.free(); masks.val.free();
  return { history, bestEpoch, stoppedEpoch: stopped, metrics, predictions: pred, weights: finalWeights };
}


/** Class scores and predictions of a trained model (weights by parameter name) on every node. */
export async function predictNodes(rt: Runtime, data: NodeDataset, config: NodeTrainConfig, weights: Map<string, ArrayLike<number>>): Promise<{ probs: Float32Array; pred: Int32Array }> {
  const n = data.numNodes;
  const adj = gcnNorm(rt.heap, n, data.src, data.dst);
  const prop: Propagation = { adj, adjT: adj };
  const model = buildNodeGcn(rt, data.numFeatures, data.numClasses, config, () => prop);
  for (const p of model.params()) {
    const w = weights.get(p.name);
    if (!w || w.length !== p.value.size) {
      model.dispose(); adj.free();
      throw argRangeError('predictNodes', 'weights', `${p.name} with ${p.value.size} values (a model of this config)`, w ? `${w.length} values` : 'missing');
    }
    (p.value.data() as Float32Array).set(w);
  }
  const x = Tensor.from(rt.heap, 'float32', [n, data.numFeatures], data.features);
  const logits = await model.forward({ exec: rt.exec, training: false, seed: config.seed, step: 0 }, x);
  const l = (logits.data() as Float32Array).slice();
  model.dispose(); x.free(); adj.free();
  const c = data.numClasses, probs = new Float32Array(n * c);
  for (let i = 0; i < n; i++) {
    let m = -Infinity, s = 0;
    for (let j = 0; j < c; j++) m = Math.max(m, l[i * c + j]!);
    for (let j = 0; j < c; j++) s += Math.exp(l[i * c + j]! - m);
    for (let j = 0; j < c; j++) probs[i * c + j] = Math.exp(l[i * c + j]! - m) / s;
  }
  return { probs, pred: argmaxRows(l, n, c) };
}
