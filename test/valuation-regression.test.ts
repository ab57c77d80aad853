import { describe, expect, it } from 'vitest';
import { kernelRidgeCv, KernelRidgeLearner, pearson } from '../src/valuation/kernel-ridge.js';
import { KnnGameLearner, knnRegressionScore, knnShapleyOf } from '../src/valuation/knn-shapley.js';
import { tmcShapley } from '../src/valuation/tmc-shapley.js';
import { lowValueAuc } from '../src/cli/commands/value-common.js';
import { randn, rng } from './helpers.js';

// Data Shapley for regressions (graft value on gp runs) and over a given distance (graph runs).
// Oracles: Shapley values by enumerating every subset (KNN-Shapley's closed form with the
// regression score); the incremental GBLUP against a fit from scratch with leave-one-out by
// refitting; planted phenotype noise (a record mix-up) on simulated genotypes: the shuffled
// lines get low values, and dropping the lowest-valued lines does not cost predictive ability
// against the true phenotypes.

function shapleyByEnumeration(n: number, u: (members: number[]) => number): Float64Array {
  const fact = [1];
  for (let k = 1; k <= n; k++) fact.push(fact[k - 1]! * k);
  const val = Float64Array.from({ length: 1 << n }, (_, m) => u([...Array(n).keys()].filter((i) => (m >> i) & 1)));
  const phi = new Float64Array(n);
  for (let i = 0; i < n; i++)
    for (let m = 0; m < 1 << n; m++) {
      if ((m >> i) & 1) continue;
      let s = 0;
      for (let b = m; b; b &= b - 1) s++;
      phi[i]! += ((fact[s]! * fact[n - s - 1]!) / fact[n]!) * (val[m | (1 << i)]! - val[m]!);
    }
  return phi;
}

/** Solves the symmetric positive definite system A x = b (Gaussian elimination, small n). */
function solve(a: number[][], b: number[]): number[] {
  const n = b.length,
    m = a.map((r, i) => [...r, b[i]!]);
  for (let c = 0; c < n; c++) {
    for (let r = c + 1; r < n; r++) {
      const f = m[r]![c]! / m[c]![c]!;
      for (let k = c; k <= n; k++) m[r]![k]! -= f * m[c]![k]!;
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = m[r]![n]!;
    for (let k = r + 1; k < n; k++) s -= m[r]![k]! * x[k]!;
    x[r] = s / m[r]![r]!;
  }
  return x;
}

/**
 * Simulated lines of a breeding population: each the offspring of two of 8 founders (0/1/2
 * genotypes), taking blocks of 20 markers from one parent or the other, so lines are related
 * as in a real panel; kernel W Wᵀ / m of the standardized markers, phenotypes of heritability h2.
 */
function lines(n: number, m: number, h2: number, seed: number): { K: Float64Array; y: Float64Array; g: Float64Array } {
  const r = rng(seed),
    founders = Array.from({ length: 8 }, () =>
      Array.from({ length: m }, () => (r() < 0.5 ? 1 : 0) + (r() < 0.5 ? 1 : 0)),
    ),
    w = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    const a = founders[Math.floor(r() * 8)]!,
      b = founders[Math.floor(r() * 8)]!;
    let from = a;
    for (let j = 0; j < m; j++) {
      if (j % 20 === 0) from = r() < 0.5 ? a : b;
      w[i * m + j] = from[j]!;
    }
  }
  for (let j = 0; j < m; j++) {
    let mean = 0,
      v = 0;
    for (let i = 0; i < n; i++) mean += w[i * m + j]! / n;
    for (let i = 0; i < n; i++) v += (w[i * m + j]! - mean) ** 2 / n;
    for (let i = 0; i < n; i++) w[i * m + j] = (w[i * m + j]! - mean) / (Math.sqrt(v) || 1);
  }
  const K = new Float64Array(n * n);
  for (let a = 0; a < n; a++)
    for (let b = 0; b < n; b++) {
      let s = 0;
      for (let j = 0; j < m; j++) s += w[a * m + j]! * w[b * m + j]!;
      K[a * n + b] = s / m;
    }
  const beta = randn(m, seed + 1),
    e = randn(n, seed + 2),
    g = new Float64Array(n);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) g[i]! += w[i * m + j]! * beta[j]!;
  const vg = g.reduce((a, v) => a + v * v, 0) / n;
  const y = Float64Array.from(g, (v, i) => v / Math.sqrt(vg) + e[i]! * Math.sqrt((1 - h2) / h2));
  return { K, y, g };
}

describe('KNN-Shapley with the regression score (oracle: enumeration of every subset)', () => {
  it('equals the Shapley values of U(S) = (1/K) Σ over the K nearest of (y_i − ȳ)(y_q − ȳ)/σ², K = 1, 3', () => {
    const n = 9,
      m = 4,
      xs = randn(n, 3),
      xq = randn(m, 4),
      y = Float64Array.from(randn(n, 5)),
      yq = Float64Array.from(randn(m, 6));
    const score = knnRegressionScore(y, yq);
    const distance = (i: number, q: number): number => Math.abs(xs[i]! - xq[q]!);
    for (const k of [1, 3]) {
      const got = knnShapleyOf({ train: n, test: m, distance, score }, k);
      const want = shapleyByEnumeration(n, (s) => {
        let u = 0;
        for (let q = 0; q < m; q++) {
          const near = [...s].sort((a, b) => distance(a, q) - distance(b, q) || a - b).slice(0, k);
          u += near.reduce((a, i) => a + score(i, q), 0) / k / m;
        }
        return u;
      });
      for (let i = 0; i < n; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(1e-12);
    }
    // the score: the product of centred targets over the training targets' variance
    const mean = y.reduce((a, v) => a + v, 0) / n,
      variance = y.reduce((a, v) => a + (v - mean) ** 2, 0) / n;
    expect(score(2, 1)).toBeCloseTo(((y[2]! - mean) * (yq[1]! - mean)) / variance, 12);
    expect(() => knnRegressionScore(new Float64Array(4).fill(2))).toThrow(/targets that vary/);
  });

  it('KnnGameLearner over a given distance scores what KnnLearner-style voting from scratch scores', () => {
    const n = 30,
      m = 12,
      xs = randn(n, 7),
      xq = randn(m, 8);
    const yTrain = Int32Array.from(xs, (v, i) => (v > 0 ? 1 : 0) ^ (i % 7 === 0 ? 1 : 0)),
      yTest = Int32Array.from(xq, (v) => (v > 0 ? 1 : 0));
    const distance = (i: number, q: number): number => Math.abs(xs[i]! - xq[q]!);
    const l = new KnnGameLearner({ train: n, test: m, yTrain, yTest, distance }, 3, 2);
    const order = [...Array(n).keys()].reverse();
    order.forEach((i, r) => {
      const got = l.add(i),
        members = order.slice(0, r + 1);
      let acc = 0;
      for (let q = 0; q < m; q++) {
        const near = [...members].sort((a, b) => distance(a, q) - distance(b, q) || a - b).slice(0, 3);
        const ones = near.filter((j) => yTrain[j] === 1).length,
          zeros = near.length - ones;
        acc += ones === zeros ? 0.5 : (ones > zeros ? 1 : 0) === yTest[q] ? 1 : 0;
      }
      expect(got).toBeCloseTo(acc / m, 12);
    });
  });
});

describe('KernelRidgeLearner (GBLUP with λ fixed, grown one line at a time)', () => {
  it("scores Pearson's r of every line's prediction: members by leave-one-out refits, the others from the members (oracle: fits from scratch)", () => {
    const n = 14,
      { K, y } = lines(n, 40, 0.6, 11),
      lambda = 0.7;
    const mean = y.reduce((a, v) => a + v, 0) / n,
      yc = Array.from(y, (v) => v - mean);
    const fitPredict = (train: number[], q: number): number => {
      if (train.length === 0) return 0;
      const a = solve(
        train.map((i) => train.map((j) => K[i * n + j]! + (i === j ? lambda : 0))),
        train.map((i) => yc[i]!),
      );
      return train.reduce((s, i, t) => s + K[q * n + i]! * a[t]!, 0);
    };
    const l = new KernelRidgeLearner(K, n, y, lambda);
    expect(l.empty).toBe(0);
    const order = [5, 0, 13, 2, 7, 1, 9, 3, 12, 4, 6, 8, 10, 11];
    order.forEach((i, r) => {
      const got = l.add(i),
        members = order.slice(0, r + 1);
      const pred = Array.from({ length: n }, (_, q) =>
        members.includes(q)
          ? fitPredict(
              members.filter((j) => j !== q),
              q,
            )
          : fitPredict(members, q),
      );
      expect(got).toBeCloseTo(pearson(pred, yc), 9);
    });
    l.reset();
    expect(l.add(3)).toBeCloseTo(
      pearson(
        Array.from({ length: n }, (_, q) => (q === 3 ? 0 : fitPredict([3], q))),
        yc,
      ),
      9,
    );
    expect(() => l.add(3)).toThrow(/a row not yet added/);
  });

  it('kernelRidgeCv predicts each fold from the other folds with the removed lines left out', () => {
    const n = 20,
      { K, y, g } = lines(n, 30, 0.7, 12),
      lambda = 1.3,
      folds = Int32Array.from({ length: n }, (_, i) => i % 3),
      removed = new Set([1, 4, 8]);
    const pred = new Float64Array(n);
    for (let f = 0; f < 3; f++) {
      const train = [...Array(n).keys()].filter((i) => folds[i] !== f && !removed.has(i));
      const mean = train.reduce((a, i) => a + y[i]!, 0) / train.length;
      const a = solve(
        train.map((i) => train.map((j) => K[i * n + j]! + (i === j ? lambda : 0))),
        train.map((i) => y[i]! - mean),
      );
      for (let q = 0; q < n; q++)
        if (folds[q] === f) pred[q] = mean + train.reduce((s, i, t) => s + K[q * n + i]! * a[t]!, 0);
    }
    expect(kernelRidgeCv(K, n, y, g, lambda, folds, removed)).toBeCloseTo(pearson(pred, g), 10);
  });
});

describe('planted phenotype noise: 10% of 150 simulated lines with phenotypes shuffled among them (h² 0.8)', () => {
  const n = 150,
    { K, y: truth } = lines(n, 300, 0.8, 21),
    r = rng(22),
    chosen = [...Array(n).keys()].sort(() => r() - 0.5).slice(0, 15),
    y = Float64Array.from(truth),
    corrupted = new Array<boolean>(n).fill(false);
  chosen.forEach((i, c) => {
    y[i] = truth[chosen[(c + 1) % chosen.length]!]!;
    corrupted[i] = true;
  });
  const lambda = 0.25; // σ²e/σ²g at h² 0.8
  const folds = Int32Array.from({ length: n }, (_, i) => i % 5);
  const cv = (removed: Set<number>): number => kernelRidgeCv(K, n, y, truth, lambda, folds, removed);
  const distance = (i: number, q: number): number => K[i * n + i]! + K[q * n + q]! - 2 * K[i * n + q]!;
  /** The 5-NN regressor's leave-one-out r with the true phenotypes, the removed lines out of every neighbourhood. */
  const knnCv = (removed: Set<number>): number =>
    pearson(
      Array.from({ length: n }, (_, q) => {
        const near = [...Array(n).keys()]
          .filter((j) => j !== q && !removed.has(j))
          .sort((a, b) => distance(a, q) - distance(b, q) || a - b)
          .slice(0, 5);
        return near.reduce((a, j) => a + y[j]!, 0) / near.length;
      }),
      truth,
    );

  it.each([
    {
      method: 'TMC-Shapley on GBLUP',
      auc: 0.75,
      heldOut: cv,
      value: (): Float64Array =>
        tmcShapley(new KernelRidgeLearner(K, n, y, lambda), { maxPermutations: 150, seed: 3 }).values,
    },
    {
      method: 'KNN-Shapley on the kernel distance',
      auc: 0.6,
      heldOut: knnCv,
      value: (): Float64Array =>
        knnShapleyOf(
          {
            train: n,
            test: 'self',
            distance,
            score: knnRegressionScore(y),
          },
          5,
        ),
    },
  ])(
    "$method flags the shuffled lines (ROC-AUC ≥ $auc); dropping the lowest-valued 15 does not lower the valued model's r",
    ({ value, auc, heldOut }) => {
      const v = value(),
        order = [...Array(n).keys()].sort((a, b) => v[a]! - v[b]! || a - b);
      expect(lowValueAuc(v, corrupted)).toBeGreaterThanOrEqual(auc);
      const base = heldOut(new Set()),
        lowGone = heldOut(new Set(order.slice(0, 15))),
        highGone = heldOut(new Set(order.slice(n - 15)));
      expect(lowGone).toBeGreaterThanOrEqual(base);
      expect(highGone).toBeLessThan(lowGone);
    },
  );
});
