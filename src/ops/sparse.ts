import { argRangeError, argTypeError, shapeError } from '../core/errors.js';
import { CsrMatrix } from '../graph/csr.js';
import type { Exec } from '../runtime/exec.js';
import { partsFor, splitByPrefix } from '../runtime/partition.js';
import type { Tensor } from '../memory/tensor.js';
import { matrixArg, outArg, sameMemory, tensorArg } from './check.js';

/** Options of spmm: the column pass width, and a bias and ReLU fused into the output. */
export interface SpmmOptions {
  /**
   * Columns per pass over the graph (a multiple of 32, or 0 for all, the default). Narrower
   * passes keep the gathered rows of X in cache when X is large, as DGL does, but on the
   * arxiv-size graph (169k nodes × 256 columns) passes of 64 columns measured slower than
   * one pass (0.41 against 0.62 of the triad bandwidth, 2 threads), so none is the default.
   * Blocking never changes the bits: each output element is the same sum either way.
   */
  colBlock?: number;
  /**
   * A layer's epilogue, applied as Y is stored: Y += bias per column (bias [n]), then, with
   * `relu`, max(Y, 0). The bits equal spmm followed by biasAdd and relu.
   */
  bias?: Tensor;
  relu?: boolean;
}

/**
 * Y = A · X for a CSR matrix A [m, k] and a dense X [k, n]. Rows of A are split across the
 * exec's threads so each part carries about the same number of nonzeros.
 *
 * Shapes: A [m, k], X [k, n] → Y [m, n].
 * @example const ax = await spmm(rt.exec, adj, x);
 */
export async function spmm(
  exec: Exec,
  a: CsrMatrix,
  x: Tensor,
  out?: Tensor,
  options: SpmmOptions = {},
): Promise<Tensor> {
  sameMemory('spmm', exec, { 'a.rowPtr': a instanceof CsrMatrix ? a.rowPtr : undefined, x, out });
  const fn = 'spmm';
  if (!(a instanceof CsrMatrix)) throw argTypeError(fn, 'a', 'a CsrMatrix', a);
  matrixArg(fn, 'x', x);
  const [k, n] = x.shape as [number, number];
  if (k !== a.cols) throw shapeError(fn, 'x', [a.cols, '*'], x.shape);
  const block = options.colBlock ?? 0;
  if (!Number.isInteger(block) || block < 0 || block % 32 !== 0)
    throw argRangeError(fn, 'options.colBlock', 'a non-negative multiple of 32', block);
  if (out !== undefined && out.ptr === x.ptr && a.rows > 0 && n > 0)
    throw argRangeError(fn, 'out', 'a tensor other than x', 'x itself');
  const bias = options.bias;
  if (options.relu && !bias) throw argRangeError(fn, 'options.relu', 'used with options.bias', 'relu without a bias');
  if (bias) {
    sameMemory(fn, exec, { 'options.bias': bias });
    tensorArg(fn, 'options.bias', bias, 'float32', 1);
    if (bias.size !== n) throw argRangeError(fn, 'options.bias', `${n} elements (x's columns)`, bias.size);
  }
  const y = outArg(fn, out, x, 'float32', [a.rows, n]);
  if (a.rows === 0 || n === 0) return y;
  const rowPtr = a.rowPtr.data();
  const parts = partsFor(exec, (a.nnz + a.rows) * n, 1 << 16);
  const bounds = splitByPrefix(rowPtr, a.rows, parts, 1);
  const step = block === 0 ? n : block;
  for (let c0 = 0; c0 < n; c0 += step) {
    const c1 = Math.min(n, c0 + step);
    if (bias)
      await exec.run(
        'spmmCsrBiasRelu',
        [a.rowPtr.ptr, a.colIdx.ptr, a.vals.ptr, x.ptr, n, y.ptr, n, c0, c1, bias.ptr, options.relu ? 1 : 0],
        bounds,
      );
    else await exec.run('spmmCsr', [a.rowPtr.ptr, a.colIdx.ptr, a.vals.ptr, x.ptr, n, y.ptr, n, c0, c1], bounds);
  }
  return y;
}

/**
 * The sampled dense-dense product on A's pattern: out[e] = Σ_c G[r, c] · H[j, c] for every
 * nonzero e = (r, j) of A, in A's storage order. It is the gradient of Y = A · H with respect
 * to A's values (∂L/∂A.vals, given G = ∂L/∂Y); A's own values are not read. Rows are split
 * across the exec's threads by nonzeros, and each output is one dot in an order fixed by n,
 * so the bits do not depend on the thread count.
 *
 * Shapes: A [m, k] with nnz nonzeros, G [m, n], H [k, n] → out [nnz].
 * @example const gVals = await sddmm(rt.exec, adj, gy, x); // Y = adj · X, gy = ∂L/∂Y
 */
export async function sddmm(exec: Exec, a: CsrMatrix, g: Tensor, h: Tensor, out?: Tensor): Promise<Tensor> {
  sameMemory('sddmm', exec, { 'a.rowPtr': a instanceof CsrMatrix ? a.rowPtr : undefined, g, h, out });
  const fn = 'sddmm';
  if (!(a instanceof CsrMatrix)) throw argTypeError(fn, 'a', 'a CsrMatrix', a);
  const [m, n] = matrixArg(fn, 'g', g).shape;
  const [k, hn] = matrixArg(fn, 'h', h).shape;
  if (m !== a.rows) throw shapeError(fn, 'g', [a.rows, '*'], g.shape);
  if (k !== a.cols || hn !== n) throw shapeError(fn, 'h', [a.cols, n], h.shape);
  const y = outArg(fn, out, g, 'float32', [a.nnz]);
  if (a.nnz === 0) return y;
  // Checked only once there is something to write, as spmm does: an empty output overlaps nothing.
  if (y.ptr === g.ptr || y.ptr === h.ptr) throw argRangeError(fn, 'out', 'a tensor other than g and h', 'one of them');
  // Every nonzero costs a dot of n (at least one step when n = 0: its output is still written).
  const parts = partsFor(exec, (a.nnz + a.rows) * Math.max(n, 1), 1 << 16);
  const bounds = splitByPrefix(a.rowPtr.data(), a.rows, parts, 1);
  await exec.run('sddmmCsr', [a.rowPtr.ptr, a.colIdx.ptr, g.ptr, n, h.ptr, n, n, y.ptr], bounds);
  return y;
}
