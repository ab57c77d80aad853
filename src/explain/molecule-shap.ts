import { argRangeError } from '../core/errors.js';
import type { GraphSample } from '../graph/batch.js';
import { kernelShapAsync } from './kernelshap.js';

// KernelSHAP of a hybrid graph-level model's descriptor branch, for one molecule: the molecule's
// graph (atoms, bonds, atom features) is held fixed and only its descriptor vector is masked,
// each absent descriptor taken from a background molecule's descriptors (interventional SHAP).
// Every coalition's rows are copies of the same molecule graph with different descriptor rows,
// scored in batches by the model's own batched predict, not one forward pass per coalition.
// A descriptor equal in the molecule and in every background row cannot change any masked row,
// so it is a null player with Shapley value exactly 0: only the others (the "active" ones) enter
// the fit, which for sparse fingerprints cuts 1024 features to the few dozen that differ.

/** Scores molecule graphs: one output row per sample, [samples, outputs] row-major (probabilities or values). */
export type MoleculeScoreFn = (samples: readonly GraphSample[]) => Promise<Float32Array>;

/** moleculeDescriptorShap's settings: the background descriptor rows, the output explained, the coalition budget and seed. */
export interface MoleculeShapOptions {
  /** Background molecules' descriptor vectors (each as long as the molecule's). */
  background: readonly Float32Array[];
  /** The model output (label column) explained. */
  output: number;
  /** The model's outputs per sample (columns of what `score` returns). */
  outputs: number;
  /** Coalitions evaluated (each costs background.length model rows); every one is enumerated when 2^active - 2 fit. */
  budget: number;
  seed: number;
}

/** One molecule's descriptor SHAP values: φ per descriptor (0 for the null players), the base value and the prediction. */
export interface MoleculeShap {
  /** φ per descriptor [descriptors]: base + Σ φ = prediction. */
  values: Float64Array;
  /** The model's mean output over the molecule's graph with each background descriptor row. */
  base: number;
  /** The model's output for the molecule as it is. */
  prediction: number;
  /** The descriptors that differ from at least one background row (the features fitted). */
  active: number[];
  coalitions: number;
  exact: boolean;
}

/**
 * Shapley values of the descriptors of one molecule `g` (its graph held fixed) for one output
 * of a hybrid model scored by `score`, against background descriptor rows. Additive: base +
 * Σ φ equals the prediction to rounding.
 *
 * @example
 * const s = await moleculeDescriptorShap((gs) => moleculeOutputs(trainer, 'multilabel', gs), g, { background, output: 0, outputs: 12, budget: 2048, seed: 1 });
 */
export async function moleculeDescriptorShap(
  score: MoleculeScoreFn,
  g: GraphSample,
  o: MoleculeShapOptions,
): Promise<MoleculeShap> {
  const x = g.descriptors;
  if (!x)
    throw argRangeError('moleculeDescriptorShap', 'g.descriptors', 'a descriptor vector (a hybrid model)', 'none');
  if (o.background.length === 0)
    throw argRangeError('moleculeDescriptorShap', 'options.background', 'at least one row', 0);
  const d = x.length;
  for (const b of o.background)
    if (b.length !== d)
      throw argRangeError('moleculeDescriptorShap', 'options.background', `rows of ${d} descriptors`, b.length);
  if (!(o.output >= 0 && o.output < o.outputs && Number.isInteger(o.output)))
    throw argRangeError('moleculeDescriptorShap', 'options.output', `an integer in [0, ${o.outputs})`, o.output);
  const active: number[] = [];
  for (let j = 0; j < d; j++) if (o.background.some((b) => b[j] !== x[j])) active.push(j);
  const f = active.length,
    rows = o.background.length;
  if (f === 0) {
    // Every background row is the molecule itself: nothing to attribute.
    const p = (await score([g]))[o.output]!;
    return { values: new Float64Array(d), base: p, prediction: p, active, coalitions: 0, exact: true };
  }
  const xa = Float64Array.from(active, (j) => x[j]!);
  const bg = new Float64Array(rows * f);
  o.background.forEach((b, r) => {
    active.forEach((j, k) => {
      bg[r * f + k] = b[j]!;
    });
  });
  const predict = async (masked: Float64Array, n: number): Promise<Float64Array> => {
    const samples: GraphSample[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const desc = Float32Array.from(x);
      for (let k = 0; k < f; k++) desc[active[k]!] = masked[i * f + k]!;
      samples[i] = { ...g, descriptors: desc };
    }
    const out = await score(samples);
    return Float64Array.from({ length: n }, (_, i) => out[i * o.outputs + o.output]!);
  };
  if (f === 1) {
    // One player: its value is the whole difference (the fit needs at least two).
    const [p] = await predict(xa, 1);
    const base = (await predict(bg, rows)).reduce((s, v) => s + v, 0) / rows;
    const values = new Float64Array(d);
    values[active[0]!] = p! - base;
    return { values, base, prediction: p!, active, coalitions: 0, exact: true };
  }
  const s = await kernelShapAsync(predict, xa, 1, f, {
    background: bg,
    backgroundRows: rows,
    budget: o.budget,
    seed: o.seed,
  });
  const values = new Float64Array(d);
  active.forEach((j, k) => {
    values[j] = s.values[k]!;
  });
  return {
    values,
    base: s.base[0]!,
    prediction: s.prediction[0]!,
    active,
    coalitions: s.coalitions,
    exact: s.exact,
  };
}
