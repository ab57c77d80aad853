import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../src/core/paths.js';
import { tempDir } from './helpers.js';

// `graft scaling` (the founding study's experiment) at a small size: every strategy at 1 and
// 2 threads, the report files, and the point of the design: accuracy does not move with the
// number of threads. Timings are written, never asserted.
describe('graft scaling', () => {
  it('writes scaling.md, scaling.json and speedup.svg; each strategy reaches the same accuracy at 1 and 2 threads', () => {
    const out = join(tempDir('graft-scaling-'), 'run');
    const r = spawnSync(process.execPath, [join(packageRoot(), 'dist', 'src', 'cli', 'main.js'), 'scaling', '--threads', '1,2', '--epochs', '8', '--molecules', '96', '--out', out, '--quiet'],
      { encoding: 'utf8', timeout: 240_000 });
    expect(r.status, r.stderr).toBe(0);
    for (const f of ['scaling.md', 'scaling.json', 'speedup.svg']) expect(existsSync(join(out, f)), f).toBe(true);
    const res = JSON.parse(readFileSync(join(out, 'scaling.json'), 'utf8')) as { rows: { task: string; strategy: string; threads: number; value: number; ms_per_epoch: number }[] };
    const strategies = new Set(res.rows.map((x) => `${x.task} ${x.strategy}`));
    for (const s of ['genomic serial', 'genomic intra-op', 'genomic replicas', 'molecules serial', 'molecules intra-op', 'molecules batch-split']) expect(strategies.has(s), s).toBe(true);
    for (const s of strategies) {
      const rows = res.rows.filter((x) => `${x.task} ${x.strategy}` === s);
      for (const row of rows) {
        expect(row.ms_per_epoch).toBeGreaterThan(0);
        expect(row.value, `${s} ×${row.threads}`).toBe(rows[0]!.value);
      }
    }
    expect(readFileSync(join(out, 'speedup.svg'), 'utf8')).toContain('stroke-dasharray');
  }, 300_000);
});
