import { GraftError } from '../core/errors.js';
import type { BenchLine } from './workloads.js';

// Comparing a run's bench lines with an earlier run's: what a CI pipeline gates on.

export interface Change {
  key: string;
  /** The workload and thread count the line measures: what a re-measurement runs again. */
  workload: string;
  threads: number;
  metric: 'train_ms' | 'infer_ms';
  before: number;
  after: number;
  /** (after − before) / before, in percent: positive is slower. */
  changePct: number;
  regression: boolean;
}

export interface Comparison {
  changes: Change[];
  /** Lines of the baseline with no counterpart now, and lines new in this run. */
  missing: string[];
  added: string[];
  regressions: number;
}

/** workload, threads, mode and precision: what identifies a line across runs. */
function lineKey(l: BenchLine): string {
  return `${l.workload} ×${l.threads}${l.mode ? ` ${l.mode}` : ''}${l.precision ? ` ${l.precision}` : ''}`;
}

/**
 * Bench lines from text (one JSON object a line; blank lines and non-JSON lines skipped). A
 * damaged line, a line without its figures, a time that is not a positive number and a second
 * line for the same workload, threads and mode are each refused, naming the file and line.
 */
export function parseBenchLines(text: string, file: string): BenchLine[] {
  const lines: BenchLine[] = [];
  const seen = new Map<string, number>();
  text.split('\n').forEach((raw, i) => {
    const s = raw.trim();
    if (!s.startsWith('{')) return;
    let o: Partial<BenchLine>;
    try {
      o = JSON.parse(s) as Partial<BenchLine>;
    } catch (err) {
      throw new GraftError(`${file}:${i + 1}: not a JSON line: ${(err as Error).message}`);
    }
    if (o.workload === undefined && o.train_ms === undefined) return; // another tool's line
    // An int8 line has no training time (training stays float32).
    const needsTrain = o.precision === undefined;
    if (
      typeof o.workload !== 'string' ||
      typeof o.threads !== 'number' ||
      (needsTrain && typeof o.train_ms !== 'number') ||
      typeof o.infer_ms !== 'number'
    ) {
      throw new GraftError(`${file}:${i + 1}: a bench line needs workload, threads, train_ms and infer_ms`);
    }
    // A zero or negative time would make every change infinite or meaningless.
    for (const m of ['train_ms', 'infer_ms'] as const) {
      const t = o[m];
      if (t !== undefined && !(t > 0 && Number.isFinite(t)))
        throw new GraftError(
          `${file}:${i + 1}: ${m} must be a positive number of milliseconds, got ${JSON.stringify(t)}`,
        );
    }
    const line = o as BenchLine,
      key = lineKey(line);
    // Two lines for one key (two runs pasted together) would leave which one counts to chance.
    const first = seen.get(key);
    if (first !== undefined)
      throw new GraftError(
        `${file}:${i + 1}: a second line for ${key} (the first is line ${first}): keep one run's lines per file`,
      );
    seen.set(key, i + 1);
    lines.push(line);
  });
  return lines;
}

/**
 * Refuses a baseline that cannot gate this run: one with no bench lines, or one sharing no
 * workload at any of this run's thread counts (everything would be "missing" or "new", and
 * the gate would pass having compared nothing). Called before measuring.
 */
export function checkBaselineCovers(
  baseline: readonly BenchLine[],
  planned: readonly { workload: string; threads: number }[],
  file: string,
): void {
  if (baseline.length === 0)
    throw new GraftError(
      `${file}: no bench lines in it (empty, or only other tools' lines): a baseline is what graft bench prints on stdout, saved to a file`,
    );
  const run = new Set(planned.map((p) => `${p.workload} ×${p.threads}`));
  if (baseline.some((l) => run.has(`${l.workload} ×${l.threads}`))) return;
  const list = (xs: string[]): string => (xs.length > 6 ? `${xs.slice(0, 6).join(', ')}, …` : xs.join(', '));
  const had = [...new Set(baseline.map((l) => `${l.workload} ×${l.threads}`))];
  throw new GraftError(
    `${file}: shares no workload and thread count with this run (it has ${list(had)}; this run measures ${list([...run])}): ` +
      'record a new baseline, or choose --only and --threads to match it',
  );
}

/** Changes of every metric present in both runs; a regression is a slowdown beyond `maxRegressionPct`. */
export function compareBench(
  baseline: readonly BenchLine[],
  current: readonly BenchLine[],
  maxRegressionPct: number,
): Comparison {
  if (!(maxRegressionPct >= 0) || !Number.isFinite(maxRegressionPct)) {
    throw new GraftError(
      `compareBench: the regression bound must be a non-negative number of percent, got ${maxRegressionPct}`,
    );
  }
  const before = new Map(baseline.map((l) => [lineKey(l), l]));
  const now = new Map(current.map((l) => [lineKey(l), l]));
  const changes: Change[] = [];
  for (const [key, b] of before) {
    const a = now.get(key);
    if (!a) continue;
    for (const metric of ['train_ms', 'infer_ms'] as const) {
      const was = b[metric],
        is = a[metric];
      if (was === undefined || is === undefined) continue;
      const changePct = ((is - was) / was) * 100;
      changes.push({
        key,
        workload: a.workload,
        threads: a.threads,
        metric,
        before: was,
        after: is,
        changePct,
        regression: changePct > maxRegressionPct,
      });
    }
  }
  return {
    changes,
    missing: [...before.keys()].filter((k) => !now.has(k)),
    added: [...now.keys()].filter((k) => !before.has(k)),
    regressions: changes.filter((c) => c.regression).length,
  };
}

/** The comparison as a Markdown table, regressions marked, then what is missing or new. */
export function comparisonTable(c: Comparison, maxRegressionPct: number): string {
  const out = ['| workload | metric | before (ms) | now (ms) | change | |', '| --- | --- | --- | --- | --- | --- |'];
  for (const x of c.changes) {
    const sign = x.changePct > 0 ? '+' : '';
    out.push(
      `| ${x.key} | ${x.metric} | ${x.before.toFixed(2)} | ${x.after.toFixed(2)} | ${sign}${x.changePct.toFixed(1)}% | ${x.regression ? `**regression** (> ${maxRegressionPct}%)` : ''} |`,
    );
  }
  if (c.missing.length) out.push('', `Missing now: ${c.missing.join(', ')}`);
  if (c.added.length) out.push('', `New: ${c.added.join(', ')}`);
  out.push(
    '',
    c.regressions
      ? `${c.regressions} regression(s) beyond ${maxRegressionPct}%`
      : `No regression beyond ${maxRegressionPct}%`,
  );
  return out.join('\n');
}

/** A regression of the first measurement, measured again. */
export interface Confirmation {
  change: Change;
  /** The metric in each re-run, in order. */
  reruns: number[];
  /** The fastest re-run, and its change from the baseline in percent. */
  min: number;
  changePct: number;
  /** Still beyond the bound at the fastest re-run: a regression that fails the gate. */
  regression: boolean;
}

export interface Gate {
  /** The first measurement against the baseline. */
  first: Comparison;
  /** What --confirm re-measured: one entry per regressed metric (none when nothing regressed or confirm is 0). */
  confirmed: Confirmation[];
  /** The (workload, threads) pairs measured again, and how many times each (0: none). */
  remeasured: { workload: string; threads: number }[];
  rounds: number;
  /** Regressions that fail the gate: the first measurement's when confirm is 0, else those the re-runs confirm. */
  regressions: number;
}

/**
 * The CI gate with a guard against noise: a slowdown beyond `maxRegressionPct` in the first
 * measurement (`first`, from compareBench with the same bound) is measured `confirm` more
 * times (only the (workload, threads) pairs that regressed, through `measure`), and fails only
 * when even the fastest re-run is still beyond the bound. A one-off slow run (another job on the runner, a cold cache) passes; a real
 * slowdown is slow every time. `confirm` 0 gates on the first measurement alone.
 *
 * @example
 * const first = compareBench(baseline, lines, 10);
 * const gate = await confirmRegressions(first, 10, 3, (w, t) => runBench({ workloads: [byName(w)], threads: [t], reps: 10, onLine: () => {} }));
 * process.exitCode = gate.regressions ? 3 : 0;
 */
export async function confirmRegressions(
  first: Comparison,
  maxRegressionPct: number,
  confirm: number,
  measure: (workload: string, threads: number) => Promise<readonly BenchLine[]>,
): Promise<Gate> {
  if (!Number.isInteger(confirm) || confirm < 0)
    throw new GraftError(`confirmRegressions: confirm must be a non-negative integer, got ${confirm}`);
  const regressed = first.changes.filter((c) => c.regression);
  if (confirm === 0 || regressed.length === 0)
    return { first, confirmed: [], remeasured: [], rounds: 0, regressions: first.regressions };
  const pairs = [
    ...new Map(
      regressed.map((c) => [`${c.workload} ×${c.threads}`, { workload: c.workload, threads: c.threads }]),
    ).values(),
  ];
  const reruns = new Map(regressed.map((c) => [`${c.key} ${c.metric}`, [] as number[]]));
  for (let round = 0; round < confirm; round++) {
    for (const p of pairs) {
      const lines = await measure(p.workload, p.threads);
      for (const c of regressed.filter((x) => x.workload === p.workload && x.threads === p.threads)) {
        const again = lines.find((l) => lineKey(l) === c.key)?.[c.metric];
        if (again === undefined)
          throw new GraftError(
            `confirmRegressions: measuring ${p.workload} at ${p.threads} threads again gave no ${c.metric} for ${c.key}`,
          );
        reruns.get(`${c.key} ${c.metric}`)!.push(again);
      }
    }
  }
  const confirmed = regressed.map((change) => {
    const xs = reruns.get(`${change.key} ${change.metric}`)!,
      min = Math.min(...xs);
    const changePct = ((min - change.before) / change.before) * 100;
    return { change, reruns: xs, min, changePct, regression: changePct > maxRegressionPct };
  });
  return {
    first,
    confirmed,
    remeasured: pairs,
    rounds: confirm,
    regressions: confirmed.filter((c) => c.regression).length,
  };
}

/** What --confirm did, as Markdown: each regressed metric's re-runs, their minimum and the verdict. */
export function confirmationTable(g: Gate, maxRegressionPct: number): string {
  if (g.rounds === 0) return '';
  const pct = (x: number): string => `${x > 0 ? '+' : ''}${x.toFixed(1)}%`;
  const out = [
    `Re-measured ${g.remeasured.map((p) => `${p.workload} ×${p.threads}`).join(', ')} ${g.rounds} time(s) (--confirm ${g.rounds}); the fastest re-run decides:`,
    '',
    '| workload | metric | before (ms) | first (ms) | re-runs (ms) | fastest (ms) | change | |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const c of g.confirmed) {
    out.push(
      `| ${c.change.key} | ${c.change.metric} | ${c.change.before.toFixed(2)} | ${c.change.after.toFixed(2)} | ${c.reruns.map((x) => x.toFixed(2)).join(', ')} | ` +
        `${c.min.toFixed(2)} | ${pct(c.changePct)} | ${c.regression ? `**regression** (> ${maxRegressionPct}% every time)` : 'noise: within the bound on re-measuring'} |`,
    );
  }
  out.push(
    '',
    g.regressions
      ? `${g.regressions} regression(s) beyond ${maxRegressionPct}% confirmed`
      : `No regression beyond ${maxRegressionPct}% on re-measuring (the first figures were noise)`,
  );
  return out.join('\n');
}
