import type { GraphBatch } from '../graph/batch.js';
import type { SampleStore } from '../graph/sample-store.js';
import { Tensor } from '../memory/tensor.js';
import { reduceInOrder } from '../ops/elementwise.js';
import type { Exec } from '../runtime/exec.js';
import type { Runtime } from '../runtime/runtime.js';
import { graphArenaWidth, graphLoss, graphModel, type GraphModel, type GraphTrainConfig } from './graph-model.js';
import { batchRef, collateShard, paramRefs, type ShardRequest } from './shard-protocol.js';
import { ShardServices } from './shard-services.js';
import { evaluationPass, trainingPass } from './step.js';

// Batch splitting's execution (as torch.nn.DataParallel): each shard of a batch runs forward
// and backward on its own replica (own activations and gradients, the master's weight
// tensors), the shards at once on one of three placements (worker threads running whole shard
// steps, groups of threads, or inline), and the gradients are reduced into the master in shard
// order. Every placement gives the same bits: each shard's arithmetic and the reduction order
// are the same.

/** A model and the batch it currently runs on: one per shard, all sharing the master's weights. */
interface Replica {
  model: GraphModel;
  batch: GraphBatch | null;
}

/** The largest shard a run can have (the shardSize biggest graphs): what a worker's arena is sized for. */
export interface ShardSize {
  nodes: number;
  graphs: number;
  /** Bytes the largest shard takes collated (collatedBytesBound), when workers collate their shards; 0: shards come collated. */
  collatedBytes?: number;
}

/**
 * A shard of a step: a batch collated already (the caller keeps and frees it), or samples of
 * a packed training set (their indices in it) that the thread running the shard collates:
 * a worker into its own arena, in parallel with the other shards, not this thread for all.
 */
export type StepShard = GraphBatch | StoredShard;

/** Samples of a packed set, to collate where the shard runs. */
export interface StoredShard {
  store: SampleStore;
  indices: readonly number[];
}

function isStored(s: StepShard): s is StoredShard {
  return 'indices' in s;
}

let nextTrainerId = 1;

/** The replicas of a graph model, one per shard of a step (the first is the master), and where their shards run. */
export class GraphShards {
  private readonly replicas: Replica[];
  /** Set while holdingWorkers lends worker threads that run whole shard steps. */
  private workers: ShardServices | null = null;
  /** The packed set the workers were given (holdingWorkers), which stored shards must come from. */
  private workerStore: SampleStore | null = null;
  /**
   * The packed training set the steps take their shards from (GraphTrainer.fit sets it for
   * its run): holdingWorkers hands it to the workers, which collate their shards from it.
   */
  samples: SampleStore | null = null;
  private readonly id = `${process.pid}:${nextTrainerId++}`;
  /** Requests handed to shard workers over this trainer's life (one per step and worker). */
  serviceRequests = 0;
  /** How shards run while a placement holds its threads (withShardGroups groups, or inline); null: dataParallel per step. */
  private runner: ((shards: number, fn: (exec: Exec, shard: number) => Promise<void>) => Promise<void>) | null = null;

  constructor(
    private readonly rt: Runtime,
    private readonly features: number,
    private readonly targets: number,
    private readonly config: GraphTrainConfig,
  ) {
    const shards = Math.ceil(config.batchSize / config.shardSize);
    const make = (): Replica => {
      const r: Replica = { model: null as unknown as GraphModel, batch: null };
      r.model = graphModel(rt, features, targets, config, () => r.batch!);
      return r;
    };
    const first = make();
    this.replicas = [first];
    for (let s = 1; s < shards; s++) {
      const r = make();
      // Share the master's weight tensors; each replica keeps its own gradient buffers.
      r.model.params().forEach((p, i) => {
        p.value.free();
        p.value = first.model.params()[i]!.value;
      });
      this.replicas.push(r);
    }
  }

  /** The first replica's model: the one whose parameters the optimizer updates. */
  get master(): GraphModel {
    return this.replicas[0]!.model;
  }

  /** Shards a step may have: ⌈batchSize/shardSize⌉. */
  get count(): number {
    return this.replicas.length;
  }

  /** Threads of the runtime the shards run on. */
  get threads(): number {
    return this.rt.threads;
  }

  /** Batch splitting has shards to place: more than one shard per step and more than one thread. */
  get splits(): boolean {
    return this.replicas.length > 1 && this.rt.threads > 1;
  }

  /**
   * Forward and backward of each shard on its replica, at once where a placement allows, then
   * the replicas' gradients added into the master's in shard order. `normalizer` is the whole
   * batch's label count (so the shards' gradients add up to the batch's); `step` the optimizer
   * step (dropout keys). A stored shard is collated by the thread that runs it. Returns each
   * shard's loss.
   */
  async run(shards: readonly StepShard[], normalizer: number, step: number): Promise<Float64Array> {
    const used = this.replicas.slice(0, shards.length);
    const losses = new Float64Array(shards.length);
    try {
      const local = async (exec: Exec, s: number): Promise<void> => {
        const r = used[s]!;
        const ctx = {
          exec,
          training: true,
          seed: this.config.trainSeed ?? this.config.seed,
          step: step * this.replicas.length + s,
        };
        const shard = shards[s]!;
        const batch = isStored(shard)
          ? collateShard(
              this.rt.heap,
              shard.indices.map((i) => shard.store.samples[i]!),
              this.features,
              this.targets,
              this.config,
            )
          : shard;
        r.batch = batch;
        try {
          losses[s] = (
            await trainingPass(r.model, ctx, batch, (out) => graphLoss(exec, this.config.task, out, batch, normalizer))
          ).loss;
        } finally {
          r.batch = null;
          if (batch !== shard) batch.free();
        }
      };
      if (this.workers) await this.onWorkers(this.workers, shards, used, normalizer, step, local, losses);
      else await (this.runner ?? ((n, fn) => this.rt.dataParallel(n, fn)))(shards.length, local);
      const master = this.master.params();
      if (used.length > 1) {
        for (let i = 0; i < master.length; i++)
          await reduceInOrder(
            this.rt.exec,
            used.map((r) => r.model.params()[i]!.grad),
            master[i]!.grad,
          );
      }
    } finally {
      for (const r of used) r.batch = null;
    }
    return losses;
  }

  /**
   * Shard s on group s mod groups: group 0 is this thread, the others are workers that run
   * whole steps (JavaScript included) in their own arena, each asked once per step for all
   * its shards (ShardServices) while this thread runs its own.
   */
  private async onWorkers(
    services: ShardServices,
    shards: readonly StepShard[],
    used: Replica[],
    normalizer: number,
    step: number,
    local: (exec: Exec, s: number) => Promise<void>,
    losses: Float64Array,
  ): Promise<void> {
    const groups = Math.min(shards.length, services.workers + 1);
    const values = this.master.params().map((p) => p.value);
    const requests: ShardRequest[] = [];
    for (let g = 1; g < groups; g++) {
      const asked: ShardRequest['shards'] = [];
      for (let s = g; s < shards.length; s += groups) {
        const shard = shards[s]!;
        if (isStored(shard) && shard.store !== this.workerStore)
          throw new Error(
            'GraphShards.run: a stored shard of another sample set than the one holdingWorkers was given',
          );
        asked.push({
          index: s,
          params: paramRefs(
            values,
            used[s]!.model.params().map((p) => p.grad),
          ),
          input: isStored(shard) ? { samples: [...shard.indices] } : { batch: batchRef(shard) },
          ctx: { seed: this.config.trainSeed ?? this.config.seed, step: step * this.replicas.length + s },
        });
      }
      requests.push({ normalizer, shards: asked });
    }
    // All or none: a request that fails (too large, a service that cannot start) is found before any worker starts.
    services.askAll(requests);
    // This thread's shards meanwhile; then every worker's answer, even after a failure here,
    // so no worker still writes gradients when the step ends. The first failure in group order wins.
    const results = await Promise.allSettled([
      (async () => {
        for (let s = 0; s < shards.length; s += groups) await local(this.rt.exec, s);
      })(),
    ]);
    for (let g = 1; g < groups; g++) results.push(...(await Promise.allSettled([services.answer(g, losses)])));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /**
   * Runs `body` (many training steps) with the shards of a step spread over worker threads
   * that each run a whole shard step (Runtime.withWorkerCalls), this thread taking the first
   * group: the JavaScript of the shards runs in parallel too, not only their kernels. Each
   * worker gets an arena for its activations, sized from the largest shard `body` will train.
   * With a packed training set (`samples`), the workers get it, and shards of it (StoredShard)
   * are collated by the worker that runs them (maxShard.collatedBytes sizes that part).
   */
  async holdingWorkers<T>(maxShard: ShardSize, body: () => Promise<T>): Promise<T> {
    if (!this.splits) return body();
    const store = this.samples;
    return this.rt.withWorkerCalls(this.replicas.length - 1, async (call, lent) => {
      if (lent === 0) return body();
      const c = this.config,
        w = graphArenaWidth(c, this.features, this.targets);
      // Activations of one pass: a few [nodes, width] tensors per layer, and their gradients.
      const bytes =
        4 * 1024 * 1024 +
        4 * (c.layers + 2) * 8 * (maxShard.nodes * w + maxShard.graphs * (w + (c.hybrid?.denseHidden ?? 0))) +
        (store ? (maxShard.collatedBytes ?? 0) : 0);
      const arenas: Tensor[] = [];
      try {
        for (let g = 0; g < lent; g++) arenas.push(Tensor.empty(this.rt.heap, 'uint8', [bytes], 'worker arena'));
        const services = new ShardServices(
          this.rt.heap,
          call,
          arenas,
          { trainer: this.id, config: c, features: this.features, targets: this.targets, store: store?.data ?? null },
          this.replicas.length,
          this.master.params().length,
        );
        this.workers = services;
        this.workerStore = store;
        try {
          await services.start();
          return await body();
        } finally {
          this.workers = null;
          this.workerStore = null;
          this.serviceRequests += services.requests;
          await services.close();
        }
      } finally {
        for (const a of arenas) a.free();
      }
    });
  }

  /** Runs `body` with the shards of each step one after another on the main team, every op split intra-op. */
  async inline<T>(body: () => Promise<T>): Promise<T> {
    this.runner = async (n, fn) => {
      for (let s = 0; s < n; s++) await fn(this.rt.exec, s);
    };
    try {
      return await body();
    } finally {
      this.runner = null;
    }
  }

  /** Runs `body` with the shards of each step one after another on this thread alone (Runtime.onOneThread): no op split, no wake-up. */
  serial<T>(body: () => Promise<T>): Promise<T> {
    return this.rt.onOneThread(() => this.inline(body));
  }

  /** Runs `body` with the batch-splitting groups of threads formed once (Runtime.withShardGroups). */
  holdingGroups<T>(body: () => Promise<T>): Promise<T> {
    return this.rt.withShardGroups(this.replicas.length, async (run) => {
      this.runner = run;
      try {
        return await body();
      } finally {
        this.runner = null;
      }
    });
  }

  /** Runs the evaluation forward pass on a collated batch (on the master) and hands the output to `use`. */
  async evaluate<T>(batch: GraphBatch, use: (out: GraphBatch['x']) => Promise<T> | T): Promise<T> {
    const r = this.replicas[0]!;
    r.batch = batch;
    try {
      return await evaluationPass(r.model, { exec: this.rt.exec, training: false, seed: 0, step: 0 }, batch, use);
    } finally {
      r.batch = null;
    }
  }

  /** Frees the replicas and the master model. */
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
  }
}
