import { GraftError } from '../core/errors.js';
import { Runtime } from '../runtime/runtime.js';
import { readFolds } from '../data/folds.js';
import { foldMetrics, kFoldSplits, meanSd, type FoldMetrics } from '../train/cv.js';
import { planFinalJobs, planJobs, withSoupResults } from './cv-jobs.js';
import { ACROSS_ENV_MODELS, type GpModel } from './gp-models.js';
import type { CvJobResult, FoldPlan } from './job-types.js';
import { keptModels, studyCandidates, type CandidateRow } from './candidates.js';
import { scoringBasis, type KeptModel, type ScoringBasis } from './kept-models.js';
import { runCvJobs, type JobCache } from './cv-pool.js';
import type { JobCheckpoints } from './job-types.js';
import type { GcnRegressorConfig } from '../train/gcn-regressor.js';
import { SCHEME_TEXT } from './multi-env.js';
import { prepareStudy, type StudyData, type StudyInputs, type StudySummary } from './study-data.js';

/**
 * A genomic prediction study: its input files and preprocessing (StudyInputs), the models, the
 * cross-validation (k folds × repeats, or a folds file), worker threads and the GCN's settings.
 */
export interface StudyOptions extends StudyInputs {
  models: GpModel[];
  /** k-fold CV repeated `repeats` times with seeded folds, unless a folds file is given. */
  k: number;
  repeats: number;
  seed: number;
  foldsFile?: string;
  threads: number;
  /**
   * The GCN models' settings; with `soup`, the gcn members train from one initialization and
   * the soup of their weights (uniform mean, or greedy by inner validation) is scored as the
   * model gcn-soup.
   */
  gcn: GcnRegressorConfig & { soup?: 'uniform' | 'greedy' };
  /**
   * Fit every model on all phenotyped samples too (the final fits): candidates (genotyped,
   * not phenotyped) are predicted, and the fits are kept (StudyResult.final) for
   * graft gp --keep-models. 'if-candidates' (what graft gp asks): only when some trait has
   * candidates. Default false (a sweep scores the cross-validation only).
   */
  final?: boolean | 'if-candidates';
}

/**
 * One model's accuracy on one trait in one fold of one repeat, with model-specific figures in `info` (h², epochs, ...).
 */
export interface FoldRecord extends FoldMetrics {
  model: GpModel;
  trait: string;
  repeat: number;
  fold: number;
  info: Record<string, number>;
}

/** One model on one trait over all folds and repeats: mean and standard deviation of r, RMSE and R². */
export interface ModelTraitSummary {
  r_mean: number;
  r_sd: number;
  rmse_mean: number;
  rmse_sd: number;
  r2_mean: number;
  r2_sd: number;
  folds: number;
}

/**
 * What runStudy returns: the data's summary, the protocol, every fold's record, the model × trait
 * table, the out-of-fold predictions and the timings.
 */
export interface StudyResult {
  options: StudyOptions;
  summary: StudySummary;
  data: StudyData;
  protocol: string;
  folds: FoldRecord[];
  /** model → trait → summary over folds and repeats. */
  table: Record<string, Record<string, ModelTraitSummary>>;
  /** Out-of-fold predictions: [model, trait, repeat, fold, sample, observed, predicted]. */
  predictions: {
    model: GpModel;
    trait: string;
    repeat: number;
    fold: number;
    sample: number;
    observed: number;
    predicted: number;
  }[];
  /** final_s: the fits on all phenotyped samples (candidates, kept models), apart from the cross-validation. */
  timing: {
    prepare_s: number;
    cv_s: number;
    threads: number;
    job_ms_by_model: Record<string, number>;
    final_s?: number;
    keep_models_s?: number;
  };
  /** The final fits: every candidate's predictions, the kept models and what scores new samples with them. */
  final?: { candidates: CandidateRow[]; kept: KeptModel[]; basis: ScoringBasis; fits: CvJobResult[] };
}

/**
 * Genomic prediction study: the GCN (and hybrid) beside GBLUP and rrBLUP under one
 * cross-validation: the same folds, the same training samples per fold and trait.
 */
/** Where a study keeps finished jobs and GCN training checkpoints, so it can resume (JobStore). */
export interface StudyJobs {
  cache: JobCache;
  checkpoints: JobCheckpoints;
}

/** The folds of a study: from its folds file, or k-fold splits seeded from its seed, once per repeat. */
export function studyFolds(
  o: Pick<StudyOptions, 'foldsFile' | 'k' | 'repeats' | 'seed'>,
  data: StudyData,
): { folds: FoldPlan; k: number; protocol: string } {
  if (o.foldsFile) {
    const f = readFolds(o.foldsFile, data.ids);
    return {
      folds: [f.fold],
      k: f.k,
      protocol: `${f.k} folds from ${o.foldsFile} (${f.unlisted} genotyped samples unlisted, ${f.unknown} listed ids not genotyped)`,
    };
  }
  const phenotyped = Array.from({ length: data.n }, (_, i) => data.y.some((y) => Number.isFinite(y[i]!)));
  return {
    folds: Array.from({ length: o.repeats }, (_, r) => kFoldSplits(data.n, o.k, o.seed + r, phenotyped)),
    k: o.k,
    protocol: `${o.k}-fold cross-validation × ${o.repeats} repeat(s), folds seeded from ${o.seed}`,
  };
}

/**
 * Runs a genomic prediction study: reads and matches the files, runs QC, builds the relationship,
 * the sample graph and the features, then cross-validates every chosen model (GCN, hybrid,
 * GBLUP, rrBLUP, ...) on the same folds, jobs spread over `threads` workers. `log` hears progress;
 * `jobStore` (graft gp's run folder) lets an interrupted study resume.
 *
 * @example
 *   const dir = 'node_modules/graft-gnn/data/synthetic-gp';
 *   const res = await runStudy({
 *     geno: `${dir}/genotypes.csv.gz`, pheno: `${dir}/phenotypes.csv`, traits: ['height'],
 *     features: 'pcs', pcs: 20, graph: 'knn', knn: 5, threshold: 0,
 *     models: ['gblup', 'rrblup'], k: 3, repeats: 1, seed: 1, threads: 2, gcn: GCN_GP_DEFAULTS,
 *   });
 *   console.log(res.table['gblup']?.['height']?.r_mean); // 0.66 (examples/genomic-study.mjs)
 */
export async function runStudy(
  o: StudyOptions,
  log: (s: string) => void = () => {},
  jobStore?: StudyJobs,
): Promise<StudyResult> {
  if (o.models.length === 0) throw new GraftError('runStudy: no models chosen');
  if (o.models.includes('rrblup') && !o.geno)
    throw new GraftError(
      'rrBLUP needs marker genotypes (options.geno); with only a relationship matrix, leave rrblup out of options.models',
    );
  if (o.models.includes('hybrid') && !o.covariates?.length)
    throw new GraftError('the hybrid model needs covariates (options.covariates)');
  for (const m of ACROSS_ENV_MODELS)
    if (o.models.includes(m) && !o.long)
      throw new GraftError(`the ${m} model fits every environment: it needs long-format phenotypes (options.long)`);
  if (o.envScheme && !o.long)
    throw new GraftError('a CV scheme (options.envScheme) is for long-format phenotypes (options.long)');
  const perEnv = o.models.filter((m) => !ACROSS_ENV_MODELS.includes(m));
  if (o.envScheme === 'cv0' && perEnv.length)
    throw new GraftError(
      `CV0 predicts a new environment, which only the across-environment models (across, gxe) can; per-environment models (${perEnv.join(', ')}) cannot`,
    );
  const t0 = performance.now();
  const rt = await Runtime.create({ threads: o.threads });
  let prepared: Awaited<ReturnType<typeof prepareStudy>>;
  try {
    prepared = await prepareStudy(rt, o, log, { markers: true });
  } finally {
    await rt.close();
  }
  const { data, summary } = prepared;
  const tPrep = performance.now();
  const { folds, k, protocol: foldText } = studyFolds(o, data);
  const protocol = data.multiEnv ? `${foldText}, over genotypes; ${SCHEME_TEXT[data.multiEnv.scheme]}` : foldText;
  log(`protocol: ${protocol}; models ${o.models.join(', ')}; traits ${data.traits.join(', ')}`);
  const candidates = Object.values(summary.missingPerTrait).some((k) => k > 0);
  const final = o.final === 'if-candidates' ? candidates : o.final === true;
  // The final fits run in the same pool as the cross-validation (never cached: they hold weights).
  const jobs = [
    ...planJobs(o.models, folds.length, k, data.traits.length),
    ...(final ? planFinalJobs(o.models, data.traits.length) : []),
  ];
  const what = (j: CvJobResult['job']): string =>
    `${j.model} ${j.final ? 'final fit (every phenotyped sample)' : `repeat ${j.repeat + 1} fold ${j.fold}`}${j.traits.length === 1 ? ` ${data.traits[j.traits[0]!]}` : ''}`;
  let reusedJobs = 0;
  const ran = await runCvJobs(
    { data, folds, gcn: o.gcn, ...(jobStore ? { checkpoints: jobStore.checkpoints } : {}) },
    jobs,
    o.threads,
    {
      ...(jobStore ? { cache: jobStore.cache } : {}),
      onDone: (r, done, reused) => {
        if (reused) reusedJobs++;
        log(
          `  [${done}/${jobs.length}] ${what(r.job)}: ${reused ? 'finished in an earlier run' : `${(r.ms / 1000).toFixed(1)} s`}`,
        );
      },
      onRetry: (j, a, err) =>
        log(`  ${what(j)}: its worker failed (${err.message}); running the job again (attempt ${a + 1})`),
    },
  );
  if (reusedJobs) log(`${reusedJobs} of ${jobs.length} jobs were read back from the earlier run`);
  const results = withSoupResults(ran);
  const tCv = performance.now();
  const cv = results.filter((r) => !r.job.final),
    finals = results.filter((r) => r.job.final);
  let finalPart: StudyResult['final'];
  if (final) {
    const basis = scoringBasis(data, o, prepared.markers?.clean ?? null, prepared.featureParts);
    finalPart = {
      candidates: studyCandidates(basis, data, finals, o.models),
      kept: keptModels(data, finals),
      basis,
      fits: finals,
    };
  }
  const finalMs = finals.reduce((a, r) => a + r.ms, 0);
  return {
    options: o,
    summary,
    data,
    protocol,
    ...collect(data, cv, o.models),
    timing: {
      prepare_s: (tPrep - t0) / 1000,
      cv_s: (tCv - tPrep) / 1000,
      threads: o.threads,
      job_ms_by_model: msByModel(cv),
      ...(final ? { final_s: finalMs / 1000 } : {}),
    },
    ...(finalPart ? { final: finalPart } : {}),
  };
}

function msByModel(results: CvJobResult[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of results) out[r.job.model] = (out[r.job.model] ?? 0) + r.ms;
  return out;
}

/** Per-fold metrics and the model × trait table, in a fixed order (model, trait, repeat, fold). */
function collect(
  data: StudyData,
  results: CvJobResult[],
  models: GpModel[],
): Pick<StudyResult, 'folds' | 'table' | 'predictions'> {
  const folds: FoldRecord[] = [];
  const predictions: StudyResult['predictions'] = [];
  for (const r of results) {
    for (const pt of r.perTrait) {
      if (pt.test.length === 0) continue;
      const y = data.y[pt.trait]!,
        trait = data.traits[pt.trait]!;
      const obs = pt.test.map((i) => y[i]!);
      folds.push({
        model: r.job.model,
        trait,
        repeat: r.job.repeat,
        fold: r.job.fold,
        ...foldMetrics(obs, pt.predicted),
        info: pt.info,
      });
      pt.test.forEach((s, q) => {
        predictions.push({
          model: r.job.model,
          trait,
          repeat: r.job.repeat,
          fold: r.job.fold,
          sample: s,
          observed: obs[q]!,
          predicted: pt.predicted[q]!,
        });
      });
    }
  }
  const order = (a: { model: GpModel; trait: string; repeat: number; fold: number }, b: typeof a): number =>
    models.indexOf(a.model) - models.indexOf(b.model) ||
    data.traits.indexOf(a.trait) - data.traits.indexOf(b.trait) ||
    a.repeat - b.repeat ||
    a.fold - b.fold;
  folds.sort(order);
  predictions.sort((a, b) => order(a, b) || a.sample - b.sample);
  const table: StudyResult['table'] = {};
  for (const m of models) {
    table[m] = {};
    for (const t of data.traits) {
      const rows = folds.filter((f) => f.model === m && f.trait === t);
      const r = meanSd(rows.map((x) => x.r)),
        e = meanSd(rows.map((x) => x.rmse)),
        q = meanSd(rows.map((x) => x.r2));
      table[m]![t] = {
        r_mean: r.mean,
        r_sd: r.sd,
        rmse_mean: e.mean,
        rmse_sd: e.sd,
        r2_mean: q.mean,
        r2_sd: q.sd,
        folds: rows.length,
      };
    }
  }
  return { folds, table, predictions };
}

/** The comparison table as fixed-width text: one row per model, mean r ± sd per trait. */
export function formatTable(res: StudyResult): string {
  const traits = res.data.traits;
  const head = ['model', ...traits.map((t) => `${t} r (mean ± sd)`)];
  const rows = Object.entries(res.table).map(([m, byTrait]) => [
    m,
    ...traits.map((t) => {
      const s = byTrait[t]!;
      return `${s.r_mean.toFixed(3)} ± ${s.r_sd.toFixed(3)}`;
    }),
  ]);
  const widths = head.map((h, j) => Math.max(h.length, ...rows.map((r) => r[j]!.length)));
  const line = (cells: string[]): string => cells.map((c, j) => c.padEnd(widths[j]!)).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
