// Every kernel the engine instantiates. Kernels take byte addresses, counts and a work range
// as plain numbers, allocate nothing, keep no static data and check nothing: the TypeScript
// layer owns memory and validation (see src/kernels/registry.ts).
export { spmmCsr, spmmCsrBiasRelu } from './spmm_csr';
export { sddmmCsr } from './sddmm_csr';
export { gemmNN, gemmTN, gemmNT } from './gemm';
export {
  biasAdd, biasAddRelu, colSum, reluBackwardColSum, relu, reluBackward, scale, axpy, fillF32, copyF32, sumF32, addInto,
} from './elementwise';
export { dropoutForward, dropoutBackward } from './dropout';
export { softmaxCrossEntropy, mseLoss, bceWithLogits } from './losses';
export { sgdStep, adamStep } from './optim';
export { segmentPool, segmentPoolBackward } from './pooling';
export { streamTriad } from './triad';
export { quantizeU7, gemmI8 } from './int8';
export { gatherRows, gatherAddRelu } from './gather_rows';
export { edgeSoftmax, edgeSoftmaxBackward } from './edge_softmax';
export { gatScore, leakyReluBackward, leakyRelu } from './gat_score';
