import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { writeFileAtomic } from '../core/atomic-write.js';
import { GraftError } from '../core/errors.js';

// Checkpoints in the safetensors layout (the field's convention): an 8-byte little-endian
// header length, a JSON header {name: {dtype, shape, data_offsets}, __metadata__: {...}},
// then the raw little-endian tensor bytes. __metadata__["graft.sha256"] is the SHA-256 of
// the data section and __metadata__["graft.header_sha256"] that of the header itself (the
// tensor table and the other metadata, as written), both verified on load: a flipped dtype
// or shape is refused as surely as a flipped weight. Writes go to a temporary file in the same folder,
// are fsynced, then renamed over the target, so a crash leaves the old file or the new one.

export type StoredArray = Float32Array | Int32Array | Uint8Array | Uint32Array;
const DTYPES: Record<string, { code: string; ctor: new (b: ArrayBuffer, o: number, n: number) => StoredArray; bytes: number }> = {
  Float32Array: { code: 'F32', ctor: Float32Array, bytes: 4 },
  Int32Array: { code: 'I32', ctor: Int32Array, bytes: 4 },
  Uint32Array: { code: 'U32', ctor: Uint32Array, bytes: 4 },
  Uint8Array: { code: 'U8', ctor: Uint8Array, bytes: 1 },
};
const BY_CODE = Object.fromEntries(Object.values(DTYPES).map((d) => [d.code, d]));

export interface StoredTensor { shape: number[]; data: StoredArray }
export interface Checkpoint { tensors: Map<string, StoredTensor>; metadata: Record<string, string> }

export function encodeCheckpoint(cp: Checkpoint): Buffer {
  const names = [...cp.tensors.keys()].sort();
  const header: Record<string, unknown> = {};
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const name of names) {
    const t = cp.tensors.get(name)!;
    const d = DTYPES[t.data.constructor.name];
    if (!d) throw new GraftError(`checkpoint: tensor ${name} has unsupported type ${t.data.constructor.name}`);
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) throw new GraftError(`checkpoint: tensor ${name} has ${t.data.length} values for shape [${t.shape}]`);
    const bytes = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    header[name] = { dtype: d.code, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    chunks.push(Buffer.from(bytes));
    offset += bytes.length;
  }
  const data = Buffer.concat(chunks);
  const meta: Record<string, string> = { ...cp.metadata, 'graft.sha256': createHash('sha256').update(data).digest('hex') };
  header['__metadata__'] = { ...meta, 'graft.header_sha256': headerHash(header, meta) };
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return Buffer.concat([len, Buffer.from(json), data]);
}

/** The SHA-256 of the header's content: tensor table (names sorted) and metadata, hash fields aside. */
function headerHash(header: Record<string, unknown>, metadata: Record<string, string>): string {
  const table = Object.keys(header).filter((k) => k !== '__metadata__').sort().map((k) => [k, header[k]]);
  const meta = Object.keys(metadata).filter((k) => k !== 'graft.header_sha256').sort().map((k) => [k, metadata[k]]);
  return createHash('sha256').update(JSON.stringify([table, meta])).digest('hex');
}

export function decodeCheckpoint(buf: Buffer, file = 'checkpoint'): Checkpoint {
  const bad = (why: string): GraftError => new GraftError(`${file}: not a valid checkpoint: ${why}`);
  if (buf.length < 8) throw bad('shorter than its 8-byte header length');
  const hlen = Number(buf.readBigUInt64LE(0));
  if (hlen === 0) throw bad('its header length is zero (no tensor table)');
  if (hlen > buf.length - 8) throw bad(`header length ${hlen} runs past the end of the file (${buf.length} bytes)`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + hlen).toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    throw bad(`header is not JSON (${(err as Error).message})`);
  }
  const data = buf.subarray(8 + hlen);
  const metadata = (header['__metadata__'] ?? {}) as Record<string, string>;
  const want = metadata['graft.sha256'];
  const got = createHash('sha256').update(data).digest('hex');
  if (want !== got) throw bad(`checksum mismatch (stored ${want ?? 'none'}, data hashes to ${got}): the file is damaged or truncated`);
  // Files from before header checksums have none; every file written now has one.
  const headerWant = metadata['graft.header_sha256'];
  if (headerWant !== undefined && headerWant !== headerHash(header, metadata)) {
    throw bad('header checksum mismatch: the tensor table or metadata was changed after writing (a dtype, shape or setting)');
  }
  const tensors = new Map<string, StoredTensor>();
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const { dtype, shape, data_offsets: off } = v as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const d = BY_CODE[dtype];
    if (!d) throw bad(`tensor ${name} has unknown dtype ${dtype}`);
    const n = Array.isArray(shape) ? shape.reduce((a, b) => a * b, 1) : NaN;
    if (!Array.isArray(off) || off.length !== 2 || !(off[0] >= 0 && off[1] <= data.length && off[1] - off[0] === n * d.bytes)) {
      throw bad(`tensor ${name}: data_offsets ${JSON.stringify(off)} do not hold shape ${JSON.stringify(shape)} of ${dtype} within the ${data.length} data bytes`);
    }
    const copy = new Uint8Array(off[1] - off[0]);
    copy.set(data.subarray(off[0], off[1]));
    tensors.set(name, { shape, data: new d.ctor(copy.buffer, 0, copy.length / d.bytes) });
  }
  const meta = { ...metadata };
  delete meta['graft.sha256'];
  delete meta['graft.header_sha256'];
  return { tensors, metadata: meta };
}

export function saveCheckpoint(file: string, cp: Checkpoint): void {
  writeFileAtomic(file, encodeCheckpoint(cp));
}

export function loadCheckpoint(file: string): Checkpoint {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (err) {
    throw new GraftError(`${file}: cannot read checkpoint: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return decodeCheckpoint(buf, file);
}

/** Where the checkpoint before the latest is kept: `checkpoint.safetensors` → `checkpoint.prev.safetensors`. */
export function previousCheckpointPath(file: string): string {
  return file.replace(/(\.safetensors)?$/, '.prev.safetensors');
}

/**
 * Writes a checkpoint and keeps the one it replaces as the previous (previousCheckpointPath):
 * the new file is written and fsynced under a temporary name first, then the current file
 * becomes the previous, then the new one takes its name. A crash at any point leaves at
 * least one good checkpoint, and a damaged latest one still has a good one behind it.
 */
export function saveCheckpointKeepingPrevious(file: string, cp: Checkpoint): void {
  const prev = previousCheckpointPath(file);
  const staged = `${file}.next`;
  writeFileAtomic(staged, encodeCheckpoint(cp));
  if (existsSync(file)) renameSync(file, prev);
  renameSync(staged, file);
}

export interface ResumePoint {
  checkpoint: Checkpoint;
  file: string;
  /** The latest checkpoint, when it was damaged and the previous one was used: why. */
  skipped?: string;
}

/**
 * The checkpoint to resume from: `file`, or, when it is missing or damaged, the previous one
 * (saveCheckpointKeepingPrevious) if that one is good. Null when there is neither. A damaged
 * file with no good previous one throws its own error (what is wrong, and where).
 */
export function latestGoodCheckpoint(file: string): ResumePoint | null {
  const prev = previousCheckpointPath(file);
  let latestError: GraftError | null = null;
  if (existsSync(file)) {
    try {
      return { checkpoint: loadCheckpoint(file), file };
    } catch (err) {
      if (!(err instanceof GraftError)) throw err;
      latestError = err;
    }
  }
  if (!existsSync(prev)) {
    if (latestError) throw latestError;
    return null;
  }
  try {
    return { checkpoint: loadCheckpoint(prev), file: prev, ...(latestError ? { skipped: latestError.message } : { skipped: `${file} is missing` }) };
  } catch (err) {
    if (latestError && err instanceof GraftError) throw new GraftError(`${latestError.message}; and the previous one: ${err.message}`);
    throw err;
  }
}
