import { Piscina } from 'piscina';
import { packageRoot } from '../core/paths.js';
import { Runtime } from '../runtime/runtime.js';
import type { GcnRegressorConfig } from './gcn-regressor.js';
import { runCvJob, type CvJob, type CvJobResult, type FoldPlan } from './cv-jobs.js';
import type { StudyData } from './study-data.js';

export interface CvPoolInit {
  data: StudyData;
  folds: FoldPlan;
  gcn: GcnRegressorConfig;
}

/**
 * Runs the jobs at once on `threads` Piscina workers (coarse tasks: one job each, every
 * worker with a one-thread runtime of its own) or, with one thread, one after another here.
 * The study's arrays are SharedArrayBuffers, so workers read them without copies. Results
 * come back in job order and are the same bits either way: a job's arithmetic does not
 * depend on where it runs.
 */
export async function runCvJobs(init: CvPoolInit, jobs: CvJob[], threads: number, onDone?: (r: CvJobResult, done: number) => void): Promise<CvJobResult[]> {
  let done = 0;
  const tick = (r: CvJobResult): CvJobResult => { onDone?.(r, ++done); return r; };
  if (threads <= 1) {
    const rt = await Runtime.create({ threads: 1 });
    try {
      const out: CvJobResult[] = [];
      for (const j of jobs) out.push(tick(await runCvJob(rt, init.data, init.folds, j, init.gcn)));
      return out;
    } finally {
      await rt.close();
    }
  }
  const pool = new Piscina({
    filename: `${packageRoot()}/dist/src/genomics/cv-worker.js`,
    minThreads: threads, maxThreads: threads, workerData: init,
  });
  try {
    return await Promise.all(jobs.map((j) => (pool.run(j) as Promise<CvJobResult>).then(tick)));
  } finally {
    await pool.destroy();
  }
}
