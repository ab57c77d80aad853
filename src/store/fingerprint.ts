import { createHash } from 'node:crypto';
import type { GraphStore } from './format.js';

// What a sampled run records of the store it trained on, so that a model is never applied to
// another graph by mistake (graft predict --store): the header's counts and the graph's
// structure, labels and splits, hashed. The features (980 MB on products) are left out to keep
// this a second's work: their count and the file's size are in the header part.

/**
 * SHA-256 (hex) over the store's header (name, counts, array layout, metadata) and its rowPtr,
 * colIdx, labels and split arrays.
 * @example const fp = storeFingerprint(GraphStore.open(file, { features: 'file' }));
 */
export function storeFingerprint(store: GraphStore): string {
  const h = store.header;
  const head = JSON.stringify({
    name: h.name,
    numNodes: h.numNodes,
    numEdges: h.numEdges,
    numFeatures: h.numFeatures,
    numClasses: h.numClasses,
    symmetric: h.symmetric,
    fileBytes: h.fileBytes,
    arrays: h.arrays,
    metadata: h.metadata,
  });
  const hash = createHash('sha256').update('graftstore-fingerprint-v1').update(head);
  // Each array's length first, so that boundaries count.
  for (const a of [store.rowPtr, store.colIdx, store.labels, store.split.train, store.split.val, store.split.test])
    hash.update(Uint32Array.of(a.byteLength)).update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return hash.digest('hex');
}
