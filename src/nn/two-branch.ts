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
 * Two branches on their own inputs, joined column-wise, then a Linear head: the hybrids (a
 * GCN branch beside a dense branch). On the main team the branches are forked (as
 * torch.jit.fork) forward and backward; on any other team (a batch-splitting shard) they run
 * one after the other on that team's threads. Same bits either way.
 */
export class TwoBranchJoin {
  private joined: Tensor | null = null;
  private out: Tensor | null = null;

  constructor(private readonly rt: BranchHost, readonly a: Sequential, readonly b: Sequential, readonly head: Linear, private readonly widthA: number) {}

  params(): Parameter[] {
    return [...this.a.params(), ...this.b.params(), ...this.head.params()];
  }

  private async both<A, B>(exec: Exec, fa: (e: Exec) => Promise<A>, fb: (e: Exec) => Promise<B>): Promise<[A, B]> {
    if (exec !== this.rt.exec) return [await fa(exec), await fb(exec)];
    const x = this.rt.fork(fa), y = this.rt.fork(fb);
    return Promise.all([x.join(), y.join()]);
  }

  /** The head's output (owned here until backward or release). */
  async forward(ctx: PassContext, xa: Tensor, xb: Tensor): Promise<Tensor> {
    this.drop();
    const [ha, hb] = await this.both(ctx.exec, (exec) => this.a.forward({ ...ctx, exec }, xa), (exec) => this.b.forward({ ...ctx, exec }, xb));
    this.joined = concatColumns(this.rt.heap, ha, hb);
    this.out = await this.head.forward(ctx, this.joined);
    return this.out;
  }

  async backward(ctx: PassContext, g: Tensor): Promise<void> {
    // The head's input gradient, cut back into the two branches' columns.
    const gj = (await this.head.backward(ctx, g, true))!;
    const [ga, gb] = splitColumns(this.rt.heap, gj, this.widthA);
    gj.free();
    await this.both(ctx.exec, (exec) => this.a.backward({ ...ctx, exec }, ga), (exec) => this.b.backward({ ...ctx, exec }, gb));
    ga.free(); gb.free();
    this.drop();
  }

  release(): void { this.a.release(); this.b.release(); this.drop(); }
  dispose(): void { this.a.dispose(); this.b.dispose(); this.drop(); this.head.dispose(); }

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
export function hybridJoin(rt: BranchHost, rng: Rng, graphBranch: Layer[], s: HybridShape): TwoBranchJoin {
  const wd = { weightDecay: s.weightDecay };
  const dense = new Sequential([new Linear(rt.heap, 'dense0', s.dense.inFeatures, s.dense.hidden, rng, wd), new ReLU()]);
  const head = new Linear(rt.heap, 'head', s.graphWidth + s.dense.hidden, s.out, rng, wd);
  return new TwoBranchJoin(rt, new Sequential(graphBranch), dense, head, s.graphWidth);
}
