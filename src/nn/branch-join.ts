import { WorkerError } from '../core/errors.js';
import { workerUrl } from '../core/worker-url.js';
import { concatColumns, splitColumns } from '../ops/columns.js';
import type { Exec } from '../runtime/exec.js';
import type { WorkerCall } from '../runtime/runtime.js';
import type { Heap } from '../memory/heap.js';
import { Tensor } from '../memory/tensor.js';
import type { Rng } from '../core/random.js';
import { PHASE, spinWhile, SYNC, type BranchService, type TensorRef } from './branch-worker.js';
import type { Layer, Parameter, PassContext } from './layer.js';
import { describeLayers } from './layer-spec.js';
import { hybridParts, type HybridShape } from './join-parts.js';
import type { Linear, Propagation } from './layers.js';
import type { Sequential } from './sequential.js';

/**
 * What a branch join needs of its runtime: the heap for the join, the exec on which the
 * branches are forked (any other exec runs them one after the other), and fork itself. A
 * Runtime is one; a worker thread running a whole step has its own.
 */
export interface BranchHost {
  readonly heap: Heap;
  readonly exec: Exec;
  fork<T>(fn: (exec: Exec) => Promise<T>): { join(): Promise<T> };
  /** Lends worker threads that run whole branch passes (Runtime.withWorkerCalls); absent: no such placement. */
  withWorkerCalls?<T>(n: number, body: (call: WorkerCall, lent: number) => Promise<T>): Promise<T>;
}

/** What the branches read besides their inputs, for a branch run on a worker: the current Â and pooling offsets. */
export interface BranchInputs {
  graph?: () => Propagation;
  offsets?: () => Tensor;
}

/** A worker serving one branch (its serveBranch call) and the flags passes are asked for through. */
interface Service {
  branch: number;
  sync: Tensor;
  call: Promise<unknown>;
  settled: Promise<void>;
  ended: boolean;
  error: unknown;
}
/** A pass under way on a service's worker. */
interface PendingPass {
  branch: number;
  svc: Service;
  out: Tensor | null;
  inputShape: [number, number];
}

const BRANCH_WORKER = workerUrl('nn/branch-worker');

/**
 * Branches on their own inputs, joined column-wise, then a Linear head: the hybrids (a GCN
 * branch beside a dense branch) and the founding study's independent sections (one GCN
 * branch per marker block) joined before the output layer. On the host's exec the branches
 * are forked (as torch.jit.fork) forward and backward; on any other exec (a batch-splitting
 * shard) they run one after the other on that exec's threads. Same bits either way.
 */
export class BranchJoin {
  private joined: Tensor | null = null;
  private out: Tensor | null = null;
  /** Set while holdingWorkers lends workers: branches 1..lent run there, whole passes at a time. */
  private workers: { call: WorkerCall; arenas: Tensor[]; services: (Service | null)[] } | null = null;
  private pending: PendingPass[] = [];
  /** Set by holdingInline: branches run one after another on the caller's exec, each op split over all its threads. */
  private inline = false;

  constructor(
    private readonly rt: BranchHost,
    readonly branches: readonly Sequential[],
    readonly head: Linear,
    private readonly widths: readonly number[],
    private readonly reads: BranchInputs = {},
  ) {}

  params(): Parameter[] {
    return [...this.branches.flatMap((b) => b.params()), ...this.head.params()];
  }

  private async all<T>(exec: Exec, f: (branch: Sequential, i: number, e: Exec) => Promise<T>): Promise<T[]> {
    if (exec !== this.rt.exec || this.inline) {
      const out: T[] = [];
      for (const [i, b] of this.branches.entries()) out.push(await f(b, i, exec));
      return out;
    }
    const forks = this.branches.map((b, i) => this.rt.fork((e) => f(b, i, e)));
    // Every branch ends before this returns, a failed one or not, so no branch still runs
    // on threads its host has taken back.
    const results = await Promise.allSettled(forks.map((x) => x.join()));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return results.map((r) => (r as PromiseFulfilledResult<T>).value);
  }

  /** The head's output (owned here until backward or release); `inputs[i]` feeds branch i. */
  async forward(ctx: PassContext, inputs: readonly Tensor[]): Promise<Tensor> {
    await this.endPasses();
    this.drop();
    let hs: Tensor[];
    if (this.workers && ctx.exec === this.rt.exec) {
      // Branches 1..lent start on their workers; the rest run here meanwhile, in order.
      const lent = this.workers.services.length;
      try {
        for (let i = 1; i <= lent && i < this.branches.length; i++)
          this.pending.push(this.startPass(ctx, i, inputs[i]!));
        const here: Tensor[] = [];
        for (const [i, b] of this.branches.entries())
          if (i === 0 || i > lent) here.push(await b.forward(ctx, inputs[i]!));
        for (const p of this.pending) p.out = await this.forwardDone(p);
        const fromWorkers = this.pending.map((p) => p.out!);
        hs = [here[0]!, ...fromWorkers, ...here.slice(1)];
      } catch (err) {
        await this.endPasses();
        throw err;
      }
    } else {
      hs = await this.all(ctx.exec, (b, i, exec) => b.forward({ ...ctx, exec }, inputs[i]!));
    }
    this.joined = concatColumns(this.rt.heap, hs);
    this.out = await this.head.forward(ctx, this.joined);
    return this.out;
  }

  /** With `needInputGrads`, returns the gradient with respect to each branch's input, in branch order. */
  async backward(ctx: PassContext, g: Tensor, needInputGrads = false): Promise<Tensor[] | null> {
    // The head's input gradient, cut back into the branches' columns.
    const gj = (await this.head.backward(ctx, g, true))!;
    let gs: Tensor[];
    try {
      gs = splitColumns(this.rt.heap, gj, this.widths);
    } finally {
      gj.free();
    }
    try {
      if (this.pending.length > 0) {
        const onWorker = new Set(this.pending.map((p) => p.branch));
        for (const p of this.pending) this.signal(p, PHASE.backward, gs[p.branch]!, needInputGrads);
        const gx: (Tensor | null)[] = new Array(this.branches.length).fill(null);
        let failure: unknown;
        for (const [i, b] of this.branches.entries()) {
          if (onWorker.has(i)) continue;
          try {
            gx[i] = await b.backward(ctx, gs[i]!, needInputGrads);
          } catch (err) {
            failure ??= err;
          }
        }
        // Every pass ends before the gradients it reads are freed.
        const passes = this.pending;
        this.pending = [];
        for (const p of passes) {
          try {
            await this.waitState(p, [PHASE.passDone]);
            const ptr = this.flags(p)[SYNC.inGradPtr]!;
            const shape = p.inputShape;
            if (ptr && needInputGrads)
              gx[p.branch] = Tensor.from(
                this.rt.heap,
                'float32',
                shape,
                Tensor.view(this.rt.heap, 'float32', shape, ptr).data(),
              );
          } catch (err) {
            failure ??= err;
          }
        }
        if (failure !== undefined) {
          for (const t of gx) t?.free();
          throw failure;
        }
        return needInputGrads ? gx.map((t) => t!) : null;
      }
      const gx = await this.all(ctx.exec, (b, i, exec) => b.backward({ ...ctx, exec }, gs[i]!, needInputGrads));
      return needInputGrads ? gx.map((t) => t!) : null;
    } finally {
      for (const t of gs) t.free();
      this.drop();
    }
  }

  /**
   * Runs `body` (many passes) with branches 1..n−1 on worker threads of their own: each of
   * their passes, JavaScript included, runs on a worker (nn/branch-worker.ts) while this
   * thread runs branch 0, so two branches compute at once even when one is the caller's.
   * Same bits as every other placement. Without workers to lend, `body` runs as it is.
   */
  async holdingWorkers<T>(body: () => Promise<T>): Promise<T> {
    if (!this.rt.withWorkerCalls || this.branches.length < 2 || this.workers) return body();
    return this.rt.withWorkerCalls<T>(this.branches.length - 1, async (call, lent) => {
      if (lent === 0) return body();
      this.workers = { call, arenas: [], services: new Array<Service | null>(lent).fill(null) };
      try {
        return await body();
      } finally {
        await this.endPasses();
        const w = this.workers;
        for (const svc of w.services)
          if (svc && !svc.ended) {
            this.setState(svc, PHASE.stop);
          }
        await Promise.allSettled(w.services.map((svc) => svc?.settled));
        for (const svc of w.services) svc?.sync.free();
        for (const a of w.arenas) a.free();
        this.workers = null;
      }
    });
  }

  /** The worker serving branch i, started (again, after a failure) when needed. */
  private serviceFor(i: number): Service {
    const w = this.workers!,
      k = i - 1;
    const old = w.services[k];
    if (old && !old.ended) return old;
    old?.sync.free();
    const branch = this.branches[i]!;
    const sync = Tensor.zeros(this.rt.heap, 'int32', [SYNC.words], 'branch service flags');
    const ref = (t: Tensor): TensorRef => ({ ptr: t.ptr, shape: [...t.shape] });
    const job: BranchService = {
      layers: describeLayers(branch.layers),
      params: branch.params().map((p) => ({ value: ref(p.value), grad: ref(p.grad) })),
      sync: sync.ptr,
    };
    const svc: Service = {
      branch: i,
      sync,
      call: w.call(BRANCH_WORKER, 'serveBranch', job),
      settled: Promise.resolve(),
      ended: false,
      error: undefined,
    };
    svc.settled = svc.call.then(
      () => {
        svc.ended = true;
      },
      (err: unknown) => {
        svc.ended = true;
        svc.error = err;
      },
    );
    w.services[k] = svc;
    return svc;
  }

  /**
   * Runs `body` with the branches one after another on the caller's exec, every op split
   * intra-op over all its threads: the placement for branches too small to pay for their own
   * threads. Same bits.
   */
  async holdingInline<T>(body: () => Promise<T>): Promise<T> {
    const before = this.inline;
    this.inline = true;
    try {
      return await body();
    } finally {
      this.inline = before;
    }
  }

  /** Asks branch i's worker for a pass over `input`, its arena grown to fit the pass. */
  private startPass(ctx: PassContext, i: number, input: Tensor): PendingPass {
    const w = this.workers!,
      k = i - 1;
    const branch = this.branches[i]!;
    const svc = this.serviceFor(i);
    const rows = input.shape[0]!;
    const width = Math.max(
      input.shape[1]!,
      ...branch.layers.map((l) => ('outFeatures' in l ? (l as { outFeatures: number }).outFeatures : 0)),
    );
    // Activations of one pass and their gradients: a few [rows, width] tensors per layer.
    const bytes = (1 << 20) + 4 * rows * width * (3 * branch.layers.length + 4);
    if (!w.arenas[k] || w.arenas[k].byteLength < bytes) {
      w.arenas[k]?.free();
      w.arenas[k] = Tensor.empty(this.rt.heap, 'uint8', [bytes], 'branch worker arena');
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
    f[SYNC.arenaPtr] = w.arenas[k].ptr;
    f[SYNC.arenaBytes] = w.arenas[k].byteLength;
    this.setState(svc, PHASE.request);
    return { branch: i, svc, out: null, inputShape: [rows, input.shape[1]!] };
  }

  private flags(x: PendingPass | Service): Int32Array {
    const svc = 'svc' in x ? x.svc : x;
    return new Int32Array(this.rt.heap.memory.buffer, svc.sync.ptr, SYNC.words);
  }

  private setState(x: PendingPass | Service, phase: number): void {
    const f = this.flags(x);
    Atomics.store(f, SYNC.state, phase);
    Atomics.notify(f, SYNC.state);
  }

  /** Waits until the pass's state is one of `until`; rejects if its worker's service ends first. */
  private async waitState(p: PendingPass, until: number[]): Promise<number> {
    for (let spun = false; ; spun = true) {
      const f = this.flags(p);
      // This thread has nothing else to do meanwhile: spin a little before sleeping.
      const state = spun ? Atomics.load(f, SYNC.state) : spinWhile(f, Atomics.load(f, SYNC.state));
      if (until.includes(state)) return state;
      if (p.svc.ended) throw this.workerFailure(p, p.svc.error ?? new Error('its worker stopped serving'));
      const w = Atomics.waitAsync(f, SYNC.state, state);
      if (w.async) await Promise.race([w.value, p.svc.settled]);
    }
  }

  /** Waits for a worker's forward; its output (a view into the worker's arena, valid until the pass ends). */
  private async forwardDone(p: PendingPass): Promise<Tensor> {
    await this.waitState(p, [PHASE.forwardDone]);
    const f = this.flags(p);
    return Tensor.view(this.rt.heap, 'float32', [f[SYNC.outRows]!, f[SYNC.outCols]!], f[SYNC.outPtr]!);
  }

  private signal(p: PendingPass, phase: number, grad?: Tensor, needInputGrad = false): void {
    const f = this.flags(p);
    if (grad) {
      f[SYNC.gradPtr] = grad.ptr;
      f[SYNC.needInputGrad] = needInputGrad ? 1 : 0;
    }
    this.setState(p, phase);
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
  private async endPasses(): Promise<void> {
    const passes = this.pending;
    this.pending = [];
    for (const p of passes) {
      try {
        // A pass still in its forward (this thread failed first) is released once that ends.
        if ((await this.waitState(p, [PHASE.forwardDone, PHASE.passDone])) === PHASE.forwardDone)
          this.signal(p, PHASE.release);
        await this.waitState(p, [PHASE.passDone]);
      } catch {
        // its service failed, and so ended the pass
      }
    }
  }

  release(): void {
    for (const b of this.branches) b.release();
    // Passes on workers end at this signal; the next forward and holdingWorkers wait for them.
    for (const p of this.pending)
      if (Atomics.load(this.flags(p), SYNC.state) === PHASE.forwardDone) this.signal(p, PHASE.release);
    this.drop();
  }
  dispose(): void {
    for (const b of this.branches) b.dispose();
    this.drop();
    this.head.dispose();
  }

  private drop(): void {
    this.joined?.free();
    this.joined = null;
    this.out?.free();
    this.out = null;
    this.head.release();
  }
}

export type { HybridShape } from './join-parts.js';

/** The hybrid (join-parts.ts) as a BranchJoin on `rt`. */
export function hybridJoin(
  rt: BranchHost,
  rng: Rng,
  graphBranch: Layer[],
  s: HybridShape,
  reads: BranchInputs = {},
): BranchJoin {
  const p = hybridParts(rt.heap, rng, graphBranch, s);
  return new BranchJoin(rt, p.branches, p.head, p.widths, reads);
}
