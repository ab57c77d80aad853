import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ensureDir } from '../core/atomic-write.js';
import { GraftError } from '../core/errors.js';
import { gcnNorm } from '../graph/gcn-norm.js';
import { Tensor } from '../memory/tensor.js';
import { loadWeights } from '../nn/load-weights.js';
import { splitColumns } from '../ops/columns.js';
import type { Runtime } from '../runtime/runtime.js';
import { loadCheckpoint, saveCheckpoint, type StoredTensor } from '../train/checkpoint.js';
import { gcnRegressorModel, type GcnRegressorConfig } from '../train/gcn-regressor.js';
import type { FinalState, GpModel, KernelState, MemberState } from './cv-jobs.js';
import type { GenotypeMatrix } from '../data/genotypes.js';
import type { CleanGenotypes } from './qc.js';
import { markerMoments } from './qc.js';
import type { FeaturePart, StudyData, StudyInputs } from './study-data.js';
import { squaredDistanceMedian } from './rkhs.js';

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
export const keptModelFile = (dir: string, model: GpModel, trait: string): string => join(dir, `kept-${model}-${fileSafe(trait)}.safetensors`);

/** The kernel and linear models (their candidates and new samples score the same bits); the rest carry GCN members. */
export const KERNEL_ONLY: readonly GpModel[] = ['gblup', 'rkhs', 'rkhs-ka', 'rrblup'];

/** How the sample graph was made, applied to a new sample against the study's samples. */
export type GraphRule = { kind: 'knn'; k: number } | { kind: 'threshold'; threshold: number };

/** What every kept model of a run scores new samples with (scoring.safetensors). */
export interface ScoringBasis {
  ids: string[];
  n: number;
  /** Marker genotypes; null for a relationship-only run (new samples then come as relationship rows). */
  markers: {
    names: string[];
    /** Binary 0/1 coding, taken as homozygous 0/2 (qc.ts). */
    binary: boolean;
    /** VCF alleles (REF, and ALT, the counted one) per marker, when the genotypes were a VCF. */
    ref?: string[];
    alt?: string[];
    freq: Float64Array;
    mean: Float64Array;
    inv: Float64Array;
    /** 2 Σ p(1 − p), VanRaden's scale. */
    denom: number;
    /** The study's samples' imputed dosages [n, m] (0..2 scale), and derived from them: */
    dosage: Float32Array;
    z: Float32Array;
    w: Float32Array;
  } | null;
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

/** A sample's kernel rows against the study's n samples, and its own diagonal entries. */
export interface SampleRows {
  /** The relationship (VanRaden's GRM or the given one). */
  rel: Float64Array;
  relSelf: number;
  /** W·Wᵀ of the standardized markers (rrBLUP's kernel), and the standardized row itself (GCN marker features). */
  marker?: Float64Array;
  markerSelf?: number;
  w?: Float32Array;
}

/** One kept model of one trait. */
export interface KeptModel {
  model: GpModel;
  trait: string;
  final: FinalState;
  /** GCN input shape (f, blocks, covariates). */
  shape?: { f: number; blocks?: number[]; covariates?: number };
}

// -- building the basis in graft gp ---------------------------------------------------------

/** The scoring basis of a prepared study: `clean` and `w` are its QC'd markers (null without --geno). */
export function scoringBasis(data: StudyData, o: StudyInputs, clean: CleanGenotypes | null, featureParts: FeaturePart[]): ScoringBasis {
  const n = data.n;
  let markers: ScoringBasis['markers'] = null;
  if (clean) {
    const { mean, variance } = markerMoments(clean);
    const inv = variance.map((v) => (v > 1e-12 ? 1 / Math.sqrt(v) : 0));
    let denom = 0;
    for (const p of clean.freq) denom += 2 * p * (1 - p);
    markers = {
      names: clean.markers, binary: clean.report.coding.startsWith('binary'),
      ...(clean.sites?.ref && clean.sites.alt ? { ref: clean.sites.ref, alt: clean.sites.alt } : {}),
      freq: clean.freq, mean, inv, denom, ...derived(clean.dosage, n, clean.freq, mean, inv),
    };
  }
  const relationship = o.relationship ? 'given' : 'grm';
  const basis: ScoringBasis = {
    ids: data.ids, n, markers, relationship, relDiag: new Float64Array(n), median: squaredDistanceMedian(data.grm, n),
    features: data.features, f: data.f, featureParts, ...(data.featureBlocks ? { featureBlocks: data.featureBlocks } : {}),
    src: data.src, dst: data.dst, graph: o.graph === 'knn' ? { kind: 'knn', k: o.knn } : { kind: 'threshold', threshold: o.threshold }, traits: data.traits,
  };
  // sampleRows' relSelf of each study sample (the same float32 z and summation order), without its n-long rows.
  for (let i = 0; i < n; i++) {
    if (relationship === 'given' || !markers) { basis.relDiag[i] = data.grm[i * n + i]!; continue; }
    const m = markers.names.length, z = markers.z.subarray(i * m, (i + 1) * m);
    let zz = 0;
    for (let j = 0; j < m; j++) zz += z[j]! * z[j]!;
    basis.relDiag[i] = zz / markers.denom;
  }
  return basis;
}

/** Centred (VanRaden's Z) and standardized (W) markers from dosages, as qc.ts makes them: the same float32 rounding. */
function derived(dosage: Float32Array, n: number, freq: Float64Array, mean: Float64Array, inv: Float64Array): { dosage: Float32Array; z: Float32Array; w: Float32Array } {
  const m = freq.length, z = new Float32Array(n * m), w = new Float32Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      const d = dosage[i * m + j]!;
      z[i * m + j] = d - 2 * freq[j]!;
      w[i * m + j] = (d - mean[j]!) * inv[j]!;
    }
  }
  return { dosage, z, w };
}

/** Study sample i's dosage row (a view). */
export function studyRow(b: ScoringBasis, i: number): Float32Array {
  const m = b.markers!.names.length;
  return b.markers!.dosage.subarray(i * m, (i + 1) * m);
}

/**
 * A sample's kernel rows against the study's samples from its imputed dosages (0..2 scale,
 * the model's markers in order): the relationship row (unless `given`, a row read from a
 * relationship file) and the marker kernel's. Float64 sums in marker order.
 */
export function sampleRows(b: ScoringBasis, dosage: Float32Array | null, given: { row: Float64Array; self: number } | null): SampleRows {
  const n = b.n, mk = b.markers;
  let rel: Float64Array | null = given ? given.row : null, relSelf = given ? given.self : NaN;
  if (!mk) {
    if (!rel) throw new GraftError('this run was made from a relationship matrix only: a new sample needs its relationship row');
    return { rel, relSelf };
  }
  if (!dosage) throw new GraftError('this run was made from marker genotypes: a new sample needs its genotypes');
  const m = mk.names.length;
  const z = new Float32Array(m), w = new Float32Array(m);
  for (let j = 0; j < m; j++) { z[j] = dosage[j]! - 2 * mk.freq[j]!; w[j] = (dosage[j]! - mk.mean[j]!) * mk.inv[j]!; }
  const marker = new Float64Array(n);
  let ww = 0;
  for (let j = 0; j < m; j++) ww += w[j]! * w[j]!;
  if (!rel) {
    rel = new Float64Array(n);
    let zz = 0;
    for (let j = 0; j < m; j++) zz += z[j]! * z[j]!;
    relSelf = zz / mk.denom;
    for (let t = 0; t < n; t++) {
      let s = 0;
      const zt = mk.z.subarray(t * m, t * m + m);
      for (let j = 0; j < m; j++) s += z[j]! * zt[j]!;
      rel[t] = s / mk.denom;
    }
  }
  for (let t = 0; t < n; t++) {
    let s = 0;
    const wt = mk.w.subarray(t * m, t * m + m);
    for (let j = 0; j < m; j++) s += w[j]! * wt[j]!;
    marker[t] = s;
  }
  return { rel, relSelf, marker, markerSelf: ww, w };
}

// -- scoring ---------------------------------------------------------------------------------

/** A kernel model's kernel entries between a sample and its training samples, and the sample's own. */
function kernelRow(b: ScoringBasis, k: KernelState, r: SampleRows): { row: Float64Array; self: number } {
  const nt = k.train.length, row = new Float64Array(nt);
  if (k.kernel === 'grm' || k.kernel === 'marker') {
    const src = k.kernel === 'grm' ? r.rel : r.marker;
    if (!src) throw new GraftError('rrBLUP needs the new samples\' marker genotypes');
    for (let t = 0; t < nt; t++) row[t] = src[k.train[t]!]!;
    return { row, self: k.kernel === 'grm' ? r.relSelf : r.markerSelf! };
  }
  if (!Number.isFinite(r.relSelf)) throw new GraftError('the Gaussian kernels (rkhs, rkhs-ka, boost, stack) need each new sample\'s relationship with itself: give its own column in the relationship file');
  const scale = (theta: number): number => theta * (b.median > 0 ? b.median : 1);
  for (let t = 0; t < nt; t++) {
    const s = k.train[t]!;
    const d2 = Math.max(0, b.relDiag[s]! + r.relSelf - 2 * r.rel[s]!);
    if (k.kernel === 'gaussian') row[t] = Math.exp(-d2 / scale(k.theta!));
    else {
      const th = k.thetas!, w = k.weights!;
      row[t] = w[0]! * Math.exp(-d2 / scale(th[0]!)) + w[1]! * Math.exp(-d2 / scale(th[1]!)) + w[2]! * Math.exp(-d2 / scale(th[2]!));
    }
  }
  return { row, self: 1 };
}

/**
 * A kernel model's prediction μ + Σ_t k_t α_t (predictKernel's order) and, with V⁻¹ =
 * (K + δI)⁻¹, the reliability 1 − PEV/(σg² K_ss) of the genetic value, where
 * PEV/σg² = K_ss − kᵀPk, P = V⁻¹ − V⁻¹1(1ᵀV⁻¹1)⁻¹1ᵀV⁻¹ (Henderson 1975: the intercept
 * estimated), that is K_ss − kᵀV⁻¹k + (1ᵀV⁻¹k)² / 1ᵀV⁻¹1.
 */
export function scoreKernel(b: ScoringBasis, k: KernelState, r: SampleRows): { prediction: number; reliability: number | null } {
  const { row, self } = kernelRow(b, k, r);
  let acc = k.mu;
  for (let t = 0; t < row.length; t++) acc += row[t]! * k.alpha[t]!;
  if (!k.vinv) return { prediction: acc, reliability: null };
  const nt = row.length, v = k.vinv;
  let kvk = 0, onevk = 0, onev1 = 0;
  for (let a = 0; a < nt; a++) {
    let vk = 0, v1 = 0;
    for (let c = 0; c < nt; c++) { vk += v[a * nt + c]! * row[c]!; v1 += v[a * nt + c]!; }
    kvk += row[a]! * vk; onevk += vk; onev1 += v1;
  }
  const pev = self - kvk + onevk ** 2 / onev1;
  const rel = self > 0 ? 1 - pev / self : NaN;
  return { prediction: acc, reliability: Number.isFinite(rel) ? Math.min(1, Math.max(0, rel)) : null };
}

/** A new sample's GCN features from its rows (FeaturePart), float32 like the study's. */
export function sampleFeatures(b: ScoringBasis, r: SampleRows): Float32Array {
  const out = new Float32Array(b.f), n = b.n;
  let at = 0;
  for (const p of b.featureParts) {
    if (p.source === 'markers') {
      if (!r.w) throw new GraftError('marker features need the new samples\' genotypes');
      out.set(r.w.subarray(p.c0, p.c1), at); at += p.c1 - p.c0;
      continue;
    }
    let krow: Float64Array;
    if (p.source === 'relationship') krow = r.rel;
    else if (p.c0 === 0 && p.c1 === b.markers!.names.length) krow = r.marker!;
    else {
      // A marker block's own kernel row: W_block·W_blockᵀ against the study's samples.
      const mk = b.markers!, m = mk.names.length;
      krow = new Float64Array(n);
      for (let t = 0; t < n; t++) { let s = 0; for (let j = p.c0; j < p.c1; j++) s += r.w![j]! * mk.w[t * m + j]!; krow[t] = s; }
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
  if (b.graph.kind === 'threshold') { const th = b.graph.threshold; return Array.from({ length: b.n }, (_, j) => j).filter((j) => row[j]! >= th); }
  const order = Array.from({ length: b.n }, (_, j) => j).sort((a, c) => (row[c]! - row[a]!) || (a - c));
  return order.slice(0, Math.min(b.graph.k, b.n));
}

/**
 * A GCN model's members run on the study's graph with the new samples joined, one at a time
 * (each links to study samples only, by the stored rule, so its prediction does not depend
 * on the other new samples): each member's prediction per sample, in trait units.
 */
export async function scoreMembers(rt: Runtime, b: ScoringBasis, kept: KeptModel, samples: { features: Float32Array; edges: number[] }[]): Promise<Float64Array[]> {
  const f = kept.final, shape = kept.shape!;
  if (shape.covariates) throw new GraftError(`${kept.model}: the hybrid model needs the new samples' covariates; graft predict does not take them yet`);
  const N = b.n + 1, heap = rt.heap;
  const blocks = shape.blocks && shape.blocks.length > 1 ? shape.blocks : null;
  let held: Tensor[] = [];
  let adj: ReturnType<typeof gcnNorm> | null = null;
  const out = f.members!.map(() => new Float64Array(samples.length));
  for (const [e, m] of f.members!.entries()) {
    const c: GcnRegressorConfig = { ...f.config!, seed: m.seed };
    const model = gcnRegressorModel<void>(rt, c, { f: shape.f, ...(blocks ? { blocks } : {}) }, () => ({ adj: adj! }), () => held);
    try {
      loadWeights(model.params(), m.weights, `${kept.model} ${kept.trait} member ${e}`);
      for (const [s, smp] of samples.entries()) {
        const x = new Float32Array(N * b.f);
        x.set(b.features); x.set(smp.features, b.n * b.f);
        const src = new Int32Array(b.src.length + smp.edges.length), dst = new Int32Array(src.length);
        src.set(b.src); dst.set(b.dst);
        smp.edges.forEach((j, q) => { src[b.src.length + q] = j; dst[b.src.length + q] = b.n; });
        const xt = Tensor.from(heap, 'float32', [N, b.f], x);
        adj = gcnNorm(heap, N, src, dst);
        held = blocks ? splitColumns(heap, xt, blocks) : [xt];
        try {
          const ev = await model.forward({ exec: rt.exec, training: false, seed: c.seed, step: 0 }, undefined);
          out[e]![s] = (ev.data() as Float32Array)[b.n]! * m.scale.sd + m.scale.mean;
          model.release();
        } finally {
          adj.free(); adj = null;
          if (blocks) for (const t of held) t.free();
          xt.free(); held = [];
        }
      }
    } finally {
      model.dispose();
    }
  }
  return out;
}

/** One model's prediction, spread (members' sd) and reliability from its kernel score and members' predictions. */
export function combine(kept: KeptModel, kernel: { prediction: number; reliability: number | null } | null, members: number[] | null, deviation?: { prediction: number } | null): { prediction: number; sd: number | null; reliability: number | null } {
  const mean = members ? members.reduce((a, v) => a + v, 0) / members.length : 0;
  const sd = members && members.length > 1 ? Math.sqrt(members.reduce((a, v) => a + (v - mean) ** 2, 0) / (members.length - 1)) : null;
  switch (kept.model) {
    case 'gblup': case 'rkhs': case 'rkhs-ka': case 'rrblup': case 'across': return { prediction: kernel!.prediction, sd: null, reliability: kernel!.reliability };
    case 'gxe': return { prediction: kernel!.prediction + (deviation?.prediction ?? 0), sd: null, reliability: null };
    case 'boost': return { prediction: kernel!.prediction + mean, sd, reliability: null };
    case 'stack': { const w = kept.final.blend!; return { prediction: w * mean + (1 - w) * kernel!.prediction, sd: sd === null ? null : w * sd, reliability: null }; }
    default: return { prediction: mean, sd, reliability: null };
  }
}

// -- files -------------------------------------------------------------------------------

const f64Bytes = (a: Float64Array): StoredTensor => ({ shape: [a.byteLength], data: new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength)) });
function readF64(t: StoredTensor | undefined, file: string, name: string): Float64Array {
  if (!t || !(t.data instanceof Uint8Array) || t.data.byteLength % 8) throw new GraftError(`${file}: no float64 tensor '${name}' (damaged or from another version)`);
  return new Float64Array(t.data.slice().buffer);
}
function meta<T>(md: Record<string, string>, key: string, file: string): T {
  const v = md[key];
  if (v === undefined) throw new GraftError(`${file}: no '${key}' in the metadata (damaged or from another version)`);
  try { return JSON.parse(v) as T; } catch { throw new GraftError(`${file}: metadata '${key}' is not valid JSON (damaged)`); }
}

/** What ties a kept model to its scoring basis: the study's samples, markers, features, graph and relationship diagonal. */
export function basisFingerprint(b: ScoringBasis): string {
  const h = createHash('sha256').update(JSON.stringify([b.ids, b.markers?.names ?? null, b.f, b.relationship, b.median, b.graph]));
  for (const a of [b.relDiag, b.features, b.src, b.dst]) h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return h.digest('hex');
}

export function saveScoringBasis(dir: string, b: ScoringBasis): void {
  ensureDir(dir);
  const tensors = new Map<string, StoredTensor>([
    ['rel_diag', f64Bytes(b.relDiag)], ['features', { shape: [b.n, b.f], data: new Float32Array(b.features) }],
    ['src', { shape: [b.src.length], data: new Int32Array(b.src) }], ['dst', { shape: [b.dst.length], data: new Int32Array(b.dst) }],
  ]);
  b.featureParts.forEach((p, q) => { if (p.source !== 'markers') tensors.set(`feature_part${q}`, f64Bytes(p.projection)); });
  const mk = b.markers;
  if (mk) {
    tensors.set('dosage', { shape: [b.n, mk.names.length], data: mk.dosage });
    tensors.set('freq', f64Bytes(mk.freq)); tensors.set('mean', f64Bytes(mk.mean)); tensors.set('inv', f64Bytes(mk.inv));
  }
  saveCheckpoint(scoringFile(dir), {
    tensors,
    metadata: {
      format: SCORING_FORMAT, fingerprint: basisFingerprint(b), ids: JSON.stringify(b.ids), traits: JSON.stringify(b.traits), relationship: b.relationship, median: JSON.stringify(b.median),
      graph: JSON.stringify(b.graph), f: JSON.stringify(b.f), feature_blocks: JSON.stringify(b.featureBlocks ?? null),
      feature_parts: JSON.stringify(b.featureParts.map((p) => (p.source === 'markers' ? p : { ...p, projection: undefined }))),
      markers: JSON.stringify(mk ? { names: mk.names, binary: mk.binary, denom: mk.denom, ref: mk.ref ?? null, alt: mk.alt ?? null } : null),
    },
  });
}

export function loadScoringBasis(dir: string): ScoringBasis {
  const file = scoringFile(dir);
  if (!existsSync(file)) throw new GraftError(`${file} not found: the run kept no models to score new samples; run the study again keeping its models`);
  const cp = loadCheckpoint(file), md = cp.metadata;
  if (md['format'] !== SCORING_FORMAT) throw new GraftError(`${file}: not a graft gp scoring file (format ${md['format'] ?? 'none'}, expected ${SCORING_FORMAT})`);
  const ids = meta<string[]>(md, 'ids', file), n = ids.length, f = meta<number>(md, 'f', file);
  const mkMeta = meta<{ names: string[]; binary: boolean; denom: number; ref: string[] | null; alt: string[] | null } | null>(md, 'markers', file);
  let markers: ScoringBasis['markers'] = null;
  if (mkMeta) {
    const dosage = cp.tensors.get('dosage')?.data;
    if (!(dosage instanceof Float32Array) || dosage.length !== n * mkMeta.names.length) throw new GraftError(`${file}: the study's dosages are missing or of the wrong size (damaged)`);
    const freq = readF64(cp.tensors.get('freq'), file, 'freq'), mean = readF64(cp.tensors.get('mean'), file, 'mean'), inv = readF64(cp.tensors.get('inv'), file, 'inv');
    markers = { names: mkMeta.names, binary: mkMeta.binary, ...(mkMeta.ref && mkMeta.alt ? { ref: mkMeta.ref, alt: mkMeta.alt } : {}), freq, mean, inv, denom: mkMeta.denom, ...derived(dosage, n, freq, mean, inv) };
  }
  const parts = meta<FeaturePart[]>(md, 'feature_parts', file).map((p, q) => (p.source === 'markers' ? p : { ...p, projection: readF64(cp.tensors.get(`feature_part${q}`), file, `feature_part${q}`) }));
  const blocks = meta<number[] | null>(md, 'feature_blocks', file);
  const i32 = (k: string): Int32Array => { const d = cp.tensors.get(k)?.data; if (!(d instanceof Int32Array)) throw new GraftError(`${file}: no '${k}' tensor (damaged)`); return d; };
  const features = cp.tensors.get('features')?.data;
  if (!(features instanceof Float32Array)) throw new GraftError(`${file}: no 'features' tensor (damaged)`);
  return {
    ids, n, markers, relationship: md['relationship'] === 'given' ? 'given' : 'grm', relDiag: readF64(cp.tensors.get('rel_diag'), file, 'rel_diag'),
    median: meta<number>(md, 'median', file), features, f, featureParts: parts, ...(blocks ? { featureBlocks: blocks } : {}),
    src: i32('src'), dst: i32('dst'), graph: meta<GraphRule>(md, 'graph', file), traits: meta<string[]>(md, 'traits', file),
  };
}

export function saveKeptModel(dir: string, k: KeptModel, basis: ScoringBasis): string {
  ensureDir(dir);
  const tensors = new Map<string, StoredTensor>();
  const kern = k.final.kernel, dev = k.final.deviation;
  for (const [p, st] of [['k', kern], ['d', dev]] as const) {
    if (!st) continue;
    tensors.set(`${p}.alpha`, f64Bytes(st.alpha));
    tensors.set(`${p}.train`, { shape: [st.train.length], data: new Int32Array(st.train) });
    if (st.vinv) tensors.set(`${p}.vinv`, f64Bytes(st.vinv));
  }
  const kmeta = (st: KernelState | undefined): string => JSON.stringify(st ? { kernel: st.kernel, theta: st.theta ?? null, thetas: st.thetas ?? null, weights: st.weights ?? null, mu: st.mu, sigmaG2: st.sigmaG2, delta: st.delta, h2: st.h2 } : null);
  k.final.members?.forEach((m, e) => { for (const [name, w] of m.weights) tensors.set(`m${e}.${name}`, { shape: [w.length], data: w }); });
  const file = keptModelFile(dir, k.model, k.trait);
  saveCheckpoint(file, {
    tensors,
    metadata: {
      format: KEPT_FORMAT, model: k.model, trait: k.trait, basis: basisFingerprint(basis),
      kernel: kmeta(kern), deviation: kmeta(dev),
      members: JSON.stringify(k.final.members?.map((m) => ({ seed: m.seed, scale: m.scale })) ?? null),
      config: JSON.stringify(k.final.config ?? null), shape: JSON.stringify(k.shape ?? null), blend: JSON.stringify(k.final.blend ?? null),
    },
  });
  return file;
}

/** A kept model; with `basis`, one kept from other data than that scoring basis is refused (a file copied from another run). */
export function loadKeptModel(file: string, basis?: ScoringBasis): KeptModel {
  const cp = loadCheckpoint(file), md = cp.metadata;
  if (md['format'] !== KEPT_FORMAT) throw new GraftError(`${file}: not a graft gp kept model (format ${md['format'] ?? 'none'}, expected ${KEPT_FORMAT})`);
  if (basis && md['basis'] !== basisFingerprint(basis)) throw new GraftError(`${file}: kept from other data than ${scoringFile(dirname(file))} (another run's model?); run the study again keeping its models`);
  const final: FinalState = {};
  const kernelOf = (key: string, p: string): KernelState | undefined => {
    const km = md[key] === undefined ? null : meta<{ kernel: KernelState['kernel']; theta: number | null; thetas: number[] | null; weights: number[] | null; mu: number; sigmaG2: number; delta: number; h2: number } | null>(md, key, file);
    if (!km) return undefined;
    const train = cp.tensors.get(`${p}.train`)?.data;
    if (!(train instanceof Int32Array)) throw new GraftError(`${file}: no '${p}.train' tensor (damaged)`);
    return {
      kernel: km.kernel, ...(km.theta !== null ? { theta: km.theta } : {}), ...(km.thetas ? { thetas: km.thetas } : {}), ...(km.weights ? { weights: km.weights } : {}),
      mu: km.mu, sigmaG2: km.sigmaG2, delta: km.delta, h2: km.h2, alpha: readF64(cp.tensors.get(`${p}.alpha`), file, `${p}.alpha`), train,
      ...(cp.tensors.has(`${p}.vinv`) ? { vinv: readF64(cp.tensors.get(`${p}.vinv`), file, `${p}.vinv`) } : {}),
    };
  };
  const kern = kernelOf('kernel', 'k'), dev = kernelOf('deviation', 'd');
  if (kern) final.kernel = kern;
  if (dev) final.deviation = dev;
  const members = meta<{ seed: number; scale: { mean: number; sd: number } }[] | null>(md, 'members', file);
  if (members) {
    final.members = members.map((m, e): MemberState => {
      const weights = new Map<string, Float32Array>();
      for (const [name, t] of cp.tensors) if (name.startsWith(`m${e}.`) && t.data instanceof Float32Array) weights.set(name.slice(`m${e}.`.length), t.data);
      return { seed: m.seed, scale: m.scale, weights };
    });
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
  return readdirSync(dir).filter((f) => f.startsWith('kept-') && f.endsWith('.safetensors')).sort().map((f) => join(dir, f));
}

// -- new genotypes ---------------------------------------------------------------------------

/** How a new genotype file met the model's markers (graft predict reports it). */
export interface AlignmentReport {
  markers: number;
  present: number;
  /** VCF records whose REF/ALT are the model's ALT/REF: recoded (dosage d → top − d). */
  swapped: number;
  /** VCF records whose alleles are neither the model's nor swapped: taken as missing. */
  otherAlleles: number;
  /** Cells filled with the training mean 2p (missing calls and absent markers). */
  imputed: number;
  /** Whether alleles could be checked (both files VCF). */
  allelesChecked: boolean;
  /** Binary-coded model given dosages (or the reverse): how the values were taken. */
  coding: string;
}

/**
 * A new genotype file's samples as the model's markers in the model's order and coding,
 * missing values (and absent markers) the training means 2p: float32 dosage rows on the
 * 0..2 scale, as qc.ts makes the study's. Refuses when fewer than `minOverlap` of the
 * model's markers are present.
 */
export function alignGenotypes(b: ScoringBasis, g: GenotypeMatrix, minOverlap: number): { ids: string[]; dosage: Float32Array[]; report: AlignmentReport } {
  const mk = b.markers;
  if (!mk) throw new GraftError(`${g.file}: this run was made from a relationship matrix only; score new samples by their relationship rows`);
  const m = mk.names.length, col = new Map(g.markers.map((name, j) => [name, j]));
  const at = mk.names.map((name) => col.get(name) ?? -1);
  const present = at.filter((j) => j >= 0).length;
  if (present < minOverlap * m) {
    throw new GraftError(`${g.file}: ${present} of the model's ${m} markers are present (${((100 * present) / m).toFixed(1)}%); scoring needs at least ${(100 * minOverlap).toFixed(0)}% (a lower minimum overlap accepts it; absent markers are filled with the training mean)`);
  }
  let newBinary = true;
  for (const v of g.dosage) if (v > 1) { newBinary = false; break; }
  // The model's coding decides the scale; a binary model given 0/1/2 dosages takes them as they are.
  const scale = mk.binary && newBinary ? 2 : 1;
  const coding = mk.binary ? (newBinary ? 'binary 0/1, taken as 0/2 as in training' : 'the model was trained on binary 0/1 codes (taken as 0/2); this file holds 0/1/2 dosages: taken as they are')
    : 'dosage 0/1/2 as in training';
  const checked = !!(mk.ref && mk.alt && g.sites?.ref && g.sites.alt);
  const recode = new Int8Array(m); // 0 as is, 1 swapped, -1 other alleles (missing)
  let swapped = 0, otherAlleles = 0;
  if (checked) {
    for (let c = 0; c < m; c++) {
      const j = at[c]!;
      if (j < 0) continue;
      const r = g.sites!.ref![j]!, a = g.sites!.alt![j]!;
      if (r === mk.ref![c] && a === mk.alt![c]) continue;
      if (r === mk.alt![c] && a === mk.ref![c]) { recode[c] = 1; swapped++; } else { recode[c] = -1; otherAlleles++; }
    }
  }
  const top = newBinary ? 1 : 2, gm = g.markers.length;
  let imputed = 0;
  const dosage = g.ids.map((_, i) => {
    const row = new Float32Array(m);
    for (let c = 0; c < m; c++) {
      const j = at[c]!;
      let v = j >= 0 && recode[c] !== -1 ? g.dosage[i * gm + j]! : NaN;
      if (v === v && recode[c] === 1) v = top - v;
      if (v === v) row[c] = v * scale;
      else { row[c] = 2 * mk.freq[c]!; imputed++; }
    }
    return row;
  });
  return { ids: g.ids, dosage, report: { markers: m, present, swapped, otherAlleles, imputed, allelesChecked: checked, coding } };
}
