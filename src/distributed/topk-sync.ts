import { argRangeError } from '../core/errors.js';
import type { Tensor } from '../memory/tensor.js';
import type { StepSync } from '../train/step.js';
import { type DistributedStats, flatten, unflatten } from './averaging.js';
import type { MpiBinding } from './mpi.js';

// Synchronous SGD with top-k sparsified gradients and error feedback (Lin et al. 2018, Deep
// Gradient Compression; Stich et al. 2018, Sparsified SGD with memory). Each step a rank adds
// the residual it kept back to its new gradient, sends only the k = ⌈R·n⌉ entries of largest
// magnitude (their indices and values), and keeps the others as the next residual, so
// nothing is lost, only delayed: sent + residual = gradient + previous residual, entry for
// entry and exactly (each entry is either sent whole or kept whole).
//
// The exchange: every rank broadcasts its k (index, value) pairs in turn (an allgather of
// fixed-size messages: k is the same on every rank), then every rank sums them in rank order
// into a dense vector, rank 0's entries assigned and the others' added, and divides by the
// rank count in float32. That is the order allreduceOrdered sums in, so with R = 1 (every
// entry sent, the residual always zero) this is RankAveraging's sync bit for bit, and for
// any R every rank applies the same averaged gradient: the ranks' parameters stay equal.

/** Bytes of one sent entry: an int32 index and a float32 value. */
const ENTRY_BYTES = 8;

/** Entries sent out of `n` at ratio R: ⌈R·n⌉, at least one. */
export function topkCount(n: number, ratio: number): number {
  return Math.min(n, Math.max(1, Math.ceil(ratio * n)));
}

/**
 * One error-feedback step on a rank's flat gradient: `acc = grad + residual` (grad as is
 * where the residual is 0, so -0 stays -0), then the k entries of largest |acc| (ties: the
 * lower index) go into `indices` (ascending) and `values`, and `residual` becomes acc with
 * those entries zeroed. `residual` is updated in place.
 */
export function topkErrorFeedback(
  grad: Float32Array,
  residual: Float32Array,
  k: number,
): { indices: Int32Array; values: Float32Array } {
  const n = grad.length;
  if (residual.length !== n) throw argRangeError('topkErrorFeedback', 'residual', `${n} entries`, residual.length);
  if (!Number.isInteger(k) || k < 1 || k > n) throw argRangeError('topkErrorFeedback', 'k', `in [1, ${n}]`, k);
  const acc = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const r = residual[i]!;
    acc[i] = r === 0 ? grad[i]! : grad[i]! + r;
  }
  const indices = topkIndices(acc, k),
    values = new Float32Array(k);
  residual.set(acc);
  for (let j = 0; j < k; j++) {
    const i = indices[j]!;
    values[j] = acc[i]!;
    residual[i] = 0;
  }
  return { indices, values };
}

/** The k indices of largest |a| (ties: the lower index first), ascending. */
export function topkIndices(a: Float32Array, k: number): Int32Array {
  const n = a.length,
    out = new Int32Array(k);
  if (k === n) {
    for (let i = 0; i < n; i++) out[i] = i;
    return out;
  }
  // The k-th largest magnitude is the threshold: all above it go, then ties in index order.
  const mag = new Float32Array(n);
  for (let i = 0; i < n; i++) mag[i] = Math.abs(a[i]!);
  const threshold = mag.slice().sort()[n - k]!;
  let above = 0;
  for (let i = 0; i < n; i++) if (mag[i]! > threshold) above++;
  let ties = k - above,
    m = 0;
  for (let i = 0; i < n && m < k; i++) {
    const v = mag[i]!;
    if (v > threshold) out[m++] = i;
    else if (v === threshold && ties > 0) {
      out[m++] = i;
      ties--;
    }
  }
  return out;
}

/**
 * The ranks' sparse gradients summed in rank order into `out` (zeroed first): rank 0's entries
 * assigned, the others' added in float32, the order allreduceOrdered sums a dense vector in.
 */
export function sumSparseInRankOrder(parts: { indices: Int32Array; values: Float32Array }[], out: Float32Array): void {
  out.fill(0);
  parts.forEach((p, r) => {
    for (let j = 0; j < p.indices.length; j++) {
      const i = p.indices[j]!;
      out[i] = r === 0 ? p.values[j]! : out[i]! + p.values[j]!;
    }
  });
}

/** What a top-k run reports besides DistributedStats: what dense sync would have sent. */
export interface TopKStats extends DistributedStats {
  compress: string;
  /** Bytes dense sync would have sent over the same steps (n float32 to each other rank). */
  denseBytes: number;
}

/** Synchronous SGD over MPI with top-k sparsified gradients and error feedback (see the file comment). */
export class TopKSync implements StepSync {
  /** Top-k compresses sync SGD: every rank applies the same summed gradient. */
  readonly averagesGradients = true;
  readonly stats: TopKStats;
  private residual: Float32Array | null = null;
  private readonly size: number;
  private readonly rank: number;

  constructor(
    private readonly mpi: MpiBinding,
    readonly ratio: number,
  ) {
    if (!(ratio > 0 && ratio <= 1)) throw argRangeError('TopKSync', 'ratio', 'in (0, 1]', ratio);
    this.size = mpi.size();
    this.rank = mpi.rank();
    this.stats = {
      mode: 'sync',
      ranks: this.size,
      ranksPerNode: this.size,
      globalAverages: 0,
      localAverages: 0,
      bytesSent: 0,
      denseBytes: 0,
      compress: `topk:${ratio}`,
    };
  }

  /** Parameters never drift apart: every step applies the same averaged gradient on every rank. */
  get validationPeriod(): number {
    return 1;
  }

  async gradients(grads: Tensor[], _params: Tensor[]): Promise<void> {
    const flat = flatten(grads),
      n = flat.length;
    this.residual ??= new Float32Array(n);
    const k = topkCount(n, this.ratio);
    const mine = topkErrorFeedback(flat, this.residual, k);
    // Each rank's message in turn from its root: indices then values in one buffer of 8k bytes.
    const parts: { indices: Int32Array; values: Float32Array }[] = [];
    for (let r = 0; r < this.size; r++) {
      const buf = new ArrayBuffer(k * ENTRY_BYTES),
        indices = new Int32Array(buf, 0, k),
        values = new Float32Array(buf, k * 4, k);
      if (r === this.rank) {
        indices.set(mine.indices);
        values.set(mine.values);
      }
      if (this.size > 1) this.mpi.broadcast(new Uint8Array(buf), r, 0);
      parts.push({ indices, values });
    }
    sumSparseInRankOrder(parts, flat);
    for (let i = 0; i < n; i++) flat[i] = Math.fround(flat[i]! / this.size);
    unflatten(flat, grads);
    this.stats.bytesSent += k * ENTRY_BYTES * (this.size - 1);
    this.stats.denseBytes += n * 4 * (this.size - 1);
    this.stats.globalAverages++;
  }

  async afterStep(_params: Tensor[]): Promise<void> {}

  async beforeValidation(_params: Tensor[]): Promise<void> {}

  /** The residual this rank holds back (a copy; empty before the first step). */
  residualCopy(): Float32Array {
    return this.residual ? this.residual.slice() : new Float32Array(0);
  }
}
