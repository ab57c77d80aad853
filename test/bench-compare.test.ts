import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareBench, comparisonTable, parseBenchLines } from '../src/bench/compare.js';
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
    const int8 = (ms: number): string => JSON.stringify({ workload: 'cora', threads: 1, precision: 'int8', infer_ms: ms, float_infer_ms: 4, model_bytes: 10, float_model_bytes: 40, peak_rss_mb: 1 });
    const float = JSON.stringify({ workload: 'cora', threads: 1, train_ms: 10, infer_ms: 4, peak_rss_mb: 1 });
    const c = compareBench(parseBenchLines(`${float}\n${int8(2)}\n`, 'a'), parseBenchLines(`${float}\n${int8(3)}\n`, 'b'), 10);
    expect(c.changes.map((x) => `${x.key} ${x.metric} ${x.changePct.toFixed(0)}`)).toEqual(['cora ×1 train_ms 0', 'cora ×1 infer_ms 0', 'cora ×1 int8 infer_ms 50']);
    expect(c.regressions).toBe(1);
    expect(() => parseBenchLines(JSON.stringify({ workload: 'cora', threads: 1, infer_ms: 1 }), 'c.jsonl')).toThrow(/c\.jsonl:1: a bench line needs workload, threads, train_ms/);
  });

  it('names the file and line of a broken baseline', () => {
    expect(() => parseBenchLines('{"workload":"cora","threads":1,"train_ms":1,"infer_ms":1}\n{"workload": ', 'b.jsonl')).toThrow(/^b\.jsonl:2: not a JSON line/);
    expect(() => parseBenchLines('{"workload":"cora","threads":1}', 'b.jsonl')).toThrow('b.jsonl:1: a bench line needs workload, threads, train_ms and infer_ms');
    expect(() => compareBench([], [], -1)).toThrow(/non-negative/);
  });

  it('graft bench --baseline exits 3 on a regression and 0 within the bound (a tiny workload, absurd baselines)', () => {
    const dir = tempDir('graft-bench-');
    const workloads = join(dir, 'w.json');
    writeFileSync(workloads, JSON.stringify({ workloads: [{ name: 'tiny', nodes: 64, avgDegree: 3, features: 8, hidden: 8, layers: 2, outputs: 2 }] }));
    const line = (ms: number): string => JSON.stringify({ workload: 'tiny', threads: 1, train_ms: ms, infer_ms: ms, peak_rss_mb: 1 });
    writeFileSync(join(dir, 'fast.jsonl'), line(1e-6) + '\n'); // nothing runs in a picosecond
    writeFileSync(join(dir, 'slow.jsonl'), line(1e9) + '\n');   // everything beats a 12-day epoch
    const cli = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
    const run = (baseline: string): ReturnType<typeof spawnSync> => spawnSync(process.execPath,
      [cli, 'bench', '--workloads', workloads, '--threads', '1', '--reps', '1', '--baseline', join(dir, baseline), '--max-regression', '50'], { encoding: 'utf8' });
    const bad = run('fast.jsonl');
    expect(bad.status, String(bad.stderr)).toBe(3);
    const printed = String(bad.stdout).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(printed[0]).toMatchObject({ workload: 'tiny', threads: 1 });
    expect(printed[0]!['precision']).toBeUndefined(); // the default line keeps its format
    expect(printed[1]).toMatchObject({ workload: 'tiny', threads: 1, precision: 'int8' }); // then the int8 inference line
    expect(printed[1]!['train_ms']).toBeUndefined();
    expect(printed[1]!['model_bytes']).toBeLessThan(printed[1]!['float_model_bytes'] as number);
    expect(String(bad.stderr)).toContain('2 regression(s) beyond 50%');
    const good = run('slow.jsonl');
    expect(good.status, String(good.stderr)).toBe(0);
    expect(String(good.stderr)).toContain('No regression beyond 50%');
    const missing = spawnSync(process.execPath, [cli, 'bench', '--workloads', workloads, '--baseline', join(dir, 'nope.jsonl'), '--max-regression', '5'], { encoding: 'utf8' });
    expect(missing.status).toBe(2);
    expect(String(missing.stderr)).toMatch(/nope\.jsonl: cannot read the baseline: ENOENT/);
  });
});
