import { GraftError } from '../core/errors.js';

// A ceiling's figures (ceiling.ts measures them): plain arithmetic, apart from the processes
// that measure it, so the bench's report (workloads.ts) reads them without importing the runner.

export interface Ceiling {
  processes: number;
  /** ms per step of one process alone. */
  single_ms: number;
  /** ms per step of each of the P processes running at once. */
  concurrent_ms: number[];
  /** P · single / mean(concurrent): the work per second of P processes over one's. */
  speedup: number;
}

/** P · single / mean(concurrent): the speed-up P independent processes reach together. */
export function ceilingSpeedup(single: number, concurrent: readonly number[]): number {
  if (!(single > 0) || concurrent.length === 0 || concurrent.some((t) => !(t > 0))) {
    throw new GraftError(`ceiling: times must be positive (single ${single}, concurrent ${concurrent.join(', ')})`);
  }
  const mean = concurrent.reduce((a, b) => a + b, 0) / concurrent.length;
  return (concurrent.length * single) / mean;
}

/** A strategy's speed-up as a share of the ceiling's (1: as good as independent processes). */
export function ofCeiling(speedup: number, ceiling: number): number {
  return speedup / ceiling;
}
