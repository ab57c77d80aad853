import { Heap } from '../memory/heap.js';
import { tensorAt } from '../memory/tensor-ref.js';
import type { GraphBatch, GraphSample } from '../graph/batch.js';
import { type SampleStoreData, storedSamples } from '../graph/sample-store.js';
import type { PassContext } from '../nn/layer.js';
import type { Exec } from '../runtime/exec.js';
import { InlineExec } from '../runtime/inline-exec.js';
import type { WorkerContext } from '../runtime/protocol.js';
import { traceNow, tracer } from '../runtime/trace.js';
import { graphLoss, graphModel, type GraphModel } from './graph-model.js';
import {
  batchAt,
  collateShard,
  SHARD_STATE,
  SHARD_SYNC,
  shardBlockLayout,
  type ShardRequest,
  type ShardService,
  type ShardStep,
} from './shard-protocol.js';
import { trainingPass } from './step.js';

// One batch-splitting shard's whole step (forward, loss, backward: the JavaScript too, not
// only the kernels) on a worker thread, over the shared memory. Everything arrives by
// address (shard-protocol.ts): the master's weights, the replica's gradient buffers, the
// shard (collated by the caller, or its samples' indices in the packed training set, which
// this thread collates itself), and an arena (a block of the owner's heap) for this step's
// batch and activations, which are all freed before the step returns. The model replica is
// built once per worker and trainer.
// serveShards runs such steps for as long as the caller holds the worker, asked for through
// shared flags (one request and one answer per step, however many shards the step gives it).

interface Replica {
  heap: Heap;
  exec: InlineExec;
  model: GraphModel;
  batch: GraphBatch | null;
}
/** Replicas by trainer, most recent last; a few are kept (a run makes one trainer at a time). */
const replicas = new Map<string, Replica>();
const KEEP_REPLICAS = 4;

function replicaFor(w: WorkerContext, s: ShardStep): Replica {
  const r = replicas.get(s.trainer);
  if (r) {
    r.heap.reset(s.arena.ptr, s.arena.bytes);
    return r;
  }
  const heap = Heap.region(w.memory, s.arena.ptr, s.arena.bytes);
  const exec = new InlineExec(heap, w.backend);
  // Branches of a hybrid run one after the other here: the "fork" is this thread.
  const host = {
    heap,
    exec,
    fork: <T>(fn: (e: Exec) => Promise<T>) => {
      const p = fn(exec);
      return { join: () => p };
    },
  };
  const made: Replica = { heap, exec, model: null as unknown as GraphModel, batch: null };
  made.model = graphModel(host, s.features, s.targets, s.config, () => made.batch!);
  // Its own initial weights are never used: the parameters become views of the master's.
  for (const p of made.model.params()) {
    p.value.free();
    p.grad.free();
  }
  replicas.set(s.trainer, made);
  if (replicas.size > KEEP_REPLICAS) replicas.delete(replicas.keys().next().value!);
  return made;
}

/**
 * Runs one shard's forward, loss and backward; the gradients land in the shard's buffers. A
 * shard given by its samples' indices is collated here, into the arena, from `stored` (the
 * service's packed training set).
 */
export async function trainShardStep(
  w: WorkerContext,
  s: ShardStep,
  stored: readonly GraphSample[] | null = null,
): Promise<{ loss: number }> {
  const r = replicaFor(w, s);
  const params = r.model.params();
  if (params.length !== s.params.length)
    throw new Error(`trainShardStep: the replica has ${params.length} parameters, the step sends ${s.params.length}`);
  params.forEach((p, i) => {
    p.value = tensorAt(r.heap, s.params[i]!.value);
    p.grad = tensorAt(r.heap, s.params[i]!.grad);
  });
  const batch = shardBatch(r.heap, s, stored);
  r.batch = batch;
  const ctx: PassContext = { exec: r.exec, training: true, seed: s.ctx.seed, step: s.ctx.step };
  try {
    const pass = await trainingPass(r.model, ctx, batch, (out) =>
      graphLoss(r.exec, s.config.task, out, batch, s.normalizer),
    );
    return { loss: pass.loss };
  } catch (err) {
    // A failed step may leave a layer's saved state behind: build the replica afresh next time.
    replicas.delete(s.trainer);
    throw err;
  } finally {
    r.batch = null;
    batch.free();
  }
}

/** This thread's views of the latest packed training set: each epoch of a run starts a service on the same set. */
let storeViews: { id: string; samples: GraphSample[] } | null = null;

/** This thread's views of the packed set `data`, made on first use (only the latest set's are kept). */
function storedFor(data: SampleStoreData): GraphSample[] {
  if (storeViews?.id !== data.id) storeViews = { id: data.id, samples: storedSamples(data) };
  return storeViews.samples;
}

/** The shard's batch on this thread: views of the caller's collated shard, or its samples collated here. */
function shardBatch(heap: Heap, s: ShardStep, stored: readonly GraphSample[] | null): GraphBatch {
  if ('batch' in s.input) return batchAt(heap, s.input.batch);
  if (!stored) throw new Error('trainShardStep: a shard of stored samples, but the service has no sample set');
  const samples = s.input.samples.map((i) => {
    const g = stored[i];
    if (!g) throw new Error(`trainShardStep: sample ${i} is not in the service's set of ${stored.length}`);
    return g;
  });
  return collateShard(heap, samples, s.features, s.targets, s.config);
}

/**
 * Microseconds the service spins for the next request before it sleeps: the caller's work
 * between two steps (the gradient sum, Adam, its own shard's collating) is often shorter than
 * a futex wake-up on a VM, and spinning then saves the wake-up. Not longer: at 2 ms (and 1 ms
 * for the caller's answer spin) a Tox21 epoch at 2 threads measured slower (130-170 ms against
 * 122-143, 4 epochs each, traced, 2026-12-07): on 2 cores two spinning threads leave V8's own
 * background threads (concurrent marking, compiling) no core, and the main thread collected
 * garbage 16 times instead of 9, each time for about 5 ms.
 */
const SERVICE_SPIN_MICROS = 200;

/**
 * Serves shard steps until the caller sets STOP: per request, the shards it names, one after
 * another, each loss into its slot, then DONE. A step that fails ends the service with its
 * error (the caller's call rejects; its replica is rebuilt next time).
 */
export async function serveShards(w: WorkerContext, svc: ShardService): Promise<{ steps: number }> {
  const layout = shardBlockLayout(svc.slots);
  // Views made anew after every wait and step: the caller may grow the memory meanwhile, after
  // which memory.buffer is a new object.
  const flags = (): Int32Array => new Int32Array(w.memory.buffer, svc.block, SHARD_SYNC.words);
  let steps = 0;
  const stored = svc.store ? storedFor(svc.store) : null;
  const ready = flags();
  Atomics.store(ready, SHARD_SYNC.ready, 1);
  Atomics.notify(ready, SHARD_SYNC.ready);
  for (;;) {
    let f = flags();
    let state = Atomics.load(f, SHARD_SYNC.state);
    const tr = tracer;
    const w0 = tr ? traceNow() : 0;
    const deadline = performance.now() + SERVICE_SPIN_MICROS / 1000;
    let slept = false;
    for (let i = 1; state === SHARD_STATE.idle || state === SHARD_STATE.done; i++) {
      if ((i & 255) === 0 && performance.now() > deadline) {
        // Atomics.wait returns at once if the state already moved on: no notify is lost.
        Atomics.wait(f, SHARD_SYNC.state, state);
        slept = true;
        f = flags();
      }
      state = Atomics.load(f, SHARD_SYNC.state);
    }
    if (tr) tr.span(slept ? 'wait-sleep' : 'wait-spin', 'shard service: wait for the next step', w0);
    const s0 = tr ? traceNow() : 0;
    if (state === SHARD_STATE.stop) return { steps };
    if (state !== SHARD_STATE.request) throw new Error(`serveShards: unexpected state ${state} before a step`);
    const length = f[SHARD_SYNC.length]!;
    // slice() copies out of the shared buffer: TextDecoder does not read shared memory.
    const bytes = new Uint8Array(w.memory.buffer, svc.block + layout.message, length).slice();
    const req = JSON.parse(new TextDecoder().decode(bytes)) as ShardRequest;
    const losses: number[] = [];
    for (const sh of req.shards) {
      Atomics.store(flags(), SHARD_SYNC.running, sh.index);
      const step: ShardStep = {
        trainer: svc.trainer,
        config: svc.config,
        features: svc.features,
        targets: svc.targets,
        arena: svc.arena,
        params: sh.params,
        input: sh.input,
        normalizer: req.normalizer,
        ctx: sh.ctx,
      };
      losses.push((await trainShardStep(w, step, stored)).loss);
    }
    new Float64Array(w.memory.buffer, svc.block + layout.losses, losses.length).set(losses);
    steps++;
    if (tr)
      tr.spanOn(tr.trackOf(1, `${tr.threadName}: shard steps`), 'step', 'shard step', s0, traceNow(), {
        shards: req.shards.length,
        slept,
      });
    f = flags();
    // REQUEST → DONE only: a STOP the caller set meanwhile (a step that failed elsewhere, then
    // close()) must stay, or this service would wait on its own DONE for ever.
    const was = Atomics.compareExchange(f, SHARD_SYNC.state, SHARD_STATE.request, SHARD_STATE.done);
    if (was === SHARD_STATE.stop) return { steps };
    Atomics.notify(f, SHARD_SYNC.state);
  }
}
