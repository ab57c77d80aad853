import { argRangeError } from '../core/errors.js';
import { Rng } from '../core/random.js';

/**
 * Stratified, grouped k-fold assignment: fold (1..k) per sample, with every group (a
 * subject's samples) in one fold, and each fold's class mix as close to the whole set's as
 * the groups allow. Groups are shuffled (seeded), then taken largest first and each is put
 * in the fold where it leaves the smallest sum of squared gaps between the folds' class
 * counts and their targets (n_c / k), ties to the smaller fold, then the lower index: the
 * greedy rule of scikit-learn's StratifiedGroupKFold. For regression, `strata` are
 * quantile bins of the target (stratifyTarget).
 */
export function stratifiedGroupFolds(strata: Int32Array, groups: Int32Array, k: number, seed: number): Int32Array {
  const fn = 'stratifiedGroupFolds',
    n = strata.length;
  if (groups.length !== n) throw argRangeError(fn, 'groups', `${n} values (one per sample)`, groups.length);
  if (!Number.isInteger(k) || k < 2) throw argRangeError(fn, 'k', 'an integer ≥ 2', k);
  const classes = strata.reduce((m, c) => Math.max(m, c), -1) + 1;
  const members = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const g = groups[i]!;
    if (!members.has(g)) members.set(g, []);
    members.get(g)!.push(i);
  }
  const list = new Rng(seed).shuffle([...members.values()]);
  if (list.length < k) throw argRangeError(fn, 'k', `at most the ${list.length} groups`, k);
  // Stable sort: shuffled order breaks ties between groups of one size.
  const order = list
    .map((g, at) => ({ g, at }))
    .sort((a, b) => b.g.length - a.g.length || a.at - b.at)
    .map((x) => x.g);
  const total = new Float64Array(classes);
  for (const c of strata) total[c]!++;
  const counts = Array.from({ length: k }, () => new Float64Array(classes));
  const sizes = new Float64Array(k);
  const fold = new Int32Array(n);
  for (const g of order) {
    const add = new Float64Array(classes);
    for (const i of g) add[strata[i]!]!++;
    let best = 0,
      bestCost = Infinity;
    for (let f = 0; f < k; f++) {
      let cost = 0;
      for (let f2 = 0; f2 < k; f2++) {
        for (let c = 0; c < classes; c++) {
          const v = counts[f2]![c]! + (f2 === f ? add[c]! : 0) - total[c]! / k;
          cost += v * v;
        }
      }
      if (cost < bestCost - 1e-9 || (Math.abs(cost - bestCost) <= 1e-9 && sizes[f]! < sizes[best]!)) {
        best = f;
        bestCost = cost;
      }
    }
    for (let c = 0; c < classes; c++) counts[best]![c]! += add[c]!;
    sizes[best]! += g.length;
    for (const i of g) fold[i] = best + 1;
  }
  return fold;
}

/** Quantile bins (0..bins-1) of a continuous target, for stratifying regression folds. */
export function stratifyTarget(y: Float64Array, bins = 5): Int32Array {
  const order = Array.from(y.keys()).sort((a, b) => y[a]! - y[b]! || a - b);
  const out = new Int32Array(y.length);
  order.forEach((i, r) => {
    out[i] = Math.min(bins - 1, Math.floor((r * bins) / y.length));
  });
  return out;
}
