// Graft's public surface: one explicit list.
export { Runtime, type RuntimeOptions, type ForkOptions } from './runtime/runtime.js';
export type { Exec } from './runtime/exec.js';
export { Future } from './runtime/future.js';
export { Heap, type HeapOptions, type HeapStats } from './memory/heap.js';
export { Tensor, type DType } from './tensor.js';
export { GraftError, WorkerError } from './errors.js';
export type { BackendKind } from './kernels/backend.js';
export { chooseBackend, engineSupports } from './kernels/wasm.js';
export { CsrMatrix } from './graph/csr.js';
export { spmm, autoColBlock, type SpmmOptions } from './ops/sparse.js';
export { matmul, type MatmulOptions } from './ops/linalg.js';
export { biasAdd, colSum, relu, reluBackward, scale, axpy, addInto, fill, copy, reduceInOrder } from './ops/elementwise.js';
export { dropout, dropoutBackward, dropoutKey, type DropoutResult } from './ops/dropout.js';
export { softmaxCrossEntropy, mseLoss, bceWithLogits, type LossResult } from './ops/losses.js';
export { segmentPool, segmentPoolBackward, type PoolMode, type PoolResult } from './ops/pooling.js';
export { adamStep, sgdStep, type AdamHyper, type SgdHyper } from './ops/optim.js';
