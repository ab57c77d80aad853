import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { choice, choices, intAtLeast, joinNegativeValues, num } from '../args.js';
import { claimRunFolder } from '../run-folder.js';
import { writeFileAtomic } from '../../core/atomic-write.js';
import { GraftError } from '../../core/errors.js';
import { recordInputs } from '../../core/input-files.js';
import { syntheticGenomicData, writeSyntheticGenomicData } from '../../data/genomic-synthetic.js';
import { sharedDataDir } from '../../data/locate.js';
import {
  fitFingerprint,
  genomicInputsFile,
  genomicModelFile,
  saveGenomicInputs,
  saveGenomicModels,
} from '../../explain/genomic-models.js';
import { candidatesCsv } from '../../genomics/candidates.js';
import { ACROSS_ENV_MODELS, GP_MODELS } from '../../genomics/gp-models.js';
import { JobStore } from '../../genomics/job-store.js';
import { saveKeptModel, saveScoringBasis } from '../../genomics/kept-models.js';
import { ENV_SCHEMES } from '../../genomics/multi-env.js';
import { studyIdentity } from '../../genomics/study-identity.js';
import { writeStudyReport } from '../../genomics/study-report.js';
import { type StudyOptions, formatTable, runStudy } from '../../genomics/study.js';
import { SYNTHETIC_GP_DIR } from '../../genomics/synthetic-set.js';
import { GCN_GP_DEFAULTS } from '../../train/gcn-regressor.js';
import { GCN_SOUP_RECIPES, type GpGcnConfig } from '../../genomics/gcn-soup.js';

export const GP_USAGE = `  graft gp --geno FILE|--relationship FILE --pheno FILE --trait NAME[,NAME...|all] [--folds FILE] [--out DIR]
           [--models boost,gblup,rkhs,rrblup[,gcn,appnp,stack,hybrid,rkhs-ka,across,gxe]] [--k 10] [--repeats 1] [--seed 1]
           [--features markers|pcs] [--pcs 50] [--graph knn|threshold] [--knn 5] [--threshold X] [--edge-weights none|kernel]
           [--relationship FILE] [--covariates COL,...] [--min-maf 0.01] [--min-call-rate 0.9]
           [--env COL [--id COL] [--scheme cv1|cv2|cv0]]   (long-format phenotypes: one row per genotype × environment;
             the across and gxe models fit every environment; CV1 new genotypes, CV2 seen elsewhere, CV0 new environment)
           [--layers 3] [--hidden 64] [--dropout 0.2] [--lr 0.005] [--weight-decay 5e-3]
           [--epochs 300] [--patience 60] [--ensemble 5] [--branches 1] [--threads N]
           [--gcn-soup uniform|greedy]   (gcn's members from one initialization; their weight soup scored as gcn-soup,
             and kept by --keep-models as one GCN: models/gcn-soup-<trait>.safetensors, kept-gcn-soup-<trait>)
           [--resume | --overwrite] [--checkpoint-every 25] [--keep-models] [--quiet]
           (samples genotyped but not phenotyped are candidates: every model fitted on all phenotyped
             samples predicts them, in candidates.csv; --keep-models keeps every model for graft predict)
  graft generate-gp [--out DIR] [--seed N]   (writes the synthetic genomic data set)`;

/** What `graft gp`'s flags ask for (graft sweep plans with the same flags). */
export interface GpRequest {
  o: StudyOptions;
  out: string;
  checkpointEvery: number;
  resume: boolean;
  overwrite: boolean;
  quiet: boolean;
  keepModels: boolean;
}

/** Parses and checks `graft gp`'s flags. */
export function parseGpArgs(argv: string[]): GpRequest {
  const { values: v } = parseArgs({
    args: joinNegativeValues(argv),
    strict: true,
    options: {
      geno: { type: 'string' },
      pheno: { type: 'string' },
      trait: { type: 'string' },
      folds: { type: 'string' },
      out: { type: 'string' },
      models: { type: 'string' },
      k: { type: 'string' },
      repeats: { type: 'string' },
      seed: { type: 'string' },
      features: { type: 'string' },
      pcs: { type: 'string' },
      graph: { type: 'string' },
      knn: { type: 'string' },
      threshold: { type: 'string' },
      relationship: { type: 'string' },
      covariates: { type: 'string' },
      'min-maf': { type: 'string' },
      'min-call-rate': { type: 'string' },
      layers: { type: 'string' },
      hidden: { type: 'string' },
      dropout: { type: 'string' },
      lr: { type: 'string' },
      'weight-decay': { type: 'string' },
      epochs: { type: 'string' },
      patience: { type: 'string' },
      ensemble: { type: 'string' },
      'gcn-soup': { type: 'string' },
      branches: { type: 'string' },
      threads: { type: 'string' },
      overwrite: { type: 'boolean' },
      quiet: { type: 'boolean' },
      resume: { type: 'boolean' },
      'checkpoint-every': { type: 'string' },
      'keep-models': { type: 'boolean' },
      env: { type: 'string' },
      id: { type: 'string' },
      'edge-weights': { type: 'string' },
      scheme: { type: 'string' },
    },
  });
  if (v.id !== undefined && v.env === undefined)
    throw new GraftError('--id COL names the genotype column of long-format phenotypes: it goes with --env COL');
  if ((!v.geno && !v.relationship) || !v.pheno || !v.trait)
    throw new GraftError('--geno FILE (or --relationship FILE), --pheno FILE and --trait NAME are required');
  if (v.scheme !== undefined && v.env === undefined)
    throw new GraftError('--scheme cv1|cv2|cv0 is a multi-environment CV scheme: it goes with --env COL');
  const scheme = choice(v.scheme, '--scheme', ENV_SCHEMES, 'cv1');
  // The default graph model is boost (RKHS plus a GCN on its residuals): it beat GBLUP on every real data set in the README; gcn is the founding study's plain GCN.
  const models = choices(
    v.models ??
      (scheme === 'cv0'
        ? 'across,gxe'
        : `boost,${v.covariates ? 'hybrid,' : ''}gblup,rkhs${v.geno ? ',rrblup' : ''}${v.env ? ',across,gxe' : ''}`),
    '--models',
    GP_MODELS,
  );
  if (scheme === 'cv0' && models.some((m) => !ACROSS_ENV_MODELS.includes(m)))
    throw new GraftError(
      '--scheme cv0 predicts a new environment: only the across-environment models can (--models across,gxe)',
    );
  for (const m of ACROSS_ENV_MODELS)
    if (models.includes(m) && !v.env)
      throw new GraftError(`--models ${m} fits every environment of long-format phenotypes: it needs --env COL`);
  if (models.includes('rrblup') && !v.geno)
    throw new GraftError(
      '--models rrblup needs marker genotypes (--geno); with only --relationship use --models boost,gblup,rkhs',
    );
  if (models.includes('hybrid') && !v.covariates)
    throw new GraftError('--models hybrid needs --covariates COL[,COL...]');
  if (v['gcn-soup'] !== undefined && !models.includes('gcn'))
    throw new GraftError('--gcn-soup averages the gcn ensemble: it needs gcn in --models');
  const soup =
    v['gcn-soup'] === undefined ? undefined : choice(v['gcn-soup'], '--gcn-soup', GCN_SOUP_RECIPES, 'uniform');
  if (soup) models.splice(models.indexOf('gcn') + 1, 0, 'gcn-soup');
  const features = choice(v.features, '--features', ['markers', 'pcs'], 'markers');
  const graph = choice(v.graph, '--graph', ['knn', 'threshold'], v.threshold !== undefined ? 'threshold' : 'knn');
  if (graph === 'threshold' && v.threshold === undefined) throw new GraftError('--graph threshold needs --threshold X');
  const edgeWeights = choice(v['edge-weights'], '--edge-weights', ['none', 'kernel'], 'none');
  const gcn: GpGcnConfig = {
    ...GCN_GP_DEFAULTS,
    ...(soup ? { soup } : {}),
    layers: num(v.layers, '--layers', true) ?? GCN_GP_DEFAULTS.layers,
    hidden: num(v.hidden, '--hidden', true) ?? GCN_GP_DEFAULTS.hidden,
    dropout: num(v.dropout, '--dropout') ?? GCN_GP_DEFAULTS.dropout,
    lr: num(v.lr, '--lr') ?? GCN_GP_DEFAULTS.lr,
    weightDecay: num(v['weight-decay'], '--weight-decay') ?? GCN_GP_DEFAULTS.weightDecay,
    epochs: num(v.epochs, '--epochs', true) ?? GCN_GP_DEFAULTS.epochs,
    patience: num(v.patience, '--patience', true) ?? GCN_GP_DEFAULTS.patience,
    seed: num(v.seed, '--seed', true) ?? 1,
    ensemble: num(v.ensemble, '--ensemble', true) ?? GCN_GP_DEFAULTS.ensemble,
  };
  if (gcn.ensemble < 1) throw new GraftError('--ensemble must be at least 1');
  const branches = num(v.branches, '--branches', true) ?? 1;
  if (branches < 1) throw new GraftError('--branches must be at least 1');
  if (branches > 1 && !v.geno) throw new GraftError('--branches N splits the markers into blocks: it needs --geno');
  if (branches > 1 && v.features === 'pcs')
    throw new GraftError('--branches N needs marker features, not --features pcs');
  if (branches > 1 && models.includes('hybrid'))
    throw new GraftError('--branches N and the hybrid model do not combine: leave hybrid out of --models');
  const o: StudyOptions = {
    ...(v.geno ? { geno: v.geno } : {}),
    pheno: v.pheno,
    traits: v.trait
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    qc: {
      minMaf: num(v['min-maf'], '--min-maf') ?? 0.01,
      minCallRate: num(v['min-call-rate'], '--min-call-rate') ?? 0.9,
    },
    features,
    pcs: num(v.pcs, '--pcs', true) ?? 50,
    ...(branches > 1 ? { branches } : {}),
    graph,
    ...(edgeWeights !== 'none' ? { edgeWeights } : {}),
    knn: num(v.knn, '--knn', true) ?? 5,
    threshold: num(v.threshold, '--threshold') ?? 0,
    ...(v.relationship ? { relationship: v.relationship } : {}),
    ...(v.covariates ? { covariates: v.covariates.split(',').map((s) => s.trim()) } : {}),
    ...(v.folds ? { foldsFile: v.folds } : {}),
    ...(v.env
      ? { long: { env: v.env, ...(v.id ? { id: v.id } : {}) }, ...(scheme !== 'cv1' ? { envScheme: scheme } : {}) }
      : {}),
    models,
    k: num(v.k, '--k', true) ?? 10,
    repeats: num(v.repeats, '--repeats', true) ?? 1,
    seed: num(v.seed, '--seed', true) ?? 1,
    threads: num(v.threads, '--threads', true) ?? availableParallelism(),
    gcn,
  };
  if (o.threads < 1) throw new GraftError('--threads must be at least 1');
  if (v.resume && v.overwrite) throw new GraftError('--resume and --overwrite exclude each other');
  const checkpointEvery = intAtLeast(v['checkpoint-every'], '--checkpoint-every', 25, 1, 'epoch');
  const out = resolve(v.out ?? join('runs', 'gp'));
  if (v['keep-models'] && edgeWeights !== 'none')
    throw new GraftError(
      '--keep-models keeps GCNs on the unweighted graph; it does not combine with --edge-weights kernel',
    );
  return {
    o,
    out,
    checkpointEvery,
    resume: v.resume === true,
    overwrite: v.overwrite === true,
    quiet: v.quiet === true,
    keepModels: v['keep-models'] === true,
  };
}

/** `graft gp`: cross-validated genomic prediction, graph models beside GBLUP, RKHS and rrBLUP; writes a report folder. */
export async function gp(argv: string[]): Promise<void> {
  const r = parseGpArgs(argv);
  const { o, out } = r;
  const log = r.quiet ? () => {} : (s: string) => console.error(`graft gp: ${s}`);
  const release = claimRunFolder(out, { command: 'graft gp', overwrite: r.overwrite, resume: r.resume });
  try {
    // Every finished job is kept in out/jobs, so --resume runs only what is left.
    const jobDir = join(out, 'jobs');
    const store = await JobStore.open(jobDir, studyIdentity(o), r.resume);
    let res: Awaited<ReturnType<typeof runStudy>>;
    try {
      res = await runStudy({ ...o, final: r.keepModels ? true : 'if-candidates' }, log, {
        cache: store,
        checkpoints: { dir: jobDir, every: r.checkpointEvery },
      });
    } catch (err) {
      // A study that failed before any job finished (a bad trait name, an unreadable file)
      // leaves no job folder: the corrected run then starts in the same --out.
      JobStore.discardIfUnused(jobDir);
      throw err;
    }
    if (res.final?.candidates.length) {
      writeFileAtomic(join(out, 'candidates.csv'), candidatesCsv(res.final.candidates));
      log(
        `candidates.csv: ${new Set(res.final.candidates.map((c) => c.id)).size} unphenotyped sample(s) predicted by ${o.models.join(', ')} fitted on every phenotyped sample`,
      );
    }
    if (r.keepModels) {
      keepModels(res, out, o, log);
      res.timing.keep_models_s = res.timing.final_s ?? 0;
    }
    const { studyCharts } = await import('../reports/gp-report.js'); // loads vega only when a report is drawn
    writeStudyReport(
      out,
      res,
      await recordInputs({ geno: o.geno, pheno: o.pheno, relationship: o.relationship, folds: o.foldsFile }),
      studyCharts,
    );
    printStudy(res, out, o.threads);
  } finally {
    release();
  }
}

/** Where --keep-models writes the gcn soup (one member) as a gp model file, beside gcn-<trait>.safetensors. */
export const soupModelFile = (dir: string, trait: string): string =>
  join(dir, `gcn-soup-${trait.replace(/[^A-Za-z0-9_.-]+/g, '_')}.safetensors`);

/**
 * --keep-models: every chosen model fitted on every phenotyped sample (the study's final
 * fits), in out/models with what scores new genotypes (genomics/kept-models.ts; graft
 * predict reads them). The plain GCN's ensemble is also written where graft explain reads it,
 * and the gcn soup (--gcn-soup) beside it, both in the model-file format graft/infer reads.
 */
function keepModels(
  res: Awaited<ReturnType<typeof runStudy>>,
  out: string,
  o: StudyOptions,
  log: (s: string) => void,
): void {
  const dir = join(out, 'models'),
    fin = res.final!;
  saveScoringBasis(dir, fin.basis);
  saveGenomicInputs(genomicInputsFile(dir), res.data);
  for (const k of fin.kept) {
    saveKeptModel(dir, k, fin.basis);
    if (k.model === 'gcn' || k.model === 'gcn-soup') {
      const t = res.data.traits.indexOf(k.trait);
      saveGenomicModels(
        k.model === 'gcn' ? genomicModelFile(dir, k.trait) : soupModelFile(dir, k.trait),
        k.final.members!,
        fitFingerprint(res.data, t, o.gcn),
        o.gcn,
        res.data,
      );
    }
  }
  log(
    `kept ${fin.kept.length} model(s) (${[...new Set(fin.kept.map((k) => k.model))].join(', ')} × ${res.data.traits.length} trait(s)) fitted on every phenotyped sample in ${dir}: graft predict --run ${out} --geno FILE scores new genotypes`,
  );
}

function printStudy(res: Awaited<ReturnType<typeof runStudy>>, out: string, threads: number): void {
  console.log(formatTable(res));
  console.log(
    `\nreport: ${join(out, 'report.md')}; results: ${join(out, 'results.json')} (${res.timing.cv_s.toFixed(1)} s of cross-validation on ${threads} thread(s))`,
  );
}

export function generateGp(argv: string[]): void {
  const { values: v } = parseArgs({
    args: joinNegativeValues(argv),
    strict: true,
    options: { out: { type: 'string' }, seed: { type: 'string' } },
  });
  const dir = resolve(v.out ?? SYNTHETIC_GP_DIR);
  writeSyntheticGenomicData(dir, syntheticGenomicData({ seed: num(v.seed, '--seed', true) ?? 2026 }));
  console.log(`wrote ${dir}/genotypes.csv.gz, phenotypes.csv, truth.csv, qtl.csv`);
}

/**
 * What `npm start` runs: the founding study's cross-validation, the default graph model (boost) beside GBLUP, RKHS and rrBLUP,
 * on BGLR's wheat (4 environments, the shipped folds) when ../shared/data is there, else on
 * the synthetic data set in data/.
 */
export async function gpDemo(extra: string[] = []): Promise<void> {
  const dir = sharedDataDir();
  const wheat = dir ? join(dir, 'wheat_bglr') : undefined;
  if (wheat && existsSync(join(wheat, 'wheat_X.csv'))) {
    console.error(
      `graft: genomic prediction on BGLR wheat (${wheat}): 599 lines, 4 environments, the shipped 10 folds`,
    );
    await gp([
      '--geno',
      join(wheat, 'wheat_X.csv'),
      '--pheno',
      join(wheat, 'wheat_Y.csv'),
      '--trait',
      'all',
      '--folds',
      join(wheat, 'wheat_sets.csv'),
      '--out',
      join('runs', 'gp-wheat'),
      '--overwrite',
      ...extra,
    ]);
  } else {
    console.error(
      `graft: ../shared/data not found; genomic prediction on the synthetic data set in ${SYNTHETIC_GP_DIR} (true heritability 0.5 and 0.8)`,
    );
    await gp([
      '--geno',
      join(SYNTHETIC_GP_DIR, 'genotypes.csv.gz'),
      '--pheno',
      join(SYNTHETIC_GP_DIR, 'phenotypes.csv'),
      '--trait',
      'yield,height',
      '--k',
      '5',
      '--out',
      join('runs', 'gp-synthetic'),
      '--overwrite',
      ...extra,
    ]);
  }
}
