import { Piscina } from 'piscina';
import { workerUrl } from '../core/worker-url.js';
import { Runtime } from '../runtime/runtime.js';
import { lacksSoup, type GpGcnConfig } from './gcn-soup.js';
import { runCvJob } from './cv-jobs.js';
import type { CvJob, CvJobResult, FoldPlan, JobCheckpoints } from './job-types.js';
import type { StudyData } from './study-data.js';

export interface CvPoolInit {
  data: StudyData;
  folds: FoldPlan;
  gcn: GpGcnConfig;
  checkpoints?: JobCheckpoints;
}

/** Finished jobs kept between runs (JobStore): read back instead of run, recorded as they finish. */
export interface JobCache {
  load(job: CvJob): CvJobResult | null;
  save(result: CvJobResult): void;
  /** A final fit finished: its training checkpoints can go (its result is not kept). */
  forget?(job: CvJob): void;
}

export interface CvRunOptions {
  cache?: JobCache;
  /** Called for each job done (`reused`: read back from the cache). */
  onDone?: (r: CvJobResult, done: number, reused: boolean) => void;
  /** A worker that dies or throws fails its job; the job runs again this many times in all (default 3). */
  attempts?: number;
  onRetry?: (job: CvJob, attempt: number, error: Error) => void;
}

/**
 * Runs the jobs at once on `threads` Piscina workers (coarse tasks: one job each, every
 * worker with a one-thread runtime of its own) or, with one thread, one after another here.
 * The study's arrays are SharedArrayBuffers, so workers read them without copies. Results
 * come back in job order and are the same bits either way: a job's arithmetic does not
 * depend on where it runs.
 */
export async function runCvJobs(
  init: CvPoolInit,
  jobs: CvJob[],
  threads: number,
  o: CvRunOptions = {},
): Promise<CvJobResult[]> {
  let done = 0;
  const finish = (r: CvJobResult, reused: boolean): CvJobResult => {
    if (!reused) {
      if (r.job.final) o.cache?.forget?.(r.job);
      else o.cache?.save(r);
    } // final fits hold weights: run again on resume, never cached
    o.onDone?.(r, ++done, reused);
    return r;
  };
  const attempts = Math.max(1, o.attempts ?? 3);
  // A job's result depends only on the job, so one that failed with its thread runs again from its checkpoint.
  const withRetries = async (job: CvJob, run: () => Promise<CvJobResult>): Promise<CvJobResult> => {
    for (let a = 1; ; a++) {
      try {
        return await run();
      } catch (err) {
        if (a >= attempts) throw err;
        o.onRetry?.(job, a, err as Error);
      }
    }
  };
  // A gcn job cached before its soup was part of it is run again, so its fold has a gcn-soup row.
  const cached = jobs.map((j) => {
    const c = j.final ? null : (o.cache?.load(j) ?? null);
    return c && lacksSoup(c, init.gcn) ? null : c;
  });
  if (threads <= 1) {
    const rt = await Runtime.create({ threads: 1 });
    try {
      const out: CvJobResult[] = [];
      for (const [i, j] of jobs.entries()) {
        const c = cached[i];
        out.push(
          c ? finish(c, true) : finish(await runCvJob(rt, init.data, init.folds, j, init.gcn, init.checkpoints), false),
        );
      }
      return out;
    } finally {
      await rt.close();
    }
  }
  const pool = new Piscina({
    filename: workerUrl('genomics/cv-worker'),
    minThreads: threads,
    maxThreads: threads,
    workerData: init,
  });
  try {
    return await Promise.all(
      jobs.map((j, i) => {
        const c = cached[i];
        return c
          ? Promise.resolve(finish(c, true))
          : withRetries(j, () => pool.run(j) as Promise<CvJobResult>).then((r) => finish(r, false));
      }),
    );
  } finally {
    await pool.destroy();
  }
}
