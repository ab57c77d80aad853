// Graft's public surface: one explicit list.
export { Runtime, type RuntimeOptions, type ForkOptions } from './runtime/runtime.js';
export type { Exec } from './runtime/exec.js';
export { Future } from './runtime/future.js';
export { Heap, type HeapOptions, type HeapStats } from './memory/heap.js';
export { Tensor, type DType } from './tensor.js';
export { GraftError, WorkerError } from './errors.js';
export type { BackendKind } from './kernels/backend.js';
export { chooseBackend, engineSupports } from './kernels/wasm.js';
