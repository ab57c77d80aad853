import { argRangeError, shapeError } from '../core/errors.js';
import type { Exec } from '../runtime/exec.js';
import { GEMM_WAKE_GRAINS, partsFor, splitEven } from '../runtime/partition.js';
import type { Tensor } from '../memory/tensor.js';
import { matrixArg, outArg, sameMemory } from './check.js';

/** Options of matmul: which operand is transposed. */
export interface MatmulOptions {
  /** Use Aᵀ (A is then [k, m]). */
  transA?: boolean;
  /** Use Bᵀ (B is then [n, k]). */
  transB?: boolean;
}

/**
 * C = op(A) · op(B) for dense float32 matrices, in the three forms training needs:
 * A·B (forward X·W), Aᵀ·B (weight gradient Xᵀ·G) and A·Bᵀ (input gradient G·Wᵀ).
 * Output rows are split across threads; every element is one sum in a fixed order.
 *
 * Shapes: op(A) [m, k], op(B) [k, n] → C [m, n].
 * @example const h = await matmul(rt.exec, x, w);
 */
export async function matmul(
  exec: Exec,
  a: Tensor,
  b: Tensor,
  out?: Tensor,
  options: MatmulOptions = {},
): Promise<Tensor> {
  sameMemory('matmul', exec, { a, b, out });
  const fn = 'matmul';
  matrixArg(fn, 'a', a);
  matrixArg(fn, 'b', b);
  const transA = options.transA === true,
    transB = options.transB === true;
  if (transA && transB) throw argRangeError(fn, 'options', 'at most one of transA, transB', 'both');
  const [ar, ac] = a.shape as [number, number];
  const [br, bc] = b.shape as [number, number];
  const m = transA ? ac : ar,
    k = transA ? ar : ac;
  const kb = transB ? bc : br,
    n = transB ? br : bc;
  if (kb !== k) throw shapeError(fn, 'b', transB ? ['*', k] : [k, '*'], b.shape);
  const c = outArg(fn, out, a, 'float32', [m, n]);
  if (m === 0 || n === 0) return c;
  if (c.ptr === a.ptr || c.ptr === b.ptr) throw argRangeError(fn, 'out', 'a tensor other than a and b', 'one of them');
  if (k === 0) {
    await exec.run('fillF32', [c.ptr, 0], [0, m * n]);
    return c;
  }
  const kernel = transA ? 'gemmTN' : transB ? 'gemmNT' : 'gemmNN';
  const bounds = splitEven(m, partsFor(exec, m * n * k, 1 << 17, GEMM_WAKE_GRAINS), 4);
  await exec.run(kernel, [a.ptr, ac, b.ptr, bc, c.ptr, n, n, k], bounds);
  return c;
}
