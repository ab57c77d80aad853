import {
  readLongPhenotypes,
  readPhenotypes,
  traitValues,
  covariateMatrix,
  type LongFormat,
} from '../data/phenotypes.js';
import { DataError } from '../data/csv.js';
import { GraftError } from '../core/errors.js';
import type { Runtime } from '../runtime/runtime.js';
import { readGenotypes } from '../data/genotypes.js';
import { describeMatch, matchSamples, type SampleMatch } from './match.js';
import { qualityControl, standardizeMarkers, type CleanGenotypes, type QcOptions, type QcReport } from './qc.js';
import {
  alignRelationship,
  crossProduct,
  principalComponents,
  readRelationship,
  vanRadenGrm,
  type Relationship,
} from './relationship.js';
import { knnGraph, thresholdGraph } from '../graph/sample-graph.js';
import { gaussianKernel } from './rkhs.js';
import { multiEnvColumns, type EnvScheme, type MultiEnv } from './multi-env.js';

export interface StudyInputs {
  /** Marker genotypes; may be omitted when a relationship matrix is given (no rrBLUP then). */
  geno?: string;
  pheno: string;
  /** Trait columns; ['all'] takes every numeric column of the phenotype file. */
  traits: string[];
  qc?: QcOptions;
  /** GCN node features: the standardized markers, or the top principal components. */
  features: 'markers' | 'pcs';
  pcs: number;
  graph: 'knn' | 'threshold';
  knn: number;
  threshold: number;
  /**
   * Edge weights of the sample graph: 1 for every edge, or the Gaussian kernel of the two
   * samples' marker distance at θ = 1 (what RKHS sees), so closer relatives weigh more.
   */
  edgeWeights?: 'none' | 'kernel';
  /** A relationship matrix file to use instead of the VanRaden GRM (GBLUP kernel and graph). */
  relationship?: string;
  /** Phenotype-file columns for the hybrid model's dense branch. */
  covariates?: string[];
  /**
   * GCN branches: the markers cut into this many contiguous blocks (chromosome segments in
   * file order), each block's features feeding its own GCN branch, joined before the head
   * (the founding study's independent sections). 1: one GCN over all markers.
   */
  branches?: number;
  /**
   * Long-format phenotypes (one row per genotype × environment): the environment column, and
   * the genotype-id column when it is not the first. Each trait then runs per environment, as
   * traits named trait@environment.
   */
  long?: LongFormat;
  /** With long-format phenotypes: the CV scheme (multi-env.ts); default CV1, new genotypes. */
  envScheme?: EnvScheme;
}

/**
 * Everything the cross-validation jobs read, in SharedArrayBuffers so a pool of workers gets
 * it without copies. Index i is the i-th genotyped sample.
 */
export interface StudyData {
  n: number;
  ids: string[];
  traits: string[];
  /** Phenotype per trait and sample, NaN when missing or not phenotyped. */
  y: Float64Array[];
  features: Float32Array;
  f: number;
  /** GBLUP kernel (the GRM or the supplied relationship), [n, n]. */
  grm: Float64Array;
  /** rrBLUP kernel W·Wᵀ of the standardized markers, [n, n]. */
  markerKernel: Float64Array;
  src: Int32Array;
  dst: Int32Array;
  /** Long-format studies: each trait column's trait and environment, and the CV scheme. */
  multiEnv?: MultiEnv;
  /** A weight per edge when the graph is weighted (StudyInputs.edgeWeights). */
  edgeWeights?: Float32Array;
  covariates?: { values: Float32Array; width: number; columns: string[] };
  /** With branches: the feature columns of each marker block, in order (they add up to f). */
  featureBlocks?: number[];
}

/**
 * A study's data in words: the sample match, QC, skipped records, how the relationship, graph and features were made, and missing phenotypes per trait.
 */
export interface StudySummary {
  match: SampleMatch & { text: string };
  qc: QcReport | null;
  skippedRecords: Record<string, number>;
  relationship: string;
  graph: string;
  features: string;
  missingPerTrait: Record<string, number>;
  /** Per trait, the phenotypes more than OUTLIER_ROBUST_SDS robust SDs from the median (kept, flagged). */
  outliers: Record<string, { id: string; value: number; robustZ: number }[]>;
}

/** Phenotypes further than this many robust SDs (1.4826 · MAD) from the trait's median are flagged. */
export const OUTLIER_ROBUST_SDS = 6;

/**
 * How a sample's GCN features are made from its genotypes, so a sample the study never saw
 * gets them the same way (genomics/kept-models.ts): standardized markers c0..c1 as they are,
 * the scores of the marker block's kernel W·Wᵀ, or of the relationship (`projection` [n, f]
 * maps a sample's kernel row against the study's n samples to its f scores).
 */
export type FeaturePart =
  | { source: 'markers'; c0: number; c1: number }
  | { source: 'marker-kernel'; c0: number; c1: number; f: number; projection: Float64Array }
  | { source: 'relationship'; f: number; projection: Float64Array };

function median(sorted: number[]): number {
  const m = sorted.length;
  return m % 2 ? sorted[(m - 1) / 2]! : (sorted[m / 2 - 1]! + sorted[m / 2]!) / 2;
}

/** The values more than OUTLIER_ROBUST_SDS robust SDs from the median, with their robust z. */
export function phenotypeOutliers(
  values: Float64Array,
  ids: string[],
): { id: string; value: number; robustZ: number }[] {
  const obs = Array.from(values)
    .filter(Number.isFinite)
    .sort((a, b) => a - b);
  if (obs.length < 3) return [];
  const med = median(obs);
  const mad = median(obs.map((v) => Math.abs(v - med)).sort((a, b) => a - b));
  const rsd = 1.4826 * mad;
  if (!(rsd > 0)) return [];
  const out: { id: string; value: number; robustZ: number }[] = [];
  values.forEach((v, i) => {
    if (Number.isFinite(v) && Math.abs(v - med) > OUTLIER_ROBUST_SDS * rsd)
      out.push({ id: ids[i]!, value: v, robustZ: (v - med) / rsd });
  });
  return out;
}

function sharedF64(a: Float64Array): Float64Array {
  const s = new Float64Array(new SharedArrayBuffer(a.byteLength));
  s.set(a);
  return s;
}
function sharedF32(a: Float32Array): Float32Array {
  const s = new Float32Array(new SharedArrayBuffer(a.byteLength));
  s.set(a);
  return s;
}
function sharedI32(a: Int32Array): Int32Array {
  const s = new Int32Array(new SharedArrayBuffer(a.byteLength));
  s.set(a);
  return s;
}

/** Reads, matches and cleans the inputs and builds the kernels, graph and features once. */
/** The markers after QC, for what needs them beyond the features (explanations: marker attributions and effects). */
export interface StudyMarkers {
  clean: CleanGenotypes;
  /** Standardized markers [n, m] (what the GCN's features are made of, and rrBLUP's design). */
  w: Float32Array;
}

export async function prepareStudy(
  rt: Runtime,
  o: StudyInputs,
  log: (s: string) => void = () => {},
  keep: { markers?: boolean } = {},
): Promise<{ data: StudyData; summary: StudySummary; markers: StudyMarkers | null; featureParts: FeaturePart[] }> {
  if (!o.geno && !o.relationship)
    throw new GraftError(
      'genomic prediction needs marker genotypes (options.geno) or a relationship matrix (options.relationship)',
    );
  const g = o.geno ? await readGenotypes(o.geno) : null;
  const given = o.relationship ? readRelationship(o.relationship) : null;
  const ids = g ? g.ids : given!.ids,
    idSource = o.geno ?? o.relationship!;
  const longData = o.long
    ? readLongPhenotypes(o.pheno, o.long, o.traits.length === 1 && o.traits[0] === 'all' ? 'all' : o.traits)
    : null;
  if (longData && o.covariates)
    throw new GraftError('covariates with long-format phenotypes are not supported: give them in a wide file');
  const p = longData ? longData.table : readPhenotypes(o.pheno);
  if (longData) {
    log(
      `${o.pheno}: long format, ${longData.traits.length} trait(s) × ${longData.environments.length} environments (${longData.environments.join(', ')}): one model per trait and environment` +
        `${longData.replicated ? `; ${longData.replicated} genotype × environment cells had several rows, averaged` : ''}`,
    );
  }
  const match = matchSamples(ids, idSource, p.ids, o.pheno);
  if (g)
    log(
      `${o.geno}: ${g.ids.length} samples × ${g.markers.length} markers${
        Object.keys(g.skipped).length
          ? ` (${Object.entries(g.skipped)
              .map(([k, v]) => `${v} ${k}`)
              .join(', ')} records skipped)`
          : ''
      }`,
    );
  else
    log(
      `${o.relationship}: ${ids.length} samples (no marker genotypes: GCN features are the relationship's principal components)`,
    );
  log(describeMatch(match));
  let traits = longData ? longData.table.columns : o.traits;
  if (traits.length === 1 && traits[0] === 'all') {
    traits = p.columns.filter((c) => {
      try {
        traitValues(p, c);
        return true;
      } catch {
        return false;
      }
    });
    if (traits.length === 0) throw new DataError(o.pheno, 1, 'no numeric trait column');
  }
  const n = ids.length;
  const missingPerTrait: Record<string, number> = {};
  const outliers: StudySummary['outliers'] = {};
  const y = traits.map((t) => {
    const col = traitValues(p, t);
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const r = match.phenoRow[i]!;
      out[i] = r >= 0 ? col[r]! : NaN;
    }
    const obs = Array.from(out).filter(Number.isFinite);
    if (obs.length === 0) throw new DataError(o.pheno, 0, `trait '${t}' is missing (NA) for every genotyped sample`);
    if (obs.every((v) => v === obs[0]))
      throw new DataError(
        o.pheno,
        0,
        `trait '${t}' is constant (${obs[0]}) over the genotyped samples: nothing to predict`,
      );
    missingPerTrait[t] = n - obs.length;
    if (obs.length < n)
      log(
        `trait '${t}': ${n - obs.length} of ${n} genotyped samples have no phenotype (NA, NaN or empty): they are candidates, predicted from the fit on the ${obs.length} phenotyped (candidates.csv)`,
      );
    const far = phenotypeOutliers(out, ids);
    if (far.length) {
      outliers[t] = far;
      log(
        `warning: trait '${t}': ${far.length} phenotype(s) more than ${OUTLIER_ROBUST_SDS} robust SDs from the median (${far
          .slice(0, 5)
          .map((o) => `${o.id} = ${o.value}, ${o.robustZ.toFixed(1)} robust SDs`)
          .join('; ')}${far.length > 5 ? '; …' : ''}): kept; check them for entry errors`,
      );
    }
    return sharedF64(out);
  });
  let markerKernel: Float64Array = new Float64Array(0),
    qc: QcReport | null = null;
  let markers: { m: number; w: Float32Array; clean: CleanGenotypes } | null = null;
  let rel: Relationship;
  if (g) {
    const clean = qualityControl(g, o.qc);
    qc = clean.report;
    if (clean.m === 0)
      throw new GraftError(`${o.geno}: no marker passed quality control (${JSON.stringify(clean.report)})`);
    log(
      `QC: ${clean.report.markersKept} of ${clean.report.markersIn} markers kept (call rate −${clean.report.removedCallRate}, MAF −${clean.report.removedMaf}, monomorphic −${clean.report.removedMonomorphic}); ${clean.report.imputedCells} cells mean-imputed; coding ${clean.report.coding}`,
    );
    markers = { m: clean.m, w: standardizeMarkers(clean), clean };
    rel = given ? alignRelationship(given, g.ids) : await vanRadenGrm(rt, clean);
    markerKernel = await crossProduct(rt, markers.w, n, clean.m);
  } else {
    rel = given!; // checked at the top: without genotypes a relationship matrix is given
  }
  let features: Float32Array, f: number, featText: string;
  let featureBlocks: number[] | undefined;
  let featureParts: FeaturePart[];
  if ((o.branches ?? 1) > 1 && (o.features === 'pcs' || !markers)) {
    throw new GraftError(
      'GCN branches split the markers into blocks: they need marker genotypes and marker features (not pcs)',
    );
  }
  if (o.features === 'pcs') {
    const pc = principalComponents(rel, o.pcs);
    features = pc.scores;
    f = pc.k;
    featureParts = [{ source: 'relationship', f, projection: pc.projection }];
    featText = `top ${pc.k} principal components of the relationship matrix (${(100 * pc.explained).toFixed(1)}% of its trace)`;
  } else if (!markers) {
    let projection: Float64Array;
    ({ features, f, projection } = fullRankScores(rel.values, n, ids));
    featureParts = [{ source: 'relationship', f, projection }];
    featText = `all ${f} principal-component scores of the relationship matrix (no markers given)`;
  } else if ((o.branches ?? 1) > 1) {
    // One feature block per marker block, each its block's full-rank scores (or its markers).
    const k = o.branches!,
      parts: Float32Array[] = [],
      widths: number[] = [];
    featureParts = [];
    if (k > markers.m) throw new GraftError(`${k} branches need at least ${k} markers; ${markers.m} passed QC`);
    for (let b = 0; b < k; b++) {
      const c0 = Math.floor((markers.m * b) / k),
        c1 = Math.floor((markers.m * (b + 1)) / k),
        mb = c1 - c0;
      const wb = new Float32Array(n * mb);
      for (let i = 0; i < n; i++) wb.set(markers.w.subarray(i * markers.m + c0, i * markers.m + c1), i * mb);
      const fb = mb > n ? fullRankScores(await crossProduct(rt, wb, n, mb), n, ids) : { features: wb, f: mb };
      featureParts.push(
        'projection' in fb
          ? { source: 'marker-kernel', c0, c1, f: fb.f, projection: fb.projection }
          : { source: 'markers', c0, c1 },
      );
      parts.push(fb.features);
      widths.push(fb.f);
    }
    f = widths.reduce((a, b) => a + b, 0);
    features = new Float32Array(n * f);
    for (let i = 0; i < n; i++) {
      let at = 0;
      parts.forEach((p, b) => {
        features.set(p.subarray(i * widths[b]!, (i + 1) * widths[b]!), i * f + at);
        at += widths[b]!;
      });
    }
    featureBlocks = widths;
    featText = `${markers.m} standardized markers in ${k} blocks, one GCN branch each (features per block: ${widths.join(', ')})`;
  } else if (markers.m > n) {
    // More markers than samples: the standardized marker matrix W has rank ≤ n, W = U·S·Vᵀ,
    // and the first layer's W·Θ equals (U·S)·(Vᵀ·Θ). Training on the n scores U·S is the same
    // model with far fewer multiply-adds (an L2 penalty's minimizer lies in V's span anyway);
    // only dropout on the input differs (it drops scores, not markers).
    let projection: Float64Array;
    ({ features, f, projection } = fullRankScores(markerKernel, n, ids));
    featureParts = [{ source: 'marker-kernel', c0: 0, c1: markers.m, f, projection }];
    featText = `${markers.m} standardized markers, as their ${f} principal-component scores (an exact reparametrization of the first layer: ${markers.m} markers > ${n} samples)`;
  } else {
    features = markers.w;
    f = markers.m;
    featureParts = [{ source: 'markers', c0: 0, c1: markers.m }];
    featText = `${markers.m} standardized markers`;
  }
  const graph = o.graph === 'knn' ? knnGraph(rel, o.knn) : thresholdGraph(rel, o.threshold);
  if (graph.src.length === 0)
    throw new GraftError(
      `the sample graph has no edges (${graph.description}); lower options.threshold or use the knn graph`,
    );
  let edgeWeights: Float32Array | undefined;
  if (o.edgeWeights === 'kernel') {
    const kern = gaussianKernel(rel.values, n, 1);
    edgeWeights = Float32Array.from(graph.src, (a, e) => kern[a * n + graph.dst[e]!]!);
  }
  const graphText = `${graph.description}${edgeWeights ? ', edges weighted by the Gaussian kernel of marker distance (θ = 1)' : ''}`;
  log(`graph: ${graphText}`);
  let covariates: StudyData['covariates'];
  if (o.covariates?.length) {
    const cm = covariateMatrix(p, o.covariates);
    const values = new Float32Array(n * cm.width);
    for (let i = 0; i < n; i++) {
      const r = match.phenoRow[i]!;
      if (r >= 0) values.set(cm.values.subarray(r * cm.width, (r + 1) * cm.width), i * cm.width);
    }
    covariates = { values: sharedF32(values), width: cm.width, columns: cm.columns };
  }
  const data: StudyData = {
    n,
    ids,
    traits,
    y,
    features: sharedF32(features),
    f,
    grm: sharedF64(rel.values),
    markerKernel: sharedF64(markerKernel),
    src: sharedI32(graph.src),
    dst: sharedI32(graph.dst),
    ...(edgeWeights ? { edgeWeights: sharedF32(edgeWeights) } : {}),
    ...(longData ? { multiEnv: multiEnvColumns(traits, o.envScheme ?? 'cv1') } : {}),
    ...(covariates ? { covariates } : {}),
    ...(featureBlocks ? { featureBlocks } : {}),
  };
  return {
    // The markers are dropped unless asked for: on a large panel they are most of the memory.
    data,
    markers: markers && keep.markers ? { clean: markers.clean, w: markers.w } : null,
    featureParts,
    summary: {
      match: { ...match, text: describeMatch(match) },
      qc,
      skippedRecords: g?.skipped ?? {},
      relationship: rel.source,
      graph: graphText,
      features: featText,
      missingPerTrait,
      outliers,
    },
  };
}

/** U·S for every component of a Gram matrix K = U·S²·Uᵀ with a non-negligible eigenvalue, and U·S⁻¹ (a kernel row → scores). */
function fullRankScores(
  k: Float64Array,
  n: number,
  ids: string[],
): { features: Float32Array; f: number; projection: Float64Array } {
  const pc = principalComponents({ ids, n, values: k, source: '' }, n);
  let rank = 0;
  for (let c = 0; c < pc.k; c++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += pc.scores[i * pc.k + c]! ** 2;
    if (s > 1e-6 * n) rank = c + 1;
  }
  const features = new Float32Array(n * rank),
    projection = new Float64Array(n * rank);
  for (let i = 0; i < n; i++) {
    features.set(pc.scores.subarray(i * pc.k, i * pc.k + rank), i * rank);
    projection.set(pc.projection.subarray(i * pc.k, i * pc.k + rank), i * rank);
  }
  return { features, f: rank, projection };
}
