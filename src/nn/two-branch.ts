import { concatColumns, splitColumns } from '../ops/columns.js';
import type { Exec } from '../runtime/exec.js';
import type { Heap } from '../memory/heap.js';
import type { Tensor } from '../memory/tensor.js';
import type { Rng } from '../core/random.js';
import type { Layer, Parameter, PassContext } from './layer.js';
import { Linear, ReLU } from './layers.js';
import { Sequential } from './sequential.js';

/**
 * What a two-branch join needs of its runtime: the heap for the join, the exec on which the
 * branches are forked (any other exec runs them one after the other), and fork itself. A
 * Runtime is one; a worker thread running a whole step has its own.
 */
export interface BranchHost {
  readonly heap: Heap;
  readonly exec: Exec;
  fork<T>(fn: (exec: Exec) => Promise<T>): { join(): Promise<T> };
}

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

  constructor(private readonly rt: BranchHost, readonly branches: readonly Sequential[], readonly head: Linear, private readonly widths: readonly number[]) {}

  params(): Parameter[] {
    return [...this.branches.flatMap((b) => b.params()), ...this.head.params()];
  }

  private async all<T>(exec: Exec, f: (branch: Sequential, i: number, e: Exec) => Promise<T>): Promise<T[]> {
    if (exec !== this.rt.exec) {
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
    this.drop();
    const hs = await this.all(ctx.exec, (b, i, exec) => b.forward({ ...ctx, exec }, inputs[i]!));
    this.joined = concatColumns(this.rt.heap, hs);
    this.out = await this.head.forward(ctx, this.joined);
    return this.out;
  }

  /** With `needInputGrads`, returns the gradient with respect to each branch's input, in branch order. */
  async backward(ctx: PassContext, g: Tensor, needInputGrads = false): Promise<Tensor[] | null> {
    // The head's input gradient, cut back into the branches' columns.
    const gj = (await this.head.backward(ctx, g, true))!;
    const gs = splitColumns(this.rt.heap, gj, this.widths);
    gj.free();
    try {
      const gx = await this.all(ctx.exec, (b, i, exec) => b.backward({ ...ctx, exec }, gs[i]!, needInputGrads));
      return needInputGrads ? gx.map((t) => t!) : null;
    } finally {
      for (const t of gs) t.free();
      this.drop();
    }
  }

  release(): void { for (const b of this.branches) b.release(); this.drop(); }
  dispose(): void { for (const b of this.branches) b.dispose(); this.drop(); this.head.dispose(); }

  private drop(): void {
    this.joined?.free(); this.joined = null;
    this.out?.free(); this.out = null;
    this.head.release();
  }
}

export interface HybridShape {
  /** Columns the graph branch ends with. */
  graphWidth: number;
  /** The dense branch: a Linear + ReLU from `inFeatures` to `hidden` columns. */
  dense: { inFeatures: number; hidden: number };
  /** Columns of the head's output. */
  out: number;
  weightDecay: number;
}

/**
 * The one hybrid builder (node, genomic and graph-level models): the given graph branch, a
 * dense branch (Linear `dense0` + ReLU), and a Linear `head` on their joined columns. The
 * dense branch and the head draw their weights from `rng` after the graph branch did.
 */
export function hybridJoin(rt: BranchHost, rng: Rng, graphBranch: Layer[], s: HybridShape): BranchJoin {
  const wd = { weightDecay: s.weightDecay };
  const dense = new Sequential([new Linear(rt.heap, 'dense0', s.dense.inFeatures, s.dense.hidden, rng, wd), new ReLU()]);
  const head = new Linear(rt.heap, 'head', s.graphWidth + s.dense.hidden, s.out, rng, wd);
  return new BranchJoin(rt, [new Sequential(graphBranch), dense], head, [s.graphWidth, s.dense.hidden]);
}
