import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { packageRoot } from '../src/core/paths.js';
import { syntheticMolecules } from '../src/data/synthetic.js';
import { collate, type GraphBatch } from '../src/graph/batch.js';
import { Runtime } from '../src/runtime/runtime.js';
import { startTrace, stopTrace, traceJson, tracer, type TraceEvent } from '../src/runtime/trace.js';
import { GraphTrainer, type GraphTrainConfig } from '../src/train/graph-trainer.js';
import { bitsEqual, tempDir } from './helpers.js';

// The timeline (--trace): Chrome trace-event JSON with per-thread spans. Checked here: the
// file parses; every thread that computed has its categories; a thread's own track never has
// two spans overlapping (its spans follow one another, so nesting is trivially proper) and
// no span ends before it starts; worker threads' spans come back (team helpers on release,
// whole-step calls with their result); and tracing changes no bit of a training result.

const config: GraphTrainConfig = {
  task: 'regression',
  layers: 3,
  hidden: 32,
  dropout: 0.1,
  pool: 'mean',
  lr: 0.01,
  weightDecay: 0,
  epochs: 1,
  batchSize: 64,
  shardSize: 32,
  patience: 0,
  seed: 5,
};

afterEach(() => {
  stopTrace();
});

interface Parsed {
  spans: Required<TraceEvent>[];
  names: Map<number, string>;
}
function parse(json: string): Parsed {
  const t = JSON.parse(json) as { traceEvents: TraceEvent[] };
  const names = new Map<number, string>();
  for (const e of t.traceEvents)
    if (e.ph === 'M' && e.name === 'thread_name') names.set(e.tid, String(e.args?.['name']));
  return { spans: t.traceEvents.filter((e) => e.ph === 'X') as Required<TraceEvent>[], names };
}

/** The categories seen on each named track. */
function categories(p: Parsed): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const s of p.spans) {
    const name = p.names.get(s.tid) ?? `unnamed ${s.tid}`;
    out.set(name, (out.get(name) ?? new Set()).add(s.cat));
  }
  return out;
}

/** Every thread's own track (not its virtual "thread: what" tracks): spans in order, none overlapping. */
function expectNoOverlap(p: Parsed): void {
  const byTid = new Map<number, Required<TraceEvent>[]>();
  for (const s of p.spans) {
    expect(s.dur, `${s.name} at ${s.ts}`).toBeGreaterThanOrEqual(0);
    if (!(p.names.get(s.tid) ?? '').includes(': ')) byTid.set(s.tid, [...(byTid.get(s.tid) ?? []), s]);
  }
  for (const [tid, spans] of byTid) {
    spans.sort((a, b) => a.ts - b.ts);
    for (let i = 1; i < spans.length; i++) {
      const prev = spans[i - 1]!,
        cur = spans[i]!;
      // Rounding to the nanosecond in the file: allow 2 ns.
      expect(
        cur.ts + 0.002,
        `${p.names.get(tid)}: ${cur.name} at ${cur.ts} begins inside ${prev.name} [${prev.ts}, +${prev.dur}]`,
      ).toBeGreaterThanOrEqual(prev.ts + prev.dur);
    }
  }
}

async function trainTraced(
  threads: number,
  traced: boolean,
  placement: 'workers' | 'groups',
): Promise<{ weights: Float32Array[] }> {
  if (traced) startTrace();
  const rt = await Runtime.create({ threads });
  const trainer = new GraphTrainer(rt, 8, 4, config);
  const graphs = syntheticMolecules({ graphs: 128, seed: 2 });
  let shards: GraphBatch[] = [];
  try {
    shards = [collate(rt.heap, graphs.slice(0, 32), 8, 4), collate(rt.heap, graphs.slice(32, 64), 8, 4)];
    const maxShard = { nodes: Math.max(...shards.map((b) => b.nodes)), graphs: 32 };
    const steps = async (): Promise<void> => {
      for (let i = 0; i < 3; i++) await trainer.trainShards(shards);
    };
    await (placement === 'workers' ? trainer.holdingWorkers(maxShard, steps) : trainer.holdingShardGroups(steps));
    await trainer.fit(graphs, []); // the epoch path too (its placement trial)
    return { weights: trainer.master.params().map((p) => (p.value.data() as Float32Array).slice()) };
  } finally {
    for (const b of shards) b.free();
    trainer.dispose();
    await rt.close(); // the helpers hand back their spans here
  }
}

describe('timeline (--trace)', () => {
  it('is off by default: no tracer, nothing recorded', async () => {
    expect(tracer).toBeNull();
    const r = await trainTraced(2, false, 'groups');
    expect(r.weights.length).toBeGreaterThan(0);
    expect(stopTrace()).toEqual([]);
  });

  it('records main and worker threads, per category, with no overlap on a thread; same bits as untraced', async () => {
    for (const placement of ['groups', 'workers'] as const) {
      const plain = await trainTraced(2, false, placement);
      const traced = await trainTraced(2, true, placement);
      const events = stopTrace();
      plain.weights.forEach((w, i) => {
        expect(bitsEqual(w, traced.weights[i]!), `${placement}: parameter ${i}`).toBe(true);
      });
      const p = parse(traceJson(events));
      const cats = categories(p);
      const main = cats.get('main');
      expect(main, placement).toBeDefined();
      // With whole steps on workers the main thread lends its only helper: nothing to dispatch.
      for (const c of ['compute', 'js', 'alloc', ...(placement === 'groups' ? ['dispatch'] : [])])
        expect(main!.has(c), `main has ${c} (${placement})`).toBe(true);
      const workers = [...cats.entries()].filter(([n]) => /^worker \d+$/.test(n));
      expect(workers.length, `worker tracks (${placement}): ${[...cats.keys()].join(', ')}`).toBeGreaterThan(0);
      expect(
        workers.some(([, c]) => c.has('compute')),
        placement,
      ).toBe(true);
      // Team helpers wait between ops; whole-step calls run their ops inline (a 'calls' track).
      if (placement === 'groups') expect(workers.some(([, c]) => c.has('wait-spin') || c.has('wait-sleep'))).toBe(true);
      else
        expect(
          [...cats.keys()].some((n) => /^worker \d+: calls$/.test(n)),
          [...cats.keys()].join(', '),
        ).toBe(true);
      expectNoOverlap(p);
      // Kernel spans are named after their kernel.
      expect(p.spans.some((s) => s.cat === 'compute' && s.name === 'gemmNN')).toBe(true);
    }
  }, 120_000);

  it('graft bench --trace writes a file Perfetto can read, beside the unchanged bench lines', () => {
    const dir = tempDir('graft-trace-');
    const workloads = join(dir, 'w.json');
    const file = join(dir, 'trace.json');
    const w = {
      workloads: [
        { name: 'tiny', graphs: 16, nodesPerGraph: 10, avgDegree: 2, features: 8, hidden: 16, layers: 2, outputs: 3 },
      ],
    };
    writeFileSync(workloads, JSON.stringify(w));
    const r = spawnSync(
      process.execPath,
      [
        join(packageRoot(), 'dist', 'src', 'cli', 'main.js'),
        'bench',
        '--workloads',
        workloads,
        '--threads',
        '2',
        '--reps',
        '2',
        '--no-ceiling',
        '--trace',
        file,
      ],
      { encoding: 'utf8', timeout: 120_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.split('\n').filter((l) => l.startsWith('{')).length).toBe(3); // default, int8, batch-split lines
    const p = parse(readFileSync(file, 'utf8'));
    expect([...p.names.values()]).toContain('main');
    expect([...p.names.values()]).toContain('main: steps');
    expect(p.spans.some((s) => s.cat === 'step' && s.name.startsWith('tiny'))).toBe(true);
    expectNoOverlap(p);
    expect(r.stderr).toMatch(/trace written to .*trace\.json\nmain: [\d.]+ ms traced: /);
  }, 120_000);

  it('graft train --trace writes the timeline of a training run when the process ends', () => {
    const dir = tempDir('graft-trace-train-');
    const file = join(dir, 'train.json');
    const r = spawnSync(
      process.execPath,
      [
        join(packageRoot(), 'dist', 'src', 'cli', 'main.js'),
        'train',
        '--dataset',
        'synthetic',
        '--epochs',
        '2',
        '--threads',
        '2',
        '--out',
        join(dir, 'run'),
        '--quiet',
        '--trace',
        file,
      ],
      { encoding: 'utf8', timeout: 120_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    const p = parse(readFileSync(file, 'utf8'));
    const cats = categories(p);
    expect(cats.get('main')?.has('compute')).toBe(true);
    expect([...cats.entries()].some(([n, c]) => /^worker \d+$/.test(n) && c.has('compute'))).toBe(true);
    expectNoOverlap(p);
  }, 120_000);
});
