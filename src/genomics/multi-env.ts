import { GraftError } from '../core/errors.js';
import { fitKernelReml, kernelBasis, predictKernel, trainBlock, type KernelFit } from './kernel-reml.js';

// Multi-environment trials: the across-environment main-effect model and the CV schemes
// breeders use (Burgueño et al. 2012; Jarquín et al. 2014):
//   CV1  new genotypes: a fold's genotypes have no record in any environment;
//   CV2  genotypes seen in other environments: only the fold's records in the target
//        environment are hidden, its records elsewhere are used;
//   CV0  a new environment: the target environment's records are all hidden.
// Per-environment models see only the target environment, so CV1 and CV2 are the same for
// them and CV0 is beyond them; the across-environment model is what uses the other trials.

/**
 * The cross-validation schemes of multi-environment trials: CV1 (new genotypes), CV2 (genotypes seen in other environments), CV0 (new environments).
 */
export type EnvScheme = 'cv1' | 'cv2' | 'cv0';
export const ENV_SCHEMES: readonly EnvScheme[] = ['cv1', 'cv2', 'cv0'];

export const SCHEME_TEXT: Record<EnvScheme, string> = {
  cv1: "CV1: new genotypes (a fold's genotypes have no record in any environment)",
  cv2: "CV2: genotypes seen in other environments (only the fold's records in the target environment are hidden)",
  cv0: 'CV0: a new environment (every record of the target environment is hidden)',
};

/** Which trait and environment each study trait column (trait@environment) is. */
export interface MultiEnv {
  scheme: EnvScheme;
  /** Per trait column: the index of its trait (columns of one trait share it) and its environment. */
  traitOf: number[];
  envOf: string[];
}

/** The columns of `trait@environment` names grouped by trait; the environment is what follows the last '@'. */
export function multiEnvColumns(columns: string[], scheme: EnvScheme): MultiEnv {
  const traits: string[] = [],
    traitOf: number[] = [],
    envOf: string[] = [];
  for (const c of columns) {
    const at = c.lastIndexOf('@');
    if (at <= 0) throw new GraftError(`multi-environment column '${c}' is not trait@environment`);
    const t = c.slice(0, at);
    if (!traits.includes(t)) traits.push(t);
    traitOf.push(traits.indexOf(t));
    envOf.push(c.slice(at + 1));
  }
  return { scheme, traitOf, envOf };
}

/**
 * The across-environment main-effect model y_ge = μ_e + g_g + e_ge, g ~ N(0, σg² K), fitted
 * in two stages: each environment's training records centred on their mean, averaged per
 * genotype over the n_g environments it has, and the means m_g fitted by REML with
 * Var(m) = σg² K + σe² N⁻¹ (N = diag n_g). With D = N^½ that is the mixed model of D·m on
 * D·K·D with the fixed column D·1, so one eigendecomposition fits it. A record of genotype
 * g in environment e is predicted as μ̂_e + μ̂ + ĝ_g, with ĝ = K[·, train]·D·α.
 *
 * `columns`: the trait's columns (one per environment) in y; `target`: the column to predict;
 * `hidden(i, column)`: whether that record is out of the training data.
 */
export function fitAcrossEnvironments(
  k: Float64Array,
  n: number,
  y: Float64Array[],
  columns: number[],
  target: number,
  hidden: (i: number, column: number) => boolean,
  rows: Int32Array,
): { predicted: Float64Array; fit: KernelFit; genotypes: number; records: number; scoring: AcrossScoring } {
  const kept = trainingRecord(y, hidden);
  const sum = new Float64Array(n),
    count = new Int32Array(n);
  let envMean = NaN,
    records = 0,
    othersSum = 0,
    others = 0;
  for (const c of columns) {
    let s = 0,
      m = 0;
    for (let i = 0; i < n; i++)
      if (kept(i, c)) {
        s += y[c]![i]!;
        m++;
        if (c !== target) {
          othersSum += y[c]![i]!;
          others++;
        }
      }
    if (m === 0) continue;
    const mean = s / m;
    if (c === target) envMean = mean;
    for (let i = 0; i < n; i++)
      if (kept(i, c)) {
        sum[i]! += y[c]![i]! - mean;
        count[i]!++;
        records++;
      }
  }
  const train = Int32Array.from(Array.from({ length: n }, (_, i) => i).filter((i) => count[i]! > 0));
  if (train.length < 3)
    throw new GraftError(
      `the across-environment model has ${train.length} genotypes with training records; it needs at least 3`,
    );
  const d = Float64Array.from(train, (i) => Math.sqrt(count[i]!));
  const kt = trainBlock(k, n, train),
    nt = train.length;
  for (let a = 0; a < nt; a++) for (let b = 0; b < nt; b++) kt[a * nt + b] = kt[a * nt + b]! * d[a]! * d[b]!;
  const fit = fitKernelReml(
    kernelBasis(kt, nt, d),
    Float64Array.from(train, (i, a) => (sum[i]! / count[i]!) * d[a]!),
  );
  const scaled = { ...fit, alpha: Float64Array.from(fit.alpha, (v, a) => v * d[a]!) };
  const g = predictKernel(scaled, k, n, train, rows);
  // A new environment (CV0) has no mean of its own: it gets the mean of all the other environments' training records.
  const level = Number.isFinite(envMean) ? envMean : others ? othersSum / others : 0;
  return {
    predicted: Float64Array.from(g, (v) => v + level),
    fit,
    genotypes: nt,
    records,
    scoring: { mu: scaled.mu + level, alpha: scaled.alpha, train },
  };
}

/** What scores any genotype with a fit: μ + K[s, train]·α (the environment's level in μ). */
export interface AcrossScoring {
  mu: number;
  alpha: Float64Array;
  train: Int32Array;
}

/** Whether record (genotype i, column c) is training data: observed, and not hidden by the scheme. */
function trainingRecord(
  y: Float64Array[],
  hidden: (i: number, column: number) => boolean,
): (i: number, column: number) => boolean {
  return (i, c) => Number.isFinite(y[c]![i]!) && !hidden(i, c);
}

/**
 * Which records a scheme hides when fold `fold` of `target`'s genotypes is tested: under CV1
 * the fold's genotypes everywhere, under CV2 the fold's genotypes in the target environment,
 * under CV0 the whole target environment.
 */
export function hiddenRecords(
  scheme: EnvScheme,
  fold: Int32Array,
  f: number,
  target: number,
): (i: number, column: number) => boolean {
  if (scheme === 'cv1') return (i) => fold[i] === f || fold[i] === 0;
  if (scheme === 'cv2') return (i, c) => fold[i] === 0 || (c === target && fold[i] === f);
  return (i, c) => fold[i] === 0 || c === target;
}

/**
 * The G + G×E model, fitted stagewise: the across-environment main effect (above), then an
 * environment-specific genetic deviation, a GBLUP of the target environment's training
 * residuals y_ge − (μ̂_e + μ̂ + ĝ_g) on the same relationship. It is the reaction-norm model
 * y_ge = μ_e + g_g + (gE)_ge with Var(gE) = σ²_gE K within each environment (Jarquín et al.
 * 2014), with the two variance components fitted one after the other instead of jointly.
 * Under CV2 it uses both what the across model uses (the genotype's other environments) and
 * what a per-environment model uses (the target environment's other genotypes). A new
 * environment (CV0) has no residuals, so there it is the main-effect model.
 */
export function fitGxE(
  k: Float64Array,
  n: number,
  y: Float64Array[],
  columns: number[],
  target: number,
  hidden: (i: number, column: number) => boolean,
  rows: Int32Array,
): {
  predicted: Float64Array;
  main: KernelFit;
  deviation: KernelFit | null;
  scoring: AcrossScoring;
  deviationScoring: AcrossScoring | null;
} {
  const kept = trainingRecord(y, hidden);
  const inTarget = Array.from({ length: n }, (_, i) => i).filter((i) => kept(i, target));
  const all = Int32Array.from([...rows, ...inTarget]);
  const main = fitAcrossEnvironments(k, n, y, columns, target, hidden, all);
  const predicted = main.predicted.slice(0, rows.length);
  if (inTarget.length < 3)
    return { predicted, main: main.fit, deviation: null, scoring: main.scoring, deviationScoring: null };
  const train = Int32Array.from(inTarget);
  const residual = Float64Array.from(train, (i, a) => y[target]![i]! - main.predicted[rows.length + a]!);
  const deviation = fitKernelReml(kernelBasis(trainBlock(k, n, train), train.length), residual);
  const ge = predictKernel(deviation, k, n, train, rows);
  return {
    predicted: Float64Array.from(predicted, (v, q) => v + ge[q]!),
    main: main.fit,
    deviation,
    scoring: main.scoring,
    deviationScoring: { mu: deviation.mu, alpha: deviation.alpha, train },
  };
}
