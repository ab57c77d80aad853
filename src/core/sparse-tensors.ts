import type { GraftError } from './errors.js';
import type { Checkpoint, StoredTensor } from './checkpoint-types.js';

// Sparse float tensors inside a safetensors file, stored only where that is smaller than dense
// (a sparse soup's pruned weight matrices). A sparse F32 tensor NAME of shape S becomes two
// ordinary tensors, so any safetensors reader opens the file:
//   NAME:bitmap  U8  [ceil(n/8)]  bit i (byte i >> 3, bit i & 7, least significant first) is 1
//                                 when value i (row-major) is stored; padding bits are 0;
//   NAME:values  F32 [nnz]        the stored values, in row-major order;
// and the metadata key "graft.sparse" lists them: {"NAME": {"dtype": "F32", "shape": S}}.
// A value is left out only when its bits are +0.0's, so -0.0 and NaN survive and the dense
// tensor comes back bit for bit. decodeSafetensors expands them (unpackSparse), so every reader
// of a Graft file sees the dense tensor and never this encoding.

/** The metadata key that lists a file's sparse tensors. */
export const SPARSE_METADATA_KEY = 'graft.sparse';
const BITMAP = ':bitmap',
  VALUES = ':values';

interface SparseEntry {
  dtype: 'F32';
  shape: number[];
}

const isPositiveZero = (bits: Uint32Array, i: number): boolean => bits[i] === 0;

/**
 * The checkpoint with every F32 tensor whose bitmap and nonzero values take fewer bytes than
 * its dense values (ceil(n/8) + 4·nnz < 4·n) stored sparse; the others as they were.
 *
 * @example saveCheckpoint(file, packSparse(cp)); // loadCheckpoint(file) gives cp's tensors back, bit for bit
 */
export function packSparse(cp: Checkpoint): Checkpoint {
  const tensors = new Map<string, StoredTensor>();
  const entries: Record<string, SparseEntry> = {};
  for (const [name, t] of cp.tensors) {
    if (!(t.data instanceof Float32Array)) {
      tensors.set(name, t);
      continue;
    }
    const n = t.data.length;
    const bits = new Uint32Array(t.data.buffer, t.data.byteOffset, n);
    let nnz = 0;
    for (let i = 0; i < n; i++) if (!isPositiveZero(bits, i)) nnz++;
    if (Math.ceil(n / 8) + 4 * nnz >= 4 * n) {
      tensors.set(name, t);
      continue;
    }
    const bitmap = new Uint8Array(Math.ceil(n / 8));
    const values = new Float32Array(nnz);
    for (let i = 0, k = 0; i < n; i++)
      if (!isPositiveZero(bits, i)) {
        bitmap[i >> 3]! |= 1 << (i & 7);
        values[k++] = t.data[i]!;
      }
    tensors.set(name + BITMAP, { shape: [bitmap.length], data: bitmap });
    tensors.set(name + VALUES, { shape: [nnz], data: values });
    entries[name] = { dtype: 'F32', shape: [...t.shape] };
  }
  if (Object.keys(entries).length === 0) return cp;
  return { tensors, metadata: { ...cp.metadata, [SPARSE_METADATA_KEY]: JSON.stringify(entries) } };
}

/**
 * The checkpoint with the sparse tensors it lists (packSparse) expanded into dense ones, in the
 * order of names a dense file has (sorted), and the listing dropped from its metadata. A listing that does not hold (a missing part, a bitmap of the
 * wrong length, or one marking another count of values than are stored) is refused by `bad`,
 * which names the file.
 */
export function unpackSparse(cp: Checkpoint, bad: (why: string) => GraftError): Checkpoint {
  const text = cp.metadata[SPARSE_METADATA_KEY];
  if (text === undefined) return cp;
  let entries: Record<string, SparseEntry>;
  try {
    entries = JSON.parse(text) as Record<string, SparseEntry>;
  } catch {
    throw bad(`its metadata '${SPARSE_METADATA_KEY}' is not JSON`);
  }
  const tensors = new Map(cp.tensors);
  for (const [name, e] of Object.entries(entries)) {
    const bitmap = tensors.get(name + BITMAP),
      values = tensors.get(name + VALUES);
    const n = Array.isArray(e.shape) ? e.shape.reduce((a, b) => a * b, 1) : NaN;
    if (e.dtype !== 'F32' || !Number.isInteger(n) || n < 0)
      throw bad(
        `sparse tensor ${name}: dtype ${e.dtype} and shape ${JSON.stringify(e.shape)} (expected F32 and a shape)`,
      );
    if (tensors.has(name)) throw bad(`sparse tensor ${name} is stored dense too`);
    if (!(bitmap?.data instanceof Uint8Array)) throw bad(`sparse tensor ${name}: no U8 tensor ${name}${BITMAP}`);
    if (!(values?.data instanceof Float32Array)) throw bad(`sparse tensor ${name}: no F32 tensor ${name}${VALUES}`);
    const b = bitmap.data,
      v = values.data;
    if (b.length !== Math.ceil(n / 8))
      throw bad(`sparse tensor ${name}: its bitmap has ${b.length} bytes, ${Math.ceil(n / 8)} for ${n} values`);
    const dense = new Float32Array(n);
    let k = 0;
    for (let i = 0; i < n; i++)
      if ((b[i >> 3]! >> (i & 7)) & 1) {
        if (k < v.length) dense[i] = v[k]!;
        k++;
      }
    let padding = 0;
    for (let i = n; i < 8 * b.length; i++) padding |= (b[i >> 3]! >> (i & 7)) & 1;
    if (k !== v.length || padding)
      throw bad(
        `sparse tensor ${name}: its bitmap marks ${k + padding} stored values${padding ? ' (with padding bits set)' : ''}, its values tensor holds ${v.length}`,
      );
    tensors.delete(name + BITMAP);
    tensors.delete(name + VALUES);
    tensors.set(name, { shape: e.shape, data: dense });
  }
  const metadata = { ...cp.metadata };
  delete metadata[SPARSE_METADATA_KEY];
  return { tensors: new Map([...tensors].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))), metadata };
}
