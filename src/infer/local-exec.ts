import type { KernelBackend, KernelName } from '../kernels/backend.js';
import type { RunnableKernel } from '../kernels/registry.js';
import type { Heap } from '../memory/heap.js';
import type { Exec } from '../runtime/exec.js';

/**
 * The inference entry's exec: every part of every op on the calling thread, calling the
 * kernel by name (no registry, no worker protocol, no test hooks, so nothing of Node's is
 * loaded). Parts never change a sum, so its results are the bits of any team's.
 */
export class LocalExec implements Exec {
  readonly threads = 1;

  constructor(
    readonly heap: Heap,
    readonly backend: KernelBackend,
  ) {}

  run(name: RunnableKernel, args: readonly number[], bounds: readonly number[]): Promise<void> {
    const fn = this.backend[name as KernelName] as ((...a: number[]) => void) | undefined;
    if (typeof fn !== 'function')
      return Promise.reject(new RangeError(`inference: no kernel named ${JSON.stringify(name)}`));
    for (let p = 0; p + 1 < bounds.length; p++) fn(...args, bounds[p]!, bounds[p + 1]!);
    return Promise.resolve();
  }
}
