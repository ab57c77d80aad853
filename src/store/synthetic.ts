import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { argRangeError, checkPositiveInt, GraftError } from '../core/errors.js';
import { Rng } from '../core/random.js';
import { csrFromEdges } from './csr-build.js';
import {
  encodeOffsets,
  offsetsDType,
  readStoreHeader,
  STORE_VERSION,
  StoreError,
  StoreWriter,
  type StoreHeader,
} from './format.js';

// Big planted-partition graphs written straight into a store, for tests and benchmarks at
// the sizes full-batch training cannot reach. The same model as data/synthetic.ts's
// plantedPartition (classes as communities, edges `ratio` times likelier inside one, features
// a noisy class signature), but streamed: features go to the file in blocks of rows, and the
// edges come from a generator replayed twice (count, then scatter) instead of being kept, so
// memory is the CSR (8 bytes per undirected edge) plus one block.

/** The shape of a planted-partition graph: nodes, edges, features, classes, homophily and the train/valid/test split sizes. */
export interface SyntheticShape {
  nodes: number;
  /** Undirected edges drawn (self-loops and repeats among them are dropped). */
  edges: number;
  features: number;
  classes: number;
  /** Train, validation and test node counts (a seeded random split). */
  split: [number, number, number];
}

/** OGB's shapes: ogbn-products (its split sizes are the sales-rank split's) and ogbn-arxiv. */
export const SYNTHETIC_SHAPES: Record<'products' | 'arxiv', SyntheticShape> = {
  products: { nodes: 2_449_029, edges: 61_859_140, features: 100, classes: 47, split: [196_615, 39_323, 2_213_091] },
  arxiv: { nodes: 169_343, edges: 1_166_243, features: 128, classes: 40, split: [90_941, 29_799, 48_603] },
};

/** A synthetic store's seed, its size as a fraction of the full shape, and its name. */
export interface SyntheticOptions {
  seed?: number;
  ratio?: number;
  name?: string;
}

/**
 * Generates a planted-partition graph of `shape` into the store `file` (atomically).
 * Deterministic in (shape, seed, ratio). Node i's class is i mod classes.
 *
 * @example
 *   writeSyntheticStore('small.graftstore', { nodes: 1000, edges: 4000, features: 16, classes: 4, split: [100, 100, 800] });
 */
export function writeSyntheticStore(file: string, shape: SyntheticShape, opts: SyntheticOptions = {}): StoreHeader {
  const fn = 'writeSyntheticStore';
  const n = checkPositiveInt(fn, 'shape.nodes', shape.nodes),
    f = checkPositiveInt(fn, 'shape.features', shape.features);
  const k = checkPositiveInt(fn, 'shape.classes', shape.classes),
    m = shape.edges;
  if (!Number.isSafeInteger(m) || m < 0) throw argRangeError(fn, 'shape.edges', 'a non-negative integer', m);
  if (k > n) throw argRangeError(fn, 'shape.classes', `at most shape.nodes (${n})`, k);
  const [nTrain, nVal, nTest] = shape.split;
  if (![nTrain, nVal, nTest].every((x) => Number.isInteger(x) && x >= 0) || nTrain + nVal + nTest > n)
    throw argRangeError(fn, 'shape.split', `three counts summing to at most ${n}`, shape.split);
  const seed = opts.seed ?? 7,
    ratio = opts.ratio ?? 12;
  const pSame = ratio / (ratio + k - 1);

  const w = new StoreWriter(file);
  try {
    // Features: each class a signature (8% of features on); a node has each signature
    // feature on with probability 0.35 and every other with 0.04.
    const fr = new Rng(seed);
    const signature = Array.from({ length: k }, () => Uint8Array.from({ length: f }, () => (fr.next() < 0.08 ? 1 : 0)));
    const BLOCK = Math.max(1, Math.floor((4 << 20) / (4 * f)));
    const block = new Float32Array(BLOCK * f);
    w.begin('features', 'float32');
    for (let start = 0; start < n; start += BLOCK) {
      const rows = Math.min(BLOCK, n - start);
      for (let r = 0; r < rows; r++) {
        const sig = signature[(start + r) % k]!;
        for (let j = 0; j < f; j++) block[r * f + j] = fr.next() < (sig[j] ? 0.35 : 0.04) ? 1 : 0;
      }
      w.write(block.subarray(0, rows * f));
    }
    w.end([n, f]);
    w.array(
      'labels',
      'int32',
      Int32Array.from({ length: n }, (_, i) => i % k),
    );

    // Edges: one end uniform, the other uniform within its class with probability pSame,
    // else within a uniform class. Members of class c are c, c + k, c + 2k, …
    const csr = csrFromEdges(
      n,
      (emit) => {
        const er = new Rng((seed ^ 0x5bd1e995) >>> 0);
        for (let e = 0; e < m; e++) {
          const a = Math.floor(er.next() * n);
          const c = er.next() < pSame ? a % k : Math.floor(er.next() * k);
          const size = Math.floor((n - 1 - c) / k) + 1;
          emit(a, c + k * Math.floor(er.next() * size));
        }
      },
      { symmetric: true },
    );
    const od = offsetsDType(csr.colIdx.length);
    w.array('rowPtr', od, encodeOffsets(csr.rowPtr, od), [n + 1]);
    w.array('colIdx', 'int32', csr.colIdx);

    // A seeded random split (OGB's products split is by sales rank, which a synthetic graph lacks).
    const sr = new Rng((seed + 0x9e3779b9) >>> 0);
    const perm = Int32Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(sr.next() * (i + 1));
      const t = perm[i]!;
      perm[i] = perm[j]!;
      perm[j] = t;
    }
    w.array('train', 'int32', perm.slice(0, nTrain).sort());
    w.array('val', 'int32', perm.slice(nTrain, nTrain + nVal).sort());
    w.array('test', 'int32', perm.slice(nTrain + nVal, nTrain + nVal + nTest).sort());
    return w.finish({
      name: opts.name ?? 'synthetic',
      numNodes: n,
      numEdges: csr.colIdx.length,
      numFeatures: f,
      numClasses: k,
      symmetric: true,
      metadata: {
        source: 'synthetic planted partition',
        shape,
        seed,
        ratio,
        droppedSelfLoops: csr.dropped.selfLoops,
        droppedDuplicates: csr.dropped.duplicates,
      },
    });
  } catch (err) {
    w.abort();
    throw err;
  }
}

/** Where a synthetic shape's store is cached: `<cacheDir>/synthetic-<name>-v<format>-s<seed>.graftstore`. */
export function syntheticStorePath(name: string, cacheDir = join(process.cwd(), '.graft-cache'), seed = 7): string {
  return join(cacheDir, `synthetic-${name}-v${STORE_VERSION}-s${seed}.graftstore`);
}

/**
 * The cached store of a named synthetic shape, generated on first use. A cached file that
 * no longer opens (damaged, an older format) is an error naming it, not silently replaced.
 */
export function ensureSyntheticStore(
  name: string,
  opts: { cacheDir?: string; seed?: number } = {},
): { file: string; header: StoreHeader; cached: boolean } {
  const shape = (SYNTHETIC_SHAPES as Record<string, SyntheticShape | undefined>)[name];
  if (!shape)
    throw new GraftError(
      `synthetic shape must be one of ${Object.keys(SYNTHETIC_SHAPES).join(', ')}, got ${JSON.stringify(name)}`,
    );
  const file = syntheticStorePath(name, opts.cacheDir, opts.seed);
  if (existsSync(file)) {
    try {
      return { file, header: readStoreHeader(file), cached: true };
    } catch (err) {
      if (err instanceof StoreError)
        throw new StoreError(file, `${err.message.slice(file.length + 2)} (delete it to regenerate)`);
      throw err;
    }
  }
  mkdirSync(join(file, '..'), { recursive: true });
  return {
    file,
    header: writeSyntheticStore(file, shape, { seed: opts.seed, name: `synthetic-${name}` }),
    cached: false,
  };
}
