import type { CsrMatrix } from '../graph/csr.js';
import type { Heap } from '../memory/heap.js';
import { Tensor } from '../memory/tensor.js';
import { dropout, dropoutKey } from '../ops/dropout.js';
import { biasAdd, colSum } from '../ops/elementwise.js';
import { spmm } from '../ops/sparse.js';
import type { Layer, Parameter, PassContext } from './layer.js';
import { Dropout, GCNConv, type Propagation } from './layers.js';
import type { Model } from './model.js';
import { Sequential } from './sequential.js';

/**
 * Node features kept sparse (bag-of-words, binary markers): X in CSR, and Xᵀ with the map
 * between their nonzero orders so dropped-out values reach Xᵀ by a gather. X·W is then an
 * SpMM over the nonzeros, and Xᵀ·G (the weight gradient) another.
 */
export class SparseFeatures {
  private constructor(
    readonly x: CsrMatrix,
    readonly xT: CsrMatrix,
    private readonly order: Int32Array,
  ) {}

  static fromCsr(x: CsrMatrix): SparseFeatures {
    const t = x.transposed();
    return new SparseFeatures(x, t.matrix, t.order);
  }

  /** Xᵀ with X's nonzero values `vals` (in X's order): a new values tensor for xT. */
  transposeValues(heap: Heap, vals: Tensor<'float32'>): Tensor<'float32'> {
    const out = Tensor.empty(heap, 'float32', [vals.size], 'Xᵀ values') as Tensor<'float32'>;
    const src = vals.data(),
      dst = out.data(),
      order = this.order;
    for (let k = 0; k < order.length; k++) dst[k] = src[order[k]!]!;
    return out;
  }

  free(): void {
    this.x.free();
    this.xT.free();
  }
}

/** Fraction of nonzero entries of a dense row-major array. */
export function densityOf(data: ArrayLike<number>): number {
  let nnz = 0;
  for (let i = 0; i < data.length; i++) if (data[i] !== 0) nnz++;
  return nnz / Math.max(1, data.length);
}

/**
 * A first GCN layer that reads sparse features: dropout on the nonzeros of X (as Kipf &
 * Welling's own implementation does), H = Â·(X·W) + b with X·W an SpMM, and in backward
 * dW = Xᵀ·(Â·G), db = colsum(G). It takes over a dense GCNConv's weights (same names and
 * initial values) and the dropout before it (same rate and index, so the key schedule is
 * the dense model's); the input gradient is never needed (X is data).
 */
export class SparseInputGCNConv {
  private dropped: { vals: Tensor<'float32'>; mask: Tensor<'uint8'> } | null = null;
  private active = false;

  constructor(
    private readonly heap: Heap,
    private readonly features: SparseFeatures,
    readonly conv: GCNConv,
    private readonly graph: () => Propagation,
    private readonly drop: Dropout | null,
  ) {}

  params(): Parameter[] {
    return this.conv.params();
  }

  async forward(ctx: PassContext): Promise<Tensor> {
    this.release();
    const f = this.features,
      lin = this.conv.lin;
    let x = f.x;
    if (ctx.training && this.drop && this.drop.p > 0) {
      const { y, mask } = await dropout(
        ctx.exec,
        f.x.vals,
        this.drop.p,
        dropoutKey(ctx.seed, ctx.step * 64 + this.drop.index),
      );
      this.dropped = { vals: y as Tensor<'float32'>, mask };
      x = f.x.withValues(this.dropped.vals);
    }
    const xw = await spmm(ctx.exec, x, lin.weight.value);
    let y: Tensor;
    try {
      y = await spmm(ctx.exec, this.graph().adj, xw);
    } finally {
      xw.free();
    }
    try {
      await biasAdd(ctx.exec, y, lin.bias!.value);
    } catch (err) {
      y.free();
      throw err;
    }
    this.active = true;
    return y;
  }

  async backward(ctx: PassContext, gy: Tensor): Promise<void> {
    if (!this.active) throw new Error(`${this.conv.name}: backward without forward`);
    const lin = this.conv.lin;
    await colSum(ctx.exec, gy, lin.bias!.grad);
    const g = await spmm(ctx.exec, this.graph().adj, gy);
    const tv = this.dropped ? this.features.transposeValues(this.heap, this.dropped.vals) : null;
    try {
      await spmm(ctx.exec, tv ? this.features.xT.withValues(tv) : this.features.xT, g, lin.weight.grad);
    } finally {
      g.free();
      tv?.free();
      this.release();
    }
  }

  release(): void {
    this.dropped?.vals.free();
    this.dropped?.mask.free();
    this.dropped = null;
    this.active = false;
  }

  dispose(): void {
    this.release();
    this.conv.dispose();
  }
}

/**
 * A node model over sparse features: the dense stack's first GCN layer (and the dropout
 * before it) replaced by a SparseInputGCNConv on the same weights; the other layers as they
 * are. Parameters come in the dense model's order, so checkpoints are interchangeable.
 */
export function sparseInputModel(
  heap: Heap,
  layers: Layer[],
  features: SparseFeatures,
  graph: () => Propagation,
): Model<void> {
  const at = layers.findIndex((l) => l instanceof GCNConv);
  const conv = layers[at] as GCNConv;
  const drop = at > 0 && layers[at - 1] instanceof Dropout ? (layers[at - 1] as Dropout) : null;
  if (at < 0 || at > 1 || (at === 1 && !drop))
    throw new Error('sparseInputModel: the stack must start with [Dropout,] GCNConv');
  const first = new SparseInputGCNConv(heap, features, conv, graph, drop);
  const rest = new Sequential(layers.slice(at + 1));
  let h: Tensor | null = null;
  const dropH = (): void => {
    h?.free();
    h = null;
  };
  return {
    params: () => [...first.params(), ...rest.params()],
    async forward(ctx) {
      rest.release();
      dropH();
      h = await first.forward(ctx);
      return rest.forward(ctx, h);
    },
    async backward(ctx, g, needInputGrads = false) {
      // The input is data (sparse features): no gradient for it.
      if (needInputGrads)
        throw new Error('sparseInputModel: no input gradient for sparse features (use the dense model)');
      const gh = await rest.backward(ctx, g, true);
      try {
        await first.backward(ctx, gh!);
      } finally {
        if (gh !== g) gh?.free();
        dropH();
      }
      return null;
    },
    release() {
      rest.release();
      first.release();
      dropH();
    },
    dispose() {
      rest.dispose();
      first.dispose();
      dropH();
    },
  };
}
