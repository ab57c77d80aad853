import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readJson, runGraftAsync, tempDir } from './helpers.js';
import { moleculeCsv } from './fixtures.js';
import { decodeCheckpoint } from '../src/train/checkpoint.js';

// graft sweep without a scheduler: plan a grid, run its tasks one command each (as a job
// array would), lose one to kill -9 mid-run, see it in status, run it again, merge, and get
// the results.json of a single-machine graft gp run bit for bit (apart from timing).

const SYN = join(import.meta.dirname, '..', 'data', 'synthetic-gp');
const GP = ['--geno', join(SYN, 'genotypes.csv.gz'), '--pheno', join(SYN, 'phenotypes.csv'), '--trait', 'yield,height', '--k', '3', '--models', 'gcn,gblup', '--epochs', '20', '--ensemble', '1', '--quiet'];

async function ok(args: string[], env: Record<string, string> = {}): Promise<string> {
  const r = await runGraftAsync(args, env);
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

describe('graft sweep (tasks run one command each)', () => {
  it('plan, run every task, a task killed mid-run shows as failed and runs again alone, merge equals graft gp', async () => {
    const dir = join(tempDir('graft-sweep-'), 'sw');
    const planned = JSON.parse(await ok(['sweep', 'plan', '--out', dir, '--grid', 'hidden=8,16', '--max-parallel', '3', '--', ...GP])) as { tasks: number; points: number };
    expect(planned).toMatchObject({ points: 2, tasks: 18 }); // 2 points × (gcn: 3 folds × 2 traits + gblup: 3 folds)
    const sbatch = readFileSync(join(dir, 'sweep.sbatch'), 'utf8');
    expect(sbatch).toMatch(/#SBATCH --array=0-17%3/);
    expect(sbatch).toMatch(/sweep run --dir .* --task "\$SLURM_ARRAY_TASK_ID"/);
    expect(readFileSync(join(dir, 'tasks.txt'), 'utf8').trim().split('\n')).toHaveLength(18);
    const sweep = readJson(join(dir, 'sweep.json')) as { tasks: { key: string }[] };
    const gcnTask = sweep.tasks.findIndex((t) => t.key.startsWith('gcn-'));
    // Killed at a seeded point of its training: it leaves its "running" marker, and no result.
    const killed = await runGraftAsync(['sweep', 'run', '--dir', dir, '--task', String(gcnTask)], { GRAFT_TEST_FAULT: 'kill:gemmNN:40' });
    expect(killed.status).not.toBe(0);
    const st = JSON.parse((await runGraftAsync(['sweep', 'status', '--dir', dir])).stdout) as Record<string, unknown>;
    expect(st).toMatchObject({ tasks: 18, done: 0, failed: 1, failed_tasks: [gcnTask], missing: 17 });
    const early = await runGraftAsync(['sweep', 'merge', '--dir', dir]);
    expect(early.status).toBe(1);
    expect(early.stderr).toMatch(/18 of 18 tasks are not done/);
    for (let k = 0; k < 18; k++) await ok(['sweep', 'run', '--dir', dir, '--task', String(k)]);
    expect(JSON.parse(await ok(['sweep', 'run', '--dir', dir, '--task', '0'])).status).toBe('done already');
    expect(JSON.parse((await runGraftAsync(['sweep', 'status', '--dir', dir])).stdout)).toMatchObject({ done: 18, failed: 0, running: 0, missing: 0 });
    await ok(['sweep', 'merge', '--dir', dir]);
    const single = join(dir, '..', 'gp');
    await ok(['gp', ...GP, '--hidden', '16', '--out', single]);
    const a = readJson(join(dir, 'points', 'hidden-16', 'results.json')), b = readJson(join(single, 'results.json'));
    delete a['timing']; delete b['timing'];
    expect(a).toEqual(b);
    for (const f of ['folds.csv', 'predictions.csv']) expect(readFileSync(join(dir, 'points', 'hidden-16', f), 'utf8')).toBe(readFileSync(join(single, f), 'utf8'));
    expect(existsSync(join(dir, 'sweep-results.json'))).toBe(true);
    expect(readdirSync(join(dir, 'state')).filter((f) => f.endsWith('.running'))).toEqual([]);
  });

  it('a graft train grid: one task per point, a task killed mid-run resumes from its checkpoint, each point is the graft train run bit for bit', async () => {
    const dir = join(tempDir('graft-sweep-train-'), 'sw');
    const csv = join(dir, '..', 'mols.csv');
    writeFileSync(csv, moleculeCsv(4));
    const TRAIN = ['--task', 'graph', '--data', csv, '--epochs', '6', '--hidden', '16', '--checkpoint-every', '1'];
    const planned = JSON.parse(await ok(['sweep', 'plan', '--out', dir, '--grid', 'seed=1,2', '--', 'train', ...TRAIN])) as { tasks: number; points: number };
    expect(planned).toMatchObject({ points: 2, tasks: 2 });
    expect(readFileSync(join(dir, 'sweep.sbatch'), 'utf8')).toMatch(/#SBATCH --array=0-1%32/);
    // Task 0 killed at a seeded point of its training (its 60th Adam update, in epoch 2 or 3).
    const killed = await runGraftAsync(['sweep', 'run', '--dir', dir, '--task', '0'], { GRAFT_TEST_FAULT: 'kill:adamStep:60' });
    expect(killed.status).not.toBe(0);
    const st = await runGraftAsync(['sweep', 'status', '--dir', dir]);
    expect(st.status).toBe(1); // not all done
    expect(JSON.parse(st.stdout)).toMatchObject({ done: 0, failed: 1, missing: 1, failed_tasks: [0] });
    for (const k of ['0', '1']) await ok(['sweep', 'run', '--dir', dir, '--task', k, '--threads', '2']);
    expect(JSON.parse(await ok(['sweep', 'run', '--dir', dir, '--task', '1']))).toMatchObject({ status: 'done already' });
    const merged = JSON.parse(await ok(['sweep', 'merge', '--dir', dir])) as { results: string };
    const points = (readJson(merged.results) as { points: { point: string; metrics: Record<string, number> }[] }).points;
    expect(points.map((p) => p.point)).toEqual(['seed-1', 'seed-2']);
    // The same flags run directly: the same weights and figures, bit for bit.
    const direct = join(dir, '..', 'direct');
    await ok(['train', ...TRAIN, '--seed', '1', '--threads', '1', '--out', direct, '--quiet']);
    const weights = (f: string): Record<string, string> => Object.fromEntries([...decodeCheckpoint(readFileSync(f)).tensors].filter(([k]) => k.startsWith('model.') || k.startsWith('best.')).map(([k, t]) => [k, Buffer.from(t.data.buffer).toString('base64')]));
    expect(weights(join(dir, 'points', 'seed-1', 'checkpoint.safetensors'))).toEqual(weights(join(direct, 'checkpoint.safetensors')));
    const { mean_epoch_ms: _a, snapshot_ms: _s, ...a } = points[0]!.metrics, { mean_epoch_ms: _b, threads: _t, snapshot_ms: _u, ...b } = readJson(join(direct, 'metrics.json')) as Record<string, number>;
    expect(a).toEqual(expect.objectContaining(b));
  });

  it('refuses a planned folder, a malformed grid, a task out of range and gp flags without the separator', async () => {
    const dir = join(tempDir('graft-sweep-bad-'), 'sw');
    await ok(['sweep', 'plan', '--out', dir, '--', ...GP, '--models', 'gblup']);
    expect((await runGraftAsync(['sweep', 'plan', '--out', dir, '--', ...GP])).stderr).toMatch(/already holds a sweep/);
    expect((await runGraftAsync(['sweep', 'plan', '--out', join(dir, 'x'), '--grid', 'hidden', '--', ...GP])).stderr).toMatch(/--grid "hidden": expected FLAG=V1,V2/);
    expect((await runGraftAsync(['sweep', 'run', '--dir', dir, '--task', '99'])).stderr).toMatch(/--task 99: the sweep has tasks 0\.\.2/);
    expect((await runGraftAsync(['sweep', 'plan', '--out', join(dir, 'y'), ...GP])).stderr).toMatch(/put the graft gp flags after --/);
    expect((await runGraftAsync(['sweep', 'frobnicate'])).stderr).toMatch(/expected plan, run, status or merge/);
  });
});
