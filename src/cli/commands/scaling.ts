import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type Ceiling, type CeilingJob, measureCeiling, ofCeiling } from '../../bench/ceiling.js';
import { loadMoleculeCsv } from '../../chem/dataset.js';
import { MORGAN_BITS, toSample } from '../../chem/featurize.js';
import { randomSplit } from '../../chem/split.js';
import { joinNegativeValues, num } from '../args.js';
import { claimRunFolder } from '../run-folder.js';
import { writeFileAtomic, writeJsonAtomic } from '../../core/atomic-write.js';
import { GraftError } from '../../core/errors.js';
import { Rng } from '../../core/random.js';
import { sharedDataDir } from '../../data/locate.js';
import { syntheticMolecules } from '../../data/synthetic.js';
import { runCvJob } from '../../genomics/cv-jobs.js';
import { CvPool, type runCvJobs } from '../../genomics/cv-pool.js';
import type { CvJob, FoldPlan } from '../../genomics/job-types.js';
import { type StudyData, prepareStudy } from '../../genomics/study-data.js';
import { SYNTHETIC_GP_DIR } from '../../genomics/synthetic-set.js';
import { type GraphSample, stackTargets } from '../../graph/batch.js';
import { Runtime } from '../../runtime/runtime.js';
import { formatTraceSummary, startTrace, writeTrace } from '../../runtime/trace.js';
import { foldMetrics, kFoldSplits } from '../../train/cv.js';
import { GCN_GP_DEFAULTS, type GcnRegressorConfig } from '../../train/gcn-regressor.js';
import { type GraphTrainConfig, GraphTrainer } from '../../train/graph-trainer.js';
import { meanRocAuc } from '../../train/multilabel-metrics.js';
import { median } from '../../train/placement-trial.js';

// `graft scaling`: the founding study's experiment. Its 3-layer GCN with ReLU on genotypes,
// and the molecules task, trained with each kind of parallelism at 1, 2, … threads:
//   serial      one thread;
//   intra-op    every op split over the threads (one runtime, one model);
//   replicas    the genomic GCN's ensemble members as independent trainings, one per thread;
//   batch-split a molecule batch cut into shards that run at once (torch.nn.DataParallel);
//   fork        the hybrid's graph and dense branches forked (torch.jit.fork).
// Per strategy and thread count: ms per epoch, speed-up over its 1-thread run, efficiency,
// and the model's accuracy, which must not move with threads.

export const SCALING_USAGE = `  graft scaling [--out DIR] [--threads 1,2,...] [--epochs N] [--molecules N] [--overwrite] [--quiet]
              [--no-ceiling] [--trace FILE]   (per thread count P > 1 the ceiling: P independent
              one-thread processes of the same epoch at once; each strategy's share of it)`;

interface Row {
  task: 'genomic' | 'molecules';
  strategy: string;
  threads: number;
  ms_per_epoch: number;
  speedup: number;
  efficiency: number;
  metric: string;
  value: number;
  note?: string;
  /** The speed-up as a share of the ceiling's at this thread count (the ceiling row: its own speed-up). */
  of_ceiling?: number;
}

export async function scaling(argv: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args: joinNegativeValues(argv),
    strict: true,
    options: {
      out: { type: 'string' },
      threads: { type: 'string' },
      epochs: { type: 'string' },
      molecules: { type: 'string' },
      overwrite: { type: 'boolean' },
      quiet: { type: 'boolean' },
      'no-ceiling': { type: 'boolean' },
      trace: { type: 'string' },
    },
  });
  const cores = availableParallelism();
  const threads = v.threads
    ? v.threads.split(',').map((s) => num(s, '--threads', true)!)
    : Array.from({ length: cores }, (_, i) => i + 1);
  if (threads.some((t) => t < 1) || threads[0] !== 1)
    throw new GraftError(`--threads must start at 1 and list positive integers, got ${JSON.stringify(v.threads)}`);
  const epochs = num(v.epochs, '--epochs', true) ?? 300;
  const nMol = num(v.molecules, '--molecules', true) ?? 2000;
  if (epochs < 1 || nMol < 64) throw new GraftError('--epochs must be at least 1 and --molecules at least 64');
  const out = resolve(v.out ?? join('runs', 'scaling'));
  const release = claimRunFolder(out, { command: 'graft scaling', overwrite: v.overwrite === true });
  if (v.trace !== undefined) startTrace();
  try {
    await runScaling(out, threads, epochs, nMol, v.quiet === true, v['no-ceiling'] !== true);
  } finally {
    release();
    if (v.trace !== undefined) {
      const events = writeTrace(resolve(v.trace), 'graft scaling');
      if (v.quiet !== true)
        console.error(`graft scaling: trace written to ${resolve(v.trace)}\n${formatTraceSummary(events)}`);
    }
  }
}

async function runScaling(
  out: string,
  threads: number[],
  epochs: number,
  nMol: number,
  quiet: boolean,
  withCeiling: boolean,
): Promise<void> {
  const cores = availableParallelism();
  const log = quiet ? () => {} : (s: string) => console.error(`graft scaling: ${s}`);
  const rows: Row[] = [];
  const ceilings: { task: Row['task']; ceiling: Ceiling }[] = [];
  const add = (r: Omit<Row, 'speedup' | 'efficiency'>): void => {
    const base =
      rows.find((x) => x.task === r.task && x.strategy === r.strategy && x.threads === 1)?.ms_per_epoch ??
      r.ms_per_epoch;
    const row: Row = { ...r, speedup: base / r.ms_per_epoch, efficiency: base / r.ms_per_epoch / r.threads };
    const c = ceilings.find((x) => x.task === r.task && x.ceiling.processes === r.threads);
    if (c && !r.strategy.startsWith('ceiling')) row.of_ceiling = ofCeiling(row.speedup, c.ceiling.speedup);
    rows.push(row);
    log(
      `${row.task} ${row.strategy} ×${row.threads}: ${row.ms_per_epoch.toFixed(2)} ms/epoch, speed-up ${row.speedup.toFixed(2)}${row.of_ceiling !== undefined ? ` (${(100 * row.of_ceiling).toFixed(0)}% of the ceiling)` : ''}, ${row.metric} ${row.value.toFixed(4)}`,
    );
  };
  // The ceiling first, in the same run: P one-thread processes of the task's epoch at once.
  const ceiling = async (task: Row['task'], job: CeilingJob): Promise<void> => {
    if (!withCeiling) return;
    for (const p of threads.filter((t) => t > 1)) {
      const c = await measureCeiling(job, p);
      ceilings.push({ task, ceiling: c });
      log(
        `${task} ceiling ×${p}: one process alone ${c.single_ms.toFixed(2)} ms/epoch, ${p} at once ${c.concurrent_ms.map((x) => x.toFixed(2)).join(', ')}: ${c.speedup.toFixed(2)}× the work per second`,
      );
      rows.push({
        task,
        strategy: `ceiling (${p} processes)`,
        threads: p,
        ms_per_epoch: c.concurrent_ms.reduce((a, b) => a + b, 0) / p,
        speedup: c.speedup,
        efficiency: c.speedup / p,
        metric: '-',
        value: NaN,
        note: `ceiling: one 1-thread process alone ${c.single_ms.toFixed(2)} ms/epoch; ${p} at once ${c.concurrent_ms.map((x) => x.toFixed(2)).join(', ')} ms/epoch`,
      });
    }
  };

  const gen = await genomicData(log);
  await ceiling('genomic', { kind: 'genomic', epochs, members: 3 });
  await genomicScaling(gen, threads, epochs, add);
  // The founding study's branched model: the markers in 2 blocks, one GCN branch each, forked.
  await genomicForkScaling(await genomicData(() => {}, 2), threads, epochs, add);
  const mol = await moleculeData(nMol, log);
  await ceiling('molecules', { kind: 'molecules', molecules: nMol, epochs: 2 });
  await moleculeScaling(mol, threads, add);

  const table = formatRows(rows);
  writeJsonAtomic(join(out, 'scaling.json'), {
    threads,
    epochs,
    genomic: gen.name,
    molecules: mol.name,
    machine: { cores },
    rows,
    ceilings,
  });
  writeFileAtomic(join(out, 'scaling.md'), `# Scaling (${gen.name}; ${mol.name})\n\n${table}\n`);
  const strategies = [...new Set(rows.map((r) => `${r.task} ${r.strategy}`))];
  const series = strategies
    .filter((s) => !s.includes('ceiling'))
    .map((name) => ({
      name,
      values: threads.map(
        (t) => rows.find((r) => `${r.task} ${r.strategy}` === name && r.threads === t)?.speedup ?? NaN,
      ),
    }));
  // The ceilings as dashed lines beside the ideal: 1 at one thread, the measured speed-up at each P.
  for (const task of new Set(ceilings.map((c) => c.task))) {
    series.push({
      name: `${task} ceiling (P processes)`,
      values: threads.map((t) =>
        t === 1 ? 1 : (ceilings.find((c) => c.task === task && c.ceiling.processes === t)?.ceiling.speedup ?? NaN),
      ),
      dashed: true,
    } as (typeof series)[number]);
  }
  const { writeChart, lineChartSpec } = await import('../reports/charts/index.js'); // vega, only to draw
  writeChart(
    join(out, 'speedup.svg'),
    lineChartSpec(
      'Speed-up against threads',
      'threads',
      [...series, { name: 'ideal', values: threads, dashed: true }],
      {
        x: threads,
      },
    ),
  );
  console.log(table);
  console.log(`\nreport: ${join(out, 'scaling.md')}, ${join(out, 'scaling.json')}, ${join(out, 'speedup.svg')}`);
}

export function formatRows(rows: Row[]): string {
  const lines = [
    '| task | strategy | threads | ms / epoch | speed-up | efficiency (of ideal) | of ceiling | accuracy |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of rows) {
    const ofC = r.of_ceiling !== undefined ? `${(100 * r.of_ceiling).toFixed(0)}%` : '';
    const acc = Number.isNaN(r.value) ? '' : `${r.metric} ${r.value.toFixed(4)}`;
    lines.push(
      `| ${r.task} | ${r.strategy} | ${r.threads} | ${r.ms_per_epoch.toFixed(2)} | ${r.speedup.toFixed(2)}× | ${(100 * r.efficiency).toFixed(0)}% | ${ofC} | ${acc} |`,
    );
  }
  const notes = rows.filter((r) => r.note).map((r) => `- ${r.task} ${r.strategy} ×${r.threads}: ${r.note}`);
  return [...lines, ...(notes.length ? ['', ...notes] : [])].join('\n');
}

/** Arabidopsis FT16 on chromosome 5 (the study's setting, 162 accessions) when ../shared is there, else the synthetic set. */
export async function genomicData(
  log: (s: string) => void,
  branches = 1,
): Promise<{ name: string; data: StudyData; trait: number }> {
  const dir = sharedDataDir();
  const ara = dir ? join(dir, 'arabidopsis_ft16_chr5') : undefined;
  const rt = await Runtime.create({ threads: 1 });
  try {
    const common = {
      features: 'markers' as const,
      pcs: 50,
      graph: 'knn' as const,
      knn: 5,
      threshold: 0,
      ...(branches > 1 ? { branches } : {}),
    };
    if (ara && existsSync(join(ara, 'genotype.csv.gz')) && existsSync(join(ara, 'phenotype_FT16.csv'))) {
      const { data } = await prepareStudy(rt, {
        geno: join(ara, 'genotype.csv.gz'),
        pheno: join(ara, 'phenotype_FT16.csv'),
        traits: ['FT16'],
        ...common,
      });
      return { name: 'Arabidopsis FT16, chromosome 5', data, trait: 0 };
    }
    log(`Arabidopsis data not found; the genomic task runs on the synthetic set in ${SYNTHETIC_GP_DIR}`);
    const { data } = await prepareStudy(rt, {
      geno: join(SYNTHETIC_GP_DIR, 'genotypes.csv.gz'),
      pheno: join(SYNTHETIC_GP_DIR, 'phenotypes.csv'),
      traits: ['yield'],
      ...common,
    });
    return { name: 'synthetic genomic set (yield)', data, trait: 0 };
  } finally {
    await rt.close();
  }
}

/** The ensemble's r on the test fold: members' predictions averaged in member order, as one job would. */
function ensembleR(results: Awaited<ReturnType<typeof runCvJobs>>, y: Float64Array): number {
  const test = results[0]!.perTrait[0]!.test;
  const sum = new Float64Array(test.length);
  for (const r of results)
    r.perTrait[0]!.predicted.forEach((p, i) => {
      sum[i]! += p;
    });
  return foldMetrics(
    test.map((i) => y[i]!),
    Array.from(sum, (x) => x / results.length),
  ).r;
}

/**
 * The members trained one after another on one runtime of t threads, timed from the second
 * (the first warms up), with where each member's fit ran (its placement trial's choice).
 */
async function timedMembers(
  t: number,
  d: StudyData,
  folds: FoldPlan,
  members: CvJob[],
  gcn: GcnRegressorConfig,
): Promise<{ results: Awaited<ReturnType<typeof runCvJobs>>; msPerEpoch: number; placements: Placed[] }> {
  const rt = await Runtime.create({ threads: t });
  const results = [];
  const placements: Placed[] = [];
  let t0 = 0;
  try {
    for (const [k, j] of members.entries()) {
      if (k === 1) t0 = performance.now();
      results.push(await runCvJob(rt, d, folds, j, gcn, undefined, (p) => placements.push(p)));
    }
  } finally {
    await rt.close();
  }
  return { results, msPerEpoch: (performance.now() - t0) / ((members.length - 1) * gcn.epochs), placements };
}

/** A placement trial's outcome as the trainers report it: the mode, and `<mode>Ms` per mode timed. */
type Placed = { mode: string; [ms: `${string}Ms`]: number | undefined } | null;

/** The trial's ms per step (or epoch) of each mode it timed, in the trial's order: "inline 0.71, serial 0.60". */
function trialTimes(p: object): string {
  return Object.entries(p)
    .filter(([k, v]) => k.endsWith('Ms') && typeof v === 'number')
    .map(([k, v]) => `${k.slice(0, -2)} ${(v as number).toFixed(v < 10 ? 2 : 1)}`)
    .join(', ');
}

/**
 * What the genomic fits ran on, for a row's note: each member's fit chose its own placement,
 * so the modes with how many members ran each, and each mode's median trial ms per epoch over
 * the members; undefined when no fit held a trial (one thread, or too few epochs).
 */
export function genomicPlacementNote(what: string, placements: readonly Placed[]): string | undefined {
  const tried = placements.filter((p) => p !== null);
  if (tried.length === 0) return undefined;
  const counts = new Map<string, number>();
  for (const p of tried) counts.set(p.mode, (counts.get(p.mode) ?? 0) + 1);
  const ran = [...counts].map(([m, k]) => `${m} ×${k}`).join(', ');
  const keys = Object.keys(tried[0]!).filter((k): k is `${string}Ms` => k.endsWith('Ms'));
  const medians = Object.fromEntries(keys.map((k) => [k, median(tried.map((p) => p[k]!))]));
  return `${what} placed on ${ran} of ${placements.length} member fits (trial ms/epoch, median over the fits: ${trialTimes(medians)})`;
}

/** The ensemble members of the study's GCN on fold 1 of a 5-fold split: the jobs replicas run. */
export function memberJobs(g: { data: StudyData; trait: number }, members: number): { folds: FoldPlan; jobs: CvJob[] } {
  const y = g.data.y[g.trait]!;
  const folds: FoldPlan = [
    kFoldSplits(
      g.data.n,
      5,
      1,
      Array.from({ length: g.data.n }, (_, i) => Number.isFinite(y[i]!)),
    ),
  ];
  return {
    folds,
    jobs: Array.from({ length: members }, (_, e) => ({
      model: 'gcn',
      repeat: 0,
      fold: 1,
      traits: [g.trait],
      member: e,
    })),
  };
}

async function genomicScaling(
  g: { data: StudyData; trait: number },
  threads: number[],
  epochs: number,
  add: (r: Omit<Row, 'speedup' | 'efficiency'>) => void,
): Promise<void> {
  const d = g.data,
    y = d.y[g.trait]!;
  const gcn: GcnRegressorConfig = { ...GCN_GP_DEFAULTS, epochs, patience: 0, ensemble: 8 };
  const { folds, jobs } = memberJobs(g, gcn.ensemble);
  for (const t of threads) {
    // Intra-op: one runtime with t threads trains the members one after another.
    // Each member's fit times intra-op over all t threads against one thread on its first epochs (gcn-regressor.ts).
    const intra = await timedMembers(t, d, folds, jobs, gcn);
    const r = ensembleR(intra.results, y);
    if (t === 1)
      add({ task: 'genomic', strategy: 'serial', threads: 1, ms_per_epoch: intra.msPerEpoch, metric: 'r', value: r });
    const note = genomicPlacementNote('epochs', intra.placements);
    add({
      task: 'genomic',
      strategy: 'intra-op',
      threads: t,
      ms_per_epoch: intra.msPerEpoch,
      metric: 'r',
      value: r,
      ...(note ? { note } : {}),
    });
    // Replicas: the members as independent trainings, one per worker thread at a time, each
    // worker's whole training loop inline on a one-thread runtime. As intra-op's runtime and
    // first member, the pool's start-up and a warm-up member per worker are left out of the
    // time (the same warm-up the ceiling's processes get) and reported beside it.
    const { pool, startup } = await CvPool.start({ data: d, folds, gcn }, t);
    try {
      const warm = await pool.warm(jobs[0]!);
      const t0 = performance.now();
      const rep = await pool.run(jobs);
      const ms = performance.now() - t0;
      const max = (xs: number[]) => Math.max(...xs).toFixed(0);
      add({
        task: 'genomic',
        strategy: 'replicas',
        threads: t,
        ms_per_epoch: ms / (gcn.ensemble * epochs),
        metric: 'r',
        value: ensembleR(rep, y),
        note: `${t} worker${t > 1 ? 's' : ''} started in ${startup.totalMs.toFixed(0)} ms (runtime ${max(startup.workers.map((w) => w.runtimeMs))} ms), warm-up member ${max(warm.map((w) => w.jobMs))} ms, then ${gcn.ensemble} members in ${ms.toFixed(0)} ms (untimed: start-up and warm-up)`,
      });
    } finally {
      await pool.close();
    }
  }
}

/** The branched model (one GCN branch per marker block, forked), trained on one runtime of t threads. */
async function genomicForkScaling(
  g: { data: StudyData; trait: number },
  threads: number[],
  epochs: number,
  add: (r: Omit<Row, 'speedup' | 'efficiency'>) => void,
): Promise<void> {
  const gcn: GcnRegressorConfig = { ...GCN_GP_DEFAULTS, epochs, patience: 0, ensemble: 3 };
  const { folds, jobs } = memberJobs(g, gcn.ensemble);
  for (const t of threads) {
    const run = await timedMembers(t, g.data, folds, jobs, gcn);
    const note = genomicPlacementNote('branches', run.placements);
    add({
      task: 'genomic',
      strategy: `fork (${g.data.featureBlocks?.length ?? 1} branches)`,
      threads: t,
      ms_per_epoch: run.msPerEpoch,
      metric: 'r',
      value: ensembleR(run.results, g.data.y[g.trait]!),
      ...(note ? { note } : {}),
    });
  }
}

/** Tox21 (a seeded subsample) when ../shared is there, else generated molecules. */
export async function moleculeData(
  n: number,
  log: (s: string) => void,
): Promise<{ name: string; samples: GraphSample[]; features: number; targets: number; descriptors: number }> {
  const dir = sharedDataDir();
  const file = dir ? join(dir, 'moleculenet', 'tox21.csv') : undefined;
  if (file && existsSync(file)) {
    const ds = await loadMoleculeCsv(file, { targets: 'all', task: 'multilabel' });
    const T = ds.targets.length;
    const order = new Rng(7).shuffle(Array.from(ds.graphs.keys())).slice(0, n);
    const samples = order.map((i) => toSample(ds.graphs[i]!, ds.y.subarray(i * T, (i + 1) * T), true));
    return {
      name: `Tox21, ${samples.length} molecules`,
      samples,
      features: samples[0]!.x.length / samples[0]!.nodes,
      targets: T,
      descriptors: MORGAN_BITS,
    };
  }
  log('Tox21 not found; the molecules task runs on generated graphs');
  const samples = syntheticMolecules({ graphs: n, task: 'multilabel', seed: 3 });
  return {
    name: `generated molecules, ${n} graphs`,
    samples,
    features: samples[0]!.x.length / samples[0]!.nodes,
    targets: samples[0]!.y.length,
    descriptors: 0,
  };
}

/** The molecules task's model and batches (intra-op: one shard of 64; batch split: shards of 32). */
export const MOLECULE_BASE: GraphTrainConfig = {
  task: 'multilabel',
  layers: 3,
  hidden: 128,
  dropout: 0.1,
  pool: 'max',
  lr: 1e-3,
  weightDecay: 0,
  epochs: 6,
  batchSize: 64,
  shardSize: 64,
  patience: 0,
  seed: 1,
};

/**
 * One ceiling process's measurement (commands/ceiling-child.ts): the task's epoch on one thread,
 * warmed up, then `ready()` (all processes start together), then ms per epoch over the timed part.
 * Genomic: ensemble members of the study's GCN trained one after another (the first warms up);
 * molecules: the batch-split configuration's epochs (the first warms up).
 */
export async function scalingCeilingEpoch(
  job: Exclude<CeilingJob, { kind: 'bench' }>,
  ready: () => Promise<void>,
): Promise<number> {
  if (job.kind === 'genomic') {
    const g = await genomicData(() => {});
    const gcn: GcnRegressorConfig = { ...GCN_GP_DEFAULTS, epochs: job.epochs, patience: 0, ensemble: job.members };
    const { folds, jobs } = memberJobs(g, job.members);
    const rt = await Runtime.create({ threads: 1 });
    try {
      await runCvJob(rt, g.data, folds, jobs[0]!, gcn);
      await ready();
      const t0 = performance.now();
      for (const j of jobs.slice(1)) await runCvJob(rt, g.data, folds, j, gcn);
      return (performance.now() - t0) / ((job.members - 1) * job.epochs);
    } finally {
      await rt.close();
    }
  }
  const m = await moleculeData(job.molecules, () => {});
  const split = randomSplit(m.samples.length, 1);
  const train = split.train.map((i) => m.samples[i]!);
  const rt = await Runtime.create({ threads: 1 });
  const trainer = new GraphTrainer(rt, m.features, m.targets, { ...MOLECULE_BASE, shardSize: 32, epochs: 1 });
  try {
    await trainer.fit(train, []);
    await ready();
    const t0 = performance.now();
    for (let e = 0; e < job.epochs; e++) await trainer.fit(train, []);
    return (performance.now() - t0) / job.epochs;
  } finally {
    trainer.dispose();
    await rt.close();
  }
}

async function moleculeScaling(
  m: Awaited<ReturnType<typeof moleculeData>>,
  threads: number[],
  add: (r: Omit<Row, 'speedup' | 'efficiency'>) => void,
): Promise<void> {
  const split = randomSplit(m.samples.length, 1);
  const train = split.train.map((i) => m.samples[i]!),
    test = split.test.map((i) => m.samples[i]!);
  const yTest = stackTargets(test, m.targets);
  const base = MOLECULE_BASE;
  const strategies: [string, GraphTrainConfig][] = [
    ['intra-op', base],
    ['batch-split', { ...base, shardSize: 32 }],
    ...(m.descriptors > 0
      ? [['fork', { ...base, hybrid: { descriptors: m.descriptors, denseHidden: 64 } }] as [string, GraphTrainConfig]]
      : []),
  ];
  for (const [strategy, config] of strategies) {
    for (const t of threads) {
      const rt = await Runtime.create({ threads: t });
      const trainer = new GraphTrainer(rt, m.features, m.targets, config);
      try {
        const hist = await trainer.fit(train, []);
        // The first epoch pays for warm-up (and the placement trial): time the others.
        const ms = hist.slice(1).reduce((a, h) => a + h.ms, 0) / Math.max(1, hist.length - 1);
        const auc = meanRocAuc(
          yTest,
          (await trainer.predict(test)).map((x) => 1 / (1 + Math.exp(-x))),
          m.targets,
        );
        if (t === 1 && strategy === 'intra-op')
          add({ task: 'molecules', strategy: 'serial', threads: 1, ms_per_epoch: ms, metric: 'roc_auc', value: auc });
        const p = trainer.shardPlacement ?? trainer.branchPlacement;
        const what = trainer.shardPlacement ? 'shards' : 'branches';
        add({
          task: 'molecules',
          strategy,
          threads: t,
          ms_per_epoch: ms,
          metric: 'roc_auc',
          value: auc,
          ...(p
            ? {
                note: `${what} placed on ${p.mode} (trial ms/step: ${trialTimes(p)})`,
              }
            : {}),
        });
      } finally {
        trainer.dispose();
        await rt.close();
      }
    }
  }
}
