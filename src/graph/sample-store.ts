import { argRangeError } from '../core/errors.js';
import { type GraphSample, primeSampleNorm, sampleNorm } from './batch.js';

// A training set of small graphs packed once into shared buffers (outside the wasm memory),
// so a shard worker collates the shards it runs from them, on its own thread, instead of the
// main thread collating every shard of every step and handing the worker its copy. collate()
// reads the stored samples through typed-array views, Â included (computed once on the main
// thread), so a shard collated there has the bytes of one collated here.

/** The arrays a sample stores, each as (offset, length) in its pool; offset −1: absent. */
const FLOAT_ARRAYS = ['x', 'y', 'w', 'edgeAttr', 'descriptors', 'vals'] as const;
const INT_ARRAYS = ['src', 'dst', 'rowPtr', 'colIdx'] as const;
type StoredArray = (typeof FLOAT_ARRAYS)[number] | (typeof INT_ARRAYS)[number];
/** Int32 words per sample in the index: its node count, then an (offset, length) pair per array. */
const WORDS = 1 + 2 * (FLOAT_ARRAYS.length + INT_ARRAYS.length);
const WORD = new Map<StoredArray, number>([...FLOAT_ARRAYS, ...INT_ARRAYS].map((name, k) => [name, 1 + 2 * k]));

/** A packed sample set as it travels to a worker: structured cloning shares the buffers, never copies them. */
export interface SampleStoreData {
  /** Names this packing (a worker keeps its views of a set by it, across the holds of one run). */
  id: string;
  count: number;
  /** Int32 [count, 16]: per sample, its sizes and where its arrays start in `ints` and `floats`. */
  index: SharedArrayBuffer;
  ints: SharedArrayBuffer;
  floats: SharedArrayBuffer;
}

/** A packed sample set: its buffers (for workers) and this thread's views of them. */
export interface SampleStore {
  /** The stored samples as views of the buffers: what this thread collates from, as a worker does. */
  readonly samples: readonly GraphSample[];
  readonly data: SampleStoreData;
  /** Bytes of the packed copy. */
  readonly bytes: number;
}

/** What a packed set leaves out: arrays the model never reads (a hybrid's descriptors, edge features). */
export interface PackOptions {
  /** Keep each sample's descriptors (a hybrid's dense branch reads them); default true. */
  descriptors?: boolean;
  /** Keep each sample's edge features (models on bond features read them); default true. */
  edgeAttr?: boolean;
}

/** The arrays packSamples stores of a sample (undefined: absent or left out by `options`). */
function storedArrays(g: GraphSample, options: PackOptions) {
  const a = sampleNorm(g);
  const floats: Record<(typeof FLOAT_ARRAYS)[number], Float32Array | undefined> = {
    x: g.x,
    y: g.y,
    w: g.w,
    edgeAttr: options.edgeAttr === false ? undefined : g.edgeAttr,
    descriptors: options.descriptors === false ? undefined : g.descriptors,
    vals: a.vals,
  };
  const ints: Record<(typeof INT_ARRAYS)[number], Int32Array> = {
    src: g.src,
    dst: g.dst,
    rowPtr: a.rowPtr,
    colIdx: a.colIdx,
  };
  return { floats, ints };
}

/** Bytes packSamples(samples, options) would take: to decide whether a set is worth a second copy. */
export function packedBytes(samples: readonly GraphSample[], options: PackOptions = {}): number {
  let words = WORDS * Math.max(1, samples.length);
  for (const g of samples) {
    const { floats, ints } = storedArrays(g, options);
    for (const name of FLOAT_ARRAYS) words += floats[name]?.length ?? 0;
    for (const name of INT_ARRAYS) words += ints[name].length;
  }
  return 4 * words;
}

let nextStore = 1;

/** Packs `samples` (their arrays and each one's Â, less what `options` leaves out) into shared buffers. */
export function packSamples(samples: readonly GraphSample[], options: PackOptions = {}): SampleStore {
  const n = samples.length;
  const index = new Int32Array(new SharedArrayBuffer(4 * WORDS * Math.max(1, n)));
  const arrays = samples.map((g) => storedArrays(g, options));
  let nf = 0,
    ni = 0;
  arrays.forEach(({ floats, ints }, k) => {
    const at = k * WORDS;
    index[at] = samples[k]!.nodes;
    for (const name of FLOAT_ARRAYS) {
      const v = floats[name];
      index[at + WORD.get(name)!] = v ? nf : -1;
      index[at + WORD.get(name)! + 1] = v?.length ?? 0;
      nf += v?.length ?? 0;
    }
    for (const name of INT_ARRAYS) {
      index[at + WORD.get(name)!] = ni;
      index[at + WORD.get(name)! + 1] = ints[name].length;
      ni += ints[name].length;
    }
  });
  if (nf >= 2 ** 31 || ni >= 2 ** 31)
    throw argRangeError('packSamples', 'samples', 'under 2^31 values of each kind in all', Math.max(nf, ni));
  const data: SampleStoreData = {
    id: `${process.pid}:${nextStore++}`,
    count: n,
    index: index.buffer as SharedArrayBuffer,
    ints: new SharedArrayBuffer(4 * ni),
    floats: new SharedArrayBuffer(4 * nf),
  };
  const fv = new Float32Array(data.floats),
    iv = new Int32Array(data.ints);
  arrays.forEach(({ floats, ints }, k) => {
    const at = k * WORDS;
    for (const name of FLOAT_ARRAYS) {
      const v = floats[name];
      if (v) fv.set(v, index[at + WORD.get(name)!]!);
    }
    for (const name of INT_ARRAYS) iv.set(ints[name], index[at + WORD.get(name)!]!);
  });
  return {
    samples: storedSamples(data),
    data,
    bytes: data.index.byteLength + data.ints.byteLength + data.floats.byteLength,
  };
}

/**
 * The stored samples as GraphSamples over views of the buffers (a worker's side of
 * packSamples), each with its stored Â, so collate() uses it instead of computing it again.
 */
export function storedSamples(data: SampleStoreData): GraphSample[] {
  const index = new Int32Array(data.index),
    iv = new Int32Array(data.ints),
    fv = new Float32Array(data.floats);
  const out: GraphSample[] = [];
  for (let k = 0; k < data.count; k++) {
    const at = k * WORDS;
    const view = <T extends Float32Array | Int32Array>(pool: T, name: StoredArray): T | undefined => {
      const o = index[at + WORD.get(name)!]!;
      return o < 0 ? undefined : (pool.subarray(o, o + index[at + WORD.get(name)! + 1]!) as T);
    };
    const g: GraphSample = {
      nodes: index[at]!,
      x: view(fv, 'x')!,
      src: view(iv, 'src')!,
      dst: view(iv, 'dst')!,
      y: view(fv, 'y')!,
    };
    const w = view(fv, 'w'),
      attr = view(fv, 'edgeAttr'),
      desc = view(fv, 'descriptors');
    if (w) g.w = w;
    if (attr) g.edgeAttr = attr;
    if (desc) g.descriptors = desc;
    primeSampleNorm(g, { rowPtr: view(iv, 'rowPtr')!, colIdx: view(iv, 'colIdx')!, vals: view(fv, 'vals')! });
    out.push(g);
  }
  return out;
}
