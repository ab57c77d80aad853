import { plannedFault } from '../core/test-fault.js';
import type { KernelBackend } from '../kernels/backend.js';
import { invokeKernel, kernelId, type RunnableKernel } from '../kernels/registry.js';
import type { Heap } from '../memory/heap.js';
import type { Exec } from './exec.js';
import { kernelCategory, traceNow, tracer } from './trace.js';

/**
 * An exec that runs every part of every op on the calling thread, with no team: what a
 * worker thread uses when it runs a whole step itself (Runtime.withWorkerCalls). Results are
 * the bits of any other exec, since parts never change a sum.
 */
export class InlineExec implements Exec {
  readonly threads = 1;

  constructor(
    readonly heap: Heap,
    readonly backend: KernelBackend,
  ) {}

  async run(name: RunnableKernel, args: readonly number[], bounds: readonly number[]): Promise<void> {
    const fault = plannedFault(name, () => 1);
    if (fault) return this.run('faultInject', fault.args, [0, 1]);
    const id = kernelId(name);
    const tr = tracer;
    if (tr) {
      const size = tr.takeOpWork();
      let t = traceNow();
      for (let p = 0; p + 1 < bounds.length; p++) {
        invokeKernel(this.backend, id, args, bounds[p]!, bounds[p + 1]!);
        t = tr.span(kernelCategory(id), name, t, undefined, size);
      }
      return;
    }
    for (let p = 0; p + 1 < bounds.length; p++) invokeKernel(this.backend, id, args, bounds[p]!, bounds[p + 1]!);
  }
}
