import { argRangeError } from '../core/errors.js';
import { Rng } from '../core/random.js';
import { gcnNorm } from '../graph/gcn-norm.js';
import { MessageGraph } from '../graph/message-graph.js';
import { Tensor } from '../memory/tensor.js';
import { gcnStack } from '../nn/gcn-stack.js';
import type { Parameter } from '../nn/layer.js';
import { nodeMessageModel } from '../nn/node-models.js';
import { Sequential } from '../nn/sequential.js';
import { sequentialModel } from '../nn/model.js';
import { trainingPass } from './step.js';
import { softmaxCrossEntropy } from '../ops/losses.js';
import type { Runtime } from '../runtime/runtime.js';
import { bfsPartitionCsr } from '../store/cluster.js';
import type { FeatureSource, GraphStore } from '../store/format.js';
import type { SampledSubgraph } from '../store/neighbor-sampler.js';
import { BatchPrefetcher, type GatheredBatch, type SamplerSpec } from '../store/prefetch.js';
import { Adam } from './adam.js';
import { saveCheckpointKeepingPrevious, type Checkpoint } from './checkpoint.js';
import { resumePointOf, resumeRun, runCheckpoint } from './run-checkpoint.js';
import { EarlyStopping } from './early-stopping.js';
import { accuracy, argmaxRows } from './metrics.js';
import { type NodeTrainConfig, type NodeTrainHooks, splitMetrics } from './node-trainer.js';
import { type BatchGraph, type InferenceChunks, layerwiseInference } from './sampled-inference.js';
import { TrimmedSAGE, type TrimmedMean } from './sampled-sage.js';
import { CsrMatrix } from '../graph/csr.js';
import { SAGEConv } from '../nn/sage-conv.js';
import { guardEpochs } from './fault-recovery.js';
import { idleUpdate, rankBatches, type SampledDistribution, syncedUpdate } from './sampled-distributed.js';

// Mini-batch node classification over a graph store (issue 29): per batch, the prefetcher
// hands over a sampled subgraph with its features gathered; the trainer copies them into the
// heap, runs forward and backward on the subgraph, takes the loss on the batch's seed nodes
// (neighbour sampling) or its training nodes (Cluster-GCN), steps Adam and frees the batch.
// Evaluation is layer-wise inference over all nodes (sampled-inference.ts).
//
// Determinism: batch b of epoch e is a function of (seed, e, b); dropout keys come from
// (seed, step) with step counting batches from the start of training; the kernels give the
// same bits at every thread count. So a run's bits depend on its config only, and resuming
// from the checkpoint of epoch e (weights, Adam, early stopping: the sampler's state is
// just (seed, e)) gives the bits of a run never stopped.

/** Which batches: PyG's NeighborLoader (fanouts per layer, seed nodes per batch) or Cluster-GCN. */
export type SamplerChoice =
  | { kind: 'neighbor'; fanouts: number[]; batchSize: number }
  | { kind: 'cluster'; parts: number; partsPerBatch: number };

/** A sampled run's configuration: the node trainer's (model 'sage' or 'gcn') and the sampler. */
export interface SampledTrainConfig extends Omit<NodeTrainConfig, 'featureFormat' | 'nodeOrder' | 'heads'> {
  sampler: SamplerChoice;
}

/** One epoch: the node trainer's figures, plus the batches, the time training waited on the sampler, and the sampler's own time. */
export interface SampledEpochRecord {
  epoch: number;
  train_loss: number;
  train_accuracy: number;
  val_loss: number;
  val_accuracy: number;
  test_accuracy: number;
  ms: number;
  batches: number;
  /** Time the training loop waited for a batch that was not ready (ms): 0 when the sampler keeps up. */
  sampler_wait_ms: number;
  /** Sampling and gathering time of the epoch's batches, wherever they ran (ms). */
  sample_ms: number;
  gather_ms: number;
  /** Layer-wise inference for the validation figures (ms; 0 in an epoch without evaluation). */
  eval_ms: number;
}

/**
 * Options of trainSampled beyond its config: the node trainer's checkpoint, resume and
 * interrupt hooks (the same fields, the same meaning), progress, prefetch and evaluation.
 */
export interface SampledTrainHooks
  extends Pick<
    NodeTrainHooks,
    'checkpointPath' | 'checkpointEvery' | 'resumeFrom' | 'stopAfter' | 'interrupted' | 'faults'
  > {
  /** Called after every epoch with its record (progress, logging). */
  onEpoch?: (record: SampledEpochRecord) => void;
  /** 'worker' (default): sampling and gathering on a worker thread, `depth` batches ahead; 'inline': on this thread. */
  prefetch?: 'worker' | 'inline';
  prefetchDepth?: number;
  /** Where the worker reads features from (default 'file': the OS page cache, not a second copy). */
  workerFeatures?: FeatureSource;
  /** Train on the first this many batches of each epoch only (measurements of a partial epoch). */
  maxBatches?: number;
  /** Evaluate (layer-wise inference) every this many epochs and at the last (default 1). */
  evalEvery?: number;
  /** false: no evaluation at all (measurements of training alone): NaN figures, no predictions. */
  evaluate?: boolean;
  inferenceChunks?: InferenceChunks;
  /** Data-parallel over ranks: this rank trains its share of each epoch's batches (sampled-distributed.ts). */
  distributed?: SampledDistribution;
}

/** What trainSampled returns: the node trainer's result fields, the heap's peak, and the sampler's totals. */
export interface SampledTrainResult {
  history: SampledEpochRecord[];
  bestEpoch: number;
  stoppedEpoch: number;
  metrics: Record<string, number>;
  predictions: Int32Array;
  weights: Map<string, Float32Array>;
  interrupted: boolean;
  /** The wasm heap's peak use over the run (bytes): a batch's working set, or an inference chunk's. */
  heapPeakBytes: number;
}

const FN = 'trainSampled';

/** Refuses a config trainSampled cannot run, naming the field. */
export function checkSampledConfig(c: SampledTrainConfig): void {
  const model = c.model ?? 'sage';
  if (model !== 'sage' && model !== 'gcn') throw argRangeError(FN, 'config.model', "'sage' or 'gcn'", model);
  for (const k of ['layers', 'hidden', 'epochs'] as const)
    if (!Number.isInteger(c[k]) || c[k] < 1) throw argRangeError(FN, `config.${k}`, 'a positive integer', c[k]);
  if (!(c.dropout >= 0 && c.dropout < 1)) throw argRangeError(FN, 'config.dropout', 'in [0, 1)', c.dropout);
  if (!(c.lr > 0)) throw argRangeError(FN, 'config.lr', 'a positive number', c.lr);
  const s = c.sampler;
  if (s.kind === 'neighbor') {
    if (s.fanouts.length !== c.layers)
      throw argRangeError(FN, 'config.sampler.fanouts', `one fanout per layer (${c.layers})`, s.fanouts.join(','));
    s.fanouts.forEach((k, i) => {
      if (!Number.isInteger(k) || k < -1 || k === 0)
        throw argRangeError(FN, `config.sampler.fanouts[${i}]`, 'a positive integer or -1 (all neighbours)', k);
    });
    if (!Number.isInteger(s.batchSize) || s.batchSize < 1)
      throw argRangeError(FN, 'config.sampler.batchSize', 'a positive integer', s.batchSize);
  } else if (s.kind === 'cluster') {
    if (!Number.isInteger(s.parts) || s.parts < 1)
      throw argRangeError(FN, 'config.sampler.parts', 'a positive integer', s.parts);
    if (!Number.isInteger(s.partsPerBatch) || s.partsPerBatch < 1 || s.partsPerBatch > s.parts)
      throw argRangeError(FN, 'config.sampler.partsPerBatch', `an integer in [1, ${s.parts}]`, s.partsPerBatch);
  } else throw argRangeError(FN, 'config.sampler.kind', "'neighbor' or 'cluster'", (s as { kind: unknown }).kind);
}

/**
 * The sampled model: the full-batch trainer's stack and parameter names (sage0…, gcn0…) and
 * initial weights, its layers reading `graph` (set per batch or inference chunk).
 */
export function buildSampledModel(
  rt: Runtime,
  features: number,
  classes: number,
  c: SampledTrainConfig,
  graph: BatchGraph,
): Sequential {
  if ((c.model ?? 'sage') === 'sage')
    return nodeMessageModel(rt.heap, features, classes, { ...c, model: 'sage' }, () => graph.message!);
  return new Sequential(
    gcnStack(rt.heap, new Rng(c.seed), () => graph.prop!, {
      inFeatures: features,
      hidden: c.hidden,
      layers: c.layers,
      dropout: c.dropout,
      inputDropout: true,
      out: classes,
      weightDecay: (l) => (c.weightDecayScope === 'all' || l === 0 ? c.weightDecay : 0),
    }),
  );
}

/**
 * A batch's graph in the heap. SAGE: the sampled edges as a MessageGraph (mean over each
 * node's sampled in-neighbours; nodes of the last hop have none). GCN: Â of the batch,
 * D^-1/2 (A_b + I) D^-1/2 with A_b the sampled edges made undirected (each pair once) and
 * the degrees those within the batch.
 */
export function uploadBatchGraph(rt: Runtime, sub: SampledSubgraph, gcn: boolean, graph: BatchGraph): { free(): void } {
  const m = sub.nodes.length,
    rp = sub.rowPtr,
    ci = sub.colIdx;
  if (!gcn) {
    const dst = new Int32Array(ci.length);
    for (let t = 0; t < m; t++) dst.fill(t, rp[t]!, rp[t + 1]!);
    graph.message = MessageGraph.fromEdges(rt.heap, m, ci, dst);
    return graph.message;
  }
  // Each sampled pair once, whichever way it was sampled (gcnNorm adds the mirror).
  const seen = new Set<number>(),
    src: number[] = [],
    dst: number[] = [];
  for (let t = 0; t < m; t++)
    for (let e = rp[t]!; e < rp[t + 1]!; e++) {
      const s = ci[e]!,
        key = Math.min(s, t) * m + Math.max(s, t);
      if (s === t || seen.has(key)) continue;
      seen.add(key);
      src.push(s);
      dst.push(t);
    }
  const adj = gcnNorm(rt.heap, m, src, dst);
  graph.prop = { adj };
  return adj;
}

/** The model with each SAGEConv trimmed to the nodes the next layers read (sampled-sage.ts). */
export function trimmedModel(seq: Sequential): { seq: Sequential; means: TrimmedMean[] } {
  const means: TrimmedMean[] = [];
  let l = 0;
  const layers = seq.layers.map((layer) => {
    if (!(layer instanceof SAGEConv)) return layer;
    const at = l++;
    return new TrimmedSAGE(layer, () => means[at]!);
  });
  return { seq: new Sequential(layers), means };
}

/**
 * A neighbour batch's per-layer mean aggregations, trimmed: layer l of L maps the nodes within
 * L − l hops of the seeds to those within L − l − 1 (prefixes of the batch's nodes).
 */
export function uploadTrimmedMeans(
  rt: Runtime,
  sub: SampledSubgraph,
  layers: number,
  means: TrimmedMean[],
): { free(): void } {
  const prefix = [0];
  for (const k of sub.numSampledNodes) prefix.push(prefix[prefix.length - 1]! + k);
  const upTo = (h: number): number => prefix[Math.min(h + 1, prefix.length - 1)]!; // nodes within h hops
  const rp = sub.rowPtr,
    made: CsrMatrix[] = [];
  try {
    for (let l = 0; l < layers; l++) {
      const rows = upTo(layers - 1 - l),
        cols = l === 0 ? sub.nodes.length : upTo(layers - l),
        nnz = rp[rows]!;
      const vals = new Float32Array(nnz);
      for (let t = 0; t < rows; t++) vals.fill(1 / (rp[t + 1]! - rp[t]!), rp[t]!, rp[t + 1]!);
      const adj = CsrMatrix.fromArrays(
        rt.heap,
        rows,
        cols,
        rp.subarray(0, rows + 1),
        sub.colIdx.subarray(0, nnz),
        vals,
      );
      made.push(adj);
      const adjT = adj.transposed().matrix;
      made.push(adjT);
      means[l] = { adj, adjT };
    }
  } catch (err) {
    for (const m of made) m.free();
    throw err;
  }
  return {
    free: () => {
      for (const m of made) m.free();
      means.length = 0;
    },
  };
}

interface SampledRun {
  seq: Sequential;
  /** SAGE on neighbour batches: the same layers, each SAGEConv trimmed (sampled-sage.ts), reading `trim`. */
  trimmed: { seq: Sequential; means: TrimmedMean[] } | null;
  graph: BatchGraph;
  params: Parameter[];
  adam: Adam;
  stopper: EarlyStopping;
  history: SampledEpochRecord[];
}

/** One batch: heap upload, forward, loss on the batch's training rows, backward, Adam, free. */
async function trainBatch(
  rt: Runtime,
  store: GraphStore,
  run: SampledRun,
  c: SampledTrainConfig,
  g: GatheredBatch,
  step: number,
  isTrain: Uint8Array,
  dist?: SampledDistribution,
): Promise<{ loss: number; rows: number; correct: number }> {
  const sub = g.sub,
    k = store.numClasses,
    trimmed = run.trimmed;
  // Trimmed, the model's output has the seeds' rows only.
  const m = trimmed ? sub.batchSize : sub.nodes.length;
  // Neighbour batches: the loss on the seeds (the first batchSize nodes); Cluster-GCN: on the training nodes among them.
  const lab = new Int32Array(m),
    mask = new Uint8Array(m);
  let rows = 0;
  for (let i = 0; i < m; i++) {
    const v = sub.nodes[i]!,
      l = store.labels[v]!;
    lab[i] = Math.max(0, l);
    if (l >= 0 && (c.sampler.kind === 'neighbor' ? i < sub.batchSize : isTrain[v] === 1)) {
      mask[i] = 1;
      rows++;
    }
  }
  if (rows === 0) {
    if (dist) await idleUpdate(rt, run.params, run.adam, dist.sync);
    return { loss: 0, rows: 0, correct: 0 };
  }
  const heap = rt.heap,
    made: { free(): void }[] = [];
  try {
    made.push(
      trimmed
        ? uploadTrimmedMeans(rt, sub, c.layers, trimmed.means)
        : uploadBatchGraph(rt, sub, (c.model ?? 'sage') === 'gcn', run.graph),
    );
    const x = Tensor.from(heap, 'float32', [sub.nodes.length, store.numFeatures], g.x);
    made.push(x);
    const labels = Tensor.from(heap, 'int32', [m], lab);
    made.push(labels);
    const maskT = Tensor.from(heap, 'uint8', [m], mask);
    made.push(maskT);
    const ctx = { exec: rt.exec, training: true, seed: c.seed, step };
    const model = sequentialModel(trimmed ? trimmed.seq : run.seq, (t: Tensor) => t);
    const { loss, read: correct } = await trainingPass(
      model,
      ctx,
      x,
      (logits) => softmaxCrossEntropy(rt.exec, logits, labels, { mask: maskT }),
      (logits) => {
        const pred = argmaxRows(logits.data() as Float32Array, m, k);
        let hits = 0;
        for (let i = 0; i < m; i++) if (mask[i] && pred[i] === lab[i]) hits++;
        return hits;
      },
    );
    await syncedUpdate(rt, run.params, run.adam, dist?.sync);
    return { loss, rows, correct };
  } finally {
    for (const t of made.reverse()) t.free();
    run.graph.prop = null;
    run.graph.message = null;
  }
}

/** Layer-wise inference over every node: predictions and the validation loss. */
async function evaluateAll(
  rt: Runtime,
  store: GraphStore,
  run: SampledRun,
  chunks: InferenceChunks | undefined,
): Promise<{ pred: Int32Array; valLoss: number }> {
  const k = store.numClasses,
    logits = await layerwiseInference(rt, store, run.seq, run.graph, chunks);
  const pred = argmaxRows(logits, store.numNodes, k);
  let ce = 0,
    count = 0;
  for (const v of store.split.val) {
    const l = store.labels[v]!;
    if (l < 0) continue;
    const row = logits.subarray(v * k, v * k + k);
    let max = -Infinity;
    for (const z of row) if (z > max) max = z;
    let s = 0;
    for (const z of row) s += Math.exp(z - max);
    ce += Math.log(s) + max - row[l]!;
    count++;
  }
  return { pred, valLoss: count ? ce / count : Number.NaN };
}

function sampledCheckpoint(run: SampledRun, store: GraphStore, c: SampledTrainConfig): Checkpoint {
  const h = run.history;
  return runCheckpoint(run, {
    task: 'node',
    dataset: store.header.name,
    config: JSON.stringify(c),
    epoch: String(h.length ? h[h.length - 1]!.epoch : 0),
    history: JSON.stringify(h),
    // The sampler's whole state: batch b of epoch e is a function of (seed, e, b).
    rng: `seed:${c.seed}`,
    sampler: JSON.stringify(c.sampler),
  });
}

function resumeSampled(
  run: SampledRun,
  from: NonNullable<SampledTrainHooks['resumeFrom']>,
  c: SampledTrainConfig,
): number {
  // The one resume contract (run-checkpoint.ts): every config key but epochs as saved, then the state.
  const { epoch, metadata } = resumeRun(resumePointOf(from), run, { fn: FN, config: { current: c } });
  run.history = JSON.parse(metadata['history']!) as SampledEpochRecord[];
  return epoch;
}

/**
 * Mini-batch node classification over a graph store: neighbour-sampled (PyG NeighborLoader)
 * or Cluster-GCN batches, SAGE (default) or GCN, Adam, early stopping on the validation loss
 * of layer-wise inference. Same config, same bits, at any thread count and whether or not it
 * was stopped and resumed. See the file comment.
 *
 * @example
 *   const store = GraphStore.open('.graft-cache/synthetic-arxiv-v1-s7.graftstore');
 *   const r = await trainSampled(rt, store, { ...KIPF_DEFAULTS, model: 'sage', hidden: 128, layers: 2,
 *     sampler: { kind: 'neighbor', fanouts: [10, 5], batchSize: 1024 } });
 *   console.log(r.metrics.test_accuracy, r.history[0].sampler_wait_ms);
 */
export async function trainSampled(
  rt: Runtime,
  store: GraphStore,
  config: SampledTrainConfig,
  hooks: SampledTrainHooks = {},
): Promise<SampledTrainResult> {
  checkSampledConfig(config);
  const c = config,
    n = store.numNodes;
  const isTrain = new Uint8Array(n);
  for (const v of store.split.train) isTrain[v] = 1;
  const s = c.sampler;
  const spec: SamplerSpec =
    s.kind === 'neighbor'
      ? { kind: 'neighbor', fanouts: s.fanouts, batchSize: s.batchSize, inputNodes: store.split.train, seed: c.seed }
      : {
          kind: 'cluster',
          parts: s.parts,
          partsPerBatch: s.partsPerBatch,
          seed: c.seed,
          partOf: bfsPartitionCsr(store, s.parts),
        };
  const numBatches =
    s.kind === 'neighbor' ? Math.ceil(store.split.train.length / s.batchSize) : Math.ceil(s.parts / s.partsPerBatch);
  const perEpoch = Math.min(numBatches, hooks.maxBatches ?? numBatches);
  // This rank's batches, step by step (all of them on one process; null: no batch at that step).
  const dist = hooks.distributed;
  const steps = dist ? rankBatches(perEpoch, dist.rank, dist.ranks) : Array.from({ length: perEpoch }, (_, b) => b);
  const mine = steps.filter((b): b is number => b !== null);
  const graph: BatchGraph = { prop: null, message: null };
  const seq = buildSampledModel(rt, store.numFeatures, store.numClasses, c, graph);
  const params = seq.params();
  const run: SampledRun = {
    seq,
    trimmed: s.kind === 'neighbor' && (c.model ?? 'sage') === 'sage' ? trimmedModel(seq) : null,
    graph,
    params,
    adam: new Adam(params, { lr: c.lr }),
    stopper: new EarlyStopping(c.patience, params),
    history: [],
  };
  let q: BatchPrefetcher | null = null;
  const guard = dist ? null : guardEpochs(rt.heap, run, hooks.faults);
  try {
    const start = hooks.resumeFrom ? resumeSampled(run, hooks.resumeFrom, c) : 1;
    q = new BatchPrefetcher(store, spec, {
      mode: hooks.prefetch ?? 'worker',
      depth: hooks.prefetchDepth ?? 2,
      workerFeatures: hooks.workerFeatures ?? 'file',
    });
    const every = hooks.evalEvery ?? 1;
    let stopped = run.history.length ? run.history[run.history.length - 1]!.epoch : 0,
      interrupted = false,
      last: { pred: Int32Array; valLoss: number; epoch: number } | null = null;
    // The next epoch's batches are planned before this one's evaluation, so the worker samples during it.
    const plan = (epoch: number): void => q!.plan(mine.map((b): [number, number] => [epoch, b]));
    if (start <= c.epochs) plan(start);
    for (let epoch = start; epoch <= c.epochs && !run.stopper.shouldStop; epoch++) {
      const t0 = performance.now();
      // One pass over the epoch's batches; a worker fault rolls the weights and Adam back to the
      // epoch's snapshot and runs it again, its batches sampled again (the same ones). Across
      // ranks a replay alone would fall out of step: there a fault stops the job.
      let attempts = 0;
      const pass = async (): Promise<{
        lossSum: number;
        rows: number;
        correct: number;
        sampleMs: number;
        gatherMs: number;
      }> => {
        if (attempts++ > 0) await q!.replan(mine.map((b): [number, number] => [epoch, b]));
        const t = { lossSum: 0, rows: 0, correct: 0, sampleMs: 0, gatherMs: 0 };
        for (const b of steps) {
          if (b === null) {
            await idleUpdate(rt, run.params, run.adam, dist!.sync);
            continue;
          }
          const g = await q!.next();
          t.sampleMs += g.sampleMs;
          t.gatherMs += g.gatherMs;
          const r = await trainBatch(rt, store, run, c, g, (epoch - 1) * numBatches + b + 1, isTrain, dist);
          t.lossSum += r.loss * r.rows;
          t.rows += r.rows;
          t.correct += r.correct;
        }
        return t;
      };
      const { lossSum, rows, correct, sampleMs, gatherMs } = guard ? await guard.run(epoch, pass) : await pass();
      // Over every rank's batches: the ranks' sums added in rank order (in float32, the
      // exchange's type: these are reported, not trained on). One rank keeps its own f64 sums.
      const totals = new Float64Array([lossSum, rows, correct]);
      if (dist?.sum && dist.ranks > 1) {
        const t = new Float32Array(totals);
        dist.sum(t);
        totals.set(t);
      }
      const wait = q.takeWaitMs();
      if (epoch < c.epochs) plan(epoch + 1);
      const evaluating = hooks.evaluate !== false && (epoch % every === 0 || epoch === c.epochs);
      if (dist && evaluating) await dist.sync.beforeValidation(run.params.map((p) => p.value));
      const te = performance.now();
      const evaluate = (): ReturnType<typeof evaluateAll> => evaluateAll(rt, store, run, hooks.inferenceChunks);
      const ev = evaluating ? await (guard ? guard.rerun(epoch, evaluate) : evaluate()) : null;
      if (ev) last = { ...ev, epoch };
      const rec: SampledEpochRecord = {
        epoch,
        train_loss: totals[1]! ? totals[0]! / totals[1]! : Number.NaN,
        train_accuracy: totals[1]! ? totals[2]! / totals[1]! : Number.NaN,
        val_loss: ev ? ev.valLoss : Number.NaN,
        val_accuracy: ev ? accuracy(store.labels, ev.pred, store.split.val) : Number.NaN,
        test_accuracy: ev ? accuracy(store.labels, ev.pred, store.split.test) : Number.NaN,
        ms: performance.now() - t0,
        batches: mine.length,
        sampler_wait_ms: wait,
        sample_ms: sampleMs,
        gather_ms: gatherMs,
        eval_ms: ev ? performance.now() - te : 0,
      };
      run.history.push(rec);
      run.stopper.observe(epoch, ev ? ev.valLoss : null);
      stopped = epoch;
      hooks.onEpoch?.(rec);
      const stop = epoch === hooks.stopAfter || hooks.interrupted?.() === true;
      const end = epoch === c.epochs || run.stopper.shouldStop || stop;
      if (hooks.checkpointPath && (end || (hooks.checkpointEvery && epoch % hooks.checkpointEvery === 0)))
        saveCheckpointKeepingPrevious(hooks.checkpointPath, sampledCheckpoint(run, store, c));
      if (stop) {
        interrupted = epoch < c.epochs && !run.stopper.shouldStop;
        break;
      }
    }
    const best = run.stopper.bestValues!;
    const useBest = c.restoreBest && run.stopper.bestEpoch > 0;
    const weights = new Map(
      params.map((p, i) => [p.name, useBest ? best[i]!.slice() : (p.value.data() as Float32Array).slice()]),
    );
    if (useBest)
      params.forEach((p, i) => {
        (p.value.data() as Float32Array).set(best[i]!);
      });
    // The reported weights' predictions: the last evaluation's when those are the weights, else a fresh one.
    const reported = useBest ? run.stopper.bestEpoch : stopped;
    const ev =
      hooks.evaluate === false
        ? { pred: new Int32Array(0), valLoss: Number.NaN }
        : last && last.epoch === reported
          ? last
          : await evaluateAll(rt, store, run, hooks.inferenceChunks);
    const h = run.history;
    const data = { labels: store.labels, split: store.split, numClasses: store.numClasses };
    return {
      history: h,
      bestEpoch: run.stopper.bestEpoch,
      stoppedEpoch: stopped,
      metrics: {
        ...(hooks.evaluate === false
          ? {}
          : splitMetrics(data as Parameters<typeof splitMetrics>[0], ev.pred, ev.valLoss)),
        best_epoch: run.stopper.bestEpoch,
        epochs_run: stopped,
        mean_epoch_ms: h.reduce((a, r) => a + r.ms, 0) / Math.max(1, h.length),
        mean_sampler_wait_ms: h.reduce((a, r) => a + r.sampler_wait_ms, 0) / Math.max(1, h.length),
        heap_peak_bytes: rt.heap.stats().peak,
        worker_faults: guard ? guard.faults.length : 0,
      },
      predictions: ev.pred,
      weights,
      interrupted,
      heapPeakBytes: rt.heap.stats().peak,
    };
  } finally {
    await q?.close();
    guard?.dispose();
    run.adam.dispose();
    seq.dispose();
  }
}
