import { describe, expect, it } from 'vitest';
import { Heap, PAGE } from '../src/memory/heap.js';
import { rng } from './helpers.js';

describe('Heap', () => {
  it('hands out 64-byte aligned, non-overlapping blocks', () => {
    const heap = new Heap({ initialBytes: 1 << 20 });
    const r = rng(1);
    const blocks: [number, number][] = [];
    for (let i = 0; i < 200; i++) {
      const size = 1 + Math.floor(r() * 5000);
      const p = heap.alloc(size);
      expect(p % 64).toBe(0);
      expect(p).toBeGreaterThan(0);
      blocks.push([p, size]);
    }
    blocks.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < blocks.length; i++)
      expect(blocks[i]![0]).toBeGreaterThanOrEqual(blocks[i - 1]![0] + blocks[i - 1]![1]);
  });

  it('reuses space across 1000 epochs of the same allocations without growing', () => {
    const heap = new Heap({ initialBytes: PAGE });
    const sizes = [2708 * 16 * 4, 2708 * 1433 * 4, 7 * 16 * 4, 2708 * 7 * 4, 2708, 100, 2708 * 16 * 4];
    const epoch = (): void => {
      const ptrs = sizes.map((s) => heap.alloc(s));
      // Free in a different order than allocated, as a training step does.
      for (const i of [3, 0, 6, 2, 5, 1, 4]) heap.free(ptrs[i]!);
    };
    epoch();
    const after1 = heap.stats();
    for (let e = 1; e < 1000; e++) epoch();
    const after = heap.stats();
    expect(after.capacity).toBe(after1.capacity);
    expect(after.grows).toBe(after1.grows);
    expect(after.peak).toBe(after1.peak);
    expect(after.used).toBe(0);
    expect(after.blocks).toBe(0);
  });

  it('coalesces freed neighbours so a large block fits again', () => {
    const heap = new Heap({ initialBytes: 4 * PAGE });
    const cap = heap.stats().capacity;
    const a = heap.alloc(PAGE),
      b = heap.alloc(PAGE),
      c = heap.alloc(PAGE);
    heap.free(b);
    heap.free(a);
    heap.free(c);
    heap.alloc(3 * PAGE);
    expect(heap.stats().capacity).toBe(cap);
  });

  it('grows when nothing fits and keeps old contents', () => {
    const heap = new Heap({ initialBytes: PAGE });
    const p = heap.alloc(1000);
    new Uint8Array(heap.memory.buffer, p, 4).set([1, 2, 3, 4]);
    heap.alloc(10 * PAGE);
    expect(heap.stats().grows).toBe(1);
    expect([...new Uint8Array(heap.memory.buffer, p, 4)]).toEqual([1, 2, 3, 4]);
  });

  it('refuses a request beyond wasm32 and names its size', () => {
    const heap = new Heap({ initialBytes: PAGE });
    expect(() => heap.alloc(5_000_000_000, 'features float32[1000000, 1250]')).toThrow(
      /cannot allocate 5000000000 bytes \(4\.66 GiB\) for features float32\[1000000, 1250\]: a wasm32 memory holds at most 4\.00 GiB/,
    );
  });

  it('refuses a request beyond its own maximum, naming what is in use', () => {
    const heap = new Heap({ initialBytes: PAGE, maxBytes: 8 * PAGE });
    heap.alloc(4 * PAGE);
    expect(() => heap.alloc(5 * PAGE, 'weights')).toThrow(
      /cannot allocate 327680 bytes \(320\.00 KiB\) for weights: 256\.00 KiB in use of at most 512\.00 KiB/,
    );
    expect(heap.stats().grows).toBe(1);
  });

  it('rejects double frees and foreign addresses', () => {
    const heap = new Heap({ initialBytes: PAGE });
    const p = heap.alloc(10);
    heap.free(p);
    expect(() => heap.free(p)).toThrow(
      /Heap.free: argument 'ptr' must be an address returned by alloc and not yet freed, got \d+/,
    );
    expect(() => heap.alloc(-1)).toThrow(/argument 'bytes'/);
    expect(() => new Heap({ maxBytes: 5e9 })).toThrow(/options.maxBytes/);
  });
});
