import { describe, expect, it, vi } from 'vitest';
import { syntheticMolecules } from '../src/data/synthetic.js';
import { Runtime } from '../src/runtime/runtime.js';
import { GraphTrainer, type GraphTrainConfig } from '../src/train/graph-trainer.js';
import { type Placement, placementChoice, SpreadTrial, trialPlacements } from '../src/train/placement-trial.js';
import { bitsEqual } from './helpers.js';

// A placement trial that does not fit in one epoch goes on over the next ones (SpreadTrial):
// before, a run whose epochs were all too short for a trial never timed anything and kept the
// default placement. The oracle for the schedule is its definition (2 warm-up steps per
// placement, then rounds of one timed step each in a rotated order); for training, the bits of
// a one-thread run.

describe('placement trials spread over short epochs', () => {
  it('runs the schedule across calls, step by step, then hands the rest to the fastest', async () => {
    const modes = ['workers', 'groups', 'inline'] as const;
    const trial = new SpreadTrial(modes);
    const ran: [number, Placement | 'best'][] = [];
    let current: Placement | 'best' = 'best';
    const hold = async <R>(mode: Placement, body: () => Promise<R>): Promise<R> => {
      current = mode;
      try {
        return await body();
      } finally {
        current = 'best';
      }
    };
    const all = async (list: number[]): Promise<void> => {
      for (const i of list) ran.push([i, current]);
    };
    const epochs = [
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [8, 9, 10, 11],
      [12, 13, 14, 15, 16],
    ];
    const results = [];
    for (const steps of epochs) results.push(await trial.advance(steps, hold, all));
    expect(results.slice(0, 3).map((r) => r.best)).toEqual([null, null, null]);
    const last = results[3]!;
    expect(modes).toContain(last.best);
    expect(Object.keys((last as { times: object }).times).sort()).toEqual(['groups', 'inline', 'workers']);
    expect(last.rest).toEqual([15, 16]);
    expect(ran.map(([, m]) => m)).toEqual([
      ...['workers', 'workers', 'groups', 'groups', 'inline', 'inline'],
      ...['workers', 'groups', 'inline', 'groups', 'inline', 'workers', 'inline', 'workers', 'groups'],
    ]);
    expect(ran.map(([i]) => i)).toEqual(Array.from({ length: 15 }, (_, i) => i));
  });

  it('a batch-split run of 4-step epochs chooses a placement, with the bits of one thread', async () => {
    const config: GraphTrainConfig = {
      task: 'regression',
      layers: 2,
      hidden: 16,
      dropout: 0.1,
      pool: 'mean',
      lr: 0.01,
      weightDecay: 0,
      epochs: 6,
      batchSize: 64,
      shardSize: 32,
      patience: 0,
      seed: 4,
    };
    const graphs = syntheticMolecules({ graphs: 256, seed: 6 });
    const weights: Float32Array[][] = [];
    for (const threads of [1, 2]) {
      const rt = await Runtime.create({ threads });
      const trainer = new GraphTrainer(rt, 8, 4, config);
      try {
        await trainer.fit(graphs, []);
        // 4 steps an epoch, 20 for the trial (4 placements, serial included): it ends in the fifth epoch.
        if (threads === 2) expect(['workers', 'groups', 'inline', 'serial']).toContain(trainer.shardPlacement?.mode);
        else expect(trainer.shardPlacement).toBeNull();
        weights.push(trainer.master.params().map((p) => (p.value.data() as Float32Array).slice()));
      } finally {
        trainer.dispose();
        await rt.close();
      }
    }
    weights[1]!.forEach((w, i) => {
      expect(bitsEqual(w, weights[0]![i]!)).toBe(true);
    });
  });

  it('a hybrid of 4-step epochs (branches forked) chooses where its branches run, with the bits of one thread', async () => {
    const config: GraphTrainConfig = {
      task: 'regression',
      layers: 2,
      hidden: 16,
      dropout: 0.1,
      pool: 'max',
      lr: 0.01,
      weightDecay: 0,
      epochs: 6,
      batchSize: 16,
      shardSize: 16,
      patience: 0,
      seed: 5,
      hybrid: { descriptors: 12, denseHidden: 8 },
    };
    const graphs = syntheticMolecules({ graphs: 64, seed: 8 }).map((g, i) => ({
      ...g,
      descriptors: Float32Array.from({ length: 12 }, (_, k) => Math.sin(i * 12 + k)),
    }));
    const val = graphs.slice(0, 16);
    const runs: { w: Float32Array[]; val: number[] }[] = [];
    for (const threads of [1, 2]) {
      const rt = await Runtime.create({ threads });
      const trainer = new GraphTrainer(rt, 8, 4, config);
      try {
        await trainer.fit(graphs, val, { restoreBest: false });
        if (threads === 2) expect(['workers', 'groups', 'inline', 'serial']).toContain(trainer.branchPlacement?.mode);
        else expect(trainer.branchPlacement).toBeNull();
        runs.push({
          w: trainer.master.params().map((p) => (p.value.data() as Float32Array).slice()),
          val: trainer.history.map((h) => h.val_loss),
        });
      } finally {
        trainer.dispose();
        await rt.close();
      }
    }
    runs[1]!.w.forEach((w, i) => {
      expect(bitsEqual(w, runs[0]!.w[i]!)).toBe(true);
    });
    expect(runs[1]!.val).toEqual(runs[0]!.val);
  });
});

// The trial itself on a fake clock: `hold` sets the placement, `all` advances performance.now()
// by that placement's known cost per step, so the oracle is arithmetic (the median of each
// placement's timed steps), not wall-clock time.
describe('the placement trial chooses the fastest placement, serial (one thread) included', () => {
  async function trialOn<M extends Placement>(modes: readonly M[], cost: Record<M, readonly number[]>, steps = 40) {
    let clock = 0;
    let current: M | null = null;
    const taken = new Map<M, number>();
    const now = vi.spyOn(performance, 'now').mockImplementation(() => clock);
    try {
      const hold = async <R>(mode: M, body: () => Promise<R>): Promise<R> => {
        current = mode;
        try {
          return await body();
        } finally {
          current = null;
        }
      };
      const all = async (list: number[]): Promise<void> => {
        for (const _ of list) {
          const k = taken.get(current!) ?? 0;
          taken.set(current!, k + 1);
          clock += cost[current!][k % cost[current!].length]!;
        }
      };
      return await trialPlacements(
        modes,
        Array.from({ length: steps }, (_, i) => i),
        hold,
        all,
      );
    } finally {
      now.mockRestore();
    }
  }

  it('over every assignment of 4 costs to the 4 placements: the cheapest wins, the dearest never, with its ms reported', async () => {
    const modes = ['workers', 'groups', 'inline', 'serial'] as const;
    const costs = [0.75, 1.5, 2, 3]; // binary fractions: the clock's differences are exact
    const perms = (xs: number[]): number[][] =>
      xs.length <= 1
        ? [xs]
        : xs.flatMap((x, i) => perms([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));
    for (const p of perms(costs)) {
      const cost = Object.fromEntries(modes.map((m, i) => [m, [p[i]!]])) as Record<(typeof modes)[number], number[]>;
      const r = (await trialOn(modes, cost))!;
      const cheapest = modes[p.indexOf(0.75)]!,
        dearest = modes[p.indexOf(3)]!;
      expect(r.best, JSON.stringify(cost)).toBe(cheapest);
      expect(r.best).not.toBe(dearest);
      for (const [i, m] of modes.entries()) expect(r.times[m]).toBe(p[i]);
      // 2 warm-up steps and 5 timed ones per placement: 28 of the 40 steps, the rest left.
      expect(r.rest).toEqual(Array.from({ length: 12 }, (_, i) => 28 + i));
    }
  });

  it("serial wins where it is fastest, a burst on one of its steps and a lucky step of another's notwithstanding (the median)", async () => {
    // Steps 0-1 are warm-up; serial's first timed step pays a burst of 9 ms, inline's second is a lucky 0.125 ms.
    const r = (await trialOn(['inline', 'serial'] as const, {
      inline: [1.25, 1.25, 1.25, 0.125, 1.25, 1.25, 1.25],
      serial: [0.75, 0.75, 9, 0.75, 0.75, 0.75, 0.75],
    }))!;
    expect(r.best).toBe('serial');
    expect(r.times).toEqual({ inline: 1.25, serial: 0.75 });
    expect(placementChoice(r.best, r.times)).toEqual({ mode: 'serial', inlineMs: 1.25, serialMs: 0.75 });
    const slow = (await trialOn(['inline', 'serial'] as const, { inline: [0.625], serial: [0.75] }))!;
    expect(slow.best).toBe('inline');
  });

  it('too few steps for a warm-up and a timed step of each placement: no trial', async () => {
    expect(
      await trialOn(
        ['workers', 'groups', 'inline', 'serial'] as const,
        {
          workers: [1],
          groups: [1],
          inline: [1],
          serial: [1],
        },
        11,
      ),
    ).toBeNull();
  });
});
