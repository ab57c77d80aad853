import { GraftError } from '../core/errors.js';
import { loadCheckpoint, saveCheckpoint, type StoredTensor } from '../train/checkpoint.js';
import type { Augmentation } from './augment.js';
import type { MicrobiomeData } from './data.js';
import { fitMbModel, scoreMbModel, type FittedMbModel, type MbModel, type MbModelSettings } from './models.js';
import { NORMALIZATIONS, type Normalization } from './normalize.js';
import { applyPreprocessing, fitPreprocessing, preprocess, type FittedPreprocessing } from './pipeline.js';
import { Forest } from './random-forest.js';
import { withAugmented } from './study.js';
import { ZERO_REPLACEMENTS, type ZeroReplacement } from './zeros.js';

// A `graft mb` model kept for new samples (scikit-learn's Pipeline: the fitted preprocessing
// stored with the model): the taxa in the model's order, the preprocessing with whatever it
// learned from the training table, and the fitted forest or linear model. One safetensors file
// (format 'graft-mb-model'): arrays as tensors, the rest as JSON in the metadata. Float64
// arrays (thresholds, coefficients, fitted parameters) are stored as their little-endian bytes,
// tensors of shape [count, 8], so a reloaded model scores with the bits it was fitted with.

export const KEPT_MB_FORMAT = 'graft-mb-model';
const VERSION = '1';

export interface KeptMbModel {
  task: 'classification' | 'regression';
  /** Class names in the order of the score columns (classification), else []. */
  classNames: string[];
  /** The model's taxa, in the order of its features. */
  taxa: string[];
  preprocessing: FittedPreprocessing;
  model: FittedMbModel;
  /** What it was fitted on: samples (originals), rows (with augmented copies), the prevalence filter, the augmentation. */
  trainedOn: { samples: number; rows: number; minPrevalence: number; augment: Augmentation };
}

export interface KeepOptions {
  normalize: Normalization;
  zeros: ZeroReplacement;
  augment: Augmentation;
  /** Seeds the augmentation, rarefying and the forest, as a study fold's seed does. */
  seed: number;
  minPrevalence: number;
  settings: MbModelSettings;
}

/**
 * Fits `model` on every sample of d with the study's preprocessing: the same steps a fold's
 * training rows go through (augmented copies added, the table preprocessed, the model fitted
 * on all its rows), and records what the preprocessing learned for applyPreprocessing.
 */
export async function fitKeptModel(d: MicrobiomeData, model: MbModel, o: KeepOptions): Promise<KeptMbModel> {
  const all = Array.from({ length: d.n }, (_, i) => i);
  const table = withAugmented(d, all, o.augment, o.seed);
  const pre = { normalize: o.normalize, zeros: o.zeros, seed: o.seed };
  const x = preprocess(table.counts, table.n, d.p, pre);
  const fitted = await fitMbModel(model, {
    x, n: table.n, p: d.p, labels: table.labels, classes: d.classNames.length, target: table.target,
    fit: Int32Array.from({ length: table.n }, (_, i) => i), val: new Int32Array(0), test: new Int32Array(0), graph: null, seed: o.seed,
  }, o.settings);
  return {
    task: d.labels ? 'classification' : 'regression', classNames: d.labels ? [...d.classNames] : [], taxa: [...d.taxa],
    preprocessing: fitPreprocessing(table.counts, table.n, d.p, pre), model: fitted,
    trainedOn: { samples: d.n, rows: table.n, minPrevalence: o.minPrevalence, augment: o.augment },
  };
}

/**
 * Scores raw counts [n, taxa] whose columns are the model's taxa in its order (alignTaxa):
 * each sample preprocessed on its own with the fitted parameters, then the model. Returns
 * class probabilities [n, classes] or values [n].
 */
export function scoreKeptModel(k: KeptMbModel, counts: Float64Array, n: number): Float64Array {
  const p = k.taxa.length;
  const x = applyPreprocessing(k.preprocessing, counts, n, p);
  return scoreMbModel(k.model, x, p, Int32Array.from({ length: n }, (_, i) => i));
}

/**
 * New samples' counts [n, fileTaxa] as the model's columns, matched by taxon name: a model
 * taxon the file lacks counts 0 (absent), a file taxon the model lacks is dropped (unknown).
 */
export function alignTaxa(modelTaxa: readonly string[], fileTaxa: readonly string[], values: Float64Array, n: number): { counts: Float64Array; absent: string[]; unknown: string[] } {
  const at = new Map(fileTaxa.map((t, c) => [t, c]));
  const q = fileTaxa.length, p = modelTaxa.length;
  const counts = new Float64Array(n * p), absent: string[] = [];
  modelTaxa.forEach((t, j) => {
    const c = at.get(t);
    if (c === undefined) { absent.push(t); return; }
    for (let i = 0; i < n; i++) counts[i * p + j] = values[i * q + c]!;
  });
  const known = new Set(modelTaxa);
  return { counts, absent, unknown: fileTaxa.filter((t) => !known.has(t)) };
}

/** Float64 values as little-endian bytes [count, 8] (safetensors here holds no F64). */
function f64(a: Float64Array): StoredTensor {
  const bytes = new Uint8Array(a.length * 8), view = new DataView(bytes.buffer);
  a.forEach((v, i) => view.setFloat64(i * 8, v, true));
  return { shape: [a.length, 8], data: bytes };
}

function i32(a: ArrayLike<number>): StoredTensor {
  return { shape: [a.length], data: Int32Array.from(a) };
}

export function saveKeptModel(file: string, k: KeptMbModel): void {
  const tensors = new Map<string, StoredTensor>();
  const pre = k.preprocessing;
  if (pre.gbm) { tensors.set('gbm.col_sum', f64(pre.gbm.colSum)); tensors.set('gbm.col_min', f64(pre.gbm.colMin)); }
  let shape: Record<string, number>;
  if (k.model.model === 'rf') {
    const j = k.model.forest.toJSON() as { task: string; classes: number; f: number; oobScore: number | null; trees: Record<string, number[]>[] };
    const cat = (key: string): number[] => j.trees.flatMap((t) => t[key]!);
    tensors.set('forest.tree_nodes', i32(j.trees.map((t) => t['feature']!.length)));
    for (const key of ['feature', 'left', 'right', 'samples']) tensors.set(`forest.${key}`, i32(cat(key)));
    for (const key of ['threshold', 'values', 'importance']) tensors.set(`forest.${key}`, f64(Float64Array.from(cat(key))));
    shape = { classes: j.classes, features: j.f };
  } else {
    tensors.set('linear.mean', f64(k.model.mean));
    tensors.set('linear.sd', f64(k.model.sd));
    tensors.set('linear.betas', f64(k.model.betas));
    shape = { classes: k.model.classes };
  }
  const preprocessing = {
    normalize: pre.normalize, zeros: pre.zeros, seed: pre.seed,
    ...(pre.rarefyDepth !== undefined ? { rarefy_depth: pre.rarefyDepth } : {}), ...(pre.cssQuantile !== undefined ? { css_quantile: pre.cssQuantile } : {}),
    ...(pre.common !== undefined ? { common_total: pre.common } : {}), ...(pre.mclrShift !== undefined ? { mclr_shift: pre.mclrShift } : {}),
  };
  const meta = {
    task: k.task, class_names: k.classNames, model: k.model.model, shape, taxa: k.taxa, preprocessing,
    trained_on: { samples: k.trainedOn.samples, rows: k.trainedOn.rows, min_prevalence: k.trainedOn.minPrevalence, augment: k.trainedOn.augment },
  };
  saveCheckpoint(file, { tensors, metadata: { format: KEPT_MB_FORMAT, version: VERSION, model: JSON.stringify(meta) } });
}

/** Reads saveKeptModel's file back; anything missing or malformed is one line naming the file. */
export function loadKeptModel(file: string): KeptMbModel {
  const cp = loadCheckpoint(file);
  const bad = (what: string): GraftError => new GraftError(`${file}: not a usable graft mb model (${what})`);
  if (cp.metadata['format'] !== KEPT_MB_FORMAT) throw bad(`format ${JSON.stringify(cp.metadata['format'] ?? null)}, expected '${KEPT_MB_FORMAT}'`);
  if (cp.metadata['version'] !== VERSION) throw bad(`version ${JSON.stringify(cp.metadata['version'] ?? null)}, this graft reads ${VERSION}`);
  let m: Record<string, unknown>;
  try { m = JSON.parse(cp.metadata['model'] ?? '') as Record<string, unknown>; } catch { throw bad('its model metadata is not JSON'); }
  const tensor = (name: string): StoredTensor => { const t = cp.tensors.get(name); if (!t) throw bad(`no tensor ${name}`); return t; };
  const float64 = (name: string, length?: number): Float64Array => {
    const t = tensor(name);
    if (!(t.data instanceof Uint8Array) || t.shape.length !== 2 || t.shape[1] !== 8) throw bad(`${name} is not float64 bytes [count, 8]`);
    const view = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    const out = Float64Array.from({ length: t.shape[0]! }, (_, i) => view.getFloat64(i * 8, true));
    if (length !== undefined && out.length !== length) throw bad(`${name} holds ${out.length} values, expected ${length}`);
    return out;
  };
  const int32 = (name: string): Int32Array => { const t = tensor(name); if (!(t.data instanceof Int32Array)) throw bad(`${name} is not int32`); return t.data; };
  const taxa = m['taxa'], classNames = m['class_names'], task = m['task'], pre = m['preprocessing'] as Record<string, unknown> | undefined, shape = m['shape'] as Record<string, number> | undefined;
  if (!Array.isArray(taxa) || taxa.length === 0 || !taxa.every((t) => typeof t === 'string')) throw bad('no taxa list');
  if (task !== 'classification' && task !== 'regression') throw bad(`task ${JSON.stringify(task)}`);
  if (!Array.isArray(classNames) || !classNames.every((c) => typeof c === 'string') || (task === 'classification') !== classNames.length >= 2) throw bad('class names do not fit the task');
  if (!pre || !NORMALIZATIONS.includes(pre['normalize'] as Normalization) || !ZERO_REPLACEMENTS.includes(pre['zeros'] as ZeroReplacement) || !Number.isInteger(pre['seed'])) throw bad('preprocessing');
  if (!shape) throw bad('no shape');
  const p = taxa.length;
  const num = (key: string): number | undefined => {
    const v = pre[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(`preprocessing.${key} is ${JSON.stringify(v)}`);
    return v;
  };
  const fittedPre: FittedPreprocessing = { normalize: pre['normalize'] as Normalization, zeros: pre['zeros'] as ZeroReplacement, seed: pre['seed'] as number };
  const need = (key: string): number => { const v = num(key); if (v === undefined) throw bad(`preprocessing.${key} is missing for ${fittedPre.normalize}`); return v; };
  if (fittedPre.normalize === 'rarefy') fittedPre.rarefyDepth = need('rarefy_depth');
  if (fittedPre.normalize === 'css') fittedPre.cssQuantile = need('css_quantile');
  if (fittedPre.normalize === 'com') fittedPre.common = need('common_total');
  const shift = num('mclr_shift');
  if (shift !== undefined) fittedPre.mclrShift = shift;
  if (fittedPre.zeros === 'gbm') fittedPre.gbm = { colSum: float64('gbm.col_sum', p), colMin: float64('gbm.col_min', p) };
  let model: FittedMbModel;
  const classes = task === 'classification' ? classNames.length : 0;
  if (shape['classes'] !== classes) throw bad(`shape.classes ${shape['classes']} does not fit ${classNames.length} class names`);
  if (m['model'] === 'rf') {
    if (shape['features'] !== p) throw bad(`the forest has ${shape['features']} features for ${p} taxa`);
    const sizes = int32('forest.tree_nodes');
    const nodes = sizes.reduce((a, b) => a + b, 0), stride = classes || 1;
    const feature = int32('forest.feature'), left = int32('forest.left'), right = int32('forest.right'), samples = int32('forest.samples');
    const threshold = float64('forest.threshold', nodes), values = float64('forest.values', nodes * stride), importance = float64('forest.importance', sizes.length * p);
    for (const [name, a] of [['feature', feature], ['left', left], ['right', right], ['samples', samples]] as const) if (a.length !== nodes) throw bad(`forest.${name} holds ${a.length} values, expected ${nodes}`);
    let at = 0;
    const trees = Array.from(sizes, (size, t) => {
      const slice = <T extends Int32Array | Float64Array>(a: T): number[] => Array.from(a.subarray(at, at + size));
      const tree = {
        feature: slice(feature), threshold: slice(threshold), left: slice(left), right: slice(right), samples: slice(samples),
        values: Array.from(values.subarray(at * stride, (at + size) * stride)), importance: Array.from(importance.subarray(t * p, t * p + p)),
      };
      at += size;
      return tree;
    });
    let forest: Forest;
    try {
      forest = Forest.fromJSON({ format: 'graft-random-forest', version: 1, task, classes, f: p, oobScore: null, trees });
    } catch (err) {
      throw bad((err as Error).message);
    }
    model = { model: 'rf', forest };
  } else if (m['model'] === 'logistic') {
    const count = classes === 0 || classes === 2 ? 1 : classes;
    model = { model: 'logistic', classes, mean: float64('linear.mean', p), sd: float64('linear.sd', p), betas: float64('linear.betas', count * (p + 1)) };
  } else {
    throw bad(`model ${JSON.stringify(m['model'])}`);
  }
  const t = (m['trained_on'] ?? {}) as Record<string, unknown>;
  return {
    task, classNames: classNames as string[], taxa: taxa as string[], preprocessing: fittedPre, model,
    trainedOn: { samples: Number(t['samples']), rows: Number(t['rows']), minPrevalence: Number(t['min_prevalence']), augment: (t['augment'] ?? 'none') as Augmentation },
  };
}
