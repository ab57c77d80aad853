import type { CsrMatrix } from '../graph/csr.js';
import type { Tensor } from '../memory/tensor.js';
import type { Layer, Parameter, PassContext } from '../nn/layer.js';
import type { SAGEConv } from '../nn/sage-conv.js';

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
 * A SAGEConv (the same object: one model, one checkpoint, layer-wise inference on the full
 * graph with the SAGEConv itself) applied to a trimmed batch: X [C, in] → H [R, out], its own
 * arithmetic (SAGEConv.forwardOn) over the rectangular mean `graph()` (R × C).
 */
export class TrimmedSAGE implements Layer {
  readonly kind = 'sage-trimmed';

  constructor(
    readonly sage: SAGEConv,
    private readonly graph: () => TrimmedMean,
  ) {}

  params(): Parameter[] {
    return this.sage.params();
  }

  forward(ctx: PassContext, x: Tensor): Promise<Tensor> {
    return this.sage.forwardOn(ctx, x, this.graph().adj);
  }

  backward(ctx: PassContext, gy: Tensor, needInputGrad: boolean): Promise<Tensor | null> {
    return this.sage.backwardOn(ctx, gy, needInputGrad, this.graph());
  }

  release(): void {
    this.sage.release();
  }

  /** The parameters belong to the untrimmed model, which disposes them. */
  dispose(): void {
    this.release();
  }
}
