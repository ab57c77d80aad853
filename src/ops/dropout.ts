import { argRangeError, checkFinite } from '../core/errors.js';
import type { Exec } from '../runtime/exec.js';
import { partsFor, splitEven } from '../runtime/partition.js';
import { Tensor } from '../memory/tensor.js';
import { checkOut, outArg, sameShape, tensorArg, sameMemory } from './check.js';

/**
 * The key of a counter-based draw: (seed, step) → two 32-bit words. A run seeds once; each
 * dropout call passes a new step (epoch · layers + layer), so masks never repeat and never
 * depend on the thread count: element i's bit is a pure function of (i, key).
 */
export function dropoutKey(seed: number, step: number): [number, number] {
  let a = (seed ^ 0x9e3779b9) | 0,
    b = (Math.imul(step, 0x85ebca6b) ^ 0xc2b2ae35) | 0;
  for (let i = 0; i < 4; i++) {
    a = Math.imul(a ^ (a >>> 16), 0x7feb352d);
    a ^= a >>> 15;
    a = (a + b) | 0;
    b = Math.imul(b ^ (b >>> 15), 0x846ca68b | 0);
    b ^= b >>> 16;
    b = (b ^ a) | 0;
  }
  return [a | 0, b | 0];
}

/** What dropout returns: the output and the mask of kept elements. */
export interface DropoutResult {
  y: Tensor;
  /** uint8 per element: 1 kept, 0 dropped (for the backward pass). */
  mask: Tensor<'uint8'>;
}

/**
 * Inverted dropout: each element is kept with probability 1 - p and scaled by 1 / (1 - p).
 * `key` comes from dropoutKey(seed, step).
 */
export async function dropout(
  exec: Exec,
  x: Tensor,
  p: number,
  key: readonly [number, number],
  out?: { y?: Tensor; mask?: Tensor<'uint8'> },
): Promise<DropoutResult> {
  sameMemory('dropout', exec, { x, 'out.y': out?.y, 'out.mask': out?.mask });
  tensorArg('dropout', 'x', x, 'float32');
  checkFinite('dropout', 'p', p);
  if (p < 0 || p >= 1) throw argRangeError('dropout', 'p', 'in [0, 1)', p);
  checkOut('dropout', out?.mask, 'uint8', x.shape, 'out.mask');
  const y = outArg('dropout', out?.y, x, 'float32', x.shape, 'out.y');
  const mask = (out?.mask ?? Tensor.empty(x.heap, 'uint8', x.shape, 'dropout mask')) as Tensor<'uint8'>;
  if (p === 0) {
    // The identity, exactly: the kernel's test hash < threshold cannot keep a hash of 2³² − 1.
    (mask.data() as Uint8Array).fill(1);
    if (y !== x) await exec.run('copyF32', [x.ptr, y.ptr], splitEven(x.size, partsFor(exec, x.size, 1 << 14), 16));
    return { y, mask };
  }
  const keep = 1 - p;
  const threshold = Math.min(0xffffffff, Math.round(keep * 2 ** 32));
  const bounds = splitEven(x.size, partsFor(exec, x.size, 1 << 14), 16);
  await exec.run('dropoutForward', [x.ptr, y.ptr, mask.ptr, key[0], key[1], threshold, 1 / keep], bounds);
  return { y, mask };
}

/** The gradient of dropout: gx = gy · mask / (1 − p), with the forward pass's mask and p. */
export async function dropoutBackward(
  exec: Exec,
  gy: Tensor,
  mask: Tensor<'uint8'>,
  p: number,
  out?: Tensor,
): Promise<Tensor> {
  sameMemory('dropoutBackward', exec, { gy, mask, out });
  tensorArg('dropoutBackward', 'gy', gy, 'float32');
  tensorArg('dropoutBackward', 'mask', mask, 'uint8');
  sameShape('dropoutBackward', 'mask', mask, gy);
  if (!(p >= 0 && p < 1)) throw argRangeError('dropoutBackward', 'p', 'in [0, 1)', p);
  const gx = outArg('dropoutBackward', out, gy, 'float32', gy.shape);
  const bounds = splitEven(gy.size, partsFor(exec, gy.size, 1 << 15), 16);
  await exec.run('dropoutBackward', [gy.ptr, mask.ptr, gx.ptr, 1 / (1 - p)], bounds);
  return gx;
}
