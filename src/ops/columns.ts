import { argRangeError } from '../core/errors.js';
import type { Heap } from '../memory/heap.js';
import { Tensor } from '../memory/tensor.js';
import { matrixArg } from './check.js';

// The branch joins: row-aligned matrices side by side, and the gradient cut back apart.
// Host copies: the joined width is small (a few hidden layers), and the copy is row order.

/** [p₀ | p₁ | …] for row-aligned matrices pᵢ [n, wᵢ] → [n, Σ wᵢ]. */
export function concatColumns(heap: Heap, parts: readonly Tensor[]): Tensor {
  if (parts.length === 0) throw argRangeError('concatColumns', 'parts', 'at least one matrix', 'none');
  parts.forEach((t, i) => {
    matrixArg('concatColumns', `parts[${i}]`, t);
  });
  const n = parts[0]!.shape[0]!;
  parts.forEach((t, i) => {
    if (t.shape[0] !== n)
      throw argRangeError('concatColumns', `parts[${i}]`, `${n} rows (as many as parts[0])`, t.shape[0]);
  });
  const w = parts.reduce((a, t) => a + t.shape[1]!, 0);
  const out = Tensor.empty(heap, 'float32', [n, w], 'concat');
  const o = out.data() as Float32Array;
  let at = 0;
  for (const t of parts) {
    const q = t.shape[1]!,
      d = t.data() as Float32Array;
    for (let i = 0; i < n; i++) o.set(d.subarray(i * q, (i + 1) * q), i * w + at);
    at += q;
  }
  return out;
}

/** The inverse of concatColumns: g [n, Σ wᵢ] → the parts [n, wᵢ]. */
export function splitColumns(heap: Heap, g: Tensor, widths: readonly number[]): Tensor[] {
  matrixArg('splitColumns', 'g', g);
  const n = g.shape[0]!,
    w = g.shape[1]!;
  if (widths.some((x) => !Number.isInteger(x) || x < 0) || widths.reduce((a, b) => a + b, 0) !== w) {
    throw argRangeError('splitColumns', 'widths', `non-negative integers adding up to ${w}`, [...widths]);
  }
  const s = g.data() as Float32Array;
  const out: Tensor[] = [];
  let at = 0;
  for (const q of widths) {
    const t = Tensor.empty(heap, 'float32', [n, q]);
    const d = t.data() as Float32Array;
    for (let i = 0; i < n; i++) d.set(s.subarray(i * w + at, i * w + at + q), i * q);
    out.push(t);
    at += q;
  }
  return out;
}
