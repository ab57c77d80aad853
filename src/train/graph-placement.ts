import type { Runtime } from '../runtime/runtime.js';
import type { GraphModel } from './graph-model.js';
import type { GraphShards, ShardSize } from './graph-shards.js';
import {
  placementChoice,
  SpreadTrial,
  trialPlacements,
  type Placement,
  type PlacementChoice,
} from './placement-trial.js';

// Where GraphTrainer's epochs run their parallel parts: batch splitting's shards, or a
// hybrid's two branches when there is no batch splitting. Unless told, the first epoch times
// a few steps of each placement (placement-trial.ts; over several epochs where they are
// short) and the run keeps the fastest, so splitting or forking is never slower than intra-op
// splitting alone, and no way of using every thread is slower than one thread ('serial': a
// step too small to split runs on the calling thread alone). All give the same bits.
// Threads are lent once per epoch, not once per step.

const MODES = ['workers', 'groups', 'inline', 'serial'] as const;
/** The placements of a step whose batch is one shard: every op split over the threads, or one thread alone. */
const UNSPLIT_MODES = ['inline', 'serial'] as const;

/** What a trial of batch splitting's placements chose, or of an unsplit step's two (UNSPLIT_MODES). */
export type StepPlacementChoice = PlacementChoice | PlacementChoice<'inline' | 'serial'>;

/** Trials carried over from one short epoch to the next, by the shards or the hybrid model they place. */
const spreadTrials = new WeakMap<GraphShards, SpreadTrial<(typeof MODES)[number]>>();
const spreadBranchTrials = new WeakMap<GraphModel, SpreadTrial<(typeof MODES)[number]>>();

/** Runs `steps` in order (each `step(i)` one optimizer step). */
async function all(steps: readonly number[], step: (i: number) => Promise<void>): Promise<void> {
  for (const i of steps) await step(i);
}

type Mode = (typeof MODES)[number];

/**
 * Times placements on this epoch's first steps: a whole trial where the epoch has steps
 * enough, else the spread trial under `key` (started here, or carried on from earlier epochs).
 * When the trial ends its outcome goes to `chose` and the placement and the steps left are
 * returned; null while a spread trial goes on (every step of `steps` ran).
 */
async function trialEpoch<K extends object>(
  spread: WeakMap<K, SpreadTrial<Mode>>,
  key: K,
  modes: readonly Mode[],
  steps: number[],
  hold: (mode: Mode) => <R>(f: () => Promise<R>) => Promise<R>,
  step: (i: number) => Promise<void>,
  chose: (c: StepPlacementChoice) => void,
): Promise<{ best: Mode; rest: number[] } | null> {
  const holdIn = <R>(mode: Mode, f: () => Promise<R>): Promise<R> => hold(mode)(f);
  const run = (list: number[]): Promise<void> => all(list, step);
  let trial = spread.get(key);
  if (!trial) {
    const whole = await trialPlacements(modes, steps, holdIn, run);
    if (whole) return chosen(whole, chose);
    // Too few steps in an epoch for a whole trial: it goes on over the next epochs.
    trial = new SpreadTrial(modes);
    spread.set(key, trial);
  }
  const r = await trial.advance(steps, holdIn, run);
  if (!('times' in r)) return null;
  spread.delete(key);
  return chosen(r, chose);
}

/** Reports a trial's outcome to `chose`; returns its placement and the steps left. */
function chosen(
  r: { best: Mode; times: Partial<Record<Mode, number>>; rest: number[] },
  chose: (c: StepPlacementChoice) => void,
): { best: Mode; rest: number[] } {
  // The modes timed are the trial's (all four, or UNSPLIT_MODES): the choice names only those.
  chose(placementChoice(r.best, r.times as Record<Mode, number>));
  return { best: r.best, rest: r.rest };
}

/**
 * One epoch's steps with batch splitting's shards placed by `known`, or by a trial on this
 * epoch's first steps, whose outcome goes to `chose` before the rest of the epoch runs (an
 * epoch replayed after a fault keeps it). An epoch with too few steps for a whole trial starts
 * one that goes on over the next epochs (SpreadTrial), and the choice comes when it ends.
 */
export async function placedShardSteps(
  shards: GraphShards,
  steps: number[],
  step: (i: number) => Promise<void>,
  maxShard: ShardSize,
  known: StepPlacementChoice | null,
  chose: (c: StepPlacementChoice) => void,
): Promise<void> {
  // A batch of one shard has nothing to place but whether its ops split over the threads
  // (inline) or stay on this one (serial): a step too small to pay for a second thread.
  const modes: readonly Mode[] | null = shards.splits ? MODES : shards.threads > 1 ? UNSPLIT_MODES : null;
  if (!modes) return all(steps, step);
  const hold =
    (mode: Placement) =>
    <T>(f: () => Promise<T>): Promise<T> =>
      mode === 'workers'
        ? shards.holdingWorkers(maxShard, f)
        : mode === 'groups'
          ? shards.holdingGroups(f)
          : mode === 'serial'
            ? shards.serial(f)
            : shards.inline(f);
  if (known) return hold(known.mode)(() => all(steps, step));
  const trial = await trialEpoch(spreadTrials, shards, modes, steps, hold, step, chose);
  if (trial) return hold(trial.best)(() => all(trial.rest, step));
}

/**
 * An epoch of a hybrid trained without batch splitting: its branches placed on workers of
 * their own (whole passes there), on groups of threads this thread dispatches for, one after
 * another with every op split intra-op, or one after another on this thread alone; `told` (GraphTrainer.branches) or `known` (an
 * earlier trial) chooses, else a trial on this epoch's first steps (its outcome to `chose`
 * before the rest runs), carried on over the next epochs when this one is too short.
 * Validation runs under the same placement; returns its result.
 */
export async function forkedEpoch<T>(
  rt: Runtime,
  model: GraphModel,
  steps: number[],
  step: (i: number) => Promise<void>,
  validate: () => Promise<T>,
  told: Placement | null,
  known: PlacementChoice | null,
  chose: (c: PlacementChoice) => void,
): Promise<T> {
  const holdThreads = model.holdThreads;
  const hold =
    (mode: Placement) =>
    <R>(f: () => Promise<R>): Promise<R> =>
      mode === 'serial'
        ? rt.onOneThread(() => (holdThreads ? holdThreads<R>(f, 'inline') : f()))
        : mode === 'groups' || !holdThreads
          ? rt.withForkGroups(2, f)
          : holdThreads<R>(f, mode);
  const stepsThenValidate = (list: number[]) => async (): Promise<T> => {
    await all(list, step);
    return validate();
  };
  const chosen = told ?? known?.mode;
  if (chosen) return hold(chosen)(stepsThenValidate(steps));
  // All four modes are timed here, so the choice names all four.
  const trial = await trialEpoch(spreadBranchTrials, model, MODES, steps, hold, step, (c) =>
    chose(c as PlacementChoice),
  );
  if (!trial) return hold('workers')(validate); // the trial goes on next epoch
  return hold(trial.best)(stepsThenValidate(trial.rest));
}
