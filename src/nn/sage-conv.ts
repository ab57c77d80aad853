import type { CsrMatrix } from '../graph/csr.js';
import type { MessageGraph } from '../graph/message-graph.js';
import type { Heap } from '../memory/heap.js';
import { Tensor } from '../memory/tensor.js';
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
    return this.forwardOn(ctx, x, this.graph().mean().adj);
  }

  async backward(ctx: PassContext, gy: Tensor, needInputGrad: boolean): Promise<Tensor | null> {
    return this.backwardOn(ctx, gy, needInputGrad, this.graph().mean());
  }

  /**
   * The layer over a given mean aggregation: `mean` has R ≤ n rows (the targets) and n columns
   * (x's rows), and the targets are x's first R rows, so H [R, out] = mean(X)·W_l + b + X[:R]·W_r.
   * forward() is this with the graph's square mean; a trimmed layer of a sampled batch
   * (train/sampled-sage.ts) and a chunk of layer-wise inference pass a rectangular one.
   * `aggregateFirst` takes mean(X)·W_l whatever the widths: when the inputs outnumber the
   * targets many times (an inference chunk), X·W_l over every input would cost more than the
   * SpMM it saves. `root` gives the targets' rows [R, in] when they are not x's first R rows
   * (inference over all nodes' rows at once); such a pass has no backward.
   */
  async forwardOn(
    ctx: PassContext,
    x: Tensor,
    mean: CsrMatrix,
    options: { aggregateFirst?: boolean; root?: Tensor } = {},
  ): Promise<Tensor> {
    let y: Tensor;
    if (this.projectFirst && options.aggregateFirst !== true) {
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
    const head = options.root ?? headRows(x, mean.rows);
    try {
      const xr = await this.linR.project(ctx, head);
      try {
        await addInto(ctx.exec, xr, y);
      } finally {
        xr.free();
      }
      await biasAdd(ctx.exec, y, this.linL.bias!.value);
    } catch (err) {
      y.free();
      throw err;
    } finally {
      if (head !== x && head !== options.root) head.free();
    }
    this.x = options.root ? null : x;
    return y;
  }

  /** backward() of forwardOn's pass: `mean` is the pass's aggregation and `meanT` its transpose. */
  async backwardOn(
    ctx: PassContext,
    gy: Tensor,
    needInputGrad: boolean,
    mean: { adj: CsrMatrix; adjT: CsrMatrix },
  ): Promise<Tensor | null> {
    const x = this.x;
    if (!x) throw new Error(`${this.name}: backward without forward`);
    this.x = null;
    const { exec } = ctx,
      meanT = mean.adjT,
      rows = mean.adj.rows;
    await colSum(exec, gy, this.linL.bias!.grad);
    const head = headRows(x, rows);
    try {
      await matmul(exec, head, gy, this.linR.weight.grad, { transA: true });
    } finally {
      if (head !== x) head.free();
    }
    // The forward kept mean(X) exactly when it aggregated first.
    const ax = this.ax;
    this.ax = null;
    if (!ax) {
      // Y = M·(X·W_l): d(X·W_l) = Mᵀ·G; dW_l = Xᵀ·(Mᵀ·G); dX gets (Mᵀ·G)·W_lᵀ.
      const g = await spmm(exec, meanT, gy);
      try {
        await matmul(exec, x, g, this.linL.weight.grad, { transA: true });
        if (!needInputGrad) return null;
        const gx = await matmul(exec, g, this.linL.weight.value, undefined, { transB: true });
        return await this.addRoot(ctx, gy, gx, rows);
      } finally {
        g.free();
      }
    }
    // Y = (M·X)·W_l: dW_l = (M·X)ᵀ·G; dX gets Mᵀ·(G·W_lᵀ).
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
    return this.addRoot(ctx, gy, gx, rows);
  }

  /** gx[:rows] += G·W_rᵀ (the root term's input gradient reaches the targets only); frees gx if that fails. */
  private async addRoot(ctx: PassContext, gy: Tensor, gx: Tensor, rows: number): Promise<Tensor> {
    const head = headRows(gx, rows);
    try {
      const gr = await matmul(ctx.exec, gy, this.linR.weight.value, undefined, { transB: true });
      try {
        await addInto(ctx.exec, gr, head);
      } finally {
        gr.free();
      }
      return gx;
    } catch (err) {
      gx.free();
      throw err;
    } finally {
      if (head !== gx) head.free();
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

/** The first `rows` rows of x: x itself when that is all of them, else a view (no copy; free() ends only the view). */
function headRows(x: Tensor, rows: number): Tensor {
  return rows === x.shape[0] ? x : Tensor.view(x.heap, 'float32', [rows, x.shape[1]!], x.ptr);
}
