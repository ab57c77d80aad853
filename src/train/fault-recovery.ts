import { WorkerError } from '../core/errors.js';
import type { Heap } from '../memory/heap.js';
import { Tensor } from '../memory/tensor.js';
import type { Parameter } from '../nn/layer.js';
import type { Adam } from './adam.js';

// In-memory snapshots and rollback: a worker that dies or throws mid-epoch costs the epoch,
// not the run. Before each epoch the trainer's tensors (weights, optimizer moments) are copied
// into a second region of the shared heap, one memcpy, and its scalar state (step counters,
// RNG) is kept beside them. When the epoch fails with a worker's error, the runtime has
// already replaced the thread; the guard puts the snapshot back and the epoch runs again
// with the same seed and step counters, so it draws what it would have drawn and the run
// ends bitwise identical to one with no fault. After `maxFailures` consecutive failures of
// one epoch the error goes up: the fault is not transient.

/** A worker fault a training run recovered from by replaying the epoch: where, which try, and the error. */
export interface RecoveredFault {
  epoch: number;
  /** Failures of this epoch so far (1 for the first). */
  failure: number;
  error: string;
  /** Time to put the snapshot back (ms). */
  restoreMs: number;
  /** Time the failed attempt had run before it failed (ms): the work redone. */
  lostMs: number;
}

/** How a trainer rolls an epoch back on a worker fault: how many tries, and who is told. */
export interface FaultRecoveryOptions {
  /** Consecutive failures of one epoch before the run stops with the error (default 3). */
  maxFailures?: number;
  /** Told of each fault recovered from (the CLI says it on stderr). */
  onFault?: (f: RecoveredFault) => void;
}

/** The state besides tensors that an epoch changes, saved and put back with the snapshot. */
export interface ScalarState<S> {
  save(): S;
  load(s: S): void;
}

/** The in-memory snapshots a run took before each epoch (count, mean cost, bytes) and the faults it recovered from. */
export interface SnapshotStats {
  snapshots: number;
  /** Mean cost of one snapshot (ms). */
  snapshotMs: number;
  bytes: number;
  faults: RecoveredFault[];
}

/** Whether a failure is a worker's (it threw or died), which a replay can get past. */
export function isWorkerFault(err: unknown): boolean {
  return err instanceof WorkerError;
}

export class EpochGuard<S> {
  private readonly region: Tensor<'uint8'>;
  private saved: S | null = null;
  private takes = 0;
  private takeMs = 0;
  readonly faults: RecoveredFault[] = [];
  private readonly maxFailures: number;

  constructor(
    heap: Heap,
    private readonly tensors: readonly Tensor[],
    private readonly scalars: ScalarState<S>,
    private readonly options: FaultRecoveryOptions = {},
  ) {
    this.maxFailures = Math.max(1, options.maxFailures ?? 3);
    const bytes = tensors.reduce((a, t) => a + t.byteLength, 0);
    this.region = Tensor.empty(heap, 'uint8', [Math.max(1, bytes)], 'training snapshot');
  }

  private bytesOf(t: Tensor): Uint8Array {
    return new Uint8Array(t.heap.memory.buffer, t.ptr, t.byteLength);
  }

  private take(): void {
    const t0 = performance.now();
    const dst = this.region.data();
    let at = 0;
    for (const t of this.tensors) {
      dst.set(this.bytesOf(t), at);
      at += t.byteLength;
    }
    this.saved = this.scalars.save();
    this.takeMs += performance.now() - t0;
    this.takes++;
  }

  private restore(): void {
    const src = this.region.data();
    let at = 0;
    for (const t of this.tensors) {
      this.bytesOf(t).set(src.subarray(at, at + t.byteLength));
      at += t.byteLength;
    }
    this.scalars.load(this.saved!);
  }

  /** Runs one epoch with a snapshot before it; a worker fault rolls back and runs it again. */
  async run<T>(epoch: number, attempt: () => Promise<T>): Promise<T> {
    this.take();
    return this.retried(epoch, attempt, () => this.restore());
  }

  /**
   * Runs work that changes no state the snapshot holds (an evaluation after the epoch's
   * training): a worker fault runs it again, with nothing to put back.
   */
  rerun<T>(epoch: number, attempt: () => Promise<T>): Promise<T> {
    return this.retried(epoch, attempt, () => {});
  }

  private async retried<T>(epoch: number, attempt: () => Promise<T>, putBack: () => void): Promise<T> {
    for (let failure = 1; ; failure++) {
      const t0 = performance.now();
      try {
        return await attempt();
      } catch (err) {
        if (!isWorkerFault(err) || failure >= this.maxFailures) throw err;
        const lostMs = performance.now() - t0;
        const t1 = performance.now();
        putBack();
        const f: RecoveredFault = {
          epoch,
          failure,
          error: (err as Error).message,
          restoreMs: performance.now() - t1,
          lostMs,
        };
        this.faults.push(f);
        this.options.onFault?.(f);
      }
    }
  }

  get stats(): SnapshotStats {
    return {
      snapshots: this.takes,
      snapshotMs: this.takes ? this.takeMs / this.takes : 0,
      bytes: this.region.byteLength,
      faults: [...this.faults],
    };
  }

  dispose(): void {
    this.region.free();
  }
}

/** What Adam and a trainer's own counters were before an epoch (guardEpochs' scalar state). */
export interface EpochScalars<S> {
  adam: number;
  more: S | undefined;
}

/**
 * The one way a trainer sets up its EpochGuard: the weights and Adam's two moments are the
 * tensors an epoch changes, Adam's step count is its scalar, and `more` adds the trainer's own
 * (the graph trainer's step counter and shuffling RNG; dropout keys that come from (seed,
 * epoch) need nothing). The caller disposes the guard.
 */
export function guardEpochs<S = never>(
  heap: Heap,
  state: { params: readonly Parameter[]; adam: Adam },
  faults?: FaultRecoveryOptions,
  more?: ScalarState<S>,
): EpochGuard<EpochScalars<S>> {
  const { params, adam } = state;
  return new EpochGuard(
    heap,
    [...params.map((p) => p.value), ...adam.m, ...adam.v],
    {
      save: () => ({ adam: adam.step, more: more?.save() }),
      load: (s) => {
        adam.step = s.adam;
        if (more) more.load(s.more as S);
      },
    },
    faults,
  );
}
