import { closeSync, fstatSync, fsyncSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { endianness } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { GraftError } from '../core/errors.js';

// The graph store (.graftstore): a node-classification graph kept outside the WebAssembly
// heap, so that a graph larger than wasm32's 4 GiB can still be trained on in batches.
//
// Layout, in the manner of safetensors:
//   bytes 0..7    the magic "GRAFTSTR"
//   bytes 8..15   the header's length H in bytes, u64 little-endian
//   bytes 16..    the header, UTF-8 JSON padded with spaces to a reserved size
//   then          the arrays, raw little-endian, each at a 64-byte-aligned file offset the
//                 header names ({dtype, shape, offset, bytes}), in any order.
// The header also records the whole file's size, so a truncated copy is refused at open
// rather than read as zeros. Arrays: rowPtr (CSR offsets, int64 where nnz passes 2^31 - 1),
// colIdx (int32), features (float32 [n, f]), labels (int32, -1 unlabelled), train / val /
// test (int32 node indices), and optionally idOffsets + idBytes (the nodes' string ids).

export const STORE_MAGIC = 'GRAFTSTR';
export const STORE_VERSION = 1;
const PREAMBLE = 16;
const ALIGN = 64;
/** The largest number of bytes one readSync / writeSync call moves (Node refuses 2 GiB). */
const IO_CHUNK = 1 << 30;

/** The element types a store's arrays may have. */
export type StoreDType = 'int32' | 'int64' | 'float32' | 'uint8';
const DTYPE_BYTES: Record<StoreDType, number> = { int32: 4, int64: 8, float32: 4, uint8: 1 };

/** One array of a store: its dtype, shape, and byte offset and length in the file. */
export interface StoreArrayEntry {
  dtype: StoreDType;
  shape: number[];
  offset: number;
  bytes: number;
}

/** The JSON header of a .graftstore file: format version, counts, whether the graph is symmetric, the file size, metadata, and each array's dtype, shape and byte range. */
export interface StoreHeader {
  format: 'graftstore';
  version: number;
  name: string;
  numNodes: number;
  /** CSR non-zeros: directed adjacency entries (an undirected edge counts twice). */
  numEdges: number;
  numFeatures: number;
  numClasses: number;
  /** True when every edge is present in both directions (the CSR is a symmetric adjacency). */
  symmetric: boolean;
  /** The file's size in bytes: a shorter file is truncated. */
  fileBytes: number;
  arrays: Record<string, StoreArrayEntry>;
  /** Free-form provenance: where the graph came from, with which options. */
  metadata: Record<string, unknown>;
}

/** The arrays every store has; ids are optional (absent: a node's id is its index). */
export const REQUIRED_ARRAYS = ['rowPtr', 'colIdx', 'features', 'labels', 'train', 'val', 'test'] as const;

function checkHost(fn: string): void {
  if (endianness() !== 'LE') throw new GraftError(`${fn}: the graph store is little-endian and this machine is not`);
}

/** A typed array's bytes as a Uint8Array view (no copy). */
function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * Writes a store in one pass, arrays streamed in any order and in chunks (so a generator
 * never holds a billion-byte array it does not need), to a temp file beside the target that
 * is renamed over it only by `finish`: a failed or abandoned write leaves nothing behind.
 *
 * @example
 *   const w = new StoreWriter('g.graftstore');
 *   w.begin('features', 'float32'); w.write(chunk1); w.write(chunk2); w.end([n, f]);
 *   …
 *   w.finish({ name: 'g', numNodes: n, … });
 */
export class StoreWriter {
  readonly tmp: string;
  private fd: number;
  private at: number;
  private current: { name: string; dtype: StoreDType; offset: number } | null = null;
  private readonly arrays: Record<string, StoreArrayEntry> = {};

  /** `headerReserve`: bytes kept for the JSON header, which is written last. */
  constructor(
    readonly file: string,
    readonly headerReserve = 64 * 1024,
  ) {
    checkHost('StoreWriter');
    this.tmp = join(dirname(file), `.${basename(file)}.${process.pid}.${threadId}.tmp`);
    this.fd = openSync(this.tmp, 'w');
    this.at = align(PREAMBLE + headerReserve);
  }

  /** Starts array `name`; its bytes follow by `write` until `end`. */
  begin(name: string, dtype: StoreDType): void {
    if (this.current) throw new GraftError(`StoreWriter.begin: array '${this.current.name}' is not ended`);
    if (name in this.arrays) throw new GraftError(`StoreWriter.begin: array '${name}' is already written`);
    this.at = align(this.at);
    this.current = { name, dtype, offset: this.at };
  }

  /** Appends the next chunk of the array being written (chunks of one array in order; the array is complete when its declared bytes are written). */
  write(chunk: ArrayBufferView): void {
    if (!this.current) throw new GraftError('StoreWriter.write: no array begun');
    this.put(bytesOf(chunk), this.at);
    this.at += chunk.byteLength;
  }

  /** Ends the array begun last, checking that its bytes match `shape`. */
  end(shape: number[]): void {
    const c = this.current;
    if (!c) throw new GraftError('StoreWriter.end: no array begun');
    const bytes = this.at - c.offset,
      want = shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[c.dtype];
    if (bytes !== want)
      throw new GraftError(
        `StoreWriter.end: array '${c.name}' has ${bytes} bytes, shape [${shape.join(', ')}] of ${c.dtype} needs ${want}`,
      );
    this.arrays[c.name] = { dtype: c.dtype, shape, offset: c.offset, bytes };
    this.current = null;
  }

  /** A whole array in one call. */
  array(
    name: string,
    dtype: StoreDType,
    data: ArrayBufferView,
    shape: number[] = [data.byteLength / DTYPE_BYTES[dtype]],
  ): void {
    this.begin(name, dtype);
    this.write(data);
    this.end(shape);
  }

  /** Writes the header, syncs, and renames the temp file over the target. */
  finish(head: Omit<StoreHeader, 'format' | 'version' | 'fileBytes' | 'arrays'>): StoreHeader {
    if (this.current) throw new GraftError(`StoreWriter.finish: array '${this.current.name}' is not ended`);
    for (const k of REQUIRED_ARRAYS)
      if (!(k in this.arrays)) throw new GraftError(`StoreWriter.finish: array '${k}' was never written`);
    const header: StoreHeader = {
      format: 'graftstore',
      version: STORE_VERSION,
      ...head,
      fileBytes: this.at,
      arrays: this.arrays,
    };
    const json = Buffer.from(JSON.stringify(header));
    if (json.length > this.headerReserve)
      throw new GraftError(
        `StoreWriter.finish: the header needs ${json.length} bytes, ${this.headerReserve} were reserved`,
      );
    const pre = Buffer.alloc(PREAMBLE + this.headerReserve, 0x20);
    pre.write(STORE_MAGIC, 0, 'latin1');
    pre.writeBigUInt64LE(BigInt(this.headerReserve), 8);
    json.copy(pre, PREAMBLE);
    this.put(pre, 0);
    // An empty last array may start past the bytes written so far: extend the file to it.
    const size = fstatSync(this.fd).size;
    if (size < this.at) this.put(new Uint8Array(this.at - size), size);
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = -1;
    renameSync(this.tmp, this.file);
    try {
      const dfd = openSync(dirname(this.file), 'r');
      try {
        fsyncSync(dfd);
      } finally {
        closeSync(dfd);
      }
    } catch {
      // Some filesystems refuse fsync on folders; the rename itself is atomic.
    }
    return header;
  }

  /** Gives up: closes and removes the temp file. Safe to call twice, or after finish. */
  abort(): void {
    if (this.fd >= 0) {
      closeSync(this.fd);
      this.fd = -1;
      rmSync(this.tmp, { force: true });
    }
  }

  private put(b: Uint8Array, position: number): void {
    for (let done = 0; done < b.length; )
      done += writeSync(this.fd, b, done, Math.min(IO_CHUNK, b.length - done), position + done);
  }
}

function align(x: number): number {
  return Math.ceil(x / ALIGN) * ALIGN;
}

/** A damaged or foreign store: one line naming the file. */
export class StoreError extends GraftError {
  override name = 'StoreError';
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
  }
}

/** Reads `bytes` bytes at file offset `position` into `into` (a view over any typed array). */
function readInto(fd: number, into: Uint8Array, position: number, file: string): void {
  for (let done = 0; done < into.length; ) {
    const got = readSync(fd, into, done, Math.min(IO_CHUNK, into.length - done), position + done);
    if (got === 0) throw new StoreError(file, `truncated: ended at byte ${position + done} inside an array`);
    done += got;
  }
}

/** Reads and checks a store's preamble and header (opening nothing else). */
export function readStoreHeader(file: string, fd?: number): StoreHeader {
  checkHost('readStoreHeader');
  const own = fd === undefined;
  let f: number;
  try {
    f = fd ?? openSync(file, 'r');
  } catch (err) {
    throw new StoreError(file, `cannot open: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    const size = fstatSync(f).size;
    if (size < PREAMBLE)
      throw new StoreError(file, `not a graph store (${size} bytes, shorter than the ${PREAMBLE}-byte preamble)`);
    const pre = Buffer.alloc(PREAMBLE);
    readInto(f, pre, 0, file);
    if (pre.toString('latin1', 0, 8) !== STORE_MAGIC)
      throw new StoreError(file, `not a graph store (no ${STORE_MAGIC} magic; make one with graft prepare)`);
    const len = pre.readBigUInt64LE(8);
    if (len > BigInt(size - PREAMBLE))
      throw new StoreError(
        file,
        `truncated: the header is ${len} bytes, the file has ${size - PREAMBLE} after the preamble`,
      );
    const text = Buffer.alloc(Number(len));
    readInto(f, text, PREAMBLE, file);
    let h: StoreHeader;
    try {
      h = JSON.parse(text.toString('utf8')) as StoreHeader;
    } catch (err) {
      throw new StoreError(file, `damaged header (not JSON: ${(err as Error).message})`);
    }
    checkHeader(file, h, size, PREAMBLE + Number(len));
    return h;
  } finally {
    if (own) closeSync(f);
  }
}

function checkHeader(file: string, h: StoreHeader, size: number, dataStart: number): void {
  const bad = (what: string): never => {
    throw new StoreError(file, `damaged header: ${what}`);
  };
  if (typeof h !== 'object' || h === null || h.format !== 'graftstore') bad(`'format' is not "graftstore"`);
  if (h.version !== STORE_VERSION)
    throw new StoreError(
      file,
      `format version ${JSON.stringify(h.version)}; this Graft reads version ${STORE_VERSION} (rebuild it with graft prepare)`,
    );
  for (const k of ['numNodes', 'numEdges', 'numFeatures', 'numClasses', 'fileBytes'] as const) {
    if (!Number.isSafeInteger(h[k]) || h[k] < 0) bad(`'${k}' is ${JSON.stringify(h[k])}, not a count`);
  }
  if (size < h.fileBytes)
    throw new StoreError(file, `truncated: the header says ${h.fileBytes} bytes, the file has ${size}`);
  if (size > h.fileBytes)
    throw new StoreError(file, `damaged: ${size - h.fileBytes} bytes more than the header's ${h.fileBytes}`);
  if (typeof h.arrays !== 'object' || h.arrays === null) bad(`no 'arrays'`);
  const n = h.numNodes,
    want: Record<string, [StoreDType[], number[] | null]> = {
      rowPtr: [['int32', 'int64'], [n + 1]],
      colIdx: [['int32'], [h.numEdges]],
      features: [['float32'], [n, h.numFeatures]],
      labels: [['int32'], [n]],
      train: [['int32'], null],
      val: [['int32'], null],
      test: [['int32'], null],
      idOffsets: [['int32', 'int64'], [n + 1]],
      idBytes: [['uint8'], null],
    };
  for (const k of REQUIRED_ARRAYS) if (!(k in h.arrays)) bad(`array '${k}' is missing`);
  if ('idOffsets' in h.arrays !== 'idBytes' in h.arrays) bad(`'idOffsets' and 'idBytes' go together`);
  for (const [k, a] of Object.entries(h.arrays)) {
    const spec = want[k];
    if (!spec) bad(`unknown array '${k}'`);
    const [dtypes, shape] = spec!;
    if (!dtypes.includes(a.dtype))
      bad(`array '${k}' has dtype ${JSON.stringify(a.dtype)}, expected ${dtypes.join(' or ')}`);
    if (!Array.isArray(a.shape) || !a.shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      bad(`array '${k}' has shape ${JSON.stringify(a.shape)}`);
    if (shape && a.shape.join(',') !== shape.join(','))
      bad(`array '${k}' has shape [${a.shape.join(', ')}], expected [${shape.join(', ')}]`);
    if (a.bytes !== a.shape.reduce((x, y) => x * y, 1) * DTYPE_BYTES[a.dtype])
      bad(`array '${k}' has ${a.bytes} bytes for shape [${a.shape.join(', ')}] of ${a.dtype}`);
    if (
      !Number.isSafeInteger(a.offset) ||
      a.offset < dataStart ||
      a.offset % ALIGN !== 0 ||
      a.offset + a.bytes > h.fileBytes
    )
      bad(`array '${k}' lies at bytes ${a.offset}..${a.offset + a.bytes}, outside the data`);
  }
}

/** Where a store's features are read from: all in memory (outside the wasm heap), or by offset from the file per batch. */
export type FeatureSource = 'memory' | 'file';

/**
 * An open graph store. The CSR, labels and splits are in memory (ordinary typed arrays,
 * outside any WebAssembly.Memory); the features are in memory too, or stay in the file and
 * are read by offset for each batch (`features: 'file'`, for machines without the RAM).
 * Rows of the CSR are target nodes and its columns their neighbours (messages flow
 * column → row), sorted ascending within each row.
 */
export class GraphStore {
  /** CSR offsets: Int32Array, or Float64Array (exact integers) when the file has int64 offsets. */
  readonly rowPtr: Int32Array | Float64Array;
  readonly colIdx: Int32Array;
  readonly labels: Int32Array;
  readonly split: { train: Int32Array; val: Int32Array; test: Int32Array };
  /** Features in memory, or null when they are read from the file. */
  readonly features: Float32Array | null;
  private fd: number;
  private readonly idOffsets: Int32Array | Float64Array | null;
  private readonly idBytes: Uint8Array | null;

  private constructor(
    readonly file: string,
    readonly header: StoreHeader,
    fd: number,
    source: FeatureSource,
    private readonly windowBytes: number,
  ) {
    this.fd = fd;
    const a = header.arrays;
    this.rowPtr = this.offsets('rowPtr');
    this.colIdx = this.read('colIdx', Int32Array);
    this.labels = this.read('labels', Int32Array);
    this.split = {
      train: this.read('train', Int32Array),
      val: this.read('val', Int32Array),
      test: this.read('test', Int32Array),
    };
    this.features = source === 'memory' ? this.read('features', Float32Array) : null;
    this.idOffsets = a['idOffsets'] ? this.offsets('idOffsets') : null;
    this.idBytes = a['idBytes'] ? this.read('idBytes', Uint8Array) : null;
    this.validate();
  }

  /**
   * Opens a store and checks it: the preamble, header, array extents, and every structural
   * invariant of its contents (monotone offsets, node indices in range, labels in range), so
   * a damaged file is refused here with one line naming it.
   *
   * @example
   *   const g = GraphStore.open('.graft-cache/synthetic-products.graftstore', { features: 'file' });
   *   const x = g.gatherFeatures(batch.nodes);
   */
  static open(file: string, opts: { features?: FeatureSource; windowBytes?: number } = {}): GraphStore {
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch (err) {
      throw new StoreError(file, `cannot open: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    try {
      const source = opts.features ?? 'memory';
      const store = new GraphStore(file, readStoreHeader(file, fd), fd, source, opts.windowBytes ?? 4 << 20);
      if (source === 'memory') store.close();
      return store;
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /** The number of nodes. */
  get numNodes(): number {
    return this.header.numNodes;
  }
  /** The number of adjacency entries (directed; an undirected edge counts twice). */
  get numEdges(): number {
    return this.header.numEdges;
  }
  /** The number of features per node. */
  get numFeatures(): number {
    return this.header.numFeatures;
  }
  /** The number of classes of the node labels. */
  get numClasses(): number {
    return this.header.numClasses;
  }

  /** Node i's string id (its index when the store has no ids). */
  id(i: number): string {
    if (!this.idOffsets || !this.idBytes) return String(i);
    return Buffer.from(
      this.idBytes.buffer,
      this.idBytes.byteOffset + this.idOffsets[i]!,
      this.idOffsets[i + 1]! - this.idOffsets[i]!,
    ).toString('utf8');
  }

  /** The in-degree of node v (its CSR row length). */
  degree(v: number): number {
    return this.rowPtr[v + 1]! - this.rowPtr[v]!;
  }

  /**
   * The feature rows of `nodes`, in order, into `out` ([nodes.length, numFeatures],
   * row-major; a view of the wasm heap is the intended target, so a batch is gathered once,
   * straight where the kernels read it). From the file, the rows are read in ascending order
   * in windows of nearby rows (one readSync per window; `windowBytes` at open, 4 MiB by default).
   */
  gatherFeatures(
    nodes: ArrayLike<number>,
    out: Float32Array = new Float32Array(nodes.length * this.numFeatures),
  ): Float32Array {
    const f = this.numFeatures,
      n = this.numNodes;
    if (out.length < nodes.length * f)
      throw new GraftError(
        `GraphStore.gatherFeatures: argument 'out' holds ${out.length} floats, ${nodes.length} rows of ${f} need ${nodes.length * f}`,
      );
    for (let i = 0; i < nodes.length; i++) {
      const v = nodes[i]!;
      if (!(v >= 0 && v < n && Number.isInteger(v)))
        throw new RangeError(`GraphStore.gatherFeatures: nodes[${i}] = ${v} is not a node index in [0, ${n})`);
    }
    if (this.features) {
      // A plain loop: a subarray per row would allocate an object per row of a 700k-row batch.
      const x = this.features;
      for (let i = 0; i < nodes.length; i++)
        for (let j = 0, a = nodes[i]! * f, b = i * f; j < f; j++) out[b + j] = x[a + j]!;
      return out;
    }
    if (this.fd < 0) throw new GraftError(`GraphStore.gatherFeatures: ${this.file} is closed`);
    // Rows in ascending node order, read in windows of nearby rows (a gap of more than
    // `gapRows` starts a new window): a sampled batch touches a large share of a graph's
    // rows, and one readSync per row costs more in system calls than reading the gaps.
    const m = nodes.length,
      row = f * 4,
      base = this.header.arrays['features']!.offset;
    const keys = new Float64Array(m);
    const packed = n * m < 2 ** 53;
    for (let i = 0; i < m; i++) keys[i] = packed ? nodes[i]! * m + i : i;
    if (packed) keys.sort();
    else keys.sort((a, b) => nodes[a]! - nodes[b]! || a - b);
    const nodeOf = (k: number): number => (packed ? (keys[k]! - (keys[k]! % m)) / m : nodes[keys[k]!]!); // exact: no rounding in the division
    const posOf = (k: number): number => (packed ? keys[k]! % m : keys[k]!);
    const windowRows = Math.max(1, Math.floor(this.windowBytes / row)),
      gapRows = Math.max(1, Math.floor(windowRows / 64));
    const stage = new Float32Array(windowRows * f);
    for (let k = 0; k < m; ) {
      const first = nodeOf(k);
      let last = first,
        j = k + 1;
      while (j < m) {
        const v = nodeOf(j);
        if (v - first >= windowRows || v - last > gapRows) break;
        last = v;
        j++;
      }
      readInto(this.fd, bytesOf(stage.subarray(0, (last - first + 1) * f)), base + first * row, this.file);
      for (; k < j; k++)
        for (let q = 0, a = (nodeOf(k) - first) * f, b = posOf(k) * f; q < f; q++) out[b + q] = stage[a + q]!;
    }
    return out;
  }

  /** Closes the file (a store opened with features in memory is closed already). */
  close(): void {
    if (this.fd >= 0) {
      closeSync(this.fd);
      this.fd = -1;
    }
  }

  private read<T extends Int32Array | Float32Array | Uint8Array>(
    name: string,
    ctor: { new (n: number): T; BYTES_PER_ELEMENT: number },
  ): T {
    const a = this.header.arrays[name]!;
    const out = new ctor(a.bytes / ctor.BYTES_PER_ELEMENT);
    readInto(this.fd, bytesOf(out), a.offset, this.file);
    return out;
  }

  /** Offsets arrays: int32 as is, int64 into a Float64Array (exact below 2^53, checked). */
  private offsets(name: string): Int32Array | Float64Array {
    const a = this.header.arrays[name]!;
    if (a.dtype === 'int32') return this.read(name, Int32Array);
    const big = new BigInt64Array(a.bytes / 8);
    readInto(this.fd, bytesOf(big), a.offset, this.file);
    const out = new Float64Array(big.length);
    for (let i = 0; i < big.length; i++) {
      if (big[i]! > 9007199254740991n || big[i]! < 0n)
        throw new StoreError(this.file, `damaged: ${name}[${i}] = ${big[i]} is not an offset`);
      out[i] = Number(big[i]!);
    }
    return out;
  }

  private validate(): void {
    const h = this.header,
      n = h.numNodes,
      file = this.file;
    const bad = (what: string): never => {
      throw new StoreError(file, `damaged: ${what}`);
    };
    const p = this.rowPtr;
    if (p[0] !== 0 || p[n] !== h.numEdges) bad(`rowPtr runs ${p[0]}..${p[n]}, expected 0..${h.numEdges}`);
    for (let v = 0; v < n; v++) if (p[v + 1]! < p[v]!) bad(`rowPtr decreases at node ${v}`);
    const c = this.colIdx;
    for (let e = 0; e < c.length; e++)
      if (!(c[e]! >= 0 && c[e]! < n)) bad(`colIdx[${e}] = ${c[e]} is not a node index in [0, ${n})`);
    const l = this.labels;
    for (let v = 0; v < n; v++)
      if (!(l[v]! >= -1 && l[v]! < h.numClasses)) bad(`labels[${v}] = ${l[v]} is not a class in [-1, ${h.numClasses})`);
    for (const k of ['train', 'val', 'test'] as const) {
      const s = this.split[k];
      for (let i = 0; i < s.length; i++)
        if (!(s[i]! >= 0 && s[i]! < n)) bad(`${k}[${i}] = ${s[i]} is not a node index in [0, ${n})`);
    }
    if (this.idOffsets && this.idBytes) {
      const o = this.idOffsets;
      if (o[0] !== 0 || o[n] !== this.idBytes.length)
        bad(`idOffsets run ${o[0]}..${o[n]}, expected 0..${this.idBytes.length}`);
      for (let v = 0; v < n; v++) if (o[v + 1]! < o[v]!) bad(`idOffsets decrease at node ${v}`);
    }
  }
}

/** The CSR offsets' dtype for nnz entries: int64 once int32 cannot hold them. */
export function offsetsDType(nnz: number): 'int32' | 'int64' {
  return nnz > 0x7fffffff ? 'int64' : 'int32';
}

/** Offsets (numbers) as the bytes of `dtype`. */
export function encodeOffsets(p: ArrayLike<number>, dtype: 'int32' | 'int64'): Int32Array | BigInt64Array {
  if (dtype === 'int32') return p instanceof Int32Array ? p : Int32Array.from(p);
  return BigInt64Array.from(Array.prototype.map.call(p, (x: number) => BigInt(x)) as bigint[]);
}

/** Everything a store holds, in memory: what `writeStore` takes for graphs that fit in RAM. */
export interface StoreContents {
  name: string;
  numClasses: number;
  numFeatures: number;
  rowPtr: ArrayLike<number>;
  colIdx: Int32Array;
  features: Float32Array;
  labels: Int32Array;
  split: { train: Int32Array; val: Int32Array; test: Int32Array };
  symmetric: boolean;
  ids?: string[];
  metadata?: Record<string, unknown>;
}

/**
 * Writes a whole in-memory graph as a store, atomically. `offsets` forces the CSR offsets'
 * dtype (int64 is chosen by itself past 2^31 - 1 non-zeros; forcing it tests that path).
 */
export function writeStore(file: string, g: StoreContents, opts: { offsets?: 'int32' | 'int64' } = {}): StoreHeader {
  const n = g.rowPtr.length - 1,
    nnz = g.colIdx.length;
  if (g.features.length !== n * g.numFeatures)
    throw new GraftError(
      `writeStore: features hold ${g.features.length} floats, ${n} nodes × ${g.numFeatures} need ${n * g.numFeatures}`,
    );
  const w = new StoreWriter(file);
  try {
    const od = opts.offsets ?? offsetsDType(nnz);
    w.array('rowPtr', od, encodeOffsets(g.rowPtr, od), [n + 1]);
    w.array('colIdx', 'int32', g.colIdx);
    w.array('features', 'float32', g.features, [n, g.numFeatures]);
    w.array('labels', 'int32', g.labels);
    for (const k of ['train', 'val', 'test'] as const) w.array(k, 'int32', g.split[k]);
    if (g.ids) {
      const parts = g.ids.map((s) => Buffer.from(s, 'utf8'));
      const offs = new Float64Array(n + 1);
      parts.forEach((b, i) => {
        offs[i + 1] = offs[i]! + b.length;
      });
      const idd = offsetsDType(offs[n]!);
      w.array('idOffsets', idd, encodeOffsets(offs, idd), [n + 1]);
      w.array('idBytes', 'uint8', Buffer.concat(parts));
    }
    return w.finish({
      name: g.name,
      numNodes: n,
      numEdges: nnz,
      numFeatures: g.numFeatures,
      numClasses: g.numClasses,
      symmetric: g.symmetric,
      metadata: g.metadata ?? {},
    });
  } catch (err) {
    w.abort();
    throw err;
  }
}
