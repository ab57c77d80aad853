import type { StoredTensor } from '../core/safetensors.js';
import type { Int8WeightValues } from '../ops/int8.js';
import { nearestEven } from '../reference/int8.js';

// Symmetric per-output-channel int8 weights and per-tensor 7-bit activations, the scheme of
// graft quantize --int8. Activations use 7 bits because relaxed SIMD's integer dot product
// is exact only for an operand in [0, 127]: a non-negative input (a ReLU's output, a
// bag-of-words row, one-hot atom features) maps [0, max] to [0, 127]; a signed one maps
// [−64·s, 63·s] with a zero point of 64.

/** Per output column j of W [k, out] (row-major): s_j = max_i |W_ij| / 127 and q = round(W / s_j) in [−127, 127]. */
export function quantizeWeight(w: Float32Array, k: number, out: number): { q: Int8Array; weightScale: Float32Array } {
  const q = new Int8Array(out * k),
    weightScale = new Float32Array(out);
  for (let j = 0; j < out; j++) {
    let m = 0;
    for (let i = 0; i < k; i++) m = Math.max(m, Math.abs(w[i * out + j]!));
    const s = m > 0 ? Math.fround(m / 127) : 1;
    weightScale[j] = s;
    for (let i = 0; i < k; i++) q[j * k + i] = Math.max(-127, Math.min(127, nearestEven(w[i * out + j]! / s)));
  }
  return { q, weightScale };
}

/** The input scale and zero point for values seen in [min, max] during calibration. */
export function activationQuant(min: number, max: number): { inputScale: number; zeroPoint: number } {
  if (min >= 0) return { inputScale: max > 0 ? Math.fround(max / 127) : 1, zeroPoint: 0 };
  const s = Math.max(-min / 64, max / 63);
  return { inputScale: Math.fround(s), zeroPoint: 64 };
}

/** A linear map's int8 values: W [k, out] quantized per output column, its input scale from the range calibration saw. */
export function quantizeLinear(
  w: Float32Array,
  k: number,
  out: number,
  range: { min: number; max: number },
): Int8WeightValues {
  return { ...quantizeWeight(w, k, out), k, out, ...activationQuant(range.min, range.max) };
}

/** Running min and max of a layer's inputs over the calibration rows. */
export class RangeObserver {
  min = Infinity;
  max = -Infinity;

  /** Adds rows `rows` (all when null) of x [n, k]. */
  add(x: Float32Array, k: number, rows: ArrayLike<number> | null): void {
    const each = (r: number): void => {
      for (let c = r * k, e = c + k; c < e; c++) {
        const v = x[c]!;
        if (v < this.min) this.min = v;
        if (v > this.max) this.max = v;
      }
    };
    if (rows) for (let i = 0; i < rows.length; i++) each(rows[i]!);
    else for (let r = 0, n = x.length / k; r < n; r++) each(r);
  }
}

/** A quantized layer's tensors in a model file: <name>.weight.q [out, k] I8, <name>.weight.scale [out], <name>.input [scale, zero point]. */
export function int8Entries(name: string, v: Int8WeightValues): [string, StoredTensor][] {
  return [
    [`${name}.weight.q`, { shape: [v.out, v.k], data: v.q }],
    [`${name}.weight.scale`, { shape: [v.out], data: v.weightScale }],
    [`${name}.input`, { shape: [2], data: Float32Array.of(v.inputScale, v.zeroPoint) }],
  ];
}

/** The layer `name`'s int8 values from a file's tensors (under `prefix`), or null when it has none. */
export function int8Values(
  tensors: ReadonlyMap<string, StoredTensor>,
  prefix: string,
  name: string,
): Int8WeightValues | null {
  const q = tensors.get(`${prefix}${name}.weight.q`),
    s = tensors.get(`${prefix}${name}.weight.scale`),
    inp = tensors.get(`${prefix}${name}.input`);
  if (!q || !s || !inp || !(q.data instanceof Int8Array) || !(s.data instanceof Float32Array)) return null;
  const [out, k] = q.shape as [number, number];
  return { q: q.data, k, out, weightScale: s.data, inputScale: inp.data[0]!, zeroPoint: inp.data[1]! };
}
