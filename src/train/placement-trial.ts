import { traceTrack } from '../runtime/trace.js';

// Choosing where parallel work runs by timing it: every placement gives the same bits, so a
// short trial of each changes only the time, never the result.

/**
 * Where parallel work of a step runs (a hybrid's branches, or batch splitting's shards):
 * 'workers', each part but the first on a worker thread of its own, whole passes there;
 * 'groups', forked onto groups of threads this thread dispatches for; 'inline', one part
 * after another with every op split over all threads; 'serial', one part after another on the
 * calling thread alone (Runtime.onOneThread), for work too small to pay for a second thread.
 * Every placement gives the same bits.
 */
export type Placement = 'workers' | 'groups' | 'inline' | 'serial';

/**
 * The placement a timed trial chose among `M`, with the median ms per step of each it timed
 * (`workersMs`, `groupsMs`, `inlineMs`, `serialMs`): what a trainer reports, never what it is told.
 */
export type PlacementChoice<M extends Placement = Placement> = { mode: M } & { [K in M as `${K}Ms`]: number };

/**
 * Times a few steps (a step of a batch, or an epoch) under each placement and returns the
 * fastest, the median ms per step of each, and the steps not yet run; null when there are too
 * few steps to measure. `all(list)` runs the steps of `list`, which are consecutive, in order.
 *
 * Each placement first runs 2 untimed steps (start-up, JIT warm-up, a worker's replica). The
 * timed steps then go round the placements one step at a time, in an order rotated every
 * round, and each placement's time is the median of its rounds: timed in one block each, the
 * placement measured first paid for what was still warming up and a burst of load on a shared
 * machine fell on one placement only; interleaved, both spread over all of them.
 */
export async function trialPlacements<M extends Placement>(
  modes: readonly M[],
  steps: number[],
  hold: <R>(mode: M, body: () => Promise<R>) => Promise<R>,
  all: (list: number[]) => Promise<void>,
): Promise<{ best: M; times: Record<M, number>; rest: number[] } | null> {
  const warm = 2,
    k = Math.min(5, Math.floor((steps.length - warm * modes.length) / modes.length));
  if (k < 1) return null;
  // The same schedule as a spread trial's, all in this one call: `steps` holds every step of it.
  const out = await new SpreadTrial(modes, k, warm).advance(steps, hold, all);
  if (!('times' in out)) throw new Error('trialPlacements: the trial did not end within its steps');
  return out;
}

/** The median of `xs` (the mean of the middle two for an even count); `xs` is not reordered. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b),
    h = s.length >> 1;
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}

/** A trial's outcome as the trainers report it: the mode, then `<mode>Ms` per mode timed, in the trial's order. */
export function placementChoice<M extends Placement>(best: M, times: Record<M, number>): PlacementChoice<M> {
  const choice: Record<string, number | string> = { mode: best };
  for (const m of Object.keys(times) as M[]) choice[`${m}Ms`] = times[m];
  return choice as PlacementChoice<M>;
}

/**
 * A trial spread over calls, for epochs too short for trialPlacements (it needs 2 warm-up
 * steps and a timed one per placement in one epoch): the same schedule (2 untimed steps per
 * placement, then rounds of one timed step each in a rotated order, the median per
 * placement), carried on from one epoch to the next until it ends. Without it, a run whose
 * epochs are all short never timed anything and kept the default placement.
 */
export class SpreadTrial<M extends Placement> {
  private at = 0;
  private readonly schedule: { mode: M; timed: boolean }[] = [];
  private readonly samples: Map<M, number[]>;

  constructor(modes: readonly M[], rounds = 3, warm = 2) {
    for (const mode of modes) for (let i = 0; i < warm; i++) this.schedule.push({ mode, timed: false });
    for (let round = 0; round < rounds; round++)
      for (let j = 0; j < modes.length; j++)
        this.schedule.push({ mode: modes[(round + j) % modes.length]!, timed: true });
    this.samples = new Map(modes.map((m) => [m, []]));
  }

  /**
   * Runs the trial's next steps from `steps` (in order, each under its placement) until the
   * schedule or the steps end. Once the schedule has ended: the fastest placement, the median
   * ms per step of each, and the steps of `steps` not yet run; before that, best null (every
   * step of `steps` ran).
   */
  async advance(
    steps: number[],
    hold: <R>(mode: M, body: () => Promise<R>) => Promise<R>,
    all: (list: number[]) => Promise<void>,
  ): Promise<{ best: M; times: Record<M, number>; rest: number[] } | { best: null; rest: number[] }> {
    let used = 0;
    while (this.at < this.schedule.length && used < steps.length) {
      const { mode, timed } = this.schedule[this.at]!;
      if (!timed) {
        // Consecutive warm-up steps of one placement under one hold.
        let n = 0;
        while (
          this.at + n < this.schedule.length &&
          used + n < steps.length &&
          !this.schedule[this.at + n]!.timed &&
          this.schedule[this.at + n]!.mode === mode
        )
          n++;
        const list = steps.slice(used, used + n);
        await hold(mode, () => traceTrack(1, 'placement trial', `${mode} (warm-up)`, () => all(list)));
        used += n;
        this.at += n;
        continue;
      }
      const list = steps.slice(used, used + 1);
      this.samples.get(mode)!.push(
        await hold(mode, () =>
          traceTrack(1, 'placement trial', mode, async () => {
            const t0 = performance.now();
            await all(list);
            return performance.now() - t0;
          }),
        ),
      );
      used++;
      this.at++;
    }
    if (this.at < this.schedule.length) return { best: null, rest: steps.slice(used) };
    const modes = [...this.samples.keys()];
    const times = {} as Record<M, number>;
    for (const m of modes) times[m] = median(this.samples.get(m)!);
    return { best: modes.reduce((m, x) => (times[x] < times[m] ? x : m)), times, rest: steps.slice(used) };
  }
}
