import type { CsrMatrix } from '../graph/csr.js';
import { Tensor } from '../memory/tensor.js';
import type { Layer, Parameter, PassContext } from '../nn/layer.js';
import type { SAGEConv } from '../nn/sage-conv.js';
import { addInto, biasAdd, colSum } from '../ops/elementwise.js';
import { matmul } from '../ops/linalg.js';
import { spmm } from '../ops/sparse.js';

// Layer trimming for neighbour-sampled batches (PyG's trim_to_layer): a batch's nodes are
// ordered by hop (seeds, then the nodes hop 1 added, …), so the nodes within L − l hops of
// the seeds, the only ones whose layer-l output the next layers read, are a prefix of the
// batch. Layer l of L therefore maps the rows of the previous prefix C to those of the next,
// R ≤ C, over the batch's mean-aggregation rows restricted to R targets (all their sampled
// sources lie within C). The output for the seeds is the untrimmed model's, computed on a
// fraction of the nodes: on a products-like batch, ~170,000 of ~736,000 at the first layer.

/** A layer's rectangular mean aggregation: rows = R targets, cols = C inputs, and its transpose. */
export interface TrimmedMean {
  adj: CsrMatrix;
  adjT: CsrMatrix;
}

/**
 * A SAGEConv's parameters (the same objects: one model, one checkpoint, layer-wise inference
 * on the full graph with the SAGEConv itself) applied to a trimmed batch: X [C, in] →
 * H [R, out] = mean(X)·W_l + b + X[:R]·W_r, where mean is `graph()` (R × C).
 */
export class TrimmedSAGE implements Layer {
  readonly kind = 'sage-trimmed';
  private x: Tensor | null = null;
  private ax: Tensor | null = null;

  constructor(
    readonly sage: SAGEConv,
    private readonly graph: () => TrimmedMean,
  ) {}

  params(): Parameter[] {
    return this.sage.params();
  }

  /** The first `rows` rows of x, as a view (no copy). */
  private static head(x: Tensor, rows: number): Tensor {
    return Tensor.view(x.heap, 'float32', [rows, x.shape[1]!], x.ptr);
  }

  async forward(ctx: PassContext, x: Tensor): Promise<Tensor> {
    const { adj } = this.graph(),
      { linL, linR, projectFirst } = this.sage;
    let y: Tensor;
    if (projectFirst) {
      const xl = await matmul(ctx.exec, x, linL.weight.value);
      try {
        y = await spmm(ctx.exec, adj, xl);
      } finally {
        xl.free();
      }
    } else {
      this.ax = await spmm(ctx.exec, adj, x);
      y = await matmul(ctx.exec, this.ax, linL.weight.value);
    }
    const head = TrimmedSAGE.head(x, adj.rows);
    try {
      const xr = await matmul(ctx.exec, head, linR.weight.value);
      try {
        await addInto(ctx.exec, xr, y);
      } finally {
        xr.free();
      }
      await biasAdd(ctx.exec, y, linL.bias!.value);
    } catch (err) {
      y.free();
      throw err;
    } finally {
      head.free();
    }
    this.x = x;
    return y;
  }

  async backward(ctx: PassContext, gy: Tensor, needInputGrad: boolean): Promise<Tensor | null> {
    const x = this.x;
    if (!x) throw new Error(`${this.sage.name}: backward without forward`);
    this.x = null;
    const { exec } = ctx,
      { adj, adjT } = this.graph(),
      { linL, linR, projectFirst } = this.sage;
    await colSum(exec, gy, linL.bias!.grad);
    const head = TrimmedSAGE.head(x, adj.rows);
    try {
      await matmul(exec, head, gy, linR.weight.grad, { transA: true });
    } finally {
      head.free();
    }
    let gx: Tensor | null = null;
    if (projectFirst) {
      const g = await spmm(exec, adjT, gy); // [C, out]
      try {
        await matmul(exec, x, g, linL.weight.grad, { transA: true });
        if (needInputGrad) gx = await matmul(exec, g, linL.weight.value, undefined, { transB: true });
      } finally {
        g.free();
      }
    } else {
      const ax = this.ax!;
      this.ax = null;
      try {
        await matmul(exec, ax, gy, linL.weight.grad, { transA: true });
      } finally {
        ax.free();
      }
      if (needInputGrad) {
        const gax = await matmul(exec, gy, linL.weight.value, undefined, { transB: true });
        try {
          gx = await spmm(exec, adjT, gax);
        } finally {
          gax.free();
        }
      }
    }
    if (!gx) return null;
    // The root term's gradient reaches the first R rows only.
    const gxHead = TrimmedSAGE.head(gx, adj.rows);
    try {
      const gr = await matmul(exec, gy, linR.weight.value, undefined, { transB: true });
      try {
        await addInto(exec, gr, gxHead);
      } finally {
        gr.free();
      }
    } catch (err) {
      gx.free();
      throw err;
    } finally {
      gxHead.free();
    }
    return gx;
  }

  release(): void {
    this.x = null;
    this.ax?.free();
    this.ax = null;
  }

  dispose(): void {
    this.release();
  }
}
