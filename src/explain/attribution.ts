import { argRangeError } from '../core/errors.js';
import type { GraphProbe, Objective, ProbeCopy } from './graph-probe.js';

// Gradient attributions through the engine's own backward pass: saliency, gradient × input
// and integrated gradients (Sundararajan et al. 2017), for the features and the edges of one
// explained graph. The path points of integrated gradients are run as copies of the graph in
// one batch, so 50 steps cost a few passes, not 50.

/**
 * The values a user sees attributions on, and how the model's features follow from them.
 * Most models read them as they are (identity). A genomic GCN reads principal-component
 * scores of the markers, a linear map F = A·V; attributions are then on the markers A, by
 * the chain rule (∂φ/∂A = ∂φ/∂F · Vᵀ), exact because the map is linear.
 */
export interface FeatureSpace {
  /** Attributed values, [nodes, width] row-major. */
  values: Float32Array;
  width: number;
  /** The model's features of attributed values `a` (linear; identity: a itself). */
  toModel(a: Float32Array): Promise<Float32Array>;
  /** ∂φ/∂A from ∂φ/∂F (the transpose of toModel). */
  gradToSpace(g: Float32Array): Promise<Float32Array>;
}

/** The feature space of a model that reads its features as they are: attributions are on the features themselves. */
export function identitySpace(values: Float32Array, width: number): FeatureSpace {
  return { values, width, toModel: async (a) => a, gradToSpace: async (g) => g };
}

/**
 * The gradient attributions (Captum's names): 'ig' integrated gradients, 'saliency' |∂φ/∂x|, 'gxi' gradient × input.
 */
export type GradientMethod = 'ig' | 'saliency' | 'gxi';
/** Integrated gradients' starting point: all zeros, or each feature column's mean over the nodes. */
export type Baseline = 'zero' | 'mean';

/** Options of attribute: integrated gradients' steps, refinement and baseline, and whether edges are attributed too. */
export interface AttributionOptions {
  /** Integrated gradients: points on the path (midpoint rule). */
  steps?: number;
  /**
   * Integrated gradients: while the completeness error exceeds this fraction of
   * |φ(x) − φ(baseline)| (and 1e-4), the steps are doubled, up to `maxSteps` (as Captum's
   * convergence delta is meant to be used). 0: never refine.
   */
  tolerance?: number;
  /** Default: 8 × steps. */
  maxSteps?: number;
  baseline?: Baseline;
  /** Attribute the edges too (a mask per edge, 1 = as it is). */
  edges?: boolean;
}

/**
 * What attribute returns: a score per feature value (and per edge when asked), φ at the input,
 * integrated gradients' completeness check, and the passes it took.
 */
export interface Attribution {
  method: GradientMethod;
  /** Per attributed value, [nodes, width]: signed (saliency: |gradient|). */
  features: Float32Array;
  /** Per undirected edge, or null. */
  edges: Float32Array | null;
  /** φ at the input. */
  value: number;
  /**
   * Integrated gradients' completeness: the attributions should add up to
   * φ(input) − φ(baseline) (edges on the path from no edge to the graph as it is).
   */
  completeness?: { baselineValue: number; sum: number; expected: number; error: number };
  /** Forward + backward passes run. */
  passes: number;
  /** Integrated gradients: the steps of the reported result (refined from the steps asked for when needed). */
  steps?: number;
}

/** The baseline of attributed values: zero, or each column's mean over the nodes. */
export function baselineOf(values: Float32Array, width: number, kind: Baseline): Float32Array {
  const b = new Float32Array(values.length);
  if (kind === 'zero') return b;
  const rows = values.length / width,
    mean = new Float64Array(width);
  for (let i = 0; i < rows; i++) for (let j = 0; j < width; j++) mean[j]! += values[i * width + j]!;
  for (let i = 0; i < rows; i++) for (let j = 0; j < width; j++) b[i * width + j] = mean[j]! / rows;
  return b;
}

/**
 * Attributes the objective φ of one graph to its feature values (and edges) by saliency,
 * gradient × input or integrated gradients, through the engine's own backward pass. The path
 * points of integrated gradients run as copies of the graph in a batch, and the steps double
 * until the attributions add up to φ(input) − φ(baseline) within `tolerance`.
 */
export async function attribute(
  probe: GraphProbe,
  space: FeatureSpace,
  objective: Objective,
  method: GradientMethod,
  o: AttributionOptions = {},
): Promise<Attribution> {
  const steps = o.steps ?? 50;
  if (!Number.isInteger(steps) || steps < 1)
    throw argRangeError('attribute', 'options.steps', 'a positive integer', steps);
  const edges = o.edges === true;
  const fx = await space.toModel(space.values);
  if (method !== 'ig') {
    const r = await probe.run([{ x: fx }], objective, { grads: true, edgeGrads: edges });
    const ga = await space.gradToSpace(r.grads[0]!);
    const features = new Float32Array(ga.length);
    for (let k = 0; k < ga.length; k++)
      features[k] = method === 'saliency' ? Math.abs(ga[k]!) : ga[k]! * space.values[k]!;
    const eg = edges ? r.edgeGrads[0]! : null;
    return {
      method,
      features,
      edges: eg && method === 'saliency' ? eg.map(Math.abs) : eg,
      value: r.values[0]!,
      passes: Math.ceil(1 / probe.chunk),
    };
  }
  // The path's ends (baseline, and φ at both ends) are the same for every number of steps.
  const b = baselineOf(space.values, space.width, o.baseline ?? 'zero');
  const fb = await space.toModel(b);
  const E = probe.graph.src.length;
  const at = await probe.run([{ x: fx }, edges ? { x: fb, edgeMask: new Float32Array(E) } : { x: fb }], objective);
  const ends: PathEnds = { fx, b, fb, fx0: at.values[0]!, fb0: at.values[1]! };
  const tolerance = o.tolerance ?? 0.01,
    maxSteps = o.maxSteps ?? 8 * steps;
  let r = await integrated(probe, space, objective, ends, steps, edges);
  let passes = r.passes + 1;
  for (let s = steps * 2; s <= maxSteps && tolerance > 0; s *= 2) {
    const c = r.completeness!;
    if (c.error <= Math.max(tolerance * Math.abs(c.expected), 1e-4)) break;
    r = await integrated(probe, space, objective, ends, s, edges);
    passes += r.passes;
  }
  return { ...r, passes };
}

/** The ends of the integration path: the input and the baseline (attributed values and model features), and φ at each. */
interface PathEnds {
  fx: Float32Array;
  b: Float32Array;
  fb: Float32Array;
  fx0: number;
  fb0: number;
}

/**
 * Integrated gradients on the straight path from (baseline, no edges) to (input, edges):
 * A = (x − b) ⊙ mean over α of ∇φ(b + α(x − b)), α at the midpoints of `steps` intervals.
 */
async function integrated(
  probe: GraphProbe,
  space: FeatureSpace,
  objective: Objective,
  ends: PathEnds,
  steps: number,
  edges: boolean,
): Promise<Attribution> {
  const E = probe.graph.src.length,
    { fx, b, fb } = ends;
  const copies: ProbeCopy[] = [];
  for (let k = 0; k < steps; k++) {
    const a = (k + 0.5) / steps;
    const x = new Float32Array(fx.length);
    for (let i = 0; i < x.length; i++) x[i] = fb[i]! + a * (fx[i]! - fb[i]!);
    copies.push(edges ? { x, edgeMask: new Float32Array(E).fill(a) } : { x });
  }
  const r = await probe.run(copies, objective, { grads: true, edgeGrads: edges });
  const mean = new Float32Array(fx.length);
  for (const g of r.grads) for (let i = 0; i < mean.length; i++) mean[i]! += g[i]! / steps;
  const ga = await space.gradToSpace(mean);
  const features = new Float32Array(ga.length);
  let sum = 0;
  for (let k = 0; k < ga.length; k++) {
    features[k] = (space.values[k]! - b[k]!) * ga[k]!;
    sum += features[k]!;
  }
  let edgeAttr: Float32Array | null = null;
  if (edges) {
    edgeAttr = new Float32Array(E);
    for (const g of r.edgeGrads) for (let e = 0; e < E; e++) edgeAttr[e]! += g[e]! / steps;
    for (let e = 0; e < E; e++) sum += edgeAttr[e]!;
  }
  const expected = ends.fx0 - ends.fb0;
  return {
    method: 'ig',
    features,
    edges: edgeAttr,
    value: ends.fx0,
    steps,
    completeness: { baselineValue: ends.fb0, sum, expected, error: Math.abs(sum - expected) },
    passes: Math.ceil(steps / probe.chunk),
  };
}

/** Per node: the sum of its features' attributions (an atom's score, as Sanchez-Lengeling et al. sum them). */
export function perNode(features: Float32Array, width: number): Float32Array {
  const n = features.length / width,
    out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < width; j++) s += features[i * width + j]!;
    out[i] = s;
  }
  return out;
}

/** Per column: the sum over nodes of |attribution| (a marker's importance over all samples). */
export function perColumnAbs(features: Float32Array, width: number): Float64Array {
  const n = features.length / width,
    out = new Float64Array(width);
  for (let i = 0; i < n; i++) for (let j = 0; j < width; j++) out[j]! += Math.abs(features[i * width + j]!);
  return out;
}
