import { argRangeError } from '../core/errors.js';
import type { Rng } from '../core/random.js';
import type { MessageGraph } from '../graph/message-graph.js';
import type { Heap } from '../memory/heap.js';
import { Tensor } from '../memory/tensor.js';
import {
  edgeSoftmax,
  edgeSoftmaxBackward,
  gatScore,
  leakyRelu,
  leakyReluBackward,
  permuteEdgeValues,
  sddmmHeads,
  segmentSumHeads,
  spmmHeads,
} from '../ops/attention.js';
import { dropout, dropoutBackward, dropoutKey } from '../ops/dropout.js';
import { addInto, biasAdd, colSum } from '../ops/elementwise.js';
import { gatherRows } from '../ops/gather.js';
import { matmul } from '../ops/linalg.js';
import { spmm } from '../ops/sparse.js';
import { disposeParams, glorotParameter, zerosParameter } from './init.js';
import type { Layer, Parameter, PassContext } from './layer.js';
import { Linear } from './layers.js';

/** Options of GATConv and GATv2Conv: heads, how heads are joined, attention dropout, negative slope, self loops, bias (PyG's names and defaults). */
export interface GatOptions {
  /** Attention heads (PyG's `heads`, default 1). */
  heads?: number;
  /** Concatenate the heads' outputs (default) or average them (PyG's `concat`). */
  concat?: boolean;
  /** LeakyReLU slope of the attention logits (PyG's `negative_slope`, default 0.2). */
  negativeSlope?: number;
  /** Dropout on the attention coefficients while training (PyG's `dropout`, default 0). */
  dropout?: number;
  /** This layer's slot in the dropout keys (give each dropout of a model its own). */
  dropoutIndex?: number;
  weightDecay?: number;
}

interface GatShape {
  heads: number;
  concat: boolean;
  slope: number;
  p: number;
  dropoutIndex: number;
}

function gatShape(fn: string, o: GatOptions): GatShape {
  const heads = o.heads ?? 1,
    slope = o.negativeSlope ?? 0.2,
    p = o.dropout ?? 0;
  if (!Number.isInteger(heads) || heads <= 0) throw argRangeError(fn, 'options.heads', 'a positive integer', heads);
  if (!(slope >= 0 && Number.isFinite(slope)))
    throw argRangeError(fn, 'options.negativeSlope', 'a finite number ≥ 0', slope);
  if (!(p >= 0 && p < 1)) throw argRangeError(fn, 'options.dropout', 'in [0, 1)', p);
  return { heads, concat: o.concat ?? true, slope, p, dropoutIndex: o.dropoutIndex ?? 0 };
}

/** [H·C, H] with M[h·C + c, h] = v[h, c]: the per-head dot X·v_h of every row as one GEMM. */
function blockColumns(heap: Heap, v: Tensor, heads: number, c: number): Tensor {
  const m = Tensor.zeros(heap, 'float32', [heads * c, heads], 'attention columns'),
    d = m.data(),
    s = v.data() as Float32Array;
  for (let h = 0; h < heads; h++) for (let k = 0; k < c; k++) d[(h * c + k) * heads + h] = s[h * c + k]!;
  return m;
}

/** [H, H·C] with M[h, h·C + c] = v[h, c]: every per-head dot of rows of Z as B·Zᵀ. */
function blockRows(heap: Heap, v: Tensor, heads: number, c: number): Tensor {
  const m = Tensor.zeros(heap, 'float32', [heads, heads * c], 'attention rows'),
    d = m.data(),
    s = v.data() as Float32Array;
  for (let h = 0; h < heads; h++) for (let k = 0; k < c; k++) d[h * heads * c + h * c + k] = s[h * c + k]!;
  return m;
}

/** The diagonal blocks of G [H·C, H] back into a [H, C] gradient. */
function takeBlocks(g: Tensor, into: Tensor, heads: number, c: number): void {
  const s = g.data() as Float32Array,
    d = into.data() as Float32Array;
  for (let h = 0; h < heads; h++) for (let k = 0; k < c; k++) d[h * c + k] = s[(h * c + k) * heads + h]!;
}

/** [H·C, C] with 1/H at (h·C + c, c): Y·M averages Y's heads. */
function headMean(heap: Heap, heads: number, c: number): Tensor {
  const m = Tensor.zeros(heap, 'float32', [heads * c, c], 'head mean'),
    d = m.data();
  for (let h = 0; h < heads; h++) for (let k = 0; k < c; k++) d[(h * c + k) * c + k] = 1 / heads;
  return m;
}

/** What the attention part of a pass saves for backward. */
interface AttentionTape {
  alpha: Tensor;
  kept: Tensor;
  mask: Tensor<'uint8'> | null;
}

/**
 * The part GATConv and GATv2Conv share: given per-edge logits s [H, nnz], α = edge softmax
 * per destination, attention dropout, then Y = Σ_{j → i} α_ji·X'_j per head, the heads
 * concatenated or averaged. Backward returns ∂L/∂s and adds the aggregation's ∂L/∂X' into gxw.
 */
class Attention {
  private tape: AttentionTape | null = null;
  private readonly mean: Tensor | null;
  constructor(
    heap: Heap,
    readonly s: GatShape,
    readonly c: number,
  ) {
    this.mean = s.concat || s.heads === 1 ? null : headMean(heap, s.heads, c);
  }

  async forward(ctx: PassContext, g: MessageGraph, scores: Tensor, xw: Tensor): Promise<Tensor> {
    const { exec } = ctx;
    const alpha = await edgeSoftmax(exec, g.adj, scores);
    let kept = alpha,
      mask: Tensor<'uint8'> | null = null;
    try {
      if (ctx.training && this.s.p > 0) {
        const r = await dropout(exec, alpha, this.s.p, dropoutKey(ctx.seed, ctx.step * 64 + this.s.dropoutIndex));
        kept = r.y;
        mask = r.mask;
      }
      this.tape = { alpha, kept, mask };
    } catch (err) {
      alpha.free();
      throw err;
    }
    const y = await spmmHeads(exec, g.adj, kept, xw);
    if (!this.mean) return y;
    try {
      return await matmul(exec, y, this.mean);
    } finally {
      y.free();
    }
  }

  /** gy: the gradient of the (concatenated or averaged) output, before the bias. */
  async backward(ctx: PassContext, g: MessageGraph, gy: Tensor, xw: Tensor, gxw: Tensor): Promise<Tensor> {
    const t = this.tape;
    if (!t) throw new Error('attention: backward without forward');
    this.tape = null;
    const { exec } = ctx;
    try {
      const gcat = this.mean ? await matmul(exec, gy, this.mean, undefined, { transB: true }) : gy;
      try {
        // Y = A_α·X' per head: ∂X' = A_αᵀ·G (adjT, with α moved to its order); ∂α = G·X'ᵀ on the pattern.
        const kt = await permuteEdgeValues(exec, t.kept, g.order);
        try {
          const part = await spmmHeads(exec, g.adjT, kt, gcat);
          try {
            await addInto(exec, part, gxw);
          } finally {
            part.free();
          }
        } finally {
          kt.free();
        }
        const ga = await sddmmHeads(exec, g.adj, gcat, xw, this.s.heads);
        try {
          if (t.mask) await dropoutBackward(exec, ga, t.mask, this.s.p, ga);
          return await edgeSoftmaxBackward(exec, g.adj, t.alpha, ga);
        } finally {
          ga.free();
        }
      } finally {
        if (gcat !== gy) gcat.free();
      }
    } finally {
      this.freeTape(t);
    }
  }

  /** The last forward pass's coefficients α [H, nnz] (before dropout), a copy; null after release. */
  alpha(): Float32Array | null {
    return this.tape ? (this.tape.alpha.data() as Float32Array).slice() : null;
  }

  private freeTape(t: AttentionTape): void {
    t.alpha.free();
    if (t.kept !== t.alpha) t.kept.free();
    t.mask?.free();
  }

  release(): void {
    if (this.tape) this.freeTape(this.tape);
    this.tape = null;
  }

  dispose(): void {
    this.release();
    this.mean?.free();
  }
}

/** What a scoring function hands the shared core: per-edge logits and the rows attention aggregates. */
interface Scored {
  /** Logits, head-major [H, nnz] in the graph's edge order. */
  scores: Tensor;
  /** X' [n, H·C], the rows the attention sums (owned by the scoring's tape). */
  values: Tensor;
  /** The scoring keeps `scores` in its tape (its backward reads them); else the core frees them once used. */
  scoresKept: boolean;
}

/**
 * GATConv and GATv2Conv: one attention core (edge softmax, dropout, aggregation, heads joined,
 * bias: the Attention above) around two scoring functions. A subclass computes the logits and
 * the aggregated rows from X (scoreForward) and carries their gradients back to X and its own
 * parameters (scoreBackward); the forward and backward passes, the bias and the tape's
 * lifetime are here.
 */
abstract class GatBase implements Layer {
  abstract readonly kind: string;
  readonly bias: Parameter;
  readonly heads: number;
  readonly concat: boolean;
  readonly negativeSlope: number;
  private readonly attention: Attention;
  private values: Tensor | null = null;

  constructor(
    heap: Heap,
    fn: string,
    readonly name: string,
    readonly inFeatures: number,
    readonly outChannels: number,
    private readonly graph: () => MessageGraph,
    options: GatOptions,
  ) {
    const s = gatShape(fn, options);
    this.heads = s.heads;
    this.concat = s.concat;
    this.negativeSlope = s.slope;
    this.bias = zerosParameter(heap, `${name}.bias`, [s.concat ? s.heads * outChannels : outChannels]);
    this.attention = new Attention(heap, s, outChannels);
  }

  /** The width of the layer's output per node: heads × channels when heads are concatenated, else channels. */
  get outFeatures(): number {
    return this.concat ? this.heads * this.outChannels : this.outChannels;
  }

  /**
   * The attention coefficients of the last forward pass, head-major [H, nnz] in the message
   * graph's CSR order (rows: destinations), each destination's in-edges summing to 1 per head;
   * null when no forward pass is held (after backward or release). graft explain reads them.
   */
  attentionWeights(): Float32Array | null {
    return this.attention.alpha();
  }

  abstract params(): Parameter[];
  /** Logits and aggregated rows from X; on an error it frees what it made. @internal */
  protected abstract scoreForward(ctx: PassContext, g: MessageGraph, x: Tensor): Promise<Scored>;
  /**
   * From ∂L/∂scores (gs) and the aggregation's ∂L/∂X' (gValues, added to in place): the scoring's
   * parameter gradients, and ∂L/∂X when asked.
   * @internal
   */
  protected abstract scoreBackward(
    ctx: PassContext,
    g: MessageGraph,
    gs: Tensor,
    gValues: Tensor,
    needInputGrad: boolean,
  ): Promise<Tensor | null>;
  /** Frees the scoring's tape. @internal */
  protected abstract releaseScoring(): void;
  /** Frees the scoring's parameters. @internal */
  protected abstract disposeScoring(): void;

  async forward(ctx: PassContext, x: Tensor): Promise<Tensor> {
    const g = this.graph();
    const { scores, values, scoresKept } = await this.scoreForward(ctx, g, x);
    try {
      const y = await this.attention.forward(ctx, g, scores, values);
      try {
        await biasAdd(ctx.exec, y, this.bias.value);
      } catch (err) {
        y.free();
        throw err;
      }
      this.values = values;
      return y;
    } catch (err) {
      this.releaseScoring();
      this.attention.release();
      throw err;
    } finally {
      if (!scoresKept) scores.free();
    }
  }

  async backward(ctx: PassContext, gy: Tensor, needInputGrad: boolean): Promise<Tensor | null> {
    const values = this.values;
    if (!values) throw new Error(`${this.name}: backward without forward`);
    this.values = null;
    const g = this.graph();
    try {
      await colSum(ctx.exec, gy, this.bias.grad);
      const gValues = Tensor.zeros(gy.heap, 'float32', values.shape, `${this.kind} dX'`);
      try {
        const gs = await this.attention.backward(ctx, g, gy, values, gValues);
        try {
          return await this.scoreBackward(ctx, g, gs, gValues, needInputGrad);
        } finally {
          gs.free();
        }
      } finally {
        gValues.free();
      }
    } finally {
      this.releaseScoring();
    }
  }

  release(): void {
    this.values = null;
    this.releaseScoring();
    this.attention.release();
  }

  dispose(): void {
    this.release();
    this.attention.dispose();
    this.disposeScoring();
    disposeParams([this.bias]);
  }
}

/**
 * Graph attention (Veličković et al. 2018; PyG's GATConv): X' = X·W, split into H heads of C
 * columns; for each edge j → i and head h the logit LeakyReLU(a_src,h·x'_j,h + a_dst,h·x'_i,h),
 * a softmax over i's incoming edges (assembly/edge_softmax.ts), dropout on the coefficients
 * while training, and y_i,h = Σ_j α_ji,h·x'_j,h; the heads concatenated ([n, H·C]) or averaged
 * ([n, C]), plus the bias. PyG adds a self loop per node (replacing any given): build the
 * MessageGraph with selfLoops 'replace' for its behaviour. A node with no incoming edge gets
 * the bias alone. Parameters carry PyG's names: `lin.weight`, `att_src`, `att_dst`, `bias`.
 * Shapes: X [n, in] → H [n, H·C] (concat) or [n, C].
 * @example const gat = new GATConv(rt.heap, 'conv1', 1433, 8, rng, () => graph, { heads: 8, dropout: 0.6 });
 */
export class GATConv extends GatBase {
  readonly kind = 'gat';
  readonly lin: Linear;
  readonly attSrc: Parameter;
  readonly attDst: Parameter;
  private tape: { x: Tensor; xw: Tensor; scores: Tensor; bs: Tensor; bd: Tensor } | null = null;

  constructor(
    heap: Heap,
    name: string,
    inFeatures: number,
    outChannels: number,
    rng: Rng,
    graph: () => MessageGraph,
    options: GatOptions = {},
  ) {
    super(heap, 'GATConv', name, inFeatures, outChannels, graph, options);
    const wd = options.weightDecay ?? 0,
      hc = this.heads * outChannels;
    this.lin = new Linear(heap, `${name}.lin`, inFeatures, hc, rng, { bias: false, weightDecay: wd });
    this.attSrc = glorotParameter(heap, `${name}.att_src`, this.heads, outChannels, rng, wd);
    this.attDst = glorotParameter(heap, `${name}.att_dst`, this.heads, outChannels, rng, wd);
  }

  /** `lin.weight`, `att_src`, `att_dst`, `bias`, in the checkpoint's order. */
  params(): Parameter[] {
    return [this.lin.weight, this.attSrc, this.attDst, this.bias];
  }

  /** @internal */
  protected async scoreForward(ctx: PassContext, g: MessageGraph, x: Tensor): Promise<Scored> {
    const { exec } = ctx,
      heap = x.heap,
      h = this.heads,
      c = this.outChannels;
    const made: Tensor[] = [];
    const keep = <T extends Tensor>(t: T): T => {
      made.push(t);
      return t;
    };
    try {
      const xw = keep(await this.lin.project(ctx, x));
      const bs = keep(blockColumns(heap, this.attSrc.value, h, c)),
        bd = keep(blockColumns(heap, this.attDst.value, h, c));
      const aS = keep(await matmul(exec, xw, bs)),
        aD = keep(await matmul(exec, xw, bd));
      const scores = keep(await gatScore(exec, g.adj, aS, aD, this.negativeSlope));
      aS.free();
      aD.free();
      this.tape = { x, xw, scores, bs, bd };
      return { scores, values: xw, scoresKept: true };
    } catch (err) {
      for (const t of made) t.free();
      throw err;
    }
  }

  /** @internal */
  protected async scoreBackward(
    ctx: PassContext,
    g: MessageGraph,
    gs: Tensor,
    gxw: Tensor,
    needInputGrad: boolean,
  ): Promise<Tensor | null> {
    const t = this.tape;
    if (!t) throw new Error(`${this.name}: backward without forward`);
    const { exec } = ctx,
      h = this.heads,
      c = this.outChannels;
    // Through the LeakyReLU, then into each node's per-head dots: as source (incidenceT) and destination.
    await leakyReluBackward(exec, t.scores, gs, this.negativeSlope, gs);
    for (const [att, b, inc] of [
      [this.attSrc, t.bs, g.incidenceT],
      [this.attDst, t.bd, g.incidence],
    ] as const) {
      const ga = await segmentSumHeads(exec, inc, gs);
      try {
        const gb = await matmul(exec, t.xw, ga, undefined, { transA: true });
        takeBlocks(gb, att.grad, h, c);
        gb.free();
        const part = await matmul(exec, ga, b, undefined, { transB: true });
        try {
          await addInto(exec, part, gxw);
        } finally {
          part.free();
        }
      } finally {
        ga.free();
      }
    }
    await matmul(exec, t.x, gxw, this.lin.weight.grad, { transA: true });
    return needInputGrad ? await matmul(exec, gxw, this.lin.weight.value, undefined, { transB: true }) : null;
  }

  /** @internal */
  protected releaseScoring(): void {
    const t = this.tape;
    if (t) for (const k of [t.xw, t.scores, t.bs, t.bd]) k.free();
    this.tape = null;
  }

  /** @internal */
  protected disposeScoring(): void {
    disposeParams([this.lin.weight, this.attSrc, this.attDst]);
  }
}

/**
 * GATv2 (Brody et al. 2022; PyG's GATv2Conv with share_weights=False): the logit of edge
 * j → i and head h is a_h·LeakyReLU(W_l x_j + W_r x_i) (the nonlinearity inside the dot, so
 * the ranking of neighbours can depend on the query node), then GATConv's softmax, dropout
 * and aggregation of W_l x_j. The per-edge vectors are one row per edge ([nnz, H·C], gathered
 * by source and destination), and the per-head dots one GEMM with the block matrix of a.
 * Parameters carry PyG's names: `lin_l.weight`, `lin_l.bias`, `lin_r.weight`, `lin_r.bias`,
 * `att`, `bias`.
 * Shapes: X [n, in] → H [n, H·C] (concat) or [n, C].
 */
export class GATv2Conv extends GatBase {
  readonly kind = 'gatv2';
  readonly linL: Linear;
  readonly linR: Linear;
  readonly att: Parameter;
  private tape: { xl: Tensor; xr: Tensor; z: Tensor; ba: Tensor } | null = null;

  constructor(
    heap: Heap,
    name: string,
    inFeatures: number,
    outChannels: number,
    rng: Rng,
    graph: () => MessageGraph,
    options: GatOptions = {},
  ) {
    super(heap, 'GATv2Conv', name, inFeatures, outChannels, graph, options);
    const wd = options.weightDecay ?? 0,
      hc = this.heads * outChannels;
    this.linL = new Linear(heap, `${name}.lin_l`, inFeatures, hc, rng, { bias: true, weightDecay: wd });
    this.linR = new Linear(heap, `${name}.lin_r`, inFeatures, hc, rng, { bias: true, weightDecay: wd });
    this.att = glorotParameter(heap, `${name}.att`, this.heads, outChannels, rng, wd);
  }

  /** `lin_l.weight`, `lin_l.bias`, `lin_r.weight`, `lin_r.bias`, `att`, `bias`, in the checkpoint's order. */
  params(): Parameter[] {
    return [...this.linL.params(), ...this.linR.params(), this.att, this.bias];
  }

  /** @internal */
  protected async scoreForward(ctx: PassContext, g: MessageGraph, x: Tensor): Promise<Scored> {
    const { exec } = ctx,
      h = this.heads,
      c = this.outChannels;
    const made: Tensor[] = [];
    const keep = <T extends Tensor>(t: T): T => {
      made.push(t);
      return t;
    };
    try {
      const xl = keep(await this.linL.forward(ctx, x)),
        xr = keep(await this.linR.forward(ctx, x));
      // z_e = LeakyReLU(x_l[src] + x_r[dst]), one row per edge.
      const z = keep(await gatherRows(exec, xl, g.adj.colIdx));
      const zr = await gatherRows(exec, xr, g.dstOf);
      try {
        await addInto(exec, zr, z);
      } finally {
        zr.free();
      }
      await leakyRelu(exec, z, this.negativeSlope, z);
      // Logits, head-major [H, nnz] = B·zᵀ with B [H, H·C] the block rows of att.
      const ba = keep(blockRows(x.heap, this.att.value, h, c));
      const scores = await matmul(exec, ba, z, undefined, { transB: true });
      this.tape = { xl, xr, z, ba };
      return { scores, values: xl, scoresKept: false };
    } catch (err) {
      for (const t of made) t.free();
      this.linL.release();
      this.linR.release();
      throw err;
    }
  }

  /** @internal */
  protected async scoreBackward(
    ctx: PassContext,
    g: MessageGraph,
    gs: Tensor,
    gxl: Tensor,
    needInputGrad: boolean,
  ): Promise<Tensor | null> {
    const t = this.tape;
    if (!t) throw new Error(`${this.name}: backward without forward`);
    const { exec } = ctx,
      h = this.heads,
      c = this.outChannels;
    let gxr: Tensor | null = null;
    try {
      // scores = B·zᵀ: ∂B = gs·z (its diagonal blocks are ∂att); ∂z = gsᵀ·B.
      const gb = await matmul(exec, gs, t.z);
      const d = gb.data() as Float32Array,
        into = this.att.grad.data() as Float32Array;
      for (let q = 0; q < h; q++) for (let k = 0; k < c; k++) into[q * c + k] = d[q * h * c + q * c + k]!;
      gb.free();
      const gz = await matmul(exec, gs, t.ba, undefined, { transA: true });
      try {
        // Through the LeakyReLU; z_e took x_l of its source and x_r of its destination.
        await leakyReluBackward(exec, t.z, gz, this.negativeSlope, gz);
        const ls = await spmm(exec, g.incidenceT, gz);
        try {
          await addInto(exec, ls, gxl);
        } finally {
          ls.free();
        }
        gxr = await spmm(exec, g.incidence, gz);
      } finally {
        gz.free();
      }
      const gxFromL = await this.linL.backward(ctx, gxl, needInputGrad);
      const gxFromR = await this.linR.backward(ctx, gxr, needInputGrad);
      if (!gxFromL || !gxFromR) {
        gxFromL?.free();
        gxFromR?.free();
        return null;
      }
      try {
        await addInto(exec, gxFromR, gxFromL);
      } finally {
        gxFromR.free();
      }
      return gxFromL;
    } finally {
      gxr?.free();
    }
  }

  /** @internal */
  protected releaseScoring(): void {
    const t = this.tape;
    if (t) for (const k of [t.z, t.ba, t.xl, t.xr]) k.free();
    this.tape = null;
    this.linL.release();
    this.linR.release();
  }

  /** @internal */
  protected disposeScoring(): void {
    this.linL.dispose();
    this.linR.dispose();
    disposeParams([this.att]);
  }
}
