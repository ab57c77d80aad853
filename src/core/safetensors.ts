import { GraftError } from './errors.js';
import type { Checkpoint, StoredArray, StoredTensor } from './checkpoint-types.js';
import { unpackSparse } from './sparse-tensors.js';

export type { Checkpoint, StoredArray, StoredTensor } from './checkpoint-types.js';

// The safetensors layout (the field's convention, also PyTorch's and PyG's): an 8-byte
// little-endian header length, a JSON header {name: {dtype, shape, data_offsets},
// __metadata__: {string: string}}, padded with spaces to 8 bytes, then the raw little-endian
// tensor bytes. Graft's files add __metadata__["graft.sha256"] (the SHA-256 of the data
// section) and __metadata__["graft.header_sha256"] (that of the tensor table and the other
// metadata), both verified on load. A tensor may be stored sparse (core/sparse-tensors.ts:
// a bitmap and the nonzero values); decoding gives it back dense. Pure code over Uint8Array, with no Node built-ins and no
// TextDecoder, so the inference bundle reads the same files in a browser or a bare context.

type StoredCtor = new (b: ArrayBuffer, o: number, n: number) => StoredArray;
const DTYPES: readonly { code: string; ctor: StoredCtor; bytes: number; is: (a: StoredArray) => boolean }[] = [
  { code: 'F32', ctor: Float32Array, bytes: 4, is: (a) => a instanceof Float32Array },
  { code: 'I32', ctor: Int32Array, bytes: 4, is: (a) => a instanceof Int32Array },
  { code: 'U32', ctor: Uint32Array, bytes: 4, is: (a) => a instanceof Uint32Array },
  { code: 'U8', ctor: Uint8Array, bytes: 1, is: (a) => a instanceof Uint8Array },
  { code: 'I8', ctor: Int8Array, bytes: 1, is: (a) => a instanceof Int8Array },
];
const BY_CODE = new Map(DTYPES.map((d) => [d.code, d]));

/** A SHA-256 as lowercase hex: node:crypto's in the Node runtime, core/sha256 in the inference bundle. */
export type Sha256 = (bytes: Uint8Array) => string;

export function encodeSafetensors(cp: Checkpoint, sha256: Sha256): Uint8Array {
  const names = [...cp.tensors.keys()].sort();
  const header: Record<string, unknown> = {};
  let offset = 0;
  const parts: Uint8Array[] = [];
  for (const name of names) {
    const t = cp.tensors.get(name)!;
    const d = DTYPES.find((x) => x.is(t.data));
    if (!d) throw new GraftError(`checkpoint: tensor ${name} has unsupported type ${t.data.constructor.name}`);
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length)
      throw new GraftError(`checkpoint: tensor ${name} has ${t.data.length} values for shape [${t.shape}]`);
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    header[name] = { dtype: d.code, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    parts.push(bytes);
    offset += bytes.length;
  }
  const data = new Uint8Array(offset);
  let at = 0;
  for (const p of parts) {
    data.set(p, at);
    at += p.length;
  }
  const meta: Record<string, string> = { ...cp.metadata, 'graft.sha256': sha256(data) };
  header['__metadata__'] = { ...meta, 'graft.header_sha256': headerHash(header, meta, sha256) };
  const json = utf8Encode(JSON.stringify(header));
  const padded = json.length + ((8 - (json.length % 8)) % 8);
  const out = new Uint8Array(8 + padded + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  out.set(data, 8 + padded);
  return out;
}

/** The SHA-256 of the header's content: tensor table (names sorted) and metadata, hash fields aside. */
function headerHash(header: Record<string, unknown>, metadata: Record<string, string>, sha256: Sha256): string {
  const table = Object.keys(header)
    .filter((k) => k !== '__metadata__')
    .sort()
    .map((k) => [k, header[k]]);
  const meta = Object.keys(metadata)
    .filter((k) => k !== 'graft.header_sha256')
    .sort()
    .map((k) => [k, metadata[k]]);
  return sha256(utf8Encode(JSON.stringify([table, meta])));
}

export interface DecodeOptions {
  /** Refuse a file without Graft's checksums (default false: a plain safetensors file, e.g. from PyTorch, is read as is). */
  requireChecksums?: boolean;
}

/**
 * Reads a safetensors file. Graft's checksums are verified when present, and a file that
 * carries none is read as written (a state_dict saved by PyTorch) unless `requireChecksums`.
 * Tensors are copied out, so the result does not hold on to `buf`.
 */
export function decodeSafetensors(
  buf: Uint8Array,
  file: string,
  sha256: Sha256,
  options: DecodeOptions = {},
): Checkpoint {
  const bad = (why: string): GraftError => new GraftError(`${file}: not a valid checkpoint: ${why}`);
  if (buf.length < 8) throw bad('shorter than its 8-byte header length');
  const hlen = Number(new DataView(buf.buffer, buf.byteOffset, 8).getBigUint64(0, true));
  if (hlen === 0) throw bad('its header length is zero (no tensor table)');
  if (hlen > buf.length - 8) throw bad(`header length ${hlen} runs past the end of the file (${buf.length} bytes)`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(utf8Decode(buf.subarray(8, 8 + hlen))) as Record<string, unknown>;
  } catch (err) {
    throw bad(`header is not JSON (${(err as Error).message})`);
  }
  const data = buf.subarray(8 + hlen);
  const metadata = (header['__metadata__'] ?? {}) as Record<string, string>;
  const want = metadata['graft.sha256'];
  if (want !== undefined || options.requireChecksums) {
    const got = sha256(data);
    if (want !== got)
      throw bad(
        `checksum mismatch (stored ${want ?? 'none'}, data hashes to ${got}): the file is damaged or truncated`,
      );
  }
  // Files from before header checksums have none; every file written now has one.
  const headerWant = metadata['graft.header_sha256'];
  if (headerWant !== undefined && headerWant !== headerHash(header, metadata, sha256)) {
    throw bad(
      'header checksum mismatch: the tensor table or metadata was changed after writing (a dtype, shape or setting)',
    );
  }
  const tensors = new Map<string, StoredTensor>();
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const { dtype, shape, data_offsets: off } = v as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const d = BY_CODE.get(dtype);
    if (!d) throw bad(`tensor ${name} has unknown dtype ${dtype}`);
    const n = Array.isArray(shape) ? shape.reduce((a, b) => a * b, 1) : NaN;
    if (
      !Array.isArray(off) ||
      off.length !== 2 ||
      !(off[0] >= 0 && off[1] <= data.length && off[1] - off[0] === n * d.bytes)
    ) {
      throw bad(
        `tensor ${name}: data_offsets ${JSON.stringify(off)} do not hold shape ${JSON.stringify(shape)} of ${dtype} within the ${data.length} data bytes`,
      );
    }
    const copy = new Uint8Array(off[1] - off[0]);
    copy.set(data.subarray(off[0], off[1]));
    tensors.set(name, { shape, data: new d.ctor(copy.buffer, 0, copy.length / d.bytes) });
  }
  const meta = { ...metadata };
  delete meta['graft.sha256'];
  delete meta['graft.header_sha256'];
  // Sparse tensors (core/sparse-tensors.ts) come back dense here, so every reader sees one format.
  return unpackSparse({ tensors, metadata: meta }, bad);
}

export function utf8Encode(s: string): Uint8Array {
  const out: number[] = [];
  for (const ch of s) {
    let c = ch.codePointAt(0)!;
    if (c < 0x80) {
      out.push(c);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd; // a lone surrogate, as TextEncoder writes it
    if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return Uint8Array.from(out);
}

/** UTF-8 to a string; a malformed sequence throws (a header is either valid UTF-8 JSON or not a header). */
export function utf8Decode(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; ) {
    const c = b[i]!;
    let cp: number, extra: number;
    if (c < 0x80) {
      cp = c;
      extra = 0;
    } else if (c >= 0xc2 && c < 0xe0) {
      cp = c & 31;
      extra = 1;
    } else if (c >= 0xe0 && c < 0xf0) {
      cp = c & 15;
      extra = 2;
    } else if (c >= 0xf0 && c < 0xf5) {
      cp = c & 7;
      extra = 3;
    } else throw new SyntaxError(`invalid UTF-8 byte ${c} at ${i}`);
    for (let k = 1; k <= extra; k++) {
      const x = b[i + k];
      if (x === undefined || (x & 0xc0) !== 0x80) throw new SyntaxError(`invalid UTF-8 sequence at ${i}`);
      cp = (cp << 6) | (x & 63);
    }
    s += String.fromCodePoint(cp);
    i += extra + 1;
  }
  return s;
}
