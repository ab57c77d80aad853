import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  checkBaselineCovers,
  compareBench,
  comparisonTable,
  confirmationTable,
  confirmRegressions,
  parseBenchLines,
} from '../src/bench/compare.js';
import { ceilingSpeedup, measureCeiling, ofCeiling, runProcesses } from '../src/bench/ceiling.js';
import { ceilingKey, runBench, type BenchLine, type Workload } from '../src/bench/workloads.js';
import { packageRoot } from '../src/core/paths.js';
import { tempDir } from './helpers.js';

// The regression gate of `graft bench --baseline`, on recorded lines (never on timings).
const recorded = `{"workload":"cora","threads":1,"train_ms":10,"infer_ms":4.3,"peak_rss_mb":120}
{"workload":"cora","threads":2,"train_ms":10.5,"infer_ms":4.5,"peak_rss_mb":121}
{"workload":"molecules","threads":2,"train_ms":12.8,"infer_ms":4.8,"peak_rss_mb":130}
{"workload":"molecules","threads":2,"train_ms":19.8,"infer_ms":4.9,"peak_rss_mb":130,"mode":"batch-split/32"}
`;
const now = `not json: a banner line
{"workload":"cora","threads":1,"train_ms":11,"infer_ms":4.3,"peak_rss_mb":120}
{"workload":"cora","threads":2,"train_ms":9.45,"infer_ms":5.4,"peak_rss_mb":121}
{"workload":"molecules","threads":2,"train_ms":12.8,"infer_ms":4.8,"peak_rss_mb":130,"mode":"batch-split/32"}
{"workload":"arxiv","threads":2,"train_ms":3162,"infer_ms":1485,"peak_rss_mb":900}
`;

describe('bench comparison', () => {
  it('matches lines by workload, threads and mode, and flags slowdowns beyond the bound only', () => {
    const c = compareBench(parseBenchLines(recorded, 'base.jsonl'), parseBenchLines(now, 'now.jsonl'), 10);
    const get = (key: string, m: string): number => c.changes.find((x) => x.key === key && x.metric === m)!.changePct;
    expect(get('cora ×1', 'train_ms')).toBeCloseTo(10, 9); // exactly 10%: not beyond the bound
    expect(get('cora ×2', 'train_ms')).toBeCloseTo(-10, 9);
    expect(get('cora ×2', 'infer_ms')).toBeCloseTo(20, 9);
    // The batch-split line is compared with its own baseline (19.8), not the default line's 12.8.
    expect(get('molecules ×2 batch-split/32', 'train_ms')).toBeCloseTo(((12.8 - 19.8) / 19.8) * 100, 9);
    expect(c.changes.filter((x) => x.regression).map((x) => `${x.key} ${x.metric}`)).toEqual(['cora ×2 infer_ms']);
    expect(c.regressions).toBe(1);
    expect(c.missing).toEqual(['molecules ×2']);
    expect(c.added).toEqual(['arxiv ×2']);
    const table = comparisonTable(c, 10);
    expect(table).toContain('| cora ×2 | infer_ms | 4.50 | 5.40 | +20.0% | **regression** (> 10%) |');
    expect(table).toContain('Missing now: molecules ×2');
    expect(table).toContain('1 regression(s) beyond 10%');
  });

  it('compares an int8 line with the int8 line only, on its inference time (it has no training time)', () => {
    const int8 = (ms: number): string =>
      JSON.stringify({
        workload: 'cora',
        threads: 1,
        precision: 'int8',
        infer_ms: ms,
        float_infer_ms: 4,
        model_bytes: 10,
        float_model_bytes: 40,
        peak_rss_mb: 1,
      });
    const float = JSON.stringify({ workload: 'cora', threads: 1, train_ms: 10, infer_ms: 4, peak_rss_mb: 1 });
    const c = compareBench(
      parseBenchLines(`${float}\n${int8(2)}\n`, 'a'),
      parseBenchLines(`${float}\n${int8(3)}\n`, 'b'),
      10,
    );
    expect(c.changes.map((x) => `${x.key} ${x.metric} ${x.changePct.toFixed(0)}`)).toEqual([
      'cora ×1 train_ms 0',
      'cora ×1 infer_ms 0',
      'cora ×1 int8 infer_ms 50',
    ]);
    expect(c.regressions).toBe(1);
    expect(() => parseBenchLines(JSON.stringify({ workload: 'cora', threads: 1, infer_ms: 1 }), 'c.jsonl')).toThrow(
      /c\.jsonl:1: a bench line needs workload, threads, train_ms/,
    );
  });

  it('names the file and line of a broken baseline', () => {
    expect(() =>
      parseBenchLines('{"workload":"cora","threads":1,"train_ms":1,"infer_ms":1}\n{"workload": ', 'b.jsonl'),
    ).toThrow(/^b\.jsonl:2: not a JSON line/);
    expect(() => parseBenchLines('{"workload":"cora","threads":1}', 'b.jsonl')).toThrow(
      'b.jsonl:1: a bench line needs workload, threads, train_ms and infer_ms',
    );
    expect(() => compareBench([], [], -1)).toThrow(/non-negative/);
    // A time that would make every change infinite or meaningless, and two runs pasted together.
    expect(() => parseBenchLines('{"workload":"cora","threads":1,"train_ms":0,"infer_ms":1}', 'z.jsonl')).toThrow(
      'z.jsonl:1: train_ms must be a positive number of milliseconds, got 0',
    );
    expect(() => parseBenchLines('\n{"workload":"cora","threads":1,"train_ms":2,"infer_ms":-1}', 'z.jsonl')).toThrow(
      'z.jsonl:2: infer_ms must be a positive number',
    );
    expect(() => parseBenchLines(`${recorded}${recorded}`, 'twice.jsonl')).toThrow(
      'twice.jsonl:5: a second line for cora ×1 (the first is line 1)',
    );
  });

  it('refuses a baseline that is empty or shares no workload and thread count with the run, naming the file', () => {
    const base = parseBenchLines(recorded, 'base.jsonl');
    expect(() =>
      checkBaselineCovers(parseBenchLines('', 'e.jsonl'), [{ workload: 'cora', threads: 1 }], 'e.jsonl'),
    ).toThrow(/^e\.jsonl: no bench lines in it/);
    expect(() =>
      checkBaselineCovers(
        parseBenchLines('npm banner\n{"other":"tool"}\n', 'o.jsonl'),
        [{ workload: 'cora', threads: 1 }],
        'o.jsonl',
      ),
    ).toThrow(/^o\.jsonl: no bench lines/);
    // The same workload at another thread count compares nothing either.
    expect(() =>
      checkBaselineCovers(
        base,
        [
          { workload: 'cora', threads: 4 },
          { workload: 'arxiv', threads: 1 },
        ],
        'base.jsonl',
      ),
    ).toThrow(
      'base.jsonl: shares no workload and thread count with this run (it has cora ×1, cora ×2, molecules ×2; this run measures cora ×4, arxiv ×1)',
    );
    expect(() =>
      checkBaselineCovers(
        base,
        [
          { workload: 'arxiv', threads: 2 },
          { workload: 'molecules', threads: 2 },
        ],
        'base.jsonl',
      ),
    ).not.toThrow();
  });
});

describe('bench gate: --confirm re-measures a regression before failing (an injected measure, no timing)', () => {
  const line = (
    workload: string,
    threads: number,
    train: number,
    infer: number,
    extra: Partial<BenchLine> = {},
  ): BenchLine => ({ workload, threads, train_ms: train, infer_ms: infer, peak_rss_mb: 1, ...extra });
  const baseline = [line('cora', 1, 10, 4), line('cora', 2, 10, 5), line('arxiv', 2, 100, 50)];
  // First run: cora ×2 is 20% slower in training and 30% in inference; cora ×1 and arxiv within 10%.
  const current = [line('cora', 1, 10.5, 4), line('cora', 2, 12, 6.5), line('arxiv', 2, 109, 50)];
  const first = compareBench(baseline, current, 10);
  /** A measure that plays back the given train/infer times for cora ×2 and records what it was asked. */
  const playback = (
    times: [number, number][],
  ): { calls: string[]; measure: (w: string, t: number) => Promise<BenchLine[]> } => {
    const calls: string[] = [];
    return {
      calls,
      measure: async (w, t) => {
        const [tr, inf] = times[calls.length]!;
        calls.push(`${w} ×${t}`);
        return [line(w, t, tr, inf)];
      },
    };
  };

  it('noise: the fastest re-run is within the bound, so the gate passes; only the regressed pair is measured, once per round', async () => {
    expect(first.regressions).toBe(2);
    const p = playback([
      [12.5, 6.6],
      [10.9, 5.4],
      [11.8, 5.2],
    ]);
    const g = await confirmRegressions(first, 10, 3, p.measure);
    expect(p.calls).toEqual(['cora ×2', 'cora ×2', 'cora ×2']); // both metrics from one measurement a round
    expect(g.confirmed.map((c) => [c.change.key, c.change.metric, c.reruns, c.min])).toEqual([
      ['cora ×2', 'train_ms', [12.5, 10.9, 11.8], 10.9],
      ['cora ×2', 'infer_ms', [6.6, 5.4, 5.2], 5.2],
    ]);
    expect(g.confirmed[0]!.changePct).toBeCloseTo(9, 9); // (10.9 − 10) / 10
    expect(g.confirmed[1]!.changePct).toBeCloseTo(4, 9); // (5.2 − 5) / 5
    expect(g.regressions).toBe(0);
    const t = confirmationTable(g, 10);
    expect(t).toContain('Re-measured cora ×2 3 time(s) (--confirm 3)');
    expect(t).toContain(
      '| cora ×2 | infer_ms | 5.00 | 6.50 | 6.60, 5.40, 5.20 | 5.20 | +4.0% | noise: within the bound on re-measuring |',
    );
    expect(t).toContain('No regression beyond 10% on re-measuring');
  });

  it('a real slowdown: slow on every re-run, the gate fails on the metric still beyond the bound', async () => {
    const p = playback([
      [12.2, 5.3],
      [11.9, 5.4],
      [12.4, 5.2],
    ]);
    const g = await confirmRegressions(first, 10, 3, p.measure);
    expect(g.confirmed.map((c) => [c.change.metric, c.min, c.regression])).toEqual([
      ['train_ms', 11.9, true],
      ['infer_ms', 5.2, false],
    ]);
    expect(g.regressions).toBe(1);
    expect(confirmationTable(g, 10)).toContain(
      '| cora ×2 | train_ms | 10.00 | 12.00 | 12.20, 11.90, 12.40 | 11.90 | +19.0% | **regression** (> 10% every time) |',
    );
    expect(confirmationTable(g, 10)).toContain('1 regression(s) beyond 10% confirmed');
  });

  it('exactly at the bound on re-measuring is not beyond it; --confirm 0 and a clean first run measure nothing', async () => {
    const p = playback([[11, 5.5]]);
    expect((await confirmRegressions(first, 10, 1, p.measure)).regressions).toBe(0);
    const none = playback([]);
    const g0 = await confirmRegressions(first, 10, 0, none.measure);
    expect([g0.regressions, g0.rounds, none.calls]).toEqual([2, 0, []]);
    expect(confirmationTable(g0, 10)).toBe('');
    const clean = await confirmRegressions(compareBench(baseline, baseline, 10), 10, 3, none.measure);
    expect([clean.regressions, none.calls]).toEqual([0, []]);
    await expect(confirmRegressions(first, 10, -1, none.measure)).rejects.toThrow(
      /confirm must be a non-negative integer/,
    );
  });

  it('an int8 or batch-split line is re-measured with its own workload and read back by its own key', async () => {
    const b = [
      line('mol', 2, 10, 4),
      line('mol', 2, 0, 2, { precision: 'int8', train_ms: undefined }),
      line('mol', 2, 20, 5, { mode: 'batch-split/32' }),
    ];
    const now = [
      line('mol', 2, 10, 4),
      line('mol', 2, 0, 3, { precision: 'int8', train_ms: undefined }),
      line('mol', 2, 30, 5, { mode: 'batch-split/32' }),
    ];
    const f = compareBench(b, now, 10);
    expect(f.changes.filter((c) => c.regression).map((c) => `${c.key} ${c.metric}`)).toEqual([
      'mol ×2 int8 infer_ms',
      'mol ×2 batch-split/32 train_ms',
    ]);
    const calls: string[] = [];
    const g = await confirmRegressions(f, 10, 2, async (w, t) => {
      calls.push(`${w} ×${t}`);
      return [
        line(w, t, 99, 99),
        line(w, t, 0, 2.1, { precision: 'int8', train_ms: undefined }),
        line(w, t, 31, 5, { mode: 'batch-split/32' }),
      ];
    });
    expect(calls).toEqual(['mol ×2', 'mol ×2']);
    expect(g.confirmed.map((c) => [c.change.key, c.min, c.regression])).toEqual([
      ['mol ×2 int8', 2.1, false],
      ['mol ×2 batch-split/32', 31, true],
    ]);
  });
});

describe('graft bench --baseline (the CLI)', () => {
  it('exits 3 on a regression confirmed by re-measuring, 0 within the bound, 2 on a baseline that cannot gate the run (a tiny workload, absurd baselines)', () => {
    const dir = tempDir('graft-bench-');
    const workloads = join(dir, 'w.json');
    writeFileSync(
      workloads,
      JSON.stringify({
        workloads: [{ name: 'tiny', nodes: 64, avgDegree: 3, features: 8, hidden: 8, layers: 2, outputs: 2 }],
      }),
    );
    const line = (ms: number): string =>
      JSON.stringify({ workload: 'tiny', threads: 1, train_ms: ms, infer_ms: ms, peak_rss_mb: 1 });
    writeFileSync(join(dir, 'fast.jsonl'), `${line(1e-6)}\n`); // nothing runs in a picosecond
    writeFileSync(join(dir, 'slow.jsonl'), `${line(1e9)}\n`); // everything beats a 12-day epoch
    const cli = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
    const run = (baseline: string, ...extra: string[]): ReturnType<typeof spawnSync> =>
      spawnSync(
        process.execPath,
        [
          cli,
          'bench',
          '--workloads',
          workloads,
          '--threads',
          '1',
          '--reps',
          '1',
          '--baseline',
          join(dir, baseline),
          '--max-regression',
          '50',
          ...extra,
        ],
        { encoding: 'utf8' },
      );
    const bad = run('fast.jsonl', '--confirm', '2');
    expect(bad.status, String(bad.stderr)).toBe(3);
    // Both regressed metrics (training and inference of tiny ×1) from one measurement a round, twice, still slow.
    expect(String(bad.stderr).match(/measuring tiny ×1 again \(re-run \d of 2\)/g)).toHaveLength(2);
    expect(String(bad.stderr)).toContain('Re-measured tiny ×1 2 time(s) (--confirm 2)');
    expect(String(bad.stderr)).toContain('2 regression(s) beyond 50% confirmed');
    const printed = String(bad.stdout)
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(printed[0]).toMatchObject({ workload: 'tiny', threads: 1 });
    expect(printed[0]!['precision']).toBeUndefined(); // the default line keeps its format
    expect(printed[1]).toMatchObject({ workload: 'tiny', threads: 1, precision: 'int8' }); // then the int8 inference line
    expect(printed[1]!['train_ms']).toBeUndefined();
    expect(printed[1]!['model_bytes']).toBeLessThan(printed[1]!['float_model_bytes'] as number);
    expect(String(bad.stderr)).toContain('2 regression(s) beyond 50%');
    const good = run('slow.jsonl');
    expect(good.status, String(good.stderr)).toBe(0);
    expect(String(good.stderr)).toContain('No regression beyond 50%');
    expect(String(good.stderr)).not.toContain('Re-measured'); // nothing to confirm
    // Baselines that cannot gate this run are refused before measuring: exit 2, the file named, nothing printed.
    writeFileSync(join(dir, 'empty.jsonl'), '');
    writeFileSync(
      join(dir, 'other.jsonl'),
      `${JSON.stringify({ workload: 'cora', threads: 1, train_ms: 5, infer_ms: 2, peak_rss_mb: 1 })}\n`,
    );
    writeFileSync(join(dir, 'cut.jsonl'), `${line(5)}\n{"workload":"tiny","thr`);
    for (const [f, why] of [
      ['empty.jsonl', /empty\.jsonl: no bench lines in it/],
      [
        'other.jsonl',
        /other\.jsonl: shares no workload and thread count with this run \(it has cora ×1; this run measures tiny ×1\)/,
      ],
      ['cut.jsonl', /cut\.jsonl:2: not a JSON line/],
    ] as const) {
      const r = run(f);
      expect(r.status, String(r.stderr)).toBe(2);
      expect(String(r.stderr)).toMatch(why);
      expect(String(r.stdout)).toBe('');
    }
    const stray = spawnSync(process.execPath, [cli, 'bench', '--workloads', workloads, '--confirm', '2'], {
      encoding: 'utf8',
    });
    expect([stray.status, String(stray.stderr)]).toEqual([
      2,
      expect.stringContaining('--confirm N re-measures regressions against a --baseline'),
    ]);
    const missing = spawnSync(
      process.execPath,
      [cli, 'bench', '--workloads', workloads, '--baseline', join(dir, 'nope.jsonl'), '--max-regression', '5'],
      { encoding: 'utf8' },
    );
    expect(missing.status).toBe(2);
    expect(String(missing.stderr)).toMatch(/nope\.jsonl: cannot read the baseline: ENOENT/);
  });
});

// The ceiling beside every scaling figure (bench/ceiling.ts): P independent one-thread
// processes of the same step at once. The arithmetic on injected timings; one real run of the
// processes' protocol on a tiny workload (times written, never asserted).
describe('the ceiling: P independent 1-thread processes', () => {
  const tiny: Workload = {
    name: 'tiny',
    graphs: 16,
    nodesPerGraph: 10,
    avgDegree: 2,
    features: 8,
    hidden: 16,
    layers: 2,
    outputs: 3,
  };

  it('is P × the lone time over the mean concurrent time, and a strategy is read as a share of it', async () => {
    expect(ceilingSpeedup(10, [12, 13])).toBeCloseTo((2 * 10) / 12.5, 12);
    expect(ceilingSpeedup(10, [10, 10, 10, 10])).toBe(4); // nothing shared: the ideal
    expect(ofCeiling(1.2, 1.6)).toBeCloseTo(0.75, 12);
    expect(() => ceilingSpeedup(0, [1])).toThrow(/positive/);
    expect(() => ceilingSpeedup(1, [1, -2])).toThrow(/positive/);
    const asked: number[] = [];
    const c = await measureCeiling({ kind: 'bench', workload: tiny, reps: 1 }, 3, async (_, n) => {
      asked.push(n);
      return n === 1 ? [9] : [10, 12, 14];
    });
    expect(asked).toEqual([1, 3]); // one alone first, then three at once
    expect(c).toEqual({ processes: 3, single_ms: 9, concurrent_ms: [10, 12, 14], speedup: (3 * 9) / 12 });
  });

  it("bench lines at P threads carry speed-up, the ceiling and the share, from this run's 1-thread line", async () => {
    const ceiling = { processes: 2, single_ms: 5, concurrent_ms: [6, 7], speedup: 10 / 6.5 };
    const lines: BenchLine[] = [];
    await runBench({
      workloads: [tiny],
      threads: [1, 2],
      reps: 1,
      onLine: (l) => lines.push(l),
      ceilings: new Map([
        [ceilingKey('tiny', undefined, 2), ceiling],
        [ceilingKey('tiny', 'batch-split/32', 2), { ...ceiling, speedup: 1.5 }],
      ]),
    });
    const one = lines.find((l) => l.threads === 1 && !l.mode && !l.precision)!;
    const two = lines.find((l) => l.threads === 2 && !l.mode && !l.precision)!;
    const split = lines.find((l) => l.threads === 2 && l.mode === 'batch-split/32')!;
    expect(one.of_ceiling).toBeUndefined();
    // The line's times are rounded to 3 decimals (±0.0005 ms) and its speed-up from the
    // unrounded ones: on this tiny workload the bounds are the honest comparison.
    const lo = (one.train_ms! - 0.0005) / (two.train_ms! + 0.0005),
      hi = (one.train_ms! + 0.0005) / (two.train_ms! - 0.0005);
    expect(two.speedup!).toBeGreaterThanOrEqual(lo - 0.0005);
    expect(two.speedup!).toBeLessThanOrEqual(hi + 0.0005);
    expect(two.ceiling_speedup).toBeCloseTo(10 / 6.5, 3);
    expect(two.of_ceiling).toBeCloseTo(two.speedup! / two.ceiling_speedup!, 2);
    expect(split.ceiling_speedup).toBe(1.5);
    expect(split.of_ceiling).toBeCloseTo(split.speedup! / 1.5, 2);
    // The lines still parse as a baseline (the gate reads them back).
    expect(parseBenchLines(lines.map((l) => JSON.stringify(l)).join('\n'), 'x').length).toBe(lines.length);
  }, 60_000);

  it("starts the processes together and reads each one's ms per step", async () => {
    const times = await runProcesses({ kind: 'bench', workload: tiny, mode: 'batch-split/32', reps: 2 }, 2);
    expect(times.length).toBe(2);
    for (const t of times) expect(t).toBeGreaterThan(0);
    await expect(runProcesses({ kind: 'bench', workload: tiny, mode: 'nonsense', reps: 1 }, 1)).rejects.toThrow(
      /process 1 of 1 failed.*unknown mode/,
    );
  }, 60_000);
});
