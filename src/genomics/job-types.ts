import type { KernelScoring } from '../graph/gp-scoring.js';
import type { GcnRegressorConfig } from '../train/gcn-regressor.js';
import type { GpModel } from './gp-models.js';

// What a cross-validation job is and what it returns: the types the runner (cv-jobs.ts), the
// job store (job-store.ts), the pools and the kept models share, in a file of their own so the
// store and the runner do not import each other.

/** GCN members checkpoint their training into a job folder (JobStore) every `every` epochs. */
export interface JobCheckpoints {
  dir: string;
  every: number;
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
  /**
   * graft gp's final fit: the model fitted on every phenotyped sample of the trait, predicting
   * the samples with none (the candidates), keeping what scores samples it has never seen
   * (FinalState). repeat and fold are 0; such a job is never cached (its result holds weights).
   */
  final?: true;
}

/**
 * A REML kernel model's fit, as kept (genomics/kept-models.ts scores new samples from it):
 * what scoring reads (graph/gp-scoring.ts KernelScoring: the kernel, its bandwidths, μ, α, the
 * training samples, (K_train + δI)⁻¹) and the variance components of the fit.
 */
export interface KernelState extends KernelScoring {
  sigmaG2: number;
  delta: number;
  h2: number;
}

/** One GCN member fitted on every phenotyped sample: prediction = output · scale.sd + scale.mean. */
export interface MemberState {
  seed: number;
  scale: { mean: number; sd: number };
  weights: Map<string, Float32Array>;
}

/** What a final fit keeps: the kernel part, the GCN members, the stack's blend weight, and the members' predictions of the candidates. */
export interface FinalState {
  kernel?: KernelState;
  members?: MemberState[];
  config?: GcnRegressorConfig;
  /** gxe: the environment-specific deviation's GBLUP, added to the main effect (kernel). */
  deviation?: KernelState;
  /** stack: the GCN's weight w (prediction = w·GCN + (1 − w)·RKHS). */
  blend?: number;
  /** Each member's prediction (trait units) of each test sample, [member][q]: the GCN part, transductive. */
  memberTest?: Float64Array[];
}

/**
 * A gcn job's soup of its members (graft gp --gcn-soup), carried inside the gcn job's result
 * (one training for both rows, one cached file) until withSoupResults makes it a gcn-soup
 * result of its own; ms is the souping's time.
 */
export interface SoupRow {
  predicted: number[];
  info: Record<string, number>;
  final?: FinalState;
  ms: number;
}

export interface CvJobResult {
  job: CvJob;
  perTrait: {
    trait: number;
    test: number[];
    predicted: number[];
    info: Record<string, number>;
    final?: FinalState;
    soup?: SoupRow;
  }[];
  ms: number;
}

/** Fold per sample for each repeat (0 = in no fold). */
export type FoldPlan = Int32Array[];
