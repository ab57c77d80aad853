import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { genomicPlacementNote } from '../src/cli/commands/scaling.js';
import { packageRoot } from '../src/core/paths.js';
import { tempDir } from './helpers.js';

// `graft scaling` (the founding study's experiment) at a small size: every strategy at 1 and
// 2 threads, the report files, and the point of the design: accuracy does not move with the
// number of threads. Timings are written, never asserted.
const execFileAsync = promisify(execFile);

describe('graft scaling', () => {
  it('writes scaling.md, scaling.json and speedup.svg; each strategy reaches the same accuracy at 1 and 2 threads', async () => {
    const out = join(tempDir('graft-scaling-'), 'run');
    // Asynchronously: a synchronous spawn of minutes would starve the test runner's own messages.
    await execFileAsync(
      process.execPath,
      [
        join(packageRoot(), 'dist', 'src', 'cli', 'main.js'),
        'scaling',
        '--threads',
        '1,2',
        '--epochs',
        '8',
        '--molecules',
        '96',
        '--out',
        out,
        '--quiet',
      ],
      { encoding: 'utf8', timeout: 280_000 },
    );
    for (const f of ['scaling.md', 'scaling.json', 'speedup.svg']) expect(existsSync(join(out, f)), f).toBe(true);
    const res = JSON.parse(readFileSync(join(out, 'scaling.json'), 'utf8')) as {
      rows: {
        task: string;
        strategy: string;
        threads: number;
        value: number;
        ms_per_epoch: number;
        speedup: number;
        of_ceiling?: number;
      }[];
    };
    // The ceiling (2 independent one-thread processes at once) per task, measured in this run,
    // and every strategy at 2 threads read against it: its speed-up over the ceiling's.
    for (const task of ['genomic', 'molecules']) {
      const ceiling = res.rows.find((x) => x.task === task && x.strategy === 'ceiling (2 processes)');
      expect(ceiling, task).toBeDefined();
      expect(ceiling!.speedup).toBeGreaterThan(0);
      const at2 = res.rows.filter((x) => x.task === task && x.threads === 2 && !x.strategy.startsWith('ceiling'));
      expect(at2.length).toBeGreaterThan(0);
      for (const r of at2) expect(r.of_ceiling, `${task} ${r.strategy}`).toBeCloseTo(r.speedup / ceiling!.speedup, 9);
    }
    expect(readFileSync(join(out, 'scaling.md'), 'utf8')).toContain('| of ceiling |');
    const strategies = new Set(res.rows.map((x) => `${x.task} ${x.strategy}`));
    for (const s of [
      'genomic serial',
      'genomic intra-op',
      'genomic replicas',
      'molecules serial',
      'molecules intra-op',
      'molecules batch-split',
    ])
      expect(strategies.has(s), s).toBe(true);
    for (const s of [...strategies].filter((x) => !x.includes('ceiling'))) {
      const rows = res.rows.filter((x) => `${x.task} ${x.strategy}` === s);
      for (const row of rows) {
        expect(row.ms_per_epoch).toBeGreaterThan(0);
        expect(row.value, `${s} ×${row.threads}`).toBe(rows[0]!.value);
      }
    }
    expect(readFileSync(join(out, 'speedup.svg'), 'utf8')).toContain('stroke-dasharray');
  }, 300_000);

  it("a genomic row's note: how many member fits ran each placement, and each placement's median trial ms per epoch", () => {
    const fits = [
      { mode: 'serial', inlineMs: 1, serialMs: 0.5 },
      { mode: 'serial', inlineMs: 3, serialMs: 0.75 },
      null, // a fit that held no trial
      { mode: 'inline', inlineMs: 0.5, serialMs: 1 },
    ];
    // Medians by hand: inline of 1, 3, 0.5 is 1; serial of 0.5, 0.75, 1 is 0.75.
    expect(genomicPlacementNote('epochs', fits)).toBe(
      'epochs placed on serial ×2, inline ×1 of 4 member fits (trial ms/epoch, median over the fits: inline 1.00, serial 0.75)',
    );
    expect(
      genomicPlacementNote('branches', [
        { mode: 'workers', workersMs: 2, inlineMs: 4, serialMs: 3 },
        { mode: 'serial', workersMs: 4, inlineMs: 6, serialMs: 1 },
      ]),
    ).toBe(
      'branches placed on workers ×1, serial ×1 of 2 member fits (trial ms/epoch, median over the fits: workers 3.00, inline 5.00, serial 2.00)',
    );
    expect(genomicPlacementNote('epochs', [null, null])).toBeUndefined();
  });
});
