import { GraftError, WorkerError } from '../core/errors.js';
import { workerUrl } from '../core/worker-url.js';
import type { Heap } from '../memory/heap.js';
import { Tensor } from '../memory/tensor.js';
import type { WorkerCall } from '../runtime/runtime.js';
import { traceNow, tracer } from '../runtime/trace.js';
import { WorkerService } from '../runtime/worker-service.js';
import type { SampleStoreData } from '../graph/sample-store.js';
import type { GraphTrainConfig } from './graph-model.js';
import { SHARD_STATE, SHARD_SYNC, shardBlockLayout, type ShardRequest, type ShardService } from './shard-protocol.js';

// The caller's half of the shard service (shard-worker.ts serveShards is the worker's half):
// while GraphShards holds its workers, each lent worker runs one serveShards call, and every
// training step asks it for its shards through the service's block of shared memory. A step
// is REQUEST (caller: the shards as JSON, then the state) → DONE (worker: the losses, then the
// state): one hand-over each way per step and worker, whatever the number of shards, where a
// Piscina call per shard cost a message round trip and a structured clone of the whole step.
// Atomics.store and Atomics.load are sequentially consistent, so the plain writes before a
// state store are seen by the side that loads that state. STOP (close) may come while a
// request is under way, when a step failed on this thread: the worker's DONE then leaves it.

const SHARD_WORKER = workerUrl('train/shard-worker');

/**
 * Bytes one shard of a request can take as JSON, at most: per parameter two tensor refs (a
 * pointer below 2^32 and a shape of a few dimensions, under REF_BYTES each) and their keys,
 * then the collated shard's refs and counts, its index and ctx.
 */
const REF_BYTES = 128;
const PARAM_BYTES = 2 * REF_BYTES + 32;
const SHARD_BYTES = 24 * REF_BYTES + 512;
/** Bytes of a sample's index in a shard given by its samples (a comma and up to 10 digits). */
const INDEX_BYTES = 12;

/**
 * Bytes of a service's request area: room for `slots` shards of a model with `params`
 * parameters, each given collated or as the indices of up to `graphs` samples.
 */
export function requestBytes(slots: number, params: number, graphs = 0): number {
  return slots * (params * PARAM_BYTES + SHARD_BYTES + graphs * INDEX_BYTES) + 64;
}

/** Microseconds the caller spins for a worker's answer before it sleeps on the event loop (not longer: see shard-worker.ts SERVICE_SPIN_MICROS). */
const ANSWER_SPIN_MICROS = 50;

/** The static part of every shard step of one trainer: what a service is started with. */
export interface ShardTrainer {
  trainer: string;
  config: GraphTrainConfig;
  features: number;
  targets: number;
  /** The packed training set that shards given by their samples index (null: every shard comes collated). */
  store: SampleStoreData | null;
}

interface Service {
  group: number;
  block: Tensor;
  worker: WorkerService;
  /** Shards of the request under way (in the order the worker runs them), or null between steps. */
  asked: number[] | null;
  /** Whether its error reached the caller (answer() threw it). */
  reported: boolean;
}

/** One service per lent worker (group g ≥ 1), started on first use and again after a failure. */
export class ShardServices {
  private readonly services: (Service | null)[];
  private readonly slots: number;
  /** Bytes of each service's request area. */
  readonly capacity: number;
  /** Worker threads lent: groups 1..workers. */
  get workers(): number {
    return this.arenas.length;
  }

  /** Requests handed over (one per step and worker): what the trace and the docs count. */
  requests = 0;

  constructor(
    private readonly heap: Heap,
    private readonly call: WorkerCall,
    private readonly arenas: readonly Tensor[],
    private readonly trainer: ShardTrainer,
    /** The most shards a step has: bounds how many one service runs per step. */
    shards: number,
    /** The model's parameter count: with `shards`, what sizes the request area. */
    params: number,
  ) {
    this.services = new Array<Service | null>(arenas.length).fill(null);
    this.slots = shards;
    this.capacity = requestBytes(shards, params, trainer.config.shardSize);
  }

  /** Group g's service: the running one, or a new one where none runs (a failed one's error surfaces first). */
  private serviceFor(group: number): Service {
    const old = this.services[group - 1];
    if (old && !old.worker.ended) return old;
    if (old && old.worker.error !== undefined && !old.reported) {
      old.reported = true;
      throw this.failure(old, `the shard service of worker thread ${group} failed`);
    }
    old?.block.free();
    this.services[group - 1] = null;
    const layout = shardBlockLayout(this.slots);
    const block = Tensor.zeros(this.heap, 'uint8', [layout.message + this.capacity], 'shard service block');
    const arena = this.arenas[group - 1]!;
    const job: ShardService = {
      ...this.trainer,
      arena: { ptr: arena.ptr, bytes: arena.byteLength },
      block: block.ptr,
      slots: this.slots,
      capacity: this.capacity,
    };
    const svc: Service = {
      group,
      block,
      worker: new WorkerService(this.call(SHARD_WORKER, 'serveShards', job)),
      asked: null,
      reported: false,
    };
    this.services[group - 1] = svc;
    return svc;
  }

  /**
   * Starts every worker's service and waits until each runs, so the first step asks a worker
   * that is already waiting: a placement trial times steps, not a service's start.
   */
  async start(): Promise<void> {
    for (let g = 1; g <= this.workers; g++) {
      const svc = this.serviceFor(g);
      for (;;) {
        const f = this.flags(svc);
        if (Atomics.load(f, SHARD_SYNC.ready) === 1) break;
        if (svc.worker.ended) {
          svc.reported = true;
          throw this.failure(svc, `the shard service of worker thread ${g} failed to start`);
        }
        await svc.worker.waitChange(f, SHARD_SYNC.ready, 0);
      }
    }
  }

  /** The service's flag words, made anew at each use: a heap that grows replaces its buffer. */
  private flags(svc: Service): Int32Array {
    return new Int32Array(this.heap.memory.buffer, svc.block.ptr, SHARD_SYNC.words);
  }

  /**
   * Hands each group's worker its shards (requests[g - 1] to group g, in order); answer() waits
   * for them. Every request is encoded, checked and its service started before any is handed
   * over: a request that fails leaves no worker mid-step.
   */
  askAll(requests: readonly ShardRequest[]): void {
    const ready = requests.map((req, k) => {
      const bytes = new TextEncoder().encode(JSON.stringify(req));
      if (bytes.length > this.capacity) {
        const c = this.trainer.config;
        throw new GraftError(
          `a training step's shards for worker thread ${k + 1} take ${bytes.length} bytes of request, ` +
            `more than the ${this.capacity} sized for them (batchSize ${c.batchSize}, shardSize ${c.shardSize}): ` +
            'use a larger shardSize or a smaller batchSize',
        );
      }
      return { svc: this.serviceFor(k + 1), req, bytes };
    });
    const layout = shardBlockLayout(this.slots);
    for (const { svc, req, bytes } of ready) {
      new Uint8Array(this.heap.memory.buffer, svc.block.ptr + layout.message, bytes.length).set(bytes);
      const f = this.flags(svc);
      f[SHARD_SYNC.length] = bytes.length;
      svc.asked = req.shards.map((s) => s.index);
      Atomics.store(f, SHARD_SYNC.state, SHARD_STATE.request);
      Atomics.notify(f, SHARD_SYNC.state);
      this.requests++;
    }
  }

  /** A WorkerError naming the group, with the service's own error's message. */
  private failure(svc: Service, what: string): WorkerError {
    return new WorkerError(`${what}: ${svc.worker.failure.message}`, 'serveShards', svc.group);
  }

  /** Waits for group g's answer and writes its shards' losses; rejects with a WorkerError if its worker failed. */
  async answer(group: number, losses: Float64Array): Promise<void> {
    const svc = this.services[group - 1]!;
    const asked = svc.asked!;
    const tr = tracer;
    const w0 = tr ? traceNow() : 0;
    let slept = false;
    try {
      const deadline = performance.now() + ANSWER_SPIN_MICROS / 1000;
      for (let i = 1; ; i++) {
        const f = this.flags(svc);
        const state = Atomics.load(f, SHARD_SYNC.state);
        if (state === SHARD_STATE.done) break;
        if (svc.worker.ended) {
          const shard = f[SHARD_SYNC.running]!;
          svc.reported = true;
          throw new WorkerError(
            `shard ${shard}'s step failed on worker thread ${group}: ${svc.worker.failure.message}`,
            'trainShardStep',
            group,
          );
        }
        if ((i & 255) === 0 && performance.now() > deadline) {
          // Sleep until the state word changes (waitAsync returns at once if it already has) or the service ends.
          await svc.worker.waitChange(f, SHARD_SYNC.state, state);
          slept = true;
        }
      }
      if (tr) tr.span(slept ? 'wait-sleep' : 'wait-spin', `await shard worker ${group}`, w0);
      const got = new Float64Array(
        this.heap.memory.buffer,
        svc.block.ptr + shardBlockLayout(this.slots).losses,
        asked.length,
      );
      asked.forEach((s, k) => {
        losses[s] = got[k]!;
      });
    } finally {
      svc.asked = null;
    }
  }

  /** Stops every service (between steps), waits for their calls to settle and frees their blocks. */
  async close(): Promise<void> {
    for (const svc of this.services) {
      if (!svc || svc.worker.ended) continue;
      const f = this.flags(svc);
      Atomics.store(f, SHARD_SYNC.state, SHARD_STATE.stop);
      Atomics.notify(f, SHARD_SYNC.state);
    }
    await Promise.allSettled(this.services.map((svc) => svc?.worker.settled));
    for (const svc of this.services) svc?.block.free();
    this.services.fill(null);
  }
}
