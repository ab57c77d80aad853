import { createHash } from 'node:crypto';
import { argRangeError, WorkerError } from '../core/errors.js';
import { collate, type GraphBatch, type GraphSample } from '../graph/batch.js';
import { Adam } from './adam.js';
import { EarlyStopping } from './early-stopping.js';
import type { PassContext } from '../nn/layer.js';
import { joinedModel, sequentialModel, type Model } from '../nn/model.js';
import type { Propagation } from '../nn/layers.js';
import { Rng } from '../core/random.js';
import { Sequential } from '../nn/sequential.js';
import { BranchJoin, type BranchHost } from '../nn/branch-join.js';
import { graphGcnLayers, graphHybridParts } from '../nn/task-models.js';
import { reduceInOrder } from '../ops/elementwise.js';
import { bceWithLogits, mseLoss, type LossResult } from '../ops/losses.js';
import type { PoolMode } from '../ops/pooling.js';
import type { Exec } from '../runtime/exec.js';
import type { Runtime, WorkerCall } from '../runtime/runtime.js';
import { workerUrl } from '../core/worker-url.js';
import { Tensor } from '../memory/tensor.js';
import type { ShardStep, TensorRef } from './shard-worker.js';
import { regressionReport } from './metrics.js';
import type { Checkpoint } from './checkpoint.js';
import { EpochGuard, type FaultRecoveryOptions, type SnapshotStats } from './fault-recovery.js';
import { loadTrainingState, trainingStateEntries } from './training-state.js';
import { trialPlacements } from './placement-trial.js';

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
  seed: number;
  /**
   * The hybrid: beside the GCN branch, a dense branch (Linear + ReLU, `denseHidden` wide) on
   * each graph's descriptors; the two run forked and are joined before the head.
   */
  hybrid?: { descriptors: number; denseHidden: number };
}

/**
 * Options of GraphTrainer.fit: progress, best-epoch restore, a validation score, checkpoints, resume, interrupts and fault recovery.
 */
export interface GraphFitOptions {
  /** Called after every epoch with its record. */
  onEpoch?: (e: GraphEpoch) => void;
  /** Put the best validation epoch's weights back at the end. */
  restoreBest?: boolean;
  /** Validation score of the outputs [samples, targets], higher is better: chooses the epoch instead of the loss. */
  valScore?: (outputs: Float32Array) => number;
  /**
   * Hands `write` the run's state as a checkpoint every `every` epochs and after the last
   * (stopped early, finished or interrupted): weights, Adam, the shuffling RNG and step
   * counter, early stopping with its best weights, the history, and a hash of the training
   * set (oversampled clones included).
   */
  checkpoint?: { every: number; write: (cp: Checkpoint) => void };
  /** Continue from this checkpoint of the same model and training set (`fit` checks both). */
  resume?: { checkpoint: Checkpoint; file: string };
  /** Asked after every epoch: true stops there, after the checkpoint, as an interrupt. */
  interrupted?: () => boolean;
  /** Rollback on a worker fault mid-epoch (see EpochGuard). */
  faults?: FaultRecoveryOptions;
}

/** SHA-256 of a training set as the trainer sees it (each sample's arrays, in order). */
export function sampleSetHash(samples: readonly GraphSample[]): string {
  const h = createHash('sha256');
  const add = (a: ArrayBufferView | undefined): void => {
    const n = new Uint32Array([a ? a.byteLength : 0xffffffff]);
    h.update(new Uint8Array(n.buffer));
    if (a) h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  };
  for (const g of samples) {
    add(Int32Array.of(g.nodes));
    add(g.x);
    add(g.src);
    add(g.dst);
    add(g.w);
    add(g.descriptors);
    add(g.y);
  }
  return h.digest('hex');
}

/** What distributed training does around a trainer's steps (distributed/averaging.ts implements it). */
export interface StepSync {
  /** Before the optimizer update: the gradients of this process's batch (sync SGD averages them) and the parameters they apply to. */
  gradients(grads: Tensor[], params: Tensor[]): Promise<void>;
  /** After each step: the parameters (K-step, hierarchical and block-momentum averaging). */
  afterStep(params: Tensor[]): Promise<void>;
  /** Before each validation pass: every process ends the epoch with the same parameters. */
  beforeValidation(params: Tensor[]): Promise<void>;
}

/** One epoch of GraphTrainer.fit: training and validation loss (and score when given), and its wall time in ms. */
export interface GraphEpoch {
  epoch: number;
  train_loss: number;
  val_loss: number;
  val_score?: number;
  ms: number;
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

/** A model and the batch it currently runs on: one per shard, all sharing the master's weights. */
interface Replica {
  model: GraphModel;
  batch: GraphBatch | null;
}

let nextTrainerId = 1;

/**
 * Where a hybrid's branches run when there is no batch splitting (GraphTrainer.forkPlacement):
 * the dense branch on a worker of its own, both forked onto groups of threads, or one after
 * another with intra-op splitting.
 */
export type BranchPlacement = 'workers' | 'groups' | 'inline';

/** Where batch splitting runs a step's shards (GraphTrainer.shardPlacement). */
export type ShardMode = 'workers' | 'groups' | 'inline';

function shardsOf<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * Mini-batch training over many small graphs with batch splitting (as torch.nn.DataParallel):
 * each shard of a batch runs forward and backward on its own replica (own activations and
 * gradients, the master's weight tensors), shards run at once through Runtime.dataParallel,
 * and gradients are reduced into the master in shard order before one Adam step.
 *
 * @example
 *   // train, val, test: GraphSample[], each { nodes, x, src, dst, y } with y its targets
 *   const trainer = new GraphTrainer(rt, features, 1, { ...MOLECULE_DEFAULTS, task: 'regression', epochs: 50 });
 *   const history = await trainer.fit(train, val, { restoreBest: true });
 *   const outputs = await trainer.predict(test); // [test.length, 1]
 *   trainer.dispose();
 */
export class GraphTrainer {
  readonly master: GraphModel;
  private readonly replicas: Replica[];
  private readonly adam: Adam;
  readonly history: GraphEpoch[] = [];
  private readonly rng: Rng;
  step = 0;
  /** Set while holdingWorkers lends worker threads that run whole shard steps. */
  private workers: { call: WorkerCall; arenas: Tensor[] } | null = null;
  private readonly workerModule = workerUrl('train/shard-worker');
  private readonly id = `${process.pid}:${nextTrainerId++}`;
  /** How shards run while a placement holds its threads (withShardGroups groups, or inline); null: dataParallel per step. */
  private shardRunner: ((shards: number, fn: (exec: Exec, shard: number) => Promise<void>) => Promise<void>) | null =
    null;

  constructor(
    private readonly rt: Runtime,
    readonly features: number,
    readonly targets: number,
    readonly config: GraphTrainConfig,
  ) {
    const fn = 'GraphTrainer';
    for (const k of ['layers', 'hidden', 'epochs', 'batchSize', 'shardSize'] as const) {
      if (!Number.isInteger(config[k]) || config[k] < 1)
        throw argRangeError(fn, `config.${k}`, 'a positive integer', config[k]);
    }
    if (config.layers < 2)
      throw argRangeError(fn, 'config.layers', 'at least 2 (GCN layers then the head)', config.layers);
    if (config.task !== 'regression' && config.task !== 'multilabel')
      throw argRangeError(fn, 'config.task', "'regression' or 'multilabel'", config.task);
    const shards = Math.ceil(config.batchSize / config.shardSize);
    const make = (): Replica => {
      const r: Replica = { model: null as unknown as GraphModel, batch: null };
      r.model = graphModel(rt, features, targets, config, () => r.batch!);
      return r;
    };
    const first = make();
    this.master = first.model;
    this.replicas = [first];
    for (let s = 1; s < shards; s++) {
      const r = make();
      // Share the master's weight tensors; each replica keeps its own gradient buffers.
      r.model.params().forEach((p, i) => {
        p.value.free();
        p.value = this.master.params()[i]!.value;
      });
      this.replicas.push(r);
    }
    this.adam = new Adam(this.master.params(), { lr: config.lr });
    this.rng = new Rng(config.seed ^ 0x5eed);
  }

  private loss(exec: Exec, out: GraphBatch['x'], b: GraphBatch, normalizer: number): Promise<LossResult> {
    return graphLoss(exec, this.config.task, out, b, normalizer);
  }

  /** One optimizer step on `batch` (graphs); returns the batch's mean loss (NaN if it has no label). */
  async trainStep(batch: readonly GraphSample[]): Promise<number> {
    const shards = shardsOf(batch, this.config.shardSize).map((part) =>
      collate(this.rt.heap, part, this.features, this.targets),
    );
    try {
      return await this.trainShards(shards);
    } finally {
      for (const b of shards) b.free();
    }
  }

  /**
   * One optimizer step on a batch already collated into shards (at most
   * ⌈batchSize/shardSize⌉; the caller keeps and frees them).
   */
  async trainShards(shards: readonly GraphBatch[]): Promise<number> {
    if (shards.length === 0 || shards.length > this.replicas.length) {
      throw argRangeError(
        'GraphTrainer.trainShards',
        'shards',
        `1 to ${this.replicas.length} collated shards`,
        shards.length,
      );
    }
    const used = this.replicas.slice(0, shards.length);
    const graphs = shards.reduce((a, b) => a + b.graphs, 0);
    const total = this.config.task === 'multilabel' ? shards.reduce((a, b) => a + b.labels, 0) : graphs * this.targets;
    if (total === 0) return NaN;
    used.forEach((r, s) => {
      r.batch = shards[s]!;
    });
    const losses = new Float64Array(shards.length);
    // The step number (dropout keys) advances only when the step succeeds, so a step retried
    // after a failure draws what it would have drawn.
    const step = this.step;
    try {
      const local = async (exec: Exec, s: number): Promise<void> => {
        const r = used[s]!;
        const ctx: PassContext = {
          exec,
          training: true,
          seed: this.config.seed,
          step: step * this.replicas.length + s,
        };
        try {
          const out = await r.model.forward(ctx, r.batch!);
          const l = await this.loss(exec, out, r.batch!, total);
          try {
            await r.model.backward(ctx, l.grad);
          } finally {
            l.grad.free();
          }
          losses[s] = l.loss;
        } finally {
          r.model.release(); // frees the pass's activations if it failed midway (a no-op after backward)
        }
      };
      const workers = this.workers;
      if (workers) {
        // Shard s on group s mod groups: group 0 is this thread, the others are workers that
        // run the whole step (JavaScript included) in their own arena.
        const groups = Math.min(shards.length, workers.arenas.length + 1);
        const results = await Promise.allSettled(
          Array.from({ length: groups }, async (_, g) => {
            for (let s = g; s < shards.length; s += groups) {
              if (g === 0) await local(this.rt.exec, s);
              else {
                // A worker that throws or dies fails the step as a WorkerError, so a trainer can roll back and replay it.
                const res = await workers
                  .call(
                    this.workerModule,
                    'trainShardStep',
                    this.shardStep(s, shards[s]!, used[s]!, total, step, workers.arenas[g - 1]!),
                  )
                  .catch((err: unknown) => {
                    throw new WorkerError(
                      `shard ${s}'s step failed on worker thread ${g}: ${(err as Error).message}`,
                      'trainShardStep',
                      g,
                    );
                  });
                losses[s] = (res as { loss: number }).loss;
              }
            }
          }),
        );
        const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed) throw failed.reason;
      } else {
        await (this.shardRunner ?? ((n, fn) => this.rt.dataParallel(n, fn)))(shards.length, local);
      }
      const master = this.master.params();
      if (used.length > 1) {
        for (let i = 0; i < master.length; i++)
          await reduceInOrder(
            this.rt.exec,
            used.map((r) => r.model.params()[i]!.grad),
            master[i]!.grad,
          );
      }
      if (this.sync)
        await this.sync.gradients(
          master.map((p) => p.grad),
          master.map((p) => p.value),
        );
      await this.adam.update(this.rt.exec);
      this.step++;
      if (this.sync) await this.sync.afterStep(master.map((p) => p.value));
    } finally {
      used.forEach((r) => {
        r.batch = null;
      });
    }
    return losses.reduce((a, b) => a + b, 0);
  }

  /** The step of shard s for a worker: everything by address (see shard-worker.ts). */
  private shardStep(s: number, b: GraphBatch, r: Replica, total: number, step: number, arena: Tensor): ShardStep {
    const ref = (t: Tensor): TensorRef => ({ ptr: t.ptr, shape: [...t.shape] });
    const master = this.master.params(),
      mine = r.model.params();
    return {
      trainer: this.id,
      config: this.config,
      features: this.features,
      targets: this.targets,
      arena: { ptr: arena.ptr, bytes: arena.byteLength },
      params: master.map((p, i) => ({ value: ref(p.value), grad: ref(mine[i]!.grad) })),
      batch: {
        graphs: b.graphs,
        nodes: b.nodes,
        labels: b.labels,
        rowPtr: ref(b.adj.rowPtr),
        colIdx: ref(b.adj.colIdx),
        vals: ref(b.adj.vals),
        x: ref(b.x),
        offsets: ref(b.offsets),
        y: ref(b.y),
        labelMask: ref(b.labelMask),
        descriptors: b.descriptors ? ref(b.descriptors) : null,
      },
      normalizer: total,
      ctx: { seed: this.config.seed, step: step * this.replicas.length + s },
    };
  }

  /**
   * Runs `body` (many training steps) with the shards of a step spread over worker threads
   * that each run a whole shard step (Runtime.withWorkerCalls), this thread taking the first
   * group: the JavaScript of the shards runs in parallel too, not only their kernels. Each
   * worker gets an arena for its activations, sized from the largest shard `body` will train
   * (`maxShard`: nodes and graphs); same bits as every other placement.
   */
  async holdingWorkers<T>(maxShard: { nodes: number; graphs: number }, body: () => Promise<T>): Promise<T> {
    if (!this.splits) return body();
    return this.rt.withWorkerCalls(this.replicas.length - 1, async (call, lent) => {
      if (lent === 0) return body();
      const c = this.config,
        w = Math.max(this.features, c.hidden, this.targets, c.hybrid?.descriptors ?? 0);
      // Activations of one pass: a few [nodes, width] tensors per layer, and their gradients.
      const bytes =
        4 * 1024 * 1024 +
        4 * (c.layers + 2) * 8 * (maxShard.nodes * w + maxShard.graphs * (w + (c.hybrid?.denseHidden ?? 0)));
      const arenas: Tensor[] = [];
      try {
        for (let g = 0; g < lent; g++) arenas.push(Tensor.empty(this.rt.heap, 'uint8', [bytes], 'worker arena'));
        this.workers = { call, arenas };
        return await body();
      } finally {
        this.workers = null;
        for (const a of arenas) a.free();
      }
    });
  }

  /**
   * Runs `body` (many training steps) with the shards of each step run one after another on
   * the main team, every op split intra-op over all threads: the fallback when shards are too
   * small to pay for their own groups of threads. Same bits as with groups: each shard's
   * arithmetic and the shard-order reduction are the same.
   */
  async inlineShards<T>(body: () => Promise<T>): Promise<T> {
    this.shardRunner = async (n, fn) => {
      for (let s = 0; s < n; s++) await fn(this.rt.exec, s);
    };
    try {
      return await body();
    } finally {
      this.shardRunner = null;
    }
  }

  /**
   * Where batch splitting runs each step's shards, chosen on the first epoch's steps: whole
   * shard steps on worker threads, a group of threads per shard, or the shards inline with
   * intra-op splitting, whichever measured fastest (with the trial's ms per step). The
   * choice never changes the results, only the time.
   */
  shardPlacement: { mode: ShardMode; workersMs: number; groupsMs: number; inlineMs: number } | null = null;
  /** Where a hybrid trained without batch splitting runs its branches; null: the first epoch's trial chooses (forkPlacement). */
  branchPlacement: BranchPlacement | null = null;
  /** The fork placement the first epoch chose, with the ms per step of each. */
  forkPlacement: { mode: BranchPlacement; workersMs: number; groupsMs: number; inlineMs: number } | null = null;

  /**
   * Runs `body` (many training steps) with the batch-splitting groups of threads formed once
   * (Runtime.withShardGroups), as fit() does for each epoch.
   */
  holdingShardGroups<T>(body: () => Promise<T>): Promise<T> {
    return this.rt.withShardGroups(this.replicas.length, async (run) => {
      this.shardRunner = run;
      try {
        return await body();
      } finally {
        this.shardRunner = null;
      }
    });
  }

  /** Runs the evaluation forward pass on a collated batch and hands the output to `use`. */
  private async withEvalForward<T>(batch: GraphBatch, use: (out: GraphBatch['x']) => Promise<T> | T): Promise<T> {
    const r = this.replicas[0]!;
    r.batch = batch;
    try {
      return await use(await r.model.forward({ exec: this.rt.exec, training: false, seed: 0, step: 0 }, batch));
    } finally {
      r.model.release();
      r.batch = null;
    }
  }

  /** Collates `samples` batch by batch and runs `use` on each batch's evaluation output. */
  private async eachBatch(
    samples: readonly GraphSample[],
    use: (batch: GraphBatch, out: GraphBatch['x'], at: number) => Promise<void> | void,
  ): Promise<void> {
    for (let i = 0; i < samples.length; i += this.config.batchSize) {
      const batch = collate(this.rt.heap, samples.slice(i, i + this.config.batchSize), this.features, this.targets);
      try {
        await this.withEvalForward(batch, (out) => use(batch, out, i));
      } finally {
        batch.free();
      }
    }
  }

  /** Outputs for an already collated batch, row-major [graphs, targets]. */
  predictBatch(batch: GraphBatch): Promise<Float32Array> {
    return this.withEvalForward(batch, (out) => (out.data() as Float32Array).slice());
  }

  /** Outputs (logits or regression values) for every sample, row-major [samples, targets]. */
  async predict(samples: readonly GraphSample[]): Promise<Float32Array> {
    const pred = new Float32Array(samples.length * this.targets);
    await this.eachBatch(samples, (_, out, at) => {
      pred.set(out.data() as Float32Array, at * this.targets);
    });
    return pred;
  }

  /** Mean loss of the model on `samples` (no update), by the same loss ops training uses. */
  async evaluate(samples: readonly GraphSample[]): Promise<number> {
    return (await this.lossAndOutputs(samples, false)).loss;
  }

  /** One evaluation pass: the mean loss and, when asked, the outputs [samples, targets]. */
  private async lossAndOutputs(
    samples: readonly GraphSample[],
    keep: boolean,
  ): Promise<{ loss: number; outputs: Float32Array | null }> {
    let total = samples.length * this.targets;
    if (this.config.task === 'multilabel') {
      total = 0;
      for (const g of samples) for (const v of g.y) if (!Number.isNaN(v)) total++;
    }
    if (total === 0 && !keep) return { loss: NaN, outputs: null };
    const outputs = keep ? new Float32Array(samples.length * this.targets) : null;
    let sum = 0;
    await this.eachBatch(samples, async (batch, out, at) => {
      outputs?.set(out.data() as Float32Array, at * this.targets);
      if (total === 0) return;
      const l = await this.loss(this.rt.exec, out, batch, total);
      l.grad.free();
      sum += l.loss;
    });
    return { loss: total === 0 ? NaN : sum, outputs };
  }

  /** Epoch with the best validation criterion (0 before any, and when there is no validation set). */
  bestEpoch = 0;

  /**
   * Epochs of shuffled mini-batches with early stopping on validation loss, or on
   * `options.valScore` (higher is better, e.g. ROC-AUC) when given. With an empty validation
   * set every epoch runs and the last weights stay. With `options.restoreBest`, the weights of
   * the best validation epoch are put back at the end.
   */
  async fit(
    train: readonly GraphSample[],
    val: readonly GraphSample[],
    options: GraphFitOptions = {},
  ): Promise<GraphEpoch[]> {
    const { onEpoch, valScore } = options;
    const params = this.master.params();
    const stopper = new EarlyStopping(this.config.patience, options.restoreBest ? params : undefined);
    const trainHash = options.checkpoint || options.resume ? sampleSetHash(train) : '';
    let start = 1;
    if (options.resume) start = this.resumeFrom(options.resume.checkpoint, options.resume.file, stopper, trainHash);
    // The largest shard any step can have: the shardSize biggest graphs, for workers' arenas.
    const sizes = train.map((g) => g.nodes).sort((a, b) => b - a);
    const maxShard = {
      nodes: sizes.slice(0, this.config.shardSize).reduce((a, b) => a + b, 0),
      graphs: this.config.shardSize,
    };
    // What an epoch changes besides the tensors: Adam's step, the step counter (dropout keys), the shuffling RNG.
    const guard = new EpochGuard(
      this.rt.heap,
      [...params.map((p) => p.value), ...this.adam.m, ...this.adam.v],
      {
        save: () => ({ adam: this.adam.step, step: this.step, rng: this.rng.state }),
        load: (v) => {
          this.adam.step = v.adam;
          this.step = v.step;
          this.rng.load(v.rng);
        },
      },
      options.faults,
    );
    this.interrupted = false;
    try {
      for (let epoch = start; epoch <= this.config.epochs && !stopper.shouldStop; epoch++) {
        const rec = await guard.run(epoch, () => this.epoch(epoch, train, val, valScore, maxShard));
        this.history.push(rec);
        onEpoch?.(rec);
        stopper.observe(epoch, val.length === 0 ? null : valScore ? -rec.val_score! : rec.val_loss);
        this.bestEpoch = stopper.bestEpoch;
        const stop = options.interrupted?.() === true;
        const final = epoch === this.config.epochs || stopper.shouldStop;
        if (options.checkpoint && (final || stop || epoch % options.checkpoint.every === 0))
          options.checkpoint.write(this.checkpointOf(epoch, stopper, trainHash));
        if (stop) {
          this.interrupted = !final;
          break;
        }
      }
    } finally {
      this.snapshot = guard.stats;
      guard.dispose();
    }
    if (!this.interrupted) stopper.restoreBest();
    return this.history;
  }

  /**
   * Distributed data-parallel training (distributed/averaging.ts): sees the gradients before
   * each update, the parameters after each step and before each validation. Null: one process.
   */
  sync: StepSync | null = null;

  /** Set by fit: it stopped because options.interrupted said so, before its last epoch. */
  interrupted = false;
  /** Set by fit: its in-memory snapshots and the worker faults recovered from. */
  snapshot: SnapshotStats | null = null;

  /** One epoch: shuffled mini-batches, then the validation pass. */
  private async epoch(
    epoch: number,
    train: readonly GraphSample[],
    val: readonly GraphSample[],
    valScore: GraphFitOptions['valScore'],
    maxShard: { nodes: number; graphs: number },
  ): Promise<GraphEpoch> {
    const t0 = performance.now();
    const order = this.rng.shuffle(Array.from(train.keys()));
    let sum = 0,
      batches = 0;
    const steps: number[] = [];
    for (let i = 0; i < order.length; i += this.config.batchSize) steps.push(i);
    const step = async (i: number): Promise<void> => {
      const loss = await this.trainStep(order.slice(i, i + this.config.batchSize).map((k) => train[k]!));
      if (!Number.isNaN(loss)) {
        sum += loss;
        batches++;
      }
    };
    // A hybrid trained without batch splitting forks its two branches in every pass: the
    // groups of threads for them are formed once per epoch (validation included).
    const forked = this.config.hybrid !== undefined && this.replicas.length === 1 && this.rt.threads > 1; // no shards to place: fork instead
    // One pass over the validation set gives its loss and, for a score, its outputs. Distributed,
    // the ranks first agree on the parameters, so each validates (and stops) alike.
    const validate = async (): Promise<{ loss: number; outputs: Float32Array | null }> => {
      if (this.sync) await this.sync.beforeValidation(this.master.params().map((p) => p.value));
      return val.length ? await this.lossAndOutputs(val, valScore !== undefined) : { loss: NaN, outputs: null };
    };
    const ev = forked
      ? await this.forkedEpoch(steps, step, validate)
      : await (async () => {
          await this.epochSteps(steps, step, maxShard);
          return validate();
        })();
    const score = valScore && ev.outputs ? valScore(ev.outputs) : NaN;
    return {
      epoch,
      train_loss: sum / Math.max(1, batches),
      val_loss: ev.loss,
      ...(valScore ? { val_score: score } : {}),
      ms: performance.now() - t0,
    };
  }

  /** The trainer's state after `epoch` as a checkpoint (see GraphFitOptions.checkpoint). */
  private checkpointOf(epoch: number, stopper: EarlyStopping, trainHash: string): Checkpoint {
    const state = trainingStateEntries({ params: this.master.params(), adam: this.adam, stopper });
    return {
      tensors: state.tensors,
      metadata: {
        ...state.metadata,
        task: 'graph',
        config: JSON.stringify(this.config),
        features: String(this.features),
        targets: String(this.targets),
        epoch: String(epoch),
        step: String(this.step),
        rng: Array.from(this.rng.state).join(','),
        history: JSON.stringify(this.history),
        train_sha256: trainHash,
      },
    };
  }

  /** Puts a checkpoint's state back; returns the epoch to continue with. */
  private resumeFrom(cp: Checkpoint, file: string, stopper: EarlyStopping, trainHash: string): number {
    const fn = 'GraphTrainer.fit';
    const m = cp.metadata;
    if (m['task'] !== 'graph' || m['epoch'] === undefined || m['rng'] === undefined) {
      throw argRangeError(
        fn,
        'options.resume',
        `a graph-training checkpoint with its training state (${file} has ${m['task'] ?? 'no'} task${m['rng'] === undefined ? ', no training state' : ''})`,
        m['task'] ?? 'none',
      );
    }
    const saved = JSON.parse(m['config'] ?? '{}') as Record<string, unknown>;
    const mine = this.config as unknown as Record<string, unknown>;
    for (const k of new Set([...Object.keys(saved), ...Object.keys(mine)])) {
      if (k !== 'epochs' && JSON.stringify(saved[k]) !== JSON.stringify(mine[k])) {
        throw argRangeError(fn, `config.${k}`, `${JSON.stringify(saved[k])} as in the checkpoint ${file}`, mine[k]);
      }
    }
    if (m['train_sha256'] !== trainHash) {
      throw argRangeError(
        fn,
        'train',
        `the training set the checkpoint ${file} was trained on (its samples or oversampled clones differ: another data file, split or seed)`,
        'a different set',
      );
    }
    loadTrainingState(cp, { params: this.master.params(), adam: this.adam, stopper }, file, fn);
    this.step = Number(m['step']);
    this.rng.load(Uint32Array.from(m['rng'].split(',').map(Number)));
    this.history.splice(0, this.history.length, ...(JSON.parse(m['history'] ?? '[]') as GraphEpoch[]));
    this.bestEpoch = stopper.bestEpoch;
    return Number(m['epoch']) + 1;
  }

  /**
   * One epoch's steps in order. With one shard per step, or one thread, there is nothing to
   * place. Otherwise the first epoch times a few steps with each placement of the shards
   * (whole shard steps on worker threads; a group of threads per shard; the shards inline,
   * every op split intra-op) and the rest of the run uses the fastest (shardPlacement), so
   * batch splitting is never slower than intra-op splitting alone. All three give the same
   * bits. Threads are lent once per epoch, not once per step.
   */
  private async epochSteps(
    steps: number[],
    step: (i: number) => Promise<void>,
    maxShard: { nodes: number; graphs: number },
  ): Promise<void> {
    const all = async (list: number[]): Promise<void> => {
      for (const i of list) await step(i);
    };
    if (!this.splits) return all(steps);
    const holder =
      (mode: ShardMode) =>
      <T>(f: () => Promise<T>): Promise<T> =>
        mode === 'workers'
          ? this.holdingWorkers(maxShard, f)
          : mode === 'groups'
            ? this.holdingShardGroups(f)
            : this.inlineShards(f);
    if (this.shardPlacement) return holder(this.shardPlacement.mode)(() => all(steps));
    const trial = await trialPlacements(
      ['workers', 'groups', 'inline'] as const,
      steps,
      (mode, f) => holder(mode)(f),
      all,
    );
    if (!trial) return holder('workers')(() => all(steps)); // too few steps to measure: decide next epoch
    this.shardPlacement = {
      mode: trial.best,
      workersMs: trial.times.workers,
      groupsMs: trial.times.groups,
      inlineMs: trial.times.inline,
    };
    return holder(trial.best)(() => all(trial.rest));
  }

  /**
   * An epoch of a hybrid trained without batch splitting: its branches placed on workers of
   * their own (whole passes there), on groups of threads this thread dispatches for, or one
   * after another with every op split intra-op (BranchPlacement). Unless chosen
   * (branchPlacement), the first epoch times a few steps of each and the run keeps the
   * fastest (forkPlacement), so forking is never slower than not forking. Same bits.
   */
  private async forkedEpoch<T>(
    steps: number[],
    step: (i: number) => Promise<void>,
    validate: () => Promise<T>,
  ): Promise<T> {
    const all = async (list: number[]): Promise<void> => {
      for (const i of list) await step(i);
    };
    const hold = this.master.holdThreads;
    const holder =
      (mode: BranchPlacement) =>
      <R>(f: () => Promise<R>): Promise<R> =>
        mode === 'groups' || !hold ? this.rt.withForkGroups(2, f) : hold<R>(f, mode);
    const chosen = this.branchPlacement ?? this.forkPlacement?.mode;
    if (chosen)
      return holder(chosen)(async () => {
        await all(steps);
        return validate();
      });
    const trial = await trialPlacements(
      ['workers', 'groups', 'inline'] as const,
      steps,
      (mode, f) => holder(mode)(f),
      all,
    );
    if (!trial)
      return holder('workers')(async () => {
        await all(steps);
        return validate();
      }); // too few steps to measure
    this.forkPlacement = {
      mode: trial.best,
      workersMs: trial.times.workers,
      groupsMs: trial.times.groups,
      inlineMs: trial.times.inline,
    };
    return holder(trial.best)(async () => {
      await all(trial.rest);
      return validate();
    });
  }

  /** Batch splitting has shards to place: more than one shard per step and more than one thread. */
  private get splits(): boolean {
    return this.replicas.length > 1 && this.rt.threads > 1;
  }

  /** Frees the replicas, the master model and the optimizer's state. */
  dispose(): void {
    const shared = new Set(this.master.params().map((p) => p.value));
    for (const r of this.replicas.slice(1)) {
      r.model.release();
      for (const p of r.model.params()) {
        p.grad.free();
        if (!shared.has(p.value)) p.value.free();
      }
    }
    this.master.dispose();
    this.adam.dispose();
  }
}

/** Regression metrics per target on the samples with a label there. */
export function regressionByTarget(
  samples: readonly GraphSample[],
  pred: Float32Array,
  targets: number,
): ReturnType<typeof regressionReport>[] {
  return Array.from({ length: targets }, (_, t) => {
    const p: number[] = [],
      y: number[] = [];
    samples.forEach((g, i) => {
      if (!Number.isNaN(g.y[t]!)) {
        p.push(pred[i * targets + t]!);
        y.push(g.y[t]!);
      }
    });
    return regressionReport(y, p);
  });
}
