import { CsrMatrix } from '../graph/csr.js';
import { Heap } from '../memory/heap.js';
import { Tensor } from '../memory/tensor.js';
import type { TensorRef } from '../memory/tensor-ref.js';
import { InlineExec } from '../runtime/inline-exec.js';
import type { WorkerContext } from '../runtime/protocol.js';
import { traceNow, tracer } from '../runtime/trace.js';
import type { PassContext } from './layer.js';
import { buildLayers, type LayerSpec } from './layer-spec.js';
import type { Propagation } from './layers.js';
import { Sequential } from './sequential.js';

// A forked branch served by a worker thread, JavaScript included, over the shared memory:
// what lets two branches compute at once when one of them is the caller's. One call serves
// the branch for a whole stretch of training (BranchJoin.holdingWorkers). Passes are asked
// for through a block of shared int32 words, not messages, so a pass costs a notify, not a
// Piscina round trip: the caller writes where this pass's input, graph and arena are and sets
// REQUEST; the worker runs forward, publishes its output and sets FORWARD_DONE, then waits
// for the caller's gradient of that output (BACKWARD) or the end of the pass (RELEASE), and
// sets PASS_DONE. Its activations stay in its arena in between. Weights and gradient buffers
// never move while the branch is served; they are sent once, with the layer specs. The caller's half of the
// protocol is branch-calls.ts.

/** Words of the flag block the caller and the worker share. */
export const SYNC = {
  state: 0,
  outPtr: 1,
  outRows: 2,
  outCols: 3,
  gradPtr: 4,
  needInputGrad: 5,
  inGradPtr: 6,
  inputPtr: 7,
  inputRows: 8,
  inputCols: 9,
  adjRows: 10,
  rowPtr: 11,
  colIdx: 12,
  vals: 13,
  nnz: 14,
  offsetsPtr: 15,
  offsetsLen: 16,
  training: 17,
  seed: 18,
  step: 19,
  arenaPtr: 20,
  arenaBytes: 21,
  words: 24,
} as const;
// The branch protocol's callers name TensorRef from here; the one definition is memory/tensor-ref.ts.
export type { TensorRef };

/** Values of SYNC.state. */
export const PHASE = { idle: 0, forwardDone: 1, backward: 2, release: 3, request: 4, passDone: 5, stop: 6 } as const;

/**
 * Microseconds either side spins on the flags before it sleeps: the other side's step between
 * two signals (the head, a loss) is often shorter than a futex wake-up on a VM.
 */
export const SPIN_MICROS = 50;

/** Spins while the state word is `state`, up to SPIN_MICROS; the state it saw last. */
export function spinWhile(f: Int32Array, state: number): number {
  const deadline = performance.now() + SPIN_MICROS / 1000;
  let now = Atomics.load(f, SYNC.state);
  for (let i = 1; now === state; i++) {
    if ((i & 255) === 0 && performance.now() > deadline) break;
    now = Atomics.load(f, SYNC.state);
  }
  return now;
}

export interface BranchService {
  layers: LayerSpec[];
  params: { value: TensorRef; grad: TensorRef }[];
  sync: number;
}

/** Serves passes of one branch until the caller sets STOP; a pass that fails ends the service with its error. */
export async function serveBranch(w: WorkerContext, s: BranchService): Promise<{ passes: number }> {
  // The flag words, as a view made anew after every wait and await: the caller's thread may grow
  // the memory meanwhile, after which memory.buffer is a new object (a shared one's old buffer
  // keeps its old length, an unshared one's is detached); a view of the current buffer is right
  // either way, and costs nothing next to a pass.
  const flags = (): Int32Array => new Int32Array(w.memory.buffer, s.sync, SYNC.words);
  let heap: Heap | null = null,
    exec: InlineExec | null = null,
    seq: Sequential | null = null;
  let prop: Propagation | null = null,
    offsets: Tensor | null = null;
  let passes = 0;
  for (;;) {
    let f = flags();
    // On the timeline the waits are waits, not JavaScript between ops.
    const w0 = tracer ? traceNow() : 0;
    let state = spinWhile(f, Atomics.load(f, SYNC.state));
    let slept = false;
    while (state === PHASE.idle || state === PHASE.passDone) {
      Atomics.wait(f, SYNC.state, state);
      slept = true;
      f = flags();
      state = Atomics.load(f, SYNC.state);
    }
    tracer?.span(slept ? 'wait-sleep' : 'wait-spin', 'branch service: wait for a pass', w0);
    if (state === PHASE.stop) return { passes };
    if (state !== PHASE.request) throw new Error(`serveBranch: unexpected state ${state} before a pass`);
    const arena = { ptr: f[SYNC.arenaPtr]!, bytes: f[SYNC.arenaBytes]! };
    if (!heap) {
      heap = Heap.region(w.memory, arena.ptr, arena.bytes);
      exec = new InlineExec(heap, w.backend);
      seq = new Sequential(
        buildLayers(
          heap,
          s.layers,
          () => prop!,
          () => offsets!,
        ),
      );
      const params = seq.params();
      if (params.length !== s.params.length)
        throw new Error(
          `serveBranch: the branch has ${params.length} parameters, the service sends ${s.params.length}`,
        );
      // Point the parameters at the caller's weights and gradient buffers; the throwaway
      // initial ones go with the arena's reset.
      params.forEach((q, i) => {
        q.value.free();
        q.grad.free();
        q.value = Tensor.view(heap!, 'float32', s.params[i]!.value.shape, s.params[i]!.value.ptr);
        q.grad = Tensor.view(heap!, 'float32', s.params[i]!.grad.shape, s.params[i]!.grad.ptr);
      });
    }
    heap.reset(arena.ptr, arena.bytes);
    const h = heap;
    const view = (ptr: number, shape: number[], dtype: 'float32' | 'int32' = 'float32'): Tensor =>
      Tensor.view(h, dtype, shape, ptr);
    prop = f[SYNC.rowPtr]
      ? {
          adj: CsrMatrix.view(
            f[SYNC.adjRows]!,
            f[SYNC.adjRows]!,
            view(f[SYNC.rowPtr]!, [f[SYNC.adjRows]! + 1], 'int32') as Tensor<'int32'>,
            view(f[SYNC.colIdx]!, [f[SYNC.nnz]!], 'int32') as Tensor<'int32'>,
            view(f[SYNC.vals]!, [f[SYNC.nnz]!]) as Tensor<'float32'>,
          ),
        }
      : null;
    offsets = f[SYNC.offsetsPtr] ? view(f[SYNC.offsetsPtr]!, [f[SYNC.offsetsLen]!], 'int32') : null;
    const ctx: PassContext = {
      exec: exec!,
      training: f[SYNC.training] === 1,
      seed: f[SYNC.seed]!,
      step: f[SYNC.step]!,
    };
    try {
      const out = await seq!.forward(ctx, view(f[SYNC.inputPtr]!, [f[SYNC.inputRows]!, f[SYNC.inputCols]!]));
      f = flags();
      f[SYNC.outPtr] = out.ptr;
      f[SYNC.outRows] = out.shape[0]!;
      f[SYNC.outCols] = out.shape[1]!;
      Atomics.store(f, SYNC.state, PHASE.forwardDone);
      Atomics.notify(f, SYNC.state);
      // The caller reads the output, runs the head and writes the output's gradient (or ends the pass).
      // Spin first (the head is often shorter than a futex wake-up), then sleep; Atomics.wait
      // returns at once if the state already moved on, so a notify between the spin and the
      // wait is never lost.
      const g0 = tracer ? traceNow() : 0;
      const spun = spinWhile(f, PHASE.forwardDone) !== PHASE.forwardDone;
      if (!spun) Atomics.wait(f, SYNC.state, PHASE.forwardDone);
      tracer?.span(spun ? 'wait-spin' : 'wait-sleep', "branch service: wait for the output's gradient", g0);
      f = flags();
      f[SYNC.inGradPtr] = 0;
      if (Atomics.load(f, SYNC.state) === PHASE.backward) {
        const gx = await seq!.backward(
          ctx,
          view(f[SYNC.gradPtr]!, [out.shape[0]!, out.shape[1]!]),
          f[SYNC.needInputGrad] === 1,
        );
        f = flags();
        f[SYNC.inGradPtr] = gx ? gx.ptr : 0;
      }
    } finally {
      seq!.release();
      prop = null;
      offsets = null;
    }
    passes++;
    f = flags();
    Atomics.store(f, SYNC.state, PHASE.passDone);
    Atomics.notify(f, SYNC.state);
  }
}
