import { argRangeError } from '../core/errors.js';
import { CsrMatrix } from '../graph/csr.js';
import type { PassContext } from '../nn/layer.js';
import type { Propagation } from '../nn/layers.js';
import type { Model } from '../nn/model.js';
import { concatColumns, splitColumns } from '../ops/columns.js';
import type { Runtime } from '../runtime/runtime.js';
import { Tensor } from '../memory/tensor.js';

// One explained graph, run as many copies at once: the copies sit side by side in one
// block-diagonal Â (as a batch of molecules does), so the points of an integrated-gradients
// path, or the masked variants fidelity needs, cost one forward and one backward pass per
// chunk of copies, not one per copy.

/** The graph an explanation is about, as the model propagates over it. */
export interface ProbeGraph {
  nodes: number;
  /** Â (normalized, self loops included) in CSR. */
  rowPtr: Int32Array;
  colIdx: Int32Array;
  vals: Float32Array;
  /** Per nonzero of Â: its undirected edge (index into src/dst), or −1 for a self loop (never masked). */
  edgeOf: Int32Array;
  /** The undirected edges, each once. */
  src: Int32Array;
  dst: Int32Array;
}

/** What the model's inputs are: the attributed features (cut into `blocks` columns when the model has one branch per block), then fixed extras. */
export interface ProbeModel {
  model: Model<Tensor[]>;
  /** Feature columns per attributed input tensor (one entry: all features). */
  blocks: number[];
  /** Inputs after the attributed ones, held at their value: per copy a block of rows (covariates [nodes, c], descriptors [1, d]). */
  extras: { values: Float32Array; width: number }[];
  /**
   * A model whose edges are not Â's entries (message-passing layers) reads each copy's edge
   * mask from the factory's `copies` and gives ∂φ/∂mask itself after a backward pass: per
   * copy, one value per undirected edge. Absent: the gradient is taken through Â's values.
   */
  edgeGrads?: () => Float32Array[];
}

/** The copies of the current pass as a model that reads edge masks itself sees them (ProbeModel.edgeGrads). */
export interface ProbeCopies {
  /** Per copy, its multiplier per undirected edge (undefined: the graph as it is). */
  masks: (Float32Array | undefined)[];
  /** Whether this pass's backward must give ∂φ/∂mask. */
  edgeGrads: boolean;
}

/**
 * Builds the model over the probe's current batch (its Â and, for a pooled model, the copies'
 * node offsets; `copies`: the pass's edge masks, for a model that reads them itself).
 */
export type ProbeModelFactory = (
  graph: () => Propagation,
  offsets: () => Tensor,
  copies: () => ProbeCopies,
) => ProbeModel;

/**
 * The scalar explained per copy, from that copy's output rows (all of them, or one node's,
 * or its graph's pooled row): value and gradient with respect to those rows.
 */
export interface Objective {
  rows: { kind: 'graph' } | { kind: 'node'; node: number } | { kind: 'all' };
  /** φ(rows of copy s) and ∂φ/∂rows (same length). */
  eval(rows: Float32Array, copy: number): { value: number; grad: Float32Array };
}

/** The output column as the objective (a class logit, a label's logit, a trait). */
export function columnObjective(rows: Objective['rows'], column: number, width: number): Objective {
  return {
    rows,
    eval(r) {
      const grad = new Float32Array(r.length);
      let value = 0;
      for (let i = column; i < r.length; i += width) {
        value += r[i]!;
        grad[i] = 1;
      }
      return { value, grad };
    },
  };
}

/** What GraphProbe.run returns: φ and the output rows of each copy, and the gradients asked for. */
export interface ProbeResult {
  /** φ per copy. */
  values: Float64Array;
  /** Output rows per copy (what φ read). */
  rows: Float32Array[];
  /** ∂φ/∂features per copy, [nodes, features] (when asked). */
  grads: Float32Array[];
  /** ∂φ/∂mask per copy, one per undirected edge (when asked). */
  edgeGrads: Float32Array[];
}

/**
 * One copy of the probed graph: its features, and a multiplier per edge (masked or on an integrated-gradients path).
 */
export interface ProbeCopy {
  /** Features [nodes, features]. */
  x: Float32Array;
  /** Multiplier per undirected edge (default 1: the graph as it is). */
  edgeMask?: Float32Array;
}

/** Runs copies of one graph through a trained model, forward and, when asked, backward to the features and edges. */
export class GraphProbe {
  private readonly pm: ProbeModel;
  private current: { prop: Propagation; offsets: Tensor; copies: ProbeCopies } | null = null;
  readonly features: number;

  constructor(
    private readonly rt: Runtime,
    readonly graph: ProbeGraph,
    factory: ProbeModelFactory,
    /** Floats of features per pass: copies are run in chunks of about this size. */
    private readonly budget = 1 << 22,
  ) {
    this.pm = factory(
      () => this.batch().prop,
      () => this.batch().offsets,
      () => this.batch().copies,
    );
    this.features = this.pm.blocks.reduce((a, b) => a + b, 0);
  }

  private batch(): { prop: Propagation; offsets: Tensor; copies: ProbeCopies } {
    if (!this.current) throw new Error('GraphProbe: the model ran outside a probe pass');
    return this.current;
  }

  /** Copies per pass: as many as fit the budget, at least one. */
  get chunk(): number {
    return Math.max(1, Math.floor(this.budget / Math.max(1, this.graph.nodes * this.features)));
  }

  /**
   * Runs the copies forward in chunks (one batch each) and returns φ per copy, with ∂φ/∂features and ∂φ/∂edges when `want` asks for them.
   */
  async run(
    copies: readonly ProbeCopy[],
    objective: Objective,
    want: { grads?: boolean; edgeGrads?: boolean } = {},
  ): Promise<ProbeResult> {
    const out: ProbeResult = { values: new Float64Array(copies.length), rows: [], grads: [], edgeGrads: [] };
    for (let c0 = 0; c0 < copies.length; c0 += this.chunk) {
      const part = await this.pass(copies.slice(c0, c0 + this.chunk), c0, objective, want);
      out.values.set(part.values, c0);
      out.rows.push(...part.rows);
      out.grads.push(...part.grads);
      out.edgeGrads.push(...part.edgeGrads);
    }
    return out;
  }

  private async pass(
    copies: readonly ProbeCopy[],
    first: number,
    objective: Objective,
    want: { grads?: boolean; edgeGrads?: boolean },
  ): Promise<ProbeResult> {
    const g = this.graph,
      n = g.nodes,
      F = this.features,
      S = copies.length,
      nnz = g.colIdx.length,
      E = g.src.length;
    const heap = this.rt.heap;
    const rowPtr = new Int32Array(S * n + 1),
      colIdx = new Int32Array(S * nnz),
      vals = new Float32Array(S * nnz);
    const x = new Float32Array(S * n * F);
    copies.forEach((c, s) => {
      if (c.x.length !== n * F)
        throw argRangeError(
          'GraphProbe.run',
          `copies[${first + s}].x`,
          `${n * F} values (${n} nodes × ${F} features)`,
          c.x.length,
        );
      if (c.edgeMask && c.edgeMask.length !== E)
        throw argRangeError(
          'GraphProbe.run',
          `copies[${first + s}].edgeMask`,
          `${E} values (one per edge)`,
          c.edgeMask.length,
        );
      x.set(c.x, s * n * F);
      for (let r = 0; r < n; r++) rowPtr[s * n + r + 1] = s * nnz + g.rowPtr[r + 1]!;
      for (let k = 0; k < nnz; k++) {
        colIdx[s * nnz + k] = g.colIdx[k]! + s * n;
        const e = g.edgeOf[k]!;
        vals[s * nnz + k] = e >= 0 && c.edgeMask ? g.vals[k]! * c.edgeMask[e]! : g.vals[k]!;
      }
    });
    const adj = CsrMatrix.fromArrays(heap, S * n, S * n, rowPtr, colIdx, vals);
    const edgeGrad =
      want.edgeGrads && !this.pm.edgeGrads ? Tensor.zeros(heap, 'float32', [S * nnz], 'edge gradient') : undefined;
    const offsets = Tensor.from(
      heap,
      'int32',
      [S + 1],
      Int32Array.from({ length: S + 1 }, (_, s) => s * n),
    );
    const xt = Tensor.from(heap, 'float32', [S * n, F], x);
    const inputs = this.pm.blocks.length > 1 ? splitColumns(heap, xt, this.pm.blocks) : [xt];
    const extras = this.pm.extras.map((e) => {
      const rows = e.values.length / e.width;
      const v = new Float32Array(S * e.values.length);
      for (let s = 0; s < S; s++) v.set(e.values, s * e.values.length);
      return Tensor.from(heap, 'float32', [S * rows, e.width], v);
    });
    this.current = {
      prop: { adj, ...(edgeGrad ? { edgeGrad } : {}) },
      offsets,
      copies: { masks: copies.map((c) => c.edgeMask), edgeGrads: want.edgeGrads === true },
    };
    const ctx: PassContext = { exec: this.rt.exec, training: false, seed: 0, step: 0 };
    let inGrads: Tensor[] | null = null;
    try {
      const y = await this.pm.model.forward(ctx, [...inputs, ...extras]);
      const [rowsOut, width] = y.shape as [number, number];
      const perCopy = rowsOut / S;
      const yd = y.data() as Float32Array;
      const res: ProbeResult = { values: new Float64Array(S), rows: [], grads: [], edgeGrads: [] };
      const gOut = new Float32Array(yd.length);
      for (let s = 0; s < S; s++) {
        const r0 = objective.rows.kind === 'node' ? s * perCopy + objective.rows.node : s * perCopy;
        const r1 = objective.rows.kind === 'node' ? r0 + 1 : (s + 1) * perCopy;
        const rows = yd.slice(r0 * width, r1 * width);
        const { value, grad } = objective.eval(rows, first + s);
        res.values[s] = value;
        res.rows.push(rows);
        gOut.set(grad, r0 * width);
      }
      if (!want.grads && !want.edgeGrads) {
        this.pm.model.release();
        return res;
      }
      const gt = Tensor.from(heap, 'float32', [rowsOut, width], gOut);
      try {
        inGrads = await this.pm.model.backward(ctx, gt, want.grads === true);
      } finally {
        gt.free();
      }
      if (want.grads && inGrads) {
        const attributed = inGrads.slice(0, this.pm.blocks.length);
        const full = attributed.length > 1 ? concatColumns(heap, attributed) : attributed[0]!;
        const gd = full.data() as Float32Array;
        for (let s = 0; s < S; s++) res.grads.push(gd.slice(s * n * F, (s + 1) * n * F));
        if (full !== attributed[0]) full.free();
      }
      if (want.edgeGrads && this.pm.edgeGrads) res.edgeGrads.push(...this.pm.edgeGrads());
      else if (edgeGrad) {
        // ∂φ/∂mask_e = Σ over e's entries (both directions) of ∂φ/∂P_k · Â_k, as P = Â ⊙ mask.
        const eg = edgeGrad.data() as Float32Array;
        for (let s = 0; s < S; s++) {
          const ge = new Float32Array(E);
          for (let k = 0; k < nnz; k++) {
            const e = g.edgeOf[k]!;
            if (e >= 0) ge[e]! += eg[s * nnz + k]! * g.vals[k]!;
          }
          res.edgeGrads.push(ge);
        }
      }
      return res;
    } finally {
      this.current = null;
      for (const t of inGrads ?? []) t.free();
      adj.free();
      edgeGrad?.free();
      offsets.free();
      for (const t of inputs) if (t !== xt) t.free();
      xt.free();
      for (const t of extras) t.free();
    }
  }

  /** Frees the probe's model. */
  dispose(): void {
    this.pm.model.dispose();
  }
}

/**
 * A probe graph from undirected edges: Â = D^-1/2 (A+I) D^-1/2 (gcnNorm's arithmetic) and
 * the map from Â's nonzeros back to the edges.
 */
export function probeGraph(
  nodes: number,
  norm: { rowPtr: Int32Array; colIdx: Int32Array; vals: Float32Array },
  src: Int32Array,
  dst: Int32Array,
): ProbeGraph {
  const edgeAt = new Map<number, number>();
  for (let e = 0; e < src.length; e++) {
    const a = Math.min(src[e]!, dst[e]!),
      b = Math.max(src[e]!, dst[e]!);
    if (a !== b && !edgeAt.has(a * nodes + b)) edgeAt.set(a * nodes + b, e);
  }
  const edgeOf = new Int32Array(norm.colIdx.length).fill(-1);
  for (let r = 0; r < nodes; r++) {
    for (let k = norm.rowPtr[r]!; k < norm.rowPtr[r + 1]!; k++) {
      const c = norm.colIdx[k]!;
      if (c !== r) edgeOf[k] = edgeAt.get(Math.min(r, c) * nodes + Math.max(r, c)) ?? -1;
    }
  }
  return { nodes, ...norm, edgeOf, src, dst };
}
