import { argRangeError } from '../core/errors.js';
import type { Rng } from '../core/random.js';
import { CsrMatrix } from '../graph/csr.js';
import type { MessageGraph } from '../graph/message-graph.js';
import type { Heap } from '../memory/heap.js';
import { Tensor } from '../memory/tensor.js';
import { addInto, axpy, biasAdd, colSum, fill, relu, reluBackward } from '../ops/elementwise.js';
import { gatherRows } from '../ops/gather.js';
import { matmul } from '../ops/linalg.js';
import { spmm } from '../ops/sparse.js';
import type { Layer, Parameter, PassContext } from './layer.js';
import { Linear } from './layers.js';

/**
 * Atom features held sparse, as one-hot features are (Chemprop's: about 8 nonzeros in 133):
 * X and Xᵀ in CSR, so X·W and the weight gradient Xᵀ·G are SpMMs over the nonzeros.
 */
interface SparseAtoms {
  x: CsrMatrix;
  xT: CsrMatrix;
}

/**
 * At most this fraction of nonzeros and the atom-feature products run as SpMMs. An SpMM row
 * costs its nonzeros' rows of W where a GEMM row costs all of W, but it streams W's rows with
 * less reuse; a quarter keeps the sparse path well ahead of the GEMM.
 */
const SPARSE_ATOMS_MAX_DENSITY = 0.25;

function sparseAtoms(x: Tensor): SparseAtoms | null {
  const d = x.data() as Float32Array;
  let nnz = 0;
  for (let i = 0; i < d.length; i++) if (d[i] !== 0) nnz++;
  if (d.length === 0 || nnz > SPARSE_ATOMS_MAX_DENSITY * d.length) return null;
  const [rows, cols] = x.shape as [number, number];
  const csr = CsrMatrix.fromDense(x.heap, rows, cols, d);
  return { x: csr, xT: csr.transposed().matrix };
}

/** X·W for atom features X, dense or sparse. */
async function atomsTimes(exec: PassContext['exec'], x: Tensor, xs: SparseAtoms | null, w: Tensor): Promise<Tensor> {
  return xs ? spmm(exec, xs.x, w) : matmul(exec, x, w);
}

/** Options of BondMessagePassing (Chemprop's D-MPNN): atom and bond feature widths, hidden width, message-passing depth, bias. */
export interface BondMessagePassingOptions {
  /** Message-passing depth T (Chemprop's `depth`, default 3): T − 1 updates of the bond states. */
  depth?: number;
  weightDecay?: number;
}

/**
 * Directed bond message passing for molecules (Yang et al. 2019, Chemprop's D-MPNN and its
 * BondMessagePassing): states live on directed bonds v → w, not on atoms, and a bond's message
 * excludes its own reverse, so information does not echo straight back.
 *   H⁰_vw = W_i·[x_v ‖ e_vw],  H¹ = ReLU(H⁰),
 *   M^t_vw = Σ_{k → v} H^t_kv − H^t_wv,  H^{t+1}_vw = ReLU(H⁰_vw + W_h·M^t_vw)  (t = 1 … T − 1),
 *   m_v = Σ_{k → v} H^T_kv,  h_v = ReLU(W_o·[x_v ‖ m_v] + b_o).
 * The graph holds each bond in both directions with its features (MessageGraph edgeAttr); the
 * sums over incoming bonds are SpMMs with the incidence matrix, "at the source" and "the
 * reverse" are row gathers, so every sum has a fixed order and the bits do not depend on the
 * thread count. W_i and W_o are single matrices over the concatenated inputs, applied as two
 * GEMMs on their row blocks (no concatenated copy is made). An atom with no bond gets
 * ReLU(W_o·[x_v ‖ 0] + b_o). Parameters carry Chemprop's names: `W_i.weight`, `W_h.weight`,
 * `W_o.weight`, `W_o.bias` (W_i and W_h without bias, Chemprop's default). Pool the atom rows
 * into molecules with GraphPool. One-hot atom features (at most a quarter nonzero, as
 * Chemprop's are) enter as a sparse matrix: X·W and the weight gradient Xᵀ·G are SpMMs over
 * the nonzeros, not GEMMs over the zeros (sums in a fixed order still, so the bits stay
 * independent of the thread count). The rest of a step is GEMMs on the bond states.
 * Shapes: X [atoms, atomFeatures], bond features [bonds·2, bondFeatures] → H [atoms, hidden].
 * @example const mp = new BondMessagePassing(rt.heap, 'mp', 133, 14, 300, rng, () => graph);
 */
export class BondMessagePassing implements Layer {
  readonly kind = 'dmpnn';
  readonly wi: Linear;
  readonly wh: Linear;
  readonly wo: Linear;
  readonly depth: number;
  private tape: {
    x: Tensor;
    xs: SparseAtoms | null;
    y: Tensor;
    h0: Tensor;
    hs: Tensor[];
    ms: Tensor[];
    mv: Tensor;
  } | null = null;

  constructor(
    heap: Heap,
    readonly name: string,
    readonly atomFeatures: number,
    readonly bondFeatures: number,
    readonly hidden: number,
    rng: Rng,
    private readonly graph: () => MessageGraph,
    options: BondMessagePassingOptions = {},
  ) {
    const depth = options.depth ?? 3,
      wd = options.weightDecay ?? 0;
    if (!Number.isInteger(depth) || depth < 1)
      throw argRangeError('BondMessagePassing', 'options.depth', 'a positive integer', depth);
    if (!Number.isInteger(bondFeatures) || bondFeatures < 1)
      throw argRangeError('BondMessagePassing', 'bondFeatures', 'a positive integer', bondFeatures);
    this.depth = depth;
    this.wi = new Linear(heap, `${name}.W_i`, atomFeatures + bondFeatures, hidden, rng, {
      bias: false,
      weightDecay: wd,
    });
    this.wh = new Linear(heap, `${name}.W_h`, hidden, hidden, rng, { bias: false, weightDecay: wd });
    this.wo = new Linear(heap, `${name}.W_o`, atomFeatures + hidden, hidden, rng, { bias: true, weightDecay: wd });
  }

  /** The width of the atom embeddings the layer outputs (its hidden width). */
  get outFeatures(): number {
    return this.hidden;
  }

  params(): Parameter[] {
    return [this.wi.weight, this.wh.weight, this.wo.weight, this.wo.bias!];
  }

  /** Rows [r0, r0 + rows) of a [*, hidden] weight (or its gradient), as a matrix view. */
  private block(t: Tensor, r0: number, rows: number): Tensor {
    return Tensor.view(t.heap, 'float32', [rows, this.hidden], t.ptr + 4 * r0 * this.hidden);
  }

  private bonds(g: MessageGraph): { attr: Tensor; rev: Tensor<'int32'> } {
    const attr = g.edgeAttr;
    if (!attr || attr.shape[1] !== this.bondFeatures)
      throw argRangeError(
        this.name,
        'graph',
        `bond features of width ${this.bondFeatures}`,
        attr ? `width ${attr.shape[1]}` : 'none',
      );
    const rev = g.reverse();
    if (!rev)
      throw argRangeError(
        this.name,
        'graph',
        'every bond in both directions (v → w and w → v)',
        'an edge without its reverse',
      );
    return { attr, rev };
  }

  async forward(ctx: PassContext, x: Tensor): Promise<Tensor> {
    const g = this.graph(),
      { exec } = ctx,
      a = this.atomFeatures;
    const { attr, rev } = this.bonds(g);
    const src = g.adj.colIdx;
    const made: Tensor[] = [];
    const keep = <T extends Tensor>(t: T): T => {
      made.push(t);
      return t;
    };
    const xs = sparseAtoms(x);
    try {
      // H⁰ = x_src·W_i[:a] + e·W_i[a:], H¹ = ReLU(H⁰).
      const xa = keep(await atomsTimes(exec, x, xs, this.block(this.wi.weight.value, 0, a)));
      const h0 = keep(await gatherRows(exec, xa, src));
      const eb = keep(await matmul(exec, attr, this.block(this.wi.weight.value, a, this.bondFeatures)));
      await addInto(exec, eb, h0);
      const hs = [keep(await relu(exec, h0))],
        ms: Tensor[] = [];
      for (let t = 1; t < this.depth; t++) {
        const h = hs[hs.length - 1]!;
        const atoms = await spmm(exec, g.incidence, h);
        let m: Tensor;
        try {
          m = keep(await gatherRows(exec, atoms, src));
        } finally {
          atoms.free();
        }
        const back = await gatherRows(exec, h, rev);
        try {
          await axpy(exec, -1, back, m);
        } finally {
          back.free();
        }
        ms.push(m);
        // W_h's product through its Linear: the same GEMM, or the int8 one in a quantized model (graft quantize).
        const next = keep(await this.wh.project(ctx, m));
        await addInto(exec, h0, next);
        hs.push(await relu(exec, next, next));
      }
      const mv = keep(await spmm(exec, g.incidence, hs[hs.length - 1]!));
      const y = keep(await atomsTimes(exec, x, xs, this.block(this.wo.weight.value, 0, a)));
      const part = await matmul(exec, mv, this.block(this.wo.weight.value, a, this.hidden));
      try {
        await addInto(exec, part, y);
      } finally {
        part.free();
      }
      await biasAdd(exec, y, this.wo.bias!.value, { relu: true });
      xa.free();
      eb.free();
      this.tape = { x, xs, y, h0, hs, ms, mv };
      return y;
    } catch (err) {
      for (const t of made) t.free();
      xs?.x.free();
      xs?.xT.free();
      throw err;
    }
  }

  async backward(ctx: PassContext, gy: Tensor, needInputGrad: boolean): Promise<Tensor | null> {
    const t = this.tape;
    if (!t) throw new Error(`${this.name}: backward without forward`);
    this.tape = null;
    const g = this.graph(),
      { exec } = ctx,
      a = this.atomFeatures,
      hid = this.hidden;
    const { attr, rev } = this.bonds(g);
    const temps: Tensor[] = [];
    const tmp = <T extends Tensor>(x: T): T => {
      temps.push(x);
      return x;
    };
    let gx: Tensor | null = null;
    try {
      // Readout: y = ReLU(x·W_o[:a] + m·W_o[a:] + b).
      const dz = tmp(await reluBackward(exec, t.y, gy));
      await colSum(exec, dz, this.wo.bias!.grad);
      await this.atomsGrad(ctx, t, dz, this.block(this.wo.weight.grad, 0, a));
      await matmul(exec, t.mv, dz, this.block(this.wo.weight.grad, a, hid), { transA: true });
      if (needInputGrad)
        gx = await matmul(exec, dz, this.block(this.wo.weight.value, 0, a), undefined, { transB: true });
      const dmv = tmp(await matmul(exec, dz, this.block(this.wo.weight.value, a, hid), undefined, { transB: true }));
      let dh = tmp(await gatherRows(exec, dmv, g.dstOf)); // m_v = Σ_{k → v} H_kv
      const dh0 = tmp(await fill(exec, Tensor.empty(gy.heap, 'float32', t.h0.shape, 'D-MPNN dH0'), 0));
      await fill(exec, this.wh.weight.grad, 0);
      for (let s = this.depth - 1; s >= 1; s--) {
        // H^{s+1} = ReLU(H⁰ + M^s·W_h), M^s = gather_src(incidence·H^s) − H^s[rev].
        const dpre = tmp(await reluBackward(exec, t.hs[s]!, dh));
        await addInto(exec, dpre, dh0);
        const gw = await matmul(exec, t.ms[s - 1]!, dpre, undefined, { transA: true });
        try {
          await addInto(exec, gw, this.wh.weight.grad);
        } finally {
          gw.free();
        }
        const dm = tmp(await matmul(exec, dpre, this.wh.weight.value, undefined, { transB: true }));
        const atoms = tmp(await spmm(exec, g.incidenceT, dm));
        const next = tmp(await gatherRows(exec, atoms, g.dstOf));
        const back = tmp(await gatherRows(exec, dm, rev)); // rev is its own inverse
        await axpy(exec, -1, back, next);
        dh = next;
      }
      // H¹ = ReLU(H⁰); H⁰ = x_src·W_i[:a] + e·W_i[a:].
      const d0 = tmp(await reluBackward(exec, t.hs[0]!, dh));
      await addInto(exec, d0, dh0);
      await matmul(exec, attr, dh0, this.block(this.wi.weight.grad, a, this.bondFeatures), { transA: true });
      if (g.edgeAttrGrad) {
        // An explainer asked for ∂L/∂e: e enters only through H⁰'s e·W_i[a:].
        const ge = tmp(
          await matmul(exec, dh0, this.block(this.wi.weight.value, a, this.bondFeatures), undefined, { transB: true }),
        );
        await addInto(exec, ge, g.edgeAttrGrad);
      }
      const dxa = tmp(await spmm(exec, g.incidenceT, dh0));
      await this.atomsGrad(ctx, t, dxa, this.block(this.wi.weight.grad, 0, a));
      if (gx) {
        const part = await matmul(exec, dxa, this.block(this.wi.weight.value, 0, a), undefined, { transB: true });
        try {
          await addInto(exec, part, gx);
        } finally {
          part.free();
        }
      }
      return gx;
    } catch (err) {
      gx?.free();
      throw err;
    } finally {
      for (const x of temps) x.free();
      this.freeTape(t);
    }
  }

  /** Xᵀ·G into `out` (a weight gradient's atom rows), over X's nonzeros when X is sparse. */
  private async atomsGrad(
    ctx: PassContext,
    t: NonNullable<BondMessagePassing['tape']>,
    g: Tensor,
    out: Tensor,
  ): Promise<void> {
    if (t.xs) await spmm(ctx.exec, t.xs.xT, g, out);
    else await matmul(ctx.exec, t.x, g, out, { transA: true });
  }

  private freeTape(t: NonNullable<BondMessagePassing['tape']>): void {
    t.xs?.x.free();
    t.xs?.xT.free();
    t.h0.free();
    for (const h of t.hs) h.free();
    for (const m of t.ms) m.free();
    t.mv.free();
  }

  release(): void {
    if (this.tape) this.freeTape(this.tape);
    this.tape = null;
  }

  dispose(): void {
    this.release();
    this.wi.dispose();
    this.wh.dispose();
    this.wo.dispose();
  }
}
