import { GraftError } from '../core/errors.js';
import type { Checkpoint, StoredTensor } from '../core/safetensors.js';

// The pure arithmetic of scoring a new sample with a kept kernel or linear gp model, shared by
// graft predict (genomics/kept-models.ts, node) and graft/infer (infer/genomic.ts, the bundle):
// raw named dosages aligned to the stored markers and imputed with the training means, the
// sample's kernel rows against the study's samples, and μ + Σ k_t α_t. One copy of each, so
// both give the same bits from the same raw dosages. It sits in graph/ because both sides may
// import it (test/layers.test.ts); nothing here reads files or knows gp's model names.

/** The study's QC-kept markers as scoring.safetensors stores them (genomics/kept-models.ts ScoringBasis.markers). */
export interface MarkerBasis {
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
}

/** What sampleRows and scoreKernel read of a scoring basis. */
export interface KernelBasis {
  n: number;
  markers: MarkerBasis | null;
  relDiag: Float64Array;
  median: number;
}

/** A kept kernel model's fit as scoreKernel reads it (genomics/job-types.ts KernelState extends it with the variance components). */
export interface KernelScoring {
  kernel: 'grm' | 'marker' | 'gaussian' | 'average';
  theta?: number;
  thetas?: number[];
  weights?: number[];
  mu: number;
  alpha: Float64Array;
  /** The training samples (indices into the study's samples), in the order alpha follows. */
  train: Int32Array;
  /** (K_train + δI)⁻¹, for reliabilities. */
  vinv?: Float64Array;
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

/** Centred (VanRaden's Z) and standardized (W) markers from dosages, as qc.ts makes them: the same float32 rounding. */
export function markerDerived(
  dosage: Float32Array,
  n: number,
  freq: Float64Array,
  mean: Float64Array,
  inv: Float64Array,
): { dosage: Float32Array; z: Float32Array; w: Float32Array } {
  const m = freq.length,
    z = new Float32Array(n * m),
    w = new Float32Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      const d = dosage[i * m + j]!;
      z[i * m + j] = d - 2 * freq[j]!;
      w[i * m + j] = (d - mean[j]!) * inv[j]!;
    }
  }
  return { dosage, z, w };
}

/**
 * A sample's kernel rows against the study's samples from its imputed dosages (0..2 scale,
 * the model's markers in order): the relationship row (unless `given`, a row read from a
 * relationship file) and the marker kernel's. Float64 sums in marker order.
 */
export function sampleRows(
  b: KernelBasis,
  dosage: Float32Array | null,
  given: { row: Float64Array; self: number } | null,
): SampleRows {
  const n = b.n,
    mk = b.markers;
  let rel: Float64Array | null = given ? given.row : null,
    relSelf = given ? given.self : NaN;
  if (!mk) {
    if (!rel)
      throw new GraftError(
        'this run was made from a relationship matrix only: a new sample needs its relationship row',
      );
    return { rel, relSelf };
  }
  if (!dosage) throw new GraftError('this run was made from marker genotypes: a new sample needs its genotypes');
  const m = mk.names.length;
  const z = new Float32Array(m),
    w = new Float32Array(m);
  for (let j = 0; j < m; j++) {
    z[j] = dosage[j]! - 2 * mk.freq[j]!;
    w[j] = (dosage[j]! - mk.mean[j]!) * mk.inv[j]!;
  }
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

/** A kernel model's kernel entries between a sample and its training samples, and the sample's own. */
function kernelRow(b: KernelBasis, k: KernelScoring, r: SampleRows): { row: Float64Array; self: number } {
  const nt = k.train.length,
    row = new Float64Array(nt);
  if (k.kernel === 'grm' || k.kernel === 'marker') {
    const src = k.kernel === 'grm' ? r.rel : r.marker;
    if (!src) throw new GraftError("rrBLUP needs the new samples' marker genotypes");
    for (let t = 0; t < nt; t++) row[t] = src[k.train[t]!]!;
    return { row, self: k.kernel === 'grm' ? r.relSelf : r.markerSelf! };
  }
  if (!Number.isFinite(r.relSelf))
    throw new GraftError(
      "the Gaussian kernels (rkhs, rkhs-ka, boost, stack) need each new sample's relationship with itself: give its own column in the relationship file",
    );
  const scale = (theta: number): number => theta * (b.median > 0 ? b.median : 1);
  for (let t = 0; t < nt; t++) {
    const s = k.train[t]!;
    const d2 = Math.max(0, b.relDiag[s]! + r.relSelf - 2 * r.rel[s]!);
    if (k.kernel === 'gaussian') row[t] = Math.exp(-d2 / scale(k.theta!));
    else {
      const th = k.thetas!,
        w = k.weights!;
      row[t] =
        w[0]! * Math.exp(-d2 / scale(th[0]!)) +
        w[1]! * Math.exp(-d2 / scale(th[1]!)) +
        w[2]! * Math.exp(-d2 / scale(th[2]!));
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
export function scoreKernel(
  b: KernelBasis,
  k: KernelScoring,
  r: SampleRows,
): { prediction: number; reliability: number | null } {
  const { row, self } = kernelRow(b, k, r);
  let acc = k.mu;
  for (let t = 0; t < row.length; t++) acc += row[t]! * k.alpha[t]!;
  if (!k.vinv) return { prediction: acc, reliability: null };
  const nt = row.length,
    v = k.vinv;
  let kvk = 0,
    onevk = 0,
    onev1 = 0;
  for (let a = 0; a < nt; a++) {
    let vk = 0,
      v1 = 0;
    for (let c = 0; c < nt; c++) {
      vk += v[a * nt + c]! * row[c]!;
      v1 += v[a * nt + c]!;
    }
    kvk += row[a]! * vk;
    onevk += vk;
    onev1 += v1;
  }
  const pev = self - kvk + onevk ** 2 / onev1;
  const rel = self > 0 ? 1 - pev / self : NaN;
  return { prediction: acc, reliability: Number.isFinite(rel) ? Math.min(1, Math.max(0, rel)) : null };
}

// -- aligning raw dosages --------------------------------------------------------------------

/** Raw genotypes by marker name: dosages [samples, markers] row-major (0/1/2, or 0/1; NaN missing), with VCF alleles when known. */
export interface NamedDosages {
  markers: string[];
  dosage: ArrayLike<number>;
  samples: number;
  sites?: { ref?: string[]; alt?: string[] };
}

/** How new genotypes met the model's markers (graft predict reports it). */
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
 * New samples' dosages as the model's markers in the model's order and coding, missing values
 * (and absent markers) the training means 2p: float32 rows on the 0..2 scale, as qc.ts makes
 * the study's. Refuses when fewer than `minOverlap` of the model's markers are present, naming
 * `source` (the input's file or name).
 */
export function alignDosages(
  mk: MarkerBasis,
  g: NamedDosages,
  minOverlap: number,
  source: string,
): { dosage: Float32Array[]; report: AlignmentReport } {
  const m = mk.names.length,
    col = new Map(g.markers.map((name, j) => [name, j]));
  const at = mk.names.map((name) => col.get(name) ?? -1);
  const present = at.filter((j) => j >= 0).length;
  if (present < minOverlap * m) {
    throw new GraftError(
      `${source}: ${present} of the model's ${m} markers are present (${((100 * present) / m).toFixed(1)}%); scoring needs at least ${(100 * minOverlap).toFixed(0)}% (a lower minimum overlap accepts it; absent markers are filled with the training mean)`,
    );
  }
  let newBinary = true;
  for (let i = 0; i < g.dosage.length; i++)
    if (g.dosage[i]! > 1) {
      newBinary = false;
      break;
    }
  // The model's coding decides the scale; a binary model given 0/1/2 dosages takes them as they are.
  const scale = mk.binary && newBinary ? 2 : 1;
  const coding = mk.binary
    ? newBinary
      ? 'binary 0/1, taken as 0/2 as in training'
      : 'the model was trained on binary 0/1 codes (taken as 0/2); this file holds 0/1/2 dosages: taken as they are'
    : 'dosage 0/1/2 as in training';
  const checked = !!(mk.ref && mk.alt && g.sites?.ref && g.sites.alt);
  const recode = new Int8Array(m); // 0 as is, 1 swapped, -1 other alleles (missing)
  let swapped = 0,
    otherAlleles = 0;
  if (checked) {
    for (let c = 0; c < m; c++) {
      const j = at[c]!;
      if (j < 0) continue;
      const r = g.sites!.ref![j]!,
        a = g.sites!.alt![j]!;
      if (r === mk.ref![c] && a === mk.alt![c]) continue;
      if (r === mk.alt![c] && a === mk.ref![c]) {
        recode[c] = 1;
        swapped++;
      } else {
        recode[c] = -1;
        otherAlleles++;
      }
    }
  }
  const top = newBinary ? 1 : 2,
    gm = g.markers.length;
  let imputed = 0;
  const dosage = Array.from({ length: g.samples }, (_, i) => {
    const row = new Float32Array(m);
    for (let c = 0; c < m; c++) {
      const j = at[c]!;
      let v = j >= 0 && recode[c] !== -1 ? g.dosage[i * gm + j]! : NaN;
      if (!Number.isNaN(v) && recode[c] === 1) v = top - v;
      if (!Number.isNaN(v)) row[c] = v * scale;
      else {
        row[c] = 2 * mk.freq[c]!;
        imputed++;
      }
    }
    return row;
  });
  return { dosage, report: { markers: m, present, swapped, otherAlleles, imputed, allelesChecked: checked, coding } };
}

// -- reading the stored pieces ---------------------------------------------------------------

/** A float64 vector stored as its little-endian bytes (a U8 tensor: safetensors' F64 is not among the engine's dtypes). */
export function readF64(t: StoredTensor | undefined, file: string, name: string): Float64Array {
  if (!t || !(t.data instanceof Uint8Array) || t.data.byteLength % 8)
    throw new GraftError(`${file}: no float64 tensor '${name}' (damaged or from another version)`);
  return new Float64Array(t.data.slice().buffer);
}

/** A metadata entry as JSON; absent or not JSON is a GraftError naming `file`. */
export function metaJson<T>(md: Record<string, string>, key: string, file: string): T {
  const v = md[key];
  if (v === undefined) throw new GraftError(`${file}: no '${key}' in the metadata (damaged or from another version)`);
  try {
    return JSON.parse(v) as T;
  } catch {
    throw new GraftError(`${file}: metadata '${key}' is not valid JSON (damaged)`);
  }
}

/** The markers of a scoring file (graft-gp-scoring-v1) over its n samples; null for a relationship-only run. */
export function readMarkerBasis(cp: Checkpoint, n: number, file: string): MarkerBasis | null {
  const md = cp.metadata;
  const mkMeta = metaJson<{
    names: string[];
    binary: boolean;
    denom: number;
    ref: string[] | null;
    alt: string[] | null;
  } | null>(md, 'markers', file);
  if (!mkMeta) return null;
  const dosage = cp.tensors.get('dosage')?.data;
  if (!(dosage instanceof Float32Array) || dosage.length !== n * mkMeta.names.length)
    throw new GraftError(`${file}: the study's dosages are missing or of the wrong size (damaged)`);
  const freq = readF64(cp.tensors.get('freq'), file, 'freq'),
    mean = readF64(cp.tensors.get('mean'), file, 'mean'),
    inv = readF64(cp.tensors.get('inv'), file, 'inv');
  return {
    names: mkMeta.names,
    binary: mkMeta.binary,
    ...(mkMeta.ref && mkMeta.alt ? { ref: mkMeta.ref, alt: mkMeta.alt } : {}),
    freq,
    mean,
    inv,
    denom: mkMeta.denom,
    ...markerDerived(dosage, n, freq, mean, inv),
  };
}

/** A kept model's stored kernel fit (graft-gp-kept-v1: metadata `key`, tensors `p`.alpha, .train, .vinv); undefined when it has none. */
export function readKernelFit<K extends KernelScoring & { sigmaG2: number; delta: number; h2: number }>(
  cp: Checkpoint,
  key: string,
  p: string,
  file: string,
): K | undefined {
  const md = cp.metadata;
  const km =
    md[key] === undefined
      ? null
      : metaJson<{
          kernel: KernelScoring['kernel'];
          theta: number | null;
          thetas: number[] | null;
          weights: number[] | null;
          mu: number;
          sigmaG2: number;
          delta: number;
          h2: number;
        } | null>(md, key, file);
  if (!km) return undefined;
  const train = cp.tensors.get(`${p}.train`)?.data;
  if (!(train instanceof Int32Array)) throw new GraftError(`${file}: no '${p}.train' tensor (damaged)`);
  return {
    kernel: km.kernel,
    ...(km.theta !== null ? { theta: km.theta } : {}),
    ...(km.thetas ? { thetas: km.thetas } : {}),
    ...(km.weights ? { weights: km.weights } : {}),
    mu: km.mu,
    sigmaG2: km.sigmaG2,
    delta: km.delta,
    h2: km.h2,
    alpha: readF64(cp.tensors.get(`${p}.alpha`), file, `${p}.alpha`),
    train,
    ...(cp.tensors.has(`${p}.vinv`) ? { vinv: readF64(cp.tensors.get(`${p}.vinv`), file, `${p}.vinv`) } : {}),
  } as K;
}
