import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { topkCount } from '../src/distributed/topk-sync.js';
import { writeSyntheticStore } from '../src/store/synthetic.js';
import { decodeCheckpoint } from '../src/train/checkpoint.js';
import { bitsEqual, tempDir } from './helpers.js';
import { type Finished, mpiSkipReason, mpirun, runProcess } from './mpi-launch.js';

// Sampled training across MPI ranks (issue 29), under Debian's Open MPI as test/mpi.test.ts
// runs it: one rank is single-process training bit for bit; two ranks of batch B are one
// process of batch 2B (up to the order of float32 sums); --compress topk:1 is plain sync bit
// for bit; a sync run stopped and resumed is the run never stopped, bit for bit; topk:0.05
// still trains, sending the bytes the formula says; a Cluster-GCN epoch whose batches do not
// divide among the ranks (a rank sits the last step out) finishes. The plain-process runs
// also guard the prefetch fix: before it, graft train exited 0 mid-epoch with no checkpoint.

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist', 'src', 'cli', 'main.js');
const why = mpiSkipReason;
if (why) console.warn(`sampled-distributed.test: skipped: ${why}`);

/** graft under mpirun -np P (P = 0: a plain process). */
function graft(np: number, args: string[]): Promise<Finished> {
  return np === 0 ? runProcess(process.execPath, [cli, ...args]) : mpirun(np, [process.execPath, cli, ...args]);
}

describe.skipIf(why !== null)('graft train --sampler under mpirun', () => {
  it('one rank = one process bit for bit; 2 ranks of batch B = 1 process of batch 2B up to rounding; topk:1 = sync bit for bit; stop and --resume = straight; topk:0.05 trains and sends its share', async () => {
    const dir = tempDir('graft-mpi-sampled-');
    const store = join(dir, 'small.graftstore');
    // 2,000 nodes, 400 training nodes, 5 planted classes (chance 0.2).
    writeSyntheticStore(store, { nodes: 2000, edges: 8000, features: 24, classes: 5, split: [400, 400, 1200] });
    const weights = (out: string): Map<string, Float32Array> =>
      new Map(
        [...decodeCheckpoint(readFileSync(join(dir, out, 'checkpoint.safetensors'))).tensors]
          .filter(([k]) => k.startsWith('model.'))
          .map(([k, t]) => [k, t.data as Float32Array]),
      );
    const sameBits = (a: string, b: string): void => {
      const wa = weights(a),
        wb = weights(b);
      expect([...wa.keys()]).toEqual([...wb.keys()]);
      for (const [k, t] of wa) expect(bitsEqual(t, wb.get(k)!), `${a} vs ${b}: ${k}`).toBe(true);
    };
    const common = ['train', '--store', store, '--sampler', 'neighbor', '--hidden', '16', '--threads', '1', '--quiet'];
    // Every neighbour (fanouts -1) and no dropout: a seed's output depends on its own
    // neighbourhood only, whichever batch it is in, so the batch of 2B seeds computes what
    // the two batches of B compute.
    const exact = [...common, '--fanouts', '-1,-1', '--dropout', '0', '--epochs', '3'];
    // Stopped after 2 of the 3 epochs, then resumed: rank 0's checkpoint is every rank's state under sync.
    const resumed = (epochs: string, more: string[]) =>
      graft(2, [
        ...exact.slice(0, -1),
        epochs,
        '--batch-size',
        '100',
        '--distributed',
        'sync',
        '--checkpoint-every',
        '1',
        '--out',
        join(dir, 'resumed'),
        ...more,
      ]);
    const ok = (r: { status: number | null; stderr: string }): void => expect(r.status, r.stderr).toBe(0);
    const [single, one, firstTwo] = await Promise.all([
      graft(0, [...exact, '--batch-size', '200', '--out', join(dir, 'single')]),
      graft(1, [...exact, '--batch-size', '200', '--distributed', 'sync', '--out', join(dir, 'one')]),
      resumed('2', []),
    ]);
    ok(firstTwo);
    ok(single);
    ok(one);
    sameBits('single', 'one');

    const [two, twoTopk1, third] = await Promise.all([
      graft(2, [...exact, '--batch-size', '100', '--distributed', 'sync', '--out', join(dir, 'two')]),
      graft(2, [
        ...exact,
        '--batch-size',
        '100',
        '--distributed',
        'sync',
        '--compress',
        'topk:1',
        '--out',
        join(dir, 'two-topk1'),
      ]),
      resumed('3', ['--resume']),
    ]);
    ok(third);
    sameBits('two', 'resumed');
    ok(two);
    ok(twoTopk1);
    sameBits('two', 'two-topk1');
    // Step s of 2 ranks sees seeds [200s, 200s + 200) of the shuffled order, as the single process's
    // batch s does, and averages two means over 100 seeds where the process takes one over 200: the
    // same gradient but for the order of the float32 sums (relative ~1e-7). Adam follows it smoothly
    // (measured: at most 8.0e-7 apart after 6 steps of lr 0.005); one step moves a weight by ~lr, so
    // 1e-5 still fails on any other split of the seeds.
    const ws = weights('single');
    let maxDiff = 0;
    for (const [k, t] of weights('two')) {
      const u = ws.get(k)!;
      for (let i = 0; i < t.length; i++) maxDiff = Math.max(maxDiff, Math.abs(t[i]! - u[i]!));
    }
    expect(maxDiff).toBeGreaterThan(0); // not the same bits: the sum order differs
    expect(maxDiff).toBeLessThan(1e-5);
    // History's training loss and accuracy are over every rank's batches: the single process's
    // figures (each seed's loss from weights within 1e-5; rank 0's half alone is ~1e-2 away).
    const history = (out: string) =>
      JSON.parse(readFileSync(join(dir, out, 'epochs.json'), 'utf8')) as {
        train_loss: number;
        train_accuracy: number;
      }[];
    const h1 = history('single'),
      h2 = history('two');
    expect(h2).toHaveLength(h1.length);
    for (let e = 0; e < h1.length; e++) {
      expect(Math.abs(h2[e]!.train_loss - h1[e]!.train_loss)).toBeLessThan(1e-4 * h1[e]!.train_loss);
      expect(Math.abs(h2[e]!.train_accuracy - h1[e]!.train_accuracy)).toBeLessThanOrEqual(1 / 400);
    }
    const result = (r: { stdout: string }) =>
      r.stdout
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { test_accuracy: number; distributed: Record<string, number> });
    expect(result(two)).toHaveLength(1); // rank 0 alone prints and writes

    // Top-k with error feedback on sampled batches: 400 seeds in batches of 50 are 8 batches, 4
    // steps an epoch on 2 ranks; 10 epochs at lr 0.02.
    const trainFlags = [...common, '--fanouts', '8,4', '--batch-size', '50', '--lr', '0.02', '--epochs', '10'];
    const [sparse, dense, cluster] = await Promise.all([
      graft(2, [...trainFlags, '--distributed', 'sync', '--compress', 'topk:0.05', '--out', join(dir, 'topk')]),
      graft(2, [...trainFlags, '--distributed', 'sync', '--out', join(dir, 'dense')]),
      // 5 batches of one part on 2 ranks: rank 1 has none at the third step and joins its exchange with a zero gradient.
      graft(2, [
        ...common,
        '--sampler',
        'cluster',
        '--parts',
        '5',
        '--parts-per-batch',
        '1',
        '--epochs',
        '2',
        '--distributed',
        'sync',
        '--out',
        join(dir, 'cluster'),
      ]),
    ]);
    ok(sparse);
    ok(dense);
    ok(cluster);
    const s = result(sparse)[0]!,
      d = result(dense)[0]!;
    // Measured: topk:0.05 0.836, dense sync 0.867 (the same bits every run: a fixed rank count is deterministic).
    expect(d.test_accuracy).toBeGreaterThan(0.7);
    expect(s.test_accuracy).toBeGreaterThan(d.test_accuracy - 0.1);
    const n = [...weights('topk').values()].reduce((a, t) => a + t.length, 0),
      steps = 10 * 4;
    expect(s.distributed).toMatchObject({
      ranks: 2,
      bytes_sent_per_rank: steps * topkCount(n, 0.05) * 8, // an int32 index and a float32 value, to 1 other rank
      dense_bytes_per_rank: steps * n * 4,
      bytes_sent_per_epoch: 4 * topkCount(n, 0.05) * 8,
    });
    expect(d.distributed).toMatchObject({ bytes_sent_per_rank: steps * n * 4, dense_bytes_per_rank: steps * n * 4 });
    const m = JSON.parse(readFileSync(join(dir, 'topk', 'metrics.json'), 'utf8')) as {
      distributed: { compress: string };
    };
    expect(m.distributed.compress).toBe('topk:0.05');
    const c = result(cluster)[0]!;
    expect(c.distributed).toMatchObject({ ranks: 2, bytes_sent_per_rank: 2 * 3 * n * 4 }); // 3 steps an epoch, rank 1 idle in the last
  }, 240_000);
});

describe('graft train --sampler --compress: bad flags', () => {
  it('refuses --compress without --distributed sync, and a bad ratio, in one line naming the flag', async () => {
    const dir = tempDir('graft-mpi-sampled-bad-');
    const store = join(dir, 's.graftstore');
    writeSyntheticStore(store, { nodes: 50, edges: 100, features: 4, classes: 2, split: [10, 10, 30] });
    const base = ['train', '--store', store, '--sampler', 'neighbor', '--quiet', '--out', join(dir, 'r')];
    const cases: [string[], string][] = [
      [['--compress', 'topk:0.1'], '--compress is for --distributed sync'],
      [
        ['--distributed', 'kavg', '--compress', 'topk:0.1'],
        '--compress is for --distributed sync, not --distributed kavg',
      ],
      [['--distributed', 'sync', '--compress', 'topk:0'], '--compress must be topk:R with R in (0, 1]'],
      [['--distributed', 'sync', '--compress', 'random:0.1'], '--compress must be topk:R with R in (0, 1]'],
      [['--distributed', 'kavg', '--resume'], '--resume with --distributed is for sync without --compress'],
      [
        ['--distributed', 'sync', '--compress', 'topk:0.5', '--resume'],
        '--resume with --distributed is for sync without --compress',
      ],
    ];
    for (const [flags, message] of cases) {
      const r = await graft(0, [...base, ...flags]);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain(message);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    }
  }, 60_000);
});
