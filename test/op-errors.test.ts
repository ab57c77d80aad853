// Argument errors of every public op, the runtime, Tensor and Heap: each message names the
// function and the argument and says what was expected and what was given. Every pattern is
// anchored at both ends, so a reworded or misattributed message fails.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Heap } from '../src/memory/heap.js';
import { Tensor } from '../src/memory/tensor.js';
import { CsrMatrix } from '../src/graph/csr.js';
import { dropout, dropoutBackward } from '../src/ops/dropout.js';
import {
  addInto,
  axpy,
  biasAdd,
  colSum,
  copy,
  fill,
  reduceInOrder,
  relu,
  reluBackward,
  reluBackwardColSum,
  scale,
} from '../src/ops/elementwise.js';
import { matmul } from '../src/ops/linalg.js';
import { bceWithLogits, mseLoss, softmaxCrossEntropy } from '../src/ops/losses.js';
import { adamStep, sgdStep, type AdamHyper, type SgdHyper } from '../src/ops/optim.js';
import { segmentPool, segmentPoolBackward, type PoolMode } from '../src/ops/pooling.js';
import { sddmm, spmm } from '../src/ops/sparse.js';
import { concatColumns, splitColumns } from '../src/ops/columns.js';
import type { Exec } from '../src/runtime/exec.js';
import { Runtime } from '../src/runtime/runtime.js';

let rt: Runtime;
let exec: Exec;
let h: Heap;
const made: (Tensor | CsrMatrix)[] = [];
let baseline = 0;

beforeAll(async () => {
  rt = await Runtime.create({ threads: 1 });
  exec = rt.exec;
  h = rt.heap;
  baseline = h.stats().blocks;
});
afterAll(async () => {
  try {
    for (const t of made) t.free();
    expect(h.stats().blocks).toBe(baseline);
  } finally {
    await rt.close();
  }
});

/** A float32 tensor of the shape, freed after the file. */
function f(...shape: number[]): Tensor {
  const t = Tensor.zeros(h, 'float32', shape);
  made.push(t);
  return t;
}
function i32(values: number[]): Tensor<'int32'> {
  const t = Tensor.from(h, 'int32', [values.length], values);
  made.push(t);
  return t;
}
function u8(shape: number[], value = 1): Tensor<'uint8'> {
  const t = Tensor.zeros(h, 'uint8', shape) as Tensor<'uint8'>;
  t.data().fill(value);
  made.push(t);
  return t;
}
/**
 * Runs `call` (arguments built inside it) and expects it to reject (async) or throw (sync)
 * with `re`, having allocated nothing beyond the tensors its arguments made.
 */
async function fails(call: () => unknown, re: RegExp): Promise<void> {
  const b0 = h.stats().blocks,
    m0 = made.length;
  let result: unknown;
  try {
    result = call();
  } catch (err) {
    expect(() => {
      throw err;
    }).toThrow(re);
    expect(h.stats().blocks - b0).toBe(made.length - m0);
    return;
  }
  await expect(result as Promise<unknown>).rejects.toThrow(re);
  expect(h.stats().blocks - b0).toBe(made.length - m0);
}
function freed(...shape: number[]): Tensor {
  const t = Tensor.zeros(h, 'float32', shape);
  t.free();
  return t;
}

describe('linear algebra', () => {
  it('matmul', async () => {
    await fails(
      () => matmul(exec, null as unknown as Tensor, f(2, 2)),
      /^matmul: argument 'a' must be a Tensor, got null$/,
    );
    await fails(
      () => matmul(exec, f(2, 3), [1, 2] as unknown as Tensor),
      /^matmul: argument 'b' must be a Tensor, got \[1, 2\]$/,
    );
    await fails(() => matmul(exec, f(6), f(6, 1)), /^matmul: argument 'a' must be a rank-2 tensor, got "shape \[6\]"$/);
    await fails(
      () => matmul(exec, i32([1, 2]), f(2, 1)),
      /^matmul: argument 'a' must be a float32 tensor, got "a int32 tensor"$/,
    );
    await fails(
      () => matmul(exec, freed(2, 2), f(2, 2)),
      /^matmul: argument 'a' must be a live tensor, got "a freed tensor"$/,
    );
    await fails(() => matmul(exec, f(2, 5), f(4, 3)), /^matmul: argument 'b' must have shape \[5, \*\], got \[4, 3\]$/);
    await fails(
      () => matmul(exec, f(2, 5), f(3, 4), undefined, { transB: true }),
      /^matmul: argument 'b' must have shape \[\*, 5\], got \[3, 4\]$/,
    );
    await fails(
      () => matmul(exec, f(5, 2), f(4, 3), undefined, { transA: true }),
      /^matmul: argument 'b' must have shape \[5, \*\], got \[4, 3\]$/,
    );
    await fails(
      () => matmul(exec, f(2, 2), f(2, 2), undefined, { transA: true, transB: true }),
      /^matmul: argument 'options' must be at most one of transA, transB, got "both"$/,
    );
    await fails(
      () => matmul(exec, f(2, 5), f(5, 3), f(3, 2)),
      /^matmul: argument 'out' must have shape \[2, 3\], got \[3, 2\]$/,
    );
    const a = f(3, 3);
    await fails(
      () => matmul(exec, a, f(3, 3), a),
      /^matmul: argument 'out' must be a tensor other than a and b, got "one of them"$/,
    );
  });

  it('spmm', async () => {
    const adj = CsrMatrix.fromCoo(h, 3, 3, [0, 1, 2], [1, 2, 0]);
    made.push(adj);
    await fails(
      () => spmm(exec, f(3, 3) as unknown as CsrMatrix, f(3, 2)),
      /^spmm: argument 'a' must be a CsrMatrix, got a Tensor$/,
    );
    await fails(() => spmm(exec, adj, f(4, 2)), /^spmm: argument 'x' must have shape \[3, \*\], got \[4, 2\]$/);
    await fails(() => spmm(exec, adj, f(3)), /^spmm: argument 'x' must be a rank-2 tensor, got "shape \[3\]"$/);
    await fails(
      () => spmm(exec, adj, f(3, 2), f(3, 3)),
      /^spmm: argument 'out' must have shape \[3, 2\], got \[3, 3\]$/,
    );
    const x = f(3, 2);
    await fails(() => spmm(exec, adj, x, x), /^spmm: argument 'out' must be a tensor other than x, got "x itself"$/);
    const out = f(3, 2);
    await fails(
      () => spmm(exec, adj, x, out, { colBlock: 48 }),
      /^spmm: argument 'options\.colBlock' must be a non-negative multiple of 32, got 48$/,
    );
    await fails(
      () => spmm(exec, adj, x, out, { colBlock: -32 }),
      /^spmm: argument 'options\.colBlock' must be a non-negative multiple of 32, got -32$/,
    );
    // The fused epilogue: a bias of x's width, and a ReLU only with one.
    await fails(
      () => spmm(exec, adj, x, out, { relu: true }),
      /^spmm: argument 'options\.relu' must be used with options\.bias, got "relu without a bias"$/,
    );
    await fails(
      () => spmm(exec, adj, x, out, { bias: f(3) }),
      /^spmm: argument 'options\.bias' must be 2 elements \(x's columns\), got 3$/,
    );
    await fails(
      () => spmm(exec, adj, x, out, { bias: f(1, 2) }),
      /^spmm: argument 'options\.bias' must be a rank-1 tensor, got "shape \[1, 2\]"$/,
    );
  });

  it('sddmm', async () => {
    const adj = CsrMatrix.fromCoo(h, 3, 4, [0, 1, 2], [1, 3, 0]);
    made.push(adj);
    await fails(
      () => sddmm(exec, f(3, 4) as unknown as CsrMatrix, f(3, 2), f(4, 2)),
      /^sddmm: argument 'a' must be a CsrMatrix, got a Tensor$/,
    );
    await fails(
      () => sddmm(exec, adj, f(3), f(4, 2)),
      /^sddmm: argument 'g' must be a rank-2 tensor, got "shape \[3\]"$/,
    );
    await fails(
      () => sddmm(exec, adj, f(4, 2), f(4, 2)),
      /^sddmm: argument 'g' must have shape \[3, \*\], got \[4, 2\]$/,
    );
    await fails(
      () => sddmm(exec, adj, f(3, 2), f(3, 2)),
      /^sddmm: argument 'h' must have shape \[4, 2\], got \[3, 2\]$/,
    );
    await fails(
      () => sddmm(exec, adj, f(3, 2), f(4, 5)),
      /^sddmm: argument 'h' must have shape \[4, 2\], got \[4, 5\]$/,
    );
    await fails(
      () => sddmm(exec, adj, f(3, 2), f(4, 2), f(3, 1)),
      /^sddmm: argument 'out' must have shape \[3\], got \[3, 1\]$/,
    );
    const g = f(3, 2);
    await fails(
      () => sddmm(exec, adj, g, f(4, 2), Tensor.view(h, 'float32', [3], g.ptr)),
      /^sddmm: argument 'out' must be a tensor other than g and h, got "one of them"$/,
    );
  });
});

describe('elementwise', () => {
  it('biasAdd and colSum', async () => {
    await fails(
      () => biasAdd(exec, f(2, 3), f(4)),
      /^biasAdd: argument 'bias' must be 3 elements \(y's columns\), got 4$/,
    );
    await fails(
      () => biasAdd(exec, f(2, 3), f(1, 3)),
      /^biasAdd: argument 'bias' must be a rank-1 tensor, got "shape \[1, 3\]"$/,
    );
    await fails(() => biasAdd(exec, f(6), f(6)), /^biasAdd: argument 'y' must be a rank-2 tensor, got "shape \[6\]"$/);
    await fails(
      () => biasAdd(exec, f(2, 3), f(4), { relu: true }),
      /^biasAdd: argument 'bias' must be 3 elements \(y's columns\), got 4$/,
    );
    await fails(
      () => colSum(exec, f(2, 3, 1)),
      /^colSum: argument 'g' must be a rank-2 tensor, got "shape \[2, 3, 1\]"$/,
    );
    await fails(() => colSum(exec, f(2, 3), f(2)), /^colSum: argument 'out' must have shape \[3\], got \[2\]$/);
  });

  it('relu, reluBackward and reluBackwardColSum', async () => {
    await fails(() => relu(exec, 'x' as unknown as Tensor), /^relu: argument 'x' must be a Tensor, got "x"$/);
    await fails(() => relu(exec, f(2, 3), f(3, 2)), /^relu: argument 'out' must have shape \[2, 3\], got \[3, 2\]$/);
    await fails(
      () => relu(exec, f(2), u8([2])),
      /^relu: argument 'out' must be a float32 tensor, got "a uint8 tensor"$/,
    );
    await fails(
      () => reluBackward(exec, f(2, 3), f(3, 2)),
      /^reluBackward: argument 'gy' must have shape \[2, 3\], got \[3, 2\]$/,
    );
    await fails(
      () => reluBackward(exec, f(2, 3), f(2, 3), f(6)),
      /^reluBackward: argument 'out' must have shape \[2, 3\], got \[6\]$/,
    );
    await fails(
      () => reluBackwardColSum(exec, f(6), f(6), f(6)),
      /^reluBackwardColSum: argument 'y' must be a rank-2 tensor, got "shape \[6\]"$/,
    );
    await fails(
      () => reluBackwardColSum(exec, f(2, 3), f(3, 2), f(3)),
      /^reluBackwardColSum: argument 'gy' must have shape \[2, 3\], got \[3, 2\]$/,
    );
    await fails(
      () => reluBackwardColSum(exec, f(2, 3), f(2, 3), f(2)),
      /^reluBackwardColSum: argument 'biasGrad' must be 3 elements \(y's columns\), got 2$/,
    );
    await fails(
      () => reluBackwardColSum(exec, f(2, 3), f(2, 3), f(1, 3)),
      /^reluBackwardColSum: argument 'biasGrad' must be a rank-1 tensor, got "shape \[1, 3\]"$/,
    );
    await fails(
      () => reluBackwardColSum(exec, f(2, 3), f(2, 3), f(3), f(3, 2)),
      /^reluBackwardColSum: argument 'out' must have shape \[2, 3\], got \[3, 2\]$/,
    );
  });

  it('scale, axpy, addInto', async () => {
    await fails(() => scale(exec, f(2), NaN), /^scale: argument 'alpha' must be a finite number, got NaN$/);
    await fails(() => scale(exec, f(2), 2, f(3)), /^scale: argument 'out' must have shape \[2\], got \[3\]$/);
    await fails(
      () => axpy(exec, Infinity, f(2), f(2)),
      /^axpy: argument 'alpha' must be a finite number, got Infinity$/,
    );
    await fails(() => axpy(exec, 1, f(2, 2), f(4)), /^axpy: argument 'y' must have shape \[2, 2\], got \[4\]$/);
    await fails(() => addInto(exec, f(3), f(2)), /^addInto: argument 'y' must have shape \[3\], got \[2\]$/);
    await fails(
      () => addInto(exec, u8([3]), f(3)),
      /^addInto: argument 'x' must be a float32 tensor, got "a uint8 tensor"$/,
    );
  });

  it('fill, copy, reduceInOrder', async () => {
    await fails(() => fill(exec, f(2), '3' as unknown as number), /^fill: argument 'value' must be a number, got "3"$/);
    await fails(() => fill(exec, freed(2), 1), /^fill: argument 'x' must be a live tensor, got "a freed tensor"$/);
    await fails(() => copy(exec, f(2, 3), f(3, 2)), /^copy: argument 'dst' must have shape \[2, 3\], got \[3, 2\]$/);
    await fails(
      () => copy(exec, {} as unknown as Tensor, f(2)),
      /^copy: argument 'src' must be a Tensor, got a Object$/,
    );
    await fails(
      () => reduceInOrder(exec, [], f(2)),
      /^reduceInOrder: argument 'parts' must be at least one tensor, got \[\]$/,
    );
  });
});

describe('dropout', () => {
  it('dropout and dropoutBackward', async () => {
    await fails(() => dropout(exec, f(4), 1, [1, 2]), /^dropout: argument 'p' must be in \[0, 1\), got 1$/);
    await fails(() => dropout(exec, f(4), -0.1, [1, 2]), /^dropout: argument 'p' must be in \[0, 1\), got -0\.1$/);
    await fails(() => dropout(exec, f(4), NaN, [1, 2]), /^dropout: argument 'p' must be a finite number, got NaN$/);
    await fails(
      () => dropout(exec, i32([1]), 0.5, [1, 2]),
      /^dropout: argument 'x' must be a float32 tensor, got "a int32 tensor"$/,
    );
    await fails(
      () => dropout(exec, f(4), 0.5, [1, 2], { y: f(5) }),
      /^dropout: argument 'out\.y' must have shape \[4\], got \[5\]$/,
    );
    await fails(
      () => dropoutBackward(exec, f(4), f(4) as unknown as Tensor<'uint8'>, 0.5),
      /^dropoutBackward: argument 'mask' must be a uint8 tensor, got "a float32 tensor"$/,
    );
    await fails(
      () => dropoutBackward(exec, f(4), u8([2, 2]), 0.5),
      /^dropoutBackward: argument 'mask' must have shape \[4\], got \[2, 2\]$/,
    );
    await fails(
      () => dropoutBackward(exec, f(4), u8([4]), 1),
      /^dropoutBackward: argument 'p' must be in \[0, 1\), got 1$/,
    );
    await fails(
      () => dropoutBackward(exec, f(4), u8([4]), NaN),
      /^dropoutBackward: argument 'p' must be in \[0, 1\), got NaN$/,
    );
    await fails(
      () => dropoutBackward(exec, f(4), u8([4]), 0.5, f(3)),
      /^dropoutBackward: argument 'out' must have shape \[4\], got \[3\]$/,
    );
  });
});

describe('losses', () => {
  it('softmaxCrossEntropy', async () => {
    const logits = f(4, 3);
    await fails(
      () => softmaxCrossEntropy(exec, f(12), i32([0])),
      /^softmaxCrossEntropy: argument 'logits' must be a rank-2 tensor, got "shape \[12\]"$/,
    );
    await fails(
      () => softmaxCrossEntropy(exec, logits, f(4)),
      /^softmaxCrossEntropy: argument 'labels' must be a int32 tensor, got "a float32 tensor"$/,
    );
    await fails(
      () => softmaxCrossEntropy(exec, logits, i32([0, 1, 2])),
      /^softmaxCrossEntropy: argument 'labels' must be 4 entries \(one per row\), got 3$/,
    );
    await fails(
      () => softmaxCrossEntropy(exec, logits, i32([0, 1, 3, 0])),
      /^softmaxCrossEntropy: argument 'labels\[2\]' must be a class in \[0, 3\), got 3$/,
    );
    await fails(
      () => softmaxCrossEntropy(exec, logits, i32([0, -1, 2, 0])),
      /^softmaxCrossEntropy: argument 'labels\[1\]' must be a class in \[0, 3\), got -1$/,
    );
    const labels = i32([0, 1, 2, 0]);
    await fails(
      () => softmaxCrossEntropy(exec, logits, labels, { mask: u8([2]) }),
      /^softmaxCrossEntropy: argument 'options\.mask' must be 4 entries \(one per row\), got 2$/,
    );
    await fails(
      () => softmaxCrossEntropy(exec, logits, labels, { mask: f(4) }),
      /^softmaxCrossEntropy: argument 'options\.mask' must be a uint8 tensor, got "a float32 tensor"$/,
    );
    await fails(
      () => softmaxCrossEntropy(exec, logits, labels, { mask: u8([4], 0) }),
      /^softmaxCrossEntropy: argument 'options\.mask' must be at least one row selected, got "none"$/,
    );
    await fails(
      () => softmaxCrossEntropy(exec, logits, labels, { normalizer: 0 }),
      /^softmaxCrossEntropy: argument 'options\.normalizer' must be a positive number, got 0$/,
    );
    await fails(
      () => softmaxCrossEntropy(exec, logits, labels, { normalizer: Infinity }),
      /^softmaxCrossEntropy: argument 'options\.normalizer' must be a positive number, got Infinity$/,
    );
  });

  it('mseLoss', async () => {
    const pred = f(4, 2);
    await fails(
      () => mseLoss(exec, pred, f(4, 3)),
      /^mseLoss: argument 'target' must have shape \[4, 2\], got \[4, 3\]$/,
    );
    await fails(
      () => mseLoss(exec, f(8), f(8)),
      /^mseLoss: argument 'pred' must be a rank-2 tensor, got "shape \[8\]"$/,
    );
    await fails(
      () => mseLoss(exec, pred, i32([1])),
      /^mseLoss: argument 'target' must be a float32 tensor, got "a int32 tensor"$/,
    );
    await fails(
      () => mseLoss(exec, pred, f(4, 2), { mask: u8([3]) }),
      /^mseLoss: argument 'options\.mask' must be 4 entries \(one per row\), got 3$/,
    );
    await fails(
      () => mseLoss(exec, pred, f(4, 2), { mask: u8([4], 0) }),
      /^mseLoss: argument 'options\.mask' must be at least one row selected, got "none"$/,
    );
  });

  it('bceWithLogits', async () => {
    const logits = f(2, 3);
    const targets = f(2, 3);
    await fails(
      () => bceWithLogits(exec, logits, f(3, 2)),
      /^bceWithLogits: argument 'targets' must have shape \[2, 3\], got \[3, 2\]$/,
    );
    await fails(
      () => bceWithLogits(exec, logits, targets, { labelMask: f(2, 3) as unknown as Tensor }),
      /^bceWithLogits: argument 'options\.labelMask' must be a uint8 tensor, got "a float32 tensor"$/,
    );
    await fails(
      () => bceWithLogits(exec, logits, targets, { labelMask: u8([2]) }),
      /^bceWithLogits: argument 'options\.labelMask' must have shape \[2, 3\], got \[2\]$/,
    );
    await fails(
      () => bceWithLogits(exec, logits, targets, { labelMask: u8([2, 3], 0) }),
      /^bceWithLogits: argument 'options\.labelMask' must be at least one label present, got "none"$/,
    );
    await fails(
      () => bceWithLogits(exec, logits, targets, { normalizer: 0 }),
      /^bceWithLogits: argument 'options\.normalizer' must be a positive number, got 0$/,
    );
    await fails(
      () => bceWithLogits(exec, logits, targets, { posWeight: f(2) }),
      /^bceWithLogits: argument 'options\.posWeight' must be 3 entries \(one per label\), got 2$/,
    );
    await fails(
      () => bceWithLogits(exec, logits, targets, { posWeight: f(1, 3) }),
      /^bceWithLogits: argument 'options\.posWeight' must be a rank-1 tensor, got "shape \[1, 3\]"$/,
    );
    const bad = Tensor.from(h, 'float32', [2, 3], [0, 1, 0, 1, 0, 2]);
    made.push(bad);
    await fails(
      () => bceWithLogits(exec, logits, bad),
      /^bceWithLogits: argument 'targets\[1, 2\]' must be a value in \[0, 1\] \(mask missing labels\), got 2$/,
    );
    const nan = Tensor.from(h, 'float32', [2, 3], [0, NaN, 0, 1, 0, 1]);
    made.push(nan);
    await fails(
      () => bceWithLogits(exec, logits, nan),
      /^bceWithLogits: argument 'targets\[0, 1\]' must be a value in \[0, 1\] \(mask missing labels\), got NaN$/,
    );
    // A masked-out NaN is fine (missing label): no error.
    const lm = Tensor.from(h, 'uint8', [2, 3], [1, 0, 1, 1, 1, 1]) as Tensor<'uint8'>;
    made.push(lm);
    const r = await bceWithLogits(exec, logits, nan, { labelMask: lm });
    made.push(r.grad);
    expect(r.count).toBe(5);
  });
});

describe('pooling', () => {
  it('segmentPool', async () => {
    const x = f(5, 2);
    await fails(
      () => segmentPool(exec, x, i32([0, 5]), 'avg' as PoolMode),
      /^segmentPool: argument 'mode' must be 'sum', 'mean' or 'max', got "avg"$/,
    );
    await fails(
      () => segmentPool(exec, x, i32([0, 4]), 'sum'),
      /^segmentPool: argument 'offsets' must be graph offsets from 0 to 5 \(the node count\), got "\[0 … 4\]"$/,
    );
    await fails(
      () => segmentPool(exec, x, i32([1, 5]), 'sum'),
      /^segmentPool: argument 'offsets' must be graph offsets from 0 to 5 \(the node count\), got "\[1 … 5\]"$/,
    );
    await fails(
      () => segmentPool(exec, x, i32([0, 3, 1, 5]), 'mean'),
      /^segmentPool: argument 'offsets\[2\]' must be >= offsets\[1\] = 3, got 1$/,
    );
    await fails(
      () => segmentPool(exec, x, f(2), 'sum'),
      /^segmentPool: argument 'offsets' must be a int32 tensor, got "a float32 tensor"$/,
    );
    await fails(
      () => segmentPool(exec, f(10), i32([0, 10]), 'max'),
      /^segmentPool: argument 'x' must be a rank-2 tensor, got "shape \[10\]"$/,
    );
  });

  it('segmentPoolBackward', async () => {
    const g = f(2, 3);
    await fails(
      () => segmentPoolBackward(exec, g, i32([0, 2, 5]), 'nope' as PoolMode, 5),
      /^segmentPoolBackward: argument 'mode' must be 'sum', 'mean' or 'max', got "nope"$/,
    );
    await fails(
      () => segmentPoolBackward(exec, g, i32([0, 1, 2, 5]), 'sum', 5),
      /^segmentPoolBackward: argument 'offsets' must be 3 entries, got 4$/,
    );
    await fails(
      () => segmentPoolBackward(exec, g, i32([0, 2, 5]), 'sum', 6),
      /^segmentPoolBackward: argument 'offsets' must be graph offsets from 0 to 6 \(the node count\), got "\[0 … 5\]"$/,
    );
    await fails(
      () => segmentPoolBackward(exec, g, i32([0, 2, 5]), 'max', 5),
      /^segmentPoolBackward: argument 'options.argmax' must be the argmax from segmentPool for mode 'max', got undefined$/,
    );
    await fails(
      () => segmentPoolBackward(exec, g, i32([0, 2, 5]), 'max', 5, { argmax: f(2, 3) as unknown as Tensor<'int32'> }),
      /^segmentPoolBackward: argument 'options.argmax' must be a int32 tensor, got "a float32 tensor"$/,
    );
    await fails(
      () => segmentPoolBackward(exec, g, i32([0, 2, 5]), 'sum', 5, { out: f(5, 2) }),
      /^segmentPoolBackward: argument 'options.out' must have shape \[5, 3\], got \[5, 2\]$/,
    );
  });
});

describe('optimizers', () => {
  const adam: AdamHyper = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false };
  const sgd: SgdHyper = { lr: 0.1, momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: false };

  it('adamStep', async () => {
    const w = f(3);
    await fails(
      () => adamStep(exec, w, f(4), f(3), f(3), 1, adam),
      /^adamStep: argument 'g' must have shape \[3\], got \[4\]$/,
    );
    await fails(
      () => adamStep(exec, w, f(3), f(3), f(1, 3), 1, adam),
      /^adamStep: argument 'v' must have shape \[3\], got \[1, 3\]$/,
    );
    await fails(
      () => adamStep(exec, w, f(3), freed(3), f(3), 1, adam),
      /^adamStep: argument 'm' must be a live tensor, got "a freed tensor"$/,
    );
    await fails(
      () => adamStep(exec, w, f(3), f(3), f(3), 0, adam),
      /^adamStep: argument 'step' must be an integer >= 1, got 0$/,
    );
    await fails(
      () => adamStep(exec, w, f(3), f(3), f(3), 1.5, adam),
      /^adamStep: argument 'step' must be an integer >= 1, got 1\.5$/,
    );
    await fails(
      () => adamStep(exec, w, f(3), f(3), f(3), 1, { ...adam, lr: NaN }),
      /^adamStep: argument 'h\.lr' must be a finite number, got NaN$/,
    );
    await fails(
      () => adamStep(exec, w, f(3), f(3), f(3), 1, { ...adam, beta2: Infinity }),
      /^adamStep: argument 'h\.beta2' must be a finite number, got Infinity$/,
    );
  });

  it('sgdStep', async () => {
    const w = f(3);
    await fails(
      () => sgdStep(exec, w, f(2), f(3), true, sgd),
      /^sgdStep: argument 'g' must have shape \[3\], got \[2\]$/,
    );
    await fails(
      () => sgdStep(exec, w, f(3), null, true, sgd),
      /^sgdStep: argument 'buf' must be a momentum buffer when momentum != 0, got null$/,
    );
    await fails(
      () => sgdStep(exec, w, f(3), f(4), true, sgd),
      /^sgdStep: argument 'buf' must have shape \[3\], got \[4\]$/,
    );
    await fails(
      () => sgdStep(exec, w, f(3), f(3), true, { ...sgd, momentum: NaN }),
      /^sgdStep: argument 'h\.momentum' must be a finite number, got NaN$/,
    );
    await fails(
      () => sgdStep(exec, w, f(3), f(3), true, { ...sgd, weightDecay: -Infinity }),
      /^sgdStep: argument 'h\.weightDecay' must be a finite number, got -Infinity$/,
    );
  });
});

describe('runtime', () => {
  it('Runtime.create', async () => {
    await fails(
      () => Runtime.create(null as unknown as object),
      /^Runtime\.create: argument 'options' must be an object, got null$/,
    );
    await fails(
      () => Runtime.create({ threads: 0 }),
      /^Runtime\.create: argument 'options\.threads' must be a positive integer, got 0$/,
    );
    await fails(
      () => Runtime.create({ threads: 1.5 }),
      /^Runtime\.create: argument 'options\.threads' must be a positive integer, got 1\.5$/,
    );
    await fails(
      () => Runtime.create({ threads: 257 }),
      /^Runtime\.create: argument 'options\.threads' must be at most 256, got 257$/,
    );
    await fails(
      () => Runtime.create({ threads: 1, backend: 'avx' as 'js' }),
      /^chooseBackend: argument 'backend \(GRAFT_BACKEND\)' must be 'relaxed', 'simd', 'js' or 'auto', got "avx"$/,
    );
    await fails(
      () => Runtime.create({ threads: 1, memory: { maxBytes: 100 } }),
      /^Heap: argument 'options\.maxBytes' must be between 65536 and 4294967296 \(4 GiB\), got 100$/,
    );
  });

  it('Runtime.fork and Runtime.dataParallel', async () => {
    await fails(
      () => rt.fork(42 as unknown as (e: Exec) => Promise<void>),
      /^Runtime\.fork: argument 'fn' must be a function \(exec\) => Promise, got 42$/,
    );
    await fails(
      () => rt.fork(async () => undefined, { threads: 0 }),
      /^Runtime\.fork: argument 'options\.threads' must be a positive integer, got 0$/,
    );
    await fails(
      () => rt.dataParallel(0, async () => undefined),
      /^Runtime\.dataParallel: argument 'shards' must be a positive integer, got 0$/,
    );
    await fails(
      () => rt.dataParallel(2, undefined as unknown as (e: Exec, s: number) => Promise<void>),
      /^Runtime\.dataParallel: argument 'fn' must be a function \(exec, shard\) => Promise, got undefined$/,
    );
    await fails(
      () => rt.withShardGroups(-1, async () => undefined),
      /^Runtime\.withShardGroups: argument 'shards' must be a positive integer, got -1$/,
    );
    // A closed runtime refuses new work.
    const closed = await Runtime.create({ threads: 1, memory: { initialBytes: 1 << 16 } });
    await closed.close();
    await fails(() => closed.fork(async () => undefined), /^Runtime\.fork: the runtime is closed$/);
    await fails(() => closed.dataParallel(1, async () => undefined), /^Runtime\.dataParallel: the runtime is closed$/);
  });
});

describe('Tensor and Heap', () => {
  it('Tensor.from, Tensor.empty, data, expectShape', async () => {
    await fails(
      () => Tensor.from(h, 'float32', [2, 3], [1, 2, 3, 4, 5]),
      /^Tensor\.from: argument 'values' must be 6 elements for shape \[2, 3\], got "5 elements"$/,
    );
    await fails(
      () => Tensor.from(h, 'float32', [2, -1], []),
      /^Tensor\.from: argument 'shape' must be an array of non-negative integers, got \[2, -1\]$/,
    );
    await fails(
      () => Tensor.from(h, 'float32', 3 as unknown as number[], [1, 2, 3]),
      /^Tensor\.from: argument 'shape' must be an array of non-negative integers, got 3$/,
    );
    await fails(
      () => Tensor.empty(h, 'float64' as 'float32', [2]),
      /^Tensor\.empty: argument 'dtype' must be 'float32', 'int32' or 'uint8', got "float64"$/,
    );
    await fails(
      () => Tensor.empty(h, 'int32', [1.5]),
      /^Tensor\.empty: argument 'shape' must be an array of non-negative integers, got \[1\.5\]$/,
    );
    await fails(
      () => Tensor.zeros(h, 'uint8', [NaN]),
      /^Tensor\.empty: argument 'shape' must be an array of non-negative integers, got \[NaN\]$/,
    );
    const t = freed(2, 3);
    await fails(() => t.data(), /^Tensor\.data: tensor \[2, 3\] was freed$/);
    await fails(
      () => f(2, 3).expectShape('myOp', 'w', [2, '*', 1]),
      /^myOp: argument 'w' must have shape \[2, \*, 1\], got \[2, 3\]$/,
    );
  });

  it('Heap: constructor, alloc and free', async () => {
    await fails(
      () => new Heap({ maxBytes: 2 ** 33 }),
      /^Heap: argument 'options\.maxBytes' must be between 65536 and 4294967296 \(4 GiB\), got 8589934592$/,
    );
    const small = new Heap({ initialBytes: 1 << 16, maxBytes: 1 << 17 });
    await fails(() => small.alloc(-1), /^Heap\.alloc: argument 'bytes' must be a non-negative integer, got -1$/);
    await fails(() => small.alloc(1.5), /^Heap\.alloc: argument 'bytes' must be a non-negative integer, got 1\.5$/);
    await fails(
      () => small.alloc(1 << 20, 'weights'),
      /^Heap\.alloc: cannot allocate 1048576 bytes \(1\.00 MiB\) for weights: a wasm32 memory holds at most 128\.00 KiB$/,
    );
    const p = small.alloc(100_000);
    await fails(
      () => small.alloc(60_000, 'grads'),
      /^Heap\.alloc: cannot allocate 60000 bytes \(58\.59 KiB\) for grads: 97\.69 KiB in use of at most 128\.00 KiB$/,
    );
    await fails(
      () => small.free(p + 64),
      /^Heap\.free: argument 'ptr' must be an address returned by alloc and not yet freed, got \d+$/,
    );
    small.free(p);
    await fails(
      () => small.free(p),
      new RegExp(`^Heap\\.free: argument 'ptr' must be an address returned by alloc and not yet freed, got ${p}$`),
    );
    expect(small.stats().blocks).toBe(0);
  });
});

// Cases found by this suite's first review, each a bug before: a leak on a bad argument, a
// mode name inherited from Object.prototype, an unchecked argmax shape, unchecked column
// joins, output tensors named 'out' whatever the caller called them, and p = 0 dropout
// dropping the one element whose hash is 2³² − 1.
describe('regressions', () => {
  it('mseLoss checks options.normalizer before allocating (it leaked two blocks)', async () => {
    await fails(
      () => mseLoss(exec, f(2, 2), f(2, 2), { normalizer: -1 }),
      /^mseLoss: argument 'options\.normalizer' must be a positive number, got -1$/,
    );
    await fails(
      () => mseLoss(exec, f(2, 0), f(2, 0)),
      /^mseLoss: argument 'pred' must be at least one column, got "0 columns"$/,
    );
  });

  it('segmentPool modes are own keys only: toString is not a mode', async () => {
    await fails(
      () => segmentPool(exec, f(3, 2), i32([0, 3]), 'toString' as PoolMode),
      /^segmentPool: argument 'mode' must be 'sum', 'mean' or 'max', got "toString"$/,
    );
    await fails(
      () => segmentPoolBackward(exec, f(1, 2), i32([0, 3]), 'constructor' as PoolMode, 3),
      /^segmentPoolBackward: argument 'mode' must be 'sum', 'mean' or 'max', got "constructor"$/,
    );
  });

  it("segmentPoolBackward checks argmax's shape", async () => {
    const am = Tensor.zeros(h, 'int32', [1, 1]) as Tensor<'int32'>;
    made.push(am);
    await fails(
      () => segmentPoolBackward(exec, f(1, 2), i32([0, 3]), 'max', 3, { argmax: am }),
      /^segmentPoolBackward: argument 'options.argmax' must have shape \[1, 2\], got \[1, 1\]$/,
    );
  });

  it('concatColumns and splitColumns check their arguments', async () => {
    await fails(
      () => concatColumns(h, [f(3, 2), f(1, 2)]),
      /^concatColumns: argument 'parts\[1\]' must be 3 rows \(as many as parts\[0\]\), got 1$/,
    );
    await fails(
      () => concatColumns(h, []),
      /^concatColumns: argument 'parts' must be at least one matrix, got "none"$/,
    );
    await fails(
      () => splitColumns(h, f(3, 2), [3]),
      /^splitColumns: argument 'widths' must be non-negative integers adding up to 2, got \[3\]$/,
    );
  });

  it('output tensors are named as the caller passed them', async () => {
    await fails(
      () => softmaxCrossEntropy(exec, f(2, 3), i32([0, 1]), { gradOut: f(3, 2) }),
      /^softmaxCrossEntropy: argument 'options\.gradOut' must have shape \[2, 3\], got \[3, 2\]$/,
    );
    await fails(
      () => dropout(exec, f(4), 0.5, [1, 2], { mask: u8([5]) }),
      /^dropout: argument 'out\.mask' must have shape \[4\], got \[5\]$/,
    );
  });

  it('CsrMatrix.fromCoo checks rows and cols before allocating', async () => {
    await fails(
      () => CsrMatrix.fromCoo(h, -2, 2, [], []),
      /^CsrMatrix\.fromCoo: argument 'rows' must be a non-negative integer, got -2$/,
    );
  });

  it('reduceInOrder checks every part before writing the target', async () => {
    const target = f(2, 2);
    target.data().set([7, 7, 7, 7]);
    const a = f(2, 2);
    a.data().set([1, 2, 3, 4]);
    await fails(
      () => reduceInOrder(exec, [a, f(3, 2)], target),
      /^reduceInOrder: argument 'parts\[1\]' must have shape \[2, 2\], got \[3, 2\]$/,
    );
    expect(Array.from(target.data())).toEqual([7, 7, 7, 7]);
  });

  it('a tensor of another Heap is refused by name (its addresses mean other bytes in this memory)', async () => {
    const other = new Heap({ initialBytes: 1 << 16 });
    const x = Tensor.from(other, 'float32', [4], [-1, 2, -3, 4]);
    await fails(
      () => relu(exec, x),
      /^relu: argument 'x' must be a tensor in this runtime's memory, got "a tensor of another Heap"$/,
    );
    await fails(
      () => matmul(exec, f(2, 2), Tensor.from(other, 'float32', [2, 2], [1, 0, 0, 1])),
      /^matmul: argument 'b' must be a tensor in this runtime's memory/,
    );
    await fails(
      () => mseLoss(exec, f(4, 1), f(4, 1), { mask: Tensor.zeros(other, 'uint8', [4]) }),
      /^mseLoss: argument 'options\.mask' must be a tensor in this runtime's memory/,
    );
    expect(Array.from(x.data())).toEqual([-1, 2, -3, 4]);
  });

  it('dropout with p = 0 is exactly the identity', async () => {
    // Key found by search: element 5's hash is 2³² − 1, which the kernel's test never keeps.
    const x = f(8);
    x.data().set([1, 2, 3, 4, 5, 6, 7, 8]);
    const r = await dropout(exec, x, 0, [-242416782, 12345]);
    expect(Array.from(r.y.data())).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(Array.from(r.mask.data())).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);
    r.y.free();
    r.mask.free();
  });
});
