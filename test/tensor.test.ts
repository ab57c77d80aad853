import ndarray from 'ndarray';
import { describe, expect, it } from 'vitest';
import { Heap } from '../src/memory/heap.js';
import { Tensor } from '../src/memory/tensor.js';

const heap = new Heap({ initialBytes: 1 << 20 });

describe('Tensor', () => {
  it('round-trips through ndarray, including strided views', () => {
    const nd = ndarray(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
    const t = Tensor.fromNdarray(heap, nd.transpose(1, 0));
    expect(t.shape).toEqual([3, 2]);
    expect(t.toArray()).toEqual([
      [1, 4],
      [2, 5],
      [3, 6],
    ]);
    const view = t.toNdarray();
    view.set(2, 1, 60);
    expect(t.data()[5]).toBe(60);
    t.free();
  });

  it('keeps working after the memory grows (views are remade)', () => {
    const h = new Heap({ initialBytes: 65536 });
    const t = Tensor.from(h, 'int32', [3], [7, 8, 9]);
    Tensor.empty(h, 'float32', [100_000]);
    expect(h.stats().grows).toBeGreaterThan(0);
    expect([...t.data()]).toEqual([7, 8, 9]);
  });

  it('checks shapes, values and dtypes with messages that name the argument', () => {
    expect(() => Tensor.from(heap, 'float32', [2, 2], [1, 2, 3])).toThrow(
      'Tensor.from: argument \'values\' must be 4 elements for shape [2, 2], got "3 elements"',
    );
    expect(() => Tensor.empty(heap, 'float32', [2, -1])).toThrow(
      /argument 'shape' must be an array of non-negative integers, got \[2, -1\]/,
    );
    expect(() => Tensor.empty(heap, 'float64' as never, [2])).toThrow(/argument 'dtype'/);
    const t = Tensor.zeros(heap, 'uint8', [0, 5]);
    expect(t.size).toBe(0);
    expect(() => t.expectShape('f', 'x', [0, 4])).toThrow("f: argument 'x' must have shape [0, 4], got [0, 5]");
    t.free();
    expect(() => t.data()).toThrow(/was freed/);
  });
});
