import { Rng } from '../core/random.js';
import { loadNodeCsv } from '../data/node-dataset.js';
import { arrayEdges, csrFromEdges } from './csr-build.js';
import { writeStore, type StoreHeader } from './format.js';

/**
 * A store from Graft's node CSVs (loadNodeCsv's three files: features, edges, labels). The
 * labels file's split column is kept; without one, the labelled nodes get the seeded (default 1, graft train's) 60/20/20
 * split `graft train` makes from the same files and seed. Ids and class names are kept.
 */
export function prepareCsv(
  files: { features: string; edges: string; labels: string },
  out: string,
  opts: { seed?: number; symmetric?: boolean; name?: string } = {},
): StoreHeader {
  const ds = loadNodeCsv(files, opts.name ?? 'custom');
  let split = ds.split;
  if (!ds.splitGiven) {
    // The same draw as graft train's loadRawData, so a store and a CSV run agree on the split.
    const labelled = Array.from(ds.labels.keys()).filter((i) => ds.labels[i]! >= 0);
    new Rng(opts.seed ?? 1).shuffle(labelled);
    const a = Math.round(labelled.length * 0.6),
      b = Math.round(labelled.length * 0.8);
    const sorted = (xs: number[]): Int32Array => Int32Array.from(xs).sort();
    split = { train: sorted(labelled.slice(0, a)), val: sorted(labelled.slice(a, b)), test: sorted(labelled.slice(b)) };
  }
  const symmetric = opts.symmetric ?? true;
  const csr = csrFromEdges(ds.numNodes, arrayEdges(ds.src, ds.dst), { symmetric });
  return writeStore(out, {
    name: ds.name,
    numClasses: ds.numClasses,
    numFeatures: ds.numFeatures,
    rowPtr: csr.rowPtr,
    colIdx: csr.colIdx,
    features: ds.features,
    labels: ds.labels,
    split,
    symmetric,
    ids: ds.ids,
    metadata: {
      source: 'csv',
      files,
      classNames: ds.classNames,
      featureNames: ds.featureNames,
      splitGiven: ds.splitGiven,
      ...(ds.splitGiven ? {} : { splitSeed: opts.seed ?? 1 }),
      inputEdges: ds.src.length,
      droppedSelfLoops: csr.dropped.selfLoops,
      droppedDuplicates: csr.dropped.duplicates,
    },
  });
}
