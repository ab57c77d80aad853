import { argRangeError } from '../core/errors.js';
import { Rng } from '../core/random.js';
import { type GraphBatch, type GraphSample, COLLATE_OVERHEAD, collate, collatedBytesBound } from '../graph/batch.js';
import { packedBytes, packSamples, type SampleStore } from '../graph/sample-store.js';
import type { Runtime } from '../runtime/runtime.js';
import { Adam } from './adam.js';
import type { Checkpoint, ResumePoint } from './checkpoint.js';
import { EarlyStopping } from './early-stopping.js';
import { type FaultRecoveryOptions, type SnapshotStats, guardEpochs } from './fault-recovery.js';
import { graphCheckpoint, resumeGraphRun, sampleSetHash } from './graph-checkpoint.js';
import { type GraphModel, type GraphTrainConfig, graphBatchOptions, graphLoss } from './graph-model.js';
import { forkedEpoch, placedShardSteps, type StepPlacementChoice } from './graph-placement.js';
import { GraphShards, type ShardSize, type StepShard } from './graph-shards.js';
import { chempropNoam, LR_SCHEDULES, noamLearningRate, type NoamSchedule } from './lr-schedule.js';
import type { Placement, PlacementChoice } from './placement-trial.js';
import { checkpointDue } from './run-checkpoint.js';
import type { StepSync } from './step.js';
import type { TrainingState } from './training-state.js';

// The graph-level trainer: epochs of shuffled mini-batches, each batch split into shards
// (graph-shards.ts) placed on threads (graph-placement.ts), one Adam step per batch, early
// stopping, checkpoints and resume (graph-checkpoint.ts), rollback on a worker fault
// (fault-recovery.ts). The model is built from the config alone (graph-model.ts).

export type { GraphTrainConfig } from './graph-model.js';

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
   * set (oversampled clones included). The trainers' one contract, RunCheckpoints (run-checkpoint.ts).
   */
  checkpoint?: { every: number; write: (cp: Checkpoint) => void };
  /** Continue from this checkpoint of the same model and training set (`fit` checks both). */
  resume?: { checkpoint: Checkpoint; file: string };
  /** Asked after every epoch: true stops there, after the checkpoint, as an interrupt. */
  interrupted?: () => boolean;
  /** Rollback on a worker fault mid-epoch (see EpochGuard). */
  faults?: FaultRecoveryOptions;
}

/** One epoch of GraphTrainer.fit: training and validation loss (and score when given), and its wall time in ms. */
export interface GraphEpoch {
  epoch: number;
  train_loss: number;
  val_loss: number;
  val_score?: number;
  ms: number;
}

/**
 * The largest packed copy of a training set that batch splitting makes (1 GiB): a larger set's
 * shards are collated on the main thread, as before, rather than doubling its memory.
 */
export const MAX_PACKED_BYTES = 2 ** 30;

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
  private readonly shards: GraphShards;
  private readonly adam: Adam;
  readonly history: GraphEpoch[] = [];
  private readonly rng: Rng;
  step = 0;
  /** Epoch with the best validation criterion (0 before any, and when there is no validation set). */
  bestEpoch = 0;
  /**
   * Distributed data-parallel training (distributed/averaging.ts): sees the gradients before
   * each update, the parameters after each step and before each validation. Null: one process.
   */
  sync: StepSync | null = null;
  /** Set by fit: it stopped because options.interrupted said so, before its last epoch. */
  interrupted = false;
  /** Set by fit: its in-memory snapshots and the worker faults recovered from. */
  snapshot: SnapshotStats | null = null;
  /** Where a hybrid trained without batch splitting runs its branches; null: a timed trial chooses (branchPlacement), on the first epoch or, where epochs are short, over the first few. */
  branches: Placement | null = null;
  /**
   * Where each step's shards ran: the placement trial's choice (it ends in the first epoch, or
   * a later one where epochs are short), with its ms per step of each. A batch of one shard at
   * more than one thread times only 'inline' (every op split) against 'serial' (one thread).
   */
  shardPlacement: StepPlacementChoice | null = null;
  /** Where a hybrid without batch splitting ran its branches: the placement trial's choice (it ends in the first epoch, or a later one where epochs are short), with its ms per step of each. */
  branchPlacement: PlacementChoice | null = null;
  /** The Noam schedule fit sets for config.lrSchedule 'noam' (sized by its training set); null: a constant rate. */
  private schedule: NoamSchedule | null = null;

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
    if (config.lrSchedule !== undefined && !LR_SCHEDULES.includes(config.lrSchedule))
      throw argRangeError(fn, 'config.lrSchedule', LR_SCHEDULES.map((k) => `'${k}'`).join(' or '), config.lrSchedule);
    this.shards = new GraphShards(rt, features, targets, config);
    this.master = this.shards.master;
    this.adam = new Adam(this.master.params(), { lr: config.lr });
    this.rng = new Rng((config.trainSeed ?? config.seed) ^ 0x5eed);
  }

  /** The learning rate of the latest step (of the next one before any): lr, or where the schedule had it. */
  get learningRate(): number {
    return this.adam.lr;
  }

  /** One optimizer step on `batch` (graphs); returns the batch's mean loss (NaN if it has no label). */
  async trainStep(batch: readonly GraphSample[]): Promise<number> {
    const shards = shardsOf(batch, this.config.shardSize).map((part) =>
      collate(this.rt.heap, part, this.features, this.targets, graphBatchOptions(this.config)),
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
    if (shards.length === 0 || shards.length > this.shards.count) {
      throw argRangeError(
        'GraphTrainer.trainShards',
        'shards',
        `1 to ${this.shards.count} collated shards`,
        shards.length,
      );
    }
    const graphs = shards.reduce((a, b) => a + b.graphs, 0);
    const total = this.config.task === 'multilabel' ? shards.reduce((a, b) => a + b.labels, 0) : graphs * this.targets;
    return this.stepOn(shards, total);
  }

  /**
   * One optimizer step on the samples `indices` of the packed training set `store`, cut into
   * shards that the threads running them collate (a worker from its view of the set).
   */
  private async trainStored(store: SampleStore, indices: readonly number[]): Promise<number> {
    let total = indices.length * this.targets;
    if (this.config.task === 'multilabel') {
      total = 0;
      for (const i of indices) for (const v of store.samples[i]!.y) if (!Number.isNaN(v)) total++;
    }
    return this.stepOn(
      shardsOf(indices, this.config.shardSize).map((part) => ({ store, indices: part })),
      total,
    );
  }

  /** One optimizer step on `shards`, whose loss is averaged over `total` labels (NaN, no step, when 0). */
  private async stepOn(shards: readonly StepShard[], total: number): Promise<number> {
    if (total === 0) return NaN;
    // The step number (dropout keys) advances only when the step succeeds, so a step retried
    // after a failure draws what it would have drawn.
    const losses = await this.shards.run(shards, total, this.step);
    const master = this.master.params();
    // The rate is a function of the step alone, so a retried or resumed step uses the same one.
    if (this.schedule) this.adam.lr = noamLearningRate(this.schedule, this.step);
    if (this.sync)
      await this.sync.gradients(
        master.map((p) => p.grad),
        master.map((p) => p.value),
      );
    await this.adam.update(this.rt.exec);
    this.step++;
    if (this.sync) await this.sync.afterStep(master.map((p) => p.value));
    return losses.reduce((a, b) => a + b, 0);
  }

  /** Runs `body` (many training steps) with each step's shards on worker threads running whole shard steps (sized for `maxShard`). */
  holdingWorkers<T>(maxShard: { nodes: number; graphs: number }, body: () => Promise<T>): Promise<T> {
    return this.shards.holdingWorkers(maxShard, body);
  }

  /** Runs `body` (many training steps) with each step's shards one after another, every op split intra-op. */
  inlineShards<T>(body: () => Promise<T>): Promise<T> {
    return this.shards.inline(body);
  }

  /** Runs `body` (many training steps) with each step's shards one after another on this thread alone (the 'serial' placement). */
  serialShards<T>(body: () => Promise<T>): Promise<T> {
    return this.shards.serial(body);
  }

  /** Runs `body` (many training steps) with the batch-splitting groups of threads formed once, as fit() does per epoch. */
  holdingShardGroups<T>(body: () => Promise<T>): Promise<T> {
    return this.shards.holdingGroups(body);
  }

  /** Collates `samples` batch by batch and runs `use` on each batch's evaluation output. */
  private async eachBatch(
    samples: readonly GraphSample[],
    use: (batch: GraphBatch, out: GraphBatch['x'], at: number) => Promise<void> | void,
  ): Promise<void> {
    for (let i = 0; i < samples.length; i += this.config.batchSize) {
      const batch = collate(
        this.rt.heap,
        samples.slice(i, i + this.config.batchSize),
        this.features,
        this.targets,
        graphBatchOptions(this.config),
      );
      try {
        await this.shards.evaluate(batch, (out) => use(batch, out, i));
      } finally {
        batch.free();
      }
    }
  }

  /** Outputs for an already collated batch, row-major [graphs, targets]. */
  predictBatch(batch: GraphBatch): Promise<Float32Array> {
    return this.shards.evaluate(batch, (out) => (out.data() as Float32Array).slice());
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
      const l = await graphLoss(this.rt.exec, this.config.task, out, batch, total);
      l.grad.free();
      sum += l.loss;
    });
    return { loss: total === 0 ? NaN : sum, outputs };
  }

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
    const state: TrainingState = { params, adam: this.adam, stopper };
    const trainHash = options.checkpoint || options.resume ? sampleSetHash(train) : '';
    // Every step of every epoch is on the schedule, the last one ending at its final rate.
    this.schedule =
      this.config.lrSchedule === 'noam'
        ? chempropNoam(this.config.lr, this.config.epochs, Math.max(1, Math.ceil(train.length / this.config.batchSize)))
        : null;
    let start = 1;
    if (options.resume) start = this.resumeFrom(options.resume, state, trainHash);
    // The largest shard any step can have: the shardSize biggest graphs, for workers' arenas.
    const sizes = train.map((g) => g.nodes).sort((a, b) => b - a);
    const top = (xs: number[]) =>
      xs
        .sort((a, b) => b - a)
        .slice(0, this.config.shardSize)
        .reduce((a, b) => a + b, 0);
    const store = this.packedTrainingSet(train);
    const maxShard: ShardSize = {
      nodes: top(sizes),
      graphs: this.config.shardSize,
      collatedBytes: store ? top(train.map(collatedBytesBound)) + COLLATE_OVERHEAD : 0,
    };
    // Besides the tensors and Adam's step, an epoch changes the step counter (dropout keys) and the shuffling RNG.
    const guard = guardEpochs(this.rt.heap, state, options.faults, {
      save: () => ({ step: this.step, rng: this.rng.state }),
      load: (v) => {
        this.step = v.step;
        this.rng.load(v.rng);
      },
    });
    this.interrupted = false;
    this.shards.samples = store;
    try {
      for (let epoch = start; epoch <= this.config.epochs && !stopper.shouldStop; epoch++) {
        const rec = await guard.run(epoch, () => this.epoch(epoch, train, val, valScore, maxShard));
        this.history.push(rec);
        onEpoch?.(rec);
        stopper.observe(epoch, val.length === 0 ? null : valScore ? -rec.val_score! : rec.val_loss);
        this.bestEpoch = stopper.bestEpoch;
        const stop = options.interrupted?.() === true;
        const final = epoch === this.config.epochs || stopper.shouldStop;
        if (options.checkpoint && checkpointDue(options.checkpoint, epoch, final || stop))
          options.checkpoint.write(this.checkpointOf(epoch, state, trainHash));
        if (stop) {
          this.interrupted = !final;
          break;
        }
      }
    } finally {
      this.shards.samples = null;
      this.snapshot = guard.stats;
      guard.dispose();
    }
    if (!this.interrupted) stopper.restoreBest();
    return this.history;
  }

  /** One epoch: shuffled mini-batches, then the validation pass. */
  private async epoch(
    epoch: number,
    train: readonly GraphSample[],
    val: readonly GraphSample[],
    valScore: GraphFitOptions['valScore'],
    maxShard: ShardSize,
  ): Promise<GraphEpoch> {
    const t0 = performance.now();
    const order = this.rng.shuffle(Array.from(train.keys()));
    let sum = 0,
      batches = 0;
    const steps: number[] = [];
    for (let i = 0; i < order.length; i += this.config.batchSize) steps.push(i);
    const store = this.shards.samples;
    const step = async (i: number): Promise<void> => {
      const batch = order.slice(i, i + this.config.batchSize);
      const loss = store ? await this.trainStored(store, batch) : await this.trainStep(batch.map((k) => train[k]!));
      if (!Number.isNaN(loss)) {
        sum += loss;
        batches++;
      }
    };
    // One pass over the validation set gives its loss and, for a score, its outputs. Distributed,
    // the ranks first agree on the parameters, so each validates (and stops) alike.
    const validate = async (): Promise<{ loss: number; outputs: Float32Array | null }> => {
      if (this.sync) await this.sync.beforeValidation(this.master.params().map((p) => p.value));
      return val.length ? await this.lossAndOutputs(val, valScore !== undefined) : { loss: NaN, outputs: null };
    };
    // A hybrid trained without batch splitting forks its two branches in every pass: the
    // groups of threads for them are formed once per epoch (validation included).
    const forked = this.config.hybrid !== undefined && this.shards.count === 1 && this.rt.threads > 1;
    const ev = forked
      ? await forkedEpoch(this.rt, this.master, steps, step, validate, this.branches, this.branchPlacement, (c) => {
          this.branchPlacement = c;
        })
      : await (async () => {
          await placedShardSteps(this.shards, steps, step, maxShard, this.shardPlacement, (c) => {
            this.shardPlacement = c;
          });
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

  /**
   * Split over threads, every step's shards are collated by the threads that run them, from
   * one packed copy of the training set (a worker cannot read this thread's objects), less
   * what the model never reads. Null (shards collated here, as on one thread) where there is
   * nothing to split, or where the copy would pass MAX_PACKED_BYTES.
   */
  private packedTrainingSet(train: readonly GraphSample[]): SampleStore | null {
    if (!this.shards.splits || train.length === 0) return null;
    const options = {
      descriptors: this.config.hybrid !== undefined,
      edgeAttr: (graphBatchOptions(this.config).messages?.edgeFeatures ?? 0) > 0,
    };
    return packedBytes(train, options) <= MAX_PACKED_BYTES ? packSamples(train, options) : null;
  }

  /** The run's state after `epoch` as a checkpoint. */
  private checkpointOf(epoch: number, state: TrainingState, trainHash: string): Checkpoint {
    const { config, features, targets, step, history } = this;
    return graphCheckpoint(
      { ...state, config, features, targets, step, rng: this.rng.state, history },
      epoch,
      trainHash,
    );
  }

  /** Puts a checkpoint's state back; returns the epoch to continue with. */
  private resumeFrom(from: ResumePoint, state: TrainingState, trainHash: string): number {
    const r = resumeGraphRun(from, state, this.config, trainHash);
    this.step = r.step;
    this.rng.load(r.rng);
    this.history.splice(0, this.history.length, ...(r.history as GraphEpoch[]));
    this.bestEpoch = state.stopper.bestEpoch;
    return r.epoch;
  }

  /** Frees the replicas, the master model and the optimizer's state. */
  dispose(): void {
    this.shards.dispose();
    this.adam.dispose();
  }
}
