import { threadId } from 'node:worker_threads';
import { workerData } from 'piscina';
import { Runtime } from '../runtime/runtime.js';
import { runCvJob } from './cv-jobs.js';
import type { CvJob, CvJobResult } from './job-types.js';
import type { CvPoolInit, CvWarmTask, CvWarmTiming } from './cv-pool.js';

// A cross-validation worker: one job per task, on a one-thread runtime of its own (every op
// inline on this thread), made once and kept for the worker's life.
const init = workerData as CvPoolInit;
let rt: Promise<Runtime> | undefined;

/** How long a warm-up waits at its barrier for the pool's other workers before giving up on an even spread. */
const BARRIER_MS = 60_000;

export default async function handle(task: CvJob | CvWarmTask): Promise<CvJobResult | CvWarmTiming> {
  if ('warm' in task) return warm(task.warm);
  rt ??= Runtime.create({ threads: 1 });
  return runCvJob(await rt, init.data, init.folds, task, init.gcn, init.checkpoints);
}

async function warm(w: CvWarmTask['warm']): Promise<CvWarmTiming> {
  const t0 = performance.now();
  rt ??= Runtime.create({ threads: 1 });
  const runtime = await rt;
  const t1 = performance.now();
  if (w.job) await runCvJob(runtime, init.data, init.folds, w.job, init.gcn);
  const t2 = performance.now();
  // Hold this worker until every worker has arrived, so Piscina hands each one warm-up task.
  Atomics.add(w.arrived, 0, 1);
  Atomics.notify(w.arrived, 0);
  const deadline = Date.now() + BARRIER_MS;
  for (let seen = Atomics.load(w.arrived, 0); seen < w.parties && Date.now() < deadline; ) {
    Atomics.wait(w.arrived, 0, seen, 50);
    seen = Atomics.load(w.arrived, 0);
  }
  return { threadId, runtimeMs: t1 - t0, jobMs: t2 - t1 };
}
