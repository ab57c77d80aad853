import { existsSync } from 'node:fs';
import { Piscina } from 'piscina';
import { argRangeError, argTypeError } from '../core/errors.js';
import { workerPath } from '../core/worker-url.js';
import { Rng } from '../core/random.js';
import {
  bagCounts,
  binFeatures,
  ENTROPY,
  GINI,
  growTree,
  MSE,
  treeSeed,
  type GrowParams,
  type TrainSet,
  type TreeArrays,
} from './forest-split.js';
import type { ForestWorkerTask } from './forest-worker.js';
import { forestScores, leafOf } from '../compositional/forest-apply.js';

export { entropy, gini, type TreeArrays } from './forest-split.js';

/** Random forest options; everything but `task` has a default. */
export interface ForestOptions {
  task: 'classification' | 'regression';
  /** Classification: K (labels 0..K-1); inferred as max label + 1 if absent. */
  classes?: number;
  /** Default 500. */
  trees?: number;
  /** 'gini' (default) or 'entropy' for classification, 'mse' for regression. */
  criterion?: 'gini' | 'entropy' | 'mse';
  /**
   * Features tried at each split: 'sqrt', 'log2', 'all', a fraction in (0, 1), or a whole
   * count (so 1 means one feature, not all of them). Default sqrt(f) for classification and
   * f/3 for regression, as R's randomForest.
   */
  maxFeatures?: 'sqrt' | 'log2' | 'all' | number;
  /** 0 = no limit (default); 1 = a single split. */
  maxDepth?: number;
  /** Default 1; counts bootstrap draws, duplicates included. */
  minSamplesLeaf?: number;
  /** Default 2. */
  minSamplesSplit?: number;
  /** Default true. */
  bootstrap?: boolean;
  /** Quantile bins per feature, 2..65536; default 64. */
  bins?: number;
  /** Unsigned 32-bit integer; default 1. */
  seed?: number;
  /** Compute Forest.oobScore (needs bootstrap); default false. */
  oob?: boolean;
}

/** Training data: x row-major [n, f]; y Int32Array labels (classification) or Float64Array targets (regression). */
export interface ForestData {
  x: Float32Array;
  n: number;
  f: number;
  y: Int32Array | Float64Array;
  /** Positive weights (e.g. class balancing) that scale each sample's share of every impurity and leaf value. */
  sampleWeight?: Float64Array;
}

/** A fitted tree node as a plain object, for drawing. `value`: class frequencies, or [mean]. */
export interface TreeNodeView {
  feature?: string;
  featureIndex?: number;
  threshold?: number;
  value: number[];
  samples: number;
  left?: TreeNodeView;
  right?: TreeNodeView;
}

const KNOWN = [
  'task',
  'classes',
  'trees',
  'criterion',
  'maxFeatures',
  'maxDepth',
  'minSamplesLeaf',
  'minSamplesSplit',
  'bootstrap',
  'bins',
  'seed',
  'oob',
];

/** Throws a RangeError naming the first bad option (unknown keys included, to catch misspellings). */
export function checkForestOptions(o: ForestOptions, f: number, fn = 'fitForest'): void {
  if (typeof o !== 'object' || o === null) throw argTypeError(fn, 'options', 'an object', o);
  for (const k of Object.keys(o))
    if (!KNOWN.includes(k)) throw argRangeError(fn, 'options', `an object with only the keys ${KNOWN.join(', ')}`, k);
  const bad = (arg: string, expected: string, v: unknown): RangeError =>
    argRangeError(fn, `options.${arg}`, expected, v);
  const int = (v: unknown, lo: number, hi = Infinity): boolean =>
    typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
  const cls = o.task === 'classification';
  if (!cls && o.task !== 'regression') throw bad('task', "'classification' or 'regression'", o.task);
  if (cls && o.classes !== undefined && !int(o.classes, 1)) throw bad('classes', 'a positive integer', o.classes);
  if (o.trees !== undefined && !int(o.trees, 1)) throw bad('trees', 'a positive integer', o.trees);
  if (
    o.criterion !== undefined &&
    (cls ? o.criterion !== 'gini' && o.criterion !== 'entropy' : o.criterion !== 'mse')
  ) {
    throw bad('criterion', cls ? "'gini' or 'entropy' for classification" : "'mse' for regression", o.criterion);
  }
  const mf = o.maxFeatures;
  if (
    mf !== undefined &&
    mf !== 'sqrt' &&
    mf !== 'log2' &&
    mf !== 'all' &&
    !(typeof mf === 'number' && (int(mf, 1, f) || (mf > 0 && mf < 1)))
  ) {
    throw bad('maxFeatures', `'sqrt', 'log2', 'all', a fraction in (0, 1) or a whole count in [1, ${f}]`, mf);
  }
  if (o.maxDepth !== undefined && !int(o.maxDepth, 0))
    throw bad('maxDepth', 'a non-negative integer (0: no limit)', o.maxDepth);
  if (o.minSamplesLeaf !== undefined && !int(o.minSamplesLeaf, 1))
    throw bad('minSamplesLeaf', 'a positive integer', o.minSamplesLeaf);
  if (o.minSamplesSplit !== undefined && !int(o.minSamplesSplit, 2))
    throw bad('minSamplesSplit', 'an integer >= 2', o.minSamplesSplit);
  if (o.bootstrap !== undefined && typeof o.bootstrap !== 'boolean') throw bad('bootstrap', 'a boolean', o.bootstrap);
  if (o.bins !== undefined && !int(o.bins, 2, 65536)) throw bad('bins', 'an integer in [2, 65536]', o.bins);
  if (o.seed !== undefined && !int(o.seed, 0, 0xffffffff)) throw bad('seed', 'an integer in [0, 4294967295]', o.seed);
  if (o.oob !== undefined && typeof o.oob !== 'boolean') throw bad('oob', 'a boolean', o.oob);
  if (o.oob && o.bootstrap === false) throw bad('oob', 'false when bootstrap is off (no sample is out of bag)', o.oob);
}

/** Validates data and options together; returns the options resolved to numbers. */
function prepare(data: ForestData, o: ForestOptions, fn: string): { p: GrowParams; bins: number } {
  if (typeof data !== 'object' || data === null) throw argTypeError(fn, 'data', 'an object', data);
  const { x, n, f, y, sampleWeight: sw } = data;
  if (!Number.isInteger(n) || n < 1) throw argRangeError(fn, 'data.n', 'a positive integer', n);
  if (!Number.isInteger(f) || f < 1) throw argRangeError(fn, 'data.f', 'a positive integer', f);
  checkForestOptions(o, f, fn);
  if (!(x instanceof Float32Array)) throw argTypeError(fn, 'data.x', 'a Float32Array', x);
  if (x.length !== n * f) throw argRangeError(fn, 'data.x.length', `n*f = ${n * f}`, x.length);
  for (let i = 0; i < x.length; i++)
    if (!Number.isFinite(x[i])) throw argRangeError(fn, `data.x[${i}]`, 'a finite number', x[i]);
  const cls = o.task === 'classification';
  if (cls ? !(y instanceof Int32Array) : !(y instanceof Float64Array)) {
    throw argTypeError(fn, 'data.y', cls ? 'an Int32Array of class labels' : 'a Float64Array of targets', y);
  }
  if (y.length !== n) throw argRangeError(fn, 'data.y.length', `n = ${n}`, y.length);
  let classes = 0;
  if (cls) {
    if (o.classes !== undefined) classes = o.classes;
    else for (let i = 0; i < n; i++) classes = Math.max(classes, y[i]! + 1);
    for (let i = 0; i < n; i++)
      if (y[i]! < 0 || y[i]! >= classes)
        throw argRangeError(fn, `data.y[${i}]`, `a class label in [0, ${classes})`, y[i]);
  } else {
    for (let i = 0; i < n; i++)
      if (!Number.isFinite(y[i])) throw argRangeError(fn, `data.y[${i}]`, 'a finite number', y[i]);
  }
  if (sw !== undefined) {
    if (!(sw instanceof Float64Array)) throw argTypeError(fn, 'data.sampleWeight', 'a Float64Array', sw);
    if (sw.length !== n) throw argRangeError(fn, 'data.sampleWeight.length', `n = ${n}`, sw.length);
    for (let i = 0; i < n; i++)
      if (!(sw[i]! > 0 && sw[i]! < Infinity))
        throw argRangeError(fn, `data.sampleWeight[${i}]`, 'a positive finite number', sw[i]);
  }
  const mf = o.maxFeatures ?? (cls ? 'sqrt' : 'third');
  const mtry =
    mf === 'sqrt'
      ? Math.sqrt(f)
      : mf === 'third'
        ? f / 3
        : mf === 'log2'
          ? Math.log2(f)
          : mf === 'all'
            ? f
            : mf >= 1
              ? mf
              : mf * f;
  const p: GrowParams = {
    classification: cls,
    classes,
    criterion: o.criterion === 'entropy' ? ENTROPY : cls ? GINI : MSE,
    mtry: Math.min(f, Math.max(1, Math.floor(mtry))),
    maxDepth: o.maxDepth ?? 0,
    minLeaf: o.minSamplesLeaf ?? 1,
    minSplit: o.minSamplesSplit ?? 2,
    bootstrap: o.bootstrap ?? true,
    seed: o.seed ?? 1,
    trees: o.trees ?? 500,
  };
  return { p, bins: o.bins ?? 64 };
}

function trainSet(data: ForestData, bins: number, shared: boolean): TrainSet {
  const { codes, edges, edgeStart } = binFeatures(data.x, data.n, data.f, bins, shared);
  const share = <T extends Int32Array | Float64Array>(a: T, make: (b: SharedArrayBuffer) => T): T => {
    if (!shared) return a;
    const s = make(new SharedArrayBuffer(a.byteLength));
    s.set(a);
    return s;
  };
  const y =
    data.y instanceof Int32Array ? share(data.y, (b) => new Int32Array(b)) : share(data.y, (b) => new Float64Array(b));
  const weight = data.sampleWeight ? share(data.sampleWeight, (b) => new Float64Array(b)) : null;
  return { n: data.n, f: data.f, codes, edges, edgeStart, y, weight };
}

/**
 * An ensemble of trees. Predictions average the trees in index order, whatever thread built
 * them, so a forest's predictions are the same bits however it was trained.
 */
export class Forest {
  readonly task: 'classification' | 'regression';
  /** K for classification, 0 for regression. */
  readonly classes: number;
  readonly f: number;
  readonly trees: number;
  /** Out-of-bag accuracy (classification) or R² (regression) when fitted with `oob`, else null. */
  readonly oobScore: number | null;
  readonly #t: TreeArrays[];

  /** Made by fitForest, fitForestParallel, fitTree and fromJSON, which guarantee well-formed trees. */
  constructor(
    task: 'classification' | 'regression',
    classes: number,
    f: number,
    trees: TreeArrays[],
    oobScore: number | null = null,
  ) {
    this.task = task;
    this.classes = classes;
    this.f = f;
    this.trees = trees.length;
    this.oobScore = oobScore;
    this.#t = trees;
  }

  get #stride(): number {
    return this.task === 'classification' ? this.classes : 1;
  }

  /** Classification: probabilities [n, classes] row-major; regression: values [n]. */
  predict(x: Float32Array, n: number): Float64Array {
    const fn = 'Forest.predict',
      f = this.f,
      s = this.#stride;
    if (!(x instanceof Float32Array)) throw argTypeError(fn, 'x', 'a Float32Array', x);
    if (!Number.isInteger(n) || n < 0) throw argRangeError(fn, 'n', 'a non-negative integer', n);
    if (x.length !== n * f) throw argRangeError(fn, 'x.length', `n*f = ${n * f}`, x.length);
    // NaN would silently go right at every node
    for (let i = 0; i < x.length; i++)
      if (!Number.isFinite(x[i])) throw argRangeError(fn, `x[${i}]`, 'a finite number', x[i]);
    return forestScores(this.#t, x, n, f, s);
  }

  /** Classification: the most probable class per row (the lowest label on ties). */
  classify(x: Float32Array, n: number): Int32Array {
    if (this.task !== 'classification')
      throw argRangeError('Forest.classify', 'this.task', "'classification'", this.task);
    const p = this.predict(x, n),
      K = this.classes,
      out = new Int32Array(n);
    for (let r = 0; r < n; r++) for (let k = 1; k < K; k++) if (p[r * K + k]! > p[r * K + out[r]!]!) out[r] = k;
    return out;
  }

  /**
   * Mean decrease in impurity, normalized to sum 1 (all zeros if no tree split). Each tree is
   * normalized first, as scikit-learn does, so deep and shallow trees count alike.
   */
  importance(): Float64Array {
    const out = new Float64Array(this.f);
    for (const t of this.#t) {
      let s = 0;
      for (const v of t.importance) s += v;
      if (s > 0) for (let j = 0; j < this.f; j++) out[j]! += t.importance[j]! / s;
    }
    let s = 0;
    for (const v of out) s += v;
    if (s > 0) for (let j = 0; j < this.f; j++) out[j]! /= s;
    return out;
  }

  /** Tree 0 as nested plain objects (for drawing a single fitted tree, e.g. from fitTree). */
  describeTree(featureNames: string[]): TreeNodeView {
    if (!Array.isArray(featureNames) || featureNames.length !== this.f) {
      throw argRangeError('Forest.describeTree', 'featureNames', `an array of f = ${this.f} names`, featureNames);
    }
    const t = this.#t[0]!,
      s = this.#stride;
    const view = (k: number): TreeNodeView => {
      const v: TreeNodeView = { value: Array.from(t.values.subarray(k * s, k * s + s)), samples: t.samples[k]! };
      const j = t.feature[k]!;
      if (j >= 0)
        Object.assign(v, {
          feature: featureNames[j],
          featureIndex: j,
          threshold: t.threshold[k]!,
          left: view(t.left[k]!),
          right: view(t.right[k]!),
        });
      return v;
    };
    return view(0);
  }

  /** A plain JSON-able object; numbers survive JSON exactly, so fromJSON predicts the same bits. */
  toJSON(): unknown {
    const trees = this.#t.map((t) => Object.fromEntries(TREE_KEYS.map((k) => [k, Array.from(t[k])])));
    return {
      format: 'graft-random-forest',
      version: 1,
      task: this.task,
      classes: this.classes,
      f: this.f,
      oobScore: this.oobScore,
      trees,
    };
  }

  /** Reads toJSON's form back, checking every array so a damaged file cannot make predict loop or read out of bounds. */
  static fromJSON(j: unknown): Forest {
    const fn = 'Forest.fromJSON';
    const o = j as Record<string, unknown> | null;
    if (typeof o !== 'object' || o === null || o['format'] !== 'graft-random-forest' || o['version'] !== 1) {
      throw argTypeError(fn, 'json', "toJSON's form (format 'graft-random-forest', version 1)", j);
    }
    const task = o['task'],
      classes = o['classes'],
      f = o['f'],
      oob = o['oobScore'],
      trees = o['trees'];
    if (task !== 'classification' && task !== 'regression')
      throw argRangeError(fn, 'json.task', "'classification' or 'regression'", task);
    const cls = task === 'classification';
    if (typeof classes !== 'number' || !Number.isInteger(classes) || (cls ? classes < 1 : classes !== 0))
      throw argRangeError(fn, 'json.classes', cls ? 'a positive integer' : '0', classes);
    if (typeof f !== 'number' || !Number.isInteger(f) || f < 1)
      throw argRangeError(fn, 'json.f', 'a positive integer', f);
    if (oob !== null && typeof oob !== 'number') throw argTypeError(fn, 'json.oobScore', 'a number or null', oob);
    if (!Array.isArray(trees) || trees.length < 1) throw argTypeError(fn, 'json.trees', 'a non-empty array', trees);
    const s = cls ? classes : 1;
    return new Forest(
      task,
      classes,
      f,
      trees.map((raw: unknown, ti) => {
        const path = `json.trees[${ti}]`;
        const r = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
        const get = (k: (typeof TREE_KEYS)[number]): number[] => {
          const a = r[k];
          if (!Array.isArray(a) || !a.every((v) => typeof v === 'number' && Number.isFinite(v)))
            throw argTypeError(fn, `${path}.${k}`, 'an array of finite numbers', a);
          return a as number[];
        };
        const t: TreeArrays = {
          feature: Int32Array.from(get('feature')),
          threshold: Float64Array.from(get('threshold')),
          left: Int32Array.from(get('left')),
          right: Int32Array.from(get('right')),
          samples: Int32Array.from(get('samples')),
          values: Float64Array.from(get('values')),
          importance: Float64Array.from(get('importance')),
        };
        const m = t.feature.length;
        for (const k of ['threshold', 'left', 'right', 'samples'] as const)
          if (t[k].length !== m) throw argRangeError(fn, `${path}.${k}.length`, `${m} (one per node)`, t[k].length);
        if (m < 1) throw argRangeError(fn, `${path}.feature.length`, 'at least 1', m);
        if (t.values.length !== m * s) throw argRangeError(fn, `${path}.values.length`, `${m * s}`, t.values.length);
        if (t.importance.length !== f)
          throw argRangeError(fn, `${path}.importance.length`, `f = ${f}`, t.importance.length);
        for (let k = 0; k < m; k++) {
          const ft = t.feature[k]!,
            l = t.left[k]!,
            rt = t.right[k]!;
          // children after their parent: a walk from the root always ends
          const ok = ft === -1 ? l === -1 && rt === -1 : ft >= 0 && ft < f && l > k && l < m && rt > k && rt < m;
          if (!ok)
            throw argRangeError(fn, `${path} node ${k}`, 'a leaf (feature -1) or a split with children after it', [
              ft,
              l,
              rt,
            ]);
        }
        return t;
      }),
      oob as number | null,
    );
  }
}

const TREE_KEYS = ['feature', 'threshold', 'left', 'right', 'samples', 'values', 'importance'] as const;

/** Out-of-bag accuracy or R²: each sample predicted by the trees whose bag missed it (redrawn from the tree seeds). */
function oobScore(data: ForestData, p: GrowParams, trees: TreeArrays[]): number | null {
  const { n, f, x, y } = data,
    s = p.classification ? p.classes : 1;
  const sum = new Float64Array(n * s),
    hits = new Int32Array(n);
  trees.forEach((t, ti) => {
    const c = bagCounts(new Rng(treeSeed(p.seed, ti)), n, true);
    for (let i = 0; i < n; i++) {
      if (c[i] !== 0) continue;
      const v = leafOf(t, x, i * f) * s;
      for (let k = 0; k < s; k++) sum[i * s + k]! += t.values[v + k]!;
      hits[i]!++;
    }
  });
  let m = 0,
    good = 0,
    mean = 0;
  for (let i = 0; i < n; i++)
    if (hits[i]! > 0) {
      m++;
      mean += y[i]!;
    }
  if (m === 0) return null;
  mean /= m;
  let sse = 0,
    sst = 0;
  for (let i = 0; i < n; i++) {
    if (hits[i] === 0) continue;
    if (p.classification) {
      let best = 0;
      for (let k = 1; k < s; k++) if (sum[i * s + k]! > sum[i * s + best]!) best = k;
      if (best === y[i]) good++;
    } else {
      sse += (sum[i]! / hits[i]! - y[i]!) ** 2;
      sst += (y[i]! - mean) ** 2;
    }
  }
  return p.classification ? good / m : sst > 0 ? 1 - sse / sst : null;
}

function finish(data: ForestData, o: ForestOptions, p: GrowParams, trees: TreeArrays[]): Forest {
  return new Forest(o.task, p.classes, data.f, trees, o.oob ? oobScore(data, p, trees) : null);
}

function fitInline(data: ForestData, o: ForestOptions, fn: string): Forest {
  const { p, bins } = prepare(data, o, fn);
  const set = trainSet(data, bins, false);
  const trees: TreeArrays[] = [];
  for (let t = 0; t < p.trees; t++) trees.push(growTree(set, p, t));
  return finish(data, o, p, trees);
}

/** Fits a forest on this thread. */
export function fitForest(data: ForestData, o: ForestOptions): Forest {
  return fitInline(data, o, 'fitForest');
}

/**
 * One tree on all samples and all features (options' trees, bootstrap and maxFeatures are
 * overridden), e.g. a shallow regression tree to draw with describeTree.
 */
export function fitTree(data: ForestData, o: ForestOptions & { bootstrap: false; maxFeatures: 'all' }): Forest {
  return fitInline(data, { ...o, trees: 1, bootstrap: false, maxFeatures: 'all' }, 'fitTree');
}

// Pools kept between fits: starting workers (and warming their JIT) costs about as much as
// building a few hundred small trees, and a study fits many forests. Idle Piscina workers are
// unref'd, so a kept pool never holds the process open. One pool per thread count, so
// concurrent fits with different counts never tear down each other's workers.
const kept = new Map<number, Piscina>();

function poolOf(threads: number, fn: string): Piscina {
  const have = kept.get(threads);
  if (have) return have;
  const filename = workerPath('microbiome/forest-worker');
  if (!existsSync(filename))
    throw new Error(`${fn}: the compiled worker ${filename} is missing: compile the TypeScript into dist/ first`);
  const pool = new Piscina({ filename, minThreads: threads, maxThreads: threads });
  kept.set(threads, pool);
  return pool;
}

/** Stops the workers fitForestParallel keeps between fits (a later fit starts new ones). */
export async function closeForestPool(): Promise<void> {
  const pools = [...kept.values()];
  kept.clear();
  await Promise.all(pools.map((p) => p.destroy()));
}

/**
 * Fits the same forest as fitForest (bit for bit) on `threads` Piscina workers; 0 or 1
 * builds here without a pool. Features are binned once here into shared memory, which the
 * workers read without copies; each task builds a contiguous run of tree indices, and a few
 * runs per worker even out uneven trees. Needs the compiled worker in dist/. The pool stays
 * up for the next fit with the same thread count (see closeForestPool).
 */
export async function fitForestParallel(data: ForestData, o: ForestOptions, threads: number): Promise<Forest> {
  const fn = 'fitForestParallel';
  if (!Number.isInteger(threads) || threads < 0) throw argRangeError(fn, 'threads', 'a non-negative integer', threads);
  if (threads <= 1) return fitInline(data, o, fn);
  const { p, bins } = prepare(data, o, fn);
  const pool = poolOf(threads, fn);
  const set = trainSet(data, bins, true),
    chunks = Math.min(p.trees, threads * 4);
  const tasks: ForestWorkerTask[] = Array.from({ length: chunks }, (_, c) => ({
    set,
    params: p,
    from: Math.floor((c * p.trees) / chunks),
    to: Math.floor(((c + 1) * p.trees) / chunks),
  }));
  // a chunk's trees depend only on their indices, so a chunk whose worker died simply runs again (once)
  const run = (t: ForestWorkerTask): Promise<TreeArrays[]> => pool.run(t) as Promise<TreeArrays[]>;
  const parts = await Promise.all(tasks.map((t) => run(t).catch(() => run(t))));
  return finish(data, o, p, parts.flat());
}
