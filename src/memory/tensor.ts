import ndarray from 'ndarray';
import type { NdArray } from 'ndarray';
import { argRangeError, argTypeError, shapeError } from '../core/errors.js';
import type { Heap } from './heap.js';

/** A tensor's element type: float32 for values, int32 for indices and labels, uint8 for masks. */
export type DType = 'float32' | 'int32' | 'uint8';
type ArrayOf<D extends DType> = D extends 'float32' ? Float32Array : D extends 'int32' ? Int32Array : Uint8Array;

const BYTES: Record<DType, number> = { float32: 4, int32: 4, uint8: 1 };
const CTORS = { float32: Float32Array, int32: Int32Array, uint8: Uint8Array } as const;

function checkShape(fn: string, shape: readonly number[]): number {
  if (!Array.isArray(shape)) throw argTypeError(fn, 'shape', 'an array of non-negative integers', shape);
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw argTypeError(fn, 'shape', 'an array of non-negative integers', shape);
    n *= d;
  }
  return n;
}

/**
 * A dense row-major tensor stored in the shared heap: dtype, shape and the byte address of
 * its first element. Views (`data`, `toNdarray`) are made fresh on each call because a grow of
 * the memory replaces its buffer.
 *
 * @example
 *   const x = Tensor.from(heap, 'float32', [2, 3], [1, 2, 3, 4, 5, 6]);
 *   x.data()[4]; // 5
 *   x.free();
 */
export class Tensor<D extends DType = DType> {
  readonly size: number;
  private freed = false;

  private constructor(
    readonly heap: Heap,
    readonly dtype: D,
    readonly shape: readonly number[],
    readonly ptr: number,
    private readonly borrowed = false,
  ) {
    this.size = shape.reduce((a, b) => a * b, 1);
  }

  /**
   * A tensor over memory someone else owns (another thread's tensor, passed by address):
   * no copy, and free() only ends this view, never the block.
   */
  static view<D extends DType>(heap: Heap, dtype: D, shape: readonly number[], ptr: number): Tensor<D> {
    if (!(dtype in BYTES)) throw argTypeError('Tensor.view', 'dtype', "'float32', 'int32' or 'uint8'", dtype);
    checkShape('Tensor.view', shape);
    if (!Number.isInteger(ptr) || ptr <= 0 || ptr % BYTES[dtype] !== 0)
      throw argRangeError('Tensor.view', 'ptr', `a positive address aligned to ${BYTES[dtype]}`, ptr);
    return new Tensor(heap, dtype, Object.freeze([...shape]), ptr, true);
  }

  /** Allocates an uninitialized tensor (its contents are whatever the block held). */
  static empty<D extends DType>(heap: Heap, dtype: D, shape: readonly number[], what = 'tensor'): Tensor<D> {
    if (!(dtype in BYTES)) throw argTypeError('Tensor.empty', 'dtype', "'float32', 'int32' or 'uint8'", dtype);
    const n = checkShape('Tensor.empty', shape);
    const ptr = heap.alloc(n * BYTES[dtype], `${what} ${dtype}[${shape.join(', ')}]`);
    return new Tensor(heap, dtype, Object.freeze([...shape]), ptr);
  }

  /** Allocates a tensor filled with zeros; `what` names it in an out-of-memory error. */
  static zeros<D extends DType>(heap: Heap, dtype: D, shape: readonly number[], what = 'tensor'): Tensor<D> {
    const t = Tensor.empty(heap, dtype, shape, what);
    t.data().fill(0);
    return t;
  }

  /** Copies `values` (any array-like of numbers, row-major) into a new tensor. */
  static from<D extends DType>(heap: Heap, dtype: D, shape: readonly number[], values: ArrayLike<number>): Tensor<D> {
    const n = checkShape('Tensor.from', shape);
    if (values.length !== n) {
      throw argRangeError(
        'Tensor.from',
        'values',
        `${n} elements for shape [${shape.join(', ')}]`,
        `${values.length} elements`,
      );
    }
    const t = Tensor.empty(heap, dtype, shape);
    t.data().set(values);
    return t;
  }

  /** Copies an ndarray (any strides) into a new tensor. */
  static fromNdarray(heap: Heap, nd: NdArray, dtype: DType = 'float32'): Tensor {
    const t = Tensor.empty(heap, dtype, nd.shape);
    const out = t.toNdarray();
    const shape = nd.shape;
    const idx = new Array<number>(shape.length).fill(0);
    const n = t.size;
    for (let i = 0; i < n; i++) {
      out.data[i] = nd.get(...idx);
      for (let d = shape.length - 1; d >= 0; d--) {
        if (++idx[d]! < shape[d]!) break;
        idx[d] = 0;
      }
    }
    return t;
  }

  /** Bytes the tensor's elements take in the heap. */
  get byteLength(): number {
    return this.size * BYTES[this.dtype];
  }

  /** True once free() has run: the tensor's memory may then hold another tensor. */
  get isFreed(): boolean {
    return this.freed;
  }

  /** A typed-array view of the elements in the shared memory (no copy). */
  data(): ArrayOf<D> {
    if (this.freed) throw new Error(`Tensor.data: tensor [${this.shape.join(', ')}] was freed`);
    const Ctor = CTORS[this.dtype] as unknown as new (b: ArrayBufferLike, o: number, n: number) => ArrayOf<D>;
    return new Ctor(this.heap.memory.buffer, this.ptr, this.size);
  }

  /** An ndarray view of the tensor (no copy), for interop with the ndarray ecosystem. */
  toNdarray(): NdArray<ArrayOf<D>> {
    return ndarray(this.data(), [...this.shape]);
  }

  /** A copy as a plain array (nested for 2-D). */
  toArray(): number[] | number[][] {
    const d = Array.from(this.data() as ArrayLike<number>);
    if (this.shape.length !== 2) return d;
    const [r, c] = this.shape as [number, number];
    return Array.from({ length: r }, (_, i) => d.slice(i * c, (i + 1) * c));
  }

  /** Throws unless the shape matches; '*' in `expected` matches any size. */
  expectShape(fn: string, arg: string, expected: readonly (number | '*')[]): this {
    const ok = expected.length === this.shape.length && expected.every((e, i) => e === '*' || e === this.shape[i]);
    if (!ok) throw shapeError(fn, arg, expected, this.shape);
    return this;
  }

  /** Throws unless the tensor has this dtype and is not freed; `fn` and `arg` name the caller in the message. */
  expectDtype(fn: string, arg: string, dtype: DType): this {
    if (this.dtype !== dtype) throw argTypeError(fn, arg, `a ${dtype} tensor`, `a ${this.dtype} tensor`);
    if (this.freed) throw argRangeError(fn, arg, 'a live tensor', 'a freed tensor');
    return this;
  }

  /** Returns the tensor's block to the heap (a view only ends); freeing twice does nothing. */
  free(): void {
    if (this.freed) return;
    this.freed = true;
    if (!this.borrowed) this.heap.free(this.ptr);
  }
}
