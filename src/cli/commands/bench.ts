import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  checkBaselineCovers,
  compareBench,
  comparisonTable,
  confirmationTable,
  confirmRegressions,
  parseBenchLines,
} from '../../bench/compare.js';
import {
  benchModes,
  ceilingKey,
  defaultWorkloadsFile,
  readWorkloads,
  runBench,
  type Workload,
} from '../../bench/workloads.js';
import { measureCeiling, type Ceiling } from '../../bench/ceiling.js';
import { formatTraceSummary, startTrace, writeTrace } from '../../runtime/trace.js';
import { GraftError } from '../../core/errors.js';
import { intAtLeast, num, joinNegativeValues } from '../args.js';

export const BENCH_USAGE = `  graft bench [--workloads FILE] [--threads 1,2,...] [--only NAME,...] [--reps 10]
              [--baseline FILE --max-regression PCT [--confirm 3]]   (JSON lines; with a baseline,
              a Markdown table of the changes on stderr; a slowdown beyond PCT is measured
              --confirm more times, and exit 3 if even the fastest re-run is beyond PCT)
              [--no-ceiling] [--trace FILE]   (at each P > 1 of --threads, P independent 1-thread
              processes of the same step first: each line's speed-up as a share of theirs)`;

/** `graft bench`: the shared workloads end to end, one JSON line each; optionally gated on a baseline. */
export async function bench(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: joinNegativeValues(argv),
    strict: true,
    options: {
      workloads: { type: 'string' },
      threads: { type: 'string' },
      only: { type: 'string' },
      reps: { type: 'string' },
      baseline: { type: 'string' },
      'max-regression': { type: 'string' },
      confirm: { type: 'string' },
      'no-ceiling': { type: 'boolean' },
      trace: { type: 'string' },
    },
  });
  const file = v.workloads ?? defaultWorkloadsFile();
  if (!file) throw new GraftError('--workloads FILE is required here (no ../shared/bench/workloads.json found)');
  const only = v.only
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const all = readWorkloads(file);
  for (const name of only ?? [])
    if (!all.some((w) => w.name === name))
      throw new GraftError(
        `--only: ${file} has no workload ${JSON.stringify(name)} (it has ${all.map((w) => w.name).join(', ')})`,
      );
  const threads = v.threads ? v.threads.split(',').map((s) => num(s, '--threads', true)!) : [availableParallelism()];
  if (threads.some((t) => t < 1))
    throw new GraftError(`--threads must list positive integers, got ${JSON.stringify(v.threads)}`);
  const reps = num(v.reps, '--reps', true) ?? 10;
  if (reps < 1) throw new GraftError('--reps must be at least 1');
  if ((v.baseline === undefined) !== (v['max-regression'] === undefined))
    throw new GraftError('--baseline FILE and --max-regression PCT go together');
  const maxRegression = num(v['max-regression'], '--max-regression');
  if (maxRegression !== undefined && maxRegression < 0)
    throw new GraftError(`--max-regression must be a non-negative percentage, got ${maxRegression}`);
  if (v.confirm !== undefined && v.baseline === undefined)
    throw new GraftError('--confirm N re-measures regressions against a --baseline: give one');
  const confirm = intAtLeast(v.confirm, '--confirm', 3, 0, 're-runs');
  const workloads = all.filter((w) => !only || only.includes(w.name));
  // Read the baseline first: a bad file, or one this run cannot be compared with, fails before
  // minutes of benchmarking.
  const baseline = v.baseline ? parseBenchLines(readTextOf(v.baseline), v.baseline) : null;
  if (baseline)
    checkBaselineCovers(
      baseline,
      threads.flatMap((t) => workloads.map((w) => ({ workload: w.name, threads: t }))),
      v.baseline!,
    );
  const ceilings = v['no-ceiling'] ? undefined : await benchCeilings(workloads, threads, reps);
  if (v.trace !== undefined) startTrace();
  let lines: Awaited<ReturnType<typeof runBench>>;
  try {
    lines = await runBench({
      workloads,
      threads,
      reps,
      onLine: (l) => console.log(JSON.stringify(l)),
      ...(ceilings ? { ceilings } : {}),
    });
  } finally {
    if (v.trace !== undefined) {
      const events = writeTrace(resolve(v.trace), 'graft bench');
      console.error(`graft bench: trace written to ${resolve(v.trace)}\n${formatTraceSummary(events)}`);
    }
  }
  if (!baseline) return 0;
  const first = compareBench(baseline, lines, maxRegression!);
  console.error(comparisonTable(first, maxRegression!));
  const rerun = new Map<string, number>();
  const gate = await confirmRegressions(first, maxRegression!, confirm, (name, t) => {
    // Re-runs are reported on stderr only: stdout stays one run's lines, fit to be recorded as a baseline.
    const k = `${name} ×${t}`,
      r = (rerun.get(k) ?? 0) + 1;
    rerun.set(k, r);
    console.error(
      `graft bench: measuring ${k} again (re-run ${r} of ${confirm}) to confirm a slowdown beyond ${maxRegression}%`,
    );
    return runBench({ workloads: workloads.filter((w) => w.name === name), threads: [t], reps, onLine: () => {} });
  });
  if (gate.rounds) console.error(`\n${confirmationTable(gate, maxRegression!)}`);
  return gate.regressions > 0 ? 3 : 0;
}

/**
 * The ceiling of each workload's step at each P > 1 of `threads`, measured before the run's
 * own lines: one 1-thread process alone, then P at once (bench/ceiling.ts). Said on stderr.
 */
async function benchCeilings(
  workloads: readonly Workload[],
  threads: readonly number[],
  reps: number,
): Promise<Map<string, Ceiling>> {
  const out = new Map<string, Ceiling>();
  for (const p of new Set(threads.filter((t) => t > 1))) {
    for (const w of workloads) {
      for (const mode of benchModes(w)) {
        const c = await measureCeiling({ kind: 'bench', workload: w, ...(mode ? { mode } : {}), reps }, p);
        out.set(ceilingKey(w.name, mode, p), c);
        console.error(
          `graft bench: ceiling of ${w.name}${mode ? ` ${mode}` : ''} ×${p}: one 1-thread process alone ${c.single_ms.toFixed(2)} ms/step, ${p} at once ${c.concurrent_ms.map((x) => x.toFixed(2)).join(', ')}: ${c.speedup.toFixed(2)}× the work per second`,
        );
      }
    }
  }
  return out;
}

function readTextOf(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new GraftError(
      `${file}: cannot read the baseline: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}
