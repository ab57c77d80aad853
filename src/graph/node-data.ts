// What a node task is, whatever file it came from: the trainers take this, the loaders in
// data/ produce it.

/** A node-classification data set on the host, before it goes into the shared heap. */
export interface NodeDataset {
  name: string;
  numNodes: number;
  numFeatures: number;
  numClasses: number;
  /** Dense row-major [numNodes, numFeatures]. */
  features: Float32Array;
  /** Class per node, -1 for unlabelled. */
  labels: Int32Array;
  split: { train: Int32Array; val: Int32Array; test: Int32Array };
  /** Undirected edges (each listed once). */
  src: Int32Array;
  dst: Int32Array;
  /** Node identifiers in row order (for predictions). */
  ids: string[];
  /** The name of each class index, when the labels had names (a user's CSV). */
  classNames?: string[];
}
