import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readJson, runGraftAsync, tempDir } from './helpers.js';
import { moleculeCsv } from './fixtures.js';
import { decodeCheckpoint } from '../src/train/checkpoint.js';
import { sbatchWords } from './sbatch-parse.js';
import { slurmUnavailable, startSlurm } from './slurm-cluster.js';

// graft sweep without a scheduler: plan a grid, run its tasks one command each (as a job
// array would), lose one to kill -9 mid-run, see it in status, run it again, merge, and get
// the results.json of a single-machine graft gp run bit for bit (apart from timing).

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
  '20',
  '--ensemble',
  '1',
  '--quiet',
];

async function ok(args: string[], env: Record<string, string> = {}): Promise<string> {
  const r = await runGraftAsync(args, env);
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

describe('graft sweep (tasks run one command each)', () => {
  it('plan, run every task, a task killed mid-run shows as failed and runs again alone, merge equals graft gp', async () => {
    const dir = join(tempDir('graft-sweep-'), 'sw');
    const planned = JSON.parse(
      await ok(['sweep', 'plan', '--out', dir, '--grid', 'hidden=8,16', '--max-parallel', '3', '--', ...GP]),
    ) as { tasks: number; points: number };
    expect(planned).toMatchObject({ points: 2, tasks: 18 }); // 2 points × (gcn: 3 folds × 2 traits + gblup: 3 folds)
    const sbatch = readFileSync(join(dir, 'sweep.sbatch'), 'utf8');
    expect(sbatch).toMatch(/#SBATCH --array=0-17%3/);
    expect(sbatch).toMatch(/sweep run --dir .* --task "\$SLURM_ARRAY_TASK_ID"/);
    expect(readFileSync(join(dir, 'tasks.txt'), 'utf8').trim().split('\n')).toHaveLength(18);
    const sweep = readJson(join(dir, 'sweep.json')) as { tasks: { key: string }[] };
    const gcnTask = sweep.tasks.findIndex((t) => t.key.startsWith('gcn-'));
    // Killed at a seeded point of its training: it leaves its "running" marker, and no result.
    const killed = await runGraftAsync(['sweep', 'run', '--dir', dir, '--task', String(gcnTask)], {
      GRAFT_TEST_FAULT: 'kill:gemmNN:40',
    });
    expect(killed.status).not.toBe(0);
    const st = JSON.parse((await runGraftAsync(['sweep', 'status', '--dir', dir])).stdout) as Record<string, unknown>;
    expect(st).toMatchObject({ tasks: 18, done: 0, failed: 1, failed_tasks: [gcnTask], missing: 17 });
    const early = await runGraftAsync(['sweep', 'merge', '--dir', dir]);
    expect(early.status).toBe(1);
    expect(early.stderr).toMatch(/18 of 18 tasks are not done/);
    for (let k = 0; k < 18; k++) await ok(['sweep', 'run', '--dir', dir, '--task', String(k)]);
    expect(JSON.parse(await ok(['sweep', 'run', '--dir', dir, '--task', '0'])).status).toBe('done already');
    expect(JSON.parse((await runGraftAsync(['sweep', 'status', '--dir', dir])).stdout)).toMatchObject({
      done: 18,
      failed: 0,
      running: 0,
      missing: 0,
    });
    await ok(['sweep', 'merge', '--dir', dir]);
    const single = join(dir, '..', 'gp');
    await ok(['gp', ...GP, '--hidden', '16', '--out', single]);
    const a = readJson(join(dir, 'points', 'hidden-16', 'results.json')),
      b = readJson(join(single, 'results.json'));
    delete a['timing'];
    delete b['timing'];
    expect(a).toEqual(b);
    for (const f of ['folds.csv', 'predictions.csv'])
      expect(readFileSync(join(dir, 'points', 'hidden-16', f), 'utf8')).toBe(readFileSync(join(single, f), 'utf8'));
    expect(existsSync(join(dir, 'sweep-results.json'))).toBe(true);
    expect(readdirSync(join(dir, 'state')).filter((f) => f.endsWith('.running'))).toEqual([]);
  });

  it('a graft train grid: one task per point, a task killed mid-run resumes from its checkpoint, each point is the graft train run bit for bit', async () => {
    const dir = join(tempDir('graft-sweep-train-'), 'sw');
    const csv = join(dir, '..', 'mols.csv');
    writeFileSync(csv, moleculeCsv(4));
    const TRAIN = ['--task', 'graph', '--data', csv, '--epochs', '6', '--hidden', '16', '--checkpoint-every', '1'];
    const planned = JSON.parse(
      await ok(['sweep', 'plan', '--out', dir, '--grid', 'seed=1,2', '--', 'train', ...TRAIN]),
    ) as { tasks: number; points: number };
    expect(planned).toMatchObject({ points: 2, tasks: 2 });
    expect(readFileSync(join(dir, 'sweep.sbatch'), 'utf8')).toMatch(/#SBATCH --array=0-1%32/);
    // Task 0 killed at a seeded point of its training (its 60th Adam update, in epoch 2 or 3).
    const killed = await runGraftAsync(['sweep', 'run', '--dir', dir, '--task', '0'], {
      GRAFT_TEST_FAULT: 'kill:adamStep:60',
    });
    expect(killed.status).not.toBe(0);
    const st = await runGraftAsync(['sweep', 'status', '--dir', dir]);
    expect(st.status).toBe(1); // not all done
    expect(JSON.parse(st.stdout)).toMatchObject({ done: 0, failed: 1, missing: 1, failed_tasks: [0] });
    for (const k of ['0', '1']) await ok(['sweep', 'run', '--dir', dir, '--task', k, '--threads', '2']);
    expect(JSON.parse(await ok(['sweep', 'run', '--dir', dir, '--task', '1']))).toMatchObject({
      status: 'done already',
    });
    const merged = JSON.parse(await ok(['sweep', 'merge', '--dir', dir])) as { results: string };
    const points = (readJson(merged.results) as { points: { point: string; metrics: Record<string, number> }[] })
      .points;
    expect(points.map((p) => p.point)).toEqual(['seed-1', 'seed-2']);
    // The same flags run directly: the same weights and figures, bit for bit.
    const direct = join(dir, '..', 'direct');
    await ok(['train', ...TRAIN, '--seed', '1', '--threads', '1', '--out', direct, '--quiet']);
    const weights = (f: string): Record<string, string> =>
      Object.fromEntries(
        [...decodeCheckpoint(readFileSync(f)).tensors]
          .filter(([k]) => k.startsWith('model.') || k.startsWith('best.'))
          .map(([k, t]) => [k, Buffer.from(t.data.buffer).toString('base64')]),
      );
    expect(weights(join(dir, 'points', 'seed-1', 'checkpoint.safetensors'))).toEqual(
      weights(join(direct, 'checkpoint.safetensors')),
    );
    const { mean_epoch_ms: _a, snapshot_ms: _s, ...a } = points[0]!.metrics,
      {
        mean_epoch_ms: _b,
        threads: _t,
        snapshot_ms: _u,
        ...b
      } = readJson(join(direct, 'metrics.json')) as Record<string, number>;
    expect(a).toEqual(expect.objectContaining(b));
  });

  it('refuses a planned folder, a malformed grid, a task out of range and gp flags without the separator', async () => {
    const dir = join(tempDir('graft-sweep-bad-'), 'sw');
    await ok(['sweep', 'plan', '--out', dir, '--', ...GP, '--models', 'gblup']);
    expect((await runGraftAsync(['sweep', 'plan', '--out', dir, '--', ...GP])).stderr).toMatch(/already holds a sweep/);
    expect(
      (await runGraftAsync(['sweep', 'plan', '--out', join(dir, 'x'), '--grid', 'hidden', '--', ...GP])).stderr,
    ).toMatch(/--grid "hidden": expected FLAG=V1,V2/);
    expect((await runGraftAsync(['sweep', 'run', '--dir', dir, '--task', '99'])).stderr).toMatch(
      /--task 99: the sweep has tasks 0\.\.2/,
    );
    expect((await runGraftAsync(['sweep', 'plan', '--out', join(dir, 'y'), ...GP])).stderr).toMatch(
      /put the graft gp flags after --/,
    );
    expect((await runGraftAsync(['sweep', 'frobnicate'])).stderr).toMatch(/expected plan, run, status or merge/);
  });

  it('a folder named with a space, quotes, $(…), backticks and % reaches graft as one argument from sweep.sbatch, tasks.txt and every printed command, and runs nothing', async () => {
    const base = tempDir('graft-sweep-quote-');
    const dir = join(base, `sw it's "q" $(touch x) \`touch y\` 50%a`);
    const planned = JSON.parse(await ok(['sweep', 'plan', '--out', dir, '--', ...GP, '--models', 'gblup'])) as {
      dir: string;
      tasks: number;
      submit: string;
    };
    expect(planned).toMatchObject({ dir, tasks: 3 });
    const sbatch = readFileSync(join(dir, 'sweep.sbatch'), 'utf8'),
      tasks = readFileSync(join(dir, 'tasks.txt'), 'utf8').trim().split('\n');
    expect(tasks).toHaveLength(3);
    // Commands run from an empty folder with fakes of graft and sbatch first on PATH, which
    // write their argv NUL-separated; any $(touch x) or `touch y` that ran leaves a file.
    const cwd = join(base, 'cwd'),
      bin = join(base, 'bin'),
      argvFile = join(base, 'argv');
    mkdirSync(cwd);
    mkdirSync(bin);
    for (const f of ['graft', 'sbatch']) {
      writeFileSync(join(bin, f), `#!/bin/sh\nprintf '%s\\0' "$(basename "$0")" "$@" > '${argvFile}'\n`);
      chmodSync(join(bin, f), 0o755);
    }
    const bash = async (args: string[], env: Record<string, string> = {}): Promise<string[]> => {
      const child = spawn('bash', args, {
        cwd,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, PATH: `${bin}:${process.env['PATH']}`, ...env },
      });
      let err = '';
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
      });
      const code = await new Promise<number | null>((r) => child.on('close', r));
      expect(code, err).toBe(0);
      return existsSync(argvFile) ? readFileSync(argvFile, 'utf8').split('\0').slice(0, -1) : [];
    };
    // bash parses the whole script; the sbatch hint and the status/merge hints pass the exact path.
    await bash(['-n', join(dir, 'sweep.sbatch')]);
    expect(await bash(['-c', planned.submit])).toEqual(['sbatch', join(dir, 'sweep.sbatch')]);
    const hint = /^# {3}(graft sweep status .*) {3}and {3}(graft sweep merge .*)$/m.exec(sbatch)!;
    expect(await bash(['-c', hint[1]!])).toEqual(['graft', 'sweep', 'status', '--dir', dir]);
    expect(await bash(['-c', hint[2]!])).toEqual(['graft', 'sweep', 'merge', '--dir', dir]);
    // Slurm's own reading of the --output line: one word, the folder's % doubled (a literal).
    const output = sbatch.split('\n').find((l) => l.startsWith('#SBATCH --output'))!;
    expect(sbatchWords(output)).toEqual([`--output=${join(dir, 'logs').replaceAll('%', '%%')}/task-%a.out`]);
    // The real commands, run as a scheduler would: a line of tasks.txt, and the array script as task 1.
    await bash(['-c', tasks[0]!]);
    await bash([join(dir, 'sweep.sbatch')], { SLURM_ARRAY_TASK_ID: '1' });
    const st = JSON.parse((await runGraftAsync(['sweep', 'status', '--dir', dir])).stdout) as Record<string, unknown>;
    expect(st).toMatchObject({ dir, done: 2, missing: 1, missing_tasks: [2] });
    expect(readdirSync(cwd)).toEqual([]);
    expect(readdirSync(base).sort()).toEqual(['argv', 'bin', 'cwd', `sw it's "q" $(touch x) \`touch y\` 50%a`]);
    // A line break cannot be carried: refused, naming the folder, before anything is written.
    const nl = await runGraftAsync([
      'sweep',
      'plan',
      '--out',
      join(base, 'two\nlines'),
      '--',
      ...GP,
      '--models',
      'gblup',
    ]);
    expect(nl.status).toBe(2);
    expect(nl.stderr).toMatch(/--out ".*two\\nlines" holds a line break/);
    expect(existsSync(join(base, 'two\nlines'))).toBe(false);
  });
});

// The same hostile folder through Slurm's own sbatch (where slurm-wlm is installed and this is root).
const noSlurm = slurmUnavailable();
describe.skipIf(noSlurm !== null)('graft sweep on a one-node Slurm cluster, hostile folder name', () => {
  it("sbatch reads the quoted --output and the tasks run: every task done, one log per task in the folder's logs/", async () => {
    const base = tempDir('graft-sweep-slurm-quote-');
    const cluster = await startSlurm(join(base, 'cluster'));
    try {
      const dir = join(base, `sw it's "q" $(touch x) \`touch y\` #1 50%a`);
      await ok(['sweep', 'plan', '--out', dir, '--', ...GP, '--models', 'gblup']);
      cluster.run('sbatch', ['--parsable', join(dir, 'sweep.sbatch')]);
      const end = Date.now() + 60_000;
      while (cluster.run('squeue', ['-h']).trim() !== '') {
        if (Date.now() > end) throw new Error(`jobs still queued:\n${cluster.run('squeue', [])}`);
        await new Promise((r) => setTimeout(r, 300));
      }
      expect(JSON.parse((await runGraftAsync(['sweep', 'status', '--dir', dir])).stdout)).toMatchObject({
        done: 3,
        failed: 0,
        missing: 0,
      });
      expect(readdirSync(join(dir, 'logs')).sort()).toEqual(['task-0.out', 'task-1.out', 'task-2.out']);
      expect(readdirSync(base).filter((f) => f === 'x' || f === 'y')).toEqual([]);
    } finally {
      await cluster.stop();
    }
  }, 120_000);
});
