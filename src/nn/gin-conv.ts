import { argRangeError } from '../core/errors.js';
import type { Rng } from '../core/random.js';
import { CsrMatrix } from '../graph/csr.js';
import type { MessageGraph } from '../graph/message-graph.js';
import type { Heap } from '../memory/heap.js';
import type { Tensor } from '../memory/tensor.js';
import { addInto, axpy, reluBackward } from '../ops/elementwise.js';
import { gatherAddRelu, gatherRows } from '../ops/gather.js';
import { sddmm, spmm } from '../ops/sparse.js';
import { zerosParameter, disposeParams } from './init.js';
import type { Layer, Parameter, PassContext } from './layer.js';
import { Linear, ReLU } from './layers.js';
import { Sequential } from './sequential.js';

/** Options of GINConv and GINEConv: ε (fixed or learnable) and, for GINE, the width of the edge features. */
export interface GinOptions {
  /** ε's starting value (PyG's `eps`, default 0). */
  eps?: number;
  /** Learn ε (PyG's `train_eps`); else it stays fixed. Default false. */
  trainEps?: boolean;
  /**
   * GINE: the width of the edge features, mapped by a Linear `lin` to the input width before
   * they join the messages (PyG's `edge_dim`). Without it a GINE layer adds the edge features
   * as they are (they must then be as wide as the input).
   */
  edgeDim?: number;
  weightDecay?: number;
}

/**
 * The MLP PyG's examples give GIN, Linear → ReLU → Linear, named as a torch.nn.Sequential
 * names them: `name.nn.0` and `name.nn.2`.
 */
export function ginMlp(
  heap: Heap,
  name: string,
  inFeatures: number,
  hidden: number,
  outFeatures: number,
  rng: Rng,
  options: { weightDecay?: number } = {},
): Sequential {
  const wd = options.weightDecay ?? 0;
  return new Sequential([
    new Linear(heap, `${name}.nn.0`, inFeatures, hidden, rng, { weightDecay: wd }),
    new ReLU(),
    new Linear(heap, `${name}.nn.2`, hidden, outFeatures, rng, { weightDecay: wd }),
  ]);
}

/**
 * The graph isomorphism network's layer (Xu et al. 2019; PyG's GINConv):
 * H = nn((1 + ε)·x_i + Σ_{j → i} x_j), the sum over i's incoming edges (an SpMM with the
 * 0/1 adjacency; a duplicate edge counts twice) and `nn` an MLP (ginMlp). With `edges: true`
 * it is GINEConv (Hu et al. 2020): each message is ReLU(x_j + lin(e_ji)) with the edge's
 * features e_ji (MessageGraph's edgeAttr), kept one row per edge (gatherAddRelu) and summed
 * into destinations by an SpMM with the incidence matrix. The ε gradient Σ G ⊙ X is one dot
 * per node (an SDDMM on the diagonal) summed in node order on the calling thread, so no sum
 * depends on the thread count. Parameters carry PyG's names: `eps` (when learned),
 * `nn.0.weight`, …, and GINE's `lin.weight`, `lin.bias`.
 * Shapes: X [n, in] → H [n, nn's out].
 * @example const gin = new GINConv(rt.heap, 'conv1', ginMlp(rt.heap, 'conv1', 16, 32, 32, rng), () => graph);
 */
export class GINConv implements Layer {
  readonly kind: 'gin' | 'gine';
  readonly eps: Parameter;
  readonly trainEps: boolean;
  /** GINE's edge map (edgeDim given), else null. */
  readonly lin: Linear | null;
  private x: Tensor | null = null;
  private h: Tensor | null = null;
  /** GINE: this pass's messages, the ReLU's output. */
  private msg: Tensor | null = null;
  private diag: CsrMatrix | null = null;

  constructor(
    heap: Heap,
    readonly name: string,
    readonly nn: Sequential,
    private readonly graph: () => MessageGraph,
    rng: Rng,
    options: GinOptions & { edges?: boolean } = {},
  ) {
    const eps = options.eps ?? 0;
    if (!Number.isFinite(eps)) throw argRangeError('GINConv', 'options.eps', 'a finite number', eps);
    this.kind = options.edges ? 'gine' : 'gin';
    this.trainEps = options.trainEps === true;
    this.eps = zerosParameter(heap, `${name}.eps`, [1]);
    this.eps.value.data()[0] = eps;
    const first = nn.layers[0];
    const inFeatures = first instanceof Linear ? first.inFeatures : undefined;
    if (options.edgeDim !== undefined) {
      if (!options.edges)
        throw argRangeError('GINConv', 'options.edgeDim', 'used with edges: true (GINEConv)', options.edgeDim);
      if (inFeatures === undefined)
        throw argRangeError('GINConv', 'nn', 'an MLP starting with a Linear (its width sizes lin)', first?.kind);
      this.lin = new Linear(heap, `${name}.lin`, options.edgeDim, inFeatures, rng, {
        weightDecay: options.weightDecay ?? 0,
      });
    } else {
      this.lin = null;
    }
  }

  params(): Parameter[] {
    return [...(this.trainEps ? [this.eps] : []), ...this.nn.params(), ...(this.lin ? this.lin.params() : [])];
  }

  private onePlusEps(): number {
    return 1 + this.eps.value.data()[0]!;
  }

  async forward(ctx: PassContext, x: Tensor): Promise<Tensor> {
    const g = this.graph(),
      { exec } = ctx;
    let h: Tensor;
    if (this.kind === 'gin') {
      h = await spmm(exec, g.adj, x);
    } else {
      const attr = g.edgeAttr;
      if (!attr) throw argRangeError(this.name, 'graph', 'a MessageGraph with edge features (GINEConv)', 'none');
      let term: Tensor = attr;
      if (this.lin) term = await this.lin.forward(ctx, attr);
      else if (attr.shape[1] !== x.shape[1])
        throw argRangeError(
          this.name,
          'edge features',
          `${x.shape[1]} columns (the input's; or give edgeDim)`,
          attr.shape[1],
        );
      try {
        this.msg = await gatherAddRelu(exec, x, g.adj.colIdx, term);
      } finally {
        if (term !== attr) term.free();
      }
      h = await spmm(exec, g.incidence, this.msg);
    }
    try {
      await axpy(exec, this.onePlusEps(), x, h);
      const y = await this.nn.forward(ctx, h);
      this.h = h;
      this.x = x;
      return y;
    } catch (err) {
      h.free();
      throw err;
    }
  }

  async backward(ctx: PassContext, gy: Tensor, needInputGrad: boolean): Promise<Tensor | null> {
    const x = this.x,
      h = this.h;
    if (!x || !h) throw new Error(`${this.name}: backward without forward`);
    this.x = null;
    this.h = null;
    const g = this.graph(),
      { exec } = ctx;
    const needH = needInputGrad || this.trainEps || this.kind === 'gine';
    let gh: Tensor | null;
    try {
      gh = await this.nn.backward(ctx, gy, needH);
    } finally {
      h.free();
    }
    if (!gh) {
      this.freeMsg();
      return null;
    }
    try {
      if (this.trainEps) this.eps.grad.data()[0] = await this.dotAll(ctx, gh, x);
      let gx: Tensor | null = null;
      if (this.kind === 'gin') {
        if (needInputGrad) gx = await spmm(exec, g.adjT, gh);
      } else {
        const msg = this.msg!;
        this.msg = null;
        try {
          // dM[e] = G_h[dst(e)]; through the message's ReLU; into lin (weights only) and each source.
          const gm = await gatherRows(exec, gh, g.dstOf);
          try {
            await reluBackward(exec, msg, gm, gm);
            // An explainer's ∂L/∂edgeAttr (MessageGraph.edgeAttrGrad): through lin, or gm itself without one.
            const ge = g.edgeAttrGrad;
            const gAttr = this.lin ? await this.lin.backward(ctx, gm, ge !== null) : null;
            if (ge) {
              try {
                await addInto(exec, gAttr ?? gm, ge);
              } finally {
                gAttr?.free();
              }
            }
            if (needInputGrad) gx = await spmm(exec, g.incidenceT, gm);
          } finally {
            gm.free();
          }
        } finally {
          msg.free();
        }
      }
      if (gx) await axpy(exec, this.onePlusEps(), gh, gx);
      return gx;
    } finally {
      gh.free();
    }
  }

  /** Σ_i Σ_c G[i, c]·X[i, c]: one dot per row (SDDMM on the diagonal), rows summed in order in f64. */
  private async dotAll(ctx: PassContext, gh: Tensor, x: Tensor): Promise<number> {
    const n = x.shape[0]!;
    if (!this.diag || this.diag.rows !== n) {
      this.diag?.free();
      const ids = Int32Array.from({ length: n }, (_, i) => i);
      this.diag = CsrMatrix.fromArrays(
        x.heap,
        n,
        n,
        Int32Array.from({ length: n + 1 }, (_, i) => i),
        ids,
      );
    }
    const rows = await sddmm(ctx.exec, this.diag, gh, x);
    try {
      return ctx.exec.backend.sumF32(rows.ptr, n);
    } finally {
      rows.free();
    }
  }

  private freeMsg(): void {
    this.msg?.free();
    this.msg = null;
  }

  release(): void {
    this.nn.release();
    this.lin?.release();
    this.h?.free();
    this.h = null;
    this.x = null;
    this.freeMsg();
  }

  dispose(): void {
    this.release();
    this.nn.dispose();
    this.lin?.dispose();
    disposeParams([this.eps]);
    this.diag?.free();
    this.diag = null;
  }
}

/** GINEConv: GINConv with edge features in its messages (see GINConv). */
export class GINEConv extends GINConv {
  constructor(heap: Heap, name: string, nn: Sequential, graph: () => MessageGraph, rng: Rng, options: GinOptions = {}) {
    super(heap, name, nn, graph, rng, { ...options, edges: true });
  }
}
