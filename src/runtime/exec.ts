import type { KernelBackend } from '../kernels/backend.js';
import type { RunnableKernel } from '../kernels/registry.js';
import type { Heap } from '../memory/heap.js';

/**
 * Where ops run: the runtime's main team, a forked branch's team, or one shard's group in
 * batch splitting. Ops ask `threads` how many parts to cut, then `run` one kernel over them.
 */
export interface Exec {
  readonly heap: Heap;
  /** Kernels on the calling thread, for sequential pieces (final reductions). */
  readonly backend: KernelBackend;
  /** Threads that compute this exec's ops (parts beyond it are merged). */
  readonly threads: number;
  /**
   * Whether an op too small to pay for waking the helpers should stay on the calling thread
   * (every helper is asleep, and the exec does not choose to wake them for this op); absent
   * where no thread sleeps. partsFor asks once per small op that could be split.
   */
  spareWake?(): boolean;
  /**
   * Runs kernel `name` over parts [bounds[p], bounds[p+1]) at once and resolves when all are
   * done; rejects with the first part's error (a WorkerError for a helper's).
   */
  run(name: RunnableKernel, args: readonly number[], bounds: readonly number[]): Promise<void>;
}
