import { concatColumns, splitColumns } from '../ops/columns.js';
import type { Exec } from '../runtime/exec.js';
import type { WorkerCall } from '../runtime/runtime.js';
import type { Heap } from '../memory/heap.js';
import type { Tensor } from '../memory/tensor.js';
import type { Rng } from '../core/random.js';
import { BranchCalls, type BranchInputs } from './branch-calls.js';
import type { Layer, Parameter, PassContext } from './layer.js';
import { hybridParts, type HybridShape } from './join-parts.js';
import type { Linear } from './layers.js';
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

export type { BranchInputs } from './branch-calls.js';

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
  /** Set while holdingWorkers lends workers: branches 1..lent run there, whole passes at a time (branch-calls.ts). */
  private workers: BranchCalls | null = null;
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
      const w = this.workers;
      const lent = w.lent;
      try {
        for (let i = 1; i <= lent && i < this.branches.length; i++) w.start(ctx, i, inputs[i]!);
        const here: Tensor[] = [];
        for (const [i, b] of this.branches.entries())
          if (i === 0 || i > lent) here.push(await b.forward(ctx, inputs[i]!));
        for (const p of w.pending) p.out = await w.forwardDone(p);
        const fromWorkers = w.pending.map((p) => p.out!);
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
      const w = this.workers;
      if (w && w.pending.length > 0) {
        const onWorker = new Set(w.pending.map((p) => p.branch));
        for (const p of w.pending) w.backward(p, gs[p.branch]!, needInputGrads);
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
        const passes = w.pending;
        w.pending = [];
        for (const p of passes) {
          try {
            gx[p.branch] = await w.passDone(p, needInputGrads);
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
      const w = new BranchCalls(this.rt.heap, call, lent, this.branches, this.reads);
      this.workers = w;
      try {
        return await body();
      } finally {
        await w.close();
        this.workers = null;
      }
    });
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

  /** Ends the passes still under way on workers (an evaluation pass, or a failure) and waits for them. */
  private async endPasses(): Promise<void> {
    await this.workers?.endPasses();
  }

  release(): void {
    for (const b of this.branches) b.release();
    // Passes on workers end at this signal; the next forward and holdingWorkers wait for them.
    this.workers?.releaseForwardDone();
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
