import { argRangeError, argTypeError, shapeError } from '../core/errors.js';
import type { Heap } from '../memory/heap.js';
import { Tensor } from '../memory/tensor.js';
import type { Exec } from '../runtime/exec.js';
import { partsFor, splitEven } from '../runtime/partition.js';
import { matrixArg, outArg, sameMemory } from './check.js';

// Integer matrix products for inference: Y = X·W with X quantized to 7 bits per tensor on the
// fly (scale and zero point fixed by calibration) and W quantized to int8 per output column.
// Each output is one exact int32 dot, then f32(dot − zp·Σw) · (s_x · s_w[j]).

/** What quantizing a weight matrix and calibrating its input gives (see quant/int8.ts). */
export interface Int8WeightValues {
  /** int8 weights, one row of `k` per output column: [out, k]. */
  q: Int8Array;
  k: number;
  out: number;
  /** Per output column: w ≈ q · weightScale[j]. */
  weightScale: Float32Array;
  /** Input: x ≈ (q − zeroPoint) · inputScale, q in [0, 127]. */
  inputScale: number;
  /** 0 for non-negative inputs (ReLU outputs, bag-of-words), 64 for signed ones. */
  zeroPoint: number;
}

/** A quantized weight in the heap, laid out for gemmI8: rows padded to 16 bytes, Σw per column, combined scales. */
export class Int8Weight {
  private constructor(
    readonly values: Int8WeightValues,
    readonly kPad: number,
    readonly q: Tensor,
    readonly wsum: Tensor,
    readonly scale: Tensor,
    readonly inv: number,
  ) {}

  static create(heap: Heap, v: Int8WeightValues): Int8Weight {
    const fn = 'Int8Weight.create';
    if (!(v.q instanceof Int8Array) || v.q.length !== v.k * v.out)
      throw argTypeError(fn, 'values.q', `an Int8Array of ${v.k} × ${v.out}`, v.q);
    if (!(v.weightScale instanceof Float32Array) || v.weightScale.length !== v.out)
      throw argTypeError(fn, 'values.weightScale', `a Float32Array of ${v.out}`, v.weightScale);
    if (!(v.inputScale > 0) || !Number.isFinite(v.inputScale))
      throw argRangeError(fn, 'values.inputScale', 'a positive finite number', v.inputScale);
    if (v.zeroPoint !== 0 && v.zeroPoint !== 64) throw argRangeError(fn, 'values.zeroPoint', '0 or 64', v.zeroPoint);
    for (const x of v.q) if (x < -127) throw argRangeError(fn, 'values.q', 'int8 values in [-127, 127]', x);
    const kPad = Math.ceil(v.k / 16) * 16;
    const bytes = new Uint8Array(v.out * kPad),
      wsum = new Int32Array(v.out),
      scale = new Float32Array(v.out);
    for (let j = 0; j < v.out; j++) {
      let s = 0;
      for (let c = 0; c < v.k; c++) {
        const x = v.q[j * v.k + c]!;
        bytes[j * kPad + c] = x & 255;
        s += x;
      }
      wsum[j] = s;
      scale[j] = Math.fround(v.inputScale * v.weightScale[j]!);
    }
    const made: Tensor[] = [];
    try {
      made.push(
        Tensor.from(heap, 'uint8', [v.out, kPad], bytes),
        Tensor.from(heap, 'int32', [v.out], wsum),
        Tensor.from(heap, 'float32', [v.out], scale),
      );
    } catch (err) {
      for (const t of made) t.free();
      throw err;
    }
    return new Int8Weight(v, kPad, made[0]!, made[1]!, made[2]!, Math.fround(1 / v.inputScale));
  }

  free(): void {
    this.q.free();
    this.wsum.free();
    this.scale.free();
  }
}

/**
 * Y = X·W on the int8 path: X [m, k] float32 is quantized row by row (the quantizeU7
 * kernel, rows split across threads), then multiplied with W's int8 rows (gemmI8). Every
 * output is an exact integer dot: the same bits on every build and thread count.
 * Shapes: X [m, k], W [k, out] → Y [m, out].
 */
export async function matmulInt8(exec: Exec, x: Tensor, w: Int8Weight, out?: Tensor): Promise<Tensor> {
  const fn = 'matmulInt8';
  sameMemory(fn, exec, { x, out, q: w.q });
  matrixArg(fn, 'x', x);
  const [m, k] = x.shape as [number, number];
  if (k !== w.values.k) throw shapeError(fn, 'x', ['*', w.values.k], x.shape);
  const n = w.values.out;
  const y = outArg(fn, out, x, 'float32', [m, n]);
  if (m === 0 || n === 0) return y;
  const q = Tensor.empty(exec.heap, 'uint8', [m, w.kPad], `${fn} quantized input`);
  try {
    await exec.run(
      'quantizeU7',
      [x.ptr, k, q.ptr, w.kPad, k, w.inv, w.values.zeroPoint],
      splitEven(m, partsFor(exec, m * k, 1 << 16)),
    );
    await exec.run(
      'gemmI8',
      [q.ptr, w.kPad, w.q.ptr, w.wsum.ptr, w.scale.ptr, w.values.zeroPoint, y.ptr, n, n],
      splitEven(m, partsFor(exec, m * n * w.kPad, 1 << 18)),
    );
  } catch (err) {
    if (out === undefined) y.free();
    throw err;
  } finally {
    q.free();
  }
  return y;
}
