import { argRangeError } from '../core/errors.js';
import { isBinaryCoded, type GenotypeMatrix } from '../data/genotypes.js';

/** Marker quality control: the least call rate and minor allele frequency a marker needs to be kept. */
export interface QcOptions {
  /** Drop markers observed in fewer than this fraction of samples (default 0.9). */
  minCallRate?: number;
  /** Drop markers whose minor allele frequency is below this (default 0.01; monomorphic always go). */
  minMaf?: number;
}

/**
 * What quality control did: markers in, removed for call rate, MAF and monomorphism, kept, cells imputed, and the coding.
 */
export interface QcReport {
  samples: number;
  markersIn: number;
  removedCallRate: number;
  removedMaf: number;
  removedMonomorphic: number;
  markersKept: number;
  imputedCells: number;
  /** 'dosage 0/1/2' or 'binary 0/1' (presence/absence or inbred lines). */
  coding: string;
}

/** Genotypes after QC: mean-imputed dosages of the kept markers and their allele frequencies. */
export interface CleanGenotypes {
  ids: string[];
  markers: string[];
  n: number;
  m: number;
  /** Imputed dosage, sample-major [n, m], on the 0..2 scale (binary codes doubled). */
  dosage: Float32Array;
  /** Frequency of the coded allele per kept marker. */
  freq: Float64Array;
  /** Chromosome and position per kept marker, when the genotypes had them (VCF). */
  sites?: { chromosome: string[]; position: number[]; ref?: string[]; alt?: string[] };
  report: QcReport;
}

/**
 * Call-rate and minor-allele-frequency filters, then mean imputation. Binary 0/1 codes (DArT
 * presence/absence, inbred lines) are put on the 0/2 scale, as homozygous dosages, so allele
 * frequencies and VanRaden's scaling mean the same for both codings.
 */
export function qualityControl(g: GenotypeMatrix, options: QcOptions = {}): CleanGenotypes {
  const minCall = options.minCallRate ?? 0.9,
    minMaf = options.minMaf ?? 0.01;
  if (!(minCall >= 0 && minCall <= 1))
    throw argRangeError('qualityControl', 'options.minCallRate', 'in [0, 1]', minCall);
  if (!(minMaf >= 0 && minMaf < 0.5)) throw argRangeError('qualityControl', 'options.minMaf', 'in [0, 0.5)', minMaf);
  const n = g.ids.length,
    m = g.markers.length,
    x = g.dosage;
  const binary = isBinaryCoded(g);
  const scale = binary ? 2 : 1;
  const sum = new Float64Array(m),
    obs = new Int32Array(m);
  for (let i = 0; i < n; i++) {
    const row = i * m;
    for (let j = 0; j < m; j++) {
      const v = x[row + j]!;
      if (!Number.isNaN(v)) {
        sum[j]! += v * scale;
        obs[j]!++;
      }
    }
  }
  const keep: number[] = [];
  let removedCallRate = 0,
    removedMaf = 0,
    removedMonomorphic = 0;
  for (let j = 0; j < m; j++) {
    if (obs[j]! < minCall * n || obs[j] === 0) {
      removedCallRate++;
      continue;
    }
    const p = sum[j]! / (2 * obs[j]!);
    const maf = Math.min(p, 1 - p);
    if (maf === 0) {
      removedMonomorphic++;
      continue;
    }
    if (maf < minMaf) {
      removedMaf++;
      continue;
    }
    keep.push(j);
  }
  const mk = keep.length;
  const dosage = new Float32Array(n * mk),
    freq = new Float64Array(mk);
  keep.forEach((j, c) => {
    freq[c] = sum[j]! / (2 * obs[j]!);
  });
  let imputed = 0;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < mk; c++) {
      const v = x[i * m + keep[c]!]!;
      if (!Number.isNaN(v)) dosage[i * mk + c] = v * scale;
      else {
        dosage[i * mk + c] = 2 * freq[c]!;
        imputed++;
      }
    }
  }
  return {
    ids: g.ids,
    markers: keep.map((j) => g.markers[j]!),
    n,
    m: mk,
    dosage,
    freq,
    ...(g.sites
      ? {
          sites: {
            chromosome: keep.map((j) => g.sites!.chromosome[j]!),
            position: keep.map((j) => g.sites!.position[j]!),
            ...(g.sites.ref && g.sites.alt
              ? { ref: keep.map((j) => g.sites!.ref![j]!), alt: keep.map((j) => g.sites!.alt![j]!) }
              : {}),
          },
        }
      : {}),
    report: {
      samples: n,
      markersIn: m,
      removedCallRate,
      removedMaf,
      removedMonomorphic,
      markersKept: mk,
      imputedCells: imputed,
      coding: binary ? 'binary 0/1 (taken as homozygous 0/2)' : 'dosage 0/1/2',
    },
  };
}

/** Each kept marker's mean dosage and (population) variance over the samples. */
export function markerMoments(c: CleanGenotypes): { mean: Float64Array; variance: Float64Array } {
  const { n, m, dosage } = c;
  const mean = new Float64Array(m),
    sq = new Float64Array(m);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < m; j++) {
      const v = dosage[i * m + j]!;
      mean[j]! += v;
      sq[j]! += v * v;
    }
  const variance = new Float64Array(m);
  for (let j = 0; j < m; j++) {
    mean[j]! /= n;
    variance[j] = sq[j]! / n - mean[j]! * mean[j]!;
  }
  return { mean, variance };
}

/** Markers centred and scaled to unit variance, [n, m] float32 (features and rrBLUP's design). */
export function standardizeMarkers(c: CleanGenotypes): Float32Array {
  const { n, m, dosage } = c;
  const { mean, variance } = markerMoments(c);
  const inv = variance.map((v) => (v > 1e-12 ? 1 / Math.sqrt(v) : 0));
  const out = new Float32Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) out[i * m + j] = (dosage[i * m + j]! - mean[j]!) * inv[j]!;
  return out;
}

/** Markers centred by twice their allele frequency (VanRaden's Z), [n, m] float32. */
export function centreMarkers(c: CleanGenotypes): Float32Array {
  const { n, m, dosage, freq } = c;
  const out = new Float32Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) out[i * m + j] = dosage[i * m + j]! - 2 * freq[j]!;
  return out;
}
