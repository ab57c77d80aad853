import { describe, expect, it } from 'vitest';
import { treeShap } from '../src/explain/treeshap.js';
import { fitForest, Forest } from '../src/microbiome/random-forest.js';
import { randn, rng } from './helpers.js';

// Oracle: Shapley values by enumerating every coalition S of the features, with the
// path-dependent value function v(S) = E[f(x) | x_S] computed straight from its definition
// (follow x at a split on a feature in S, else average both children by their training
// draws), and φ_j = Σ_S |S|!(M-|S|-1)!/M! (v(S ∪ j) - v(S)).

interface Tree {
  feature: number[];
  threshold: number[];
  left: number[];
  right: number[];
  samples: number[];
  values: number[];
}

function condExpect(
  t: Tree,
  k: number,
  x: Float32Array,
  row: number,
  inS: (j: number) => boolean,
  s: number,
  c: number,
): number {
  const j = t.feature[k]!;
  if (j < 0) return t.values[k * s + c]!;
  const l = t.left[k]!,
    r = t.right[k]!;
  if (inS(j)) return condExpect(t, x[row + j]! <= t.threshold[k]! ? l : r, x, row, inS, s, c);
  const nl = t.samples[l]!,
    nr = t.samples[r]!;
  return (nl * condExpect(t, l, x, row, inS, s, c) + nr * condExpect(t, r, x, row, inS, s, c)) / (nl + nr);
}

function enumerateShapley(forest: Forest, x: Float32Array, i: number): { phi: Float64Array; base: Float64Array } {
  const f = forest.f,
    s = forest.task === 'classification' ? forest.classes : 1;
  const trees = (forest.toJSON() as { trees: Tree[] }).trees;
  const fact = [1];
  for (let k = 1; k <= f; k++) fact.push(fact[k - 1]! * k);
  const v = (mask: number, c: number): number =>
    trees.reduce((a, t) => a + condExpect(t, 0, x, i * f, (j) => ((mask >> j) & 1) === 1, s, c), 0) / trees.length;
  const phi = new Float64Array(s * f),
    base = new Float64Array(s);
  for (let c = 0; c < s; c++) {
    const val = Float64Array.from({ length: 1 << f }, (_, m) => v(m, c));
    base[c] = val[0]!;
    for (let j = 0; j < f; j++) {
      let sum = 0;
      for (let m = 0; m < 1 << f; m++) {
        if ((m >> j) & 1) continue;
        let size = 0;
        for (let b = m; b; b &= b - 1) size++;
        sum += ((fact[size]! * fact[f - size - 1]!) / fact[f]!) * (val[m | (1 << j)]! - val[m]!);
      }
      phi[c * f + j] = sum;
    }
  }
  return { phi, base };
}

function blobs(n: number, f: number, seed: number): { x: Float32Array; y: Int32Array; target: Float64Array } {
  const x = randn(n * f, seed),
    r = rng(seed + 1),
    y = new Int32Array(n),
    target = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const score = x[i * f]! + 0.8 * x[i * f + 1]! * x[i * f + 2]! - 0.5 * x[i * f + 3]! + 0.3 * (r() - 0.5);
    y[i] = score > 0.6 ? 2 : score > -0.4 ? 1 : 0;
    target[i] = score;
  }
  return { x, y, target };
}

describe('TreeSHAP (oracle: exact Shapley values by enumeration)', () => {
  it('a forest of 3 classes over 7 features: every row equals the enumeration and adds up to the prediction', () => {
    const n = 120,
      f = 7;
    const { x, y } = blobs(n, f, 3);
    const forest = fitForest({ x, n, f, y }, { task: 'classification', trees: 6, maxDepth: 6, seed: 5 });
    const rows = 8,
      sub = x.subarray(0, rows * f);
    const s = treeShap(forest, sub, rows);
    expect([s.n, s.f, s.outputs]).toEqual([rows, f, 3]);
    const pred = forest.predict(sub, rows);
    for (let i = 0; i < rows; i++) {
      const oracle = enumerateShapley(forest, sub, i);
      for (let c = 0; c < 3; c++) {
        expect(s.base[c]).toBeCloseTo(oracle.base[c]!, 12);
        let sum = s.base[c]!;
        for (let j = 0; j < f; j++) {
          const got = s.values[(i * 3 + c) * f + j]!;
          expect(Math.abs(got - oracle.phi[c * f + j]!)).toBeLessThan(1e-10);
          sum += got;
        }
        expect(Math.abs(sum - pred[i * 3 + c]!)).toBeLessThan(1e-5);
        expect(s.prediction[i * 3 + c]).toBe(pred[i * 3 + c]);
      }
    }
  });

  it('regression trees that split on the same feature again (10 features, deep): enumeration and additivity', () => {
    const n = 150,
      f = 10;
    const { x, target } = blobs(n, f, 11);
    const forest = fitForest(
      { x, n, f, y: target },
      { task: 'regression', trees: 3, maxDepth: 8, maxFeatures: 'all', seed: 2 },
    );
    const trees = (forest.toJSON() as { trees: Tree[] }).trees;
    // the case the unwinding exists for: some root-to-leaf path splits on one feature twice
    const repeats = trees.some((t) => {
      const walk = (k: number, seen: number[]): boolean =>
        t.feature[k]! < 0
          ? false
          : seen.includes(t.feature[k]!) ||
            walk(t.left[k]!, [...seen, t.feature[k]!]) ||
            walk(t.right[k]!, [...seen, t.feature[k]!]);
      return walk(0, []);
    });
    expect(repeats).toBe(true);
    const rows = 4,
      sub = x.subarray(0, rows * f);
    const s = treeShap(forest, sub, rows);
    for (let i = 0; i < rows; i++) {
      const oracle = enumerateShapley(forest, sub, i);
      for (let j = 0; j < f; j++) expect(Math.abs(s.values[i * f + j]! - oracle.phi[j]!)).toBeLessThan(1e-10);
      expect(s.base[0]).toBeCloseTo(oracle.base[0]!, 12);
    }
  });

  it('additivity on a 100-tree forest over 40 features, and a feature the trees never use gets exactly 0', () => {
    const n = 120,
      f = 40;
    const x = randn(n * f, 21),
      y = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      y[i] = x[i * f]! + x[i * f + 5]! > 0 ? 1 : 0;
      x[i * f + 39] = 1;
    } // feature 39 is constant
    const forest = fitForest({ x, n, f, y }, { task: 'classification', trees: 100, seed: 9 });
    const s = treeShap(forest, x, n);
    let worst = 0;
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < 2; c++) {
        let sum = s.base[c]!;
        for (let j = 0; j < f; j++) sum += s.values[(i * 2 + c) * f + j]!;
        worst = Math.max(worst, Math.abs(sum - s.prediction[i * 2 + c]!));
        expect(s.values[(i * 2 + c) * f + 39]).toBe(0);
      }
    }
    expect(worst).toBeLessThan(1e-5);
    // the two informative features carry the largest mean |φ|
    const mean = Float64Array.from({ length: f }, (_, j) => {
      let a = 0;
      for (let i = 0; i < n; i++) a += Math.abs(s.values[(i * 2 + 1) * f + j]!);
      return a / n;
    });
    const order = [...mean.keys()].sort((a, b) => mean[b]! - mean[a]!);
    expect(order.slice(0, 2).sort()).toEqual([0, 5]);
  });

  it('a hand-built stump: φ by hand', () => {
    // x0 <= 0.5 → 1 (3 draws), else 5 (1 draw): base = 2, for x0 = 1: φ0 = 3
    const forest = Forest.fromJSON({
      format: 'graft-random-forest',
      version: 1,
      task: 'regression',
      classes: 0,
      f: 2,
      oobScore: null,
      trees: [
        {
          feature: [0, -1, -1],
          threshold: [0.5, 0, 0],
          left: [1, -1, -1],
          right: [2, -1, -1],
          samples: [4, 3, 1],
          values: [2, 1, 5],
          importance: [1, 0],
        },
      ],
    });
    const s = treeShap(forest, Float32Array.from([1, 7, 0, 7]), 2);
    expect(Array.from(s.base)).toEqual([2]);
    expect(Array.from(s.values)).toEqual([3, 0, -1, 0]);
  });

  it('refuses a row count that does not fit x, and NaN', () => {
    const forest = Forest.fromJSON({
      format: 'graft-random-forest',
      version: 1,
      task: 'regression',
      classes: 0,
      f: 2,
      oobScore: null,
      trees: [
        { feature: [-1], threshold: [0], left: [-1], right: [-1], samples: [1], values: [2], importance: [0, 0] },
      ],
    });
    expect(() => treeShap(forest, new Float32Array(3), 2)).toThrow(
      /treeShap: argument 'x.length' must be n\*f = 4, got 3/,
    );
    expect(() => treeShap(forest, Float32Array.from([1, NaN]), 1)).toThrow(/finite/);
  });
});
