import { argRangeError } from '../core/errors.js';
import type { Runtime } from '../runtime/runtime.js';
import type { Parameter } from '../nn/layer.js';
import type { Adam } from './adam.js';
import type { StepSync } from './step.js';

// Sampled training across ranks (issue 29): data parallelism over the seed nodes (neighbour
// batches) or the parts (Cluster-GCN batches) of each epoch, over a store every rank reads.
//
// The single-process epoch has batches 0 … B−1 of the shuffled seeds (NeighborSampler,
// ClusterSampler). With P ranks, step s of the epoch is batches sP … sP + P − 1, and rank r
// trains batch sP + r: the same sampler, the same batch size, so a rank's batch is a function
// of (seed, epoch, batch index sP + r) alone, and the union over ranks of an epoch's batches
// is the single-process epoch, each batch on exactly one rank. A step's P batches are P
// consecutive slices of the shuffled seeds: the seeds of one single-process batch of P times
// the size. Where B is not a multiple of P, the ranks past the end of the last step have no
// batch: they take part in the step's exchange with a zero gradient (sync averages over all P
// ranks, so that step moves by the mean over P of the gradients, not over the ranks that had a
// batch), as does a rank whose Cluster-GCN batch has no training node.
//
// The gradients or parameters are exchanged by the StepSync the caller gives (RankAveraging:
// sync, kavg, hieravg, bmuf; TopKSync: sync with top-k compression), so every rank ends each
// step (sync) or each validation (the averaging modes) with the same parameters.

/** This rank's place and the exchange around its steps. */
export interface SampledDistribution {
  rank: number;
  ranks: number;
  sync: StepSync;
  /**
   * Sums the array over the ranks in place, the same on every rank (the epoch's training loss,
   * rows and correct counts, so history describes every rank's batches, not rank 0's alone).
   */
  sum?: (values: Float32Array) => void;
}

/**
 * The batches of one epoch this rank trains, step by step: batch sP + r at step s, or null
 * where that index is past the epoch's `batches` (this rank sits the step out with a zero
 * gradient). Every rank gets the same number of steps, ⌈batches / P⌉.
 */
export function rankBatches(batches: number, rank: number, ranks: number): (number | null)[] {
  if (!Number.isInteger(ranks) || ranks < 1) throw argRangeError('rankBatches', 'ranks', 'a positive integer', ranks);
  if (!Number.isInteger(rank) || rank < 0 || rank >= ranks)
    throw argRangeError('rankBatches', 'rank', `an integer in [0, ${ranks})`, rank);
  const steps = Math.ceil(batches / ranks);
  return Array.from({ length: steps }, (_, s) => (s * ranks + rank < batches ? s * ranks + rank : null));
}

/**
 * The optimizer step of one batch: the gradients exchanged first (sync averages them), then
 * Adam, then the parameters exchanged (the averaging modes). Without a sync, Adam alone.
 */
export async function syncedUpdate(
  rt: Runtime,
  params: Parameter[],
  adam: Adam,
  sync: StepSync | undefined,
): Promise<void> {
  const values = params.map((p) => p.value);
  if (sync)
    await sync.gradients(
      params.map((p) => p.grad),
      values,
    );
  await adam.update(rt.exec);
  if (sync) await sync.afterStep(values);
}

/**
 * A step with no batch on this rank: a zero gradient into the exchange, so the ranks stay in
 * step. Under sync every rank then applies the ranks' mean gradient with Adam, as the others
 * do; under the averaging modes Adam would still move the parameters by its momentum without a
 * gradient of this rank's, so the rank skips its own update and only joins the exchange.
 */
export async function idleUpdate(rt: Runtime, params: Parameter[], adam: Adam, sync: StepSync): Promise<void> {
  for (const p of params) (p.grad.data() as Float32Array).fill(0);
  if (sync.averagesGradients) return syncedUpdate(rt, params, adam, sync);
  const values = params.map((p) => p.value);
  await sync.gradients(
    params.map((p) => p.grad),
    values,
  );
  await sync.afterStep(values);
}
