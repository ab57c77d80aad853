import { argRangeError, argTypeError, checkFinite, shapeError } from '../core/errors.js';
import { CsrMatrix } from '../graph/csr.js';
import type { Exec } from '../runtime/exec.js';
import { partsFor, splitByPrefix, splitEven } from '../runtime/partition.js';
import type { Tensor } from '../memory/tensor.js';
import { matrixArg, outArg, sameMemory, sameShapePair, tensorArg } from './check.js';

// Graph attention on a CSR pattern (rows = destinations, colIdx = sources), with per-edge
// values head-major [heads, nnz]: head h's values are a CSR vals array, which the SpMM that
// aggregates with them reads in place. Rows are split across threads by nonzeros; every
// output is a sum over one row in storage order, so the bits do not depend on the split.

function csrArg(fn: string, a: unknown): CsrMatrix {
  if (!(a instanceof CsrMatrix)) throw argTypeError(fn, 'adj', 'a CsrMatrix', a);
  return a;
}

/** [heads, nnz] per-edge values of adj. */
function edgeValues(fn: string, arg: string, t: Tensor, adj: CsrMatrix): number {
  matrixArg(fn, arg, t);
  if (t.shape[1] !== adj.nnz) throw shapeError(fn, arg, ['*', adj.nnz], t.shape);
  return t.shape[0]!;
}

function rowBounds(exec: Exec, adj: CsrMatrix, perNonzero: number): number[] {
  return splitByPrefix(
    adj.rowPtr.data(),
    adj.rows,
    partsFor(exec, (adj.nnz + adj.rows) * Math.max(perNonzero, 1), 1 << 14),
    1,
  );
}

/**
 * GAT's attention logits: out[h, e] = LeakyReLU(aSrc[j, h] + aDst[i, h]) for each nonzero
 * e = (i, j) of adj (message j → i), where aSrc and aDst hold each node's per-head dot with
 * the attention vectors.
 *
 * Shapes: adj [m, k], aSrc [k, heads], aDst [m, heads] → out [heads, nnz].
 * @example const s = await gatScore(rt.exec, g.adj, aSrc, aDst, 0.2);
 */
export async function gatScore(
  exec: Exec,
  adj: CsrMatrix,
  aSrc: Tensor,
  aDst: Tensor,
  slope: number,
  out?: Tensor,
): Promise<Tensor> {
  const fn = 'gatScore';
  sameMemory(fn, exec, { aSrc, aDst, out });
  csrArg(fn, adj);
  const heads = matrixArg(fn, 'aSrc', aSrc).shape[1];
  if (aSrc.shape[0] !== adj.cols) throw shapeError(fn, 'aSrc', [adj.cols, '*'], aSrc.shape);
  matrixArg(fn, 'aDst', aDst);
  if (aDst.shape[0] !== adj.rows || aDst.shape[1] !== heads)
    throw shapeError(fn, 'aDst', [adj.rows, heads], aDst.shape);
  if (!(checkFinite(fn, 'slope', slope) >= 0)) throw argRangeError(fn, 'slope', 'a number ≥ 0', slope);
  const y = outArg(fn, out, aSrc, 'float32', [heads, adj.nnz]);
  if (adj.nnz === 0 || heads === 0) return y;
  await exec.run(
    'gatScore',
    [adj.rowPtr.ptr, adj.colIdx.ptr, aSrc.ptr, aDst.ptr, heads, slope, y.ptr, adj.nnz],
    rowBounds(exec, adj, heads),
  );
  return y;
}

/**
 * The softmax over each row's nonzeros (a destination's incoming edges), per head:
 * a[h, e] = exp(s[h, e]) / Σ_{e' in row} exp(s[h, e']). A row with no nonzeros has nothing to
 * normalize. out may be s.
 *
 * Shapes: adj [m, k], s [heads, nnz] → a [heads, nnz].
 * @example const a = await edgeSoftmax(rt.exec, g.adj, scores);
 */
export async function edgeSoftmax(exec: Exec, adj: CsrMatrix, s: Tensor, out?: Tensor): Promise<Tensor> {
  const fn = 'edgeSoftmax';
  sameMemory(fn, exec, { s, out });
  csrArg(fn, adj);
  const heads = edgeValues(fn, 's', s, adj);
  const y = outArg(fn, out, s, 'float32', [heads, adj.nnz]);
  if (adj.nnz === 0 || heads === 0) return y;
  await exec.run(
    'edgeSoftmax',
    [adj.rowPtr.ptr, s.ptr, adj.nnz, y.ptr, adj.nnz, heads],
    rowBounds(exec, adj, 3 * heads),
  );
  return y;
}

/**
 * The edge softmax's backward: gs[h, e] = a[h, e]·(ga[h, e] − Σ_{e' in row} a[h, e']·ga[h, e']),
 * given its output a and that output's gradient ga. out may be ga.
 *
 * Shapes: adj [m, k], a, ga [heads, nnz] → gs [heads, nnz].
 */
export async function edgeSoftmaxBackward(
  exec: Exec,
  adj: CsrMatrix,
  a: Tensor,
  ga: Tensor,
  out?: Tensor,
): Promise<Tensor> {
  const fn = 'edgeSoftmaxBackward';
  sameMemory(fn, exec, { a, ga, out });
  csrArg(fn, adj);
  const heads = edgeValues(fn, 'a', a, adj);
  sameShapePair(fn, 'a', a, 'ga', ga);
  const y = outArg(fn, out, a, 'float32', [heads, adj.nnz]);
  if (adj.nnz === 0 || heads === 0) return y;
  if (y.ptr === a.ptr) throw argRangeError(fn, 'out', 'a tensor other than a', 'a itself');
  await exec.run(
    'edgeSoftmaxBackward',
    [adj.rowPtr.ptr, a.ptr, ga.ptr, y.ptr, adj.nnz, heads],
    rowBounds(exec, adj, 2 * heads),
  );
  return y;
}

/** y = x where x > 0, else slope·x (y may be x). */
export async function leakyRelu(exec: Exec, x: Tensor, slope: number, out?: Tensor): Promise<Tensor> {
  sameMemory('leakyRelu', exec, { x, out });
  tensorArg('leakyRelu', 'x', x, 'float32');
  checkFinite('leakyRelu', 'slope', slope);
  const y = outArg('leakyRelu', out, x, 'float32', x.shape);
  await exec.run('leakyRelu', [x.ptr, y.ptr, slope], splitEven(x.size, partsFor(exec, x.size, 1 << 15), 16));
  return y;
}

/** gx = gy where the LeakyReLU's output y > 0, else slope·gy (slope ≥ 0; gx may be gy). */
export async function leakyReluBackward(
  exec: Exec,
  y: Tensor,
  gy: Tensor,
  slope: number,
  out?: Tensor,
): Promise<Tensor> {
  const fn = 'leakyReluBackward';
  sameMemory(fn, exec, { y, gy, out });
  sameShapePair(fn, 'y', y, 'gy', gy);
  if (!(checkFinite(fn, 'slope', slope) >= 0))
    throw argRangeError(fn, 'slope', "a number ≥ 0 (the sign of y is its input's)", slope);
  const gx = outArg(fn, out, y, 'float32', y.shape);
  await exec.run(
    'leakyReluBackward',
    [y.ptr, gy.ptr, gx.ptr, slope],
    splitEven(y.size, partsFor(exec, y.size, 1 << 15), 16),
  );
  return gx;
}

/**
 * Y[:, h·C:(h+1)·C] = A_h · X[:, h·C:(h+1)·C] for each head h, where A_h is adj's pattern with
 * the values alpha[h, :]: multi-head attention's aggregation, one SpMM per head on X's
 * columns in place (no copy of X or of the values).
 *
 * Shapes: adj [m, k], alpha [heads, nnz], X [k, heads·C] → Y [m, heads·C].
 * @example const y = await spmmHeads(rt.exec, g.adj, attention, xw);
 */
export async function spmmHeads(exec: Exec, adj: CsrMatrix, alpha: Tensor, x: Tensor, out?: Tensor): Promise<Tensor> {
  const fn = 'spmmHeads';
  sameMemory(fn, exec, { alpha, x, out });
  csrArg(fn, adj);
  const heads = edgeValues(fn, 'alpha', alpha, adj);
  const [k, n] = matrixArg(fn, 'x', x).shape;
  if (k !== adj.cols || heads === 0 || n % heads !== 0)
    throw shapeError(fn, 'x', [adj.cols, `a multiple of ${heads}`], x.shape);
  const y = outArg(fn, out, x, 'float32', [adj.rows, n]);
  if (adj.rows === 0 || n === 0) return y;
  if (y.ptr === x.ptr) throw argRangeError(fn, 'out', 'a tensor other than x', 'x itself');
  const c = n / heads,
    bounds = rowBounds(exec, adj, c);
  for (let h = 0; h < heads; h++) {
    await exec.run(
      'spmmCsr',
      [adj.rowPtr.ptr, adj.colIdx.ptr, alpha.ptr + 4 * h * adj.nnz, x.ptr, n, y.ptr, n, h * c, (h + 1) * c],
      bounds,
    );
  }
  return y;
}

/**
 * out[h, e] = G[i, h·C:(h+1)·C] · H[j, h·C:(h+1)·C] for each nonzero e = (i, j): the gradient
 * of spmmHeads with respect to alpha (one SDDMM per head, sddmm's dot order).
 *
 * Shapes: adj [m, k], G [m, heads·C], H [k, heads·C] → out [heads, nnz].
 */
export async function sddmmHeads(
  exec: Exec,
  adj: CsrMatrix,
  g: Tensor,
  h: Tensor,
  heads: number,
  out?: Tensor,
): Promise<Tensor> {
  const fn = 'sddmmHeads';
  sameMemory(fn, exec, { g, h, out });
  csrArg(fn, adj);
  const [m, n] = matrixArg(fn, 'g', g).shape;
  if (!Number.isInteger(heads) || heads <= 0 || n % heads !== 0)
    throw argRangeError(fn, 'heads', `a positive divisor of g's ${n} columns`, heads);
  if (m !== adj.rows) throw shapeError(fn, 'g', [adj.rows, n], g.shape);
  matrixArg(fn, 'h', h);
  if (h.shape[0] !== adj.cols || h.shape[1] !== n) throw shapeError(fn, 'h', [adj.cols, n], h.shape);
  const y = outArg(fn, out, g, 'float32', [heads, adj.nnz]);
  if (adj.nnz === 0) return y;
  if (y.ptr === g.ptr || y.ptr === h.ptr) throw argRangeError(fn, 'out', 'a tensor other than g and h', 'one of them');
  const c = n / heads,
    bounds = rowBounds(exec, adj, c);
  for (let q = 0; q < heads; q++) {
    await exec.run(
      'sddmmCsr',
      [adj.rowPtr.ptr, adj.colIdx.ptr, g.ptr + 4 * q * c, n, h.ptr + 4 * q * c, n, c, y.ptr + 4 * q * adj.nnz],
      bounds,
    );
  }
  return y;
}

/**
 * out[:, h] = S · v[h, :]ᵀ for each head h, for a CSR S [m, nnz] whose columns are edge
 * positions (an incidence matrix): sums each head's per-edge values into nodes, one row's
 * edges in storage order (spmm's order, one column).
 *
 * Shapes: s [m, nnz], v [heads, nnz] → out [m, heads].
 */
export async function segmentSumHeads(exec: Exec, s: CsrMatrix, v: Tensor, out?: Tensor): Promise<Tensor> {
  const fn = 'segmentSumHeads';
  sameMemory(fn, exec, { v, out });
  if (!(s instanceof CsrMatrix)) throw argTypeError(fn, 's', 'a CsrMatrix', s);
  matrixArg(fn, 'v', v);
  if (v.shape[1] !== s.cols) throw shapeError(fn, 'v', ['*', s.cols], v.shape);
  const heads = v.shape[0]!;
  const y = outArg(fn, out, v, 'float32', [s.rows, heads]);
  if (s.rows === 0 || heads === 0) return y;
  if (s.cols === 0) {
    await exec.run('fillF32', [y.ptr, 0], [0, y.size]);
    return y;
  }
  const bounds = splitByPrefix(s.rowPtr.data(), s.rows, partsFor(exec, (s.nnz + s.rows) * heads, 1 << 14), 1);
  for (let h = 0; h < heads; h++) {
    await exec.run(
      'spmmCsr',
      [s.rowPtr.ptr, s.colIdx.ptr, s.vals.ptr, v.ptr + 4 * h * s.cols, 1, y.ptr + 4 * h, heads, 0, 1],
      bounds,
    );
  }
  return y;
}

/**
 * out[h, k] = v[h, order[k]]: per-edge values moved to another ordering of the same edges
 * (MessageGraph.order: adj's positions to adjT's), one gather per head.
 *
 * Shapes: v [heads, nnz], order int32 [nnz] → out [heads, nnz].
 */
export async function permuteEdgeValues(exec: Exec, v: Tensor, order: Tensor<'int32'>, out?: Tensor): Promise<Tensor> {
  const fn = 'permuteEdgeValues';
  sameMemory(fn, exec, { v, order, out });
  const [heads, nnz] = matrixArg(fn, 'v', v).shape;
  tensorArg(fn, 'order', order, 'int32', 1);
  if (order.size !== nnz) throw shapeError(fn, 'order', [nnz], order.shape);
  const seen = new Uint8Array(nnz),
    o = order.data();
  for (let k = 0; k < nnz; k++) {
    if (!(o[k]! >= 0 && o[k]! < nnz) || seen[o[k]!])
      throw argRangeError(fn, `order[${k}]`, `a permutation of [0, ${nnz})`, o[k]);
    seen[o[k]!] = 1;
  }
  const y = outArg(fn, out, v, 'float32', [heads, nnz]);
  if (nnz === 0 || heads === 0) return y;
  if (y.ptr === v.ptr) throw argRangeError(fn, 'out', 'a tensor other than v', 'v itself');
  const bounds = splitEven(nnz, partsFor(exec, nnz * heads, 1 << 15));
  for (let h = 0; h < heads; h++)
    await exec.run('gatherRows', [v.ptr + 4 * h * nnz, 1, order.ptr, y.ptr + 4 * h * nnz, 1, 1], bounds);
  return y;
}
