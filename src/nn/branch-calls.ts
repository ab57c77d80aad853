import { WorkerError } from '../core/errors.js';
import { workerUrl } from '../core/worker-url.js';
import type { Heap } from '../memory/heap.js';
import { Tensor } from '../memory/tensor.js';
import type { WorkerCall } from '../runtime/runtime.js';
import { traceNow, tracer } from '../runtime/trace.js';
import { WorkerService } from '../runtime/worker-service.js';
import { PHASE, spinWhile, SYNC, type BranchService, type TensorRef } from './branch-worker.js';
import type { PassContext } from './layer.js';
import { describeLayers } from './layer-spec.js';
import type { Propagation } from './layers.js';
import type { Sequential } from './sequential.js';

// The caller's half of the branch worker protocol (branch-worker.ts is the worker's half):
// BranchJoin.holdingWorkers lends branches 1..n−1 a worker thread each, and this starts their
// services, asks for passes and waits for them, all through each service's block of shared
// int32 flags. One pass walks the states
//   REQUEST (caller) → FORWARD_DONE (worker) → BACKWARD or RELEASE (caller) → PASS_DONE (worker)
// and each side only ever moves the state forward from the one the other side set, so a word
// written before a state store (the pass's pointers, the output, the input gradient) is read
// only after the load that sees that state: Atomics.store and Atomics.load are sequentially
// consistent, which orders the plain writes around them. STOP (caller) ends the service
// between passes.

const BRANCH_WORKER = workerUrl('nn/branch-worker');

/** What the branches read besides their inputs, for a branch run on a worker: the current Â and pooling offsets. */
export interface BranchInputs {
  graph?: () => Propagation;
  offsets?: () => Tensor;
}

/** A worker serving one branch (its serveBranch call) and the flags passes are asked for through. */
interface Service {
  branch: number;
  sync: Tensor;
  worker: WorkerService;
}

/** A pass under way on a service's worker. */
export interface PendingPass {
  branch: number;
  svc: Service;
  out: Tensor | null;
  inputShape: [number, number];
}

/** Branches 1..lent served on lent worker threads while a BranchJoin holds them: services, arenas and passes under way. */
export class BranchCalls {
  private readonly arenas: Tensor[] = [];
  private readonly services: (Service | null)[];
  /** Passes started and not yet ended, in branch order. */
  pending: PendingPass[] = [];

  constructor(
    private readonly heap: Heap,
    private readonly call: WorkerCall,
    /** How many worker threads were lent: branches 1..lent run there. */
    readonly lent: number,
    private readonly branches: readonly Sequential[],
    private readonly reads: BranchInputs,
  ) {
    this.services = new Array<Service | null>(lent).fill(null);
  }

  /** The worker serving branch i, started (again, after a failure) when needed. */
  private serviceFor(i: number): Service {
    const k = i - 1;
    const old = this.services[k];
    if (old && !old.worker.ended) return old;
    old?.sync.free();
    const branch = this.branches[i]!;
    const sync = Tensor.zeros(this.heap, 'int32', [SYNC.words], 'branch service flags');
    const ref = (t: Tensor): TensorRef => ({ ptr: t.ptr, shape: [...t.shape] });
    const job: BranchService = {
      layers: describeLayers(branch.layers),
      params: branch.params().map((p) => ({ value: ref(p.value), grad: ref(p.grad) })),
      sync: sync.ptr,
    };
    const svc: Service = { branch: i, sync, worker: new WorkerService(this.call(BRANCH_WORKER, 'serveBranch', job)) };
    this.services[k] = svc;
    return svc;
  }

  /** Asks branch i's worker for a pass over `input` (its arena grown to fit the pass) and records it as pending. */
  start(ctx: PassContext, i: number, input: Tensor): void {
    const k = i - 1;
    const branch = this.branches[i]!;
    const svc = this.serviceFor(i);
    const rows = input.shape[0]!;
    const width = Math.max(
      input.shape[1]!,
      ...branch.layers.map((l) => ('outFeatures' in l ? (l as { outFeatures: number }).outFeatures : 0)),
    );
    // Activations of one pass and their gradients: a few [rows, width] tensors per layer.
    const bytes = (1 << 20) + 4 * rows * width * (3 * branch.layers.length + 4);
    if (!this.arenas[k] || this.arenas[k].byteLength < bytes) {
      this.arenas[k]?.free();
      this.arenas[k] = Tensor.empty(this.heap, 'uint8', [bytes], 'branch worker arena');
    }
    const usesGraph = branch.layers.some((l) => l.kind === 'gcn');
    const prop = usesGraph ? this.reads.graph?.() : undefined;
    const adj = prop?.adj;
    if (usesGraph && !adj)
      throw new Error('BranchJoin: a GCN branch on a worker needs the join to know its graph (BranchInputs.graph)');
    if (prop?.edgeGrad)
      throw new Error(
        'BranchJoin: edge gradients are not gathered from branches on workers; run the passes that want them without holdingWorkers',
      );
    const offsets = branch.layers.some((l) => l.kind === 'pool') ? this.reads.offsets?.() : undefined;
    // The pass's description, written with plain stores: the state store below publishes them.
    const f = this.flags(svc);
    f[SYNC.inputPtr] = input.ptr;
    f[SYNC.inputRows] = rows;
    f[SYNC.inputCols] = input.shape[1]!;
    f[SYNC.adjRows] = adj?.rows ?? 0;
    f[SYNC.rowPtr] = adj?.rowPtr.ptr ?? 0;
    f[SYNC.colIdx] = adj?.colIdx.ptr ?? 0;
    f[SYNC.vals] = adj?.vals.ptr ?? 0;
    f[SYNC.nnz] = adj?.nnz ?? 0;
    f[SYNC.offsetsPtr] = offsets?.ptr ?? 0;
    f[SYNC.offsetsLen] = offsets?.size ?? 0;
    f[SYNC.training] = ctx.training ? 1 : 0;
    f[SYNC.seed] = ctx.seed;
    f[SYNC.step] = ctx.step;
    f[SYNC.arenaPtr] = this.arenas[k].ptr;
    f[SYNC.arenaBytes] = this.arenas[k].byteLength;
    this.setState(svc, PHASE.request);
    this.pending.push({ branch: i, svc, out: null, inputShape: [rows, input.shape[1]!] });
  }

  /**
   * The service's flag words. Made anew at every use, never kept across an await: a heap that
   * grows replaces its buffer, and a view of the old one would read stale words.
   */
  private flags(x: PendingPass | Service): Int32Array {
    const svc = 'svc' in x ? x.svc : x;
    return new Int32Array(this.heap.memory.buffer, svc.sync.ptr, SYNC.words);
  }

  private setState(x: PendingPass | Service, phase: number): void {
    const f = this.flags(x);
    Atomics.store(f, SYNC.state, phase);
    Atomics.notify(f, SYNC.state);
  }

  /** Waits until the pass's state is one of `until`; rejects if its worker's service ends first. */
  private async waitState(p: PendingPass, until: number[]): Promise<number> {
    const tr = tracer;
    const w0 = tr ? traceNow() : 0;
    for (let spun = false; ; spun = true) {
      const f = this.flags(p);
      // This thread has nothing else to do meanwhile: spin a little before sleeping.
      const state = spun ? Atomics.load(f, SYNC.state) : spinWhile(f, Atomics.load(f, SYNC.state));
      if (until.includes(state)) {
        tr?.span(spun ? 'wait-sleep' : 'wait-spin', `await branch ${p.branch}'s worker`, w0);
        return state;
      }
      if (p.svc.worker.ended) throw this.workerFailure(p, p.svc.worker.failure);
      // Sleep until the state word changes from the value just read, or the service ends.
      await p.svc.worker.waitChange(f, SYNC.state, state);
    }
  }

  /** Waits for a worker's forward; its output (a view into the worker's arena, valid until the pass ends). */
  async forwardDone(p: PendingPass): Promise<Tensor> {
    await this.waitState(p, [PHASE.forwardDone]);
    const f = this.flags(p);
    return Tensor.view(this.heap, 'float32', [f[SYNC.outRows]!, f[SYNC.outCols]!], f[SYNC.outPtr]!);
  }

  /** Hands the worker its output's gradient: it runs the branch's backward and ends the pass. */
  backward(p: PendingPass, grad: Tensor, needInputGrad: boolean): void {
    const f = this.flags(p);
    f[SYNC.gradPtr] = grad.ptr;
    f[SYNC.needInputGrad] = needInputGrad ? 1 : 0;
    this.setState(p, PHASE.backward);
  }

  /**
   * Waits for the pass's end; with `needInputGrad`, a copy (on the heap, the caller's) of the
   * gradient with respect to the branch's input, which lives in the worker's arena.
   */
  async passDone(p: PendingPass, needInputGrad: boolean): Promise<Tensor | null> {
    await this.waitState(p, [PHASE.passDone]);
    const ptr = this.flags(p)[SYNC.inGradPtr]!;
    const shape = p.inputShape;
    return ptr && needInputGrad
      ? Tensor.from(this.heap, 'float32', shape, Tensor.view(this.heap, 'float32', shape, ptr).data())
      : null;
  }

  /** Ends the passes whose forward is done without a backward (an evaluation pass): their workers release them. */
  releaseForwardDone(): void {
    for (const p of this.pending)
      if (Atomics.load(this.flags(p), SYNC.state) === PHASE.forwardDone) this.setState(p, PHASE.release);
  }

  private workerFailure(p: PendingPass, err: unknown): WorkerError {
    return err instanceof WorkerError
      ? err
      : new WorkerError(
          `branch ${p.branch}'s pass failed on its worker thread: ${(err as Error).message}`,
          'runBranchPass',
          p.branch,
        );
  }

  /** Ends the passes still under way on their workers (an evaluation pass, or a failure) and waits for them. */
  async endPasses(): Promise<void> {
    const passes = this.pending;
    this.pending = [];
    for (const p of passes) {
      try {
        // A pass still in its forward (this thread failed first) is released once that ends.
        if ((await this.waitState(p, [PHASE.forwardDone, PHASE.passDone])) === PHASE.forwardDone)
          this.setState(p, PHASE.release);
        await this.waitState(p, [PHASE.passDone]);
      } catch {
        // its service failed, and so ended the pass
      }
    }
  }

  /** Ends every pass, stops every service, waits for their calls to settle, and frees the flags and arenas. */
  async close(): Promise<void> {
    await this.endPasses();
    // STOP only between passes (endPasses waited for each to be done): a worker reads it where
    // it waits for the next REQUEST.
    for (const svc of this.services) if (svc && !svc.worker.ended) this.setState(svc, PHASE.stop);
    await Promise.allSettled(this.services.map((svc) => svc?.worker.settled));
    for (const svc of this.services) svc?.sync.free();
    for (const a of this.arenas) a.free();
  }
}
