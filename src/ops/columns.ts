import { argRangeError } from '../core/errors.js';
import type { Heap } from '../memory/heap.js';
import { Tensor } from '../memory/tensor.js';
import { matrixArg } from './check.js';

// The hybrids' join: two row-aligned matrices side by side, and the gradient cut back apart.
// Host copies: the joined width is small (two hidden layers), and the copy is row order.

/** [a | b] for a [n, p] and b [n, q] → [n, p + q]. */
export function concatColumns(heap: Heap, a: Tensor, b: Tensor): Tensor {
  matrixArg('concatColumns', 'a', a);
  matrixArg('concatColumns', 'b', b);
  const n = a.shape[0]!, p = a.shape[1]!, q = b.shape[1]!, w = p + q;
  if (b.shape[0] !== n) throw argRangeError('concatColumns', 'b', `${n} rows (as many as a)`, b.shape[0]);
  const out = Tensor.empty(heap, 'float32', [n, w], 'concat');
  const o = out.data() as Float32Array, da = a.data() as Float32Array, db = b.data() as Float32Array;
  for (let i = 0; i < n; i++) {
    o.set(da.subarray(i * p, (i + 1) * p), i * w);
    o.set(db.subarray(i * q, (i + 1) * q), i * w + p);
  }
  return out;
}

/** The inverse of concatColumns: g [n, p + q] → ([n, p], [n, q]). */
export function splitColumns(heap: Heap, g: Tensor, p: number): [Tensor, Tensor] {
  matrixArg('splitColumns', 'g', g);
  const n = g.shape[0]!, w = g.shape[1]!, q = w - p;
  if (!Number.isInteger(p) || p < 0 || p > w) throw argRangeError('splitColumns', 'p', `an integer in [0, ${w}]`, p);
  const a = Tensor.empty(heap, 'float32', [n, p]), b = Tensor.empty(heap, 'float32', [n, q]);
  const s = g.data() as Float32Array, da = a.data() as Float32Array, db = b.data() as Float32Array;
  for (let i = 0; i < n; i++) {
    da.set(s.subarray(i * w, i * w + p), i * p);
    db.set(s.subarray(i * w + p, (i + 1) * w), i * q);
  }
  return [a, b];
}
