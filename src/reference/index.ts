import type { KernelBackend } from '../kernels/backend.js';
import { dropoutKernels } from './dropout.js';
import { elementwiseKernels } from './elementwise.js';
import { gemmKernels } from './gemm.js';
import { lossesKernels } from './losses.js';
import { optimKernels } from './optim.js';
import { poolingKernels } from './pooling.js';
import { sddmmCsrKernels } from './sddmm_csr.js';
import { spmmCsrKernels } from './spmm_csr.js';
import { triadKernels } from './triad.js';
import { int8Kernels } from './int8.js';
import { HeapViews } from './views.js';
import { gatherRowsKernels } from './gather_rows.js';
import { edgeSoftmaxKernels } from './edge_softmax.js';
import { gatScoreKernels } from './gat_score.js';

// The plain-TypeScript twin of every kernel in assembly/, one file per assembly file with
// the same name: the oracle the tests hold the WASM builds to, and the fallback where
// WebAssembly SIMD is missing. It follows the same summation orders with f32 rounding at
// every step, so on non-fused paths it matches the SIMD128 build bit for bit.

export { dropoutHash } from './dropout.js';

export function createReferenceBackend(memory: WebAssembly.Memory): KernelBackend {
  const views = new HeapViews(memory);
  return {
    kind: 'js',
    ...spmmCsrKernels(views),
    ...gemmKernels(views),
    ...elementwiseKernels(views),
    ...dropoutKernels(views),
    ...lossesKernels(views),
    ...optimKernels(views),
    ...poolingKernels(views),
    ...triadKernels(views),
    ...sddmmCsrKernels(views),
    ...int8Kernels(views),
    ...gatherRowsKernels(views),
    ...edgeSoftmaxKernels(views),
    ...gatScoreKernels(views),
  };
}
