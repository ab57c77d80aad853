import { gcnNormArrays } from '../graph/gcn-norm.js';
import type { Tensor } from '../memory/tensor.js';
import type { Runtime } from '../runtime/runtime.js';
import type { StudyData, StudyMarkers } from '../genomics/study-data.js';
import { gcnRegressorModel, trainGcnRegressor, type GcnRegressorConfig } from '../train/gcn-regressor.js';
import { attribute, perColumnAbs, type Baseline } from './attribution.js';
import { fidelity, type Fidelity } from './fidelity.js';
import { gnnExplainer } from './gnnexplainer.js';
import { columnObjective, GraphProbe, probeGraph, type Objective, type ProbeGraph } from './graph-probe.js';
import { markerSpace } from './marker-space.js';
import { loadWeights } from '../nn/load-weights.js';

// Which markers drive a genomic GCN's predictions. The explained quantity is the spread of the
// predictions, φ = (1/n) Σ_i z_i ŷ_i with z_i the model's own standardized prediction of
// sample i (fixed weights): what separates the samples predicted high from those predicted
// low, one scalar, so one batched integrated-gradients run explains every sample at once.
// Marker j of sample i gets A_ij (how much that genotype moves the predictions, its own and,
// through the graph, its neighbours'), and a marker's importance is Σ_i |A_ij|. For a linear
// model ŷ = Xβ, A_ij = z_i x_ij β_j / n: the ranking is that of the marker effects, so the
// GCN's can be set beside rrBLUP's and GBLUP's. (The plain mean of the predictions would do
// the same but barely moves from the baseline, so its completeness drowns in rounding.)

/** One trained member of a genomic GCN ensemble: its weights, seed and the trait's scale. */
export interface GcnMember {
  seed: number;
  weights: Map<string, Float32Array>;
  scale: { mean: number; sd: number };
}

/** Seeds of the members fitted on all phenotyped samples (apart from the cross-validation seeds). */
export const fullFitSeed = (c: GcnRegressorConfig, member: number): number => c.seed + 100_003 * member + 7_919;

/** Trains the ensemble on every phenotyped sample of a trait (what is explained: no fold held out). */
export async function fitGenomicMembers(
  rt: Runtime,
  data: StudyData,
  trait: number,
  c: GcnRegressorConfig,
): Promise<GcnMember[]> {
  const y = data.y[trait]!,
    train: number[] = [];
  for (let i = 0; i < data.n; i++) if (Number.isFinite(y[i]!)) train.push(i);
  const members: GcnMember[] = [];
  for (let e = 0; e < Math.max(1, c.ensemble); e++) {
    const seed = fullFitSeed(c, e);
    const r = await trainGcnRegressor(
      rt,
      {
        n: data.n,
        features: data.features,
        f: data.f,
        src: data.src,
        dst: data.dst,
        y,
        train: Int32Array.from(train),
        ...(data.featureBlocks ? { featureBlocks: data.featureBlocks } : {}),
      },
      { ...c, seed },
    );
    members.push({ seed, weights: r.weights, scale: r.scale });
  }
  return members;
}

/** A GraphProbe of one trained ensemble member over a shared normalized graph (explain and KernelSHAP both use it). */
export function memberProbe(
  rt: Runtime,
  data: StudyData,
  g: ProbeGraph,
  c: GcnRegressorConfig,
  m: GcnMember,
): GraphProbe {
  const blocks = data.featureBlocks ?? [data.f];
  return new GraphProbe(rt, g, (graph) => {
    const model = gcnRegressorModel<Tensor[]>(
      rt,
      { ...c, seed: m.seed },
      { f: data.f, ...(blocks.length > 1 ? { blocks } : {}) },
      graph,
      (i) => i,
    );
    loadWeights(model.params(), m.weights, `genomic GCN (seed ${m.seed})`);
    return { model, blocks, extras: [] };
  });
}

/** How explainGenomic scores markers: a gradient attribution or GNNExplainer's feature mask. */
export type GenomicMethod = 'ig' | 'saliency' | 'gxi' | 'gnnexplainer';

/**
 * What explainGenomic returns: an importance and a signed score per marker, φ and the completeness check, in trait units.
 */
export interface GenomicExplanation {
  method: GenomicMethod;
  /** Importance per marker (Σ_i |A_ij| in trait units; GNNExplainer: the mean feature mask). */
  importance: Float64Array;
  /** Σ_i A_ij (signed; NaN for GNNExplainer). */
  signed: Float64Array;
  /** φ of the ensemble (the spread of its predictions), and integrated gradients' completeness, in trait units. */
  value: number;
  completeness?: { baselineValue: number; sum: number; expected: number; error: number };
  /** GNNExplainer's edge mask, mean over members (per sample-graph edge). */
  edges: Float32Array | null;
  /** Integrated gradients: the most steps a member needed (refined until complete within 1%). */
  steps?: number;
  fidelity: Fidelity;
  /** max |features rebuilt from the markers − features| (0 up to rounding: the marker map is exact). */
  mapError: number;
  passes: number;
}

/** φ = (1/n) Σ_i z_i ŷ_i, z = the standardized predictions `own` (constant weights). */
function spreadObjective(own: Float32Array): Objective {
  const n = own.length;
  let mu = 0;
  for (const v of own) mu += v / n;
  let sd = 0;
  for (const v of own) sd += (v - mu) ** 2 / n;
  sd = Math.sqrt(sd) || 1;
  const w = Float32Array.from(own, (v) => (v - mu) / sd / n);
  return {
    rows: { kind: 'all' },
    eval(rows) {
      let value = 0;
      for (let i = 0; i < n; i++) value += w[i]! * rows[i]!;
      return { value, grad: w };
    },
  };
}

/** Explains the spread of the ensemble's predictions by marker; attributions are averaged over the members (each is linear in its model). */
export async function explainGenomic(
  rt: Runtime,
  data: StudyData,
  markers: StudyMarkers,
  c: GcnRegressorConfig,
  members: GcnMember[],
  o: { method: GenomicMethod; steps?: number; tolerance?: number; baseline?: Baseline; keep?: number },
): Promise<GenomicExplanation> {
  const m = markers.clean.m,
    n = data.n,
    M = members.length;
  const space = await markerSpace(rt, data, markers);
  // The sample graph is the same for every member.
  const graph = probeGraph(data.n, gcnNormArrays(data.n, data.src, data.dst), data.src, data.dst);
  const importance = new Float64Array(m),
    signed = new Float64Array(m);
  let value = 0,
    passes = 0,
    edges: Float32Array | null = null;
  let completeness: GenomicExplanation['completeness'];
  let steps: number | undefined;
  const fid: Fidelity = { plus: 0, minus: 0, keep: o.keep ?? 0.2 };
  try {
    for (const member of members) {
      const probe = memberProbe(rt, data, graph, c, member);
      const own = (await probe.run([{ x: await space.toModel(space.values) }], columnObjective({ kind: 'all' }, 0, 1)))
        .rows[0]!;
      const spread = spreadObjective(own);
      // Member outputs are standardized: trait units = output · sd (+ mean); the ensemble's φ is the members' mean.
      const unit = member.scale.sd / M;
      try {
        let scores: Float32Array;
        if (o.method === 'gnnexplainer') {
          const orig = own;
          const keepPredictions: Objective = {
            rows: { kind: 'all' },
            eval(rows) {
              const grad = new Float32Array(rows.length);
              let v = 0;
              for (let i = 0; i < rows.length; i++) {
                const d = rows[i]! - orig[i]!;
                v += (d * d) / n;
                grad[i] = (2 * d) / n;
              }
              return { value: v, grad };
            },
          };
          const g = await gnnExplainer(probe, space, keepPredictions, { featureMask: 'columns', seed: member.seed });
          for (let j = 0; j < m; j++) importance[j]! += g.featureMask[j]! / M;
          signed.fill(NaN);
          edges ??= new Float32Array(g.edges.length);
          for (let e = 0; e < g.edges.length; e++) edges[e]! += g.edges[e]! / M;
          passes += g.passes;
          scores = new Float32Array(space.values.length);
          for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) scores[i * m + j] = g.featureMask[j]!;
          value += (spread.eval(orig, 0).value * member.scale.sd) / M;
        } else {
          const a = await attribute(probe, space, spread, o.method, {
            steps: o.steps ?? 50,
            baseline: o.baseline ?? 'zero',
            ...(o.tolerance !== undefined ? { tolerance: o.tolerance } : {}),
          });
          const abs = perColumnAbs(a.features, m);
          for (let j = 0; j < m; j++) importance[j]! += abs[j]! * unit;
          for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) signed[j]! += a.features[i * m + j]! * unit;
          value += a.value * unit;
          if (a.completeness) {
            completeness ??= { baselineValue: 0, sum: 0, expected: 0, error: 0 };
            completeness.baselineValue += a.completeness.baselineValue * unit;
            completeness.sum += a.completeness.sum * unit;
            completeness.expected += a.completeness.expected * unit;
          }
          passes += a.passes;
          if (a.steps) steps = Math.max(steps ?? 0, a.steps);
          scores = a.features;
        }
        const f = await fidelity(probe, space, spread, { features: scores, edges: null }, 'value', 0, 1, fid.keep);
        fid.plus += (f.plus * member.scale.sd) / M;
        fid.minus += (f.minus * member.scale.sd) / M;
        passes += 1;
      } finally {
        probe.dispose();
      }
    }
    if (completeness) completeness.error = Math.abs(completeness.sum - completeness.expected);
    return {
      method: o.method,
      importance,
      signed,
      value,
      ...(completeness ? { completeness } : {}),
      ...(steps ? { steps } : {}),
      edges,
      fidelity: fid,
      mapError: space.mapError,
      passes,
    };
  } finally {
    space.dispose();
  }
}
