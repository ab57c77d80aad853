import type { Heap } from '../memory/heap.js';
import { Tensor } from '../memory/tensor.js';
import type { Parameter } from './layer.js';
import type { Rng } from '../core/random.js';

/** Glorot/Xavier uniform in ±sqrt(6 / (fanIn + fanOut)), as Kipf & Welling and PyG initialize. */
export function glorotParameter(
  heap: Heap,
  name: string,
  fanIn: number,
  fanOut: number,
  rng: Rng,
  weightDecay = 0,
): Parameter {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  const value = Tensor.empty(heap, 'float32', [fanIn, fanOut], name);
  const d = value.data() as Float32Array;
  for (let i = 0; i < d.length; i++) d[i] = (rng.next() * 2 - 1) * limit;
  return { name, value, grad: Tensor.zeros(heap, 'float32', [fanIn, fanOut], `${name}.grad`), weightDecay };
}

export function zerosParameter(heap: Heap, name: string, shape: number[], weightDecay = 0): Parameter {
  return {
    name,
    value: Tensor.zeros(heap, 'float32', shape, name),
    grad: Tensor.zeros(heap, 'float32', shape, `${name}.grad`),
    weightDecay,
  };
}

export function disposeParams(params: Parameter[]): void {
  for (const p of params) {
    p.value.free();
    p.grad.free();
  }
}
