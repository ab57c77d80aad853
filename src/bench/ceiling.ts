import { spawn } from 'node:child_process';
import { type Ceiling, ceilingSpeedup } from './ceiling-speedup.js';
import type { Workload } from './workloads.js';
import { GraftError } from '../core/errors.js';
import { workerPath } from '../core/worker-url.js';
export { ceilingSpeedup, ofCeiling, type Ceiling } from './ceiling-speedup.js';

// The ceiling of a scaling report: what P cores give when nothing is shared but the machine.
// P independent one-thread processes run the same step at the same moment; if each takes
// as long as one alone, P cores give P× the work per second; memory bandwidth, caches, turbo
// and other tenants make it less. A strategy's speed-up is then read against that measured
// ceiling as well as against the ideal P: the part of the gap the engine could still close.

/** What each process of the ceiling runs: a bench workload's step, or a `graft scaling` task's epoch. */
export type CeilingJob =
  | { kind: 'bench'; workload: Workload; mode?: string; reps: number }
  | { kind: 'genomic'; epochs: number; members: number }
  | { kind: 'molecules'; molecules: number; epochs: number };

/** Runs `n` processes of `job` together; resolves with each one's ms per step. */
export type ProcessRunner = (job: CeilingJob, n: number) => Promise<number[]>;

/** One process alone, then `processes` at once, of the same job: the ceiling at that count. */
export async function measureCeiling(
  job: CeilingJob,
  processes: number,
  run: ProcessRunner = runProcesses,
): Promise<Ceiling> {
  const [single] = await run(job, 1);
  const concurrent = await run(job, processes);
  return { processes, single_ms: single!, concurrent_ms: concurrent, speedup: ceilingSpeedup(single!, concurrent) };
}

/**
 * Starts `n` child processes of cli/commands/ceiling-child.js (a process entry, so it lives with the CLI, which owns output) on `job`; each prepares and warms up, says
 * "ready", and waits: only when all are ready are they told to go, so the timed steps overlap
 * (start-up, which differs between processes, is outside them). Each prints its ms per step.
 */
export function runProcesses(job: CeilingJob, n: number): Promise<number[]> {
  const entry = workerPath('cli/commands/ceiling-child');
  const children = Array.from({ length: n }, () =>
    spawn(process.execPath, [entry, JSON.stringify(job)], { stdio: ['pipe', 'pipe', 'pipe'] }),
  );
  let ready = 0;
  return Promise.all(
    children.map(
      (c, i) =>
        new Promise<number>((resolve, reject) => {
          let out = '',
            err = '',
            said = false;
          c.stderr.on('data', (d: Buffer) => {
            err += d.toString();
          });
          c.stdout.on('data', (d: Buffer) => {
            out += d.toString();
            if (!said && out.includes('ready\n')) {
              said = true;
              if (++ready === n) for (const k of children) k.stdin.write('go\n');
            }
          });
          c.on('error', reject);
          c.on('close', (code) => {
            const m = out.match(/\{"ms":[^}]*\}/);
            if (code === 0 && m) resolve((JSON.parse(m[0]) as { ms: number }).ms);
            else {
              for (const k of children) k.kill();
              reject(
                new GraftError(
                  `ceiling: process ${i + 1} of ${n} failed (exit ${code}): ${err.trim().split('\n').slice(-3).join(' | ') || 'no message'}`,
                ),
              );
            }
          });
        }),
    ),
  );
}
