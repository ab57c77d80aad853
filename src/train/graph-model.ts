import { argRangeError } from '../core/errors.js';
import { Rng } from '../core/random.js';
import type { GraphBatch, MessageSpec } from '../graph/batch.js';
import type { MessageGraph } from '../graph/message-graph.js';
import type { Propagation } from '../nn/layers.js';
import { joinedModel, sequentialModel, type Model } from '../nn/model.js';
import { Sequential } from '../nn/sequential.js';
import type { Layer } from '../nn/layer.js';
import {
  checkGraphModel,
  graphGcnLayers,
  graphHybridParts,
  graphMessageLayers,
  graphMessageSpec,
  graphModelKind,
  type GraphModelKind,
} from '../nn/task-models.js';
import { BranchJoin, type BranchHost } from '../nn/branch-join.js';
import { bceWithLogits, mseLoss, type LossResult } from '../ops/losses.js';
import type { PoolMode } from '../ops/pooling.js';
import type { Exec } from '../runtime/exec.js';
import type { LrScheduleKind } from './lr-schedule.js';

// The graph-level model of a config and its loss: what GraphTrainer builds once per shard
// replica and a shard worker (shard-worker.ts) builds once per trainer, from the config alone,
// so both run the same arithmetic.

/**
 * A graph-level model's configuration: the task, the model and its shape, pooling, the optimizer, batches and shards, early stopping and the seed.
 */
export interface GraphTrainConfig {
  task: 'regression' | 'multilabel';
  /**
   * The message-passing layer (nn/task-models.ts's GRAPH_MODEL_CHOICES); absent: 'gcn'. Left
   * out of a GCN's config, so GCN runs record (and resume) as before the choice.
   */
  model?: GraphModelKind;
  /** GAT, GATv2: attention heads per layer (they share `hidden`); default GRAPH_GAT_DEFAULT_HEADS. */
  heads?: number;
  /** GINE, D-MPNN: edge (bond) feature columns of each sample (GraphSample.edgeAttr). */
  edgeFeatures?: number;
  /** Layers with weights (for D-MPNN, the message-passing depth; see GraphModelConfig). */
  layers: number;
  hidden: number;
  dropout: number;
  pool: PoolMode;
  lr: number;
  weightDecay: number;
  epochs: number;
  /** Graphs per optimizer step. */
  batchSize: number;
  /**
   * Graphs per shard of batch splitting: a batch is cut into ⌈batchSize/shardSize⌉ shards
   * that run forward and backward at once on groups of threads, and their gradients are
   * added in shard order. Fixed by the config, never by the thread count: same bits for any.
   */
  shardSize: number;
  /** Stop when validation loss has not improved for this many epochs (0: never). */
  patience: number;
  /** Seeds the split (train-molecules.ts) and the initial weights, and the rest of training unless trainSeed is given. */
  seed: number;
  /**
   * Seeds the order of the mini-batches and the dropout masks apart from the split and the
   * initial weights: runs of one seed and several train seeds start from the same weights on
   * the same split and train differently, as the members of a model soup must. Absent: the seed.
   */
  trainSeed?: number;
  /**
   * The hybrid: beside the GCN branch, a dense branch (Linear + ReLU, `denseHidden` wide) on
   * each graph's descriptors; the two run forked and are joined before the head.
   */
  hybrid?: { descriptors: number; denseHidden: number };
  /**
   * The learning rate per step: absent or 'constant', `lr` throughout; 'noam', Chemprop's Noam
   * schedule peaking at `lr` (train/lr-schedule.ts's chempropNoam). Left out when constant, so
   * such runs record (and resume) as before the choice.
   */
  lrSchedule?: LrScheduleKind;
}

/** GCN layers with ReLU (and dropout), pooling per graph, then a Linear head. */
export function buildGraphGcn(
  rt: BranchHost,
  features: number,
  targets: number,
  c: GraphTrainConfig,
  graph: () => Propagation,
  offsets: () => GraphBatch['offsets'],
): Sequential {
  return new Sequential(graphGcnLayers(rt.heap, features, targets, c, new Rng(c.seed), graph, offsets));
}

/** A graph-level model: the plain GCN or the hybrid, fed a collated batch. */
export type GraphModel = Model<GraphBatch>;

/**
 * Graph branch (the config's layers, pooling) and dense branch (Linear + ReLU on the
 * descriptors) side by side, joined column-wise, then a Linear head. On the main team the
 * branches are forked (torch.jit.fork); inside a batch-splitting shard they run one after the
 * other on the shard's threads. Same bits either way: each branch's arithmetic is the same.
 */
function hybridModel(
  rt: BranchHost,
  features: number,
  targets: number,
  c: GraphTrainConfig,
  graph: () => Propagation,
  offsets: () => GraphBatch['offsets'],
  messages: () => MessageGraph,
): GraphModel & { readonly layers: readonly Layer[] } {
  const p = graphHybridParts(rt.heap, features, targets, c, graph, offsets, messages);
  const join = new BranchJoin(rt, p.branches, p.head, p.widths, { graph, offsets });
  const model = joinedModel(join, (b: GraphBatch) => {
    if (!b.descriptors) throw argRangeError('GraphTrainer (hybrid)', 'samples', 'graphs with descriptors', 'none');
    return [b.x, b.descriptors];
  });
  return Object.assign(model, { layers: [...p.branches.flatMap((b) => b.layers), p.head] });
}

/** How the config's model needs its batches collated: with the message graph for a message-passing model. */
export function graphBatchOptions(c: GraphTrainConfig): { messages?: MessageSpec } {
  const spec = graphMessageSpec(c);
  return spec ? { messages: spec } : {};
}

/**
 * The graph-level model of a config (the GCN, another message-passing model, or a hybrid of
 * either), reading the current batch from `batch` (collated with graphBatchOptions(config)).
 * `layers` lists its layers (the hybrid: its branches', then the head), for an explainer that
 * reads a layer's state after a pass (a GAT layer's attention).
 */
export function graphModel(
  host: BranchHost,
  features: number,
  targets: number,
  config: GraphTrainConfig,
  batch: () => GraphBatch,
): GraphModel & { readonly layers: readonly Layer[] } {
  checkGraphModel('graphModel', config);
  const kind = graphModelKind(config);
  const prop = (): Propagation => {
    const b = batch();
    return b.edgeGrad ? { adj: b.adj, edgeGrad: b.edgeGrad } : { adj: b.adj };
  };
  const offsets = (): GraphBatch['offsets'] => batch().offsets;
  const messages = (): MessageGraph => {
    const m = batch().messages;
    if (!m)
      throw argRangeError(
        'graphModel',
        'batch',
        `a batch with its message graph for a ${kind} model (collate with graphBatchOptions(config))`,
        'none',
      );
    return m;
  };
  if (config.hybrid) return hybridModel(host, features, targets, config, prop, offsets, messages);
  const seq: Sequential =
    kind === 'gcn'
      ? buildGraphGcn(host, features, targets, config, prop, offsets)
      : new Sequential(
          graphMessageLayers(host.heap, features, targets, config, new Rng(config.seed), messages, offsets),
        );
  return Object.assign(
    sequentialModel(seq, (b: GraphBatch) => b.x),
    { layers: seq.layers },
  );
}

/**
 * Activation columns per node to size a shard worker's arena by: the widest of the inputs and
 * layers; a message-passing model's graph layers count four times, for the rows they keep per
 * directed edge (about two per atom in molecules; D-MPNN keeps bond states for every step of
 * its depth: about a third of that at hidden 300 on Tox21's shards).
 */
export function graphArenaWidth(c: GraphTrainConfig, features: number, targets: number): number {
  const graph = Math.max(features, c.hidden) * (graphModelKind(c) === 'gcn' ? 1 : 4);
  return Math.max(graph, targets, c.hybrid?.descriptors ?? 0);
}

/** The task's loss: BCE on the labels present (multi-label) or MSE, averaged over `normalizer`. */
export function graphLoss(
  exec: Exec,
  task: GraphTrainConfig['task'],
  out: GraphBatch['x'],
  b: GraphBatch,
  normalizer: number,
): Promise<LossResult> {
  return task === 'multilabel'
    ? bceWithLogits(exec, out, b.y, { labelMask: b.labelMask, normalizer })
    : mseLoss(exec, out, b.y, { normalizer });
}
