import type { MessageGraph } from '../graph/message-graph.js';
import type { Heap } from '../memory/heap.js';
import type { Tensor } from '../memory/tensor.js';
import { addInto, biasAdd, colSum } from '../ops/elementwise.js';
import { matmul } from '../ops/linalg.js';
import { spmm } from '../ops/sparse.js';
import type { Rng } from '../core/random.js';
import type { Layer, Parameter, PassContext } from './layer.js';
import { Linear } from './layers.js';

/**
 * GraphSAGE's layer with mean aggregation and a root weight (Hamilton et al. 2017; PyG's
 * SAGEConv with its defaults): H = mean_{j → i}(x_j)·W_l + b + x_i·W_r, where the mean is
 * over i's incoming edges (duplicates counted, none for an isolated node: 0). The mean is an
 * SpMM with the row-normalized adjacency (MessageGraph.mean), and its backward one with the
 * transpose (the mean is not symmetric). Like GCNConv, the product is taken in the order that
 * moves fewer columns through the SpMM: mean(X·W_l) when the layer narrows (in > out),
 * mean(X)·W_l otherwise; the values are the same up to rounding.
 * Parameters carry PyG's names: `lin_l.weight`, `lin_l.bias`, `lin_r.weight` (under `name.`).
 * Shapes: X [n, in] → H [n, out].
 * @example const sage = new SAGEConv(rt.heap, 'conv1', 16, 8, new Rng(1), () => graph);
 */
export class SAGEConv implements Layer {
  readonly kind = 'sage';
  readonly linL: Linear;
  readonly linR: Linear;
  /** Project first: mean(X·W_l). */
  readonly projectFirst: boolean;
  private x: Tensor | null = null;
  /** Aggregate-first: mean(X) of this pass. */
  private ax: Tensor | null = null;

  constructor(
    heap: Heap,
    readonly name: string,
    readonly inFeatures: number,
    readonly outFeatures: number,
    rng: Rng,
    private readonly graph: () => MessageGraph,
    options: { weightDecay?: number } = {},
  ) {
    const wd = options.weightDecay ?? 0;
    this.linL = new Linear(heap, `${name}.lin_l`, inFeatures, outFeatures, rng, { bias: true, weightDecay: wd });
    this.linR = new Linear(heap, `${name}.lin_r`, inFeatures, outFeatures, rng, { bias: false, weightDecay: wd });
    this.projectFirst = inFeatures > outFeatures;
  }

  params(): Parameter[] {
    return [...this.linL.params(), ...this.linR.params()];
  }

  async forward(ctx: PassContext, x: Tensor): Promise<Tensor> {
    const mean = this.graph().mean().adj;
    let y: Tensor;
    if (this.projectFirst) {
      const xl = await this.linL.project(ctx, x);
      try {
        y = await spmm(ctx.exec, mean, xl);
      } finally {
        xl.free();
      }
    } else {
      this.ax = await spmm(ctx.exec, mean, x);
      y = await this.linL.project(ctx, this.ax);
    }
    try {
      const xr = await this.linR.project(ctx, x);
      try {
        await addInto(ctx.exec, xr, y);
      } finally {
        xr.free();
      }
      await biasAdd(ctx.exec, y, this.linL.bias!.value);
    } catch (err) {
      y.free();
      throw err;
    }
    this.x = x;
    return y;
  }

  async backward(ctx: PassContext, gy: Tensor, needInputGrad: boolean): Promise<Tensor | null> {
    const x = this.x;
    if (!x) throw new Error(`${this.name}: backward without forward`);
    this.x = null;
    const { exec } = ctx,
      meanT = this.graph().mean().adjT;
    await colSum(exec, gy, this.linL.bias!.grad);
    await matmul(exec, x, gy, this.linR.weight.grad, { transA: true });
    if (this.projectFirst) {
      // Y = M·(X·W_l): d(X·W_l) = Mᵀ·G; dW_l = Xᵀ·(Mᵀ·G); dX gets (Mᵀ·G)·W_lᵀ.
      const g = await spmm(exec, meanT, gy);
      try {
        await matmul(exec, x, g, this.linL.weight.grad, { transA: true });
        if (!needInputGrad) return null;
        const gx = await matmul(exec, g, this.linL.weight.value, undefined, { transB: true });
        return await this.addRoot(ctx, gy, gx);
      } finally {
        g.free();
      }
    }
    // Y = (M·X)·W_l: dW_l = (M·X)ᵀ·G; dX gets Mᵀ·(G·W_lᵀ).
    const ax = this.ax!;
    this.ax = null;
    try {
      await matmul(exec, ax, gy, this.linL.weight.grad, { transA: true });
    } finally {
      ax.free();
    }
    if (!needInputGrad) return null;
    const gax = await matmul(exec, gy, this.linL.weight.value, undefined, { transB: true });
    let gx: Tensor;
    try {
      gx = await spmm(exec, meanT, gax);
    } finally {
      gax.free();
    }
    return this.addRoot(ctx, gy, gx);
  }

  /** gx += G·W_rᵀ (the root term's input gradient); frees gx if that fails. */
  private async addRoot(ctx: PassContext, gy: Tensor, gx: Tensor): Promise<Tensor> {
    try {
      const gr = await matmul(ctx.exec, gy, this.linR.weight.value, undefined, { transB: true });
      try {
        await addInto(ctx.exec, gr, gx);
      } finally {
        gr.free();
      }
      return gx;
    } catch (err) {
      gx.free();
      throw err;
    }
  }

  release(): void {
    this.x = null;
    this.ax?.free();
    this.ax = null;
  }

  dispose(): void {
    this.release();
    this.linL.dispose();
    this.linR.dispose();
  }
}
