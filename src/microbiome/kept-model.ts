import { KeptMbFile, keptMbError } from '../compositional/kept-file.js';
import type { GraftError } from '../core/errors.js';
import type { Augmentation } from './augment.js';
import type { FittedBnn } from './bnn.js';
import type { MicrobiomeData } from './data.js';
import {
  type FittedMbModel,
  type FittedNeuralModel,
  type MbModel,
  type MbModelSettings,
  NEEDS_VALIDATION,
  fitMbModel,
  memberSpread,
  scoreGcnJoined,
  scoreMbMembers,
  scoreMbModel,
} from './models.js';
import type { Normalization } from './normalize.js';
import {
  type FittedPreprocessing,
  type SampleDistance,
  applyPreprocessing,
  compositionGraph,
  distanceProfiles,
  fitPreprocessing,
  nearestTrainingRows,
  preprocess,
} from './pipeline.js';
import { Forest } from './random-forest.js';
import { validationSplit, withAugmented } from './study.js';
import type { ZeroReplacement } from './zeros.js';
import type { Runtime } from '../runtime/runtime.js';
import { type StoredTensor, loadCheckpoint, saveCheckpoint } from '../train/checkpoint.js';
export { alignTaxa } from '../compositional/taxa.js';

// A `graft mb` model kept for new samples (scikit-learn's Pipeline: the fitted preprocessing
// stored with the model): the taxa in the model's order, the preprocessing with whatever it
// learned from the training table, and the fitted forest or linear model. One safetensors file
// (format 'graft-mb-model'): arrays as tensors, the rest as JSON in the metadata. Float64
// arrays (thresholds, coefficients, fitted parameters) are stored as their little-endian bytes,
// tensors of shape [count, 8], so a reloaded model scores with the bits it was fitted with.
// Version 1 holds rf or logistic; version 2 (written for mlp and gcn, whose layout version 1
// has no room for) adds the networks' weights (float32, as trained), their standardization,
// and for the GCN its training graph: rows' features, edges and distance profiles. Version 3
// (written for bnn) holds the BNN's posterior: each weight's μ and σ (float32, as trained),
// the standardization, and the number of posterior samples and the seed a prediction draws
// them with, so graft predict averages the same S weight draws the study's folds did.

export const KEPT_MB_FORMAT = 'graft-mb-model';
const VERSION_LINEAR = '1',
  VERSION_NEURAL = '2',
  VERSION_BNN = '3';
const SAMPLE_DISTANCES: readonly SampleDistance[] = ['aitchison', 'braycurtis'];

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
  /**
   * GCN: how a new sample joins the fitted graph: by `distance` to its `knn` nearest training
   * rows, whose distance profiles [rows, taxa] (distanceProfiles of their raw counts) are kept.
   */
  join?: { distance: SampleDistance; knn: number; profiles: Float64Array };
}

export interface KeepOptions {
  normalize: Normalization;
  zeros: ZeroReplacement;
  augment: Augmentation;
  /** Seeds the augmentation, rarefying and the forest, as a study fold's seed does. */
  seed: number;
  minPrevalence: number;
  settings: MbModelSettings;
  /** The GCN's sample graph (graft mb --graph, --knn) and the validation fraction that picks the networks' epoch. */
  graph: SampleDistance;
  knn: number;
  valFraction: number;
}

/**
 * Fits `model` on every sample of d with the study's preprocessing: the same steps a fold's
 * training rows go through (validation rows drawn for the MLP and GCN, augmented copies of
 * the fitting rows added, the table preprocessed, the model fitted on all its rows, the GCN
 * on the kNN graph of the table), and records what the preprocessing learned for
 * applyPreprocessing.
 */
export async function fitKeptModel(
  rt: Runtime,
  d: MicrobiomeData,
  model: MbModel,
  o: KeepOptions,
): Promise<KeptMbModel> {
  const all = Array.from({ length: d.n }, (_, i) => i);
  const { fitOrig, val } = NEEDS_VALIDATION.has(model)
    ? validationSplit(d, all, o.valFraction, o.seed)
    : { fitOrig: all, val: [] };
  const table = withAugmented(d, fitOrig, o.augment, o.seed);
  const pre = { normalize: o.normalize, zeros: o.zeros, seed: o.seed };
  const x = preprocess(table.counts, table.n, d.p, pre);
  const graph = model === 'gcn' ? compositionGraph(table.counts, table.n, d.p, o.graph, o.knn) : null;
  const fitted = await fitMbModel(
    rt,
    model,
    {
      x,
      n: table.n,
      p: d.p,
      labels: table.labels,
      classes: d.classNames.length,
      target: table.target,
      fit: Int32Array.from([...fitOrig, ...Array.from({ length: table.n - d.n }, (_, c) => d.n + c)]),
      val: Int32Array.from(val),
      test: new Int32Array(0),
      graph,
      seed: o.seed,
    },
    o.settings,
  );
  return {
    task: d.labels ? 'classification' : 'regression',
    classNames: d.labels ? [...d.classNames] : [],
    taxa: [...d.taxa],
    preprocessing: fitPreprocessing(table.counts, table.n, d.p, pre),
    model: fitted,
    trainedOn: { samples: d.n, rows: table.n, minPrevalence: o.minPrevalence, augment: o.augment },
    ...(model === 'gcn'
      ? { join: { distance: o.graph, knn: o.knn, profiles: distanceProfiles(table.counts, table.n, d.p, o.graph) } }
      : {}),
  };
}

/**
 * Scores raw counts [n, taxa] whose columns are the model's taxa in its order (alignTaxa):
 * each sample preprocessed on its own with the fitted parameters, then the model. Returns
 * class probabilities [n, classes] or values [n]. A GCN scores each sample as one more node
 * of its training graph, linked to its k nearest training rows (scoreGcnJoined); no sample
 * is in another's graph, so here too a sample's scores do not depend on the others.
 */
export async function scoreKeptModel(
  rt: Runtime,
  k: KeptMbModel,
  counts: Float64Array,
  n: number,
): Promise<Float64Array> {
  const p = k.taxa.length;
  const x = applyPreprocessing(k.preprocessing, counts, n, p);
  if (k.model.model === 'gcn') return scoreGcnJoined(rt, k.model, x, n, newSampleNeighbours(k, counts, n));
  return scoreMbModel(
    rt,
    k.model,
    x,
    p,
    Int32Array.from({ length: n }, (_, i) => i),
  );
}

/**
 * A kept BNN's scores of raw counts (as scoreKeptModel) and each sample's predictive sd across
 * the posterior samples (memberSpread: the sd graft mb reports as predictive_sd, the same
 * function on the same draws).
 */
export async function scoreKeptBnn(
  rt: Runtime,
  k: KeptMbModel,
  counts: Float64Array,
  n: number,
): Promise<{ scores: Float64Array; sd: Float64Array }> {
  if (k.model.model !== 'bnn') throw new Error(`scoreKeptBnn: the kept model is ${k.model.model}, not bnn`);
  const p = k.taxa.length;
  const x = applyPreprocessing(k.preprocessing, counts, n, p);
  const rows = Int32Array.from({ length: n }, (_, i) => i);
  const [scores, draws] = await scoreMbMembers(rt, k.model, x, p, rows);
  return { scores, sd: memberSpread(scores, draws, n, Math.max(1, k.model.classes)) };
}

/** A kept GCN: the training rows each new sample (raw counts [n, taxa]) is linked to. */
export function newSampleNeighbours(k: KeptMbModel, counts: Float64Array, n: number): Int32Array[] {
  const j = k.join!,
    p = k.taxa.length;
  return nearestTrainingRows(
    j.profiles,
    j.profiles.length / p,
    distanceProfiles(counts, n, p, j.distance),
    n,
    p,
    j.distance,
    j.knn,
  );
}

/** Float64 values as little-endian bytes [count, 8] (safetensors here holds no F64). */
function f64(a: Float64Array): StoredTensor {
  const bytes = new Uint8Array(a.length * 8),
    view = new DataView(bytes.buffer);
  a.forEach((v, i) => {
    view.setFloat64(i * 8, v, true);
  });
  return { shape: [a.length, 8], data: bytes };
}

function i32(a: ArrayLike<number>): StoredTensor {
  return { shape: [a.length], data: Int32Array.from(a) };
}

export function saveKeptModel(file: string, k: KeptMbModel): void {
  const tensors = new Map<string, StoredTensor>();
  const pre = k.preprocessing;
  if (pre.gbm) {
    tensors.set('gbm.col_sum', f64(pre.gbm.colSum));
    tensors.set('gbm.col_min', f64(pre.gbm.colMin));
  }
  let shape: Record<string, unknown>;
  if (k.model.model === 'rf') {
    const j = k.model.forest.toJSON() as {
      task: string;
      classes: number;
      f: number;
      oobScore: number | null;
      trees: Record<string, number[]>[];
    };
    const cat = (key: string): number[] => j.trees.flatMap((t) => t[key]!);
    tensors.set('forest.tree_nodes', i32(j.trees.map((t) => t['feature']!.length)));
    for (const key of ['feature', 'left', 'right', 'samples']) tensors.set(`forest.${key}`, i32(cat(key)));
    for (const key of ['threshold', 'values', 'importance'])
      tensors.set(`forest.${key}`, f64(Float64Array.from(cat(key))));
    shape = { classes: j.classes, features: j.f };
  } else if (k.model.model === 'logistic') {
    tensors.set('linear.mean', f64(k.model.mean));
    tensors.set('linear.sd', f64(k.model.sd));
    tensors.set('linear.betas', f64(k.model.betas));
    shape = { classes: k.model.classes };
  } else if (k.model.model === 'bnn') {
    shape = saveBnn(tensors, k.model);
  } else {
    shape = saveNetworks(tensors, k);
  }
  const preprocessing = {
    normalize: pre.normalize,
    zeros: pre.zeros,
    seed: pre.seed,
    ...(pre.rarefyDepth !== undefined ? { rarefy_depth: pre.rarefyDepth } : {}),
    ...(pre.cssQuantile !== undefined ? { css_quantile: pre.cssQuantile } : {}),
    ...(pre.common !== undefined ? { common_total: pre.common } : {}),
    ...(pre.mclrShift !== undefined ? { mclr_shift: pre.mclrShift } : {}),
  };
  const meta = {
    task: k.task,
    class_names: k.classNames,
    model: k.model.model,
    shape,
    taxa: k.taxa,
    preprocessing,
    trained_on: {
      samples: k.trainedOn.samples,
      rows: k.trainedOn.rows,
      min_prevalence: k.trainedOn.minPrevalence,
      augment: k.trainedOn.augment,
    },
  };
  const version =
    k.model.model === 'bnn'
      ? VERSION_BNN
      : k.model.model === 'mlp' || k.model.model === 'gcn'
        ? VERSION_NEURAL
        : VERSION_LINEAR;
  saveCheckpoint(file, { tensors, metadata: { format: KEPT_MB_FORMAT, version, model: JSON.stringify(meta) } });
}

/**
 * An MLP ensemble's or a GCN's tensors: nn.mean and nn.sd (float64 bytes), each member's
 * parameters as float32 tensors nn.<member>.<parameter>; a GCN's graph as gcn.features
 * (float32 [rows, taxa]), gcn.src and gcn.dst (int32), gcn.profiles (float64 bytes). The
 * shape metadata names the parameters and holds the members' seeds and target scales (JSON
 * numbers read back as the same doubles).
 */
function saveNetworks(tensors: Map<string, StoredTensor>, k: KeptMbModel): Record<string, unknown> {
  const m = k.model as FittedNeuralModel;
  tensors.set('nn.mean', f64(m.mean));
  tensors.set('nn.sd', f64(m.sd));
  m.members.forEach((member, t) => {
    for (const [name, w] of member.weights) tensors.set(`nn.${t}.${name}`, { shape: [w.length], data: w });
  });
  const shape: Record<string, unknown> = {
    classes: m.classes,
    hidden: m.hidden,
    dropout: m.dropout,
    members: m.members.map((member) => ({
      seed: member.seed,
      parameters: [...member.weights.keys()],
      ...(member.scale ? { scale: member.scale } : {}),
    })),
  };
  if (m.model === 'gcn') {
    const g = m.graph!,
      j = k.join!;
    tensors.set('gcn.features', { shape: [g.rows, k.taxa.length], data: g.features });
    tensors.set('gcn.src', i32(g.src));
    tensors.set('gcn.dst', i32(g.dst));
    tensors.set('gcn.profiles', f64(j.profiles));
    shape['graph'] = { rows: g.rows, distance: j.distance, knn: j.knn };
  }
  return shape;
}

/**
 * A BNN's tensors: bnn.mean and bnn.sd (float64 bytes, the standardization), and per layer
 * bnn.<layer>.mu_w, sigma_w [fanIn, fanOut], mu_b, sigma_b [fanOut] (float32). The shape
 * metadata holds the width, the posterior samples and their seed, and a regression's scale and
 * noise sd (JSON numbers read back as the same doubles).
 */
function saveBnn(tensors: Map<string, StoredTensor>, m: FittedBnn): Record<string, unknown> {
  tensors.set('bnn.mean', f64(m.mean));
  tensors.set('bnn.sd', f64(m.sd));
  m.layers.forEach((l, i) => {
    tensors.set(`bnn.${i}.mu_w`, { shape: [l.fanIn, l.fanOut], data: l.muW });
    tensors.set(`bnn.${i}.sigma_w`, { shape: [l.fanIn, l.fanOut], data: l.sigmaW });
    tensors.set(`bnn.${i}.mu_b`, { shape: [l.fanOut], data: l.muB });
    tensors.set(`bnn.${i}.sigma_b`, { shape: [l.fanOut], data: l.sigmaB });
  });
  return {
    classes: m.classes,
    hidden: m.hidden,
    samples: m.samples,
    seed: m.seed,
    ...(m.scale ? { scale: m.scale, noise_sd: m.noiseSd } : {}),
  };
}

/** Reads saveKeptModel's file back; anything missing or malformed is one line naming the file. */
export function loadKeptModel(file: string): KeptMbModel {
  const cp = loadCheckpoint(file);
  const bad = (what: string): GraftError => keptMbError(file, what);
  if (cp.metadata['format'] !== KEPT_MB_FORMAT)
    throw bad(`format ${JSON.stringify(cp.metadata['format'] ?? null)}, expected '${KEPT_MB_FORMAT}'`);
  const version = cp.metadata['version'];
  if (version !== VERSION_LINEAR && version !== VERSION_NEURAL && version !== VERSION_BNN)
    throw bad(
      `version ${JSON.stringify(version ?? null)}, this graft reads ${VERSION_LINEAR}, ${VERSION_NEURAL} and ${VERSION_BNN}`,
    );
  // The metadata and tensors every reader of the format checks alike (compositional/kept-file.ts, graft/infer's too).
  const kept = new KeptMbFile(cp, file);
  const { task, classNames, taxa, classes, shape, preprocessing: fittedPre, meta: m } = kept.header();
  const p = taxa.length;
  let model: FittedMbModel;
  if (m['model'] === 'rf') {
    if (shape['features'] !== p) throw bad(`the forest has ${shape['features']} features for ${p} taxa`);
    const sizes = kept.int32('forest.tree_nodes');
    const nodes = sizes.reduce((a, b) => a + b, 0),
      stride = classes || 1;
    const feature = kept.int32('forest.feature'),
      left = kept.int32('forest.left'),
      right = kept.int32('forest.right'),
      samples = kept.int32('forest.samples');
    const threshold = kept.float64('forest.threshold', nodes),
      values = kept.float64('forest.values', nodes * stride),
      importance = kept.float64('forest.importance', sizes.length * p);
    for (const [name, a] of [
      ['feature', feature],
      ['left', left],
      ['right', right],
      ['samples', samples],
    ] as const)
      if (a.length !== nodes) throw bad(`forest.${name} holds ${a.length} values, expected ${nodes}`);
    let at = 0;
    const trees = Array.from(sizes, (size, t) => {
      const slice = <T extends Int32Array | Float64Array>(a: T): number[] => Array.from(a.subarray(at, at + size));
      const tree = {
        feature: slice(feature),
        threshold: slice(threshold),
        left: slice(left),
        right: slice(right),
        samples: slice(samples),
        values: Array.from(values.subarray(at * stride, (at + size) * stride)),
        importance: Array.from(importance.subarray(t * p, t * p + p)),
      };
      at += size;
      return tree;
    });
    let forest: Forest;
    try {
      forest = Forest.fromJSON({
        format: 'graft-random-forest',
        version: 1,
        task,
        classes,
        f: p,
        oobScore: null,
        trees,
      });
    } catch (err) {
      throw bad((err as Error).message);
    }
    model = { model: 'rf', forest };
  } else if (m['model'] === 'logistic') {
    model = { model: 'logistic', ...kept.linear(classes, p) };
  } else if (m['model'] === 'bnn' && version === VERSION_BNN) {
    const hidden = shape['hidden'],
      samples = shape['samples'],
      seed = shape['seed'],
      scale = shape['scale'] as Record<string, unknown> | undefined,
      noiseSd = shape['noise_sd'];
    if (!Number.isInteger(hidden) || (hidden as number) < 1) throw bad('shape.hidden');
    if (!Number.isInteger(samples) || (samples as number) < 1) throw bad('shape.samples');
    if (!Number.isInteger(seed)) throw bad('shape.seed');
    if (
      (classes === 0) !== (scale !== undefined) ||
      (scale && !(Number.isFinite(scale['mean']) && Number.isFinite(scale['sd']) && Number.isFinite(noiseSd)))
    )
      throw bad('shape.scale');
    const h = hidden as number;
    const float32 = (name: string, length: number): Float32Array => {
      const t = kept.tensor(name);
      if (!(t.data instanceof Float32Array) || t.data.length !== length)
        throw bad(`${name} is not ${length} float32 values`);
      return t.data;
    };
    const layers = [
      [p, h],
      [h, classes || 1],
    ].map(([fanIn, fanOut], i) => ({
      fanIn: fanIn!,
      fanOut: fanOut!,
      muW: float32(`bnn.${i}.mu_w`, fanIn! * fanOut!),
      sigmaW: float32(`bnn.${i}.sigma_w`, fanIn! * fanOut!),
      muB: float32(`bnn.${i}.mu_b`, fanOut!),
      sigmaB: float32(`bnn.${i}.sigma_b`, fanOut!),
    }));
    if (layers.some((l) => [...l.sigmaW, ...l.sigmaB].some((v) => !(v > 0 && Number.isFinite(v)))))
      throw bad('a posterior sd is not positive and finite');
    model = {
      model: 'bnn',
      classes,
      mean: kept.float64('bnn.mean', p),
      sd: kept.float64('bnn.sd', p),
      hidden: h,
      samples: samples as number,
      seed: seed as number,
      layers,
      ...(scale
        ? { scale: { mean: scale['mean'] as number, sd: scale['sd'] as number }, noiseSd: noiseSd as number }
        : {}),
    };
  } else if ((m['model'] === 'mlp' || m['model'] === 'gcn') && version === VERSION_NEURAL) {
    const hidden = shape['hidden'],
      dropout = shape['dropout'],
      members = shape['members'];
    if (
      !Number.isInteger(hidden) ||
      (hidden as number) < 1 ||
      typeof dropout !== 'number' ||
      !(dropout >= 0 && dropout < 1)
    )
      throw bad('shape.hidden or shape.dropout');
    if (!Array.isArray(members) || members.length === 0 || (m['model'] === 'gcn' && members.length !== 1))
      throw bad('shape.members');
    const fitted: FittedNeuralModel = {
      model: m['model'],
      classes,
      mean: kept.float64('nn.mean', p),
      sd: kept.float64('nn.sd', p),
      hidden: hidden as number,
      dropout,
      members: members.map((e: Record<string, unknown>, t) => {
        const names = e['parameters'],
          scale = e['scale'] as Record<string, unknown> | undefined;
        if (!Number.isInteger(e['seed']) || !Array.isArray(names) || names.length === 0)
          throw bad(`shape.members[${t}]`);
        if (
          (classes === 0) !== (scale !== undefined) ||
          (scale && !(Number.isFinite(scale['mean']) && Number.isFinite(scale['sd'])))
        )
          throw bad(`shape.members[${t}].scale`);
        // The networks graft mb builds: two GCN layers (the MLP's on a graph with no edges), taxa → hidden → classes or 1.
        const h = hidden as number,
          out = classes || 1;
        const sizes: Record<string, number> = {
          'gcn0.weight': p * h,
          'gcn0.bias': h,
          'gcn1.weight': h * out,
          'gcn1.bias': out,
        };
        if (names.length !== 4 || !names.every((name) => typeof name === 'string' && name in sizes))
          throw bad(
            `shape.members[${t}].parameters ${JSON.stringify(names)}, expected ${Object.keys(sizes).join(', ')}`,
          );
        const weights = new Map(
          (names as string[]).map((name) => {
            const w = kept.tensor(`nn.${t}.${name}`);
            if (!(w.data instanceof Float32Array) || w.data.length !== sizes[name])
              throw bad(`nn.${t}.${name} is not ${sizes[name]} float32 values`);
            return [name, w.data];
          }),
        );
        return {
          seed: e['seed'] as number,
          weights,
          ...(scale ? { scale: { mean: scale['mean'] as number, sd: scale['sd'] as number } } : {}),
        };
      }),
    };
    let join: KeptMbModel['join'];
    if (m['model'] === 'gcn') {
      const g = (shape['graph'] ?? {}) as Record<string, unknown>,
        rows = g['rows'],
        knn = g['knn'],
        distance = g['distance'] as SampleDistance;
      if (
        !Number.isInteger(rows) ||
        (rows as number) < 2 ||
        !Number.isInteger(knn) ||
        (knn as number) < 1 ||
        !SAMPLE_DISTANCES.includes(distance)
      )
        throw bad('shape.graph');
      const features = kept.tensor('gcn.features'),
        src = kept.int32('gcn.src'),
        dst = kept.int32('gcn.dst');
      if (!(features.data instanceof Float32Array) || features.data.length !== (rows as number) * p)
        throw bad(`gcn.features is not float32 [${String(rows)}, ${p}]`);
      if (src.length !== dst.length || [...src, ...dst].some((v) => !(v >= 0 && v < (rows as number))))
        throw bad('gcn.src and gcn.dst are not edges of its rows');
      fitted.graph = { features: features.data, rows: rows as number, src, dst };
      join = { distance, knn: knn as number, profiles: kept.float64('gcn.profiles', (rows as number) * p) };
    }
    model = fitted;
    const t = (m['trained_on'] ?? {}) as Record<string, unknown>;
    return {
      task,
      classNames,
      taxa,
      preprocessing: fittedPre,
      model,
      trainedOn: {
        samples: Number(t['samples']),
        rows: Number(t['rows']),
        minPrevalence: Number(t['min_prevalence']),
        augment: (t['augment'] ?? 'none') as Augmentation,
      },
      ...(join ? { join } : {}),
    };
  } else {
    throw bad(`model ${JSON.stringify(m['model'])}${version === VERSION_LINEAR ? ' in a version 1 file' : ''}`);
  }
  const t = (m['trained_on'] ?? {}) as Record<string, unknown>;
  return {
    task,
    classNames,
    taxa,
    preprocessing: fittedPre,
    model,
    trainedOn: {
      samples: Number(t['samples']),
      rows: Number(t['rows']),
      minPrevalence: Number(t['min_prevalence']),
      augment: (t['augment'] ?? 'none') as Augmentation,
    },
  };
}
