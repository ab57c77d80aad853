import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson, runGraftAsync, tempDir } from './helpers.js';
import { slurmUnavailable, startSlurm, type SlurmCluster } from './slurm-cluster.js';

// A graft gp sweep through Slurm's own engine: a one-node cluster of the real daemons,
// `sbatch --array` over the sweep's tasks, one task killed mid-run with scancel and run again
// alone, then merged: the results of a single-machine graft gp run, bit for bit.

const why = slurmUnavailable();
if (why) console.warn(`slurm.test: skipped: ${why}`);

const SYN = join(import.meta.dirname, '..', 'data', 'synthetic-gp');
const GP = [
  '--geno',
  join(SYN, 'genotypes.csv.gz'),
  '--pheno',
  join(SYN, 'phenotypes.csv'),
  '--trait',
  'yield,height',
  '--k',
  '3',
  '--models',
  'gcn,gblup',
  '--epochs',
  '150',
  '--patience',
  '0',
  '--ensemble',
  '1',
  '--quiet',
];

describe.skipIf(why !== null)('graft sweep on a one-node Slurm cluster', () => {
  let cluster: SlurmCluster;
  beforeAll(async () => {
    cluster = await startSlurm(tempDir('graft-slurm-'));
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  const idle = async (ms: number): Promise<void> => {
    const end = Date.now() + ms;
    while (cluster.run('squeue', ['-h']).trim() !== '') {
      if (Date.now() > end) throw new Error(`jobs still queued after ${ms / 1000} s:\n${cluster.run('squeue', [])}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  };

  it('sbatch --array runs the tasks; a task cancelled mid-run is listed, re-runs alone, and merge equals graft gp', async () => {
    const dir = join(tempDir('graft-slurm-sweep-'), 'sw');
    const plan = await runGraftAsync(['sweep', 'plan', '--out', dir, '--max-parallel', '2', '--', ...GP]);
    expect(plan.status, plan.stderr).toBe(0);
    const job = cluster.run('sbatch', ['--parsable', join(dir, 'sweep.sbatch')]).trim();
    // Cancel the first GCN task once it runs (the GCN tasks come first and take longest).
    const end = Date.now() + 60_000;
    let victim = '';
    while (!victim && Date.now() < end) {
      const running = cluster
        .run('squeue', ['-h', '-t', 'R', '-j', job, '-o', '%K'])
        .trim()
        .split('\n')
        .filter(Boolean);
      if (running.length) victim = running[0]!;
      else await new Promise((r) => setTimeout(r, 100));
    }
    expect(victim, 'a task started').not.toBe('');
    await new Promise((r) => setTimeout(r, 400)); // mid-run
    cluster.run('scancel', ['--signal=KILL', `${job}_${victim}`]);
    await idle(120_000);
    const status = async (): Promise<Record<string, unknown>> =>
      JSON.parse((await runGraftAsync(['sweep', 'status', '--dir', dir])).stdout) as Record<string, unknown>;
    const after = await status();
    expect(after['done']).toBe(8);
    expect([...(after['failed_tasks'] as number[]), ...(after['missing_tasks'] as number[])]).toEqual([Number(victim)]);
    const merged = await runGraftAsync(['sweep', 'merge', '--dir', dir]);
    expect(merged.status).toBe(1);
    expect(merged.stderr).toMatch(new RegExp(`\\b${victim} \\(base gcn-`));
    // The one task again, alone.
    cluster.run('sbatch', ['--parsable', `--array=${victim}`, join(dir, 'sweep.sbatch')]);
    await idle(120_000);
    expect(await status()).toMatchObject({ done: 9, failed: 0, missing: 0, running: 0 });
    const m = await runGraftAsync(['sweep', 'merge', '--dir', dir]);
    expect(m.status, m.stderr).toBe(0);
    const single = join(dir, '..', 'gp');
    const g = await runGraftAsync(['gp', ...GP, '--out', single]);
    expect(g.status, g.stderr).toBe(0);
    const a = readJson(join(dir, 'points', 'base', 'results.json')),
      b = readJson(join(single, 'results.json'));
    delete a['timing'];
    delete b['timing'];
    expect(a).toEqual(b);
  }, 300_000);
});
