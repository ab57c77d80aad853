import { existsSync, readFileSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { intAtLeast, joinNegativeValues } from '../args.js';
import { parseGpArgs } from './gp.js';
import { trainGraphTask } from './train-graph.js';
import { trainNode } from './train.js';
import { ensureDir, writeFileAtomic, writeJsonAtomic } from '../../core/atomic-write.js';
import { GraftError } from '../../core/errors.js';
import { recordInputs } from '../../core/input-files.js';
import { packageRoot } from '../../core/paths.js';
import { sbatchValue, shellCommand, shellQuote, slurmFilenameLiteral } from '../../core/shell-quote.js';
import { candidatesCsv } from '../../genomics/candidates.js';
import { planJobs, runCvJob } from '../../genomics/cv-jobs.js';
import { JobStore, jobKey } from '../../genomics/job-store.js';
import type { CvJob } from '../../genomics/job-types.js';
import { prepareStudy } from '../../genomics/study-data.js';
import { studyIdentity } from '../../genomics/study-identity.js';
import { writeStudyReport } from '../../genomics/study-report.js';
import { runStudy, studyFolds } from '../../genomics/study.js';
import { Runtime } from '../../runtime/runtime.js';

// Sweeps as job arrays: a grid of `graft gp` settings cut into one task per cross-validation
// job (model, repeat, fold, traits) and settings point, for Slurm's `sbatch --array` or any
// workflow engine that runs one command per task (Snakemake, Nextflow). Each point is laid out
// as a `graft gp` run folder (points/<name>/jobs holds the same per-job files `graft gp
// --resume` reads), so `merge` builds that point's results.json and report from the tasks'
// results, bit for bit as one machine would apart from the timing block.

export const SWEEP_USAGE = `  graft sweep plan --out DIR [--grid FLAG=V1,V2,...]... [--max-parallel 32] [--cpus-per-task 1]
                   [--time 02:00:00] [--partition P] -- GRAFT_GP_FLAGS... | -- train GRAFT_TRAIN_FLAGS...
  graft sweep run --dir DIR --task K [--threads N]    (K: $SLURM_ARRAY_TASK_ID)
  graft sweep merge --dir DIR
  graft sweep status --dir DIR`;

const FORMAT = 'graft-sweep-v1';

/** graft train flags that name files or folders. */
const FILE_FLAGS = new Set(['--data', '--edges', '--features', '--labels', '--data-dir', '--config']);

/** kind 'gp': one task per cross-validation job; 'train': the point is one graft train run, one task. */
interface SweepPoint {
  name: string;
  dir: string;
  argv: string[];
  kind?: 'gp' | 'train';
}
interface SweepTask {
  point: number;
  job?: CvJob;
  key: string;
}
interface Sweep {
  format: string;
  created: string;
  points: SweepPoint[];
  tasks: SweepTask[];
}

function readSweep(dir: string): Sweep {
  const file = join(dir, 'sweep.json');
  if (!existsSync(file))
    throw new GraftError(
      `--dir ${dir}: no sweep.json (plan one with graft sweep plan --out ${shellQuote(dir, '--dir')})`,
    );
  const s = JSON.parse(readFileSync(file, 'utf8')) as Sweep;
  if (s.format !== FORMAT)
    throw new GraftError(`${file}: not a graft sweep (format ${JSON.stringify(s.format)}, expected ${FORMAT})`);
  return s;
}

/** The grid's points: every combination of the --grid values, in flag order then value order. */
function gridPoints(grid: string[]): { name: string; args: string[] }[] {
  let points: { name: string; args: string[] }[] = [{ name: '', args: [] }];
  for (const g of grid) {
    const m = /^([a-z][a-z-]*)=(.+)$/.exec(g);
    if (!m)
      throw new GraftError(
        `--grid ${JSON.stringify(g)}: expected FLAG=V1,V2,... with a graft gp flag, such as hidden=32,64`,
      );
    const values = m[2]!
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean);
    // A value names the point's folder (points/<flag>-<value>): a slash would put it elsewhere.
    for (const val of values)
      if (val.includes('/'))
        throw new GraftError(
          `--grid ${JSON.stringify(g)}: the value ${JSON.stringify(val)} holds a slash, and each value names a folder under points/`,
        );
    points = points.flatMap((p) =>
      values.map((val) => ({
        name: `${p.name}${p.name ? '_' : ''}${m[1]}-${val}`,
        args: [...p.args, `--${m[1]}`, val],
      })),
    );
  }
  return points.map((p) => ({ name: p.name || 'base', args: p.args }));
}

async function plan(argv: string[]): Promise<void> {
  const at = argv.indexOf('--');
  if (at < 0) throw new GraftError('graft sweep plan: put the graft gp flags after --');
  const { values: v } = parseArgs({
    args: joinNegativeValues(argv.slice(0, at)),
    strict: true,
    options: {
      out: { type: 'string' },
      grid: { type: 'string', multiple: true },
      'max-parallel': { type: 'string' },
      'cpus-per-task': { type: 'string' },
      time: { type: 'string' },
      partition: { type: 'string' },
    },
  });
  if (!v.out) throw new GraftError('--out DIR is required');
  const trainGrid = argv[at + 1] === 'train';
  const gpArgs = argv.slice(at + (trainGrid ? 2 : 1));
  if (gpArgs.some((a) => a === '--out' || a.startsWith('--out=')))
    throw new GraftError(
      'graft sweep plan: leave --out out of the graft gp flags (each point gets its own folder under --out)',
    );
  const dir = resolve(v.out);
  // The folder goes into sweep.sbatch and tasks.txt: refused here, before anything is written,
  // if the shell or Slurm cannot carry it.
  shellQuote(dir, '--out');
  slurmFilenameLiteral(dir, '--out');
  if (v.partition !== undefined && !/^[A-Za-z0-9_.-]+(,[A-Za-z0-9_.-]+)*$/.test(v.partition))
    throw new GraftError(
      `--partition ${JSON.stringify(v.partition)}: expected a Slurm partition name (letters, digits, _ . -), or several separated by commas`,
    );
  if (existsSync(join(dir, 'sweep.json')))
    throw new GraftError(`${dir} already holds a sweep: plan into another --out`);
  const maxParallel = intAtLeast(v['max-parallel'], '--max-parallel', 32, 1, 'task');
  const cpus = intAtLeast(v['cpus-per-task'], '--cpus-per-task', 1, 1, 'cpu');
  const time = v.time ?? '02:00:00';
  if (!/^(\d+-)?\d{1,2}:\d{2}:\d{2}$/.test(time))
    throw new GraftError(`--time ${JSON.stringify(time)}: expected HH:MM:SS or D-HH:MM:SS, as sbatch takes it`);
  const points: SweepPoint[] = [],
    tasks: SweepTask[] = [];
  if (trainGrid) {
    // One graft train run per point: its run folder is the point's folder.
    for (const f of ['--resume', '--overwrite', '--threads'])
      if (gpArgs.includes(f))
        throw new GraftError(`graft sweep plan: leave ${f} out of the graft train flags (sweep run sets it)`);
    for (const g of gridPoints(v.grid ?? [])) {
      // File arguments absolute: a task runs from wherever the scheduler starts it.
      const argv = [...gpArgs, ...g.args].map((a, i, all) => (FILE_FLAGS.has(all[i - 1] ?? '') ? resolve(a) : a));
      const p = points.push({ name: g.name, dir: join(dir, 'points', g.name), argv, kind: 'train' }) - 1;
      tasks.push({ point: p, key: 'train' });
    }
  } else {
    const rt = await Runtime.create({ threads: 1 });
    try {
      // Every gp point is checked (its flags, its data, its folds) before anything is written.
      for (const g of gridPoints(v.grid ?? [])) {
        const pointDir = join(dir, 'points', g.name);
        const pointArgv = [...gpArgs, ...g.args, '--out', pointDir];
        const { o } = parseGpArgs(pointArgv);
        const { data } = await prepareStudy(rt, o);
        const { folds, k } = studyFolds(o, data);
        const p = points.push({ name: g.name, dir: pointDir, argv: pointArgv }) - 1;
        for (const job of planJobs(o.models, folds.length, k, data.traits.length))
          tasks.push({ point: p, job, key: jobKey(job) });
      }
    } finally {
      await rt.close();
    }
  }
  if (tasks.length === 0) throw new GraftError('graft sweep plan: the grid has no cross-validation jobs to run');
  for (const p of points)
    if (p.kind !== 'train')
      await JobStore.open(
        join(p.dir, 'jobs'),
        studyIdentity(parseGpArgs(p.argv).o),
        existsSync(join(p.dir, 'jobs', 'manifest.json')),
      );
  ensureDir(join(dir, 'logs'));
  const sweep: Sweep = { format: FORMAT, created: new Date().toISOString(), points, tasks };
  writeJsonAtomic(join(dir, 'sweep.json'), sweep);
  const cli = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
  // Every word quoted for the shell (the folder may hold spaces, quotes, $(…) or backticks);
  // the task number last, so the array script can pass "$SLURM_ARRAY_TASK_ID" unquoted by us.
  const command = (task: string): string =>
    `${shellQuote(process.execPath, 'the node executable')} ${shellQuote(cli, "graft's CLI")} sweep run --dir ${shellQuote(dir, '--out')} --threads ${cpus} --task ${task}`;
  const sbatch = join(dir, 'sweep.sbatch');
  writeFileAtomic(
    sbatch,
    [
      '#!/bin/bash',
      `#SBATCH --job-name=graft-sweep`,
      `#SBATCH --array=0-${tasks.length - 1}%${maxParallel}`,
      `#SBATCH --cpus-per-task=${cpus}`,
      `#SBATCH --time=${time}`,
      ...(v.partition ? [`#SBATCH --partition=${v.partition}`] : []),
      // sbatch reads these lines itself, with its own quoting; the folder is a literal part of a filename pattern.
      `#SBATCH --output=${sbatchValue(`${slurmFilenameLiteral(join(dir, 'logs'), '--out')}/task-%a.out`, '--out')}`,
      `# One ${trainGrid ? 'graft train run' : 'cross-validation job'} per array task; a task already done exits at once. Afterwards:`,
      `#   graft sweep status --dir ${shellQuote(dir, '--out')}   and   graft sweep merge --dir ${shellQuote(dir, '--out')}`,
      `exec ${command('"$SLURM_ARRAY_TASK_ID"')}`,
      '',
    ].join('\n'),
  );
  // For workflow engines that run one command per line (Snakemake, Nextflow, GNU parallel).
  writeFileAtomic(join(dir, 'tasks.txt'), `${tasks.map((_, k) => command(String(k))).join('\n')}\n`);
  console.log(
    JSON.stringify({
      dir,
      points: points.length,
      tasks: tasks.length,
      sbatch,
      submit: shellCommand(['sbatch', sbatch], '--out'),
    }),
  );
}

const stateFile = (dir: string, k: number, what: 'running' | 'failed'): string => join(dir, 'state', `${k}.${what}`);

async function run(argv: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    options: { dir: { type: 'string' }, task: { type: 'string' }, threads: { type: 'string' } },
  });
  if (!v.dir || v.task === undefined) throw new GraftError('--dir DIR and --task K are required');
  const dir = resolve(v.dir),
    sweep = readSweep(dir);
  const k = intAtLeast(v.task, '--task', 0, 0, 'task');
  const task = sweep.tasks[k];
  if (!task) throw new GraftError(`--task ${k}: the sweep has tasks 0..${sweep.tasks.length - 1}`);
  const point = sweep.points[task.point]!;
  const threads = intAtLeast(v.threads ?? process.env['SLURM_CPUS_PER_TASK'], '--threads', 1, 1, 'thread');
  if (point.kind === 'train') return runTrainTask(dir, k, point, threads);
  const { o, checkpointEvery } = parseGpArgs(point.argv);
  const jobs = join(point.dir, 'jobs');
  // The manifest must match (settings and input files' SHA-256): a changed input is refused.
  const store = await JobStore.open(jobs, studyIdentity(o), true);
  if (store.load(task.job!)) {
    console.log(JSON.stringify({ task: k, point: point.name, job: task.key, status: 'done already' }));
    return;
  }
  ensureDir(join(dir, 'state'));
  writeFileAtomic(
    stateFile(dir, k, 'running'),
    `${JSON.stringify({ host: hostname(), pid: process.pid, started: new Date().toISOString(), slurm_job: process.env['SLURM_JOB_ID'] ?? null })}\n`,
  );
  rmSync(stateFile(dir, k, 'failed'), { force: true });
  const t0 = performance.now();
  const rt = await Runtime.create({ threads });
  try {
    const { data } = await prepareStudy(rt, o);
    const { folds } = studyFolds(o, data);
    const r = await runCvJob(rt, data, folds, task.job!, o.gcn, { dir: jobs, every: checkpointEvery });
    store.save(r);
    console.log(
      JSON.stringify({
        task: k,
        point: point.name,
        job: task.key,
        status: 'done',
        seconds: +((performance.now() - t0) / 1000).toFixed(2),
      }),
    );
  } catch (err) {
    writeFileAtomic(
      stateFile(dir, k, 'failed'),
      `${JSON.stringify({ host: hostname(), error: (err as Error).message, at: new Date().toISOString() })}\n`,
    );
    throw err;
  } finally {
    await rt.close();
    rmSync(stateFile(dir, k, 'running'), { force: true });
  }
}

/** A point that is one graft train run: done when its metrics.json is there; a killed run resumes from its checkpoint. */
const trainDone = (p: SweepPoint): boolean => existsSync(join(p.dir, 'metrics.json'));

async function runTrainTask(dir: string, k: number, point: SweepPoint, threads: number): Promise<void> {
  if (trainDone(point)) {
    console.log(JSON.stringify({ task: k, point: point.name, status: 'done already' }));
    return;
  }
  ensureDir(join(dir, 'state'));
  writeFileAtomic(
    stateFile(dir, k, 'running'),
    `${JSON.stringify({ host: hostname(), pid: process.pid, started: new Date().toISOString(), slurm_job: process.env['SLURM_JOB_ID'] ?? null })}\n`,
  );
  rmSync(stateFile(dir, k, 'failed'), { force: true });
  const t0 = performance.now();
  try {
    const argv = [...point.argv, '--out', point.dir, '--threads', String(threads), '--resume', '--quiet'];
    const at = argv.indexOf('--task');
    const code =
      at >= 0 && argv[at + 1] === 'graph'
        ? await trainGraphTask(argv)
        : await trainNode(argv.filter((_, i) => at < 0 || (i !== at && i !== at + 1)));
    if (code !== 0) throw new GraftError(`graft train exited with ${code}`);
    console.log(
      JSON.stringify({
        task: k,
        point: point.name,
        status: 'done',
        seconds: +((performance.now() - t0) / 1000).toFixed(2),
      }),
    );
  } catch (err) {
    writeFileAtomic(
      stateFile(dir, k, 'failed'),
      `${JSON.stringify({ host: hostname(), error: (err as Error).message, at: new Date().toISOString() })}\n`,
    );
    throw err;
  } finally {
    rmSync(stateFile(dir, k, 'running'), { force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Per task: done (its job file is there), failed (it recorded an error, or it says it runs on
 * this host but its process is gone: killed), running (it says so), or missing (never run).
 */
async function taskStates(
  dir: string,
  sweep: Sweep,
): Promise<{ states: ('done' | 'failed' | 'running' | 'missing')[]; stores: (JobStore | null)[] }> {
  // Opening a point's store checks its inputs' SHA-256 against the manifest: once per point.
  const stores = await Promise.all(
    sweep.points.map((p) =>
      p.kind === 'train' ? null : JobStore.open(join(p.dir, 'jobs'), studyIdentity(parseGpArgs(p.argv).o), true),
    ),
  );
  const states = sweep.tasks.map((t, k) => {
    const p = sweep.points[t.point]!;
    if (p.kind === 'train' ? trainDone(p) : stores[t.point]!.load(t.job!)) return 'done';
    if (existsSync(stateFile(dir, k, 'failed'))) return 'failed';
    const running = stateFile(dir, k, 'running');
    if (!existsSync(running)) return 'missing';
    const m = JSON.parse(readFileSync(running, 'utf8')) as { host: string; pid: number };
    return m.host === hostname() && !alive(m.pid) ? 'failed' : 'running';
  });
  return { states, stores };
}

async function status(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({ args: argv, strict: true, options: { dir: { type: 'string' } } });
  if (!v.dir) throw new GraftError('--dir DIR is required');
  const dir = resolve(v.dir),
    sweep = readSweep(dir);
  const { states } = await taskStates(dir, sweep);
  const count = (s: string): number => states.filter((x) => x === s).length;
  const list = (s: string): number[] => states.flatMap((x, k) => (x === s ? [k] : []));
  console.log(
    JSON.stringify({
      dir,
      tasks: states.length,
      done: count('done'),
      running: count('running'),
      failed: count('failed'),
      missing: count('missing'),
      failed_tasks: list('failed'),
      missing_tasks: list('missing'),
    }),
  );
  return count('done') === states.length ? 0 : 1;
}

async function merge(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({ args: argv, strict: true, options: { dir: { type: 'string' } } });
  if (!v.dir) throw new GraftError('--dir DIR is required');
  const dir = resolve(v.dir),
    sweep = readSweep(dir);
  const { states, stores } = await taskStates(dir, sweep);
  const notDone = states.flatMap((s, k) =>
    s === 'done' ? [] : [`${k} (${sweep.points[sweep.tasks[k]!.point]!.name} ${sweep.tasks[k]!.key}: ${s})`],
  );
  if (notDone.length) {
    console.error(
      `graft sweep merge: ${notDone.length} of ${states.length} tasks are not done; run them again (graft sweep run --dir ${shellQuote(dir, '--dir')} --task K), then merge:\n  ${notDone.join('\n  ')}`,
    );
    return 1;
  }
  const summary: Record<string, unknown>[] = [];
  for (const [i, p] of sweep.points.entries()) {
    if (p.kind === 'train') {
      // The point's run folder is the graft train run itself; the summary gathers its figures.
      summary.push({
        point: p.name,
        dir: p.dir,
        argv: p.argv,
        metrics: JSON.parse(readFileSync(join(p.dir, 'metrics.json'), 'utf8')) as unknown,
      });
      continue;
    }
    const { o } = parseGpArgs(p.argv);
    const store = stores[i]!;
    // Every job is in the store, so the study only reads them back: the results of one machine.
    // Candidates (genotyped, not phenotyped) are predicted here as graft gp predicts them: the
    // final fits are not sweep tasks, so they run at merge time.
    const res = await runStudy({ ...o, threads: 1, final: 'if-candidates' }, () => {}, {
      cache: store,
      checkpoints: { dir: join(p.dir, 'jobs'), every: 1_000_000 },
    });
    if (res.final?.candidates.length)
      writeFileAtomic(join(p.dir, 'candidates.csv'), candidatesCsv(res.final.candidates));
    const { studyCharts } = await import('../reports/gp-report.js'); // loads vega only when a report is drawn
    writeStudyReport(
      p.dir,
      res,
      await recordInputs({ geno: o.geno, pheno: o.pheno, relationship: o.relationship, folds: o.foldsFile }),
      studyCharts,
    );
    summary.push({ point: p.name, dir: p.dir, results: join(p.dir, 'results.json'), models: res.table });
  }
  writeJsonAtomic(join(dir, 'sweep-results.json'), { format: `${FORMAT}-results`, points: summary });
  console.log(
    JSON.stringify({
      dir,
      points: sweep.points.length,
      tasks: states.length,
      results: join(dir, 'sweep-results.json'),
    }),
  );
  return 0;
}

export async function sweep(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'plan':
      await plan(rest);
      return 0;
    case 'run':
      await run(rest);
      return 0;
    case 'status':
      return status(rest);
    case 'merge':
      return merge(rest);
    default:
      throw new GraftError(`graft sweep: expected plan, run, status or merge, got ${JSON.stringify(sub ?? '')}`);
  }
}
