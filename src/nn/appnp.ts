import { axpy, fill, addInto, scale } from '../ops/elementwise.js';
import { spmm } from '../ops/sparse.js';
import { Tensor } from '../memory/tensor.js';
import type { Heap } from '../memory/heap.js';
import type { Rng } from '../core/random.js';
import type { Layer, Parameter, PassContext } from './layer.js';
import { Dropout, Linear, ReLU, type Propagation } from './layers.js';

/**
 * APPNP's propagation (Klicpera et al. 2019, personalized PageRank): Z₀ = H, then
 * Z_{k+1} = (1 − α)·Â·Z_k + α·H for K steps. The restart term keeps every node's own
 * prediction in the mix, so it smooths like a kernel and does not over-smooth with K. No
 * weights. Â is symmetric (gcnNorm), so the backward pass propagates with Â as well:
 * going back through the steps, ∂H collects α·G at each, and G becomes (1 − α)·Â·G.
 */
export class PersonalizedPageRank implements Layer {
  readonly kind = 'appnp';
  private ran = false;
  constructor(
    readonly steps: number,
    readonly alpha: number,
    readonly graph: () => Propagation,
  ) {}
  params(): Parameter[] {
    return [];
  }

  async forward(ctx: PassContext, h: Tensor): Promise<Tensor> {
    const adj = this.graph().adj;
    let z = h;
    for (let k = 0; k < this.steps; k++) {
      const next = await spmm(ctx.exec, adj, z);
      await scale(ctx.exec, next, 1 - this.alpha, next);
      await axpy(ctx.exec, this.alpha, h, next);
      if (z !== h) z.free();
      z = next;
    }
    this.ran = true;
    return z;
  }

  async backward(ctx: PassContext, gz: Tensor, needInputGrad: boolean): Promise<Tensor | null> {
    if (!this.ran) throw new Error('appnp: backward without forward');
    this.ran = false;
    if (!needInputGrad) return null;
    const adj = this.graph().adj;
    const gh = await fill(ctx.exec, Tensor.empty(gz.heap, 'float32', gz.shape as [number, number]), 0);
    let g = gz;
    for (let k = 0; k < this.steps; k++) {
      await axpy(ctx.exec, this.alpha, g, gh);
      const prev = await spmm(ctx.exec, adj, g);
      await scale(ctx.exec, prev, 1 - this.alpha, prev);
      if (g !== gz) g.free();
      g = prev;
    }
    await addInto(ctx.exec, g, gh);
    if (g !== gz) g.free();
    return gh;
  }

  release(): void {
    this.ran = false;
  }
  dispose(): void {}
}

export interface AppnpShape {
  inFeatures: number;
  hidden: number;
  out: number;
  dropout: number;
  weightDecay: number;
  /** Propagation steps K and restart probability α (the paper's 10 and 0.1). */
  steps: number;
  alpha: number;
}

/**
 * APPNP: predict, then propagate. A two-layer MLP on each node's features (dropout → Linear →
 * ReLU → dropout → Linear), then K steps of personalized PageRank over the graph. Weights are
 * drawn from `rng` in layer order (mlp0, mlp1).
 */
export function appnpStack(heap: Heap, rng: Rng, graph: () => Propagation, s: AppnpShape): Layer[] {
  const layers: Layer[] = [];
  if (s.dropout > 0) layers.push(new Dropout(s.dropout, 0));
  layers.push(new Linear(heap, 'mlp0', s.inFeatures, s.hidden, rng, { weightDecay: s.weightDecay }), new ReLU());
  if (s.dropout > 0) layers.push(new Dropout(s.dropout, 1));
  layers.push(new Linear(heap, 'mlp1', s.hidden, s.out, rng, { weightDecay: s.weightDecay }));
  layers.push(new PersonalizedPageRank(s.steps, s.alpha, graph));
  return layers;
}
