// The genomic-prediction models graft gp fits (the catalogue: names, families, one line of
// text each), apart from how a job runs them (cv-jobs.ts), so the report, the job store and the
// CLI read the catalogue without importing the runner.

/**
 * gcn: the founding study's GCN (an ensemble); appnp: an MLP whose predictions are propagated
 * by personalized PageRank (an ensemble); hybrid: with a dense covariate branch;
 * stack: the GCN and RKHS blended with a weight fitted on an inner validation split;
 * boost: RKHS, plus a GCN fitted to RKHS's training residuals; across: GBLUP of the genotype
 * main effect over every environment of a long-format study; gxe: that main effect plus an
 * environment-specific deviation (multi-env.ts); gcn-soup: the gcn members' weights averaged
 * (gcn-soup.ts), chosen by the soup setting rather than listed in GP_MODELS.
 */
export type GpModel =
  | 'gcn'
  | 'gcn-soup'
  | 'appnp'
  | 'hybrid'
  | 'stack'
  | 'boost'
  | 'gblup'
  | 'rkhs'
  | 'rkhs-ka'
  | 'rrblup'
  | 'across'
  | 'gxe';
export const GP_MODELS: readonly GpModel[] = [
  'gcn',
  'appnp',
  'hybrid',
  'stack',
  'boost',
  'gblup',
  'rkhs',
  'rkhs-ka',
  'rrblup',
  'across',
  'gxe',
];
/** Models that fit every environment of a long-format study (the others fit one trait column each). */
export const ACROSS_ENV_MODELS: readonly GpModel[] = ['across', 'gxe'];
/** Models that train GCNs: one job per trait, checkpointed. */
export const GCN_MODELS: readonly GpModel[] = ['gcn', 'gcn-soup', 'appnp', 'hybrid', 'stack', 'boost'];

/** What each model is, for the report: propagation over the sample graph, a kernel, or linear in the markers. */
export const GP_FAMILY: Record<GpModel, 'graph' | 'kernel' | 'linear'> = {
  gcn: 'graph',
  'gcn-soup': 'graph',
  appnp: 'graph',
  hybrid: 'graph',
  stack: 'graph',
  boost: 'graph',
  gblup: 'kernel',
  rkhs: 'kernel',
  'rkhs-ka': 'kernel',
  rrblup: 'linear',
  across: 'kernel',
  gxe: 'kernel',
};

/** One line per model, for the report. */
export const GP_MODEL_TEXT: Record<GpModel, string> = {
  gcn: "the founding study's GCN on the sample graph (an ensemble of seeds)",
  'gcn-soup':
    "one GCN whose weights are the soup (uniform or greedy mean) of the gcn ensemble's members, trained from one initialization (graft gp --gcn-soup; info: ingredients)",
  appnp:
    'a two-layer MLP on the features, its predictions propagated by personalized PageRank over the sample graph (10 steps, α = 0.1; an ensemble of seeds)',
  hybrid: 'the GCN with a dense branch on the covariates, joined before the head',
  stack:
    'the GCN and RKHS blended, the weight fitted on an inner validation split of each training fold (info: w_graph)',
  boost: "RKHS plus a GCN fitted to RKHS's training residuals",
  gblup: 'the mixed model with the genomic relationship (REML)',
  rkhs: 'the mixed model with a Gaussian kernel of marker distance, bandwidth by REML (info: theta)',
  'rkhs-ka': 'the average of three Gaussian kernels, weights by REML',
  rrblup: 'ridge regression on the markers, λ by REML',
  across:
    "GBLUP of the genotype main effect fitted on every environment's training records, plus the environment's mean",
  gxe: "the across model plus a GBLUP of the target environment's residuals (G + G×E, fitted stagewise)",
};
