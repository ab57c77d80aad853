import { workerData } from 'piscina';
import { Runtime } from '../runtime/runtime.js';
import { runCvJob } from './cv-jobs.js';
import type { CvJob, CvJobResult } from './job-types.js';
import type { CvPoolInit } from './cv-pool.js';

// A cross-validation worker: one job per task, on a one-thread runtime of its own.
const init = workerData as CvPoolInit;
let rt: Promise<Runtime> | undefined;

export default async function handle(job: CvJob): Promise<CvJobResult> {
  rt ??= Runtime.create({ threads: 1 });
  return runCvJob(await rt, init.data, init.folds, job, init.gcn, init.checkpoints);
}
