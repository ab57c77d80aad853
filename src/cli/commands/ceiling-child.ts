import { createInterface } from 'node:readline';
import { Runtime } from '../../runtime/runtime.js';
import type { CeilingJob } from '../../bench/ceiling.js';
import { benchStep, timeSteps } from '../../bench/workloads.js';

// One process of a ceiling measurement (bench/ceiling.ts): prepares its job on one thread,
// warms up, prints "ready", waits for "go" on stdin, then times the job and prints
// {"ms": ms per step}. Not a command: `graft bench` and `graft scaling` start it.

const job = JSON.parse(process.argv[2] ?? '{}') as CeilingJob;
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const ready = async (): Promise<void> => {
  process.stdout.write('ready\n');
  await lines.next();
};

async function main(): Promise<number> {
  if (job.kind === 'bench') {
    const rt = await Runtime.create({ threads: 1 });
    try {
      const s = benchStep(rt, job.workload, job.mode);
      const ms = await timeSteps(s.step, job.reps, 'ceiling', ready);
      s.dispose();
      return ms;
    } finally {
      await rt.close();
    }
  }
  const { scalingCeilingEpoch } = await import('./scaling.js');
  return scalingCeilingEpoch(job, ready);
}

main().then(
  (ms) => {
    process.stdout.write(`${JSON.stringify({ ms })}\n`);
    process.exit(0);
  },
  (err: unknown) => {
    process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
