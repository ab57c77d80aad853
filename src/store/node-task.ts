import { join } from 'node:path';
import { GraftError } from '../core/errors.js';
import { Rng } from '../core/random.js';
import { applyPreprocess, type PreprocessStep } from '../graph/preprocess.js';
import { sharedDataDir } from '../data/locate.js';
import { loadNodeCsv, loadPlanetoid, type NodeDataset } from '../data/node-dataset.js';
import { plantedPartition } from '../data/synthetic.js';
import { GraphStore } from './format.js';
import { storeNodeDataset } from './node-dataset.js';

// A node task named the way a run's config.json records it (a data set's name, or the user's
// three CSV files): read, split and preprocessed as `graft train` saw it. `graft eval`,
// `predict`, `explain`, `export` and `quantize` reload a run's data through these, so they see
// exactly the nodes, split and features it was trained on.

/** Which node task: a named set (cora, citeseer, synthetic, synthetic-arxiv), the user's CSVs, or a graph store. */
export interface DataChoice {
  dataset: string;
  edges?: string;
  features?: string;
  labels?: string;
  dataDir?: string;
  normalize: boolean;
  /** A graph store (graft prepare): its features as stored, its split. */
  store?: string;
}

/**
 * A data choice's node task with its features preprocessed as training sees them
 * (dataPreprocess's steps applied); loadRawData gives them as read.
 */
export function loadData(c: DataChoice, seed: number): NodeDataset {
  const ds = loadRawData(c, seed);
  applyPreprocess(dataPreprocess(c), ds.features, ds.numNodes, ds.numFeatures);
  return ds;
}

/**
 * What turns a data choice's raw features into the model's (recorded in every model file,
 * infer/preprocess.ts): Kipf & Welling's row normalization for Planetoid and the user's CSVs
 * unless `normalize` is false; the planted-partition sets are used as generated.
 */
export function dataPreprocess(c: DataChoice): PreprocessStep[] {
  const csv = c.edges !== undefined || c.features !== undefined || c.labels !== undefined;
  if (c.store !== undefined) return [];
  if (!csv && (c.dataset === 'synthetic' || c.dataset === 'synthetic-arxiv')) return [];
  return c.normalize ? [{ kind: 'row-normalize' }] : [];
}

/** The files loadData reads for a data choice, by role (none for the generated sets). */
export function dataInputFiles(c: DataChoice): Record<string, string | undefined> {
  if (c.store !== undefined) return { store: c.store };
  if (c.edges || c.features || c.labels) return { edges: c.edges, features: c.features, labels: c.labels };
  if (c.dataset === 'synthetic' || c.dataset === 'synthetic-arxiv') return {};
  const dir = sharedDataDir(c.dataDir);
  return dir ? { data: join(dir, 'planetoid', `${c.dataset}.json`) } : {};
}

/** The node task as read, before preprocessing. */
export function loadRawData(c: DataChoice, seed: number): NodeDataset & { featureNames?: string[] } {
  if (c.store !== undefined) return storeNodeDataset(GraphStore.open(c.store));
  if (c.edges || c.features || c.labels) {
    if (!c.edges || !c.features || !c.labels)
      throw new GraftError('a node task from CSV files needs all three: edges, features and labels');
    const ds = loadNodeCsv({ edges: c.edges, features: c.features, labels: c.labels });
    if (!ds.splitGiven) {
      // No split column: a seeded 60/20/20 split of the labelled nodes.
      const labelled = Array.from(ds.labels.keys()).filter((i) => ds.labels[i]! >= 0);
      new Rng(seed).shuffle(labelled);
      const a = Math.round(labelled.length * 0.6),
        b = Math.round(labelled.length * 0.8);
      const sorted = (xs: number[]): Int32Array => Int32Array.from(xs).sort();
      ds.split = {
        train: sorted(labelled.slice(0, a)),
        val: sorted(labelled.slice(a, b)),
        test: sorted(labelled.slice(b)),
      };
    }
    return ds;
  }
  if (c.dataset === 'synthetic') return plantedPartition({ seed: 7 });
  // ogbn-arxiv's shape (169,343 nodes, 40 classes, 128 features, degree 7) as a planted partition: a learnable arxiv-size task.
  if (c.dataset === 'synthetic-arxiv')
    return plantedPartition({
      nodes: 169_343,
      classes: 40,
      features: 128,
      avgDegree: 7,
      trainPerClass: 500,
      val: 5000,
      test: 10_000,
      seed: 7,
    });
  const dir = sharedDataDir(c.dataDir);
  if (!dir)
    throw new GraftError(
      `data set '${c.dataset}' needs the shared data folder (../shared/data, GRAFT_DATA or an explicit data directory); none found`,
    );
  return loadPlanetoid(join(dir, 'planetoid'), c.dataset);
}
