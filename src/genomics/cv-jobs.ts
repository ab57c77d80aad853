import { Runtime } from '../runtime/runtime.js';
import { trainGcnRegressor, type GcnRegressorConfig } from '../train/gcn-regressor.js';
import { cachedBasis, fitKernelReml, predictKernel, type KernelBasis } from './kernel-reml.js';
import type { StudyData } from './study-data.js';
import { jobCheckpointFile } from './job-store.js';
import { fitKernelAverage, fitRkhs, gaussianKernel, KERNEL_AVERAGE_BANDWIDTHS, RKHS_BANDWIDTHS } from './rkhs.js';

/** GCN members checkpoint their training into a job folder (JobStore) every `every` epochs. */
export interface JobCheckpoints { dir: string; every: number }

export type GpModel = 'gcn' | 'hybrid' | 'gblup' | 'rkhs' | 'rkhs-ka' | 'rrblup';
export const GP_MODELS: readonly GpModel[] = ['gcn', 'hybrid', 'gblup', 'rkhs', 'rkhs-ka', 'rrblup'];

/** What each model is, for the report: propagation over the sample graph, a kernel, or linear in the markers. */
export const GP_FAMILY: Record<GpModel, 'graph' | 'kernel' | 'linear'> = {
  gcn: 'graph', hybrid: 'graph', gblup: 'kernel', rkhs: 'kernel', 'rkhs-ka': 'kernel', rrblup: 'linear',
};

/** Gaussian kernels of a study's relationship, made once per thread and data set (n² exponentials each). */
const gaussianKernels = new WeakMap<Float64Array, Map<number, Float64Array>>();
function kernelsAt(data: StudyData, thetas: readonly number[]): Float64Array[] {
  let byTheta = gaussianKernels.get(data.grm);
  if (!byTheta) { byTheta = new Map(); gaussianKernels.set(data.grm, byTheta); }
  return thetas.map((t) => {
    let k = byTheta!.get(t);
    if (!k) { k = gaussianKernel(data.grm, data.n, t); byTheta!.set(t, k); }
    return k;
  });
}

/**
 * One unit of cross-validation work: a model on one fold of one repeat, for the listed
 * traits. Baselines take every trait at once, sharing the eigendecomposition of a training
 * block among traits with the same training samples; a GCN job is one trait.
 */
export interface CvJob {
  model: GpModel;
  repeat: number;
  fold: number;
  traits: number[];
  /**
   * GCN only: train this one member of the ensemble (0-based), not all of them, so members
   * can run as independent replicas on several threads; averaging the members' predictions
   * in member order then gives the ensemble's bits.
   */
  member?: number;
}

export interface CvJobResult {
  job: CvJob;
  perTrait: { trait: number; test: number[]; predicted: number[]; info: Record<string, number> }[];
  ms: number;
}

/** Fold per sample for each repeat (0 = in no fold). */
export type FoldPlan = Int32Array[];

/** Runs one job; the result depends only on the job and the data, never on the thread it ran on. */
export async function runCvJob(rt: Runtime, data: StudyData, folds: FoldPlan, job: CvJob, gcn: GcnRegressorConfig, checkpoints?: JobCheckpoints): Promise<CvJobResult> {
  const t0 = performance.now();
  const fold = folds[job.repeat]!;
  // Training-block decompositions by training set, then by kernel: the traits of a job with the same missing values share them.
  const bases = new Map<string, Map<Float64Array, KernelBasis>>();
  const mixes = new Map<string, Float64Array>();
  const perTrait: CvJobResult['perTrait'] = [];
  for (const t of job.traits) {
    const y = data.y[t]!;
    const train: number[] = [], test: number[] = [];
    for (let i = 0; i < data.n; i++) {
      if (!Number.isFinite(y[i]!) || fold[i] === 0) continue;
      (fold[i] === job.fold ? test : train).push(i);
    }
    if (test.length === 0) { perTrait.push({ trait: t, test, predicted: [], info: {} }); continue; }
    const trainIdx = Int32Array.from(train), testIdx = Int32Array.from(test);
    const key = train.join(',');
    if (!bases.has(key)) bases.set(key, new Map());
    const trainBases = bases.get(key)!;
    if (job.model === 'gblup' || job.model === 'rrblup') {
      const k = job.model === 'gblup' ? data.grm : data.markerKernel;
      const fit = fitKernelReml(cachedBasis(k, data.n, trainIdx, trainBases), Float64Array.from(train, (i) => y[i]!));
      const pred = predictKernel(fit, k, data.n, trainIdx, testIdx);
      perTrait.push({ trait: t, test, predicted: Array.from(pred), info: job.model === 'gblup' ? { h2: fit.h2, delta: fit.delta } : { lambda: fit.delta, h2: fit.h2 } });
    } else if (job.model === 'rkhs' || job.model === 'rkhs-ka') {
      const yTrain = Float64Array.from(train, (i) => y[i]!);
      const choice = job.model === 'rkhs'
        ? fitRkhs(kernelsAt(data, RKHS_BANDWIDTHS), RKHS_BANDWIDTHS, data.n, trainIdx, yTrain, trainBases)
        : fitKernelAverage(kernelsAt(data, KERNEL_AVERAGE_BANDWIDTHS), data.n, trainIdx, yTrain, mixes, trainBases);
      const pred = predictKernel(choice.fit, choice.kernel, data.n, trainIdx, testIdx);
      const info: Record<string, number> = { h2: choice.fit.h2, delta: choice.fit.delta };
      if (choice.theta !== undefined) info['theta'] = choice.theta;
      choice.weights?.forEach((w, k) => { info[`w${k + 1}`] = w; });
      perTrait.push({ trait: t, test, predicted: Array.from(pred), info });
    } else {
      const all = Math.max(1, gcn.ensemble);
      const chosen = job.member === undefined ? Array.from({ length: all }, (_, e) => e) : [job.member];
      const members = chosen.length;
      const sum = new Float64Array(data.n);
      let bestEpoch = 0;
      for (const e of chosen) {
        const seed = gcn.seed + 1000 * job.repeat + job.fold + 100_003 * e;
        const r = await trainGcnRegressor(rt, {
          n: data.n, features: data.features, f: data.f, src: data.src, dst: data.dst, y, train: trainIdx,
          ...(job.model === 'hybrid' && data.covariates ? { covariates: data.covariates } : {}),
          ...(data.featureBlocks ? { featureBlocks: data.featureBlocks } : {}),
        }, { ...gcn, seed }, checkpoints ? { checkpoint: { file: jobCheckpointFile(checkpoints.dir, job, e), every: checkpoints.every } } : {});
        for (let i = 0; i < data.n; i++) sum[i]! += r.predictions[i]!;
        bestEpoch += r.bestEpoch / members;
      }
      perTrait.push({ trait: t, test, predicted: test.map((i) => sum[i]! / members), info: { best_epoch: bestEpoch, members } });
    }
  }
  return { job, perTrait, ms: performance.now() - t0 };
}

/** The jobs of a study, longest first (GCN training dominates), so a pool finishes evenly. */
export function planJobs(models: GpModel[], repeats: number, k: number, traits: number): CvJob[] {
  const jobs: CvJob[] = [];
  for (const model of [...models].sort((a, b) => weight(b) - weight(a))) {
    for (let r = 0; r < repeats; r++) for (let f = 1; f <= k; f++) {
      if (model === 'gcn' || model === 'hybrid') for (let t = 0; t < traits; t++) jobs.push({ model, repeat: r, fold: f, traits: [t] });
      else jobs.push({ model, repeat: r, fold: f, traits: Array.from({ length: traits }, (_, t) => t) });
    }
  }
  return jobs;
}

const weight = (m: GpModel): number => (m === 'hybrid' ? 3 : m === 'gcn' ? 2 : m === 'rkhs-ka' ? 1.8 : m === 'rkhs' ? 1.5 : m === 'rrblup' ? 1 : 0);
