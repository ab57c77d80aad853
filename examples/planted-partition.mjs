// A planted-partition graph for the examples: `classes` communities of equal size, edges
// likelier inside a community than across, and weak noisy features that hint at the
// community. A GCN should beat the features alone by pooling over neighbours.

/** Seeded uniform [0, 1) generator (mulberry32). */
function uniform(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A node data set in graft-gnn's NodeDataset shape: `nodes` nodes in `classes` communities,
 * each node with about `inDegree` neighbours in its community and `outDegree` outside it;
 * 16 binary features per class, each on with probability 0.25 for the node's own class and
 * 0.1 otherwise. Split: 20 training nodes per class, 100 validation nodes, the rest test.
 */
export function plantedPartition({ nodes = 400, classes = 4, inDegree = 4, outDegree = 1, seed = 1 } = {}) {
  const r = uniform(seed);
  const labels = Int32Array.from({ length: nodes }, (_, i) => i % classes);
  const perClass = nodes / classes;
  const pIn = inDegree / perClass,
    pOut = outDegree / (nodes - perClass);
  const src = [],
    dst = [];
  for (let i = 0; i < nodes; i++) {
    for (let j = i + 1; j < nodes; j++) {
      if (r() < (labels[i] === labels[j] ? pIn : pOut)) {
        src.push(i);
        dst.push(j);
      }
    }
  }
  const width = 16,
    numFeatures = width * classes;
  const features = new Float32Array(nodes * numFeatures);
  for (let i = 0; i < nodes; i++) {
    for (let f = 0; f < numFeatures; f++) {
      const own = Math.floor(f / width) === labels[i];
      features[i * numFeatures + f] = r() < (own ? 0.25 : 0.1) ? 1 : 0;
    }
  }
  // Shuffle the node order for the split, so every split holds every class.
  const order = Array.from({ length: nodes }, (_, i) => i);
  for (let i = nodes - 1; i > 0; i--) {
    const k = Math.floor(r() * (i + 1));
    [order[i], order[k]] = [order[k], order[i]];
  }
  const train = [],
    rest = [],
    seen = new Array(classes).fill(0);
  for (const i of order) (seen[labels[i]]++ < 20 ? train : rest).push(i);
  return {
    name: `planted-partition-${seed}`,
    numNodes: nodes,
    numFeatures,
    numClasses: classes,
    features,
    labels,
    split: {
      train: Int32Array.from(train),
      val: Int32Array.from(rest.slice(0, 100)),
      test: Int32Array.from(rest.slice(100)),
    },
    src: Int32Array.from(src),
    dst: Int32Array.from(dst),
    ids: Array.from({ length: nodes }, (_, i) => `n${i}`),
  };
}
