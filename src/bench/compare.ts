import { GraftError } from '../core/errors.js';
import type { BenchLine } from './workloads.js';

// Comparing a run's bench lines with an earlier run's: what a CI pipeline gates on.

export interface Change {
  key: string;
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

/** Bench lines from text (one JSON object a line; blank lines and non-JSON lines skipped). */
export function parseBenchLines(text: string, file: string): BenchLine[] {
  const lines: BenchLine[] = [];
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
    if (typeof o.workload !== 'string' || typeof o.threads !== 'number' || (needsTrain && typeof o.train_ms !== 'number') || typeof o.infer_ms !== 'number') {
      throw new GraftError(`${file}:${i + 1}: a bench line needs workload, threads, train_ms and infer_ms`);
    }
    lines.push(o as BenchLine);
  });
  return lines;
}

/** Changes of every metric present in both runs; a regression is a slowdown beyond `maxRegressionPct`. */
export function compareBench(baseline: readonly BenchLine[], current: readonly BenchLine[], maxRegressionPct: number): Comparison {
  if (!(maxRegressionPct >= 0) || !Number.isFinite(maxRegressionPct)) {
    throw new GraftError(`compareBench: the regression bound must be a non-negative number of percent, got ${maxRegressionPct}`);
  }
  const before = new Map(baseline.map((l) => [lineKey(l), l]));
  const now = new Map(current.map((l) => [lineKey(l), l]));
  const changes: Change[] = [];
  for (const [key, b] of before) {
    const a = now.get(key);
    if (!a) continue;
    for (const metric of ['train_ms', 'infer_ms'] as const) {
      const was = b[metric], is = a[metric];
      if (was === undefined || is === undefined) continue;
      const changePct = ((is - was) / was) * 100;
      changes.push({ key, metric, before: was, after: is, changePct, regression: changePct > maxRegressionPct });
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
    out.push(`| ${x.key} | ${x.metric} | ${x.before.toFixed(2)} | ${x.after.toFixed(2)} | ${sign}${x.changePct.toFixed(1)}% | ${x.regression ? `**regression** (> ${maxRegressionPct}%)` : ''} |`);
  }
  if (c.missing.length) out.push('', `Missing now: ${c.missing.join(', ')}`);
  if (c.added.length) out.push('', `New: ${c.added.join(', ')}`);
  out.push('', c.regressions ? `${c.regressions} regression(s) beyond ${maxRegressionPct}%` : `No regression beyond ${maxRegressionPct}%`);
  return out.join('\n');
}
