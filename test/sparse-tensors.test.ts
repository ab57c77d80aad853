import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeSafetensors, encodeSafetensors, type Checkpoint } from '../src/core/safetensors.js';
import { packSparse, SPARSE_METADATA_KEY } from '../src/core/sparse-tensors.js';
import { bitsEqual, randn } from './helpers.js';

// The sparse tensor encoding (a bitmap and the stored values): oracles are the dense tensors
// it came from (bit for bit, -0 and NaN included), the byte count its layout states, and
// hand-broken entries.

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const roundTrip = (cp: Checkpoint): Checkpoint =>
  decodeSafetensors(encodeSafetensors(cp, sha256), 'soup.safetensors', sha256);

/** A [rows, cols] F32 matrix with every `keep`-th value kept, the others +0. */
function pruned(rows: number, cols: number, keep: number, seed: number): Float32Array {
  const w = randn(rows * cols, seed);
  for (let i = 0; i < w.length; i++) if (i % keep !== 0) w[i] = 0;
  return w;
}

describe('sparse tensors in a safetensors file', () => {
  it('stores a mostly-zero F32 tensor as a bitmap and its values, and decodes it back bit for bit', () => {
    for (const [rows, cols] of [
      [1, 1],
      [3, 7],
      [17, 9],
      [100, 24],
    ] as const) {
      const w = pruned(rows, cols, 3, rows);
      if (w.length > 2) {
        w[1] = -0; // -0 is stored, not dropped
        w[2] = Number.NaN;
      }
      const bias = randn(cols, 9);
      const cp: Checkpoint = {
        tensors: new Map([
          ['model.w', { shape: [rows, cols], data: w }],
          ['model.b', { shape: [cols], data: bias }],
          ['steps', { shape: [2], data: Int32Array.of(3, 4) }],
        ]),
        metadata: { note: 'x' },
      };
      const packed = packSparse(cp);
      const n = rows * cols;
      const nnz = [...new Uint32Array(w.buffer)].filter((bits) => bits !== 0).length;
      const sparse = Math.ceil(n / 8) + 4 * nnz < 4 * n;
      expect(packed.tensors.has('model.w'), `${rows}×${cols}`).toBe(!sparse);
      if (sparse) {
        expect(packed.tensors.get('model.w:bitmap')!.data.length).toBe(Math.ceil(n / 8));
        expect(packed.tensors.get('model.w:values')!.data.length).toBe(nnz);
      }
      expect(packed.tensors.get('model.b')).toBe(cp.tensors.get('model.b')); // dense: no zeros to drop
      const back = roundTrip(packed);
      expect([...back.tensors.keys()]).toEqual(['model.b', 'model.w', 'steps']);
      expect(back.tensors.get('model.w')!.shape).toEqual([rows, cols]);
      expect(bitsEqual(back.tensors.get('model.w')!.data as Float32Array, w)).toBe(true);
      expect(back.metadata).toEqual({ note: 'x' });
    }
  });

  it('at half zeros the file is (1/32 + 1/2) of the dense bytes in its data section', () => {
    const w = pruned(64, 32, 2, 1);
    const cp: Checkpoint = { tensors: new Map([['w', { shape: [64, 32], data: w }]]), metadata: {} };
    const packed = packSparse(cp);
    const bytes = [...packed.tensors.values()].reduce((a, t) => a + t.data.byteLength, 0);
    expect(bytes).toBe(2048 / 8 + 4 * 1024);
    expect(encodeSafetensors(packed, sha256).length).toBeLessThan(encodeSafetensors(cp, sha256).length);
  });

  it('refuses a sparse entry whose bitmap marks another count of values than are stored, naming the file and tensor', () => {
    const packed = packSparse({
      tensors: new Map([['model.gcn0.weight', { shape: [8, 4], data: pruned(8, 4, 4, 2) }]]),
      metadata: {},
    });
    const values = packed.tensors.get('model.gcn0.weight:values')!;
    const broken: Checkpoint = {
      tensors: new Map([
        ...packed.tensors,
        ['model.gcn0.weight:values', { shape: [7], data: values.data.slice(0, 7) }],
      ]),
      metadata: packed.metadata,
    };
    expect(values.data.length).toBe(8);
    expect(() => roundTrip(broken)).toThrow(
      'soup.safetensors: not a valid checkpoint: sparse tensor model.gcn0.weight: its bitmap marks 8 stored values, its values tensor holds 7',
    );
    const noBitmap = new Map(packed.tensors);
    noBitmap.delete('model.gcn0.weight:bitmap');
    expect(() => roundTrip({ tensors: noBitmap, metadata: packed.metadata })).toThrow(
      'soup.safetensors: not a valid checkpoint: sparse tensor model.gcn0.weight: no U8 tensor model.gcn0.weight:bitmap',
    );
    expect(() => roundTrip({ tensors: packed.tensors, metadata: { [SPARSE_METADATA_KEY]: '{' } })).toThrow(
      `soup.safetensors: not a valid checkpoint: its metadata '${SPARSE_METADATA_KEY}' is not JSON`,
    );
  });
});
