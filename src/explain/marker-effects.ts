import { fitKernelReml, kernelBasis, trainBlock, type KernelFit } from '../genomics/kernel-reml.js';
import { markerMoments } from '../genomics/qc.js';
import type { StudyData, StudyMarkers } from '../genomics/study-data.js';

// The linear baselines' marker effects, fitted on every phenotyped sample. Both models predict
// μ̂ + K_s,train·α with α = V⁻¹(y − 1μ̂) (kernel-reml). rrBLUP's kernel is W·Wᵀ (standardized
// markers), so its effects are β = W_trainᵀ·α per standard deviation of a marker. GBLUP's
// kernel is VanRaden's Z·Zᵀ/c (Z centred dosages, c = 2Σp(1−p)), so the same predictions come
// from allele-substitution effects β_Z = Z_trainᵀ·α / c (back-solved GBLUP, as in Strandén &
// Garrick 2009); β_Z·sd is then the effect per standard deviation, comparable with rrBLUP's.

/**
 * A linear model's marker effects (rrBLUP's, or GBLUP's back-solved): per standard deviation and per allele, with the fit they came from.
 */
export interface MarkerEffects {
  /** Effect per standard deviation of each marker (what rankings use). */
  perSd: Float64Array;
  /** rrBLUP: = perSd; GBLUP: per allele dosage. */
  raw: Float64Array;
  mu: number;
  fit: KernelFit;
  /** The samples the model was fitted on. */
  train: Int32Array;
}

function phenotyped(data: StudyData, trait: number): Int32Array {
  const y = data.y[trait]!,
    idx: number[] = [];
  for (let i = 0; i < data.n; i++) if (Number.isFinite(y[i]!)) idx.push(i);
  return Int32Array.from(idx);
}

function fitOn(k: Float64Array, data: StudyData, trait: number): { fit: KernelFit; train: Int32Array } {
  const train = phenotyped(data, trait);
  const y = data.y[trait]!;
  const fit = fitKernelReml(
    kernelBasis(trainBlock(k, data.n, train), train.length),
    Float64Array.from(train, (i) => y[i]!),
  );
  return { fit, train };
}

/** rrBLUP's marker effects: β = W_trainᵀ α. */
export function rrBlupEffects(data: StudyData, markers: StudyMarkers, trait: number): MarkerEffects {
  const { fit, train } = fitOn(data.markerKernel, data, trait);
  const m = markers.clean.m,
    w = markers.w,
    beta = new Float64Array(m);
  train.forEach((i, t) => {
    const a = fit.alpha[t]!;
    for (let j = 0; j < m; j++) beta[j]! += w[i * m + j]! * a;
  });
  return { perSd: beta, raw: beta, mu: fit.mu, fit, train };
}

/**
 * GBLUP back-solved to marker effects. Only for the VanRaden GRM made from these markers (not
 * a relationship matrix read from a file): returns null otherwise.
 */
export function gblupEffects(
  data: StudyData,
  markers: StudyMarkers,
  trait: number,
  grmFromMarkers: boolean,
): MarkerEffects | null {
  if (!grmFromMarkers) return null;
  const { fit, train } = fitOn(data.grm, data, trait);
  const c = markers.clean,
    m = c.m;
  let denom = 0;
  for (const p of c.freq) denom += 2 * p * (1 - p);
  const raw = new Float64Array(m);
  train.forEach((i, t) => {
    const a = fit.alpha[t]!;
    for (let j = 0; j < m; j++) raw[j]! += (c.dosage[i * m + j]! - 2 * c.freq[j]!) * a;
  });
  for (let j = 0; j < m; j++) raw[j]! /= denom;
  const { variance } = markerMoments(c);
  const perSd = raw.map((b, j) => b * Math.sqrt(Math.max(0, variance[j]!)));
  return { perSd, raw, mu: fit.mu, fit, train };
}

/** Predictions of every sample from GBLUP's back-solved effects: μ̂ + Z·β_Z (equal to GBLUP's own). */
export function predictFromEffects(markers: StudyMarkers, e: MarkerEffects): Float64Array {
  const c = markers.clean,
    m = c.m,
    out = new Float64Array(c.n);
  for (let i = 0; i < c.n; i++) {
    let s = e.mu;
    for (let j = 0; j < m; j++) s += (c.dosage[i * m + j]! - 2 * c.freq[j]!) * e.raw[j]!;
    out[i] = s;
  }
  return out;
}
