import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeCheckpoint } from '../src/train/checkpoint.js';
import { moleculeCsv } from './fixtures.js';
import { tempDir } from './helpers.js';
import { mpiSkipReason, mpirun, runProcess as run } from './mpi-launch.js';
import { slurmUnavailable, startSlurm, type SlurmCluster } from './slurm-cluster.js';

// Data-parallel training over the real MPI: Debian's Open MPI (mpirun -np 4, oversubscribed
// on 2 cores, as root) and, when Slurm is there, srun --mpi=pmix on a one-node cluster of its
// real daemons. The addon is the one npm install built (scripts/build-mpi.mjs).

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist', 'src', 'cli', 'main.js');
const why = mpiSkipReason;
if (why) console.warn(`mpi.test: skipped: ${why}`);

interface Trained {
  w: number[];
  stats: { globalAverages: number; localAverages: number; bytesSent: number };
}
interface RankOut {
  rank: number;
  size: number;
  ordered: number[];
  orderedHash: number;
  plain: number[];
  mine: number[];
  sync: Trained;
  kavg1: Trained;
  kavg4: Trained;
  hier44: Trained;
  hier28: Trained;
  bmuf: Trained;
}
const rankLines = (stdout: string): RankOut[] =>
  stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as RankOut)
    .sort((a, b) => a.rank - b.rank);

function checkCollectives(out: RankOut[], np: number): void {
  expect(out.map((o) => o.rank)).toEqual(Array.from({ length: np }, (_, r) => r));
  // The ordered allreduce is the sum over ranks 0, 1, … in float32, the same bits on every rank.
  const byHand = out[0]!.mine.map((_, i) => {
    let s = out[0]!.mine[i]!;
    for (let r = 1; r < np; r++) s = Math.fround(s + out[r]!.mine[i]!);
    return s;
  });
  for (const o of out) {
    expect(o.ordered).toEqual(byHand);
    expect(o.orderedHash).toBe(out[0]!.orderedHash);
    o.plain.forEach((v, i) => {
      expect(Math.abs(v - byHand[i]!)).toBeLessThan(1e-5);
    }); // MPI's own order: close, not always the same bits
  }
}

describe.skipIf(why !== null)('MPI: the addon and the averaging algorithms', () => {
  it('mpirun -np 4: allreduce against a hand-computed sum; K-AVG with K = 1 is synchronous SGD; Hier-AVG with K1 = K2 is K-AVG bit for bit', async () => {
    const r = await mpirun(4, [process.execPath, join(root, 'test', 'mpi', 'collectives.mjs'), root]);
    expect(r.status, r.stderr).toBe(0);
    const out = rankLines(r.stdout);
    checkCollectives(out, 4);
    for (const o of out) {
      // Every rank ends with the same parameters, whatever the mode.
      for (const k of ['sync', 'kavg1', 'kavg4', 'hier44', 'hier28', 'bmuf'] as const)
        expect(o[k].w).toEqual(out[0]![k].w);
      // Averaging the parameters after every SGD step is averaging the gradients (up to rounding: (w − ηg₁ + … )/P against w − η(g₁ + …)/P).
      o.kavg1.w.forEach((v, i) => {
        expect(Math.abs(v - o.sync.w[i]!)).toBeLessThan(1e-6);
      });
      expect(o.hier44.w).toEqual(o.kavg4.w);
      expect(o.hier44.stats.localAverages).toBe(0);
      expect(o.hier28.stats).toMatchObject({ globalAverages: 2, localAverages: 5, ranksPerNode: 2 }); // 12 steps: local at 2, 4, 6, 10, 12; global at 8, and before validation
      expect(o.hier28.stats.bytesSent).toBe((5 * 1 + 2 * 3) * 6 * 4); // a local average sends to 1 other rank, a global one to 3
      expect(o.kavg4.stats.bytesSent).toBe(3 * 6 * 4 * 3); // 3 averages of 6 floats, sent to 3 other ranks
      expect(o.bmuf.w).not.toEqual(o.kavg4.w); // block momentum moves it past the plain average
    }
  });

  it('graft train --task graph under mpirun: deterministic for a fixed rank count; Hier-AVG with K1 = K2 trains as K-AVG; rank 0 alone writes the run folder', async () => {
    const dir = tempDir('graft-mpi-train-');
    writeFileSync(join(dir, 'mols.csv'), moleculeCsv(8));
    const train = (out: string, flags: string[], np = 2) =>
      mpirun(np, [
        process.execPath,
        cli,
        'train',
        '--task',
        'graph',
        '--data',
        join(dir, 'mols.csv'),
        '--epochs',
        '4',
        '--hidden',
        '16',
        '--batch-size',
        '16',
        '--threads',
        '1',
        '--quiet',
        '--out',
        join(dir, out),
        ...flags,
      ]);
    const runs = await Promise.all([
      train('a', ['--distributed', 'kavg', '--k', '2']),
      train('b', ['--distributed', 'kavg', '--k', '2']),
    ]);
    for (const r of runs) expect(r.status, r.stderr).toBe(0);
    const weights = (out: string): Map<string, Float32Array> =>
      new Map(
        [...decodeCheckpoint(readFileSync(join(dir, out, 'checkpoint.safetensors'))).tensors]
          .filter(([k]) => k.startsWith('model.'))
          .map(([k, t]) => [k, t.data as Float32Array]),
      );
    const a = weights('a'),
      b = weights('b');
    for (const [k, t] of a) expect(Buffer.from(t.buffer).equals(Buffer.from(b.get(k)!.buffer)), k).toBe(true);
    const h = await train('h', ['--distributed', 'hieravg', '--local-k', '2', '--global-k', '2']);
    expect(h.status, h.stderr).toBe(0);
    for (const [k, t] of weights('h'))
      expect(Buffer.from(t.buffer).equals(Buffer.from(a.get(k)!.buffer)), k).toBe(true);
    const line = JSON.parse(runs[0]!.stdout.trim().split('\n').pop()!) as {
      distributed: { mode: string; ranks: number; bytes_sent_per_rank: number };
    };
    expect(line.distributed).toMatchObject({ mode: 'kavg', ranks: 2 });
    expect(line.distributed.bytes_sent_per_rank).toBeGreaterThan(0);
    expect(
      runs[0]!.stdout
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('{')),
    ).toHaveLength(1); // one result line: rank 0's
    const metrics = JSON.parse(readFileSync(join(dir, 'a', 'metrics.json'), 'utf8')) as {
      train_molecules: number;
      distributed: { ranks: number };
    };
    expect(metrics.distributed.ranks).toBe(2);
    expect(metrics.train_molecules).toBe(Math.floor(metrics.train_molecules)); // this rank's shard
    const s = await train('s', ['--distributed', 'sync']);
    expect(s.status, s.stderr).toBe(0);
    const m4 = await train(
      'm4',
      ['--distributed', 'hieravg', '--local-k', '1', '--global-k', '4', '--ranks-per-node', '2'],
      4,
    );
    expect(m4.status, m4.stderr).toBe(0);
  });

  it('graft train (node task) under mpirun: one rank is single-process training bit for bit; two ranks train on their parts, deterministically, validating every K epochs', async () => {
    const dir = tempDir('graft-mpi-nodes-');
    const common = [
      'train',
      '--dataset',
      'synthetic',
      '--epochs',
      '30',
      '--patience',
      '0',
      '--threads',
      '1',
      '--quiet',
    ];
    const node = (out: string, np: number, flags: string[]) =>
      np === 0
        ? run(process.execPath, [cli, ...common, '--out', join(dir, out), ...flags])
        : mpirun(np, [process.execPath, cli, ...common, '--out', join(dir, out), ...flags]);
    const weights = (out: string): Map<string, Float32Array> =>
      new Map(
        [...decodeCheckpoint(readFileSync(join(dir, out, 'checkpoint.safetensors'))).tensors]
          .filter(([k]) => k.startsWith('model.'))
          .map(([k, t]) => [k, t.data as Float32Array]),
      );
    const metrics = (out: string) =>
      JSON.parse(readFileSync(join(dir, out, 'metrics.json'), 'utf8')) as {
        test_accuracy: number;
        distributed?: { parts: number; cut_edges: number; edges: number; globalAverages: number };
      };
    const [one, single] = await Promise.all([node('one', 1, ['--distributed', 'sync']), node('single', 0, [])]);
    expect(one.status, one.stderr).toBe(0);
    expect(single.status, single.stderr).toBe(0);
    const w1 = weights('one'),
      ws = weights('single');
    expect([...w1.keys()]).toEqual([...ws.keys()]);
    for (const [k, t] of w1) expect(Buffer.from(t.buffer).equals(Buffer.from(ws.get(k)!.buffer)), k).toBe(true);
    expect(metrics('one').test_accuracy).toBe(metrics('single').test_accuracy);
    expect(metrics('one').distributed).toMatchObject({ parts: 1, cut_edges: 0 });

    const [a, b] = await Promise.all([
      node('a', 2, ['--distributed', 'kavg', '--k', '3']),
      node('b', 2, ['--distributed', 'kavg', '--k', '3']),
    ]);
    for (const r of [a, b]) expect(r.status, r.stderr).toBe(0);
    for (const [k, t] of weights('a'))
      expect(Buffer.from(t.buffer).equals(Buffer.from(weights('b').get(k)!.buffer)), k).toBe(true);
    expect(
      a.stdout
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('{')),
    ).toHaveLength(1); // one result line: rank 0's
    const m = metrics('a');
    expect(m.distributed).toMatchObject({ parts: 2, globalAverages: 10 }); // epochs 3, 6, …, 30
    expect(m.distributed!.cut_edges).toBeGreaterThan(0);
    expect(m.distributed!.cut_edges).toBeLessThan(m.distributed!.edges);
    // Validation only where the ranks agree (every K epochs and the last), with the same figures on every rank.
    const hist = JSON.parse(readFileSync(join(dir, 'a', 'epochs.json'), 'utf8')) as {
      epoch: number;
      val_accuracy: number | null;
    }[];
    expect(hist.filter((h) => h.val_accuracy !== null).map((h) => h.epoch)).toEqual([
      3, 6, 9, 12, 15, 18, 21, 24, 27, 30,
    ]);
    // The planted partition is easy: trained on halves with the cut edges dropped, it is still far above chance (0.2).
    expect(m.test_accuracy).toBeGreaterThan(0.6);
  });

  it('a rank that dies stops the others with a message, and the last checkpoint stays intact', async () => {
    const dir = tempDir('graft-mpi-fault-');
    writeFileSync(join(dir, 'mols.csv'), moleculeCsv(8));
    // Rank 1 throws in its 120th Adam update (epoch 3: 5 steps × 8 parameters an epoch); rank 0 checkpoints every epoch.
    const script = `if [ "$OMPI_COMM_WORLD_RANK" = 1 ]; then export GRAFT_TEST_FAULT=throw:adamStep:120; fi; exec "${process.execPath}" "${cli}" "$@"`;
    const r = await mpirun(2, [
      'sh',
      '-c',
      script,
      'graft',
      'train',
      '--task',
      'graph',
      '--data',
      join(dir, 'mols.csv'),
      '--epochs',
      '30',
      '--hidden',
      '16',
      '--batch-size',
      '16',
      '--threads',
      '1',
      '--checkpoint-every',
      '1',
      '--quiet',
      '--out',
      join(dir, 'run'),
      '--distributed',
      'kavg',
      '--k',
      '2',
    ]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/graft train: rank 1 of 2 failed: .*injected fault.*; stopping every rank/);
    const cp = decodeCheckpoint(readFileSync(join(dir, 'run', 'checkpoint.safetensors')));
    expect(Number(cp.metadata['epoch'])).toBeGreaterThanOrEqual(1);
    expect(existsSync(join(dir, 'run', 'metrics.json'))).toBe(false); // the run did not finish
  });
});

const slurmWhy = why ?? slurmUnavailable();
describe.skipIf(slurmWhy !== null)('MPI under Slurm: srun --mpi=pmix', () => {
  let cluster: SlurmCluster;
  beforeAll(async () => {
    cluster = await startSlurm(tempDir('graft-slurm-mpi-'));
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('srun --mpi=pmix -n 2 launches the same collectives job', async () => {
    const r = await run(
      'srun',
      [
        '--mpi=pmix',
        '-n',
        '2',
        '--oversubscribe',
        process.execPath,
        join(root, 'test', 'mpi', 'collectives.mjs'),
        root,
      ],
      cluster.env,
    );
    expect(r.status, r.stderr).toBe(0);
    const out = rankLines(r.stdout);
    checkCollectives(out, 2);
    for (const o of out) expect(o.kavg4.w).toEqual(out[0]!.kavg4.w);
  });
});
if (slurmWhy !== null && why === null) console.warn(`mpi.test: srun --mpi=pmix skipped: ${slurmWhy}`);
