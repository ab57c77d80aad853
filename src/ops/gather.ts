import { argRangeError, shapeError } from '../core/errors.js';
import type { Exec } from '../runtime/exec.js';
import { partsFor, splitEven } from '../runtime/partition.js';
import type { Tensor } from '../memory/tensor.js';
import { matrixArg, outArg, sameMemory, tensorArg } from './check.js';

const GRAIN = 1 << 15;

/** Every index in [0, rows): an index past x would read other tensors' bytes without a word. */
function indexArg(fn: string, idx: unknown, rows: number): Tensor<'int32'> {
  const t = tensorArg(fn, 'idx', idx, 'int32', 1) as Tensor<'int32'>;
  const d = t.data();
  for (let i = 0; i < d.length; i++)
    if (!(d[i]! >= 0 && d[i]! < rows)) throw argRangeError(fn, `idx[${i}]`, `a row of x in [0, ${rows})`, d[i]);
  return t;
}

/**
 * out[e, :] = x[idx[e], :]: one row per index (a message per edge, from its source). Indices
 * are split across threads; each output is a copy.
 *
 * Shapes: x [n, c], idx int32 [m] → out [m, c].
 * @example const m = await gatherRows(rt.exec, x, graph.adj.colIdx); // each edge's source row
 */
export async function gatherRows(exec: Exec, x: Tensor, idx: Tensor<'int32'>, out?: Tensor): Promise<Tensor> {
  const fn = 'gatherRows';
  sameMemory(fn, exec, { x, idx, out });
  const [n, c] = matrixArg(fn, 'x', x).shape;
  const m = indexArg(fn, idx, n).size;
  const y = outArg(fn, out, x, 'float32', [m, c]);
  if (m === 0 || c === 0) return y;
  if (y.ptr === x.ptr) throw argRangeError(fn, 'out', 'a tensor other than x', 'x itself');
  await exec.run('gatherRows', [x.ptr, c, idx.ptr, y.ptr, c, c], splitEven(m, partsFor(exec, m * c, GRAIN)));
  return y;
}

/**
 * GINE's message: out[e, :] = max(x[idx[e], :] + add[e, :], 0), the source's row plus the
 * edge's own term, through a ReLU, in one pass.
 *
 * Shapes: x [n, c], idx int32 [m], add [m, c] → out [m, c].
 * @example const msg = await gatherAddRelu(rt.exec, x, graph.adj.colIdx, edgeTerm);
 */
export async function gatherAddRelu(
  exec: Exec,
  x: Tensor,
  idx: Tensor<'int32'>,
  add: Tensor,
  out?: Tensor,
): Promise<Tensor> {
  const fn = 'gatherAddRelu';
  sameMemory(fn, exec, { x, idx, add, out });
  const [n, c] = matrixArg(fn, 'x', x).shape;
  const m = indexArg(fn, idx, n).size;
  matrixArg(fn, 'add', add);
  if (add.shape[0] !== m || add.shape[1] !== c) throw shapeError(fn, 'add', [m, c], add.shape);
  const y = outArg(fn, out, x, 'float32', [m, c]);
  if (m === 0 || c === 0) return y;
  if (y.ptr === x.ptr) throw argRangeError(fn, 'out', 'a tensor other than x', 'x itself');
  await exec.run(
    'gatherAddRelu',
    [x.ptr, c, idx.ptr, add.ptr, c, y.ptr, c, c],
    splitEven(m, partsFor(exec, m * c, GRAIN)),
  );
  return y;
}
