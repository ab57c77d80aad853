import { describe, expect, it } from 'vitest';
import { Rng } from '../src/core/random.js';
import { syntheticMolecules } from '../src/data/synthetic.js';
import {
  COLLATE_OVERHEAD,
  collate,
  collatedBytesBound,
  type GraphBatch,
  type GraphSample,
  type MessageSpec,
} from '../src/graph/batch.js';
import { packedBytes, packSamples, storedSamples } from '../src/graph/sample-store.js';
import { Heap } from '../src/memory/heap.js';
import { bitsEqual } from './helpers.js';

// A packed training set (sample-store.ts) is what shard workers collate from: the oracle is
// collate() on the original samples, which the stored views must reproduce byte for byte.

/** Samples with every optional array: edge weights, edge features (3 columns), descriptors; NaN labels. */
function richSamples(n: number, seed: number): GraphSample[] {
  const rng = new Rng(seed);
  return syntheticMolecules({ graphs: n, seed, task: 'multilabel', missing: 0.3 }).map((g) => ({
    ...g,
    w: Float32Array.from(g.src, () => 0.5 + rng.next()),
    edgeAttr: Float32Array.from({ length: 3 * g.src.length }, () => rng.next()),
    descriptors: Float32Array.from({ length: 5 }, () => rng.next()),
  }));
}

/** Every tensor of a collated batch, as bytes, in a fixed order. */
function batchBytes(b: GraphBatch): Uint8Array[] {
  const ts = [b.adj.rowPtr, b.adj.colIdx, b.adj.vals, b.x, b.offsets, b.y, b.labelMask];
  if (b.descriptors) ts.push(b.descriptors);
  if (b.directed) ts.push(b.directed.src, b.directed.dst, ...(b.directed.attr ? [b.directed.attr] : []));
  const m = b.messages;
  if (m) ts.push(m.adj.rowPtr, m.adj.colIdx, m.order, m.dstOf, ...(m.edgeAttr ? [m.edgeAttr] : []));
  return ts.map((t) => new Uint8Array(t.data().buffer, t.data().byteOffset, t.data().byteLength).slice());
}

const MESSAGES: MessageSpec = { selfLoops: 'keep', edgeFeatures: 3 };

describe('packed sample sets', () => {
  it('stores every array of every sample, optional ones only where given', () => {
    const plain = syntheticMolecules({ graphs: 12, seed: 4 });
    const rich = richSamples(12, 5);
    for (const set of [plain, rich]) {
      const views = storedSamples(packSamples(set).data);
      expect(views).toHaveLength(set.length);
      views.forEach((v, i) => {
        const g = set[i]!;
        expect(v.nodes).toBe(g.nodes);
        for (const k of ['x', 'y', 'src', 'dst', 'w', 'edgeAttr', 'descriptors'] as const) {
          if (g[k] === undefined) expect(v[k]).toBeUndefined();
          else expect(bitsEqual(v[k]!, g[k]!)).toBe(true);
        }
      });
    }
  });

  it('leaves out what the model does not read, and packedBytes is the size packSamples makes', () => {
    const set = richSamples(20, 9);
    for (const options of [{}, { descriptors: false }, { edgeAttr: false }, { descriptors: false, edgeAttr: false }]) {
      const store = packSamples(set, options);
      expect(packedBytes(set, options)).toBe(store.bytes);
      for (const g of store.samples) {
        expect(g.descriptors === undefined).toBe(options.descriptors === false);
        expect(g.edgeAttr === undefined).toBe(options.edgeAttr === false);
      }
    }
  });

  it('a shard collated from the stored views has the bytes of one collated from the samples (GCN and message graphs)', () => {
    const set = richSamples(40, 6);
    const views = storedSamples(packSamples(set).data);
    const heap = new Heap({ shared: true });
    for (const options of [
      {},
      { messages: MESSAGES },
      { messages: { selfLoops: 'replace' as const, edgeFeatures: 0 } },
    ]) {
      for (const pick of [
        [0, 1, 2, 3],
        [39, 7, 7, 20, 11],
      ]) {
        const a = collate(
          heap,
          pick.map((i) => set[i]!),
          8,
          4,
          options,
        );
        const b = collate(
          heap,
          pick.map((i) => views[i]!),
          8,
          4,
          options,
        );
        try {
          expect(b.labels).toBe(a.labels);
          const x = batchBytes(a),
            y = batchBytes(b);
          expect(y.length).toBe(x.length);
          x.forEach((bytes, k) => {
            expect(bitsEqual(y[k]!, bytes)).toBe(true);
          });
        } finally {
          a.free();
          b.free();
        }
      }
    }
  });

  it("collatedBytesBound bounds the heap a collated batch takes (a shard worker's arena is sized by it)", () => {
    const heap = new Heap({ shared: true });
    for (const set of [richSamples(30, 7), syntheticMolecules({ graphs: 30, seed: 8 })]) {
      for (const options of [
        {},
        { messages: set[0]!.edgeAttr ? MESSAGES : { selfLoops: 'keep' as const, edgeFeatures: 0 } },
      ]) {
        const before = heap.stats().used;
        const b = collate(heap, set, 8, 4, options);
        const used = heap.stats().used - before;
        b.free();
        const bound = set.reduce((a, g) => a + collatedBytesBound(g), 0) + COLLATE_OVERHEAD;
        expect(used).toBeGreaterThan(0);
        expect(used).toBeLessThanOrEqual(bound);
      }
    }
  });
});
