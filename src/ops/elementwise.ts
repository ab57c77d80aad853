import { argRangeError, checkFinite } from '../core/errors.js';
import type { Exec } from '../runtime/exec.js';
import { partsFor, splitEven } from '../runtime/partition.js';
import type { Tensor } from '../memory/tensor.js';
import { matrixArg, outArg, sameShapePair, tensorArg, sameMemory } from './check.js';

// Elementwise and row/column ops. Element ranges are cut on multiples of 16 so each part's
// SIMD body lines up; results do not depend on the cut.

const GRAIN = 1 << 15;

function elementBounds(exec: Exec, n: number): number[] {
  return splitEven(n, partsFor(exec, n, GRAIN), 16);
}

/**
 * y[r, :] += bias, in place; with `relu`, then y = max(y, 0) in the same pass (the bits of
 * biasAdd then relu). Shapes: y [m, n], bias [n].
 */
export async function biasAdd(exec: Exec, y: Tensor, bias: Tensor, options: { relu?: boolean } = {}): Promise<Tensor> {
  sameMemory('biasAdd', exec, { y, bias });
  matrixArg('biasAdd', 'y', y);
  tensorArg('biasAdd', 'bias', bias, 'float32', 1);
  const [m, n] = y.shape as [number, number];
  if (bias.size !== n) throw argRangeError('biasAdd', 'bias', `${n} elements (y's columns)`, bias.size);
  await exec.run(
    options.relu ? 'biasAddRelu' : 'biasAdd',
    [y.ptr, n, bias.ptr, n],
    splitEven(m, partsFor(exec, m * n, GRAIN)),
  );
  return y;
}

/** Column sums (the bias gradient): out[c] = Σ_r g[r, c], rows added in order. Shapes: g [m, n] → [n]. */
export async function colSum(exec: Exec, g: Tensor, out?: Tensor): Promise<Tensor> {
  sameMemory('colSum', exec, { g, out });
  matrixArg('colSum', 'g', g);
  const [m, n] = g.shape as [number, number];
  const o = outArg('colSum', out, g, 'float32', [n]);
  await exec.run('colSum', [g.ptr, n, o.ptr, m], splitEven(n, partsFor(exec, m * n, GRAIN), 4));
  return o;
}

/** y = max(x, 0) elementwise, into `out` when given (it may be x itself). */
export async function relu(exec: Exec, x: Tensor, out?: Tensor): Promise<Tensor> {
  sameMemory('relu', exec, { x, out });
  tensorArg('relu', 'x', x, 'float32');
  const y = outArg('relu', out, x, 'float32', x.shape);
  await exec.run('relu', [x.ptr, y.ptr], elementBounds(exec, x.size));
  return y;
}

/** gx = gy where the forward output y > 0, else 0. */
export async function reluBackward(exec: Exec, y: Tensor, gy: Tensor, out?: Tensor): Promise<Tensor> {
  sameMemory('reluBackward', exec, { y, gy, out });
  sameShapePair('reluBackward', 'y', y, 'gy', gy);
  const gx = outArg('reluBackward', out, y, 'float32', y.shape);
  await exec.run('reluBackward', [y.ptr, gy.ptr, gx.ptr], elementBounds(exec, y.size));
  return gx;
}

/**
 * reluBackward and colSum in one pass: gx = gy where y > 0, else 0, and biasGrad = Σ_r gx[r, :]
 * (the bias gradient of the layer whose output the ReLU took), with the bits of the two ops.
 * Shapes: y, gy [m, n] → gx [m, n]; biasGrad [n].
 */
export async function reluBackwardColSum(
  exec: Exec,
  y: Tensor,
  gy: Tensor,
  biasGrad: Tensor,
  out?: Tensor,
): Promise<Tensor> {
  sameMemory('reluBackwardColSum', exec, { y, gy, biasGrad, out });
  matrixArg('reluBackwardColSum', 'y', y);
  sameShapePair('reluBackwardColSum', 'y', y, 'gy', gy);
  tensorArg('reluBackwardColSum', 'biasGrad', biasGrad, 'float32', 1);
  const [m, n] = y.shape as [number, number];
  if (biasGrad.size !== n)
    throw argRangeError('reluBackwardColSum', 'biasGrad', `${n} elements (y's columns)`, biasGrad.size);
  const gx = outArg('reluBackwardColSum', out, y, 'float32', y.shape);
  await exec.run(
    'reluBackwardColSum',
    [y.ptr, gy.ptr, gx.ptr, n, biasGrad.ptr, m],
    splitEven(n, partsFor(exec, m * n, GRAIN), 4),
  );
  return gx;
}

/** y = alpha · x (y may be x). */
export async function scale(exec: Exec, x: Tensor, alpha: number, out?: Tensor): Promise<Tensor> {
  sameMemory('scale', exec, { x, out });
  tensorArg('scale', 'x', x, 'float32');
  checkFinite('scale', 'alpha', alpha);
  const y = outArg('scale', out, x, 'float32', x.shape);
  await exec.run('scale', [x.ptr, alpha, y.ptr], elementBounds(exec, x.size));
  return y;
}

/** y += alpha · x, in place. */
export async function axpy(exec: Exec, alpha: number, x: Tensor, y: Tensor): Promise<Tensor> {
  sameMemory('axpy', exec, { x, y });
  checkFinite('axpy', 'alpha', alpha);
  sameShapePair('axpy', 'x', x, 'y', y);
  await exec.run('axpy', [alpha, x.ptr, y.ptr], elementBounds(exec, x.size));
  return y;
}

/** y += x, in place. */
export async function addInto(exec: Exec, x: Tensor, y: Tensor): Promise<Tensor> {
  sameMemory('addInto', exec, { x, y });
  sameShapePair('addInto', 'x', x, 'y', y);
  await exec.run('addInto', [x.ptr, y.ptr], elementBounds(exec, x.size));
  return y;
}

/** Sets every element of x to `value`, in place. */
export async function fill(exec: Exec, x: Tensor, value: number): Promise<Tensor> {
  sameMemory('fill', exec, { x });
  tensorArg('fill', 'x', x, 'float32');
  if (typeof value !== 'number') throw argRangeError('fill', 'value', 'a number', value);
  await exec.run('fillF32', [x.ptr, value], elementBounds(exec, x.size));
  return x;
}

/** dst = src, elementwise; both tensors have the same shape. */
export async function copy(exec: Exec, src: Tensor, dst: Tensor): Promise<Tensor> {
  sameMemory('copy', exec, { src, dst });
  sameShapePair('copy', 'src', src, 'dst', dst);
  await exec.run('copyF32', [src.ptr, dst.ptr], elementBounds(exec, src.size));
  return dst;
}

/**
 * Batch splitting's reduction: target = Σ_s parts[s], added in shard order, so the bits are
 * fixed by the shard count alone.
 */
export async function reduceInOrder(exec: Exec, parts: readonly Tensor[], target: Tensor): Promise<Tensor> {
  sameMemory('reduceInOrder', exec, { target, ...Object.fromEntries(parts.map((t, i) => [`parts[${i}]`, t])) });
  if (parts.length === 0) throw argRangeError('reduceInOrder', 'parts', 'at least one tensor', parts);
  // Every part checked before the target is touched.
  parts.forEach((p, s) => {
    sameShapePair('reduceInOrder', 'target', target, `parts[${s}]`, p);
  });
  await copy(exec, parts[0]!, target);
  for (let s = 1; s < parts.length; s++) await addInto(exec, parts[s]!, target);
  return target;
}
