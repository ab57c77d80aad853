import { Rng } from '../core/random.js';

// The tree-growing core of the random forest, kept apart from the Forest class so a Piscina
// worker loads only this (and the RNG), not the validation and serialization code.

/** Split criteria as small integers, so the hot loops branch on a number, not a string. */
export const GINI = 0,
  ENTROPY = 1,
  MSE = 2;

/**
 * The training set as the grower sees it: every feature already cut into quantile bins.
 * Only plain typed arrays, so the whole object can go to workers as workerData (the big
 * arrays in SharedArrayBuffers, which are shared rather than copied).
 */
export interface TrainSet {
  n: number;
  f: number;
  /** Bin code of sample i on feature j at j*n + i: feature-major, so one split scan reads one run of memory. */
  codes: Uint8Array | Uint16Array;
  /** Every feature's upper bin edges, concatenated; feature j has edgeStart[j+1] - edgeStart[j] edges, one bin more. */
  edges: Float64Array;
  edgeStart: Int32Array;
  y: Int32Array | Float64Array;
  weight: Float64Array | null;
}

/** Options resolved to numbers (maxFeatures to a count, defaults filled). */
export interface GrowParams {
  classification: boolean;
  classes: number;
  criterion: number;
  mtry: number;
  maxDepth: number;
  minLeaf: number;
  minSplit: number;
  bootstrap: boolean;
  seed: number;
  trees: number;
}

/**
 * One fitted tree, in node-id order (children always have larger ids than their parent).
 * Every node, not only leaves, has `samples` and a value row (class frequencies, or the mean)
 * at values[node * stride], so a tree can be drawn with the numbers at each node.
 */
export interface TreeArrays {
  /** Feature split on, -1 at a leaf. */
  feature: Int32Array;
  /** Go left when x <= threshold. */
  threshold: Float64Array;
  left: Int32Array;
  right: Int32Array;
  /** Training draws (bootstrap multiplicity counted) that reached the node. */
  samples: Int32Array;
  values: Float64Array;
  /** Total impurity decrease per feature, relative to the root's weight (not normalized). */
  importance: Float64Array;
}

/** Gini impurity 1 - Σ p_k² of (possibly weighted) class counts. */
export function gini(counts: ArrayLike<number>): number {
  let w = 0,
    s = 0;
  for (let k = 0; k < counts.length; k++) {
    w += counts[k]!;
    s += counts[k]! * counts[k]!;
  }
  return w > 0 ? 1 - s / (w * w) : 0;
}

/** Shannon entropy -Σ p_k log2 p_k (bits) of class counts. */
export function entropy(counts: ArrayLike<number>): number {
  let w = 0,
    s = 0;
  for (let k = 0; k < counts.length; k++) {
    w += counts[k]!;
    s += xlog2x(counts[k]!);
  }
  return w > 0 ? (xlog2x(w) - s) / w : 0;
}

function xlog2x(v: number): number {
  return v > 0 ? v * Math.log2(v) : 0;
}

/**
 * Tree t's generator seed: a bijective mix of (seed, t), so each tree's randomness depends
 * only on its own index, never on which thread built it or what was drawn before it.
 */
export function treeSeed(seed: number, t: number): number {
  let h = (seed ^ Math.imul(t + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * How often each sample is in tree t's bag. These are the tree generator's first draws, so
 * out-of-bag scoring can redraw them without the tree.
 */
export function bagCounts(rng: Rng, n: number, bootstrap: boolean): Int32Array {
  const c = new Int32Array(n);
  if (!bootstrap) return c.fill(1);
  for (let k = 0; k < n; k++) c[Math.floor(rng.next() * n)]!++;
  return c;
}

/**
 * Cuts each feature into at most `maxBins` quantile bins. With few distinct values every value
 * gets its own bin; otherwise cuts fall at count quantiles but only between distinct values,
 * so ties never straddle a bin edge. Edges are midpoints between neighbouring distinct values:
 * thresholds then sit between the training values, as an exact split search would put them.
 */
export function binFeatures(
  x: Float32Array,
  n: number,
  f: number,
  maxBins: number,
  shared: boolean,
): Pick<TrainSet, 'codes' | 'edges' | 'edgeStart'> {
  const wide = maxBins > 256,
    bytes = n * f * (wide ? 2 : 1);
  const buf = shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
  const codes = wide ? new Uint16Array(buf) : new Uint8Array(buf);
  const edgeStart = new Int32Array(f + 1);
  const all: number[] = [];
  const col = new Float32Array(n),
    vals = new Float64Array(n),
    counts = new Int32Array(n);
  for (let j = 0; j < f; j++) {
    for (let i = 0; i < n; i++) col[i] = x[i * f + j]!;
    const sorted = col.slice().sort();
    let d = 0;
    for (let i = 0; i < n; i++) {
      if (d > 0 && sorted[i] === vals[d - 1]) counts[d - 1]!++;
      else {
        vals[d] = sorted[i]!;
        counts[d++] = 1;
      }
    }
    const first = all.length;
    if (d <= maxBins) {
      for (let u = 0; u + 1 < d; u++) all.push((vals[u]! + vals[u + 1]!) / 2);
    } else {
      let cum = 0,
        k = 1;
      for (let u = 0; u + 1 < d && k < maxBins; u++) {
        cum += counts[u]!;
        if (cum >= (k * n) / maxBins) {
          all.push((vals[u]! + vals[u + 1]!) / 2);
          while (k < maxBins && (k * n) / maxBins <= cum) k++;
        }
      }
    }
    edgeStart[j + 1] = all.length;
    const ne = all.length - first;
    for (let i = 0; i < n; i++) {
      // code = number of edges below x, so code <= b exactly when x <= edge b
      const v = col[i]!;
      let lo = 0,
        hi = ne;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (all[first + mid]! < v) lo = mid + 1;
        else hi = mid;
      }
      codes[j * n + i] = lo;
    }
  }
  if (!shared) return { codes, edges: Float64Array.from(all), edgeStart };
  const edges = new Float64Array(new SharedArrayBuffer(all.length * 8)),
    starts = new Int32Array(new SharedArrayBuffer((f + 1) * 4));
  edges.set(all);
  starts.set(edgeStart);
  return { codes, edges, edgeStart: starts };
}

/**
 * Grows tree t depth-first. At each node `mtry` features are drawn without replacement, but
 * features constant within the node do not count towards mtry (as scikit-learn does), so a
 * node whose drawn features happen to be all constant still looks further. Each drawn feature
 * costs one pass over the node's samples to fill a bin histogram, then one pass over the bins
 * it occupies; the best split maximizes the impurity decrease, first found winning ties.
 */
export function growTree(d: TrainSet, p: GrowParams, t: number): TreeArrays {
  const { n, f, codes, y, edges, edgeStart } = d;
  const rng = new Rng(treeSeed(p.seed, t));
  const cnt = bagCounts(rng, n, p.bootstrap);
  let m = 0;
  for (let i = 0; i < n; i++) if (cnt[i]! > 0) m++;
  // typed per-task copies keep the hot loops monomorphic whatever array types the caller used
  const idx = new Int32Array(m),
    spill = new Int32Array(m),
    w = new Float64Array(n),
    wy = new Float64Array(n),
    lab = new Int32Array(n);
  for (let i = 0, k = 0; i < n; i++) {
    if (cnt[i]! > 0) idx[k++] = i;
    w[i] = cnt[i]! * (d.weight ? d.weight[i]! : 1);
    if (p.classification) lab[i] = y[i]!;
    else wy[i] = w[i]! * y[i]!;
  }
  const cls = p.classification,
    K = cls ? p.classes : 1,
    stride = cls ? K : 2;
  const cap = 2 * m - 1;
  const feature = new Int32Array(cap).fill(-1),
    threshold = new Float64Array(cap);
  const left = new Int32Array(cap).fill(-1),
    right = new Int32Array(cap).fill(-1);
  const samples = new Int32Array(cap),
    values = new Float64Array(cap * K),
    importance = new Float64Array(f);
  let maxBins = 1;
  for (let j = 0; j < f; j++) maxBins = Math.max(maxBins, edgeStart[j + 1]! - edgeStart[j]! + 1);
  // per bin: class weights (classification) or [weight, weighted sum of y] (regression)
  const hist = new Float64Array(maxBins * stride),
    hcnt = new Int32Array(maxBins),
    occ = new Int32Array(maxBins);
  const tot = new Float64Array(K),
    lft = new Float64Array(K);
  const feats = new Int32Array(f);
  for (let j = 0; j < f; j++) feats[j] = j;
  const crit = p.criterion,
    minLeaf = p.minLeaf;
  let rootW = 0,
    nodes = 1;
  const stack: number[] = [0, 0, m, 0];
  while (stack.length > 0) {
    const depth = stack.pop()!,
      end = stack.pop()!,
      start = stack.pop()!,
      node = stack.pop()!;
    let count = 0,
      W = 0,
      S = 0,
      pure: boolean;
    if (cls) {
      tot.fill(0);
      for (let s = start; s < end; s++) {
        const i = idx[s]!;
        tot[y[i]!]! += w[i]!;
        count += cnt[i]!;
      }
      let nonzero = 0;
      for (let k = 0; k < K; k++) {
        W += tot[k]!;
        if (tot[k]! > 0) nonzero++;
      }
      for (let k = 0; k < K; k++) values[node * K + k] = W > 0 ? tot[k]! / W : 1 / K;
      pure = nonzero <= 1;
    } else {
      let lo = Infinity,
        hi = -Infinity;
      for (let s = start; s < end; s++) {
        const i = idx[s]!,
          v = y[i]!;
        W += w[i]!;
        S += w[i]! * v;
        count += cnt[i]!;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      values[node] = W > 0 ? S / W : 0;
      pure = lo === hi;
    }
    if (node === 0) rootW = W;
    samples[node] = count;
    if (pure || count < p.minSplit || count < 2 * minLeaf || (p.maxDepth > 0 && depth >= p.maxDepth)) continue;
    let parent: number;
    if (crit === GINI) {
      parent = 0;
      for (let k = 0; k < K; k++) parent += tot[k]! * tot[k]!;
      parent /= W;
    } else if (crit === ENTROPY) {
      parent = -xlog2x(W);
      for (let k = 0; k < K; k++) parent += xlog2x(tot[k]!);
    } else parent = (S * S) / W;
    let bestScore = -Infinity,
      bestFeat = -1,
      bestBin = 0,
      counted = 0;
    for (let q = 0; q < f && counted < p.mtry; q++) {
      const r = q + Math.floor(rng.next() * (f - q));
      const j = feats[r]!;
      feats[r] = feats[q]!;
      feats[q] = j;
      const off = j * n;
      let lo = maxBins,
        hi = -1;
      if (cls) {
        for (let s = start; s < end; s++) {
          const i = idx[s]!,
            b = codes[off + i]!;
          hcnt[b]! += cnt[i]!;
          hist[b * K + lab[i]!]! += w[i]!;
          if (b < lo) lo = b;
          if (b > hi) hi = b;
        }
      } else {
        for (let s = start; s < end; s++) {
          const i = idx[s]!,
            b = codes[off + i]!;
          hcnt[b]! += cnt[i]!;
          hist[2 * b]! += w[i]!;
          hist[2 * b + 1]! += wy[i]!;
          if (b < lo) lo = b;
          if (b > hi) hi = b;
        }
      }
      let nOcc = 0;
      if (hi - lo > 8 * (end - start)) {
        // a small node spread over many bins: list its bins from its samples (marking each
        // once by negating its count) and sort them, rather than walking the empty bins
        for (let s = start; s < end; s++) {
          const b = codes[off + idx[s]!]!;
          if (hcnt[b]! > 0) {
            occ[nOcc++] = b;
            hcnt[b] = -hcnt[b]!;
          }
        }
        for (let u = 0; u < nOcc; u++) hcnt[occ[u]!] = -hcnt[occ[u]!]!;
        if (nOcc > 24) occ.subarray(0, nOcc).sort();
        else {
          for (let u = 1; u < nOcc; u++) {
            const b = occ[u]!;
            let v = u;
            for (; v > 0 && occ[v - 1]! > b; v--) occ[v] = occ[v - 1]!;
            occ[v] = b;
          }
        }
      } else {
        for (let b = lo; b <= hi; b++) if (hcnt[b] !== 0) occ[nOcc++] = b;
      }
      if (nOcc > 1) {
        counted++;
        for (let k = 0; k < K; k++) lft[k] = 0;
        let nL = 0,
          WL = 0,
          SL = 0;
        for (let u = 0; u + 1 < nOcc; u++) {
          const b = occ[u]!,
            nb = occ[u + 1]!;
          nL += hcnt[b]!;
          if (cls)
            for (let k = 0; k < K; k++) {
              const h = hist[b * K + k]!;
              lft[k]! += h;
              WL += h;
            }
          else {
            WL += hist[2 * b]!;
            SL += hist[2 * b + 1]!;
          }
          const WR = W - WL;
          if (nL >= minLeaf && count - nL >= minLeaf && WL > 0 && WR > 0) {
            let score = 0;
            if (crit === GINI) {
              let sl = 0,
                sr = 0;
              for (let k = 0; k < K; k++) {
                const l = lft[k]!,
                  rr = tot[k]! - l;
                sl += l * l;
                sr += rr * rr;
              }
              score = sl / WL + sr / WR;
            } else if (crit === ENTROPY) {
              score = -xlog2x(WL) - xlog2x(WR);
              for (let k = 0; k < K; k++) score += xlog2x(lft[k]!) + xlog2x(tot[k]! - lft[k]!);
            } else {
              const SR = S - SL;
              score = (SL * SL) / WL + (SR * SR) / WR;
            }
            // the middle edge of the empty bins between the two sides: same training split, more margin
            if (score > bestScore) {
              bestScore = score;
              bestFeat = j;
              bestBin = (b + nb - 1) >>> 1;
            }
          }
        }
      }
      for (let u = 0; u < nOcc; u++) {
        const b = occ[u]!;
        hcnt[b] = 0;
        for (let k = b * stride; k < (b + 1) * stride; k++) hist[k] = 0;
      }
    }
    if (bestFeat < 0) continue;
    const off = bestFeat * n;
    // a stable partition: each node's samples stay in ascending order, so the histogram passes
    // read each feature's codes front to back (prefetch-friendly on large n)
    let a = start,
      z = 0;
    for (let s = start; s < end; s++) {
      const i = idx[s]!;
      if (codes[off + i]! <= bestBin) idx[a++] = i;
      else spill[z++] = i;
    }
    for (let u = 0; u < z; u++) idx[a + u] = spill[u]!;
    const l = nodes++,
      r = nodes++;
    feature[node] = bestFeat;
    threshold[node] = edges[edgeStart[bestFeat]! + bestBin]!;
    left[node] = l;
    right[node] = r;
    importance[bestFeat]! += Math.max(0, bestScore - parent) / rootW;
    stack.push(r, a, end, depth + 1, l, start, a, depth + 1);
  }
  return {
    feature: feature.slice(0, nodes),
    threshold: threshold.slice(0, nodes),
    left: left.slice(0, nodes),
    right: right.slice(0, nodes),
    samples: samples.slice(0, nodes),
    values: values.slice(0, nodes * K),
    importance,
  };
}
