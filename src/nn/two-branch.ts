import { concatColumns, splitColumns } from '../ops/columns.js';
import type { Exec } from '../runtime/exec.js';
import type { Runtime } from '../runtime/runtime.js';
import type { Tensor } from '../memory/tensor.js';
import type { Parameter, PassContext } from './layer.js';
import type { Linear } from './layers.js';
import type { Sequential } from './sequential.js';

/**
 * Two branches on their own inputs, joined column-wise, then a Linear head: the hybrids (a
 * GCN branch beside a dense branch). On the main team the branches are forked (as
 * torch.jit.fork) forward and backward; on any other team (a batch-splitting shard) they run
 * one after the other on that team's threads. Same bits either way.
 */
export class TwoBranchJoin {
  private joined: Tensor | null = null;
  private out: Tensor | null = null;

  constructor(private readonly rt: Runtime, readonly a: Sequential, readonly b: Sequential, readonly head: Linear, private readonly widthA: number) {}

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
