import { argRangeError, formatBytes, GraftError } from '../core/errors.js';

/** Bytes in a WebAssembly page. */
export const PAGE = 65536;
/** wasm32 addresses at most 65536 pages: 4 GiB. */
export const MAX_PAGES = 65536;
/** Every block starts on a cache line, so SIMD loads never straddle one at a row start. */
export const ALIGN = 64;
/** Address 0 stays unused: kernels read 0 as "no such buffer". */
const BASE = 1024;

/** The heap's current and peak use, from Heap.stats(). */
export interface HeapStats {
  /** Bytes the memory has now. */
  capacity: number;
  /** Bytes in live blocks. */
  used: number;
  /** Most bytes ever live at once. */
  peak: number;
  /** Live blocks. */
  blocks: number;
  /** Times the memory grew. */
  grows: number;
}

/** Sizes of the shared memory: its initial and largest byte count. */
export interface HeapOptions {
  /** Initial size in bytes (rounded up to pages); default 16 MiB. */
  initialBytes?: number;
  /** Largest size in bytes; default and upper bound 4 GiB. */
  maxBytes?: number;
  /**
   * A shared memory (default), which worker threads instantiate the kernels on; false: a
   * plain one for one thread, as a browser page without cross-origin isolation allows.
   */
  shared?: boolean;
}

/**
 * The one owner of the shared WebAssembly.Memory that every tensor lives in. Kernels and
 * worker threads never allocate: they receive addresses from here.
 *
 * Best-fit over an address-ordered free list with coalescing, so a training loop that frees
 * and reallocates the same sizes each epoch lands in the same blocks and never grows the
 * memory after its first epoch. The memory only grows when no free block fits.
 */
export class Heap {
  readonly memory: WebAssembly.Memory;
  readonly maxBytes: number;
  // Free blocks sorted by address: parallel arrays of start and size.
  private freeStart: number[] = [];
  private freeSize: number[] = [];
  private live = new Map<number, number>();
  private used = 0;
  private peak = 0;
  private grows = 0;
  /** A region of another heap's memory ([start, start + bytes)): it never grows. */
  private region: { start: number; bytes: number } | null = null;

  /**
   * An allocator over a block of an existing memory that another heap handed out: a worker
   * thread's arena for a step's activations, so it allocates without asking the owner. It
   * never grows; `reset` moves it to another block once nothing in it is live.
   */
  static region(memory: WebAssembly.Memory, start: number, bytes: number): Heap {
    const h = Object.create(Heap.prototype) as Heap;
    Object.assign(h, {
      memory,
      maxBytes: 0,
      freeStart: [],
      freeSize: [],
      live: new Map(),
      used: 0,
      peak: 0,
      grows: 0,
      region: null,
    });
    h.setRegion(start, bytes);
    return h;
  }

  /**
   * Moves a region heap to the block [start, start + bytes) and forgets every block in it:
   * an arena holds one step's activations, and between steps (a failed one included) nothing
   * in it is worth keeping.
   */
  reset(start: number, bytes: number): void {
    if (!this.region) throw new GraftError('Heap.reset: only a region heap (Heap.region) can be moved');
    this.setRegion(start, bytes);
  }

  private setRegion(start: number, bytes: number): void {
    if (!Number.isInteger(start) || start <= 0 || start % ALIGN !== 0)
      throw argRangeError('Heap.region', 'start', `a positive multiple of ${ALIGN}`, start);
    const size = Math.floor(bytes / ALIGN) * ALIGN;
    if (size < ALIGN) throw argRangeError('Heap.region', 'bytes', `at least ${ALIGN}`, bytes);
    this.region = { start, bytes: size };
    (this as { maxBytes: number }).maxBytes = start + size;
    this.freeStart = [start];
    this.freeSize = [size];
    this.live = new Map();
    this.used = 0;
  }

  constructor(options: HeapOptions = {}) {
    const maxBytes = options.maxBytes ?? MAX_PAGES * PAGE;
    if (!Number.isFinite(maxBytes) || maxBytes < PAGE || maxBytes > MAX_PAGES * PAGE) {
      throw argRangeError('Heap', 'options.maxBytes', `between ${PAGE} and ${MAX_PAGES * PAGE} (4 GiB)`, maxBytes);
    }
    const maxPages = Math.floor(maxBytes / PAGE);
    const initialBytes = options.initialBytes ?? 16 * 1024 * 1024;
    const initialPages = Math.min(maxPages, Math.max(1, Math.ceil(initialBytes / PAGE)));
    this.maxBytes = maxPages * PAGE;
    this.memory = new WebAssembly.Memory({ initial: initialPages, maximum: maxPages, shared: options.shared ?? true });
    this.freeStart.push(BASE);
    this.freeSize.push(initialPages * PAGE - BASE);
  }

  /** The memory's buffer now (a new object after each grow); an ArrayBuffer when the heap is not shared. */
  get buffer(): SharedArrayBuffer {
    return this.memory.buffer as unknown as SharedArrayBuffer;
  }

  /** The memory's size, the bytes in live blocks, the peak, the live block count and the number of grows. */
  stats(): HeapStats {
    return {
      capacity: this.memory.buffer.byteLength,
      used: this.used,
      peak: this.peak,
      blocks: this.live.size,
      grows: this.grows,
    };
  }

  /** Allocates `bytes` (rounded up to 64) and returns the address. `what` names the request in errors. */
  alloc(bytes: number, what = 'tensor'): number {
    if (!Number.isSafeInteger(bytes) || bytes < 0)
      throw argRangeError('Heap.alloc', 'bytes', 'a non-negative integer', bytes);
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    if (size > this.maxBytes - BASE) {
      throw new RangeError(
        `Heap.alloc: cannot allocate ${bytes} bytes (${formatBytes(bytes)}) for ${what}: ` +
          `a wasm32 memory holds at most ${formatBytes(this.maxBytes)}`,
      );
    }
    let at = this.bestFit(size);
    if (at < 0) {
      this.growFor(size, bytes, what);
      at = this.bestFit(size);
    }
    const start = this.freeStart[at]!;
    const rest = this.freeSize[at]! - size;
    if (rest === 0) {
      this.freeStart.splice(at, 1);
      this.freeSize.splice(at, 1);
    } else {
      this.freeStart[at] = start + size;
      this.freeSize[at] = rest;
    }
    this.live.set(start, size);
    this.used += size;
    if (this.used > this.peak) this.peak = this.used;
    return start;
  }

  /** Returns a block; freeing an address not handed out (or twice) throws. */
  free(ptr: number): void {
    const size = this.live.get(ptr);
    if (size === undefined)
      throw argRangeError('Heap.free', 'ptr', 'an address returned by alloc and not yet freed', ptr);
    this.live.delete(ptr);
    this.used -= size;
    this.insertFree(ptr, size);
  }

  /** Size in bytes of a live block, or undefined. */
  sizeOf(ptr: number): number | undefined {
    return this.live.get(ptr);
  }

  private bestFit(size: number): number {
    let best = -1,
      bestSize = Infinity;
    const sizes = this.freeSize;
    for (let i = 0; i < sizes.length; i++) {
      const s = sizes[i]!;
      if (s >= size && s < bestSize) {
        best = i;
        bestSize = s;
        if (s === size) break;
      }
    }
    return best;
  }

  private insertFree(start: number, size: number): void {
    const starts = this.freeStart,
      sizes = this.freeSize;
    let lo = 0,
      hi = starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid]! < start) lo = mid + 1;
      else hi = mid;
    }
    // Merge with the previous and next free blocks when they touch.
    const prevTouches = lo > 0 && starts[lo - 1]! + sizes[lo - 1]! === start;
    const nextTouches = lo < starts.length && start + size === starts[lo]!;
    if (prevTouches && nextTouches) {
      sizes[lo - 1]! += size + sizes[lo]!;
      starts.splice(lo, 1);
      sizes.splice(lo, 1);
    } else if (prevTouches) {
      sizes[lo - 1]! += size;
    } else if (nextTouches) {
      starts[lo] = start;
      sizes[lo]! += size;
    } else {
      starts.splice(lo, 0, start);
      sizes.splice(lo, 0, size);
    }
  }

  private growFor(size: number, bytes: number, what: string): void {
    if (this.region) {
      throw new RangeError(
        `Heap.alloc: cannot allocate ${bytes} bytes (${formatBytes(bytes)}) for ${what}: ` +
          `the arena of ${formatBytes(this.region.bytes)} is full (${formatBytes(this.used)} in use)`,
      );
    }
    const current = this.memory.buffer.byteLength;
    // The free block at the very end (if any) counts towards the request.
    const n = this.freeStart.length;
    const tail = n > 0 && this.freeStart[n - 1]! + this.freeSize[n - 1]! === current ? this.freeSize[n - 1]! : 0;
    const need = size - tail;
    // Grow by at least an eighth of the current size so a growing workload does not grow per call.
    const want = Math.max(need, Math.floor(current / 8));
    const maxPages = this.maxBytes / PAGE;
    const curPages = current / PAGE;
    let pages = Math.min(maxPages - curPages, Math.ceil(want / PAGE));
    if (pages * PAGE < need) {
      throw new RangeError(
        `Heap.alloc: cannot allocate ${bytes} bytes (${formatBytes(bytes)}) for ${what}: ` +
          `${formatBytes(this.used)} in use of at most ${formatBytes(this.maxBytes)}`,
      );
    }
    try {
      this.memory.grow(pages);
    } catch (err) {
      // The host could not commit the pages (out of memory): try just what is needed.
      pages = Math.ceil(need / PAGE);
      try {
        this.memory.grow(pages);
      } catch {
        throw new GraftError(
          `Heap.alloc: out of memory growing the shared memory from ${formatBytes(current)} by ` +
            `${formatBytes(pages * PAGE)} for ${bytes} bytes (${what}): ${(err as Error).message}`,
        );
      }
    }
    this.grows++;
    this.insertFree(current, pages * PAGE);
  }
}
