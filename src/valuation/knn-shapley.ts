import { argRangeError, argTypeError } from '../core/errors.js';

// Data valuation with a k-nearest-neighbour classifier: the closed-form KNN-Shapley of Jia et
// al. (VLDB 2019, Theorem 1), and an incremental KNN learner whose accuracy TMC-Shapley
// (tmc-shapley.ts) follows as samples join. Distances are Euclidean; ties in distance go to
// the lower index, so results do not depend on sort stability.

/** Labelled rows: x [n, p] row-major, y class per row. */
export interface LabelledRows {
  x: Float64Array;
  n: number;
  p: number;
  y: Int32Array;
}

function check(fn: string, arg: string, d: LabelledRows, p?: number): void {
  if (typeof d !== 'object' || d === null) throw argTypeError(fn, arg, 'an object {x, n, p, y}', d);
  if (!(d.x instanceof Float64Array)) throw argTypeError(fn, `${arg}.x`, 'a Float64Array', d.x);
  if (!(d.y instanceof Int32Array)) throw argTypeError(fn, `${arg}.y`, 'an Int32Array of class labels', d.y);
  if (!Number.isInteger(d.n) || d.n < 1) throw argRangeError(fn, `${arg}.n`, 'a positive integer', d.n);
  if (!Number.isInteger(d.p) || d.p < 1 || (p !== undefined && d.p !== p))
    throw argRangeError(fn, `${arg}.p`, p === undefined ? 'a positive integer' : `${p} (the training rows' p)`, d.p);
  if (d.x.length !== d.n * d.p) throw argRangeError(fn, `${arg}.x.length`, `n*p = ${d.n * d.p}`, d.x.length);
  if (d.y.length !== d.n) throw argRangeError(fn, `${arg}.y.length`, `n = ${d.n}`, d.y.length);
}

function sqDist(a: Float64Array, i: number, b: Float64Array, j: number, p: number): number {
  let s = 0;
  for (let c = 0; c < p; c++) {
    const d = a[i * p + c]! - b[j * p + c]!;
    s += d * d;
  }
  return s;
}

/**
 * A nearest-neighbour game in its most general form: `train` rows valued against `test` rows
 * (or, `self`, each training row against the others), a distance between training row i and
 * test row q, and the score training row i earns as one of test row q's K nearest
 * neighbours. The utility of a set S for test row q is U_q(S) = (1/K) Σ_{k ≤ min(K,|S|)}
 * score(α_k(S), q), α_k(S) the k-th nearest member: Jia et al.'s classification utility when
 * the score is 1[same label], and the regression utility knnRegressionScore gives otherwise.
 */
export interface NeighbourGame {
  train: number;
  /** Test rows, or 'self': test row q is training row q, itself left out of its neighbours. */
  test: number | 'self';
  /** Distance from training row i to test row q (smaller is nearer). */
  distance(i: number, q: number): number;
  /** What training row i adds to test row q's utility when it is among q's K nearest (1 or 0 for a label match). */
  score(i: number, q: number): number;
}

/**
 * Exact Shapley values of a NeighbourGame, averaged over the test rows: Jia et al.'s (VLDB
 * 2019) Theorem 1 recursion, which holds for any score additive over the K nearest members
 * (the proof uses the indicator only through that sum). O(n log n) per test row.
 */
export function knnShapleyOf(game: NeighbourGame, k: number): Float64Array {
  const fn = 'knnShapleyOf';
  if (typeof game !== 'object' || game === null) throw argTypeError(fn, 'game', 'an object', game);
  if (!Number.isInteger(game.train) || game.train < 1)
    throw argRangeError(fn, 'game.train', 'a positive integer', game.train);
  if (game.test !== 'self' && (!Number.isInteger(game.test) || game.test < 1))
    throw argRangeError(fn, 'game.test', "a positive integer or 'self'", game.test);
  if (!Number.isInteger(k) || k < 1) throw argRangeError(fn, 'k', 'a positive integer', k);
  const self = game.test === 'self',
    n = game.train,
    m = self ? n : (game.test as number);
  const values = new Float64Array(n);
  const order: number[] = [],
    dist = new Float64Array(n);
  for (let q = 0; q < m; q++) {
    order.length = 0;
    for (let i = 0; i < n; i++) {
      if (self && i === q) continue;
      dist[i] = game.distance(i, q);
      order.push(i);
    }
    order.sort((a, b) => dist[a]! - dist[b]! || a - b);
    const N = order.length;
    if (N === 0) continue;
    const score = (r: number): number => game.score(order[r]!, q);
    // s_N = g_N / N; s_i = s_{i+1} + (g_i - g_{i+1}) / K · min(K, i) / i (ranks from 1)
    let next = score(N - 1),
      s = next / N;
    values[order[N - 1]!]! += s / m;
    for (let r = N - 2; r >= 0; r--) {
      const i = r + 1,
        g = score(r);
      s += ((g - next) / k) * (Math.min(k, i) / i);
      next = g;
      values[order[r]!]! += s / m;
    }
  }
  return values;
}

/**
 * KNN-Shapley values of the training rows for a K-NN classifier scored on the test rows, with
 * utility U(S) = (1/K) Σ_{k ≤ min(K,|S|)} 1[label of the k-th nearest in S = test label],
 * averaged over test rows. Exact, O(n log n) per test row. `test: 'self'` scores every training
 * row against the others (the row itself left out of its own neighbours), for valuing a data
 * set without a separate validation set.
 *
 * @example
 * const values = knnShapley(train, validation, 5); // low values: likely mislabelled
 */
export function knnShapley(train: LabelledRows, test: LabelledRows | 'self', k: number): Float64Array {
  const fn = 'knnShapley';
  check(fn, 'train', train);
  if (test !== 'self') check(fn, 'test', test, train.p);
  if (!Number.isInteger(k) || k < 1) throw argRangeError(fn, 'k', 'a positive integer', k);
  const t = test === 'self' ? train : test,
    p = train.p;
  return knnShapleyOf(
    {
      train: train.n,
      test: test === 'self' ? 'self' : test.n,
      distance: (i, q) => sqDist(train.x, i, t.x, q, p),
      score: (i, q) => (train.y[i] === t.y[q] ? 1 : 0),
    },
    k,
  );
}

/**
 * The per-neighbour score of K-NN regression: (y_i − ȳ)(y_q − ȳ) / σ², ȳ and σ² the mean and
 * variance of the training targets. Summed over the K nearest and divided by K it is
 * (ŷ_q − ȳ)(y_q − ȳ) / σ², ŷ_q the K-NN prediction (Jia et al.'s convention: the sum over
 * fewer than K members still divided by K), so averaged over test rows the utility is the
 * covariance of the K-NN's predictions with the targets: additive over neighbours, as
 * Theorem 1 needs. A score of squared errors, 1 − (y_i − y_q)²/2σ², is additive too but
 * values extremeness: a row far from the mean scores low against every test row, and the
 * far ranks (weights 1/rank, summed over all test rows) outweigh the K near ones.
 */
export function knnRegressionScore(
  yTrain: Float64Array,
  yTest: Float64Array = yTrain,
): (i: number, q: number) => number {
  let mean = 0,
    v = 0;
  for (const y of yTrain) mean += y / yTrain.length;
  for (const y of yTrain) v += (y - mean) ** 2 / yTrain.length;
  if (!(v > 0)) throw argRangeError('knnRegressionScore', 'yTrain', 'targets that vary (variance > 0)', 'all the same');
  return (i, q) => ((yTrain[i]! - mean) * (yTest[q]! - mean)) / v;
}

/** A K-NN classification game given by its distance: labels of the training rows and of the test rows ('self': the training rows). */
export interface LabelGame {
  train: number;
  test: number | 'self';
  yTrain: Int32Array;
  /** The test rows' labels (ignored with test 'self'). */
  yTest?: Int32Array;
  /** Distance from training row i to test row q (smaller is nearer). */
  distance(i: number, q: number): number;
}

/**
 * A K-NN classifier grown one training row at a time, scored by accuracy on validation rows
 * (majority vote of the K nearest members; a tie shares the credit among the tied classes, no
 * member at all scores chance, 1/classes), over any distance (KnnLearner: Euclidean rows).
 * Each add costs O(validation rows · K).
 */
export class KnnGameLearner {
  readonly n: number;
  /** The score of the empty training set (chance). */
  readonly empty: number;
  readonly #dist: (i: number, q: number) => number;
  readonly #yTrain: Int32Array;
  readonly #yVal: Int32Array;
  readonly #m: number;
  readonly #self: boolean;
  readonly #k: number;
  readonly #classes: number;
  /** Per validation row: its current K nearest members (indices, distances), nearest first, and how many. */
  readonly #nn: Int32Array;
  readonly #nd: Float64Array;
  readonly #count: Int32Array;
  /** Per validation row: its current credit (1, 0, or a tie's share); their sum. */
  readonly #credit: Float64Array;
  #sum = 0;

  constructor(game: LabelGame, k: number, classes: number, fn = 'KnnGameLearner') {
    if (typeof game !== 'object' || game === null) throw argTypeError(fn, 'game', 'an object', game);
    if (!Number.isInteger(k) || k < 1) throw argRangeError(fn, 'k', 'a positive integer', k);
    if (!Number.isInteger(classes) || classes < 2)
      throw argRangeError(fn, 'classes', 'an integer of at least 2', classes);
    this.#self = game.test === 'self';
    const m = this.#self ? game.train : (game.test as number);
    const yVal = this.#self ? game.yTrain : game.yTest;
    if (!(game.yTrain instanceof Int32Array) || game.yTrain.length !== game.train)
      throw argRangeError(fn, 'game.yTrain', `an Int32Array of ${game.train} labels`, game.yTrain);
    if (!(yVal instanceof Int32Array) || yVal.length !== m)
      throw argRangeError(fn, 'game.yTest', `an Int32Array of ${m} labels`, yVal);
    this.#dist = game.distance;
    this.#yTrain = game.yTrain;
    this.#yVal = yVal;
    this.#m = m;
    this.#k = k;
    this.#classes = classes;
    this.n = game.train;
    this.empty = 1 / classes;
    this.#nn = new Int32Array(m * k);
    this.#nd = new Float64Array(m * k);
    this.#count = new Int32Array(m);
    this.#credit = new Float64Array(m);
    this.reset();
  }

  /** Back to no member. */
  reset(): void {
    this.#count.fill(0);
    this.#credit.fill(1 / this.#classes);
    this.#sum = this.#m / this.#classes;
  }

  /** Adds training row i; returns the accuracy with the members so far. */
  add(i: number): number {
    const k = this.#k,
      votes = new Float64Array(this.#classes);
    for (let q = 0; q < this.#m; q++) {
      if (this.#self && q === i) continue;
      const d = this.#dist(i, q),
        c = this.#count[q]!,
        at = q * k;
      // ties in distance go to the lower index, as in knnShapley
      const before = (r: number): boolean =>
        d < this.#nd[at + r]! || (d === this.#nd[at + r]! && i < this.#nn[at + r]!);
      if (c === k && !before(k - 1)) continue;
      let r = Math.min(c, k - 1);
      while (r > 0 && before(r - 1)) {
        this.#nn[at + r] = this.#nn[at + r - 1]!;
        this.#nd[at + r] = this.#nd[at + r - 1]!;
        r--;
      }
      this.#nn[at + r] = i;
      this.#nd[at + r] = d;
      if (c < k) this.#count[q] = c + 1;
      votes.fill(0);
      for (let e = 0; e < this.#count[q]!; e++) votes[this.#yTrain[this.#nn[at + e]!]!]!++;
      let best = 0,
        tied = 0;
      for (const v of votes)
        if (v > best) {
          best = v;
          tied = 1;
        } else if (v === best) tied++;
      const credit = votes[this.#yVal[q]!] === best ? 1 / tied : 0;
      this.#sum += credit - this.#credit[q]!;
      this.#credit[q] = credit;
    }
    return this.#sum / this.#m;
  }
}

/** KnnGameLearner on labelled rows with Euclidean distance (the rows' x). */
export class KnnLearner extends KnnGameLearner {
  constructor(train: LabelledRows, validation: LabelledRows | 'self', k: number, classes: number) {
    const fn = 'KnnLearner';
    check(fn, 'train', train);
    if (validation !== 'self') check(fn, 'validation', validation, train.p);
    const t = validation === 'self' ? train : validation,
      p = train.p;
    super(
      {
        train: train.n,
        test: validation === 'self' ? 'self' : validation.n,
        yTrain: train.y,
        ...(validation === 'self' ? {} : { yTest: validation.y }),
        distance: (i, q) => sqDist(train.x, i, t.x, q, p),
      },
      k,
      classes,
      fn,
    );
  }
}
