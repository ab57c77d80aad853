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
  const self = test === 'self',
    t = self ? train : test,
    p = train.p;
  const values = new Float64Array(train.n);
  const order: number[] = [],
    dist = new Float64Array(train.n);
  for (let q = 0; q < t.n; q++) {
    order.length = 0;
    for (let i = 0; i < train.n; i++) {
      if (self && i === q) continue;
      dist[i] = sqDist(train.x, i, t.x, q, p);
      order.push(i);
    }
    order.sort((a, b) => dist[a]! - dist[b]! || a - b);
    const N = order.length;
    if (N === 0) continue;
    const yq = t.y[q]!,
      hit = (r: number): number => (train.y[order[r]!] === yq ? 1 : 0);
    // s_N = 1[y_N = y]/N; s_i = s_{i+1} + (1[y_i = y] - 1[y_{i+1} = y]) / K · min(K, i) / i (ranks from 1)
    let s = hit(N - 1) / N;
    values[order[N - 1]!]! += s / t.n;
    for (let r = N - 2; r >= 0; r--) {
      const i = r + 1;
      s += ((hit(r) - hit(r + 1)) / k) * (Math.min(k, i) / i);
      values[order[r]!]! += s / t.n;
    }
  }
  return values;
}

/**
 * A K-NN classifier grown one training row at a time, scored by accuracy on validation rows
 * (majority vote of the K nearest members; a tie shares the credit among the tied classes, no
 * member at all scores chance, 1/classes). `validation: 'self'` scores every row against the
 * other members. Each add costs O(validation rows · K).
 */
export class KnnLearner {
  readonly n: number;
  /** The score of the empty training set (chance). */
  readonly empty: number;
  readonly #train: LabelledRows;
  readonly #val: LabelledRows;
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

  constructor(train: LabelledRows, validation: LabelledRows | 'self', k: number, classes: number) {
    const fn = 'KnnLearner';
    check(fn, 'train', train);
    if (validation !== 'self') check(fn, 'validation', validation, train.p);
    if (!Number.isInteger(k) || k < 1) throw argRangeError(fn, 'k', 'a positive integer', k);
    if (!Number.isInteger(classes) || classes < 2)
      throw argRangeError(fn, 'classes', 'an integer of at least 2', classes);
    this.#train = train;
    this.#self = validation === 'self';
    this.#val = validation === 'self' ? train : validation;
    this.#k = k;
    this.#classes = classes;
    this.n = train.n;
    this.empty = 1 / classes;
    const m = this.#val.n;
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
    this.#sum = this.#val.n / this.#classes;
  }

  /** Adds training row i; returns the accuracy with the members so far. */
  add(i: number): number {
    const k = this.#k,
      p = this.#train.p,
      votes = new Float64Array(this.#classes);
    for (let q = 0; q < this.#val.n; q++) {
      if (this.#self && q === i) continue;
      const d = sqDist(this.#train.x, i, this.#val.x, q, p),
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
      for (let e = 0; e < this.#count[q]!; e++) votes[this.#train.y[this.#nn[at + e]!]!]!++;
      let best = 0,
        tied = 0;
      for (const v of votes)
        if (v > best) {
          best = v;
          tied = 1;
        } else if (v === best) tied++;
      const credit = votes[this.#val.y[q]!] === best ? 1 / tied : 0;
      this.#sum += credit - this.#credit[q]!;
      this.#credit[q] = credit;
    }
    return this.#sum / this.#val.n;
  }
}
