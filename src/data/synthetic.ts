import { Rng } from '../core/random.js';
import type { NodeDataset } from './node-dataset.js';

/**
 * A planted-partition citation-like graph: `classes` communities, edges inside a community
 * `ratio` times likelier than across, features a noisy class signature. A GCN's attainable
 * accuracy is high and known to be above a feature-only model's; used where no real data
 * set is at hand (a fresh clone without ../shared) and in tests.
 */
export function plantedPartition(
  opts: {
    nodes?: number;
    classes?: number;
    features?: number;
    avgDegree?: number;
    ratio?: number;
    seed?: number;
    trainPerClass?: number;
    val?: number;
    test?: number;
  } = {},
): NodeDataset {
  const n = opts.nodes ?? 2000,
    k = opts.classes ?? 5,
    f = opts.features ?? 200,
    deg = opts.avgDegree ?? 6,
    ratio = opts.ratio ?? 12;
  const rng = new Rng(opts.seed ?? 7);
  const labels = Int32Array.from({ length: n }, (_, i) => i % k);
  const signature = Array.from({ length: k }, () => Array.from({ length: f }, () => (rng.next() < 0.08 ? 1 : 0)));
  const features = new Float32Array(n * f);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < f; j++) {
      const on = signature[labels[i]!]![j]! ? rng.next() < 0.35 : rng.next() < 0.04;
      features[i * f + j] = on ? 1 : 0;
    }
  }
  const m = Math.round((n * deg) / 2);
  const pSame = ratio / (ratio + k - 1);
  const byClass = Array.from({ length: k }, (_, c) =>
    Array.from({ length: n }, (_, i) => i).filter((i) => labels[i] === c),
  );
  const src = new Int32Array(m),
    dst = new Int32Array(m);
  for (let e = 0; e < m; e++) {
    const a = Math.floor(rng.next() * n);
    const c = rng.next() < pSame ? labels[a]! : Math.floor(rng.next() * k);
    const pool = byClass[c]!;
    src[e] = a;
    dst[e] = pool[Math.floor(rng.next() * pool.length)]!;
  }
  const order = rng.shuffle(Array.from({ length: n }, (_, i) => i));
  const perClass = opts.trainPerClass ?? 20;
  const train: number[] = [],
    counts = new Array<number>(k).fill(0);
  for (const i of order)
    if (counts[labels[i]!]! < perClass) {
      counts[labels[i]!]!++;
      train.push(i);
    }
  const inTrain = new Set(train);
  const rest = order.filter((i) => !inTrain.has(i));
  const nVal = Math.min(opts.val ?? 500, Math.floor(rest.length / 3)),
    nTest = Math.min(opts.test ?? 1000, rest.length - nVal);
  return {
    name: 'planted-partition',
    numNodes: n,
    numFeatures: f,
    numClasses: k,
    features,
    labels,
    src,
    dst,
    split: {
      train: Int32Array.from(train).sort(),
      val: Int32Array.from(rest.slice(0, nVal)).sort(),
      test: Int32Array.from(rest.slice(nVal, nVal + nTest)).sort(),
    },
    ids: Array.from({ length: n }, (_, i) => `n${i}`),
  };
}

/**
 * Small molecule-like graphs: a chain of `nodes` atoms with a few ring closures and
 * branches, one-hot atom types as features. Targets are functions of the composition a GCN
 * with mean pooling can learn: for 'regression', the fraction of atoms of type t (t < types);
 * for 'multilabel', whether that fraction exceeds 1/types (some labels missing at `missing`).
 */
export function syntheticMolecules(opts: {
  graphs: number;
  nodes?: number;
  types?: number;
  targets?: number;
  task?: 'regression' | 'multilabel';
  missing?: number;
  seed?: number;
}): import('../graph/batch.js').GraphSample[] {
  const rng = new Rng(opts.seed ?? 11);
  const types = opts.types ?? 8,
    targets = opts.targets ?? 4,
    task = opts.task ?? 'regression';
  return Array.from({ length: opts.graphs }, () => {
    const n = opts.nodes ?? 10 + Math.floor(rng.next() * 20);
    const x = new Float32Array(n * types),
      counts = new Array<number>(types).fill(0);
    const bias = Math.floor(rng.next() * types);
    for (let i = 0; i < n; i++) {
      const t = rng.next() < 0.4 ? bias : Math.floor(rng.next() * types);
      x[i * types + t] = 1;
      counts[t]!++;
    }
    const src: number[] = [],
      dst: number[] = [];
    for (let i = 1; i < n; i++) {
      src.push(rng.next() < 0.8 ? i - 1 : Math.floor(rng.next() * i));
      dst.push(i);
    }
    if (n > 5) {
      src.push(0);
      dst.push(5);
    }
    const y = Float32Array.from({ length: targets }, (_, t) => {
      if (task === 'multilabel' && rng.next() < (opts.missing ?? 0)) return NaN;
      const frac = counts[t % types]! / n;
      return task === 'regression' ? frac * 10 : frac > 1 / types ? 1 : 0;
    });
    return { nodes: n, x, src: Int32Array.from(src), dst: Int32Array.from(dst), y };
  });
}
