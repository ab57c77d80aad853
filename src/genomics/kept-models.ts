import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ensureDir } from '../core/atomic-write.js';
import { GraftError } from '../core/errors.js';
import { gcnNorm } from '../graph/gcn-norm.js';
import { Tensor } from '../memory/tensor.js';
import { loadWeights, weightsUnder } from '../nn/load-weights.js';
import { splitColumns } from '../ops/columns.js';
import type { Runtime } from '../runtime/runtime.js';
import { loadCheckpoint, saveCheckpoint, type StoredTensor } from '../train/checkpoint.js';
import { gcnRegressorModel, type GcnRegressorConfig } from '../train/gcn-regressor.js';
import type { GpModel } from './gp-models.js';
import type { FinalState, KernelState, MemberState } from './job-types.js';
import type { GenotypeMatrix } from '../data/genotype-matrix.js';
import type { CleanGenotypes } from './qc.js';
import { markerMoments } from './qc.js';
import type { FeaturePart, StudyData, StudyInputs } from './study-data.js';
import { squaredDistanceMedian } from './rkhs.js';
import {
  alignDosages,
  markerDerived as derived,
  metaJson,
  readF64,
  readKernelFit,
  readMarkerBasis,
  type AlignmentReport,
  type MarkerBasis,
  type SampleRows,
} from '../graph/gp-scoring.js';

// The pure pieces (alignment, imputation, kernel rows, μ + Kα) live in graph/gp-scoring.ts, shared with graft/infer.
export { sampleRows, scoreKernel, type AlignmentReport, type SampleRows } from '../graph/gp-scoring.js';

// graft gp --keep-models: every chosen model fitted on every phenotyped sample, with what it
// takes to score a sample the study never saw. Two kinds of file in RUN/models/:
//
//   scoring.safetensors        (graft-gp-scoring-v1) shared by the run's models: the study's
//                              samples (ids), the QC-kept markers by name and order, their
//                              coding, allele frequencies (imputation: 2p), means and scales
//                              (standardization), every study sample's imputed dosages, the
//                              relationship's diagonal and median distance (RKHS's scale), how
//                              GCN features are made (the principal-component bases) and the
//                              sample graph with its rule (k or threshold).
//   kept-<model>-<trait>.safetensors (graft-gp-kept-v1) one model and trait: a kernel model's
//                              μ, dual weights α = (K + δI)⁻¹(y − 1μ) over its training
//                              samples and (K + δI)⁻¹ for reliabilities; a GCN model's member
//                              weights, seeds, scales and config; boost and stack both.
//
// A sample is scored from its kernel rows against the study's samples (sampleRows), which
// graft gp computes for its candidates exactly as graft predict does for new genotypes: the
// same stored numbers, the same function, the same order of summation, so a kernel or linear
// model gives the same bits both ways. Float64 vectors are stored as their little-endian
// bytes (U8 tensors listed in the metadata's f64 field): safetensors' F64 is not among the
// engine's dtypes.

export const SCORING_FORMAT = 'graft-gp-scoring-v1';
export const KEPT_FORMAT = 'graft-gp-kept-v1';

const fileSafe = (s: string): string => s.replace(/[^A-Za-z0-9_.-]+/g, '_');
export const scoringFile = (dir: string): string => join(dir, 'scoring.safetensors');
export const keptModelFile = (dir: string, model: GpModel, trait: string): string =>
  join(dir, `kept-${model}-${fileSafe(trait)}.safetensors`);

/** The kernel and linear models (their candidates and new samples score the same bits); the rest carry GCN members. */
export const KERNEL_ONLY: readonly GpModel[] = ['gblup', 'rkhs', 'rkhs-ka', 'rrblup'];

/** How the sample graph was made, applied to a new sample against the study's samples. */
export type GraphRule = { kind: 'knn'; k: number } | { kind: 'threshold'; threshold: number };

/** What every kept model of a run scores new samples with (scoring.safetensors). */
export interface ScoringBasis {
  ids: string[];
  n: number;
  /** Marker genotypes; null for a relationship-only run (new samples then come as relationship rows). */
  markers: MarkerBasis | null;
  /** 'grm': VanRaden's relationship from the markers; 'given': a relationship file (new samples need its rows). */
  relationship: 'grm' | 'given';
  /** The relationship's diagonal over the study's samples, as sampleRows computes it ('grm') or as given. */
  relDiag: Float64Array;
  /** Median squared distance over pairs of the study's samples: the Gaussian kernels' scale. */
  median: number;
  /** GCN inputs: the study's features [n, f], how a new sample's are made, the graph and its rule. */
  features: Float32Array;
  f: number;
  featureParts: FeaturePart[];
  featureBlocks?: number[];
  src: Int32Array;
  dst: Int32Array;
  graph: GraphRule;
  traits: string[];
}

/** One kept model of one trait. */
export interface KeptModel {
  model: GpModel;
  trait: string;
  final: FinalState;
  /** GCN input shape (f, blocks, covariates). */
  shape?: { f: number; blocks?: number[]; covariates?: number };
  /**
   * Runs the model file another way (graft predict --int8: graft/infer on the int8 file graft
   * quantize wrote): every node's prediction of a graph, in trait units, the members' mean.
   * Set, scoreMembers gives that mean as the one member (no members' spread).
   */
  forward?: (input: { n: number; features: Float32Array; src: Int32Array; dst: Int32Array }) => Promise<Float64Array>;
}

// -- building the basis in graft gp ---------------------------------------------------------

/** The scoring basis of a prepared study: `clean` and `w` are its QC'd markers (null without --geno). */
export function scoringBasis(
  data: StudyData,
  o: StudyInputs,
  clean: CleanGenotypes | null,
  featureParts: FeaturePart[],
): ScoringBasis {
  const n = data.n;
  let markers: ScoringBasis['markers'] = null;
  if (clean) {
    const { mean, variance } = markerMoments(clean);
    const inv = variance.map((v) => (v > 1e-12 ? 1 / Math.sqrt(v) : 0));
    let denom = 0;
    for (const p of clean.freq) denom += 2 * p * (1 - p);
    markers = {
      names: clean.markers,
      binary: clean.report.coding.startsWith('binary'),
      ...(clean.sites?.ref && clean.sites.alt ? { ref: clean.sites.ref, alt: clean.sites.alt } : {}),
      freq: clean.freq,
      mean,
      inv,
      denom,
      ...derived(clean.dosage, n, clean.freq, mean, inv),
    };
  }
  const relationship = o.relationship ? 'given' : 'grm';
  const basis: ScoringBasis = {
    ids: data.ids,
    n,
    markers,
    relationship,
    relDiag: new Float64Array(n),
    median: squaredDistanceMedian(data.grm, n),
    features: data.features,
    f: data.f,
    featureParts,
    ...(data.featureBlocks ? { featureBlocks: data.featureBlocks } : {}),
    src: data.src,
    dst: data.dst,
    graph: o.graph === 'knn' ? { kind: 'knn', k: o.knn } : { kind: 'threshold', threshold: o.threshold },
    traits: data.traits,
  };
  // sampleRows' relSelf of each study sample (the same float32 z and summation order), without its n-long rows.
  for (let i = 0; i < n; i++) {
    if (relationship === 'given' || !markers) {
      basis.relDiag[i] = data.grm[i * n + i]!;
      continue;
    }
    const m = markers.names.length,
      z = markers.z.subarray(i * m, (i + 1) * m);
    let zz = 0;
    for (let j = 0; j < m; j++) zz += z[j]! * z[j]!;
    basis.relDiag[i] = zz / markers.denom;
  }
  return basis;
}

/** Study sample i's dosage row (a view). */
export function studyRow(b: ScoringBasis, i: number): Float32Array {
  const m = b.markers!.names.length;
  return b.markers!.dosage.subarray(i * m, (i + 1) * m);
}

// -- scoring ---------------------------------------------------------------------------------

/** A new sample's GCN features from its rows (FeaturePart), float32 like the study's. */
export function sampleFeatures(b: ScoringBasis, r: SampleRows): Float32Array {
  const out = new Float32Array(b.f),
    n = b.n;
  let at = 0;
  for (const p of b.featureParts) {
    if (p.source === 'markers') {
      if (!r.w) throw new GraftError("marker features need the new samples' genotypes");
      out.set(r.w.subarray(p.c0, p.c1), at);
      at += p.c1 - p.c0;
      continue;
    }
    let krow: Float64Array;
    if (p.source === 'relationship') krow = r.rel;
    else if (p.c0 === 0 && p.c1 === b.markers!.names.length) krow = r.marker!;
    else {
      // A marker block's own kernel row: W_block·W_blockᵀ against the study's samples.
      const mk = b.markers!,
        m = mk.names.length;
      krow = new Float64Array(n);
      for (let t = 0; t < n; t++) {
        let s = 0;
        for (let j = p.c0; j < p.c1; j++) s += r.w![j]! * mk.w[t * m + j]!;
        krow[t] = s;
      }
    }
    for (let c = 0; c < p.f; c++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += krow[i]! * p.projection[i * p.f + c]!;
      out[at + c] = s;
    }
    at += p.f;
  }
  return out;
}

/** The study samples a new sample links to by the graph's rule (its own choice: the k most related, or all at or over the threshold). */
export function newSampleEdges(b: ScoringBasis, r: SampleRows): number[] {
  const row = r.rel;
  if (b.graph.kind === 'threshold') {
    const th = b.graph.threshold;
    return Array.from({ length: b.n }, (_, j) => j).filter((j) => row[j]! >= th);
  }
  const order = Array.from({ length: b.n }, (_, j) => j).sort((a, c) => row[c]! - row[a]! || a - c);
  return order.slice(0, Math.min(b.graph.k, b.n));
}

/**
 * A GCN model's members run on the study's graph with the new samples joined, one at a time
 * (each links to study samples only, by the stored rule, so its prediction does not depend
 * on the other new samples): each member's prediction per sample, in trait units.
 */
export async function scoreMembers(
  rt: Runtime,
  b: ScoringBasis,
  kept: KeptModel,
  samples: { features: Float32Array; edges: number[] }[],
): Promise<Float64Array[]> {
  const f = kept.final,
    shape = kept.shape!;
  if (shape.covariates)
    throw new GraftError(
      `${kept.model}: the hybrid model needs the new samples' covariates; graft predict does not take them yet`,
    );
  const N = b.n + 1,
    heap = rt.heap;
  if (kept.forward) {
    const one = new Float64Array(samples.length);
    for (const [s, smp] of samples.entries()) {
      const g = joinedGraph(b, smp);
      one[s] = (await kept.forward({ n: N, ...g }))[b.n]!;
    }
    return [one];
  }
  const blocks = shape.blocks && shape.blocks.length > 1 ? shape.blocks : null;
  let held: Tensor[] = [];
  let adj: ReturnType<typeof gcnNorm> | null = null;
  const out = f.members!.map(() => new Float64Array(samples.length));
  for (const [e, m] of f.members!.entries()) {
    const c: GcnRegressorConfig = { ...f.config!, seed: m.seed };
    const model = gcnRegressorModel<void>(
      rt,
      c,
      { f: shape.f, ...(blocks ? { blocks } : {}) },
      () => ({ adj: adj! }),
      () => held,
    );
    try {
      loadWeights(model.params(), m.weights, `${kept.model} ${kept.trait} member ${e}`);
      for (const [s, smp] of samples.entries()) {
        const { features: x, src, dst } = joinedGraph(b, smp);
        const xt = Tensor.from(heap, 'float32', [N, b.f], x);
        adj = gcnNorm(heap, N, src, dst);
        held = blocks ? splitColumns(heap, xt, blocks) : [xt];
        try {
          const ev = await model.forward({ exec: rt.exec, training: false, seed: c.seed, step: 0 }, undefined);
          out[e]![s] = (ev.data() as Float32Array)[b.n]! * m.scale.sd + m.scale.mean;
          model.release();
        } finally {
          adj.free();
          adj = null;
          if (blocks) for (const t of held) t.free();
          xt.free();
          held = [];
        }
      }
    } finally {
      model.dispose();
    }
  }
  return out;
}

/** The study's features and graph with one new sample joined as node n, linked to the study samples `edges`. */
function joinedGraph(
  b: ScoringBasis,
  smp: { features: Float32Array; edges: number[] },
): { features: Float32Array; src: Int32Array; dst: Int32Array } {
  const features = new Float32Array((b.n + 1) * b.f);
  features.set(b.features);
  features.set(smp.features, b.n * b.f);
  const src = new Int32Array(b.src.length + smp.edges.length),
    dst = new Int32Array(src.length);
  src.set(b.src);
  dst.set(b.dst);
  smp.edges.forEach((j, q) => {
    src[b.src.length + q] = j;
    dst[b.src.length + q] = b.n;
  });
  return { features, src, dst };
}

/** One model's prediction, spread (members' sd) and reliability from its kernel score and members' predictions. */
export function combine(
  kept: KeptModel,
  kernel: { prediction: number; reliability: number | null } | null,
  members: number[] | null,
  deviation?: { prediction: number } | null,
): { prediction: number; sd: number | null; reliability: number | null } {
  const mean = members ? members.reduce((a, v) => a + v, 0) / members.length : 0;
  const sd =
    members && members.length > 1
      ? Math.sqrt(members.reduce((a, v) => a + (v - mean) ** 2, 0) / (members.length - 1))
      : null;
  switch (kept.model) {
    case 'gblup':
    case 'rkhs':
    case 'rkhs-ka':
    case 'rrblup':
    case 'across':
      return { prediction: kernel!.prediction, sd: null, reliability: kernel!.reliability };
    case 'gxe':
      return { prediction: kernel!.prediction + (deviation?.prediction ?? 0), sd: null, reliability: null };
    case 'boost':
      return { prediction: kernel!.prediction + mean, sd, reliability: null };
    case 'stack': {
      const w = kept.final.blend!;
      return {
        prediction: w * mean + (1 - w) * kernel!.prediction,
        sd: sd === null ? null : w * sd,
        reliability: null,
      };
    }
    default:
      return { prediction: mean, sd, reliability: null };
  }
}

// -- files -------------------------------------------------------------------------------

const f64Bytes = (a: Float64Array): StoredTensor => ({
  shape: [a.byteLength],
  data: new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength)),
});
const meta = metaJson;

/** What ties a kept model to its scoring basis: the study's samples, markers, features, graph and relationship diagonal. */
export function basisFingerprint(b: ScoringBasis): string {
  const h = createHash('sha256').update(
    JSON.stringify([b.ids, b.markers?.names ?? null, b.f, b.relationship, b.median, b.graph]),
  );
  for (const a of [b.relDiag, b.features, b.src, b.dst]) h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return h.digest('hex');
}

export function saveScoringBasis(dir: string, b: ScoringBasis): void {
  ensureDir(dir);
  const tensors = new Map<string, StoredTensor>([
    ['rel_diag', f64Bytes(b.relDiag)],
    ['features', { shape: [b.n, b.f], data: new Float32Array(b.features) }],
    ['src', { shape: [b.src.length], data: new Int32Array(b.src) }],
    ['dst', { shape: [b.dst.length], data: new Int32Array(b.dst) }],
  ]);
  b.featureParts.forEach((p, q) => {
    if (p.source !== 'markers') tensors.set(`feature_part${q}`, f64Bytes(p.projection));
  });
  const mk = b.markers;
  if (mk) {
    tensors.set('dosage', { shape: [b.n, mk.names.length], data: mk.dosage });
    tensors.set('freq', f64Bytes(mk.freq));
    tensors.set('mean', f64Bytes(mk.mean));
    tensors.set('inv', f64Bytes(mk.inv));
  }
  saveCheckpoint(scoringFile(dir), {
    tensors,
    metadata: {
      format: SCORING_FORMAT,
      fingerprint: basisFingerprint(b),
      ids: JSON.stringify(b.ids),
      traits: JSON.stringify(b.traits),
      relationship: b.relationship,
      median: JSON.stringify(b.median),
      graph: JSON.stringify(b.graph),
      f: JSON.stringify(b.f),
      feature_blocks: JSON.stringify(b.featureBlocks ?? null),
      feature_parts: JSON.stringify(
        b.featureParts.map((p) => (p.source === 'markers' ? p : { ...p, projection: undefined })),
      ),
      markers: JSON.stringify(
        mk ? { names: mk.names, binary: mk.binary, denom: mk.denom, ref: mk.ref ?? null, alt: mk.alt ?? null } : null,
      ),
    },
  });
}

export function loadScoringBasis(dir: string): ScoringBasis {
  const file = scoringFile(dir);
  if (!existsSync(file))
    throw new GraftError(
      `${file} not found: the run kept no models to score new samples; run the study again keeping its models`,
    );
  const cp = loadCheckpoint(file),
    md = cp.metadata;
  if (md['format'] !== SCORING_FORMAT)
    throw new GraftError(
      `${file}: not a graft gp scoring file (format ${md['format'] ?? 'none'}, expected ${SCORING_FORMAT})`,
    );
  const ids = meta<string[]>(md, 'ids', file),
    n = ids.length,
    f = meta<number>(md, 'f', file);
  const markers = readMarkerBasis(cp, n, file);
  const parts = meta<FeaturePart[]>(md, 'feature_parts', file).map((p, q) =>
    p.source === 'markers'
      ? p
      : { ...p, projection: readF64(cp.tensors.get(`feature_part${q}`), file, `feature_part${q}`) },
  );
  const blocks = meta<number[] | null>(md, 'feature_blocks', file);
  const i32 = (k: string): Int32Array => {
    const d = cp.tensors.get(k)?.data;
    if (!(d instanceof Int32Array)) throw new GraftError(`${file}: no '${k}' tensor (damaged)`);
    return d;
  };
  const features = cp.tensors.get('features')?.data;
  if (!(features instanceof Float32Array)) throw new GraftError(`${file}: no 'features' tensor (damaged)`);
  return {
    ids,
    n,
    markers,
    relationship: md['relationship'] === 'given' ? 'given' : 'grm',
    relDiag: readF64(cp.tensors.get('rel_diag'), file, 'rel_diag'),
    median: meta<number>(md, 'median', file),
    features,
    f,
    featureParts: parts,
    ...(blocks ? { featureBlocks: blocks } : {}),
    src: i32('src'),
    dst: i32('dst'),
    graph: meta<GraphRule>(md, 'graph', file),
    traits: meta<string[]>(md, 'traits', file),
  };
}

export function saveKeptModel(dir: string, k: KeptModel, basis: ScoringBasis): string {
  ensureDir(dir);
  const tensors = new Map<string, StoredTensor>();
  const kern = k.final.kernel,
    dev = k.final.deviation;
  for (const [p, st] of [
    ['k', kern],
    ['d', dev],
  ] as const) {
    if (!st) continue;
    tensors.set(`${p}.alpha`, f64Bytes(st.alpha));
    tensors.set(`${p}.train`, { shape: [st.train.length], data: new Int32Array(st.train) });
    if (st.vinv) tensors.set(`${p}.vinv`, f64Bytes(st.vinv));
  }
  const kmeta = (st: KernelState | undefined): string =>
    JSON.stringify(
      st
        ? {
            kernel: st.kernel,
            theta: st.theta ?? null,
            thetas: st.thetas ?? null,
            weights: st.weights ?? null,
            mu: st.mu,
            sigmaG2: st.sigmaG2,
            delta: st.delta,
            h2: st.h2,
          }
        : null,
    );
  k.final.members?.forEach((m, e) => {
    for (const [name, w] of m.weights) tensors.set(`m${e}.${name}`, { shape: [w.length], data: w });
  });
  const file = keptModelFile(dir, k.model, k.trait);
  saveCheckpoint(file, {
    tensors,
    metadata: {
      format: KEPT_FORMAT,
      model: k.model,
      trait: k.trait,
      basis: basisFingerprint(basis),
      kernel: kmeta(kern),
      deviation: kmeta(dev),
      members: JSON.stringify(k.final.members?.map((m) => ({ seed: m.seed, scale: m.scale })) ?? null),
      config: JSON.stringify(k.final.config ?? null),
      shape: JSON.stringify(k.shape ?? null),
      blend: JSON.stringify(k.final.blend ?? null),
    },
  });
  return file;
}

/** A kept model; with `basis`, one kept from other data than that scoring basis is refused (a file copied from another run). */
export function loadKeptModel(file: string, basis?: ScoringBasis): KeptModel {
  const cp = loadCheckpoint(file),
    md = cp.metadata;
  if (md['format'] !== KEPT_FORMAT)
    throw new GraftError(
      `${file}: not a graft gp kept model (format ${md['format'] ?? 'none'}, expected ${KEPT_FORMAT})`,
    );
  if (basis && md['basis'] !== basisFingerprint(basis))
    throw new GraftError(
      `${file}: kept from other data than ${scoringFile(dirname(file))} (another run's model?); run the study again keeping its models`,
    );
  const final: FinalState = {};
  const kernelOf = (key: string, p: string): KernelState | undefined => readKernelFit<KernelState>(cp, key, p, file);
  const kern = kernelOf('kernel', 'k'),
    dev = kernelOf('deviation', 'd');
  if (kern) final.kernel = kern;
  if (dev) final.deviation = dev;
  const members = meta<{ seed: number; scale: { mean: number; sd: number } }[] | null>(md, 'members', file);
  if (members) {
    // A kept model holds one set of weights per member, at m<e>.<name>.
    final.members = members.map(
      (m, e): MemberState => ({ seed: m.seed, scale: m.scale, weights: weightsUnder(cp, `m${e}.`) }),
    );
    final.config = meta<GcnRegressorConfig>(md, 'config', file);
  }
  const blend = meta<number | null>(md, 'blend', file);
  if (blend !== null) final.blend = blend;
  const shape = meta<KeptModel['shape'] | null>(md, 'shape', file);
  return { model: md['model'] as GpModel, trait: md['trait'] ?? '', final, ...(shape ? { shape } : {}) };
}

/** Every kept model file in a run's models folder (graft-gp-kept-v1), in name order. */
export function keptModelFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.startsWith('kept-') && f.endsWith('.safetensors'))
    .sort()
    .map((f) => join(dir, f));
}

// -- new genotypes ---------------------------------------------------------------------------

/**
 * A new genotype file's samples as the model's markers in the model's order and coding,
 * missing values (and absent markers) the training means 2p: float32 dosage rows on the
 * 0..2 scale, as qc.ts makes the study's. Refuses when fewer than `minOverlap` of the
 * model's markers are present.
 */
export function alignGenotypes(
  b: ScoringBasis,
  g: GenotypeMatrix,
  minOverlap: number,
): { ids: string[]; dosage: Float32Array[]; report: AlignmentReport } {
  if (!b.markers)
    throw new GraftError(
      `${g.file}: this run was made from a relationship matrix only; score new samples by their relationship rows`,
    );
  const a = alignDosages(
    b.markers,
    { markers: g.markers, dosage: g.dosage, samples: g.ids.length, ...(g.sites ? { sites: g.sites } : {}) },
    minOverlap,
    g.file,
  );
  return { ids: g.ids, ...a };
}
