import { argRangeError, argTypeError, shapeError } from '../core/errors.js';
import type { Exec } from '../runtime/exec.js';
import { Tensor, type DType } from '../memory/tensor.js';

// Checks shared by the public ops: a live tensor of the right dtype and rank.

export function tensorArg(fn: string, arg: string, t: unknown, dtype: DType, rank?: number): Tensor {
  if (!(t instanceof Tensor)) throw argTypeError(fn, arg, 'a Tensor', t);
  t.expectDtype(fn, arg, dtype);
  if (rank !== undefined && t.shape.length !== rank) {
    throw argRangeError(fn, arg, `a rank-${rank} tensor`, `shape [${t.shape.join(', ')}]`);
  }
  return t;
}

export function matrixArg(
  fn: string,
  arg: string,
  t: unknown,
  dtype: DType = 'float32',
): Tensor & { shape: [number, number] } {
  return tensorArg(fn, arg, t, dtype, 2) as Tensor & { shape: [number, number] };
}

export function sameShape(fn: string, arg: string, t: Tensor, like: Tensor): void {
  if (t.shape.length !== like.shape.length || t.shape.some((d, i) => d !== like.shape[i])) {
    throw shapeError(fn, arg, like.shape, t.shape);
  }
}

/** Two live float32 tensors where `b` must have `a`'s shape (elementwise pairs). */
export function sameShapePair(fn: string, aName: string, a: Tensor, bName: string, b: Tensor): void {
  tensorArg(fn, aName, a, 'float32');
  tensorArg(fn, bName, b, 'float32');
  sameShape(fn, bName, b, a);
}

/** An output tensor: the one given (checked, and named `arg` in errors) or a new one. */
export function outArg(
  fn: string,
  out: Tensor | undefined,
  like: { heap: Tensor['heap'] },
  dtype: DType,
  shape: readonly number[],
  arg = 'out',
): Tensor {
  if (out === undefined) return Tensor.empty(like.heap, dtype, shape, `${fn} output`);
  checkOut(fn, out, dtype, shape, arg);
  return out;
}

/** Checks a caller's output tensor without allocating (so a later allocation cannot leak). */
export function checkOut(
  fn: string,
  out: Tensor | undefined,
  dtype: DType,
  shape: readonly number[],
  arg: string,
): void {
  if (out === undefined) return;
  tensorArg(fn, arg, out, dtype);
  if (out.shape.length !== shape.length || out.shape.some((d, i) => d !== shape[i]))
    throw shapeError(fn, arg, shape, out.shape);
}

/**
 * Every tensor an op gets must live in the memory its exec's kernels run on: a tensor of
 * another Heap has addresses that mean something else there, and the kernels would read and
 * write the wrong bytes without a word. Checked before anything is allocated.
 */
export function sameMemory(fn: string, exec: Exec, tensors: Record<string, unknown>): void {
  for (const [name, t] of Object.entries(tensors)) {
    if (t instanceof Tensor && t.heap.memory !== exec.heap.memory) {
      throw argRangeError(fn, name, "a tensor in this runtime's memory", 'a tensor of another Heap');
    }
  }
}
