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
 * A worker's warm-up (CvPool.warm): its one-thread runtime made, optionally a job run and
 * thrown away, then a wait at a barrier until every worker of the pool has done the same, so
 * that each worker gets exactly one warm-up. `arrived` is an Int32Array over a SharedArrayBuffer.
 */
export interface CvWarmTask {
  warm: { arrived: Int32Array; parties: number; job: CvJob | null };
}

/** What one worker's warm-up cost (ms): its runtime (kernels compiled and instantiated) and its warm-up job. */
export interface CvWarmTiming {
  /** The worker's thread id. */
  threadId: number;
  runtimeMs: number;
  jobMs: number;
}

/** Where a pool's start-up time went: the threads started, then each worker's warm-up. */
export interface CvPoolStartup {
  /** From the constructor to every worker having finished its warm-up. */
  totalMs: number;
  /** Per worker, in the order they answered. */
  workers: CvWarmTiming[];
}

/**
 * The cross-validation jobs' worker threads, started once and reused for any number of
 * runs: each worker holds a one-thread runtime of its own and runs a whole job (a member's
 * training loop, every op inline: no cross-thread dispatch) per task. The study's arrays are
 * SharedArrayBuffers, so workers read them without copies; the rest of `init` is copied once
 * per worker, when it starts. A job's arithmetic does not depend on where it runs, so results
 * are the same bits as one thread's.
 */
export class CvPool {
  private readonly pool: Piscina;

  private constructor(
    readonly threads: number,
    private readonly init: CvPoolInit,
  ) {
    this.pool = new Piscina({
      filename: workerUrl('genomics/cv-worker'),
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: 2 ** 31 - 1,
      workerData: init,
    });
  }

  /** Starts `threads` workers (at least 1); jobs run as soon as a worker is up. */
  static open(init: CvPoolInit, threads: number): CvPool {
    return new CvPool(Math.max(1, threads), init);
  }

  /** Starts `threads` workers (at least 1) and waits until each has made its runtime: start-up timed apart from jobs. */
  static async start(init: CvPoolInit, threads: number): Promise<{ pool: CvPool; startup: CvPoolStartup }> {
    const t0 = performance.now();
    const pool = CvPool.open(init, threads);
    try {
      const workers = await pool.warm(null);
      return { pool, startup: { totalMs: performance.now() - t0, workers } };
    } catch (err) {
      await pool.close();
      throw err;
    }
  }

  /**
   * Runs `job` once on every worker and throws the results away, so that the timed runs after
   * it find compiled code (the first training on a thread runs unoptimized JavaScript); with
   * `null`, only makes sure every worker has its runtime. Returns each worker's timings.
   */
  async warm(job: CvJob | null): Promise<CvWarmTiming[]> {
    const arrived = new Int32Array(new SharedArrayBuffer(4));
    const task = (): CvWarmTask => ({ warm: { arrived, parties: this.threads, job } });
    return (await Promise.all(Array.from({ length: this.threads }, () => this.pool.run(task())))) as CvWarmTiming[];
  }

  /** Runs the jobs at once, one per worker at a time; results in job order. */
  async run(jobs: CvJob[], o: CvRunOptions = {}): Promise<CvJobResult[]> {
    const { finish, withRetries, cached } = bookkeeping(jobs, o, this.init.gcn);
    return Promise.all(
      jobs.map((j, i) => {
        const c = cached[i];
        return c
          ? Promise.resolve(finish(c, true))
          : withRetries(j, () => this.pool.run(j) as Promise<CvJobResult>).then((r) => finish(r, false));
      }),
    );
  }

  /** Stops the workers. */
  close(): Promise<void> {
    return this.pool.destroy();
  }
}

/** The cache, the progress callback and the retries around a run's jobs. */
function bookkeeping(jobs: CvJob[], o: CvRunOptions, gcn: GpGcnConfig) {
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
    return c && lacksSoup(c, gcn) ? null : c;
  });
  return { finish, withRetries, cached };
}

/**
 * Runs the jobs at once on `threads` workers (a CvPool started for this call) or, with one
 * thread, one after another here. Results come back in job order and are the same bits
 * either way: a job's arithmetic does not depend on where it runs.
 */
export async function runCvJobs(
  init: CvPoolInit,
  jobs: CvJob[],
  threads: number,
  o: CvRunOptions = {},
): Promise<CvJobResult[]> {
  if (threads <= 1) {
    const { finish, cached } = bookkeeping(jobs, o, init.gcn);
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
  const pool = CvPool.open(init, threads);
  try {
    return await pool.run(jobs, o);
  } finally {
    await pool.close();
  }
}
