import { gcnNorm } from '../graph/gcn-norm.js';
import { Tensor } from '../memory/tensor.js';
import { loadWeights } from '../nn/load-weights.js';
import { splitColumns } from '../ops/columns.js';
import type { Runtime } from '../runtime/runtime.js';
import { uniformSoup, type Weights } from '../soup/average.js';
import { greedySoup } from '../soup/greedy.js';
import { gcnRegressorModel, type GcnRegressorConfig } from '../train/gcn-regressor.js';
import type { StudyData } from './study-data.js';

// Model soups of graft gp's GCN ensemble (Wortsman et al., ICML 2022): the members start from
// one initialization (one seed) and differ in their train seeds (dropout), so their weights can
// be averaged into one GCN. Scored per fold beside the ensemble of the same members.

/** How the members' weights are averaged: all of them, or greedily by inner validation score. */
export type GcnSoupRecipe = 'uniform' | 'greedy';
export const GCN_SOUP_RECIPES: readonly GcnSoupRecipe[] = ['uniform', 'greedy'];

/** graft gp's GCN settings: the regressor's, and the soup of its members (absent: no soup, members seeded apart). */
export interface GpGcnConfig extends GcnRegressorConfig {
  soup?: GcnSoupRecipe;
}

/**
 * Whether a finished gcn job (read back from a run folder's job cache) lacks the soup rows a
 * study with a soup needs: a job cached before graft gp kept the soup inside the gcn job's
 * result (it was a job of its own then). Such a job runs again: its members come out the same
 * bits (one seed, the same train seeds), now with their soup.
 */
export function lacksSoup(r: { job: { model: string }; perTrait: { soup?: unknown }[] }, gcn: GpGcnConfig): boolean {
  return gcn.soup !== undefined && r.job.model === 'gcn' && r.perTrait.some((pt) => pt.soup === undefined);
}

/** One trained member: its best-epoch weights and its prediction of every node (trait units). */
export interface SoupMemberFit {
  weights: Map<string, Float32Array>;
  predictions: Float64Array;
}

/** A soup's weights, its prediction of every node, and the members in it (0-based, in the order added). */
export interface GcnSoup {
  weights: Map<string, Float32Array>;
  predictions: Float64Array;
  ingredients: number[];
}

/**
 * The plain (or branched) genomic GCN of `c` with `weights` loaded, run once over the whole
 * sample graph: a prediction per node, output · scale.sd + scale.mean.
 */
export async function predictWithWeights(
  rt: Runtime,
  data: StudyData,
  c: GcnRegressorConfig,
  weights: Weights,
  scale: { mean: number; sd: number },
): Promise<Float64Array> {
  const heap = rt.heap;
  const blocks = data.featureBlocks && data.featureBlocks.length > 1 ? data.featureBlocks : null;
  const adj = gcnNorm(heap, data.n, data.src, data.dst, data.edgeWeights ? { weights: data.edgeWeights } : {});
  const x = Tensor.from(heap, 'float32', [data.n, data.f], data.features);
  const held = blocks ? splitColumns(heap, x, blocks) : [x];
  const model = gcnRegressorModel<void>(
    rt,
    c,
    { f: data.f, ...(blocks ? { blocks } : {}) },
    () => ({ adj }),
    () => held,
  );
  try {
    loadWeights(model.params(), weights, 'GCN soup');
    const ev = await model.forward({ exec: rt.exec, training: false, seed: c.seed, step: 0 }, undefined);
    const raw = ev.data() as Float32Array;
    const out = Float64Array.from({ length: data.n }, (_, i) => raw[i]! * scale.sd + scale.mean);
    model.release();
    return out;
  } finally {
    model.dispose();
    adj.free();
    if (blocks) for (const t of held) t.free();
    x.free();
  }
}

/** Mean squared error of `pred` on the nodes `val` (trait units). */
function validationMse(pred: Float64Array, y: Float64Array, val: Int32Array): number {
  let s = 0;
  for (const i of val) s += (pred[i]! - y[i]!) ** 2;
  return s / val.length;
}

/**
 * The soup of members trained from one initialization on the same training and validation
 * nodes (so one scale): 'uniform', the mean of every member's weights; 'greedy', members in
 * order of their own validation MSE, each kept only when the soup's validation MSE does not
 * get worse (soup/greedy.ts, scored as −MSE).
 */
export async function gcnSoup(
  rt: Runtime,
  data: StudyData,
  c: GcnRegressorConfig,
  recipe: GcnSoupRecipe,
  members: readonly SoupMemberFit[],
  scale: { mean: number; sd: number },
  y: Float64Array,
  val: Int32Array,
): Promise<GcnSoup> {
  const predict = (w: Weights) => predictWithWeights(rt, data, c, w, scale);
  if (recipe === 'uniform') {
    const weights = uniformSoup(members.map((m) => m.weights));
    return { weights, predictions: await predict(weights), ingredients: members.map((_, e) => e) };
  }
  const soup = await greedySoup(
    members.map((m, e) => ({ name: String(e), weights: m.weights, score: -validationMse(m.predictions, y, val) })),
    async (w) => -validationMse(await predict(w), y, val),
  );
  return { weights: soup.weights, predictions: await predict(soup.weights), ingredients: soup.ingredients.map(Number) };
}
