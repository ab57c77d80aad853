// Choosing where parallel work runs by timing it: every placement gives the same bits, so a
// short trial of each changes only the time, never the result.

/**
 * Times a few steps (a step of a batch, or an epoch) under each placement in turn, each after
 * 2 untimed ones that pay for start-up and JIT warm-up, and returns the fastest, the ms per
 * step of each, and the steps not yet run; null when there are too few steps to measure.
 * `all(list)` runs the steps of `list`, which are consecutive, in order.
 */
export async function trialPlacements<M extends string>(modes: readonly M[], steps: number[], hold: <R>(mode: M, body: () => Promise<R>) => Promise<R>,
  all: (list: number[]) => Promise<void>): Promise<{ best: M; times: Record<M, number>; rest: number[] } | null> {
  const warm = 2, k = Math.min(5, Math.floor((steps.length - warm * modes.length) / modes.length));
  if (k < 1) return null;
  const times = {} as Record<M, number>;
  let at = 0;
  for (const mode of modes) {
    const list = steps.slice(at, at + warm + k);
    at += warm + k;
    times[mode] = await hold(mode, async () => {
      await all(list.slice(0, warm));
      const t0 = performance.now();
      await all(list.slice(warm));
      return (performance.now() - t0) / k;
    });
  }
  return { best: modes.reduce((m, x) => (times[x] < times[m] ? x : m)), times, rest: steps.slice(at) };
}
