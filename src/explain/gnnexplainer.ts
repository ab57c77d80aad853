import { Rng } from '../core/random.js';
import type { FeatureSpace } from './attribution.js';
import type { GraphProbe, Objective } from './graph-probe.js';

// GNNExplainer (Ying et al. 2019), with PyG's defaults: a soft mask on every edge and one on
// the features, learned by Adam so that the masked graph keeps the model's prediction while
// the masks stay small and near 0 or 1. The gradients come from the engine's backward pass:
// the input gradient for the feature mask, the GCN layers' edge gradient for the edge mask.

/**
 * GNNExplainer's options (PyG's names and defaults): epochs, learning rate, the feature mask's kind, the regularizer weights and the seed.
 */
export interface GnnExplainerOptions {
  epochs?: number;
  lr?: number;
  /** 'object': one mask per node (all its features); 'columns': one per feature column, shared by the nodes. */
  featureMask?: 'object' | 'columns';
  /** Regularizer weights (PyG's defaults). */
  edgeSize?: number;
  edgeEntropy?: number;
  featureSize?: number;
  featureEntropy?: number;
  seed?: number;
}

/** GNNExplainer's defaults, as PyG's: 100 epochs of Adam at lr 0.01 and its regularizer weights. */
export const GNNEXPLAINER_DEFAULTS = {
  epochs: 100,
  lr: 0.01,
  edgeSize: 0.005,
  edgeEntropy: 1.0,
  featureSize: 1.0,
  featureEntropy: 0.1,
  seed: 1,
} as const;

/** What gnnExplainer returns: the learned edge and feature masks, and the prediction loss at the start and end. */
export interface GnnExplanation {
  /** σ(edge logits), per undirected edge. */
  edges: Float32Array;
  /** σ(feature logits): per node ('object') or per column ('columns'). */
  featureMask: Float32Array;
  featureMaskKind: 'object' | 'columns';
  /** The prediction term of the loss at the start and the end. */
  loss: { first: number; last: number };
  passes: number;
}

const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));
const EPS = 1e-15;

/** Adam on a plain vector (the masks are small: no heap, no threads). */
class VectorAdam {
  private readonly m: Float64Array;
  private readonly v: Float64Array;
  private t = 0;
  constructor(
    size: number,
    private readonly lr: number,
  ) {
    this.m = new Float64Array(size);
    this.v = new Float64Array(size);
  }
  step(w: Float64Array, g: Float64Array): void {
    this.t++;
    const b1 = 0.9,
      b2 = 0.999,
      c1 = 1 - b1 ** this.t,
      c2 = 1 - b2 ** this.t;
    for (let i = 0; i < w.length; i++) {
      this.m[i] = b1 * this.m[i]! + (1 - b1) * g[i]!;
      this.v[i] = b2 * this.v[i]! + (1 - b2) * g[i]! * g[i]!;
      w[i]! -= (this.lr * this.m[i]!) / c1 / (Math.sqrt(this.v[i]! / c2) + 1e-8);
    }
  }
}

/**
 * Learns the masks for one objective. `loss` is the prediction term (an Objective whose value
 * is minimized: the negative log-probability of the explained class, or the squared change
 * of a regression output); size and entropy terms are added here.
 */
export async function gnnExplainer(
  probe: GraphProbe,
  space: FeatureSpace,
  loss: Objective,
  o: GnnExplainerOptions = {},
): Promise<GnnExplanation> {
  const c = { ...GNNEXPLAINER_DEFAULTS, ...o };
  const kind = o.featureMask ?? 'object';
  const n = probe.graph.nodes,
    E = probe.graph.src.length,
    W = space.width;
  const rng = new Rng(c.seed);
  // PyG's initial masks: edges N(1, gain(relu)·sqrt(2/(2n))), features N(0.1, 0.1).
  const edgeStd = Math.SQRT2 * Math.sqrt(2 / (2 * Math.max(1, n)));
  const edgeLogit = Float64Array.from({ length: E }, () => 1 + edgeStd * rng.normal());
  const featLogit = Float64Array.from({ length: kind === 'object' ? n : W }, () => 0.1 + 0.1 * rng.normal());
  const edgeOpt = new VectorAdam(E, c.lr),
    featOpt = new VectorAdam(featLogit.length, c.lr);
  let first = NaN,
    last = NaN;
  for (let epoch = 0; epoch < c.epochs; epoch++) {
    const em = Float32Array.from(edgeLogit, sigmoid),
      fm = Float64Array.from(featLogit, sigmoid);
    const masked = new Float32Array(space.values.length);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < W; j++) masked[i * W + j] = space.values[i * W + j]! * fm[kind === 'object' ? i : j]!;
    const r = await probe.run([{ x: await space.toModel(masked), edgeMask: em }], loss, {
      grads: true,
      edgeGrads: E > 0,
    });
    const pred = r.values[0]!;
    if (epoch === 0) first = pred;
    last = pred;
    const ga = await space.gradToSpace(r.grads[0]!);
    const gEdge = new Float64Array(E),
      gFeat = new Float64Array(featLogit.length);
    for (let e = 0; e < E; e++) {
      const s = em[e]!,
        ds = s * (1 - s);
      // size: Σ σ; entropy: mean of −s log s − (1−s) log(1−s), whose derivative in s is log((1−s)/s).
      const dEnt = Math.log((1 - s + EPS) / (s + EPS)) / E;
      gEdge[e] = (r.edgeGrads[0]![e]! + c.edgeSize + c.edgeEntropy * dEnt) * ds;
    }
    for (let i = 0; i < n; i++)
      for (let j = 0; j < W; j++) gFeat[kind === 'object' ? i : j]! += ga[i * W + j]! * space.values[i * W + j]!;
    const F = featLogit.length;
    for (let k = 0; k < F; k++) {
      const s = fm[k]!,
        ds = s * (1 - s);
      const dEnt = Math.log((1 - s + EPS) / (s + EPS)) / F;
      gFeat[k] = (gFeat[k]! + c.featureSize / F + c.featureEntropy * dEnt) * ds;
    }
    edgeOpt.step(edgeLogit, gEdge);
    featOpt.step(featLogit, gFeat);
  }
  return {
    edges: Float32Array.from(edgeLogit, sigmoid),
    featureMask: Float32Array.from(featLogit, sigmoid),
    featureMaskKind: kind,
    loss: { first, last },
    passes: c.epochs,
  };
}
