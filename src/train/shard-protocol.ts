import { CsrMatrix } from '../graph/csr.js';
import {
  collate,
  directedMessageGraph,
  type DirectedEdges,
  type GraphBatch,
  type GraphSample,
} from '../graph/batch.js';
import type { Heap } from '../memory/heap.js';
import type { Tensor } from '../memory/tensor.js';
import { tensorAt, tensorRef, type TensorRef } from '../memory/tensor-ref.js';
import type { SampleStoreData } from '../graph/sample-store.js';
import { traceNow, tracer } from '../runtime/trace.js';
import { graphBatchOptions, type GraphTrainConfig } from './graph-model.js';

// The shard-step protocol between a GraphTrainer (graph-shards.ts, the caller) and a shard
// worker (shard-worker.ts): one message per shard step, everything in it by address over the
// shared memory. Both halves import this file and the model file, never each other.

/** A collated shard by address. */
export interface BatchRef {
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
  /** The batch's directed edges (message-passing models), from which the worker builds the same message graph. */
  directed?: { src: TensorRef; dst: TensorRef; attr: TensorRef | null; selfLoops: DirectedEdges['selfLoops'] };
}

/**
 * A shard as a worker gets it: collated already, by address (`batch`), or the indices of its
 * samples in the service's packed sample set (`samples`), which the worker collates into its
 * own arena: the collating then runs on the thread that runs the shard, in parallel.
 */
export type ShardInput = { batch: BatchRef } | { samples: number[] };

/** One shard's training step on a worker: what trainShardStep receives. */
export interface ShardStep {
  /** Identifies the trainer (its replica is cached per worker under this key). */
  trainer: string;
  config: GraphTrainConfig;
  features: number;
  targets: number;
  arena: { ptr: number; bytes: number };
  /** Per parameter, in the model's order: the master's value and this shard's gradient buffer. */
  params: { value: TensorRef; grad: TensorRef }[];
  input: ShardInput;
  /** The loss's denominator: labels (or values) of the whole batch, so shard gradients add up. */
  normalizer: number;
  ctx: { seed: number; step: number };
}

/** A collated shard as addresses (the caller's side). */
export function batchRef(b: GraphBatch): BatchRef {
  return {
    graphs: b.graphs,
    nodes: b.nodes,
    labels: b.labels,
    rowPtr: tensorRef(b.adj.rowPtr),
    colIdx: tensorRef(b.adj.colIdx),
    vals: tensorRef(b.adj.vals),
    x: tensorRef(b.x),
    offsets: tensorRef(b.offsets),
    y: tensorRef(b.y),
    labelMask: tensorRef(b.labelMask),
    descriptors: b.descriptors ? tensorRef(b.descriptors) : null,
    ...(b.directed
      ? {
          directed: {
            src: tensorRef(b.directed.src),
            dst: tensorRef(b.directed.dst),
            attr: b.directed.attr ? tensorRef(b.directed.attr) : null,
            selfLoops: b.directed.selfLoops,
          },
        }
      : {}),
  };
}

/**
 * The shard as views of the caller's tensors (the worker's side); freeing it frees only the
 * message graph a message-passing model's shard builds here from the directed edges.
 */
export function batchAt(heap: Heap, b: BatchRef): GraphBatch {
  const d = b.directed;
  const directed: DirectedEdges | undefined = d && {
    src: tensorAt(heap, d.src, 'int32'),
    dst: tensorAt(heap, d.dst, 'int32'),
    attr: d.attr ? tensorAt(heap, d.attr) : null,
    selfLoops: d.selfLoops,
  };
  const messages = directed && directedMessageGraph(heap, b.nodes, directed);
  return {
    graphs: b.graphs,
    nodes: b.nodes,
    labels: b.labels,
    adj: CsrMatrix.view(
      b.nodes,
      b.nodes,
      tensorAt(heap, b.rowPtr, 'int32'),
      tensorAt(heap, b.colIdx, 'int32'),
      tensorAt(heap, b.vals, 'float32'),
    ),
    x: tensorAt(heap, b.x),
    offsets: tensorAt(heap, b.offsets, 'int32'),
    y: tensorAt(heap, b.y),
    labelMask: tensorAt(heap, b.labelMask, 'uint8'),
    descriptors: b.descriptors ? tensorAt(heap, b.descriptors) : null,
    ...(messages && directed ? { messages, directed } : {}),
    free: () => messages?.free(),
  };
}

/**
 * A shard's samples collated for `config`'s model on `heap`, by whichever thread runs the
 * shard (this one's heap, or a worker's arena); traced on a track of its own, beside the ops.
 */
export function collateShard(
  heap: Heap,
  samples: readonly GraphSample[],
  features: number,
  targets: number,
  config: GraphTrainConfig,
): GraphBatch {
  const tr = tracer;
  const t0 = tr ? traceNow() : 0;
  const batch = collate(heap, samples, features, targets, graphBatchOptions(config));
  if (tr) tr.spanOn(tr.trackOf(2, `${tr.threadName}: collate`), 'copy', 'collate shard', t0, traceNow());
  return batch;
}

/** Parameters by address: the master's values and a replica's gradient buffers. */
export function paramRefs(values: readonly Tensor[], grads: readonly Tensor[]): ShardStep['params'] {
  return values.map((v, i) => ({ value: tensorRef(v), grad: tensorRef(grads[i]!) }));
}

/**
 * A shard service (serveShards on a worker, ShardServices on the caller): one worker call
 * serves shard steps for as long as the caller holds its workers, so a step costs a notify
 * and a wait on shared flags, not a Piscina round trip with the whole step cloned each time.
 * What does not change between steps (the trainer, its config, the arena) is sent once here;
 * each step's shards arrive as JSON in the service's block of shared memory.
 */
export interface ShardService {
  trainer: string;
  config: GraphTrainConfig;
  features: number;
  targets: number;
  arena: { ptr: number; bytes: number };
  /** The service's block: flag words (SHARD_SYNC), the losses (float64), then the message. */
  block: number;
  /** Loss slots: the most shards one step can ask of this service. */
  slots: number;
  /** Bytes the message area holds. */
  capacity: number;
  /** The packed training samples that shards given by `samples` index (null: shards come collated). */
  store: SampleStoreData | null;
}

/** One step's request to a service: its shards, in the order it runs them. */
export interface ShardRequest {
  normalizer: number;
  shards: { index: number; params: ShardStep['params']; input: ShardInput; ctx: ShardStep['ctx'] }[];
}

/** Int32 words at the start of a service's block. */
export const SHARD_SYNC = {
  state: 0,
  /** Bytes of the request's JSON. */
  length: 1,
  /** The shard the service is running (so a failure can name it). */
  running: 2,
  /** 1 once the service runs and waits for its first step. */
  ready: 3,
  words: 16,
} as const;

/** Values of SHARD_SYNC.state. */
export const SHARD_STATE = { idle: 0, request: 1, done: 2, stop: 3 } as const;

/** Where a service's losses and message start in its block (bytes from the block's start). */
export function shardBlockLayout(slots: number): { losses: number; message: number } {
  const losses = 4 * SHARD_SYNC.words;
  return { losses, message: losses + 8 * slots };
}
