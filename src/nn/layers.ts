import type { CsrMatrix } from '../graph/csr.js';
import type { Heap } from '../memory/heap.js';
import { dropout, dropoutBackward, dropoutKey } from '../ops/dropout.js';
import { addInto, biasAdd, colSum, relu, reluBackward, reluBackwardColSum } from '../ops/elementwise.js';
import { matmul } from '../ops/linalg.js';
import { matmulInt8, type Int8Weight } from '../ops/int8.js';
import { segmentPool, segmentPoolBackward, type PoolMode } from '../ops/pooling.js';
import { sddmm, spmm } from '../ops/sparse.js';
import type { Tensor } from '../memory/tensor.js';
import { disposeParams, glorotParameter, zerosParameter } from './init.js';
import type { Layer, Parameter, PassContext } from './layer.js';
import type { Rng } from '../core/random.js';

/**
 * The normalized adjacency a GCN layer propagates with, set per batch by the model. gcnNorm
 * makes every edge undirected, so Â is symmetric and backward propagates with Â too.
 */
export interface Propagation {
  adj: CsrMatrix;
  /**
   * When set, every GCN layer's backward adds ∂L/∂(adj.vals) into it (float32 [adj.nnz]): the
   * gradient an edge mask is learned from (GNNExplainer) or attributed by. adj must then stay
   * symmetric (a mask shared by both directions of an edge), as backward propagates with adj.
   */
  edgeGrad?: Tensor;
}

/**
 * Dense layer: Y = X·W + b.
 * Shapes: X [n, in], W [in, out], b [out] → Y [n, out].
 */
export class Linear implements Layer {
  readonly kind = 'linear';
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  /**
   * Set for integer inference (graft quantize --int8): X·W then runs on the int8 path and the
   * float weight is not read. Such a layer has no backward.
   */
  quantized: Int8Weight | null = null;
  /** Set while calibrating: sees every input X·W is taken of. */
  observe: ((x: Tensor) => void) | null = null;
  private x: Tensor | null = null;

  constructor(
    heap: Heap,
    readonly name: string,
    readonly inFeatures: number,
    readonly outFeatures: number,
    rng: Rng,
    options: { bias?: boolean; weightDecay?: number } = {},
  ) {
    this.weight = glorotParameter(heap, `${name}.weight`, inFeatures, outFeatures, rng, options.weightDecay ?? 0);
    this.bias = options.bias === false ? null : zerosParameter(heap, `${name}.bias`, [outFeatures]);
  }

  params(): Parameter[] {
    return this.bias ? [this.weight, this.bias] : [this.weight];
  }

  async forward(ctx: PassContext, x: Tensor): Promise<Tensor> {
    const y = await this.project(ctx, x);
    if (this.bias) await biasAdd(ctx.exec, y, this.bias.value);
    this.x = x;
    return y;
  }

  /** X·W: the float GEMM, or the int8 one when the layer is quantized. */
  project(ctx: PassContext, x: Tensor): Promise<Tensor> {
    this.observe?.(x);
    return this.quantized ? matmulInt8(ctx.exec, x, this.quantized) : matmul(ctx.exec, x, this.weight.value);
  }

  async backward(ctx: PassContext, gy: Tensor, needInputGrad: boolean): Promise<Tensor | null> {
    if (this.quantized) throw new Error(`${this.name}: a quantized layer is for inference only (no backward)`);
    const x = this.take();
    await matmul(ctx.exec, x, gy, this.weight.grad, { transA: true });
    if (this.bias) await colSum(ctx.exec, gy, this.bias.grad);
    return needInputGrad ? matmul(ctx.exec, gy, this.weight.value, undefined, { transB: true }) : null;
  }

  private take(): Tensor {
    if (!this.x) throw new Error(`${this.name}: backward without forward`);
    const x = this.x;
    this.x = null;
    return x;
  }

  release(): void {
    this.x = null;
  }
  dispose(): void {
    disposeParams(this.params());
    this.quantized?.free();
    this.quantized = null;
  }
}

/**
 * Kipf & Welling's graph convolution: H = Â·X·W + b with the normalized adjacency
 * Â = D^-1/2 (A+I) D^-1/2 computed once (gcnNorm). The product is taken in the order that
 * moves fewer columns through the memory-bound SpMM (as DGL's GraphConv does): Â·(X·W)
 * when the layer narrows (in ≥ out), (Â·X)·W when it widens (in < out). With
 * `constantInput` (the input is the same tensor, unchanged, every pass: full-batch features
 * with no dropout before this layer), a widening layer computes Â·X once and reuses it.
 * The cache is keyed by the input tensor and Â, not by their contents: writing into X in
 * place breaks that promise, and is the caller's to avoid.
 * Per node: h_i = Σ_j â_ij (x_j W) + b.
 * Shapes: X [n, in], Â [n, n] → H [n, out].
 */
export class GCNConv implements Layer {
  readonly kind = 'gcn';
  readonly lin: Linear;
  /** Propagate first: (Â·X)·W. */
  readonly propagateFirst: boolean;
  private x: Tensor | null = null;
  /** Propagate-first: Â·X of this pass (owned unless it is the cache). */
  private ax: Tensor | null = null;
  private cache: { x: Tensor; adj: CsrMatrix; ax: Tensor } | null = null;
  /** Propagate-last with an edge gradient wanted: X·W of this pass, what Â multiplied. */
  private xw: Tensor | null = null;
  private readonly constantInput: boolean;

  constructor(
    heap: Heap,
    readonly name: string,
    readonly inFeatures: number,
    readonly outFeatures: number,
    rng: Rng,
    private readonly graph: () => Propagation,
    options: { weightDecay?: number; constantInput?: boolean } = {},
  ) {
    this.lin = new Linear(heap, name, inFeatures, outFeatures, rng, {
      bias: true,
      weightDecay: options.weightDecay ?? 0,
    });
    this.propagateFirst = inFeatures < outFeatures;
    this.constantInput = options.constantInput === true;
  }

  params(): Parameter[] {
    return this.lin.params();
  }

  /**
   * H = Â·X·W + b; with `relu`, max(H, 0) as well (what a following ReLU layer would give,
   * bit for bit): the bias and the max ride in the SpMM's stores, or in one pass after the
   * GEMM when the layer propagates first, instead of two more passes over H.
   */
  async forward(ctx: PassContext, x: Tensor, epilogue: { relu?: boolean } = {}): Promise<Tensor> {
    const adj = this.graph().adj;
    const bias = this.lin.bias!.value,
      relu = epilogue.relu === true;
    let y: Tensor;
    if (this.propagateFirst) {
      this.ax = await this.propagated(ctx, adj, x); // release() frees it if what follows fails
      y = await this.lin.project(ctx, this.ax);
      try {
        await biasAdd(ctx.exec, y, bias, { relu });
      } catch (err) {
        y.free();
        throw err;
      }
    } else {
      const xw = await this.lin.project(ctx, x);
      const keep = this.graph().edgeGrad !== undefined;
      try {
        y = await spmm(ctx.exec, adj, xw, undefined, { bias, relu });
      } finally {
        if (keep) this.xw = xw;
        else xw.free();
      }
    }
    this.x = x;
    return y;
  }

  /** Â·X: from the cache when the input is constant and the same as last time. */
  private async propagated(ctx: PassContext, adj: CsrMatrix, x: Tensor): Promise<Tensor> {
    const c = this.cache;
    if (c && c.x === x && c.adj === adj && !x.isFreed) return c.ax;
    this.dropCache();
    const ax = await spmm(ctx.exec, adj, x);
    if (this.constantInput) this.cache = { x, adj, ax };
    return ax;
  }

  /**
   * With `reluOutput` (the output y of the ReLU that took this layer's output, as the forward
   * epilogue did), gy is the ReLU's output gradient: the ReLU's backward and the bias
   * gradient run as one pass over gy (reluBackwardColSum), with the bits of the two layers
   * run one after the other.
   */
  async backward(
    ctx: PassContext,
    gy: Tensor,
    needInputGrad: boolean,
    epilogue: { reluOutput?: Tensor } = {},
  ): Promise<Tensor | null> {
    if (!this.x) throw new Error(`${this.name}: backward without forward`);
    if (this.lin.quantized) throw new Error(`${this.name}: a quantized layer is for inference only (no backward)`);
    const x = this.x;
    this.x = null;
    const y = epilogue.reluOutput;
    if (!y) {
      await colSum(ctx.exec, gy, this.lin.bias!.grad);
      return this.backwardFromOutputGrad(ctx, x, gy, needInputGrad);
    }
    const g = await reluBackwardColSum(ctx.exec, y, gy, this.lin.bias!.grad);
    try {
      return await this.backwardFromOutputGrad(ctx, x, g, needInputGrad);
    } finally {
      g.free();
    }
  }

  /** Backward past the bias: the weight gradient, the edge gradient and the input gradient. */
  private async backwardFromOutputGrad(
    ctx: PassContext,
    x: Tensor,
    gy: Tensor,
    needInputGrad: boolean,
  ): Promise<Tensor | null> {
    const { adj, edgeGrad } = this.graph();
    if (this.propagateFirst) {
      // Y = (ÂX)W: dW = (ÂX)ᵀ·G; dX = Âᵀ·(G·Wᵀ) = Â·(G·Wᵀ) (Â symmetric); dÂ_ij = (G·Wᵀ)_i · X_j.
      const ax = this.ax!;
      this.ax = null;
      await matmul(ctx.exec, ax, gy, this.lin.weight.grad, { transA: true });
      this.freeAx(ax);
      if (!needInputGrad && !edgeGrad) return null;
      const gw = await matmul(ctx.exec, gy, this.lin.weight.value, undefined, { transB: true });
      try {
        if (edgeGrad) await this.addEdgeGrad(ctx, adj, gw, x, edgeGrad);
        return needInputGrad ? await spmm(ctx.exec, adj, gw) : null;
      } finally {
        gw.free();
      }
    }
    // Y = Â(XW): dL/d(XW) = Âᵀ·G = Â·G; dW = Xᵀ·(Â·G); dX = (Â·G)·Wᵀ; dÂ_ij = G_i · (XW)_j.
    if (edgeGrad) {
      const xw = this.xw;
      this.xw = null;
      if (!xw) throw new Error(`${this.name}: the edge gradient was asked for after forward ran without it`);
      try {
        await this.addEdgeGrad(ctx, adj, gy, xw, edgeGrad);
      } finally {
        xw.free();
      }
    }
    const g = await spmm(ctx.exec, adj, gy);
    await matmul(ctx.exec, x, g, this.lin.weight.grad, { transA: true });
    const gx = needInputGrad ? await matmul(ctx.exec, g, this.lin.weight.value, undefined, { transB: true }) : null;
    g.free();
    return gx;
  }

  /** edgeGrad += (G·Hᵀ) sampled at Â's nonzeros: ∂L/∂Â.vals of Â·H. */
  private async addEdgeGrad(ctx: PassContext, adj: CsrMatrix, g: Tensor, h: Tensor, edgeGrad: Tensor): Promise<void> {
    const e = await sddmm(ctx.exec, adj, g, h);
    try {
      await addInto(ctx.exec, e, edgeGrad);
    } finally {
      e.free();
    }
  }

  private freeAx(ax: Tensor): void {
    if (ax !== this.cache?.ax) ax.free();
  }

  private dropCache(): void {
    this.cache?.ax.free();
    this.cache = null;
  }

  release(): void {
    this.x = null;
    if (this.ax) {
      this.freeAx(this.ax);
      this.ax = null;
    }
    this.xw?.free();
    this.xw = null;
  }

  dispose(): void {
    this.release();
    this.dropCache();
    this.lin.dispose();
  }
}

export class ReLU implements Layer {
  readonly kind = 'relu';
  private y: Tensor | null = null;
  params(): Parameter[] {
    return [];
  }
  async forward(ctx: PassContext, x: Tensor): Promise<Tensor> {
    const y = await relu(ctx.exec, x);
    this.y = y;
    return y;
  }
  /** Takes y = relu(x) computed by the layer before (its fused epilogue) as this pass's output. */
  adopt(y: Tensor): Tensor {
    this.y = y;
    return y;
  }
  /** Hands this pass's output to the layer before, whose backward then runs this one's (the fused epilogue's way back). */
  takeOutput(): Tensor {
    const y = this.y;
    this.y = null;
    if (!y) throw new Error('relu: backward without forward');
    return y;
  }
  async backward(ctx: PassContext, gy: Tensor, needInputGrad: boolean): Promise<Tensor | null> {
    const y = this.y;
    this.y = null;
    if (!y) throw new Error('relu: backward without forward');
    return needInputGrad ? reluBackward(ctx.exec, y, gy) : null;
  }
  release(): void {
    this.y = null;
  }
  dispose(): void {}
}

/** Inverted dropout with the counter-based generator; the identity when not training. */
export class Dropout implements Layer {
  readonly kind = 'dropout';
  private mask: Tensor<'uint8'> | null = null;
  constructor(
    readonly p: number,
    readonly index: number,
  ) {}
  params(): Parameter[] {
    return [];
  }
  async forward(ctx: PassContext, x: Tensor): Promise<Tensor> {
    if (!ctx.training || this.p === 0) return x;
    const { y, mask } = await dropout(ctx.exec, x, this.p, dropoutKey(ctx.seed, ctx.step * 64 + this.index));
    this.mask = mask;
    return y;
  }
  async backward(ctx: PassContext, gy: Tensor, needInputGrad: boolean): Promise<Tensor | null> {
    const mask = this.mask;
    this.mask = null;
    if (!mask) return needInputGrad ? gy : null; // eval-mode identity
    const gx = needInputGrad ? await dropoutBackward(ctx.exec, gy, mask, this.p) : null;
    mask.free();
    return gx;
  }
  release(): void {
    this.mask?.free();
    this.mask = null;
  }
  dispose(): void {
    this.release();
  }
}

/** Pools node rows into one row per graph of a batch (offsets set per batch by the model). */
export class GraphPool implements Layer {
  readonly kind = 'pool';
  private argmax: Tensor<'int32'> | null = null;
  private nodes = 0;
  constructor(
    readonly mode: PoolMode,
    private readonly offsets: () => Tensor,
  ) {}
  params(): Parameter[] {
    return [];
  }
  async forward(ctx: PassContext, x: Tensor): Promise<Tensor> {
    const r = await segmentPool(ctx.exec, x, this.offsets(), this.mode);
    this.argmax = r.argmax ?? null;
    this.nodes = x.shape[0]!;
    return r.out;
  }
  async backward(ctx: PassContext, gy: Tensor, needInputGrad: boolean): Promise<Tensor | null> {
    const gx = needInputGrad
      ? await segmentPoolBackward(
          ctx.exec,
          gy,
          this.offsets(),
          this.mode,
          this.nodes,
          this.argmax ? { argmax: this.argmax } : {},
        )
      : null;
    this.release();
    return gx;
  }
  release(): void {
    this.argmax?.free();
    this.argmax = null;
  }
  dispose(): void {
    this.release();
  }
}

/** The linear maps of a stack of layers: each Linear, and each GCN layer's (what graft quantize quantizes). */
export function linearMaps(layers: readonly Layer[]): Linear[] {
  const out: Linear[] = [];
  for (const l of layers) {
    if (l instanceof Linear) out.push(l);
    else if (l instanceof GCNConv) out.push(l.lin);
  }
  return out;
}
