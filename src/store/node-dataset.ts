import type { NodeDataset } from '../graph/node-data.js';
import type { GraphStore } from './format.js';

/**
 * A store as the full-batch trainer's node task (features in memory, every edge listed once):
 * for graphs that fit the heap, and to compare sampled training with full-batch training on
 * the same data. A symmetric store lists each undirected edge once (u < v), as NodeDataset
 * expects; a directed one lists every CSR entry (source → target).
 *
 * @example
 *   const ds = storeNodeDataset(GraphStore.open('arxiv.graftstore'));
 *   const r = await trainNodeClassifier(rt, ds, config);
 */
export function storeNodeDataset(store: GraphStore): NodeDataset {
  const n = store.numNodes,
    p = store.rowPtr,
    c = store.colIdx;
  let m = 0;
  for (let v = 0; v < n; v++) for (let e = p[v]!; e < p[v + 1]!; e++) if (!store.header.symmetric || c[e]! < v) m++;
  const src = new Int32Array(m),
    dst = new Int32Array(m);
  for (let v = 0, k = 0; v < n; v++)
    for (let e = p[v]!; e < p[v + 1]!; e++) {
      const u = c[e]!;
      if (store.header.symmetric && u >= v) continue;
      src[k] = u;
      dst[k++] = v;
    }
  const features = store.features ?? store.gatherFeatures(Int32Array.from({ length: n }, (_, i) => i));
  return {
    name: store.header.name,
    numNodes: n,
    numFeatures: store.numFeatures,
    numClasses: store.numClasses,
    features,
    labels: store.labels,
    split: store.split,
    src,
    dst,
    ids: Array.from({ length: n }, (_, i) => store.id(i)),
  };
}
