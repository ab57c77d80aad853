import { argRangeError, argTypeError } from '../core/errors.js';
import type { Heap } from '../memory/heap.js';
import { Tensor } from '../memory/tensor.js';

/**
 * A sparse matrix in compressed sparse row form, stored in the shared heap with 32-bit
 * indices: rowPtr int32[rows+1], colIdx int32[nnz], vals float32[nnz].
 */
export class CsrMatrix {
  private constructor(
    readonly rows: number,
    readonly cols: number,
    readonly rowPtr: Tensor<'int32'>,
    readonly colIdx: Tensor<'int32'>,
    readonly vals: Tensor<'float32'>,
  ) {}

  /** A matrix over CSR tensors someone else owns (views, passed by address); free() frees only views. */
  static view(
    rows: number,
    cols: number,
    rowPtr: Tensor<'int32'>,
    colIdx: Tensor<'int32'>,
    vals: Tensor<'float32'>,
  ): CsrMatrix {
    if (rowPtr.size !== rows + 1)
      throw argRangeError('CsrMatrix.view', 'rowPtr', `${rows + 1} entries (rows + 1)`, rowPtr.size);
    if (vals.size !== colIdx.size)
      throw argRangeError('CsrMatrix.view', 'vals', `${colIdx.size} values (one per nonzero)`, vals.size);
    return new CsrMatrix(rows, cols, rowPtr, colIdx, vals);
  }

  /** The number of stored nonzeros. */
  get nnz(): number {
    return this.colIdx.size;
  }

  /**
   * Copies and validates CSR arrays: rowPtr starts at 0, never decreases, ends at nnz; every
   * column index is in [0, cols); every value is finite. Errors name the offending position.
   */
  static fromArrays(
    heap: Heap,
    rows: number,
    cols: number,
    rowPtr: ArrayLike<number>,
    colIdx: ArrayLike<number>,
    vals?: ArrayLike<number>,
  ): CsrMatrix {
    const fn = 'CsrMatrix.fromArrays';
    if (!Number.isInteger(rows) || rows < 0) throw argTypeError(fn, 'rows', 'a non-negative integer', rows);
    if (!Number.isInteger(cols) || cols < 0) throw argTypeError(fn, 'cols', 'a non-negative integer', cols);
    if (rowPtr.length !== rows + 1)
      throw argRangeError(fn, 'rowPtr', `${rows + 1} entries (rows + 1)`, `${rowPtr.length} entries`);
    const nnz = colIdx.length;
    if (rowPtr[0] !== 0) throw argRangeError(fn, 'rowPtr[0]', '0', rowPtr[0]);
    for (let r = 0; r < rows; r++) {
      const a = rowPtr[r]!,
        b = rowPtr[r + 1]!;
      if (!Number.isInteger(b) || b < a)
        throw argRangeError(fn, `rowPtr[${r + 1}]`, `an integer >= rowPtr[${r}] = ${a}`, b);
    }
    if (rowPtr[rows] !== nnz) throw argRangeError(fn, `rowPtr[${rows}]`, `nnz = colIdx.length = ${nnz}`, rowPtr[rows]);
    for (let k = 0; k < nnz; k++) {
      const c = colIdx[k]!;
      if (!Number.isInteger(c) || c < 0 || c >= cols)
        throw argRangeError(fn, `colIdx[${k}]`, `an integer in [0, ${cols})`, c);
    }
    if (vals !== undefined) {
      if (vals.length !== nnz)
        throw argRangeError(fn, 'vals', `${nnz} entries (one per nonzero)`, `${vals.length} entries`);
      for (let k = 0; k < nnz; k++)
        if (!Number.isFinite(vals[k])) throw argRangeError(fn, `vals[${k}]`, 'a finite number', vals[k]);
    }
    const rp = Tensor.from(heap, 'int32', [rows + 1], rowPtr);
    const ci = Tensor.from(heap, 'int32', [nnz], colIdx);
    const vv = vals === undefined ? Tensor.empty(heap, 'float32', [nnz]) : Tensor.from(heap, 'float32', [nnz], vals);
    if (vals === undefined) vv.data().fill(1);
    return new CsrMatrix(rows, cols, rp, ci, vv);
  }

  /**
   * From coordinate lists (row[i], col[i], val[i]); duplicates are summed, columns sorted
   * within each row, so the result (and every sum over it) is independent of input order.
   */
  static fromCoo(
    heap: Heap,
    rows: number,
    cols: number,
    row: ArrayLike<number>,
    col: ArrayLike<number>,
    val?: ArrayLike<number>,
  ): CsrMatrix {
    const fn = 'CsrMatrix.fromCoo';
    if (!Number.isInteger(rows) || rows < 0) throw argRangeError(fn, 'rows', 'a non-negative integer', rows);
    if (!Number.isInteger(cols) || cols < 0) throw argRangeError(fn, 'cols', 'a non-negative integer', cols);
    const n = row.length;
    if (col.length !== n) throw argRangeError(fn, 'col', `${n} entries (as many as row)`, `${col.length} entries`);
    if (val !== undefined && val.length !== n)
      throw argRangeError(fn, 'val', `${n} entries (as many as row)`, `${val.length} entries`);
    for (let i = 0; i < n; i++) {
      const r = row[i]!,
        c = col[i]!;
      if (!Number.isInteger(r) || r < 0 || r >= rows)
        throw argRangeError(fn, `row[${i}]`, `an integer in [0, ${rows})`, r);
      if (!Number.isInteger(c) || c < 0 || c >= cols)
        throw argRangeError(fn, `col[${i}]`, `an integer in [0, ${cols})`, c);
      if (val !== undefined && !Number.isFinite(val[i]))
        throw argRangeError(fn, `val[${i}]`, 'a finite number', val[i]);
    }
    const order = Array.from({ length: n }, (_, i) => i).sort(
      (a, b) => row[a]! - row[b]! || col[a]! - col[b]! || a - b,
    );
    const rowPtr = new Int32Array(rows + 1);
    const ci: number[] = [];
    const vv: number[] = [];
    let lastR = -1,
      lastC = -1;
    for (const i of order) {
      const r = row[i]!,
        c = col[i]!,
        v = val === undefined ? 1 : val[i]!;
      if (r === lastR && c === lastC) {
        vv[vv.length - 1]! += v;
        continue;
      }
      ci.push(c);
      vv.push(v);
      rowPtr[r + 1]!++;
      lastR = r;
      lastC = c;
    }
    for (let r = 0; r < rows; r++) rowPtr[r + 1]! += rowPtr[r]!;
    return CsrMatrix.fromArrays(heap, rows, cols, rowPtr, ci, vv);
  }

  /**
   * The same sparsity pattern with other values (vals float32 [nnz], owned by the caller): a
   * view sharing rowPtr and colIdx. Free the values you made, never the view.
   */
  withValues(vals: Tensor<'float32'>): CsrMatrix {
    if (vals.size !== this.nnz)
      throw argRangeError('CsrMatrix.withValues', 'vals', `${this.nnz} values (one per nonzero)`, vals.size);
    return new CsrMatrix(this.rows, this.cols, this.rowPtr, this.colIdx, vals);
  }

  /** The nonzeros of a dense row-major matrix, columns ascending in each row. */
  static fromDense(heap: Heap, rows: number, cols: number, data: ArrayLike<number>): CsrMatrix {
    if (data.length !== rows * cols)
      throw argRangeError('CsrMatrix.fromDense', 'data', `${rows * cols} values (rows × cols)`, data.length);
    let nnz = 0;
    for (let i = 0; i < data.length; i++) if (data[i] !== 0) nnz++;
    const rp = new Int32Array(rows + 1),
      ci = new Int32Array(nnz),
      vv = new Float32Array(nnz);
    let k = 0;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const v = data[r * cols + c]!;
        if (v !== 0) {
          ci[k] = c;
          vv[k] = v;
          k++;
        }
      }
      rp[r + 1] = k;
    }
    return CsrMatrix.fromArrays(heap, rows, cols, rp, ci, vv);
  }

  /**
   * Aᵀ as its own CSR, and `order`: transposed nonzero k' holds A's nonzero order[k'], so
   * new values of A move to Aᵀ by a gather. Rows of A are visited in order, so each row of
   * Aᵀ lists its columns ascending and every sum over it has a fixed order.
   */
  transposed(): { matrix: CsrMatrix; order: Int32Array } {
    const rp = this.rowPtr.data(),
      ci = this.colIdx.data(),
      vv = this.vals.data();
    const nnz = this.nnz;
    const tPtr = new Int32Array(this.cols + 1);
    for (let k = 0; k < nnz; k++) tPtr[ci[k]! + 1]!++;
    for (let c = 0; c < this.cols; c++) tPtr[c + 1]! += tPtr[c]!;
    const fill = tPtr.slice(0, this.cols);
    const tIdx = new Int32Array(nnz),
      tVal = new Float32Array(nnz),
      order = new Int32Array(nnz);
    for (let r = 0; r < this.rows; r++) {
      for (let k = rp[r]!; k < rp[r + 1]!; k++) {
        const at = fill[ci[k]!]!++;
        tIdx[at] = r;
        tVal[at] = vv[k]!;
        order[at] = k;
      }
    }
    const heap = this.rowPtr.heap;
    const matrix = new CsrMatrix(
      this.cols,
      this.rows,
      Tensor.from(heap, 'int32', [this.cols + 1], tPtr),
      Tensor.from(heap, 'int32', [nnz], tIdx),
      Tensor.from(heap, 'float32', [nnz], tVal),
    );
    return { matrix, order };
  }

  /** Frees the three arrays (row pointers, column indices, values). */
  free(): void {
    this.rowPtr.free();
    this.colIdx.free();
    this.vals.free();
  }
}
