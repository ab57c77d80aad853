import type { Runtime } from '../runtime/runtime.js';
import { trainGcnRegressor, type GcnRegressionResult, type GcnRegressorConfig } from '../train/gcn-regressor.js';
import { gcnSoup, type GcnSoupRecipe, type GpGcnConfig, type SoupMemberFit } from './gcn-soup.js';
import { cachedBasis, fitKernelReml, predictKernel, type KernelBasis, type KernelFit } from './kernel-reml.js';
import type { StudyData } from './study-data.js';
import { jobCheckpointFile } from './job-store.js';
import { ACROSS_ENV_MODELS, GCN_MODELS, type GpModel } from './gp-models.js';
import type {
  CvJob,
  CvJobResult,
  FinalState,
  FoldPlan,
  JobCheckpoints,
  KernelState,
  MemberState,
  SoupRow,
} from './job-types.js';
import { blendWeight, innerValidation } from './stacking.js';
import { fitAcrossEnvironments, fitGxE, hiddenRecords } from './multi-env.js';
import { GraftError } from '../core/errors.js';
import { fitKernelAverage, fitRkhs, gaussianKernel, KERNEL_AVERAGE_BANDWIDTHS, RKHS_BANDWIDTHS } from './rkhs.js';

/** Gaussian kernels of a study's relationship, made once per thread and data set (n² exponentials each). */
const gaussianKernels = new WeakMap<Float64Array, Map<number, Float64Array>>();
function kernelsAt(data: StudyData, thetas: readonly number[]): Float64Array[] {
  let byTheta = gaussianKernels.get(data.grm);
  if (!byTheta) {
    byTheta = new Map();
    gaussianKernels.set(data.grm, byTheta);
  }
  return thetas.map((t) => {
    let k = byTheta!.get(t);
    if (!k) {
      k = gaussianKernel(data.grm, data.n, t);
      byTheta!.set(t, k);
    }
    return k;
  });
}

/** Where each GCN fit of a job ran, as its placement trial chose (GcnRegressionResult.placement), in fit order. */
export type GcnPlacementObserver = (placement: GcnRegressionResult['placement']) => void;

/**
 * Runs one job; the result depends only on the job and the data, never on the thread it ran
 * on. `onPlacement` hears where each GCN member's fit ran (what graft scaling reports).
 */
export async function runCvJob(
  rt: Runtime,
  data: StudyData,
  folds: FoldPlan,
  job: CvJob,
  settings: GpGcnConfig,
  checkpoints?: JobCheckpoints,
  onPlacement?: GcnPlacementObserver,
): Promise<CvJobResult> {
  // The soup recipe is the study's, not the regressor's: kept members' configs leave it out.
  const { soup, ...gcn } = settings;
  const t0 = performance.now();
  const fold = folds[job.repeat]!;
  // Training-block decompositions by training set, then by kernel: the traits of a job with the same missing values share them.
  const bases = new Map<string, Map<Float64Array, KernelBasis>>();
  const mixes = new Map<string, Float64Array>();
  const perTrait: CvJobResult['perTrait'] = [];
  for (const t of job.traits) {
    const y = data.y[t]!;
    const train: number[] = [],
      test: number[] = [];
    for (let i = 0; i < data.n; i++) {
      if (job.final) {
        (Number.isFinite(y[i]!) ? train : test).push(i);
        continue;
      }
      if (!Number.isFinite(y[i]!) || fold[i] === 0) continue;
      (fold[i] === job.fold ? test : train).push(i);
    }
    if (test.length === 0 && !job.final) {
      perTrait.push({ trait: t, test, predicted: [], info: {} });
      continue;
    }
    const trainIdx = Int32Array.from(train),
      testIdx = Int32Array.from(test);
    const key = train.join(',');
    if (!bases.has(key)) bases.set(key, new Map());
    const trainBases = bases.get(key)!;
    /** The RKHS fit of this fold and trait (θ by REML), which stack and boost build on. */
    const rkhsOnFold = () =>
      fitRkhs(
        kernelsAt(data, RKHS_BANDWIDTHS),
        RKHS_BANDWIDTHS,
        data.n,
        trainIdx,
        Float64Array.from(train, (i) => y[i]!),
        trainBases,
      );
    /** A final fit's kernel part as kept; with `pev`, (K + δI)⁻¹ from the training block's decomposition too. */
    const kept = (
      kernel: KernelState['kernel'],
      fit: KernelFit,
      kFull: Float64Array,
      pev: boolean,
      extra: Partial<KernelState> = {},
    ): KernelState => ({
      kernel,
      ...extra,
      mu: fit.mu,
      alpha: fit.alpha,
      train: trainIdx,
      sigmaG2: fit.sigmaG2,
      delta: fit.delta,
      h2: fit.h2,
      ...(pev ? { vinv: vInverse(cachedBasis(kFull, data.n, trainIdx, trainBases), fit.delta) } : {}),
    });
    if (job.model === 'gblup' || job.model === 'rrblup') {
      const k = job.model === 'gblup' ? data.grm : data.markerKernel;
      const fit = fitKernelReml(
        cachedBasis(k, data.n, trainIdx, trainBases),
        Float64Array.from(train, (i) => y[i]!),
      );
      const pred = predictKernel(fit, k, data.n, trainIdx, testIdx);
      perTrait.push({
        trait: t,
        test,
        predicted: Array.from(pred),
        info: job.model === 'gblup' ? { h2: fit.h2, delta: fit.delta } : { lambda: fit.delta, h2: fit.h2 },
        ...(job.final
          ? { final: { kernel: kept(job.model === 'gblup' ? 'grm' : 'marker', fit, k, job.model === 'gblup') } }
          : {}),
      });
    } else if (job.model === 'rkhs' || job.model === 'rkhs-ka') {
      const yTrain = Float64Array.from(train, (i) => y[i]!);
      const choice =
        job.model === 'rkhs'
          ? fitRkhs(kernelsAt(data, RKHS_BANDWIDTHS), RKHS_BANDWIDTHS, data.n, trainIdx, yTrain, trainBases)
          : fitKernelAverage(kernelsAt(data, KERNEL_AVERAGE_BANDWIDTHS), data.n, trainIdx, yTrain, mixes, trainBases);
      const pred = predictKernel(choice.fit, choice.kernel, data.n, trainIdx, testIdx);
      const info: Record<string, number> = { h2: choice.fit.h2, delta: choice.fit.delta };
      if (choice.theta !== undefined) info['theta'] = choice.theta;
      choice.weights?.forEach((w, k) => {
        info[`w${k + 1}`] = w;
      });
      const extra: Partial<KernelState> =
        choice.theta !== undefined
          ? { theta: choice.theta }
          : { thetas: [...KERNEL_AVERAGE_BANDWIDTHS], weights: choice.weights! };
      perTrait.push({
        trait: t,
        test,
        predicted: Array.from(pred),
        info,
        ...(job.final
          ? {
              final: {
                kernel: kept(job.model === 'rkhs' ? 'gaussian' : 'average', choice.fit, choice.kernel, true, extra),
              },
            }
          : {}),
      });
    } else if (ACROSS_ENV_MODELS.includes(job.model)) {
      const me = data.multiEnv;
      if (!me) throw new GraftError(`the ${job.model} model needs long-format phenotypes (options.long)`);
      const columns = me.traitOf.flatMap((tr, c) => (tr === me.traitOf[t] ? [c] : []));
      const hidden = job.final ? () => false : hiddenRecords(me.scheme, fold, job.fold, t);
      // Kept: μ (the environment's level in it), α and the training genotypes of each stage, scored on the relationship.
      const grmState = (s: { mu: number; alpha: Float64Array; train: Int32Array }, f: KernelFit): KernelState => ({
        kernel: 'grm',
        mu: s.mu,
        alpha: s.alpha,
        train: s.train,
        sigmaG2: f.sigmaG2,
        delta: f.delta,
        h2: f.h2,
      });
      if (job.model === 'across') {
        const a = fitAcrossEnvironments(data.grm, data.n, data.y, columns, t, hidden, testIdx);
        perTrait.push({
          trait: t,
          test,
          predicted: Array.from(a.predicted),
          info: { h2: a.fit.h2, delta: a.fit.delta, genotypes: a.genotypes, records: a.records },
          ...(job.final ? { final: { kernel: grmState(a.scoring, a.fit) } } : {}),
        });
      } else {
        const a = fitGxE(data.grm, data.n, data.y, columns, t, hidden, testIdx);
        perTrait.push({
          trait: t,
          test,
          predicted: Array.from(a.predicted),
          info: { delta: a.main.delta, ...(a.deviation ? { delta_ge: a.deviation.delta } : {}) },
          ...(job.final
            ? {
                final: {
                  kernel: grmState(a.scoring, a.main),
                  ...(a.deviation ? { deviation: grmState(a.deviationScoring!, a.deviation) } : {}),
                },
              }
            : {}),
        });
      }
    } else if (job.model === 'stack') {
      // RKHS on the whole training fold, and both members out of sample on one inner split: the
      // GCN members choose their epoch on it, RKHS (at the bandwidth chosen) is refitted without it.
      const rk = rkhsOnFold();
      const val = innerValidation(trainIdx, gcn.valFraction, gcn.seed + 1000 * job.repeat + job.fold + 0x57ac);
      const held = new Set(val),
        inner = Int32Array.from(train.filter((i) => !held.has(i)));
      const innerFit = fitKernelReml(
        cachedBasis(rk.kernel, data.n, inner),
        Float64Array.from(inner, (i) => y[i]!),
      );
      const kVal = predictKernel(innerFit, rk.kernel, data.n, inner, val);
      const g = await gcnEnsemble(rt, data, job, y, trainIdx, gcn, checkpoints, onPlacement, val);
      const w = blendWeight(
        Array.from(val, (i) => y[i]!),
        Array.from(val, (i) => g.mean[i]!),
        kVal,
      );
      const kTest = predictKernel(rk.fit, rk.kernel, data.n, trainIdx, testIdx);
      perTrait.push({
        trait: t,
        test,
        predicted: test.map((i, q) => w * g.mean[i]! + (1 - w) * kTest[q]!),
        info: { w_graph: w, theta: rk.theta!, best_epoch: g.bestEpoch, members: g.members },
        ...(job.final
          ? {
              final: {
                kernel: kept('gaussian', rk.fit, rk.kernel, false, { theta: rk.theta! }),
                ...finalMembers(g, test, gcn),
                blend: w,
              },
            }
          : {}),
      });
    } else if (job.model === 'boost') {
      // The GCN learns what RKHS's fit leaves over on the training samples; the two add up.
      const rk = rkhsOnFold();
      const fitted = predictKernel(rk.fit, rk.kernel, data.n, trainIdx, trainIdx);
      const residual = new Float64Array(data.n).fill(NaN);
      train.forEach((i, q) => {
        residual[i] = y[i]! - fitted[q]!;
      });
      const g = await gcnEnsemble(rt, data, job, residual, trainIdx, gcn, checkpoints, onPlacement);
      const kTest = predictKernel(rk.fit, rk.kernel, data.n, trainIdx, testIdx);
      perTrait.push({
        trait: t,
        test,
        predicted: test.map((i, q) => kTest[q]! + g.mean[i]!),
        info: { theta: rk.theta!, best_epoch: g.bestEpoch, members: g.members },
        ...(job.final
          ? {
              final: {
                kernel: kept('gaussian', rk.fit, rk.kernel, false, { theta: rk.theta! }),
                ...finalMembers(g, test, gcn),
              },
            }
          : {}),
      });
    } else {
      const c = job.model === 'appnp' ? { ...gcn, architecture: 'appnp' as const } : gcn;
      const g = await gcnEnsemble(
        rt,
        data,
        job,
        y,
        trainIdx,
        job.model === 'gcn' ? settings : c,
        checkpoints,
        onPlacement,
      );
      perTrait.push({
        trait: t,
        test,
        predicted: test.map((i) => g.mean[i]!),
        info: { best_epoch: g.bestEpoch, members: g.members },
        ...(job.final ? { final: finalMembers(g, test, c) } : {}),
        ...(g.shared && soup ? { soup: await soupOf(rt, data, gcn, soup, g, y, test, job.final === true) } : {}),
      });
    }
  }
  return { job, perTrait, ms: performance.now() - t0 };
}

/**
 * The gcn-soup row of a gcn job trained with a soup recipe: the soup of the very members the
 * gcn row averages (trained once for both), its predictions of the test samples and, for a
 * final fit, the soup kept as a one-member GCN model.
 */
async function soupOf(
  rt: Runtime,
  data: StudyData,
  gcn: GcnRegressorConfig,
  recipe: GcnSoupRecipe,
  g: Ensemble,
  y: Float64Array,
  test: number[],
  final: boolean,
): Promise<SoupRow> {
  const t0 = performance.now();
  const sh = g.shared!;
  const s = await gcnSoup(rt, data, { ...gcn, seed: sh.seed }, recipe, sh.members, sh.scale, y, sh.validation);
  const predicted = test.map((i) => s.predictions[i]!);
  return {
    predicted,
    info: { best_epoch: g.bestEpoch, members: g.members, ingredients: s.ingredients.length },
    ...(final
      ? {
          final: {
            members: [{ seed: sh.seed, scale: sh.scale, weights: s.weights }],
            config: gcn,
            memberTest: [Float64Array.from(predicted)],
          },
        }
      : {}),
    ms: performance.now() - t0,
  };
}

/**
 * A study's job results with each gcn job's soup (SoupRow) as a result of its own, model
 * gcn-soup, right after it: the report, the candidates and the kept models then treat the
 * soup as one more model. Its ms is the souping's; the members' training counts in gcn's.
 */
export function withSoupResults(results: CvJobResult[]): CvJobResult[] {
  return results.flatMap((r) => {
    if (!r.perTrait.some((pt) => pt.soup)) return [r];
    const soupMs = r.perTrait.reduce((a, pt) => a + (pt.soup?.ms ?? 0), 0);
    const plain: CvJobResult = { ...r, perTrait: r.perTrait.map(({ soup: _, ...pt }) => pt), ms: r.ms - soupMs };
    const soup: CvJobResult = {
      job: { ...r.job, model: 'gcn-soup' },
      perTrait: r.perTrait.map((pt) =>
        pt.soup
          ? {
              trait: pt.trait,
              test: pt.test,
              predicted: pt.soup.predicted,
              info: pt.soup.info,
              ...(pt.soup.final ? { final: pt.soup.final } : {}),
            }
          : { trait: pt.trait, test: pt.test, predicted: [], info: {} },
      ),
      ms: soupMs,
    };
    return [plain, soup];
  });
}

/**
 * A job's GCN ensemble (or its one member, job.member) fitted to `y` on the training nodes:
 * the members' predictions of every node averaged in member order, and their mean best epoch.
 */
async function gcnEnsemble(
  rt: Runtime,
  data: StudyData,
  job: CvJob,
  y: Float64Array,
  trainIdx: Int32Array,
  config: GpGcnConfig,
  checkpoints: JobCheckpoints | undefined,
  onPlacement: GcnPlacementObserver | undefined,
  given?: Int32Array,
): Promise<Ensemble> {
  const { soup, ...gcn } = config;
  const all = Math.max(1, gcn.ensemble);
  // With a soup, the gcn members share one initialization (the seed of member 0) and the inner
  // validation nodes, and differ only in their train seeds (dropout): the gcn row averages their
  // predictions, the gcn-soup row their weights. A final fit's shared seed is its member 0's.
  const shared = soup !== undefined && job.model === 'gcn';
  const sharedSeed = job.final ? gcn.seed + 7_919 : gcn.seed + 1000 * job.repeat + job.fold;
  const validation = shared ? (given ?? innerValidation(trainIdx, gcn.valFraction, sharedSeed ^ 0x5eed)) : given;
  const fits: SoupMemberFit[] = [];
  let scale = { mean: 0, sd: 1 };
  const chosen = job.member === undefined ? Array.from({ length: all }, (_, e) => e) : [job.member];
  const members = chosen.length;
  const mean = new Float64Array(data.n);
  let bestEpoch = 0;
  const kept: { state: MemberState; predictions: Float64Array }[] = [];
  for (const e of chosen) {
    // A final fit's members take the seeds graft explain's full fits take (fullFitSeed, explain/genomic.ts), so the ensemble kept for it is the one it would fit.
    const seed = job.final ? gcn.seed + 100_003 * e + 7_919 : gcn.seed + 1000 * job.repeat + job.fold + 100_003 * e;
    const r = await trainGcnRegressor(
      rt,
      {
        n: data.n,
        features: data.features,
        f: data.f,
        src: data.src,
        dst: data.dst,
        y,
        train: trainIdx,
        ...(data.edgeWeights ? { edgeWeights: data.edgeWeights } : {}),
        ...(validation ? { validation } : {}),
        ...(job.model === 'hybrid' && data.covariates ? { covariates: data.covariates } : {}),
        ...(data.featureBlocks ? { featureBlocks: data.featureBlocks } : {}),
      },
      shared ? { ...gcn, seed: sharedSeed, trainSeed: seed } : { ...gcn, seed },
      checkpoints ? { checkpoint: { file: jobCheckpointFile(checkpoints.dir, job, e), every: checkpoints.every } } : {},
    );
    onPlacement?.(r.placement);
    for (let i = 0; i < data.n; i++) mean[i]! += r.predictions[i]!;
    bestEpoch += r.bestEpoch / members;
    if (shared) {
      fits.push({ weights: r.weights, predictions: r.predictions });
      scale = r.scale;
    }
    if (job.final) kept.push({ state: { seed, scale: r.scale, weights: r.weights }, predictions: r.predictions });
  }
  for (let i = 0; i < data.n; i++) mean[i]! /= members;
  return {
    mean,
    bestEpoch,
    members,
    kept,
    ...(fits.length > 0 ? { shared: { seed: sharedSeed, validation: validation!, scale, members: fits } } : {}),
  };
}

interface Ensemble {
  mean: Float64Array;
  bestEpoch: number;
  members: number;
  kept: { state: MemberState; predictions: Float64Array }[];
  /** With a soup: the members' fits from their one initialization (seed), their validation nodes and (common) scale. */
  shared?: { seed: number; validation: Int32Array; scale: { mean: number; sd: number }; members: SoupMemberFit[] };
}

/** A final fit's GCN members, their config and their predictions of the test samples. */
function finalMembers(g: Ensemble, test: number[], config: GcnRegressorConfig): FinalState {
  return {
    members: g.kept.map((k) => k.state),
    config,
    memberTest: g.kept.map((k) => Float64Array.from(test, (i) => k.predictions[i]!)),
  };
}

/** (K + δI)⁻¹ = Q·(Λ + δ)⁻¹·Qᵀ from the training block's decomposition. */
function vInverse(b: KernelBasis, delta: number): Float64Array {
  const { n, eig } = b,
    out = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const w = 1 / (eig.values[k]! + delta),
      v = eig.vectors.subarray(k * n, k * n + n);
    for (let a = 0; a < n; a++) {
      const va = v[a]! * w,
        row = a * n;
      for (let c = 0; c < n; c++) out[row + c]! += va * v[c]!;
    }
  }
  return out;
}

/** One final-fit job per model (per model and trait for the GCN models): fit on every phenotyped sample, predict the candidates. */
export function planFinalJobs(models: GpModel[], traits: number): CvJob[] {
  return planJobs(models, 1, 1, traits).map((j) => ({ ...j, fold: 0, final: true as const }));
}

/** The jobs of a study, longest first (GCN training dominates), so a pool finishes evenly. */
export function planJobs(models: GpModel[], repeats: number, k: number, traits: number): CvJob[] {
  const jobs: CvJob[] = [];
  // gcn-soup has no job of its own: the gcn job soups its members (withSoupResults).
  for (const model of models.filter((m) => m !== 'gcn-soup').sort((a, b) => weight(b) - weight(a))) {
    for (let r = 0; r < repeats; r++)
      for (let f = 1; f <= k; f++) {
        if (GCN_MODELS.includes(model))
          for (let t = 0; t < traits; t++) jobs.push({ model, repeat: r, fold: f, traits: [t] });
        else jobs.push({ model, repeat: r, fold: f, traits: Array.from({ length: traits }, (_, t) => t) });
      }
  }
  return jobs;
}

const weight = (m: GpModel): number =>
  m === 'hybrid'
    ? 3
    : m === 'stack' || m === 'boost'
      ? 2.2
      : m === 'gcn' || m === 'gcn-soup' || m === 'appnp'
        ? 2
        : m === 'rkhs-ka'
          ? 1.8
          : m === 'rkhs'
            ? 1.5
            : m === 'rrblup' || m === 'across' || m === 'gxe'
              ? 1
              : 0;
