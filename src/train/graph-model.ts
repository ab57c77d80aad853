import { argRangeError } from '../core/errors.js';
import { Rng } from '../core/random.js';
import type { GraphBatch } from '../graph/batch.js';
import type { Propagation } from '../nn/layers.js';
import { joinedModel, sequentialModel, type Model } from '../nn/model.js';
import { Sequential } from '../nn/sequential.js';
import { graphGcnLayers, graphHybridParts } from '../nn/task-models.js';
import { BranchJoin, type BranchHost } from '../nn/branch-join.js';
import { bceWithLogits, mseLoss, type LossResult } from '../ops/losses.js';
import type { PoolMode } from '../ops/pooling.js';
import type { Exec } from '../runtime/exec.js';

// The graph-level model of a config and its loss: what GraphTrainer builds once per shard
// replica and a shard worker (shard-worker.ts) builds once per trainer, from the config alone,
// so both run the same arithmetic.

/**
 * A graph-level model's configuration: the task, the GCN's shape, pooling, the optimizer, batches and shards, early stopping and the seed.
 */
export interface GraphTrainConfig {
  task: 'regression' | 'multilabel';
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
 * GCN branch (GCN layers, pooling) and dense branch (Linear + ReLU on the descriptors) side
 * by side, joined column-wise, then a Linear head. On the main team the branches are forked
 * (torch.jit.fork); inside a batch-splitting shard they run one after the other on the
 * shard's threads. Same bits either way: each branch's arithmetic is the same.
 */
function hybridModel(
  rt: BranchHost,
  features: number,
  targets: number,
  c: GraphTrainConfig,
  graph: () => Propagation,
  offsets: () => GraphBatch['offsets'],
): GraphModel {
  const p = graphHybridParts(rt.heap, features, targets, c, graph, offsets);
  const join = new BranchJoin(rt, p.branches, p.head, p.widths, { graph, offsets });
  return joinedModel(join, (b) => {
    if (!b.descriptors) throw argRangeError('GraphTrainer (hybrid)', 'samples', 'graphs with descriptors', 'none');
    return [b.x, b.descriptors];
  });
}

/** The graph-level model of a config (plain GCN or hybrid), reading the current batch from `batch`. */
export function graphModel(
  host: BranchHost,
  features: number,
  targets: number,
  config: GraphTrainConfig,
  batch: () => GraphBatch,
): GraphModel {
  const prop = (): Propagation => {
    const b = batch();
    return b.edgeGrad ? { adj: b.adj, edgeGrad: b.edgeGrad } : { adj: b.adj };
  };
  return config.hybrid
    ? hybridModel(host, features, targets, config, prop, () => batch().offsets)
    : sequentialModel(
        buildGraphGcn(host, features, targets, config, prop, () => batch().offsets),
        (b: GraphBatch) => b.x,
      );
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
