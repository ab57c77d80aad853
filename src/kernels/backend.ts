// The kernel ABI shared by the WebAssembly builds and the plain-TypeScript reference: byte
// addresses into the shared memory, counts, leading dimensions in elements, and a work range
// (rows, elements, columns or graphs) as the last two arguments. No kernel checks anything.

export interface KernelBackend {
  readonly kind: BackendKind;
  spmmCsr(
    rowPtr: number,
    colIdx: number,
    vals: number,
    x: number,
    ldx: number,
    y: number,
    ldy: number,
    c0: number,
    c1: number,
    r0: number,
    r1: number,
  ): void;
  /** spmmCsr with a layer's epilogue in its stores: y += bias per column, then the ReLU when relu is 1. */
  spmmCsrBiasRelu(
    rowPtr: number,
    colIdx: number,
    vals: number,
    x: number,
    ldx: number,
    y: number,
    ldy: number,
    c0: number,
    c1: number,
    bias: number,
    relu: number,
    r0: number,
    r1: number,
  ): void;
  gemmNN(
    a: number,
    lda: number,
    b: number,
    ldb: number,
    c: number,
    ldc: number,
    n: number,
    k: number,
    m0: number,
    m1: number,
  ): void;
  gemmTN(
    a: number,
    lda: number,
    b: number,
    ldb: number,
    c: number,
    ldc: number,
    n: number,
    k: number,
    m0: number,
    m1: number,
  ): void;
  gemmNT(
    a: number,
    lda: number,
    b: number,
    ldb: number,
    c: number,
    ldc: number,
    n: number,
    k: number,
    m0: number,
    m1: number,
  ): void;
  biasAdd(y: number, ldy: number, bias: number, cols: number, r0: number, r1: number): void;
  /** biasAdd then relu in one pass. */
  biasAddRelu(y: number, ldy: number, bias: number, cols: number, r0: number, r1: number): void;
  colSum(g: number, ldg: number, out: number, rows: number, c0: number, c1: number): void;
  relu(x: number, y: number, e0: number, e1: number): void;
  reluBackward(y: number, gy: number, gx: number, e0: number, e1: number): void;
  /** reluBackward into gx and colSum of gx into out, in one pass over columns c0 to c1 (colSum's order). */
  reluBackwardColSum(
    y: number,
    gy: number,
    gx: number,
    ld: number,
    out: number,
    rows: number,
    c0: number,
    c1: number,
  ): void;
  scale(x: number, alpha: number, y: number, e0: number, e1: number): void;
  axpy(alpha: number, x: number, y: number, e0: number, e1: number): void;
  addInto(x: number, y: number, e0: number, e1: number): void;
  fillF32(p: number, value: number, e0: number, e1: number): void;
  copyF32(src: number, dst: number, e0: number, e1: number): void;
  sumF32(p: number, n: number): number;
  dropoutForward(
    x: number,
    y: number,
    mask: number,
    key0: number,
    key1: number,
    threshold: number,
    scale: number,
    e0: number,
    e1: number,
  ): void;
  dropoutBackward(gy: number, mask: number, gx: number, scale: number, e0: number, e1: number): void;
  softmaxCrossEntropy(
    logits: number,
    ld: number,
    labels: number,
    mask: number,
    classes: number,
    grad: number,
    ldg: number,
    lossRows: number,
    invCount: number,
    r0: number,
    r1: number,
  ): void;
  mseLoss(
    pred: number,
    ldp: number,
    target: number,
    ldt: number,
    mask: number,
    cols: number,
    grad: number,
    ldg: number,
    lossRows: number,
    invCount: number,
    r0: number,
    r1: number,
  ): void;
  bceWithLogits(
    logits: number,
    ld: number,
    targets: number,
    ldt: number,
    labelMask: number,
    posWeight: number,
    cols: number,
    grad: number,
    ldg: number,
    lossRows: number,
    invCount: number,
    r0: number,
    r1: number,
  ): void;
  sgdStep(
    w: number,
    g: number,
    buf: number,
    lr: number,
    momentum: number,
    dampening: number,
    weightDecay: number,
    nesterov: number,
    first: number,
    e0: number,
    e1: number,
  ): void;
  adamStep(
    w: number,
    g: number,
    m: number,
    v: number,
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    weightDecay: number,
    decoupled: number,
    stepSize: number,
    sqrtBc2: number,
    e0: number,
    e1: number,
  ): void;
  segmentPool(
    x: number,
    ldx: number,
    offsets: number,
    out: number,
    ldo: number,
    argmax: number,
    cols: number,
    mode: number,
    g0: number,
    g1: number,
  ): void;
  segmentPoolBackward(
    gOut: number,
    ldo: number,
    offsets: number,
    gx: number,
    ldx: number,
    argmax: number,
    cols: number,
    mode: number,
    g0: number,
    g1: number,
  ): void;
  streamTriad(a: number, b: number, c: number, s: number, e0: number, e1: number): void;
  sddmmCsr(
    rowPtr: number,
    colIdx: number,
    g: number,
    ldg: number,
    h: number,
    ldh: number,
    n: number,
    out: number,
    r0: number,
    r1: number,
  ): void;
  quantizeU7(
    x: number,
    ldx: number,
    q: number,
    ldq: number,
    k: number,
    inv: number,
    zp: number,
    r0: number,
    r1: number,
  ): void;
  gemmI8(
    q: number,
    kPad: number,
    w: number,
    wsum: number,
    scale: number,
    zp: number,
    y: number,
    ldy: number,
    n: number,
    r0: number,
    r1: number,
  ): void;
  /** out[e, :] = x[idx[e], :] (assembly/gather_rows.ts). */
  gatherRows(x: number, ldx: number, idx: number, out: number, ldo: number, cols: number, e0: number, e1: number): void;
  /** GINE's message, out[e, :] = x[idx[e], :] + add[e, :] where positive, else 0. */
  gatherAddRelu(
    x: number,
    ldx: number,
    idx: number,
    add: number,
    ldadd: number,
    out: number,
    ldo: number,
    cols: number,
    e0: number,
    e1: number,
  ): void;
  /** Softmax over each row's nonzeros, per head, head-major [heads, ld] (assembly/edge_softmax.ts). */
  edgeSoftmax(
    rowPtr: number,
    s: number,
    lds: number,
    out: number,
    ldo: number,
    heads: number,
    r0: number,
    r1: number,
  ): void;
  edgeSoftmaxBackward(
    rowPtr: number,
    a: number,
    ga: number,
    gs: number,
    ld: number,
    heads: number,
    r0: number,
    r1: number,
  ): void;
  /** GAT's logits LeakyReLU(aSrc[j] + aDst[i]) per nonzero and head (assembly/gat_score.ts). */
  gatScore(
    rowPtr: number,
    colIdx: number,
    aSrc: number,
    aDst: number,
    heads: number,
    slope: number,
    out: number,
    ldo: number,
    r0: number,
    r1: number,
  ): void;
  leakyReluBackward(y: number, gy: number, gx: number, slope: number, e0: number, e1: number): void;
  leakyRelu(x: number, y: number, slope: number, e0: number, e1: number): void;
}

/** 'relaxed': relaxed-SIMD build (fused multiply-add); 'simd': SIMD128 build; 'js': the reference. */
export type BackendKind = 'relaxed' | 'simd' | 'js';

export type KernelName = Exclude<keyof KernelBackend, 'kind'>;
