import { argRangeError, argTypeError } from '../core/errors.js';
import type { Forest } from '../microbiome/random-forest.js';

// Exact TreeSHAP, path-dependent (Lundberg et al. 2020, Algorithm 2; shap's TreeExplainer with
// feature_perturbation='tree_path_dependent'). A feature outside the coalition S is integrated
// out by following both children of its splits, weighted by the training draws ("cover") that
// went each way, so v(S) = E[f(x) | x_S] under the tree's own data. The polynomial-time recursion
// keeps, along the path from the root, each feature's share of the coalitions that reach the
// node (zero fraction: the feature unknown, one fraction: x goes this way) and the Shapley
// weights of the subsets of the path's features; at a leaf, unwinding one feature gives its
// weighted contribution. Cost O(trees · leaves · depth²) per sample.

/** What treeShap returns: φ per row, output and feature, and the base value per output. */
export interface TreeShapValues {
  /** φ [n, outputs, f] row-major: values[(i·outputs + k)·f + j]. */
  values: Float64Array;
  /** E[f(x)] under the forest's covers per output (shap's expected_value): base + Σ_j φ = f(x). */
  base: Float64Array;
  /** The forest's output per row [n, outputs] (Forest.predict), for checking additivity. */
  prediction: Float64Array;
  n: number;
  f: number;
  /** Classes (classification: φ of each class probability) or 1 (regression). */
  outputs: number;
}

interface Tree {
  feature: number[];
  threshold: number[];
  left: number[];
  right: number[];
  samples: number[];
  values: number[];
}

/** One element of the path: the feature split on, its zero and one fractions, the subset weight. */
interface PathArrays {
  feature: Int32Array;
  zero: Float64Array;
  one: Float64Array;
  w: Float64Array;
}

function extendPath(p: PathArrays, at: number, depth: number, zero: number, one: number, feature: number): void {
  p.feature[at + depth] = feature;
  p.zero[at + depth] = zero;
  p.one[at + depth] = one;
  p.w[at + depth] = depth === 0 ? 1 : 0;
  for (let i = depth - 1; i >= 0; i--) {
    p.w[at + i + 1]! += (one * p.w[at + i]! * (i + 1)) / (depth + 1);
    p.w[at + i] = (zero * p.w[at + i]! * (depth - i)) / (depth + 1);
  }
}

function unwindPath(p: PathArrays, at: number, depth: number, index: number): void {
  const one = p.one[at + index]!,
    zero = p.zero[at + index]!;
  let next = p.w[at + depth]!;
  for (let i = depth - 1; i >= 0; i--) {
    if (one !== 0) {
      const tmp = p.w[at + i]!;
      p.w[at + i] = (next * (depth + 1)) / ((i + 1) * one);
      next = tmp - (p.w[at + i]! * zero * (depth - i)) / (depth + 1);
    } else {
      p.w[at + i] = (p.w[at + i]! * (depth + 1)) / (zero * (depth - i));
    }
  }
  for (let i = index; i < depth; i++) {
    p.feature[at + i] = p.feature[at + i + 1]!;
    p.zero[at + i] = p.zero[at + i + 1]!;
    p.one[at + i] = p.one[at + i + 1]!;
  }
}

/** The total subset weight the path would have with element `index` removed (unwindPath without the write). */
function unwoundSum(p: PathArrays, at: number, depth: number, index: number): number {
  const one = p.one[at + index]!,
    zero = p.zero[at + index]!;
  let next = p.w[at + depth]!,
    total = 0;
  for (let i = depth - 1; i >= 0; i--) {
    if (one !== 0) {
      const tmp = (next * (depth + 1)) / ((i + 1) * one);
      total += tmp;
      next = p.w[at + i]! - (tmp * zero * (depth - i)) / (depth + 1);
    } else if (zero !== 0) {
      total += p.w[at + i]! / zero / ((depth - i) / (depth + 1));
    }
  }
  return total;
}

/**
 * Checks a tree for what the recursion divides by: every split's children must have been
 * reached by some training draw (a damaged file could say otherwise).
 */
function cover(t: Tree, k: number): number {
  return t.samples[t.left[k]!]! + t.samples[t.right[k]!]!;
}

/** The tree's expected output under its covers, per output, added into `into` with weight `scale`. */
function expectation(t: Tree, k: number, s: number, into: Float64Array, scale: number): void {
  if (t.feature[k]! < 0) {
    for (let c = 0; c < s; c++) into[c]! += scale * t.values[k * s + c]!;
    return;
  }
  const l = t.left[k]!,
    r = t.right[k]!,
    w = cover(t, k);
  expectation(t, l, s, into, (scale * t.samples[l]!) / w);
  expectation(t, r, s, into, (scale * t.samples[r]!) / w);
}

/**
 * Exact path-dependent SHAP values of a fitted random forest (scikit-learn-like Forest of
 * src/microbiome/random-forest.ts) for the rows of x [n, forest.f]: the forest averages its
 * trees, so its values are the trees' averaged. For each row and output,
 * base[k] + Σ_j values[(i·outputs + k)·f + j] = prediction[i·outputs + k] up to rounding.
 *
 * @example
 * const s = treeShap(forest, x, n);
 * const phi = s.values.subarray((row * s.outputs + 1) * s.f, (row * s.outputs + 2) * s.f); // class 1
 */
export function treeShap(forest: Forest, x: Float32Array, n: number): TreeShapValues {
  const fn = 'treeShap';
  const f = forest.f;
  if (!(x instanceof Float32Array)) throw argTypeError(fn, 'x', 'a Float32Array', x);
  if (!Number.isInteger(n) || n < 0) throw argRangeError(fn, 'n', 'a non-negative integer', n);
  if (x.length !== n * f) throw argRangeError(fn, 'x.length', `n*f = ${n * f}`, x.length);
  const prediction = forest.predict(x, n); // also refuses NaN, which would go right at every split
  const s = forest.task === 'classification' ? forest.classes : 1;
  const trees = (forest.toJSON() as { trees: Tree[] }).trees;
  let maxDepth = 0;
  trees.forEach((t, ti) => {
    const depth = (k: number): number => (t.feature[k]! < 0 ? 0 : 1 + Math.max(depth(t.left[k]!), depth(t.right[k]!)));
    for (let k = 0; k < t.feature.length; k++) {
      if (t.feature[k]! >= 0 && !(cover(t, k) > 0))
        throw argRangeError(
          fn,
          `forest tree ${ti} node ${k}`,
          'a split whose children were reached by training draws',
          cover(t, k),
        );
    }
    maxDepth = Math.max(maxDepth, depth(0));
  });
  const base = new Float64Array(s);
  for (const t of trees) expectation(t, 0, s, base, 1 / trees.length);
  const values = new Float64Array(n * s * f);
  // One path array for the whole recursion: each level copies its parent's path into the slot
  // after it, so the space is (depth + 1)(depth + 2) / 2 elements.
  const size = ((maxDepth + 2) * (maxDepth + 3)) / 2;
  const path: PathArrays = {
    feature: new Int32Array(size),
    zero: new Float64Array(size),
    one: new Float64Array(size),
    w: new Float64Array(size),
  };
  const scale = 1 / trees.length;
  for (let i = 0; i < n; i++) {
    const row = i * f,
      out = i * s * f;
    for (const t of trees) {
      const recurse = (
        k: number,
        parentAt: number,
        depth: number,
        zero: number,
        one: number,
        feature: number,
      ): void => {
        const at = parentAt + depth; // this level's slot begins after the parent's `depth` elements
        if (depth > 0) {
          path.feature.copyWithin(at, parentAt, parentAt + depth);
          path.zero.copyWithin(at, parentAt, parentAt + depth);
          path.one.copyWithin(at, parentAt, parentAt + depth);
          path.w.copyWithin(at, parentAt, parentAt + depth);
        }
        extendPath(path, at, depth, zero, one, feature);
        const j = t.feature[k]!;
        if (j < 0) {
          for (let e = 1; e <= depth; e++) {
            const w = unwoundSum(path, at, depth, e) * (path.one[at + e]! - path.zero[at + e]!) * scale;
            const col = path.feature[at + e]!;
            for (let c = 0; c < s; c++) values[out + c * f + col]! += w * t.values[k * s + c]!;
          }
          return;
        }
        const goLeft = x[row + j]! <= t.threshold[k]!;
        const hot = goLeft ? t.left[k]! : t.right[k]!,
          cold = goLeft ? t.right[k]! : t.left[k]!;
        const w = cover(t, k);
        let inZero = 1,
          inOne = 1,
          d = depth;
        // A feature split on again: undo its earlier element so it enters the path once.
        let e = 0;
        while (e <= d && path.feature[at + e] !== j) e++;
        if (e <= d) {
          inZero = path.zero[at + e]!;
          inOne = path.one[at + e]!;
          unwindPath(path, at, d, e);
          d--;
        }
        recurse(hot, at, d + 1, (t.samples[hot]! / w) * inZero, inOne, j);
        recurse(cold, at, d + 1, (t.samples[cold]! / w) * inZero, 0, j);
      };
      recurse(0, 0, 0, 1, 1, -1);
    }
  }
  return { values, base, prediction, n, f, outputs: s };
}
