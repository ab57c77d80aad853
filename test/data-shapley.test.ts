import { describe, expect, it } from 'vitest';
import { KnnLearner, knnShapley, type LabelledRows } from '../src/valuation/knn-shapley.js';
import { tmcShapley } from '../src/valuation/tmc-shapley.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadMicrobiome } from '../src/microbiome/data.js';
import { preprocess } from '../src/microbiome/pipeline.js';
import { randn, rng, sharedData } from './helpers.js';

const shared = sharedData();
const ravel = shared ? join(shared, 'microbiome_ravel') : undefined;
if (!ravel || !existsSync(ravel))
  console.warn(
    'data-shapley.test: ../shared/data/microbiome_ravel absent: the Ravel planted-noise check is skipped (the synthetic ones still run)',
  );

// Oracles: Shapley values by enumerating every subset of a small training set (for KNN-Shapley's
// closed form, exactly; for TMC-Shapley, within its standard errors), and planted label noise:
// flipped labels must get low values, and dropping the lowest-valued rows must not cost
// held-out accuracy.

function shapleyByEnumeration(n: number, u: (members: number[]) => number): Float64Array {
  const fact = [1];
  for (let k = 1; k <= n; k++) fact.push(fact[k - 1]! * k);
  const val = Float64Array.from({ length: 1 << n }, (_, m) => u([...Array(n).keys()].filter((i) => (m >> i) & 1)));
  const phi = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    for (let m = 0; m < 1 << n; m++) {
      if ((m >> i) & 1) continue;
      let s = 0;
      for (let b = m; b; b &= b - 1) s++;
      phi[i]! += ((fact[s]! * fact[n - s - 1]!) / fact[n]!) * (val[m | (1 << i)]! - val[m]!);
    }
  }
  return phi;
}

const dist = (a: LabelledRows, i: number, b: LabelledRows, j: number): number => {
  let s = 0;
  for (let c = 0; c < a.p; c++) s += (a.x[i * a.p + c]! - b.x[j * b.p + c]!) ** 2;
  return s;
};

/** U(S) of Jia et al.: the share of the K nearest members of S that carry the test row's label. */
function softKnnUtility(train: LabelledRows, test: LabelledRows, q: number, k: number, members: number[]): number {
  const near = [...members].sort((a, b) => dist(train, a, test, q) - dist(train, b, test, q) || a - b).slice(0, k);
  return near.filter((i) => train.y[i] === test.y[q]).length / k;
}

/** Two Gaussian classes in p dimensions, means ±0.9 on every axis; `flip` of the rows get the other label. */
function blobs(n: number, p: number, flip: number, seed: number): { d: LabelledRows; flipped: boolean[] } {
  const x = Float64Array.from(randn(n * p, seed)),
    y = new Int32Array(n),
    r = rng(seed + 7),
    flipped: boolean[] = [];
  for (let i = 0; i < n; i++) {
    const c = i % 2;
    for (let j = 0; j < p; j++) x[i * p + j]! += c ? 0.9 : -0.9;
    const f = r() < flip;
    y[i] = f ? 1 - c : c;
    flipped.push(f);
  }
  return { d: { x, n, p, y }, flipped };
}

/** ROC-AUC of "low value flags a flipped label": P(value of a flipped row < value of a clean one), ties half. */
function flagAuc(values: Float64Array, flipped: boolean[]): number {
  let pairs = 0,
    wins = 0;
  for (let a = 0; a < values.length; a++)
    if (flipped[a])
      for (let b = 0; b < values.length; b++)
        if (!flipped[b]) {
          pairs++;
          wins += values[a]! < values[b]! ? 1 : values[a] === values[b] ? 0.5 : 0;
        }
  return wins / pairs;
}

/** Held-out accuracy of a K-NN classifier trained on the kept rows. */
function heldOutAccuracy(train: LabelledRows, keep: number[], test: LabelledRows, k: number): number {
  const learner = new KnnLearner(train, test, k, 2);
  let acc = learner.empty;
  for (const i of keep) acc = learner.add(i);
  return acc;
}

describe('KNN-Shapley (oracle: enumeration of every subset)', () => {
  it('equals the Shapley values of the K-NN utility, for K = 1, 3 and 9 > n', () => {
    const { d: train } = blobs(9, 2, 0.3, 1),
      { d: test } = blobs(4, 2, 0, 2);
    for (const k of [1, 3, 9]) {
      const got = knnShapley(train, test, k);
      const want = shapleyByEnumeration(
        train.n,
        (s) => [...Array(test.n).keys()].reduce((a, q) => a + softKnnUtility(train, test, q, k, s), 0) / test.n,
      );
      for (let i = 0; i < train.n; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(1e-12);
    }
  });

  it("'self' scores each row against the others: the mean over rows of each row's game without itself", () => {
    const { d } = blobs(8, 3, 0.25, 3);
    const got = knnShapley(d, 'self', 2),
      want = new Float64Array(d.n);
    for (let q = 0; q < d.n; q++) {
      const others = [...Array(d.n).keys()].filter((i) => i !== q);
      const phi = shapleyByEnumeration(others.length, (s) =>
        softKnnUtility(
          d,
          d,
          q,
          2,
          s.map((r) => others[r]!),
        ),
      );
      others.forEach((i, r) => {
        want[i]! += phi[r]! / d.n;
      });
    }
    for (let i = 0; i < d.n; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(1e-12);
  });
});

describe('TMC-Shapley', () => {
  it('without truncation it is unbiased: every value within 4 standard errors of the enumerated Shapley value, and they sum to V(D) - V(∅)', () => {
    const { d: train } = blobs(8, 2, 0.25, 4),
      { d: val } = blobs(30, 2, 0, 5);
    const learner = new KnnLearner(train, val, 3, 2);
    const want = shapleyByEnumeration(train.n, (s) => {
      const l = new KnnLearner(train, val, 3, 2);
      let a = l.empty;
      for (const i of s) a = l.add(i);
      return a;
    });
    const r = tmcShapley(learner, { tolerance: 0, maxPermutations: 3000, convergence: 1e-9, seed: 2 });
    expect(r.permutations).toBe(3000);
    for (let i = 0; i < train.n; i++)
      expect(Math.abs(r.values[i]! - want[i]!)).toBeLessThanOrEqual(4 * r.se[i]! + 1e-12);
    expect(r.values.reduce((a, b) => a + b, 0)).toBeCloseTo(r.full - learner.empty, 10);
    expect(r.truncated).toBe(0);
  });

  it('the incremental learner scores what a K-NN classifier fitted from scratch scores', () => {
    const { d: train } = blobs(40, 3, 0.2, 6),
      { d: val } = blobs(25, 3, 0, 7);
    const l = new KnnLearner(train, val, 5, 2),
      order = [...Array(40).keys()].reverse();
    order.forEach((i, r) => {
      const got = l.add(i),
        members = order.slice(0, r + 1);
      let acc = 0;
      for (let q = 0; q < val.n; q++) {
        const near = [...members].sort((a, b) => dist(train, a, val, q) - dist(train, b, val, q) || a - b).slice(0, 5);
        const votes = [0, 0];
        for (const i2 of near) votes[train.y[i2]!]!++;
        acc += votes[0] === votes[1] ? 0.5 : votes[val.y[q]!]! > votes[1 - val.y[q]!]! ? 1 : 0;
      }
      expect(got).toBeCloseTo(acc / val.n, 12);
    });
  });
});

describe('planted label noise (15% of 200 training rows flipped)', () => {
  const { d: train, flipped } = blobs(200, 5, 0.15, 11),
    { d: val } = blobs(100, 5, 0, 12),
    { d: test } = blobs(300, 5, 0, 13);
  const n = train.n,
    all = [...Array(n).keys()];
  const byValue = (v: Float64Array): number[] => [...all].sort((a, b) => v[a]! - v[b]! || a - b);

  it.each([
    { method: 'KNN-Shapley', value: (): Float64Array => knnShapley(train, val, 5) },
    {
      method: 'TMC-Shapley',
      value: (): Float64Array => tmcShapley(new KnnLearner(train, val, 5, 2), { maxPermutations: 300, seed: 3 }).values,
    },
  ])(
    '$method flags the flipped labels (ROC-AUC ≥ 0.9) and dropping the lowest-valued 30 rows does not lower held-out accuracy',
    ({ value }) => {
      expect(flipped.filter(Boolean).length).toBeGreaterThan(20);
      const v = value(),
        order = byValue(v);
      expect(flagAuc(v, flipped)).toBeGreaterThanOrEqual(0.9);
      const k = Math.round(0.15 * n),
        base = heldOutAccuracy(train, all, test, 5);
      const lowGone = heldOutAccuracy(train, order.slice(k), test, 5),
        highGone = heldOutAccuracy(train, order.slice(0, n - k), test, 5);
      expect(lowGone).toBeGreaterThanOrEqual(base);
      expect(highGone).toBeLessThan(lowGone);
    },
  );

  it("'self' KNN-Shapley (no validation set) flags them too", () => {
    expect(flagAuc(knnShapley(train, 'self', 5), flipped)).toBeGreaterThanOrEqual(0.9);
  });
});

describe('planted label noise on Ravel (Nugent category, 342 women × 32 taxa)', () => {
  it.skipIf(!ravel || !existsSync(ravel))(
    'KNN-Shapley flags 10% flipped labels with ROC-AUC ≥ 0.8 (measured 0.983 by graft value, seed 1)',
    () => {
      const d = loadMicrobiome({
        counts: join(ravel!, 'counts.csv.gz'),
        meta: join(ravel!, 'labels.csv'),
        label: 'nugent_category',
        minPrevalence: 0.1,
      });
      const { n, p } = d,
        x = preprocess(d.counts, n, p, { normalize: 'tss', zeros: 'pseudo', seed: 1 });
      for (let j = 0; j < p; j++) {
        // unit variance per taxon, as graft value does
        let m = 0,
          v = 0;
        for (let i = 0; i < n; i++) m += x[i * p + j]! / n;
        for (let i = 0; i < n; i++) v += (x[i * p + j]! - m) ** 2 / n;
        for (let i = 0; i < n; i++) x[i * p + j] = (x[i * p + j]! - m) / (Math.sqrt(v) || 1);
      }
      const r = rng(4),
        y = Int32Array.from(d.labels!),
        flipped = Array.from({ length: n }, () => r() < 0.1);
      flipped.forEach((f, i) => {
        if (f) y[i] = 1 - y[i]!;
      });
      expect(d.classNames.length).toBe(2);
      expect(flipped.filter(Boolean).length).toBeGreaterThan(20);
      expect(flagAuc(knnShapley({ x, n, p, y }, 'self', 5), flipped)).toBeGreaterThanOrEqual(0.8);
    },
  );
});
