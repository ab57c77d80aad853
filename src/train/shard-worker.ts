import { Heap } from '../memory/heap.js';
import { tensorAt } from '../memory/tensor-ref.js';
import type { GraphBatch } from '../graph/batch.js';
import type { PassContext } from '../nn/layer.js';
import type { Exec } from '../runtime/exec.js';
import { InlineExec } from '../runtime/inline-exec.js';
import type { WorkerContext } from '../runtime/protocol.js';
import { graphLoss, graphModel, type GraphModel } from './graph-model.js';
import { batchAt, type ShardStep } from './shard-protocol.js';
import { trainingPass } from './step.js';

// One batch-splitting shard's whole step (forward, loss, backward: the JavaScript too, not
// only the kernels) on a worker thread, over the shared memory. Everything arrives by
// address (shard-protocol.ts): the master's weights, the replica's gradient buffers, the
// collated shard, and an arena (a block of the owner's heap) for this step's activations,
// which are all freed before the step returns. The model replica is built once per worker and trainer.

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

/** Runs one shard's forward, loss and backward; the gradients land in the shard's buffers. */
export async function trainShardStep(w: WorkerContext, s: ShardStep): Promise<{ loss: number }> {
  const r = replicaFor(w, s);
  const params = r.model.params();
  if (params.length !== s.params.length)
    throw new Error(`trainShardStep: the replica has ${params.length} parameters, the step sends ${s.params.length}`);
  params.forEach((p, i) => {
    p.value = tensorAt(r.heap, s.params[i]!.value);
    p.grad = tensorAt(r.heap, s.params[i]!.grad);
  });
  const batch = batchAt(r.heap, s.batch);
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
