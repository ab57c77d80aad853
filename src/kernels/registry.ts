import { GraftError } from '../core/errors.js';
import { FAULT_EXIT, testFaultEnabled } from '../core/test-fault.js';
import type { KernelBackend, KernelName } from './backend.js';

// The kernel table both sides of the worker protocol index by number: an op travels as
// (id, arguments, range) through shared memory, never as a closure or a message.
// Every kernel's last two parameters are its work range; `arity` counts the others.

interface KernelConfig {
  readonly name: KernelName | DiagnosticKernel;
  readonly arity: number;
}

/** Kernels with no arithmetic, for the runtime's own tests and benchmarks. */
export type DiagnosticKernel = 'noop' | 'faultInject';

export const KERNELS: readonly KernelConfig[] = [
  { name: 'spmmCsr', arity: 9 },
  { name: 'gemmNN', arity: 8 },
  { name: 'gemmTN', arity: 8 },
  { name: 'gemmNT', arity: 8 },
  { name: 'biasAdd', arity: 4 },
  { name: 'colSum', arity: 4 },
  { name: 'relu', arity: 2 },
  { name: 'reluBackward', arity: 3 },
  { name: 'scale', arity: 3 },
  { name: 'axpy', arity: 3 },
  { name: 'addInto', arity: 2 },
  { name: 'fillF32', arity: 2 },
  { name: 'copyF32', arity: 2 },
  { name: 'dropoutForward', arity: 7 },
  { name: 'dropoutBackward', arity: 4 },
  { name: 'softmaxCrossEntropy', arity: 9 },
  { name: 'mseLoss', arity: 10 },
  { name: 'bceWithLogits', arity: 11 },
  { name: 'sgdStep', arity: 9 },
  { name: 'adamStep', arity: 12 },
  { name: 'segmentPool', arity: 8 },
  { name: 'segmentPoolBackward', arity: 8 },
  { name: 'streamTriad', arity: 4 },
  { name: 'sddmmCsr', arity: 8 },
  { name: 'quantizeU7', arity: 7 },
  { name: 'gemmI8', arity: 9 },
  { name: 'spmmCsrBiasRelu', arity: 11 },
  { name: 'biasAddRelu', arity: 4 },
  { name: 'reluBackwardColSum', arity: 6 },
  { name: 'gatherRows', arity: 6 },
  { name: 'gatherAddRelu', arity: 8 },
  { name: 'edgeSoftmax', arity: 6 },
  { name: 'edgeSoftmaxBackward', arity: 6 },
  { name: 'gatScore', arity: 8 },
  { name: 'leakyReluBackward', arity: 4 },
  { name: 'leakyRelu', arity: 3 },
  { name: 'noop', arity: 0 },
  { name: 'faultInject', arity: 2 },
];

export type RunnableKernel = KernelName | DiagnosticKernel;

const ids = new Map<string, number>(KERNELS.map((k, i) => [k.name, i]));

export function kernelId(name: RunnableKernel): number {
  const id = ids.get(name);
  if (id === undefined) throw new RangeError(`kernel registry: no kernel named ${JSON.stringify(name)}`);
  return id;
}

export function kernelName(id: number): string {
  return KERNELS[id]?.name ?? `#${id}`;
}

/**
 * Runs part [start, end) of kernel `id` with arguments args[0 .. arity-1] on `backend`.
 * The switch avoids building an argument array per call on the hot path.
 */
export function invokeKernel(
  backend: KernelBackend,
  id: number,
  args: ArrayLike<number>,
  start: number,
  end: number,
): void {
  const cfg = KERNELS[id];
  if (cfg === undefined) throw new RangeError(`kernel registry: no kernel with id ${id}`);
  if (cfg.name === 'noop') return;
  if (cfg.name === 'faultInject') {
    // A test hook (core/test-fault.ts): argument 0 is the mode, argument 1 the part that faults.
    if (!testFaultEnabled()) throw new GraftError('faultInject is a test hook: it runs only with GRAFT_TEST_FAULT set');
    if (start === args[1]) {
      if (args[0] === FAULT_EXIT) process.exit(70);
      throw new Error(`injected fault in part ${start}`);
    }
    return;
  }
  const fn = backend[cfg.name] as (...a: number[]) => void;
  const a = args;
  switch (cfg.arity) {
    case 2:
      fn(a[0]!, a[1]!, start, end);
      return;
    case 3:
      fn(a[0]!, a[1]!, a[2]!, start, end);
      return;
    case 4:
      fn(a[0]!, a[1]!, a[2]!, a[3]!, start, end);
      return;
    case 6:
      fn(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, start, end);
      return;
    case 7:
      fn(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, start, end);
      return;
    case 8:
      fn(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, a[7]!, start, end);
      return;
    case 9:
      fn(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, a[7]!, a[8]!, start, end);
      return;
    case 10:
      fn(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, a[7]!, a[8]!, a[9]!, start, end);
      return;
    case 11:
      fn(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, a[7]!, a[8]!, a[9]!, a[10]!, start, end);
      return;
    case 12:
      fn(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, a[7]!, a[8]!, a[9]!, a[10]!, a[11]!, start, end);
      return;
    default:
      throw new RangeError(`kernel registry: arity ${cfg.arity} of ${cfg.name} is not dispatchable`);
  }
}
