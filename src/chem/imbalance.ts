import { argRangeError } from '../core/errors.js';
import { Rng } from '../core/random.js';

// Multi-label imbalance measures (Charte et al. 2015) and oversamplers. Labels are a
// row-major [n, L] Float32Array of 0/1 with NaN for missing; counts use present labels only.

/** Multi-label imbalance measures (Charte et al. 2015): positives per label, IRLbl, mean IR and SCUMBLE. */
export interface ImbalanceStats {
  /** Positives per label. */
  positives: number[];
  /** IRLbl: the most frequent label's positives over this label's (Infinity if none). */
  irlbl: number[];
  meanIR: number;
  /** SCUMBLE: how much rare and frequent labels co-occur in the same samples (0 = never). */
  scumble: number;
}

/** The imbalance measures of labels y ([n, L] row-major, 0/1, NaN missing), counting present labels only. */
export function imbalanceStats(y: Float32Array, L: number): ImbalanceStats {
  const n = y.length / L;
  const positives = Array.from({ length: L }, (_, t) => {
    let c = 0;
    for (let i = 0; i < n; i++) if (y[i * L + t] === 1) c++;
    return c;
  });
  const top = Math.max(...positives);
  const irlbl = positives.map((p) => (p > 0 ? top / p : Infinity));
  const finite = irlbl.filter(Number.isFinite);
  const meanIR = finite.reduce((a, b) => a + b, 0) / Math.max(1, finite.length);
  let s = 0;
  for (let i = 0; i < n; i++) {
    const ir: number[] = [];
    for (let t = 0; t < L; t++) if (y[i * L + t] === 1 && Number.isFinite(irlbl[t]!)) ir.push(irlbl[t]!);
    if (ir.length < 2) continue;
    const mean = ir.reduce((a, b) => a + b, 0) / ir.length;
    const geo = Math.exp(ir.reduce((a, b) => a + Math.log(b), 0) / ir.length);
    s += 1 - geo / mean;
  }
  return { positives, irlbl, meanIR, scumble: s / Math.max(1, n) };
}

/** A synthetic training sample: a copy of `source` with its own labels (and descriptors, for MLSMOTE). */
export interface Synthetic {
  source: number;
  y: Float32Array;
  descriptors?: Float32Array;
}

/**
 * The multi-label oversamplers: none, ML-ROS (random clones of minority-label samples), MLSMOTE (synthetic neighbours), LP-ROS (clones of samples with rare label sets).
 */
export type Oversampler = 'none' | 'mlros' | 'mlsmote' | 'lpros';
export const OVERSAMPLERS: readonly Oversampler[] = ['none', 'mlros', 'mlsmote', 'lpros'];

function minorityLabels(st: ImbalanceStats): number[] {
  return st.irlbl.map((ir, t) => (Number.isFinite(ir) && ir > st.meanIR ? t : -1)).filter((t) => t >= 0);
}

function rowsWith(y: Float32Array, L: number, t: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < y.length / L; i++) if (y[i * L + t] === 1) out.push(i);
  return out;
}

/**
 * ML-ROS (Charte et al. 2015): clone random samples of the minority labels (IRLbl > MeanIR),
 * label by label in turn, until `fraction`·n clones are made or no label is a minority any
 * more. Clones keep all their labels, so frequent labels that co-occur are copied too.
 */
export function mlRos(y: Float32Array, L: number, fraction: number, seed: number): Synthetic[] {
  return cloneLoop(y, L, fraction, seed, (src) => y.slice(src * L, (src + 1) * L));
}

/**
 * Ours, label-preserving ROS (LP-ROS): as ML-ROS, but a clone keeps only the minority labels
 * of its source; the labels that are not rare become missing (masked out of the loss) in the
 * copy. No label is invented or flipped, every original row is kept as it is, and frequent
 * co-occurring labels gain no extra weight: MeanIR falls further per clone than with ML-ROS.
 */
export function lpRos(y: Float32Array, L: number, fraction: number, seed: number): Synthetic[] {
  const minority = new Set(minorityLabels(imbalanceStats(y, L)));
  return cloneLoop(y, L, fraction, seed, (src) => {
    const c = y.slice(src * L, (src + 1) * L);
    for (let t = 0; t < L; t++) if (!minority.has(t)) c[t] = NaN;
    return c;
  });
}

function cloneLoop(
  y: Float32Array,
  L: number,
  fraction: number,
  seed: number,
  labelsOf: (src: number) => Float32Array,
): Synthetic[] {
  if (!(fraction > 0)) throw argRangeError('oversample', 'fraction', 'a positive number', fraction);
  const n = y.length / L,
    budget = Math.round(n * fraction),
    rng = new Rng(seed);
  const stats = imbalanceStats(y, L);
  let minority = minorityLabels(stats);
  const bags = new Map(minority.map((t) => [t, rowsWith(y, L, t)]));
  const pos = [...stats.positives];
  const out: Synthetic[] = [];
  while (out.length < budget && minority.length) {
    for (const t of minority) {
      if (out.length >= budget) break;
      const bag = bags.get(t)!;
      const src = bag[Math.floor(rng.next() * bag.length)]!;
      const labels = labelsOf(src);
      out.push({ source: src, y: labels });
      for (let q = 0; q < L; q++) if (labels[q] === 1) pos[q]!++;
    }
    const top = Math.max(...pos);
    const meanIR = stats.meanIR; // Charte's stopping rule compares against the original MeanIR
    minority = minority.filter((t) => top / pos[t]! > meanIR);
  }
  return out;
}

/**
 * MLSMOTE (Charte et al. 2015). For each minority label and each sample carrying it, a
 * synthetic sample between the sample and one of its k nearest neighbours among the other
 * carriers: descriptors interpolated at a random point of the segment, labels by the ranking
 * rule (a label is set when more than half of the sample and its k neighbours have it).
 * The interpolation happens in the molecule-level descriptor space (Morgan fingerprint bits,
 * the hybrid model's dense input; distance = Euclidean on the bits); molecular graphs cannot
 * be interpolated, so the synthetic sample's graph is its seed's.
 */
export function mlSmote(y: Float32Array, L: number, descriptors: Float32Array[], k: number, seed: number): Synthetic[] {
  const rng = new Rng(seed);
  const stats = imbalanceStats(y, L);
  const out: Synthetic[] = [];
  const d = descriptors[0]?.length ?? 0;
  const dist = (a: number, b: number): number => {
    const x = descriptors[a]!,
      z = descriptors[b]!;
    let s = 0;
    for (let j = 0; j < d; j++) {
      const v = x[j]! - z[j]!;
      s += v * v;
    }
    return s;
  };
  for (const t of minorityLabels(stats)) {
    const bag = rowsWith(y, L, t);
    if (bag.length < 2) continue;
    for (const s of bag) {
      const nbrs = bag
        .filter((o) => o !== s)
        .map((o) => [o, dist(s, o)] as const)
        .sort((a, b) => a[1] - b[1] || a[0] - b[0])
        .slice(0, k)
        .map((p) => p[0]);
      const ref = nbrs[Math.floor(rng.next() * nbrs.length)]!;
      const gap = rng.next();
      const desc = new Float32Array(d);
      for (let j = 0; j < d; j++) desc[j] = descriptors[s]![j]! + gap * (descriptors[ref]![j]! - descriptors[s]![j]!);
      const labels = new Float32Array(L);
      for (let q = 0; q < L; q++) {
        let c = y[s * L + q] === 1 ? 1 : 0;
        for (const o of nbrs) if (y[o * L + q] === 1) c++;
        labels[q] = c > (nbrs.length + 1) / 2 ? 1 : 0;
        if (Number.isNaN(y[s * L + q]!) && c === 0) labels[q] = NaN;
      }
      labels[t] = 1;
      out.push({ source: s, y: labels, descriptors: desc });
    }
  }
  return out;
}

/** The label matrix after adding synthetic samples (for MeanIR after oversampling). */
export function withSynthetic(y: Float32Array, L: number, extra: Synthetic[]): Float32Array {
  const out = new Float32Array(y.length + extra.length * L);
  out.set(y);
  extra.forEach((s, i) => {
    out.set(s.y, y.length + i * L);
  });
  return out;
}
