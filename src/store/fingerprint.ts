import { createHash } from 'node:crypto';
import type { GraphStore } from './format.js';

// What a sampled run records of the store it trained on, so that a model is never applied to
// another graph by mistake (graft predict --store): the header's counts and the graph's
// structure, labels and splits, hashed, and a sample of the features: all of them (980 MB on
// products) would take more than the second this should cost, so 1,024 rows evenly spread over
// the nodes stand for them (a store prepared again with other features of the same shape
// differs there; one changed row elsewhere would not be seen).

/**
 * SHA-256 (hex) over the store's header (name, counts, array layout, metadata), its rowPtr,
 * colIdx, labels and split arrays, and the feature rows of up to 1,024 nodes evenly spread.
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
  const hash = createHash('sha256').update('graftstore-fingerprint-v2').update(head);
  // Each array's length first, so that boundaries count.
  for (const a of [store.rowPtr, store.colIdx, store.labels, store.split.train, store.split.val, store.split.test])
    hash.update(Uint32Array.of(a.byteLength)).update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  const n = h.numNodes,
    rows = Math.min(n, 1024);
  const sample = store.gatherFeatures(Int32Array.from({ length: rows }, (_, i) => Math.floor((i * n) / rows)));
  hash.update(new Uint8Array(sample.buffer, sample.byteOffset, sample.byteLength));
  return hash.digest('hex');
}
