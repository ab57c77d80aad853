import { Worker } from 'node:worker_threads';
import { GraftError } from '../core/errors.js';
import { packageRoot } from '../core/paths.js';
import { ClusterSampler } from './cluster.js';
import { type FeatureSource, GraphStore } from './format.js';
import { NeighborSampler, type SampledSubgraph } from './neighbor-sampler.js';

// A prefetch queue of gathered batches: sampling and feature gathering of the next batches run
// on a worker thread of their own while training runs the current one. A batch is a function
// of (seed, epoch, batch index) only, so which thread samples it, and how far ahead, changes
// no bit of the result. The worker opens the store itself (its own copy of the CSR: 4 bytes
// per adjacency entry) and reads features from the file, where the OS page cache serves
// them, so the features are not held twice in RAM. Gathered arrays come back as transferred
// buffers (no copy); the trainer copies them into the wasm heap once.

/** Which sampler a prefetcher runs: a neighbour sampler or Cluster-GCN batches, with their settings. */
export type SamplerSpec =
  | {
      kind: 'neighbor';
      fanouts: number[];
      batchSize: number;
      inputNodes: Int32Array;
      seed: number;
      shuffle?: boolean;
      dropLast?: boolean;
    }
  | { kind: 'cluster'; parts: number; partsPerBatch: number; seed: number; partOf: Int32Array };

/** One batch, sampled and gathered: the subgraph and its nodes' feature rows [nodes, features]. */
export interface GatheredBatch {
  epoch: number;
  b: number;
  sub: SampledSubgraph;
  x: Float32Array;
  /** CPU-side work it took, wherever it ran (ms). */
  sampleMs: number;
  gatherMs: number;
}

/** What the worker is started with (workerData). */
export interface PrefetchInit {
  file: string;
  features: FeatureSource;
  spec: SamplerSpec;
}

/** Worker protocol: requests and replies (errors come back as data). */
export type PrefetchRequest = { type: 'sample'; epoch: number; b: number } | { type: 'close' };
export type PrefetchReply = { type: 'batch'; batch: GatheredBatch } | { type: 'error'; message: string };

/** A sampler over a store, built the same way on the main thread and in the worker. */
export function makeSampler(
  store: GraphStore,
  spec: SamplerSpec,
): { numBatches: number; sample(e: number, b: number): SampledSubgraph } {
  return spec.kind === 'neighbor'
    ? new NeighborSampler(store, {
        fanouts: spec.fanouts,
        batchSize: spec.batchSize,
        inputNodes: spec.inputNodes,
        seed: spec.seed,
        shuffle: spec.shuffle ?? true,
        dropLast: spec.dropLast ?? false,
      })
    : new ClusterSampler(store, {
        parts: spec.parts,
        partsPerBatch: spec.partsPerBatch,
        seed: spec.seed,
        partOf: spec.partOf,
      });
}

/** Samples batch (epoch, b) and gathers its features: the one function both places run. */
export function gatherBatch(
  store: GraphStore,
  sampler: { sample(e: number, b: number): SampledSubgraph },
  epoch: number,
  b: number,
): GatheredBatch {
  const t0 = performance.now();
  const sub = sampler.sample(epoch, b);
  const t1 = performance.now();
  const x = store.gatherFeatures(sub.nodes);
  return { epoch, b, sub, x, sampleMs: t1 - t0, gatherMs: performance.now() - t1 };
}

/** The buffers of a batch, to transfer instead of copying. */
export function batchBuffers(g: GatheredBatch): ArrayBuffer[] {
  const s = g.sub;
  return [s.nodes, s.rowPtr, s.colIdx, s.edgeIds, g.x].map((a) => a.buffer as ArrayBuffer);
}

/**
 * Batches of a sampler, `depth` requested ahead. 'worker' samples and gathers on a worker
 * thread; 'inline' does it on the calling thread when the batch is asked for (no overlap:
 * the reference the worker's bits are tested against, and the fallback). Batches are asked
 * for in a fixed order with `plan(list)`, then taken one by one with `next()`.
 *
 * @example
 *   const q = new BatchPrefetcher(store, spec, { mode: 'worker', depth: 2 });
 *   q.plan([[1, 0], [1, 1]]);
 *   const first = await q.next();
 *   await q.close();
 */
export class BatchPrefetcher {
  readonly mode: 'worker' | 'inline';
  readonly depth: number;
  /** Time next() spent waiting for a batch not ready yet (ms), since the last takeWaitMs(). */
  private waitMs = 0;
  private worker: Worker | null = null;
  private inline: { sample(e: number, b: number): SampledSubgraph } | null = null;
  private queue: [number, number][] = [];
  private pending: { resolve: (g: GatheredBatch) => void; reject: (e: Error) => void }[] = [];
  private inFlight: Promise<GatheredBatch>[] = [];
  private failure: Error | null = null;

  constructor(
    private readonly store: GraphStore,
    spec: SamplerSpec,
    options: { mode?: 'worker' | 'inline'; depth?: number; workerFeatures?: FeatureSource } = {},
  ) {
    this.mode = options.mode ?? 'worker';
    this.depth = Math.max(1, options.depth ?? 2);
    if (this.mode === 'inline') {
      this.inline = makeSampler(store, spec);
      return;
    }
    const init: PrefetchInit = { file: store.file, features: options.workerFeatures ?? 'file', spec };
    this.worker = new Worker(`${packageRoot()}/dist/src/store/prefetch-worker.js`, { workerData: init });
    this.worker.on('message', (m: PrefetchReply) => {
      const p = this.pending.shift();
      if (!this.pending.length) this.worker?.unref();
      if (!p) return;
      if (m.type === 'batch') p.resolve(m.batch);
      else p.reject(new GraftError(`batch prefetch: ${m.message}`));
    });
    const die = (err: Error): void => {
      this.failure = err;
      for (const p of this.pending.splice(0)) p.reject(new GraftError(`batch prefetch worker died: ${err.message}`));
    };
    this.worker.on('error', die);
    this.worker.on('exit', (code) => {
      if (this.pending.length) die(new Error(`exit code ${code}`));
    });
    // Unreferenced while idle (an open prefetcher does not keep the process alive), referenced
    // while a batch is requested: otherwise a process awaiting only its batch has nothing
    // keeping its event loop alive and exits, silently, with code 0 (the CLI did, mid-epoch).
    this.worker.unref();
  }

  /** Queues batches to be sampled in this order (appended to what is queued). */
  plan(batches: [number, number][]): void {
    this.queue.push(...batches);
    this.fill();
  }

  /** The next planned batch (in plan order). */
  async next(): Promise<GatheredBatch> {
    if (this.mode === 'inline') {
      const [e, b] = this.queue.shift() ?? this.nothingPlanned();
      return gatherBatch(this.store, this.inline!, e, b);
    }
    this.fill();
    const p = this.inFlight.shift() ?? this.nothingPlanned();
    const t0 = performance.now();
    const g = await p;
    this.waitMs += performance.now() - t0;
    this.fill();
    return g;
  }

  /**
   * Drops every batch queued or in flight and plans `batches` instead: an epoch replayed after
   * a worker fault (train/fault-recovery.ts) asks for its batches again. A batch depends only
   * on (seed, epoch, index), so the ones sampled again are the same.
   */
  async replan(batches: [number, number][]): Promise<void> {
    this.queue = [];
    await Promise.allSettled(this.inFlight.splice(0));
    this.plan(batches);
  }

  /** Returns and zeroes the time spent waiting for batches. */
  takeWaitMs(): number {
    const w = this.waitMs;
    this.waitMs = 0;
    return w;
  }

  /** Stops the worker (pending batches are dropped). */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    this.queue = [];
    if (w) {
      for (const p of this.inFlight) p.catch(() => {});
      await w.terminate();
    }
  }

  private nothingPlanned(): never {
    throw new GraftError('BatchPrefetcher.next: no batch planned');
  }

  private fill(): void {
    const w = this.worker;
    if (!w) return;
    while (this.inFlight.length < this.depth && this.queue.length) {
      if (this.failure) throw new GraftError(`batch prefetch worker died: ${this.failure.message}`);
      const [epoch, b] = this.queue.shift()!;
      const p = new Promise<GatheredBatch>((resolve, reject) => this.pending.push({ resolve, reject }));
      p.catch(() => {}); // observed by next(); an unawaited rejection must not end the process
      this.inFlight.push(p);
      w.ref();
      w.postMessage({ type: 'sample', epoch, b } satisfies PrefetchRequest);
    }
  }
}

/** The worker's own view of the store (features from the file by default: see the file comment). */
export function openForWorker(init: PrefetchInit): GraphStore {
  return GraphStore.open(init.file, { features: init.features });
}
