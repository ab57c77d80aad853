import { CsrMatrix } from '../graph/csr.js';
import type { GraphBatch } from '../graph/batch.js';
import { Heap } from '../memory/heap.js';
import { Tensor } from '../memory/tensor.js';
import type { PassContext } from '../nn/layer.js';
import type { Exec } from '../runtime/exec.js';
import { InlineExec } from '../runtime/inline-exec.js';
import type { WorkerContext } from '../runtime/protocol.js';
import { graphLoss, graphModel, type GraphModel, type GraphTrainConfig } from './graph-trainer.js';

// One batch-splitting shard's whole step (forward, loss, backward: the JavaScript too, not
// only the kernels) on a worker thread, over the shared memory. Everything arrives by
// address: the master's weights, the replica's gradient buffers, the collated shard, and an
// arena (a block of the owner's heap) for this step's activations, which are all freed
// before the step returns. The model replica is built once per worker and trainer.

/** A tensor passed by address: where it is and its shape. */
export interface TensorRef {
  ptr: number;
  shape: number[];
}

export interface ShardStep {
  /** Identifies the trainer (its replica is cached per worker under this key). */
  trainer: string;
  config: GraphTrainConfig;
  features: number;
  targets: number;
  arena: { ptr: number; bytes: number };
  /** Per parameter, in the model's order: the master's value and this shard's gradient buffer. */
  params: { value: TensorRef; grad: TensorRef }[];
  batch: {
    graphs: number;
    nodes: number;
    labels: number;
    rowPtr: TensorRef;
    colIdx: TensorRef;
    vals: TensorRef;
    x: TensorRef;
    offsets: TensorRef;
    y: TensorRef;
    labelMask: TensorRef;
    descriptors: TensorRef | null;
  };
  /** The loss's denominator: labels (or values) of the whole batch, so shard gradients add up. */
  normalizer: number;
  ctx: { seed: number; step: number };
}

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
  const h = r.heap;
  const view = (t: TensorRef, dtype: 'float32' | 'int32' | 'uint8' = 'float32'): Tensor =>
    Tensor.view(h, dtype, t.shape, t.ptr);
  const params = r.model.params();
  if (params.length !== s.params.length)
    throw new Error(`trainShardStep: the replica has ${params.length} parameters, the step sends ${s.params.length}`);
  params.forEach((p, i) => {
    p.value = view(s.params[i]!.value);
    p.grad = view(s.params[i]!.grad);
  });
  const b = s.batch;
  r.batch = {
    graphs: b.graphs,
    nodes: b.nodes,
    labels: b.labels,
    adj: CsrMatrix.view(
      b.nodes,
      b.nodes,
      view(b.rowPtr, 'int32') as Tensor<'int32'>,
      view(b.colIdx, 'int32') as Tensor<'int32'>,
      view(b.vals) as Tensor<'float32'>,
    ),
    x: view(b.x),
    offsets: view(b.offsets, 'int32'),
    y: view(b.y),
    labelMask: view(b.labelMask, 'uint8') as Tensor<'uint8'>,
    descriptors: b.descriptors ? view(b.descriptors) : null,
    free: () => undefined,
  };
  const ctx: PassContext = { exec: r.exec, training: true, seed: s.ctx.seed, step: s.ctx.step };
  try {
    const out = await r.model.forward(ctx, r.batch);
    const l = await graphLoss(r.exec, s.config.task, out, r.batch, s.normalizer);
    try {
      await r.model.backward(ctx, l.grad);
    } finally {
      l.grad.free();
    }
    return { loss: l.loss };
  } catch (err) {
    // A failed step may leave a layer's saved state behind: build the replica afresh next time.
    replicas.delete(s.trainer);
    throw err;
  } finally {
    r.model.release();
    r.batch = null;
  }
}
