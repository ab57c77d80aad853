import { GraftError } from '../core/errors.js';
import { decodeSafetensors, type Checkpoint } from '../core/safetensors.js';
import { sha256Hex } from '../core/sha256.js';
import {
  alignDosages,
  metaJson,
  readF64,
  readKernelFit,
  readMarkerBasis,
  sampleRows,
  scoreKernel,
  type AlignmentReport,
  type KernelBasis,
  type KernelScoring,
} from '../graph/gp-scoring.js';

// graft/infer on graft gp --keep-models: a kept kernel or linear model (gblup, rkhs, rkhs-ka,
// rrblup) scores raw genotypes from two files' bytes, the run's scoring.safetensors (the
// markers, their coding, frequencies, means and scales, the study's dosages) and one
// kept-<model>-<trait>.safetensors (μ, α, the training samples, (K + δI)⁻¹). Alignment by
// marker name, imputation with the training means, the kernel rows and μ + Σ k α are
// graph/gp-scoring.ts's, the functions graft predict runs, so the bits are graft predict's.
// The GCN models (boost, stack, gcn, ...) need the study's sample graph run through the
// ensemble: graft predict scores those.

const SCORING_FORMAT = 'graft-gp-scoring-v1',
  KEPT_FORMAT = 'graft-gp-kept-v1';
const KERNEL_MODELS = ['gblup', 'rkhs', 'rkhs-ka', 'rrblup'];

/** New samples' raw genotypes by marker name: dosages [samples, markers] row-major, 0/1/2 (or 0/1 for a binary-coded run), NaN missing. */
export interface GenotypeInput {
  markers: readonly string[];
  dosages: Float32Array | Float64Array;
  samples: number;
}

/** Options of predictGenotypes: the least share of the model's markers the input must have (default 0.9, graft predict's). */
export interface GenotypePredictOptions {
  minOverlap?: number;
}

/** A kept model's predictions for new samples, and how their markers met the model's. */
export interface GenotypePredictions {
  /** Per sample, in the trait's units: μ + Σ_t k_t α_t over the training samples. */
  prediction: Float64Array;
  /** Per sample, 1 − PEV/(σg² K_ss) (gblup, rkhs, rkhs-ka); NaN where the model gives none (rrblup), as graft predict's empty cell. */
  reliability: Float64Array;
  /** Markers present, imputed cells, coding: what graft predict logs. */
  overlap: AlignmentReport;
}

/** A kept gp kernel or linear model loaded by loadGenomicModel. */
export interface GenomicKernelModel {
  /** gblup, rkhs, rkhs-ka or rrblup. */
  readonly model: string;
  readonly trait: string;
  /** The model's markers, in its order (the input may hold them in any order, and others). */
  readonly markers: readonly string[];
  /** Scores raw genotypes as graft predict --run RUN --geno FILE does (same bits). */
  predictGenotypes(input: GenotypeInput, options?: GenotypePredictOptions): GenotypePredictions;
}

const bytesOf = (b: ArrayBuffer | Uint8Array): Uint8Array => (b instanceof Uint8Array ? b : new Uint8Array(b));

/**
 * A kept kernel or linear gp model from the bytes of its run's models/scoring.safetensors and
 * one models/kept-<model>-<trait>.safetensors (graft gp --keep-models). A kept model of another
 * run, a GCN model or a run made from a relationship matrix only is refused with a GraftError.
 *
 * @example
 *   import { loadGenomicModel } from 'graft-gnn/infer';
 *   const m = loadGenomicModel(scoringBytes, keptBytes);
 *   const { prediction, overlap } = m.predictGenotypes({ markers, dosages, samples });
 */
export function loadGenomicModel(
  scoring: ArrayBuffer | Uint8Array,
  kept: ArrayBuffer | Uint8Array,
  names: { scoring?: string; kept?: string } = {},
): GenomicKernelModel {
  const sName = names.scoring ?? 'scoring.safetensors',
    kName = names.kept ?? 'kept model';
  const s = decodeSafetensors(bytesOf(scoring), sName, sha256Hex),
    k = decodeSafetensors(bytesOf(kept), kName, sha256Hex);
  if (s.metadata['format'] !== SCORING_FORMAT)
    throw new GraftError(
      `${sName}: not a graft gp scoring file (format ${s.metadata['format'] ?? 'none'}, expected ${SCORING_FORMAT})`,
    );
  if (k.metadata['format'] !== KEPT_FORMAT)
    throw new GraftError(
      `${kName}: not a graft gp kept model (format ${k.metadata['format'] ?? 'none'}, expected ${KEPT_FORMAT})`,
    );
  if (k.metadata['basis'] !== s.metadata['fingerprint'])
    throw new GraftError(
      `${kName}: kept from other data than ${sName} (another run's model?); give the scoring file of the run that kept it`,
    );
  const model = k.metadata['model'] ?? '',
    trait = k.metadata['trait'] ?? '';
  if (!KERNEL_MODELS.includes(model))
    throw new GraftError(
      `${kName}: graft/infer scores the kernel and linear gp models (${KERNEL_MODELS.join(', ')}); ${model} runs an ensemble on the study's sample graph: score it with graft predict`,
    );
  const basis = kernelBasis(s, sName);
  const fit: KernelScoring | undefined = readKernelFit(k, 'kernel', 'k', kName);
  if (!fit) throw new GraftError(`${kName}: no kernel fit in it (damaged)`);
  if (fit.train.some((i) => i < 0 || i >= basis.n) || fit.alpha.length !== fit.train.length)
    throw new GraftError(`${kName}: its training samples do not fit ${sName}'s ${basis.n} (damaged)`);
  const mk = basis.markers!;
  return {
    model,
    trait,
    markers: mk.names,
    predictGenotypes(input: GenotypeInput, options: GenotypePredictOptions = {}): GenotypePredictions {
      const minOverlap = options.minOverlap ?? 0.9;
      if (!(minOverlap >= 0 && minOverlap <= 1))
        throw new GraftError(`predictGenotypes: minOverlap must be in [0, 1], got ${minOverlap}`);
      const { markers, dosages, samples } = input;
      if (!Number.isInteger(samples) || samples < 0)
        throw new GraftError(`predictGenotypes: samples must be a whole number, got ${samples}`);
      if (dosages.length !== samples * markers.length)
        throw new GraftError(
          `predictGenotypes: dosages holds ${dosages.length} values; ${samples} samples × ${markers.length} markers need ${samples * markers.length}`,
        );
      if (new Set(markers).size !== markers.length)
        throw new GraftError(
          `predictGenotypes: marker '${markers.find((x, j) => markers.indexOf(x) !== j)}' is given twice`,
        );
      const a = alignDosages(mk, { markers: [...markers], dosage: dosages, samples }, minOverlap, 'predictGenotypes');
      const prediction = new Float64Array(samples),
        reliability = new Float64Array(samples);
      a.dosage.forEach((row, q) => {
        const r = scoreKernel(basis, fit, sampleRows(basis, row, null));
        prediction[q] = r.prediction;
        reliability[q] = r.reliability ?? NaN;
      });
      return { prediction, reliability, overlap: a.report };
    },
  };
}

/** What scoring reads of scoring.safetensors: the study's size, markers, relationship diagonal and median distance. */
function kernelBasis(cp: Checkpoint, file: string): KernelBasis {
  const md = cp.metadata,
    n = metaJson<string[]>(md, 'ids', file).length;
  if (md['relationship'] === 'given')
    throw new GraftError(
      `${file}: the run was made with a relationship file: new samples need their relationship rows, which graft predict takes; graft/infer scores marker genotypes`,
    );
  const markers = readMarkerBasis(cp, n, file);
  if (!markers)
    throw new GraftError(
      `${file}: the run was made from a relationship matrix only; graft/infer scores marker genotypes`,
    );
  return {
    n,
    markers,
    relDiag: readF64(cp.tensors.get('rel_diag'), file, 'rel_diag'),
    median: metaJson<number>(md, 'median', file),
  };
}
